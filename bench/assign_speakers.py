"""Speaker assignment speed: `speakers.assign_speakers` on a 10-hour transcript (moved here from a timed test).

    .venv/bin/python bench/assign_speakers.py [--segments 10000] [--turns 2000] [--repeats 5] [--out bench/results]

The input is the one tests/test_diarize.py checks for correctness against a brute-force overlap count:
segments of 0.5-5 s over 10 h (three words each), turns of 1-30 s by three speakers that overlap in places
and leave gaps in others (seed 0). Timed: without words, with words (never split), with words and the
default split (split_min_s=1.0). Median wall seconds of ``--repeats`` runs; prints a markdown table with
the date and machine, writes JSON beside it. Pure pandas/numpy, single-threaded: comparable across runs on
one machine only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_model  # noqa: E402
from result_file import new_result_path  # noqa: E402
from whisperkit_nb.speakers.assign import assign_speakers


def transcript_and_turns(segments: int, turns: int, hours: float = 10.0, seed: int = 0):
    """The test's input: a transcript with words and overlapping/gapped turns."""
    rng = np.random.default_rng(seed)
    length = hours * 3600
    starts = np.sort(rng.uniform(0, length, segments))
    frame = pd.DataFrame({"start": starts, "end": starts + rng.uniform(0.5, 5, segments), "text": " x y z"})
    word = lambda text, start, end: {"word": text, "start": start, "end": end, "probability": 0.9}  # noqa: E731
    words = [[word(" x", s, s + 0.3), word(" y", s + 0.3, (s + 0.3 + e) / 2), word(" z", (s + 0.3 + e) / 2, e)]
             for s, e in zip(frame.start, frame.end)]
    turn_starts = np.sort(rng.uniform(0, length, turns))
    table = pd.DataFrame({"start": turn_starts, "end": turn_starts + rng.uniform(1, 30, turns),
                          "speaker": rng.choice(["A", "B", "C"], turns)})
    return frame, words, table


def median_seconds(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=10_000)
    parser.add_argument("--turns", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)

    frame, words, turns = transcript_and_turns(args.segments, args.turns)
    with_words = frame.assign(words=words)
    cases = {
        "without words": lambda: assign_speakers(frame, turns),
        "with words, never split": lambda: assign_speakers(with_words, turns, split_min_s=math.inf),
        "with words, split_min_s=1.0": lambda: assign_speakers(with_words, turns),
    }
    results = {name: round(median_seconds(run, args.repeats), 4) for name, run in cases.items()}

    stamp = dt.datetime.now().strftime("%Y-%m-%d")
    machine = f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, pandas {pd.__version__}"
    lines = [f"{stamp} · {machine} · {args.segments} segments, {args.turns} turns, median of {args.repeats}", "",
             "| case | seconds |", "|---|---|"]
    lines += [f"| {name} | {seconds:.3f} |" for name, seconds in results.items()]
    table = "\n".join(lines)
    path = new_result_path(args.out, "assign_speakers")  # a new file per run: earlier runs are kept
    path.write_text(json.dumps({"date": stamp, "machine": machine, "segments": args.segments, "turns": args.turns,
                                "repeats": args.repeats, "seconds": results, "table": table}, indent=2))
    print(table)
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
