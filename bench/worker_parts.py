"""CTranslate2 on a CPU: a batch split between the two workers in contiguous halves, or balanced on each row's work.

    .venv/bin/python bench/worker_parts.py [--recordings .cache/fixtures/unseen_v1] [--rounds 3] [--files a,b]

The engine runs two CTranslate2 calls at once, each on part of a batch (`ctranslate2_engine._parts`); the batch
takes as long as its slower part. Until 2026-12-06 the parts were contiguous halves of the batch; now the rows
are dealt to the parts by their expected work (seconds of speech when decoding, text tokens when aligning).
This bench runs the whole default pipeline on each file both ways, taking turns, ``--rounds`` times, and
reports per file: the least wall seconds, the least seconds spent in the split calls (decoding and alignment),
and whether the two DataFrames are identical (rows decode independently, so they must be). Development-set
files by default (the tune and confirm parts up to ``--longest`` minutes, 18), or a folder of recordings.
Writes ``worker-parts-<date>-<HHMM>.json`` (never an existing file).
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

import whisperkit_nb as wk  # noqa: E402
from devset import dev_files  # noqa: E402
from machine import cpu_model, loadavg  # noqa: E402
from recordings import recordings  # noqa: E402
from result_file import new_result_path  # noqa: E402
from whisperkit_nb.engines import ctranslate2_engine  # noqa: E402

BALANCED = ctranslate2_engine._parts


def contiguous(rows: int, workers: int, weights=None) -> list[list[int]]:
    """The split before 2026-12-06: the weights ignored."""
    return BALANCED(rows, workers, None)


class SplitClock:
    """Seconds spent in the engine's split calls (`Ct2Engine._in_parts`) while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.original = ctranslate2_engine.Ct2Engine._in_parts

    def __enter__(self) -> SplitClock:
        original = self.original

        def timed(engine, *args, **kwargs):
            started = time.perf_counter()
            try:
                return original(engine, *args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        ctranslate2_engine.Ct2Engine._in_parts = timed
        return self

    def __exit__(self, *exc) -> None:
        ctranslate2_engine.Ct2Engine._in_parts = self.original


def run(path: str, parts, model: str):
    """The default pipeline on ``path`` with the ``parts`` split: (DataFrame, wall seconds, split seconds)."""
    ctranslate2_engine._parts = parts
    try:
        with SplitClock() as clock:
            started = time.perf_counter()
            df = wk.transcribe(path, model=model, progress=False)
            wall = time.perf_counter() - started
    finally:
        ctranslate2_engine._parts = BALANCED
    return df, wall, clock.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each split per file, taking turns")
    parser.add_argument("--recordings", default="", help="a folder of recordings (bench/recordings.py)")
    parser.add_argument("--files", default="", help="only these files (comma-separated names)")
    parser.add_argument("--longest", type=float, default=18.0, help="development-set files up to this many minutes")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    files = (recordings(args.recordings) if args.recordings
             else [f for f in dev_files(("tune", "confirm")) if f.fixture.duration <= args.longest * 60])
    if args.files:
        files = [f for f in files if f.name in args.files.split(",")]
    splits = {"contiguous": contiguous, "balanced": BALANCED}
    started = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    run(str(files[0].fixture.path), BALANCED, args.model)  # warm-up: model load, first calls
    out = new_result_path(Path(args.out), "worker-parts")  # rewritten after each file: an interrupted run keeps them
    rows = []
    for f in files:
        path = str(f.fixture.path)
        walls = {name: [] for name in splits}
        inside = {name: [] for name in splits}
        frames = {}
        for _ in range(args.rounds):
            for name, parts in splits.items():
                df, wall, split_s = run(path, parts, args.model)
                walls[name].append(round(wall, 2))
                inside[name].append(round(split_s, 2))
                frames.setdefault(name, df.drop(columns="words", errors="ignore"))
        row = {"file": f.name, "part": f.part, "minutes": round(f.fixture.duration / 60, 2),
               "same_dataframe": bool(frames["contiguous"].equals(frames["balanced"])),
               **{f"{name}_wall_s": min(walls[name]) for name in splits},
               **{f"{name}_split_s": min(inside[name]) for name in splits},
               "wall_s_runs": walls, "split_s_runs": inside}
        row["wall_ratio"] = round(row["contiguous_wall_s"] / row["balanced_wall_s"], 3)
        rows.append(row)
        print(f"{f.name}: wall {row['contiguous_wall_s']} -> {row['balanced_wall_s']} s, decoding and alignment "
              f"{row['contiguous_split_s']} -> {row['balanced_split_s']} s, same DataFrame: {row['same_dataframe']}",
              flush=True)
        total = {f"{name}_{what}": round(sum(r[f"{name}_{what}"] for r in rows), 2)
                 for name in splits for what in ("wall_s", "split_s")}
        result = {"date": started, "machine": cpu_model(), "load": loadavg(), "model": args.model,
                  "rounds": args.rounds, "recordings": args.recordings or None, "files_done": len(rows),
                  "files": len(files), "total": total, "rows": rows}
        out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"all files: wall {total['contiguous_wall_s']} -> {total['balanced_wall_s']} s "
          f"({total['contiguous_wall_s'] / total['balanced_wall_s']:.3f}x), decoding and alignment "
          f"{total['contiguous_split_s']} -> {total['balanced_split_s']} s; same DataFrames: "
          f"{sum(r['same_dataframe'] for r in rows)} of {len(rows)}")
    print(f"JSON: {out}")


if __name__ == "__main__":
    main()
