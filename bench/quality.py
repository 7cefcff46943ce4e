"""Quality benchmark (issue 3): word-timestamp accuracy per engine and code-switching accuracy per chunk
length, on fixtures with exact reference times (tests/assets.py).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/quality.py [--model base] [--out bench/results]

Words: the 3-voice flite conversation, transcribed with timestamps="word" on each engine; the error of each
reference turn's start (end) is the distance to the nearest word start (end); median and 90th percentile.
Code-switching: English, Spanish and French blocks of ~40 s of real Asterisk prompts, code_switching="hybrid"
with several code_switching_chunk_s values; the share of speech time whose segment language is right.
That file (``code_switched()``, seed 0) is the one tests/test_quality.py asserts on: this table reports on it and
decides nothing. The default is chosen on other files by bench/code_switching_held_aside.py (tune part), where
this file is in the confirm part. Prints markdown tables, writes JSON beside them.
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import assets  # noqa: E402
import numpy as np  # noqa: E402

from machine import cpu_model  # noqa: E402  (bench/ is on sys.path when run as a script)
from result_file import new_result_path
import whisperkit_nb as wk  # noqa: E402
from whisperkit_nb.scoring.words import language_time_accuracy, turn_edge_errors


def word_rows(model: str) -> list[dict]:
    fixture = assets.flite_conversation()
    rows = []
    for engine in ("transformers", "ctranslate2"):
        started = time.perf_counter()
        df = wk.transcribe(str(fixture.path), model=model, language="en", timestamps="word", engine=engine,
                           progress=False)
        seconds = time.perf_counter() - started
        starts, ends = turn_edge_errors(wk.words_frame(df), fixture.turns)
        rows.append({"engine": engine, "turns": len(fixture.turns), "wall_s": round(seconds, 1),
                     "start_median_s": round(float(np.median(starts)), 3),
                     "start_p90_s": round(float(np.percentile(starts, 90)), 3),
                     "end_median_s": round(float(np.median(ends)), 3),
                     "end_p90_s": round(float(np.percentile(ends, 90)), 3)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def code_switching_rows(model: str, chunk_lengths: list[float]) -> list[dict]:
    fixture = assets.code_switched()
    rows = []
    for chunk_s in chunk_lengths:
        df = wk.transcribe(str(fixture.path), model=model, code_switching="hybrid",
                           code_switching_chunk_s=chunk_s, progress=False)
        rows.append({"code_switching_chunk_s": chunk_s, "engine": df.attrs["files"][str(fixture.path)]["engine"],
                     "accuracy": round(language_time_accuracy(df, fixture.turns), 3)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--chunk-lengths", default="10,15,30", help="code_switching_chunk_s values")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    words = word_rows(args.model)
    switching = code_switching_rows(args.model, [float(x) for x in args.chunk_lengths.split(",")])
    stamp = dt.datetime.now().strftime("%Y-%m-%d")
    machine = f"{cpu_model()}, {os.cpu_count()} cores, CPU only"
    print(f"\n{stamp} · {machine} · model {args.model}\n")
    print("| engine | turns | median start error | p90 start | median end error | p90 end |")
    print("|---|---|---|---|---|---|")
    for r in words:
        print(f"| {r['engine']} | {r['turns']} | {r['start_median_s']} s | {r['start_p90_s']} s | "
              f"{r['end_median_s']} s | {r['end_p90_s']} s |")
    print("\n| code_switching_chunk_s | engine | speech time with the right language |")
    print("|---|---|---|")
    for r in switching:
        print(f"| {r['code_switching_chunk_s']:g} | {r['engine']} | {r['accuracy'] * 100:.1f}% |")
    path = new_result_path(args.out, "quality")  # a new file per run: earlier runs are kept
    path.write_text(json.dumps(
        {"date": stamp, "machine": machine, "model": args.model, "words": words, "code_switching": switching},
        indent=2))
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
