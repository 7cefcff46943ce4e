"""Hard recordings for tuning: the conditions where our default trails faster-whisper on the unseen set, with
other voices and the tune part's texts.

`unseen.py`'s files are never tuned on; where the default makes more errors than faster-whisper there (the
telephone band, accented espeak-ng voices, fast speech full of numbers, a quiet recording) the development
set's tune part has no file like them, so a setting chosen on it never saw such audio. This set builds the same
conditions from other voices and other seeds, with the tune part's sentences (`devset.prompt_texts("tune")`),
as recordings with a reference beside each, for `cpu_devset.py --recordings`:

    .venv/bin/python bench/hard_tune.py
    .venv/bin/python bench/cpu_devset.py --recordings .cache/fixtures/hard_tune_v1 \\
        --systems default,pad-0.4,wk-fw-chunks,faster-whisper

A setting these files favour is then checked on the confirm part and the unseen recordings, which chose nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from devset import PAUSES_S, espeak, flite  # noqa: E402  (devset puts tests/ on the path)
from unseen import (  # noqa: E402
    band_limited,
    encode_audio,
    level_db,
    print_listing,
    read_aloud,
    write_float_wav,
    write_recording,
)

from assets import FIXTURE_DIR  # noqa: E402

VERSION = 1


def build(folder: Path) -> Path:
    """Every recording of the set written into ``folder`` (skipped where already there)."""
    folder.mkdir(parents=True, exist_ok=True)

    def made(name: str, suffix: str, make) -> None:
        write_recording(folder, name, suffix, make)

    def read(name, readers, minutes, seed, snr_db=60, **kw):
        return read_aloud(f"hard-{name}", readers, minutes, seed, part="tune", snr_db=snr_db, **kw)

    def phone():  # as unseen's, another voice: 300-3400 Hz, 8 kHz mp3
        clean, text = read("phone", [flite("rms")], 6, seed=401, snr_db=30)
        return (band_limited(clean, 300, 3400), text,
                lambda p, x: encode_audio(p, x, "mp3", "libmp3lame", 8000, 1))

    def accents():  # espeak-ng accents unseen.py does not use, taking turns, numbers, room noise
        clean, text = read("accents", [espeak("en-gb-x-gbclan", 170), espeak("en-gb-x-gbcwmd", 160),
                                       espeak("en-us+m3", 180)], 6, seed=402, snr_db=20, numbers=0.3,
                           turn_sentences=4, pauses=PAUSES_S)
        return clean, text, write_float_wav

    def fast_numbers():
        clean, text = read("slt-fast", [flite("slt", 0.75)], 3, seed=403, snr_db=25, numbers=0.5)
        return clean, text, write_float_wav

    def quiet():  # -38 dB, 48 kHz stereo AAC, as unseen's quiet file, another accent
        clean, text = read("gb", [espeak("en-gb", 175)], 6, seed=404, snr_db=30)
        quiet = clean * 10 ** ((-38 - level_db(clean)) / 20)
        return quiet, text, lambda p, x: encode_audio(p, x, "mp4", "aac", 48000, 2)

    made("flite-rms-phone-6m", ".mp3", phone)
    made("espeak-accents-6m", ".wav", accents)
    made("flite-slt-fast-numbers-3m", ".wav", fast_numbers)
    made("espeak-gb-quiet-6m", ".m4a", quiet)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=str(FIXTURE_DIR / f"hard_tune_v{VERSION}"))
    args = parser.parse_args()
    folder = build(Path(args.folder))
    print_listing(folder)
    print(folder)


if __name__ == "__main__":
    main()
