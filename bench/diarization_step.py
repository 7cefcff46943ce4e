"""The offline diarization pipeline's segmentation step: CPU time against DER and speaker counts, on a tune part
that picks the step and a confirm part held aside (bench/held_aside.py's rule: odd seeds tune, even seeds and
every file a test asserts on confirm).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/diarization_step.py [--steps 0.1,0.2] [--jobs 2] [--out DIR]

pyannote slides its 10 s segmentation window by ``step`` x 10 s and embeds every (window, local speaker) pair,
so on a CPU both the segmentation and the embeddings (most of the time) cost about 1 / step. Each step runs in
its own child process on one torch thread (``--jobs`` children at once), the pipeline built and warmed up on
pyannote's sample first; every other hyper-parameter stays `OFFLINE_PARAMS`. ``default`` is the library's own
step (`whisperkit_nb.speakers.diarize.SEGMENTATION_STEP`). Files: the eight flite conversations of
bench/held_aside.py (tune: odd seeds) and its four fresh ones, pyannote's real phone call, bench/diarization.py's
fixtures (flite 3 and 4 voices, three real Asterisk voices), and the part "fresh": conversations of real voices
(Asterisk's en, es and fr speakers, pocketsphinx's LibriVox reader) and espeak-ng voices, 44 s to 8 minutes,
built after a step was chosen on the other parts, never tuned on. DER:
pyannote.metrics' full scoring (no collar, overlap scored) of the overlapping turns. Writes
``diarization-step-<date>-<HHMM>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
os.environ.setdefault("WHISPERKIT_NB_CACHE", str(REPO / ".cache" / "whisperkit_nb"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))
warnings.filterwarnings("ignore", message="'uem' was approximated")

from machine import cpu_model  # noqa: E402
from result_file import new_result_path  # noqa: E402


FRESH = "fresh"
PARTS = ("tune", "confirm", FRESH)
# Built on 2026-12-07 after a step was chosen on the other parts (voices, turns, seed): never tuned on.
FRESH_VOICES = (
    (("asterisk:en", "asterisk:fr"), 10, 30),
    (("asterisk:en", "asterisk:es"), 24, 31),
    (("asterisk:es", "asterisk:fr", "asterisk:en"), 40, 32),
    (("librivox", "asterisk:en"), 30, 33),
    (("espeak:en-us", "espeak:en-gb-scotland", "flite:slt"), 40, 34),
    (("asterisk:en", "asterisk:fr", "asterisk:es"), 120, 35),
)


def files() -> list[tuple[str, str, object, object]]:
    """(part, name, fixture, reference: an RTTM path or the exact turns) for every file, tune part first."""
    import assets
    import diarization  # bench/diarization.py: its fixtures and their references
    import held_aside

    found = [(c.part, c.name, held_aside.build_conversation(c))
             for c in held_aside.CONVERSATIONS + held_aside.FRESH_CONVERSATIONS]
    found += [(FRESH, f"s{seed} {'+'.join(voices)}, {turns} turns", assets.voice_conversation(voices, turns, seed=seed))
              for voices, turns, seed in FRESH_VOICES]
    rows = [(part, name, fixture, diarization.turns_of(fixture)) for part, name, fixture in found]
    rows += [(held_aside.CONFIRM, name, fixture, reference)
             for name, (fixture, reference) in diarization.fixtures().items()]
    return sorted(rows, key=lambda row: PARTS.index(row[0]))


def child(step: str) -> None:
    """One step (or ``default``), one thread: a JSON line per file on stdout."""
    import pandas as pd
    import torch

    torch.set_num_threads(1)
    import assets

    from whisperkit_nb.audio.source import open_audio
    from whisperkit_nb.options import TranscribeOptions
    from whisperkit_nb.scoring.speakers import diarization_error_rate
    from whisperkit_nb.speakers import diarize as diarize_module

    if step != "default":
        diarize_module.SEGMENTATION_STEP = float(step)  # read when the pipeline is built
    options = TranscribeOptions(diarize=True, progress=False, device="cpu")
    diarize_module.load_pipeline(options)
    diarize_module.diarize(open_audio(str(assets.pyannote_sample().path)).in_memory(), options)  # warm-up
    for part, name, fixture, reference in files():
        source = open_audio(str(fixture.path)).in_memory()
        wall, cpu = time.perf_counter(), time.process_time()
        turns = diarize_module.diarize(source, options)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(json.dumps({
            "step": step, "part": part, "file": name,
            "audio_s": round(source.duration, 1),
            "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "speakers": int(turns.speaker.nunique()),
            "true_speakers": len({t.speaker for t in fixture.turns}),
            "der": round(diarization_error_rate(pd.DataFrame(turns.attrs["overlapping"]), reference), 4),
        }), flush=True)


def run_step(step: str) -> list[dict]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, __file__, "--child", step], capture_output=True, text=True, env=env,
                          check=False)
    if done.returncode:
        raise SystemExit(f"step {step} failed:\n{done.stderr[-3000:]}")
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    print(f"step {step}: {len(rows)} files, {sum(r['cpu_s'] for r in rows):.0f} CPU s", flush=True)
    return rows


def summary(rows: list[dict]) -> dict:
    audio = sum(r["audio_s"] for r in rows)
    return {"files": len(rows), "audio_s": round(audio, 1), "cpu_s": round(sum(r["cpu_s"] for r in rows), 1),
            "der_weighted": round(sum(r["der"] * r["audio_s"] for r in rows) / audio, 4),
            "right_speaker_counts": sum(r["speakers"] == r["true_speakers"] for r in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="0.1,0.2",
                        help="fractions of the 10 s window, or default (the library's), comma-separated; "
                             "the first is the baseline")
    parser.add_argument("--jobs", type=int, default=2, help="steps run at once, one process and one thread each")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    steps = args.steps.split(",")
    files()  # build every fixture once, before the children race to
    started = dt.datetime.now()
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = [row for found in pool.map(run_step, steps) for row in found]

    parts = [p for p in PARTS if any(r["part"] == p for r in rows)]
    totals = {step: {part: summary([r for r in rows if r["step"] == step and r["part"] == part]) for part in parts}
              for step in steps}

    machine = f"{cpu_model()}, {os.cpu_count()} cores, one torch thread per step, {args.jobs} steps at once"
    lines = [f"{started:%Y-%m-%d %H:%M} · {machine} · offline pipeline (segmentation-3.0 + CAM++)", "",
             "| file | part | audio s | " + " | ".join(f"step {s}: CPU s, speakers (true), DER" for s in steps) + " |",
             "|---|---|---|" + "---|" * len(steps)]
    names = list(dict.fromkeys(r["file"] for r in rows))
    for name in names:
        by_step = {r["step"]: r for r in rows if r["file"] == name}
        first = by_step[steps[0]]
        cells = [f"{r['cpu_s']}, {r['speakers']} ({r['true_speakers']}), {r['der']:.3f}"
                 for r in (by_step[s] for s in steps)]
        lines.append(f"| {name} | {first['part']} | {first['audio_s']} | " + " | ".join(cells) + " |")
    lines += ["", "| step | part | files | CPU s | CPU s against the first step | DER (by duration) | "
              "speaker counts right |", "|---|---|---|---|---|---|---|"]
    for step in steps:
        for part in parts:
            t = totals[step][part]
            ratio = totals[steps[0]][part]["cpu_s"] / t["cpu_s"]
            lines.append(f"| {step} | {part} | {t['files']} | {t['cpu_s']} | {ratio:.2f}x less | "
                         f"{t['der_weighted']:.4f} | {t['right_speaker_counts']} of {t['files']} |")
    print("\n".join(lines))
    path = new_result_path(args.out, "diarization-step")
    path.write_text(json.dumps({"date": f"{started:%Y-%m-%d %H:%M}", "machine": machine, "steps": steps,
                                "totals": totals, "files": rows}, indent=2))
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
