"""A second set of recordings, unlike the development set and never tuned on: a check of the defaults on
what they were not chosen on, in the form `make bench RECORDINGS=folder` takes (audio + ``.txt`` beside it).

    .venv/bin/python bench/unseen.py [--folder F]      # builds the folder (cached), prints its path
    make bench RECORDINGS=$(.venv/bin/python bench/unseen.py --quiet)

What differs from bench/devset.py: other espeak-ng voices (a female variant, Scottish, Caribbean, New York),
babble (other voices) instead of room noise, noisier rooms (12-18 dB SNR), telephone band and 8 kHz mp3,
a quiet 48 kHz stereo AAC file, interview-like pauses of up to 12 s, fast speech full of numbers, and
real speech the bench never used (pyannote's phone call, pocketsphinx's "cards" utterances). Every file
is built from fixed seeds on first use; nothing here was looked at before the defaults were fixed.
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from devset import PAUSES_S, espeak, flite, reading  # noqa: E402  (devset puts tests/ on the path)

from assets import (  # noqa: E402
    FIXTURE_DIR,
    SAMPLE_RATE,
    _noise,
    _read_sphinx_transcription,
    asterisk_long,
    pyannote_sample,
    read_wav,
    write_wav,
)

VERSION = 1
INTERVIEW_PAUSES_S = ((0.55, (0.2, 0.6)), (0.3, (1.0, 3.0)), (0.15, (4.0, 12.0)))  # turns with long silences
CARDS = Path("/usr/share/pocketsphinx/test/data/cards")


def _speech(path: Path) -> np.ndarray:
    samples, rate = read_wav(path)
    assert rate == SAMPLE_RATE, path
    return samples.astype(np.float32) / 32768


def level_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x)) + 1e-20))


def _with(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``noise`` added under ``clean`` so that speech stands ``snr_db`` above it (both over the whole file)."""
    speech_db = level_db(clean[np.abs(clean) > 1e-4]) if np.any(np.abs(clean) > 1e-4) else level_db(clean)
    gain = 10 ** ((speech_db - snr_db - level_db(noise)) / 20)
    return clean + gain * noise


def _babble(n: int, seed: int) -> np.ndarray:
    """Four other voices reading other sentences at once: the murmur of a café, not a room's hiss."""
    voices = [flite("rms", 1.1), flite("slt", 0.9), espeak("en-us", 170), espeak("en-gb-x-rp", 150)]
    out = np.zeros(n, np.float32)
    for k, reader in enumerate(voices):
        fixture, _ = reading(f"unseen-babble-{k}-{seed}", [reader], n / SAMPLE_RATE / 60 + 0.2, part="tune",
                             seed=seed + 100 * k, snr_db=60, pauses=((1.0, (0.05, 0.3)),))
        voice = _speech(fixture.path)[:n]
        out[: len(voice)] += voice
    return out


def band_limited(x: np.ndarray, low: float, high: float) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    return sosfiltfilt(butter(6, [low, high], btype="band", fs=SAMPLE_RATE, output="sos"), x).astype(np.float32)


def encode_audio(path: Path, x: np.ndarray, container: str, codec: str, rate: int, channels: int) -> None:
    """16 kHz float samples into ``container``/``codec`` at ``rate`` Hz, mono or the same on both channels."""
    import av

    layout = "mono" if channels == 1 else "stereo"
    data = np.stack([x] * channels).astype(np.float32)
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        resampler = av.AudioResampler(format=stream.format.name, layout=layout, rate=rate)

        def encode(frame) -> None:
            for resampled in resampler.resample(frame):
                for packet in stream.encode(resampled):
                    out.mux(packet)

        for start in range(0, data.shape[1], 8192):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[:, start : start + 8192]), format="fltp",
                                               layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, start, Fraction(1, SAMPLE_RATE)
            encode(frame)
        encode(None)
        for packet in stream.encode(None):
            out.mux(packet)


def write_float_wav(path: Path, x: np.ndarray) -> None:
    write_wav(path, (np.clip(x, -1, 1) * 32767).astype("<i2"))


def _cards() -> tuple[np.ndarray, str]:
    """pocketsphinx's five "cards" utterances (real speech, one speaker) one after another, 0.8 s apart."""
    texts = _read_sphinx_transcription(CARDS / "cards.transcription")
    gap = np.zeros(int(0.8 * SAMPLE_RATE), np.float32)
    pieces, said = [gap], []
    for ident in (CARDS / "cards.fileids").read_text().split():
        pieces += [_speech(CARDS / f"{ident}.wav"), gap]
        said.append(texts[ident])
    return np.concatenate(pieces), " ".join(said)


def write_recording(folder: Path, name: str, suffix: str, make) -> None:
    """``make()`` = (audio, reference, writer) written as ``folder/name+suffix`` and its ``.txt`` reference,
    unless both are there already."""
    path = folder / f"{name}{suffix}"
    if path.exists() and path.with_suffix(".txt").exists():
        return
    audio, text, writer = make()
    writer(path, audio)
    path.with_suffix(".txt").write_text(text + "\n")


def read_aloud(name: str, readers, minutes: float, seed: int, *, part: str, snr_db: float = 60, **kw):
    """`devset.reading`'s samples (float, 16 kHz) and reference, for a recording to process further."""
    fixture, _ = reading(name, readers, minutes, part=part, seed=seed, snr_db=snr_db, **kw)
    return _speech(fixture.path), fixture.reference


def build(folder: Path) -> Path:
    """Every recording of the set written into ``folder`` (skipped where already there)."""
    folder.mkdir(parents=True, exist_ok=True)

    def made(name: str, suffix: str, make) -> None:
        write_recording(folder, name, suffix, make)

    def read(name, readers, minutes, seed, snr_db=60, **kw):
        return read_aloud(f"unseen-{name}", readers, minutes, seed, part="confirm", snr_db=snr_db, **kw)

    def babble_file():
        clean, text = read("f3", [espeak("en-us+f3", 150)], 6, seed=301)
        return _with(clean, _babble(len(clean), 302), 12), text, write_float_wav

    def interview():
        clean, text = read("interview", [flite("slt"), flite("rms", 1.05)], 6, seed=303, snr_db=25,
                           turn_sentences=2, pauses=INTERVIEW_PAUSES_S)
        return clean, text, write_float_wav

    def phone():
        clean, text = read("phone", [flite("awb")], 6, seed=304, snr_db=30)
        return (band_limited(clean, 300, 3400), text,
                lambda p, x: encode_audio(p, x, "mp3", "libmp3lame", 8000, 1))

    def quiet_m4a():
        clean, text = read("scot", [espeak("en-gb-scotland", 175)], 6, seed=305, snr_db=30)
        quiet = clean * 10 ** ((-38 - level_db(clean)) / 20)
        return quiet, text, lambda p, x: encode_audio(p, x, "mp4", "aac", 48000, 2)

    def noisy(lang: str, seed: int, snr_db: float):
        base = asterisk_long(minutes=6, silence_s=0, lang=lang, seed=seed)
        clean = _speech(base.path)
        noise = _noise(len(clean), np.random.default_rng(seed)).astype(np.float32) / 32768
        return _with(clean, noise, snr_db), base.reference, write_float_wav

    def fast_numbers():
        clean, text = read("kal16-fast", [flite("kal16", 0.75)], 3, seed=306, snr_db=25, numbers=0.5)
        return clean, text, write_float_wav

    def mixed_espeak():
        clean, text = read("espeak-mix", [espeak("en-029", 160), espeak("en-us-nyc", 185), espeak("en-us+f3", 140)],
                           18, seed=307, snr_db=20, numbers=0.3, turn_sentences=4, pauses=PAUSES_S)
        return clean, text, write_float_wav

    def call():
        sample = pyannote_sample()
        return _speech(sample.path), sample.reference, write_float_wav

    def cards():
        audio, text = _cards()
        return audio, text, write_float_wav

    made("espeak-f3-babble-6m", ".wav", babble_file)
    made("flite-interview-pauses-6m", ".wav", interview)
    made("flite-awb-phone-6m", ".mp3", phone)
    made("espeak-scot-quiet-6m", ".m4a", quiet_m4a)
    made("asterisk-en-12db-6m", ".wav", lambda: noisy("en", 9, 12))
    made("asterisk-es-18db-6m", ".wav", lambda: noisy("es", 8, 18))
    (folder / "asterisk-es-18db-6m.lang").write_text("es\n")
    made("flite-kal16-fast-numbers-3m", ".wav", fast_numbers)
    made("espeak-mixed-accents-18m", ".wav", mixed_espeak)
    made("real-call-0.5m", ".wav", call)
    made("real-cards-0.3m", ".wav", cards)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=str(FIXTURE_DIR / f"unseen_v{VERSION}"))
    parser.add_argument("--quiet", action="store_true", help="print only the folder")
    args = parser.parse_args()
    folder = build(Path(args.folder))
    if not args.quiet:
        print_listing(folder)
    print(folder)


def print_listing(folder: Path) -> None:
    """Each recording in ``folder`` with the number of words of its reference."""
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".txt", ".lang"):
            print(f"{path.name}: {len(path.with_suffix('.txt').read_text().split())} reference words")


if __name__ == "__main__":
    main()
