"""Where the time goes, ours against faster-whisper's: each model call's wall seconds per file, in one run.

    .venv/bin/python bench/stage_times.py [--parts tune] [--files a,b] [--recordings DIR] [--rounds 2]
        [--systems whisperkit_nb,faster-whisper] [--out DIR]

The speed ratio of `bench/cpu_devset.py` is one number per file; this splits it. whisperkit_nb's defaults run with
the CTranslate2 engine's model calls timed (`Ct2Engine.encode`, ``decode``, ``align``, ``language_probabilities``:
the encoder, beam search, the teacher-forced alignment pass, language detection); faster-whisper's
BatchedInferencePipeline (as `cpu_devset.FasterWhisper` runs it) with its CTranslate2 model's calls timed
(``encode``, ``generate``, ``detect_language``). ``lone-on-a-worker`` is whisperkit_nb with a call that one
worker would run alone left on that worker, as before 2026-12-06 17:00 (`Ct2Engine._lone`). "other" is the rest
of the wall time: reading the audio, the VAD, log-mel features, segments and words. ``windows`` counts the 30 s
encoder windows, so a file's encoder seconds can be told apart by their number and their cost each. The
systems take turns ``--rounds`` times per file; each keeps its fastest round. Writes
``stage-times-<date>-<HHMM>.json`` (never an existing file).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import whisperkit_nb as wk  # noqa: E402
from cpu_devset import FasterWhisper  # noqa: E402
from devset import dev_files  # noqa: E402
from machine import cpu_with_encoder, loadavg, warm_file_cache  # noqa: E402
from recordings import recordings  # noqa: E402
from result_file import new_result_path  # noqa: E402
from whisperkit_nb.engines.ctranslate2_engine import Ct2Engine  # noqa: E402

OUR_CALLS = ("encode", "decode", "align", "language_probabilities")


class Clock:
    """Seconds spent in each timed call, and the rows given to the encoder (its windows)."""

    def __init__(self) -> None:
        self.seconds: collections.Counter[str] = collections.Counter()
        self.windows = 0

    def timed(self, name: str, call):
        def wrapper(*args, **kwargs):
            if name == "encode":
                features = args[-1] if args else next(iter(kwargs.values()))
                self.windows += int(features.shape[0])
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started
        return wrapper


def ours(path: str, model: str, lone_on_a_worker: bool = False) -> tuple[float, Clock]:
    """whisperkit_nb's defaults on ``path`` with the engine's model calls timed (restored after)."""
    clock, kept = Clock(), {name: getattr(Ct2Engine, name) for name in OUR_CALLS}
    for name, call in kept.items():
        setattr(Ct2Engine, name, clock.timed(name, call))
    lone = Ct2Engine._lone
    if lone_on_a_worker:
        Ct2Engine._lone = lambda self, model: model
    try:
        started = time.perf_counter()
        wk.transcribe(path, model=model, progress=False)
        return time.perf_counter() - started, clock
    finally:
        Ct2Engine._lone = lone
        for name, call in kept.items():
            setattr(Ct2Engine, name, call)


class TimedModel:
    """faster-whisper's CTranslate2 model with every call timed by ``clock``."""

    def __init__(self, model: Any, clock: Clock) -> None:
        self._model, self.clock = model, clock

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._model, name)
        return self.clock.timed(name, value) if callable(value) else value


def theirs(path: str, fw: FasterWhisper) -> tuple[float, Clock]:
    """faster-whisper's batched pipeline on ``path`` with its model's calls timed (restored after)."""
    clock, whisper = Clock(), fw.pipe.model
    kept = whisper.model
    whisper.model = TimedModel(kept, clock)
    try:
        started = time.perf_counter()
        fw(path)
        return time.perf_counter() - started, clock
    finally:
        whisper.model = kept


def summary(wall: float, clock: Clock) -> dict[str, Any]:
    stages = {name: round(s, 2) for name, s in clock.seconds.items()}
    return {"wall_s": round(wall, 2), "windows": clock.windows, "stages_s": stages,
            "other_s": round(wall - sum(clock.seconds.values()), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--parts", default="tune", help="development-set parts, comma-separated")
    parser.add_argument("--longest", type=float, default=18.0, help="development-set files up to this many minutes")
    parser.add_argument("--recordings", default="", help="a folder of recordings (bench/recordings.py) instead")
    parser.add_argument("--files", default="", help="only these files (comma-separated names)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each system per file, taking turns")
    parser.add_argument("--batch-size", type=int, default=8, help="faster-whisper's batch (cpu_devset's peer: 8)")
    parser.add_argument("--systems", default="whisperkit_nb,faster-whisper",
                        help="comma-separated: whisperkit_nb, lone-on-a-worker, faster-whisper")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    files = (recordings(args.recordings) if args.recordings
             else [f for f in dev_files(tuple(args.parts.split(","))) if f.fixture.duration <= args.longest * 60])
    if args.files:
        files = [f for f in files if f.name in args.files.split(",")]
    if not files:
        raise SystemExit("no files: check --parts, --files and --longest")
    warm_file_cache([f.fixture.path for f in files])
    machine = cpu_with_encoder()
    fw = FasterWhisper(args.model, args.batch_size)
    known = {"whisperkit_nb": lambda path: ours(path, args.model),
             "lone-on-a-worker": lambda path: ours(path, args.model, lone_on_a_worker=True),
             "faster-whisper": lambda path: theirs(path, fw)}
    unknown = [name for name in args.systems.split(",") if name not in known]
    if unknown:
        raise SystemExit(f"unknown systems {unknown}: choose from {', '.join(known)}")
    systems = {name: known[name] for name in args.systems.split(",")}
    for system in systems.values():
        system(str(files[0].fixture.path))  # warm-up: model loads and first calls
    out = new_result_path(Path(args.out), "stage-times")  # rewritten after each file: an interrupted run keeps them
    started = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    rows = []
    for f in files:
        path = str(f.fixture.path)
        runs: dict[str, list[tuple[float, Clock]]] = {name: [] for name in systems}
        for _ in range(args.rounds):
            for name, system in systems.items():
                runs[name].append(system(path))
        best = {name: summary(*min(done, key=lambda run: run[0])) for name, done in runs.items()}
        row = {"file": f.name, "part": f.part, "minutes": round(f.fixture.duration / 60, 2), **best,
               "wall_s_runs": {name: [round(w, 2) for w, _ in done] for name, done in runs.items()}}
        if "faster-whisper" in best:  # its wall seconds over each of ours
            row["speed_ratio"] = {name: round(best["faster-whisper"]["wall_s"] / b["wall_s"], 3)
                                  for name, b in best.items() if name != "faster-whisper"}
        rows.append(row)
        for name in runs:
            b = best[name]
            print(f"{f.name:<22} {name:<16} wall {b['wall_s']:6.2f} s, {b['windows']:3d} windows, "
                  + ", ".join(f"{k} {v:.2f}" for k, v in b["stages_s"].items()) + f", other {b['other_s']:.2f}",
                  flush=True)
        result = {"date": started, "machine": machine, "load": loadavg(), "model": args.model,
                  "systems": list(systems), "rounds": args.rounds, "recordings": args.recordings or None,
                  "files_done": len(rows), "files": len(files), "rows": rows}
        out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"JSON: {out}")


if __name__ == "__main__":
    main()
