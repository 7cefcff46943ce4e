"""File decoding speed of this checkout's `whisperkit_nb/audio/source.py` against the same file at another git
revision, in one process, taking turns, and whether the samples are identical.

    .venv/bin/python bench/decode_speed.py --against REV [--rounds 5] [--out bench/results] [FILE ...]

Default files: bench/prep.py's 18-minute inputs (16 kHz mono wav and mp3, 48 kHz stereo m4a; built by
`bench/prep.py` under the fixtures folder), when present. Each round decodes every file with both versions
(the whole file's blocks, one thread); the table shows the best round of each.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))

import assets  # tests/ is on sys.path (above)
from machine import cpu_model, loadavg  # bench/ is on sys.path (above)
from result_file import new_result_path  # bench/ is on sys.path (above)

from whisperkit_nb.audio import source as current

SOURCE = "whisperkit_nb/audio/source.py"


def module_at(revision: str, folder: Path):
    """`audio/source.py` as it was at ``revision``, imported as a module of its own."""
    text = subprocess.run(["git", "-C", str(REPO), "show", f"{revision}:{SOURCE}"], check=True,
                          capture_output=True, text=True).stdout
    path = folder / "source_at_revision.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("source_at_revision", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def decoded(module, path: Path) -> tuple[np.ndarray, float]:
    """All samples of ``path`` as ``module`` (a version of audio/source.py) decodes a file, and the seconds it took."""
    source = module._open_file(path, path.name)
    start = time.perf_counter()
    samples = np.concatenate(list(module._decode_blocks(source)))
    return samples, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", required=True, help="git revision whose source.py is the baseline")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    files = [Path(f) for f in args.files] or sorted((assets.FIXTURE_DIR / "bench_prep_v1").glob("prep_18min_*"))
    if not files:
        parser.error("no files given and no bench/prep.py 18-minute inputs found (run bench/prep.py first)")

    with tempfile.TemporaryDirectory() as tmp:
        baseline = module_at(args.against, Path(tmp))
        versions = {args.against: baseline, "this checkout": current}
        times = {(f.name, v): [] for f in files for v in versions}
        mismatches = []
        load_start = loadavg()
        for f in files:  # one untimed pass each: file cache, codec set-up
            for module in versions.values():
                decoded(module, f)
        for _ in range(args.rounds):
            for f in files:
                samples = {}
                for name, module in versions.items():
                    samples[name], seconds = decoded(module, f)
                    times[(f.name, name)].append(seconds)
                a, b = samples.values()
                if len(a) != len(b) or not np.array_equal(a, b):
                    mismatches.append(f.name)

    rows = [{"file": f.name, "baseline_s": round(min(times[(f.name, args.against)]), 4),
             "this_s": round(min(times[(f.name, "this checkout")]), 4)} for f in files]
    for row in rows:
        row["speed_up"] = round(row["baseline_s"] / row["this_s"], 2)
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": f"{cpu_model()}, one thread",
              "against": args.against, "load_average_at_start": load_start, "load_average_at_end": loadavg(),
              "rounds": args.rounds, "rows": rows, "mismatches": sorted(set(mismatches))}
    path = new_result_path(args.out, "decode-speed")
    path.write_text(json.dumps(result, indent=1))
    print(f"{result['date']} · {result['machine']} · best of {args.rounds}, taking turns\n")
    print(f"| file | {args.against} s | this checkout s | speed-up |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['file']} | {row['baseline_s']:.3f} | {row['this_s']:.3f} | {row['speed_up']:.2f}x |")
    print("\nsamples identical" if not mismatches else f"\nMISMATCH: {', '.join(result['mismatches'])}")
    print(f"JSON: {path}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
