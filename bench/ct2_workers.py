"""CTranslate2 on a CPU: one worker with every thread against two workers with a share each (issue 17).

    .venv/bin/python bench/ct2_workers.py [--files flite-slt-6m,asterisk-en-18m,asterisk-es-6m] [--rows 16]

Part 1, the engine's three calls on the same real windows (the first ``--rows`` windows of each
development-set file, as the pipeline builds them): encoder, decoding (text only, beam 2, the CPU default
when this was written; now 3) and the alignment pass, seconds per window with ``CPU_WORKERS`` 1 and 2, two
interleaved rounds, and whether the two give the same tokens. Part 2, the whole default pipeline on each
file with 1 and 2 workers: wall seconds and whether the DataFrames are identical. Writes a new results file per run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

import whisperkit_nb as wk  # noqa: E402
from devset import dev_files  # noqa: E402
from machine import cpu_model, loadavg  # noqa: E402
from result_file import new_result_path  # noqa: E402
from whisperkit_nb.engines import ctranslate2_engine  # noqa: E402
from whisperkit_nb.engines.registry import load_model, release_models  # noqa: E402
from whisperkit_nb.options import TranscribeOptions  # noqa: E402


def pipeline_windows(path: str, model: str, rows: int) -> torch.Tensor:
    """The log-mel windows the default pipeline encodes for ``path``, first ``rows`` of them."""
    captured: list[torch.Tensor] = []
    encode = ctranslate2_engine.Ct2Engine.encode

    def spy(self, features):
        captured.append(features.clone())
        return encode(self, features)

    ctranslate2_engine.Ct2Engine.encode = spy
    try:
        wk.transcribe(path, model=model, progress=False)
    finally:
        ctranslate2_engine.Ct2Engine.encode = encode
    return torch.cat(captured)[:rows]


def engine_with(workers: int, model: str):
    ctranslate2_engine.CPU_WORKERS = workers
    release_models()
    engine = load_model(TranscribeOptions(model=model, engine="ctranslate2"))
    assert engine.workers == min(workers, torch.get_num_threads())
    return engine


def time_calls(engine, windows: torch.Tensor, language: str) -> tuple[dict, list]:
    n = len(windows)
    started = time.perf_counter()
    encoded = engine.encode(windows)
    encode_s = time.perf_counter() - started
    started = time.perf_counter()
    decoded = engine.decode(encoded, [language] * n, ["transcribe"] * n, 224, beam_size=2, timestamps=False)
    decode_s = time.perf_counter() - started
    started = time.perf_counter()
    engine.align(encoded, decoded, [30.0] * n)
    align_s = time.perf_counter() - started
    per = {"encode": encode_s / n, "decode": decode_s / n, "align": align_s / n}
    return {k: round(v, 4) for k, v in per.items()}, [d.tokens for d in decoded]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="flite-slt-6m,asterisk-en-18m,asterisk-es-6m")
    parser.add_argument("--model", default="base")
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    known = {f.name: f for f in dev_files(("tune", "confirm"), longest_min=60)}
    files = [known[name] for name in args.files.split(",")]
    calls, runs = [], []
    for f in files:
        windows = pipeline_windows(str(f.fixture.path), args.model, args.rows)
        tokens = {}
        for round_ in range(args.rounds):
            for workers in (1, 2):
                per, tokens[workers] = time_calls(engine_with(workers, args.model), windows, f.fixture.language)
                calls.append({"file": f.name, "round": round_, "workers": workers, "rows": len(windows),
                              **per, "load": loadavg()[0]})
                print(json.dumps(calls[-1]), flush=True)
            calls[-1]["same_tokens"] = tokens[1] == tokens[2]
    for f in files:
        frames = {}
        for workers in (1, 2):
            engine_with(workers, args.model)
            wk.transcribe(str(known["librivox-0.5m"].fixture.path), model=args.model, progress=False)  # warm-up
            started = time.perf_counter()
            frames[workers] = wk.transcribe(str(f.fixture.path), model=args.model, progress=False)
            runs.append({"file": f.name, "minutes": round(f.fixture.duration / 60, 2), "workers": workers,
                         "wall_s": round(time.perf_counter() - started, 2), "load": loadavg()[0]})
            print(json.dumps(runs[-1]), flush=True)
        runs[-1]["identical"] = frames[1].equals(frames[2])

    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    machine = f"{cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads, CPU only"
    print(f"\n{stamp} · {machine} · model {args.model}, int8")
    print("\n| file | workers | encode s/window | decode s/row (beam 2, text) | align s/row | same tokens |")
    print("|---|---|---|---|---|---|")
    for f in files:
        for workers in (1, 2):
            mine = [c for c in calls if c["file"] == f.name and c["workers"] == workers]
            same = next((c["same_tokens"] for c in calls if c["file"] == f.name and "same_tokens" in c), "")
            cells = [f"{min(c[k] for c in mine):.3f}" for k in ("encode", "decode", "align")]
            print(f"| {f.name} | {workers} | " + " | ".join(cells) + f" | {same if workers == 2 else ''} |")
    print("\n| file | min | 1 worker, s | 2 workers, s | speed-up | identical DataFrame |")
    print("|---|---|---|---|---|---|")
    for f in files:
        one, two = (next(r for r in runs if r["file"] == f.name and r["workers"] == w) for w in (1, 2))
        print(f"| {f.name} | {one['minutes']:g} | {one['wall_s']} | {two['wall_s']} | "
              f"{one['wall_s'] / two['wall_s']:.2f}x | {two['identical']} |")
    path = new_result_path(args.out, "ct2_workers")
    path.write_text(json.dumps({"date": stamp, "machine": machine, "model": args.model, "calls": calls,
                                "runs": runs}, indent=2))
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
