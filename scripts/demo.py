"""`make demo`: transcribe the 30 s two-speaker phone call shipped in the pyannote.audio wheel, offline.

Prints the DataFrame and writes it to demo-output/ as CSV and JSON.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pandas as pd

import whisperkit_nb as wk

OUT = Path("demo-output")


def pyannote_sample() -> Path:
    spec = importlib.util.find_spec("pyannote.audio")  # locates the wheel without importing pyannote
    if spec is None or not spec.submodule_search_locations:
        sys.exit("The demo audio ships in the pyannote.audio wheel: pip install pyannote.audio")
    return Path(spec.submodule_search_locations[0]) / "sample" / "sample.wav"


def main() -> None:
    audio = pyannote_sample()
    print(f"Transcribing {audio} with the offline 'base' model ...")
    started = time.perf_counter()
    df = wk.transcribe(str(audio), model="base", progress=True)
    seconds = time.perf_counter() - started
    info = df.attrs["files"][str(audio)]
    with pd.option_context("display.max_colwidth", 80, "display.width", 200):
        print(df[["start", "end", "text", "language", "avg_logprob", "no_speech_prob"]].to_string())
    print(f"\n{info['duration']:.1f} s of audio, language {info['language']}, {len(df)} segments "
          f"in {seconds:.1f} s (model load included)")
    OUT.mkdir(exist_ok=True)
    df.to_csv(OUT / "sample.csv", index=False)
    df.to_json(OUT / "sample.json", orient="records", indent=2, force_ascii=False)
    print(f"wrote {OUT / 'sample.csv'} and {OUT / 'sample.json'}")


if __name__ == "__main__":
    main()
