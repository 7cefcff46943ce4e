"""Record the DataFrames of the test fixtures on both engines, or compare two recordings.

The architecture issue must not change results. Record before moving code, record again after, compare:

    .venv/bin/python scripts/record_frames.py record .cache/frames-before
    .venv/bin/python scripts/record_frames.py record .cache/frames-after
    .venv/bin/python scripts/record_frames.py compare .cache/frames-before .cache/frames-after

Each run is one fixture with one set of options on one engine (base, CPU); a recording is one pickle per run
holding text, start, end, speaker and words of every row.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
os.environ.setdefault("WHISPERKIT_NB_CACHE", str(REPO / ".cache" / "whisperkit_nb"))

COLUMNS = ["text", "start", "end", "speaker", "words"]


def runs() -> dict[str, tuple]:
    """Name -> (fixture factory, options) for every recorded run."""
    import assets

    return {
        "pyannote_word_diarize": (assets.pyannote_sample, dict(timestamps="word", diarize=True)),
        "librivox_segment": (assets.librivox_concat, dict()),
        "librivox_alignment": (assets.librivox_concat, dict(segment_times="alignment")),
        "flite_word_diarize": (assets.flite_conversation, dict(timestamps="word", diarize=True)),
        "asterisk_6min": (lambda: assets.asterisk_long(6, 30), dict(timestamps="word")),
        "code_switched_hybrid": (lambda: assets.code_switched(("en", "es", "fr"), 30.0),
                                 dict(code_switching="hybrid")),
        "spanish_translate": (lambda: assets.asterisk_language_file("es", "silence", 5.0, 40.0),
                              dict(task="translate", timestamps="word")),
    }


def record(out: Path, only: list[str] | None) -> None:
    import whisperkit_nb as wk

    out.mkdir(parents=True, exist_ok=True)
    for name, (fixture, options) in runs().items():
        if only and name not in only:
            continue
        path = fixture().path
        for engine in ("transformers", "ctranslate2"):
            frame = wk.transcribe(str(path), model="base", device="cpu", engine=engine, progress=False, **options)
            kept = frame[[c for c in COLUMNS if c in frame.columns]].copy()
            (out / f"{name}-{engine}.pkl").write_bytes(pickle.dumps(kept.to_dict("records")))
            print(f"{name} {engine}: {len(frame)} rows", flush=True)


def compare(before: Path, after: Path) -> int:
    differing = 0
    for old in sorted(before.glob("*.pkl")):
        new = after / old.name
        if not new.exists():
            print(f"{old.stem}: missing after")
            differing += 1
            continue
        a, b = pickle.loads(old.read_bytes()), pickle.loads(new.read_bytes())
        if a == b:
            print(f"{old.stem}: identical ({len(a)} rows)")
            continue
        differing += 1
        print(f"{old.stem}: DIFFERENT ({len(a)} rows before, {len(b)} after)")
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                print(f"  first difference at row {i}:\n    before {x}\n    after  {y}")
                break
    print(f"{differing} of {len(list(before.glob('*.pkl')))} runs differ")
    return 1 if differing else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("out", type=Path)
    rec.add_argument("--only", nargs="*")
    cmp = sub.add_parser("compare")
    cmp.add_argument("before", type=Path)
    cmp.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.command == "record":
        record(args.out, args.only)
    else:
        sys.exit(compare(args.before, args.after))


if __name__ == "__main__":
    main()
