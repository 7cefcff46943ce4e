"""A long mp3 with 20 KB of garbage written into its middle still comes back whole.

    .venv/bin/python scripts/corrupt_mp3_demo.py [--minutes 12] [--model base]

Builds an mp3 of real read speech (Asterisk prompts, tests/assets.py; CBR libmp3lame, as tests/test_bad_input.py
makes them), overwrites 20 KB in its middle with random bytes, transcribes it with the default options
(corrupt_audio="skip") and prints the warning, the recorded gap, the first segments after the damage next to
the prompts known to be there, the last segments, and how much of the file the transcript covers.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from assets import asterisk_long, encode_audio, read_wav  # noqa: E402

import whisperkit_nb as wk  # noqa: E402

GARBAGE_BYTES = 20_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--model", default=None, help="default: the package's (base offline on a CPU)")
    args = parser.parse_args()

    fixture = asterisk_long(minutes=args.minutes, silence_s=0)
    samples, _ = read_wav(fixture.path)
    folder = Path(tempfile.mkdtemp(prefix="corrupt_mp3_demo_"))
    path = encode_audio(folder / "long_talk.mp3", samples)
    data = bytearray(path.read_bytes())
    at = len(data) // 2
    data[at : at + GARBAGE_BYTES] = np.random.default_rng(0).integers(0, 256, GARBAGE_BYTES, np.uint8).tobytes()
    path.write_bytes(bytes(data))
    print(f"{path}: {args.minutes:g} min of speech, {len(data) / 1e6:.2f} MB; {GARBAGE_BYTES} random bytes written "
          f"at byte {at} (about {at / len(data) * fixture.duration:.0f} s in)")

    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = wk.transcribe(str(path), model=args.model, progress=False)
    seconds = time.perf_counter() - started
    info = df.attrs["files"][str(path)]
    print("\nwarnings:")
    for warning in caught:
        if str(path) in str(warning.message):
            print(f"  {warning.category.__name__}: {warning.message}")
    print(f"\ndf.attrs['files'][path]['gaps'] = {info['gaps']}")

    gap_end = info["gaps"][0]["end"] if info["gaps"] else 0.0
    after = df[df.start >= gap_end].head(4)
    known = [t for t in fixture.turns if t.end > gap_end][:6]
    with pd.option_context("display.max_colwidth", 90, "display.width", 200):
        print("\nfirst segments after the damage:")
        print(after[["start", "end", "text"]].to_string())
        print("\nprompts known to start there (from the fixture's exact turns):")
        print(pd.DataFrame([(round(t.start, 3), round(t.end, 3), t.text) for t in known],
                           columns=["start", "end", "text"]).to_string())
        print("\nlast segments:")
        print(df[["start", "end", "text"]].tail(4).to_string())
    speech_after = sum(t.end - t.start for t in fixture.turns if t.start >= gap_end)
    print(f"\n{len(df)} segments ({int((df.start >= gap_end).sum())} after the damage); the transcript runs to "
          f"{df.end.max():.1f} s of the file's {info['duration']:.1f} s (last known speech ends at "
          f"{fixture.turns[-1].end:.1f} s; {speech_after:.0f} s of speech after the damage); "
          f"model {args.model or 'default'}, {seconds:.0f} s")


if __name__ == "__main__":
    main()
