"""The development set (issue 17): varied recordings with exact references, split into a part that tunes
defaults and a part held aside that only confirms them.

Nothing here is tuned to; every file is built from seeds, voices and texts chosen before any result:

- flite readings (voices slt, rms, awb, kal16) at three speaking rates (flite's ``duration_stretch``),
  with sentences from the Asterisk English prompts and everyday sentences, and generated sentences full of
  numbers, prices, dates, phone numbers and spelled-out codes; pauses are mostly short (0.12-0.45 s, inside
  one VAD region, so chunks must be cut inside regions), some medium, a few long; room noise under all of it.
  Two "run-on" readings leave almost no pause between sentences, so the VAD sees minutes of one region.
  flite prints each phone's end time, so these files also carry every reference word's span: a chunk cut
  can be checked against them ("a word cut in two").
- espeak-ng readings (other synthesiser, American and British voices, slow and fast).
- the LibriVox readings Debian ships (real speech, 26 s), the 18-minute Asterisk English file the earlier
  benchmarks used, and Asterisk Spanish and French (two more languages, 8 kHz telephone recordings).
- lengths of 0.5, 1, 6, 18 and 60 minutes.

The prompt texts are split by their index: even ones for the tune part, odd ones for the confirm part, so
the confirm files say sentences the tune files never do.

    .venv/bin/python bench/devset.py            # builds every file (cached) and lists them
"""

from __future__ import annotations

import functools
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from assets import (  # noqa: E402  (tests/ holds the fixture builders the test suite uses)
    FIXTURE_DIR,
    SAMPLE_RATE,
    SENTENCES,
    Fixture,
    MissingAssetError,
    Turn,
    _atomic_wav,
    _noise,
    _to_16k,
    _to_int16,
    _trim_to_speech,
    asterisk_long,
    asterisk_prompts,
    librivox_concat,
    read_wav,
    with_background_noise,
)

VERSION = 1
EDGE_S = 0.03  # audio kept before the first and after the last phone of a flite sentence
PAUSES_S = ((0.70, (0.12, 0.45)), (0.25, (0.5, 1.5)), (0.05, (2.0, 4.0)))  # (share, range): mostly short
RUN_ON_S = ((0.85, (0.02, 0.15)), (0.15, (0.3, 0.8)))  # sentences run into each other: long VAD regions


@dataclass(frozen=True)
class DevFile:
    """One recording of the development set.

    Attributes
    ----------
    name : str
        Short name used in tables.
    part : {"tune", "confirm"}
        Tune files may choose defaults; confirm files only check them.
    description : str
        Voices, rate, noise, length.
    fixture : Fixture
        The audio, its reference text and turns.
    words : tuple of (start, end, word) or None
        Reference words' audible spans (a word-initial stop's silent closure left out) in seconds (flite files, about 92% of their words: sentences whose numbers
        flite expands differently when a word is read alone have none), else None.
    """

    name: str
    part: str
    description: str
    fixture: Fixture
    words: tuple[tuple[float, float, str], ...] | None = None

    @property
    def minutes(self) -> float:
        return self.fixture.duration / 60


# --------------------------------------------------------------------------------------------------
# Texts


def prompt_texts(part: str) -> list[str]:
    """English Asterisk prompts and everyday sentences: even indices for "tune", odd for "confirm"."""
    texts = [p.text for p in asterisk_prompts("en") if len(p.text.split()) >= 4] + list(SENTENCES)
    texts = [t for t in texts if re.fullmatch(r"[A-Za-z0-9 ,.'?!-]+", t)]
    return texts[0 if part == "tune" else 1 :: 2]


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


def number_sentence(rng: np.random.Generator) -> str:
    """A sentence with numbers as people dictate them: codes digit by digit, prices, dates, amounts."""
    d = lambda n: " ".join(str(x) for x in rng.integers(0, 10, n))  # noqa: E731  (digits read one by one)
    templates = (
        lambda: f"Your confirmation code is {d(4)}.",
        lambda: f"Please call me back at {d(3)} {d(4)}.",
        lambda: f"The total comes to {rng.integers(2, 990)} dollars and {rng.integers(10, 99)} cents.",
        lambda: f"We met on {_MONTHS[rng.integers(12)]} {rng.integers(1, 29)}, {rng.integers(1950, 2030)}.",
        lambda: f"The room holds {rng.integers(20, 900)} people and {rng.integers(2, 60)} tables.",
        lambda: f"Order number {rng.integers(1000, 99999)} shipped to {rng.integers(10, 999)} Main Street.",
        lambda: f"About {rng.integers(2, 99)} percent of the {rng.integers(100, 5000)} files were read.",
        lambda: f"The train leaves from platform {rng.integers(1, 20)} at {rng.integers(1, 12)} {rng.integers(10, 59)}.",
        lambda: f"The account ends in {d(4)} and the branch is {rng.integers(100, 999)}.",
        lambda: f"It weighs {rng.integers(2, 90)} kilograms and costs {rng.integers(100, 9000)} euros.",
    )
    return templates[int(rng.integers(len(templates)))]()


# --------------------------------------------------------------------------------------------------
# Synthesis


@dataclass(frozen=True)
class Utterance:
    audio: np.ndarray  # float32, 16 kHz, levelled to -20 dBFS RMS
    words: tuple[tuple[float, float, str], ...] | None  # spans within the audio


def flite_utterance(voice: str, text: str, stretch: float) -> Utterance:
    """``text`` read by a flite voice at ``stretch`` times its normal durations, cut to its phones."""
    key = hashlib.sha1(f"{voice}\n{stretch}\n{text}".encode()).hexdigest()[:16]
    cache = FIXTURE_DIR / "devset_utterances" / f"flite_{voice}_{key}_v{VERSION}"
    wav, times = cache.with_suffix(".wav"), cache.with_suffix(".txt")
    if not wav.exists():
        _require("flite")
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.wav"
            printed = subprocess.run(
                ["flite", "-voice", voice, "--setf", f"duration_stretch={stretch}", "-psdur", "-t", text,
                 "-o", str(raw)], capture_output=True, text=True, check=True).stdout
            samples, rate = read_wav(raw)
        if rate != SAMPLE_RATE:
            raise ValueError(f"flite voice {voice} writes {rate} Hz; use a 16 kHz voice")
        times.parent.mkdir(parents=True, exist_ok=True)
        with _atomic_wav(wav) as out:
            out.writeframesraw(samples.astype("<i2").tobytes())
        times.write_text(printed)
    samples, _ = read_wav(wav)
    phones = [(name, float(end)) for name, _, end in (p.partition(":") for p in times.read_text().split())]
    audio = samples.astype(np.float32)
    # Phone i spans from the end of phone i-1 to its own end; "pau" phones are silence.
    spans, previous = [], 0.0
    for name, end in phones:
        spans.append((name, previous, end))
        previous = end
    spoken = [s for s in spans if s[0] != "pau"]
    first, last = spoken[0][1], spoken[-1][2]
    lo = max(0, round((first - EDGE_S) * SAMPLE_RATE))
    hi = min(len(audio), round((last + EDGE_S) * SAMPLE_RATE))
    audio = audio[lo:hi]
    audio *= 10 ** (-20 / 20) * 32768 / np.sqrt(np.mean(audio**2))
    audio *= min(1.0, 0.9 * 32768 / np.abs(audio).max())
    return Utterance(audio, _word_spans(voice, text, spoken, lo / SAMPLE_RATE))


def _word_spans(voice: str, text: str, spoken: list, offset: float):
    """Each whitespace word's span, from the phones flite gives that word alone; None if they disagree."""
    out, k = [], 0
    for word in text.split():
        n = _phone_count(voice, word)
        if n == 0 or k + n > len(spoken):
            return None
        # A word that begins with a stop begins with its closure, which is silent: a cut in it cuts nothing
        # of the word yet, so the word's audible start is the end of that first phone.
        audible = spoken[k][2] if spoken[k][0] in _STOPS else spoken[k][1]
        out.append((round(audible - offset, 3), round(spoken[k + n - 1][2] - offset, 3), word))
        k += n
    return tuple(out) if k == len(spoken) else None


_STOPS = frozenset({"p", "t", "k", "b", "d", "g", "ch", "jh"})


@functools.lru_cache(maxsize=None)
def _phone_count(voice: str, word: str) -> int:
    printed = subprocess.run(["flite", "-voice", voice, "-ps", "-t", word, "none"],
                             capture_output=True, text=True, check=True).stdout
    return sum(1 for p in printed.split() if p != "pau")


def espeak_utterance(voice: str, rate_wpm: int, text: str) -> Utterance:
    """``text`` read by espeak-ng (``voice``, ``rate_wpm`` words a minute), resampled to 16 kHz."""
    key = hashlib.sha1(f"{voice}\n{rate_wpm}\n{text}".encode()).hexdigest()[:16]
    wav = FIXTURE_DIR / "devset_utterances" / f"espeak_{voice}_{key}_v{VERSION}.wav"
    if not wav.exists():
        _require("espeak-ng")
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate_wpm), "-w", str(raw), text],
                           capture_output=True, check=True)
            samples, rate = read_wav(raw)
        audio = _trim_to_speech(_to_16k(samples, rate))
        wav.parent.mkdir(parents=True, exist_ok=True)
        with _atomic_wav(wav) as out:
            out.writeframesraw(_to_int16(audio).tobytes())
    samples, _ = read_wav(wav)
    audio = samples.astype(np.float32)
    audio *= 10 ** (-20 / 20) * 32768 / np.sqrt(np.mean(audio**2))
    audio *= min(1.0, 0.9 * 32768 / np.abs(audio).max())
    return Utterance(audio, None)


def _require(tool: str) -> None:
    if shutil.which(tool) is None:
        raise MissingAssetError(f"{tool} is not installed: apt-get install {tool} (make setup does)")


# --------------------------------------------------------------------------------------------------
# Readings


@dataclass(frozen=True)
class Reader:
    """Who reads: a synthesiser, a voice and a speaking rate."""

    kind: str  # "flite" or "espeak"
    voice: str
    rate: float  # flite: duration stretch (1 normal, <1 faster); espeak: words a minute

    def say(self, text: str) -> Utterance:
        if self.kind == "flite":
            return flite_utterance(self.voice, text, self.rate)
        return espeak_utterance(self.voice, int(self.rate), text)


def reading(name: str, readers: list[Reader], minutes: float, *, part: str, seed: int, snr_db: float,
            numbers: float = 0.2, turn_sentences: int = 1, pauses=PAUSES_S) -> tuple[Fixture, tuple | None]:
    """Sentences read one after another until ``minutes`` are filled, with room noise at ``snr_db``.

    Readers take turns every ``turn_sentences`` sentences (a long reading with several voices); a share
    ``numbers`` of the sentences is generated with numbers. Pauses follow `PAUSES_S`.
    """
    path = FIXTURE_DIR / f"devset_{name}_v{VERSION}.wav"
    rng = np.random.default_rng(seed)
    texts = prompt_texts(part)
    order: list[str] = []
    total = round(minutes * 60 * SAMPLE_RATE)
    clean = np.zeros(total, np.float32)
    turns: list[Turn] = []
    words: list[tuple[float, float, str]] = []
    pos = round(0.5 * SAMPLE_RATE)
    index = 0
    while True:
        if not order:
            order = [texts[i] for i in rng.permutation(len(texts))]
        text = number_sentence(rng) if rng.random() < numbers else order.pop()
        reader = readers[(index // turn_sentences) % len(readers)]
        utterance = reader.say(text)
        n = len(utterance.audio)
        if pos + n + SAMPLE_RATE // 2 > total:
            break
        clean[pos : pos + n] = utterance.audio
        start = pos / SAMPLE_RATE
        turns.append(Turn(start, (pos + n) / SAMPLE_RATE, text, f"{reader.kind}-{reader.voice}", "en"))
        if utterance.words is not None:  # flite expands some numbers differently alone: those go unmapped
            words.extend((round(start + a, 3), round(start + b, 3), w) for a, b, w in utterance.words)
        shares, ranges = zip(*pauses)
        low, high = ranges[int(rng.choice(len(ranges), p=shares))]
        pos += n + round(rng.uniform(low, high) * SAMPLE_RATE)
        index += 1
    if not path.exists():
        _write_noisy(path, clean, turns, snr_db, seed)
    fixture = Fixture(path, " ".join(t.text for t in turns), turns, [], "en")
    return fixture, tuple(words) if words else None


def _write_noisy(path: Path, clean: np.ndarray, turns: list[Turn], snr_db: float, seed: int) -> None:
    speech = np.concatenate([clean[round(t.start * SAMPLE_RATE) : round(t.end * SAMPLE_RATE)] for t in turns])
    level = np.sqrt(np.mean(speech**2)) / 10 ** (snr_db / 20)
    out = clean.copy()
    block = 1 << 20
    rng = np.random.default_rng(seed + 1000)
    for offset in range(0, len(out), block):  # the room noise, a block at a time (a 60 min FFT is large)
        noise = _noise(min(block, len(out) - offset), rng).astype(np.float32)
        out[offset : offset + len(noise)] += noise * (level / np.sqrt(np.mean(noise**2)))
    with _atomic_wav(path) as wav:
        wav.writeframesraw(_to_int16(np.clip(out, -32768, 32767)).tobytes())


def noisy_copy(name: str, base: Fixture, snr_db: float, seed: int = 0) -> Fixture:
    """A fixture with room noise under all of it (its pauses were digital zero)."""
    path = FIXTURE_DIR / f"devset_{name}_v{VERSION}.wav"
    if not path.exists():
        audio = with_background_noise(base, snr_db, seed=seed)
        with _atomic_wav(path) as wav:
            wav.writeframesraw(_to_int16(audio * 32768).tobytes())
    return Fixture(path, base.reference, base.turns, base.silences, base.language)


# --------------------------------------------------------------------------------------------------
# The set


def flite(voice: str, stretch: float = 1.0) -> Reader:
    return Reader("flite", voice, stretch)


def espeak(voice: str, wpm: int) -> Reader:
    return Reader("espeak", voice, wpm)


def dev_files(parts: tuple[str, ...] = ("tune", "confirm"), *, longest_min: float = 60.0) -> list[DevFile]:
    """The development set (built on first use, then cached under the fixtures folder)."""
    specs = [
        # --- tune: may choose defaults
        ("flite-slt-6m", "tune", "flite slt, normal rate, 20% number sentences, 30 dB SNR",
         lambda: reading("flite-slt-6m", [flite("slt")], 6, part="tune", seed=11, snr_db=30)),
        ("flite-rms-fast-6m", "tune", "flite rms, fast (stretch 0.8), 25 dB SNR",
         lambda: reading("flite-rms-fast-6m", [flite("rms", 0.8)], 6, part="tune", seed=12, snr_db=25)),
        ("flite-slt-runon-6m", "tune", "flite slt, fast (stretch 0.9), run-on sentences (pauses mostly 20-150 ms)",
         lambda: reading("flite-slt-runon-6m", [flite("slt", 0.9)], 6, part="tune", seed=14, snr_db=30,
                         pauses=RUN_ON_S)),
        ("espeak-us-6m", "tune", "espeak-ng en-us, 165 wpm, 30 dB SNR",
         lambda: reading("espeak-us-6m", [espeak("en-us", 165)], 6, part="tune", seed=13, snr_db=30)),
        ("asterisk-en-18m", "tune", "Asterisk English prompts (8 kHz), the earlier bench file, digital silence",
         lambda: (asterisk_long(minutes=18, silence_s=90.0), None)),
        ("asterisk-es-6m", "tune", "Asterisk Spanish prompts (8 kHz), 30 dB SNR",
         lambda: (noisy_copy("asterisk-es-6m", asterisk_long(minutes=6, silence_s=0, lang="es", seed=3), 30), None)),
        ("librivox-0.5m", "tune", "LibriVox readings (real speech, Debian pocketsphinx-testdata), 30 dB SNR",
         lambda: (noisy_copy("librivox", librivox_concat(), 30), None)),
        # --- confirm: held aside, only checks
        ("flite-awb-slow-18m", "confirm", "flite awb, slow (stretch 1.25), 30% numbers, 20 dB SNR",
         lambda: reading("flite-awb-slow-18m", [flite("awb", 1.25)], 18, part="confirm", seed=21, snr_db=20,
                         numbers=0.3)),
        ("flite-kal16-1m", "confirm", "flite kal16, normal rate, 30 dB SNR",
         lambda: reading("flite-kal16-1m", [flite("kal16")], 1, part="confirm", seed=22, snr_db=30)),
        ("flite-rms-runon-6m", "confirm", "flite rms and awb, run-on sentences (pauses mostly 20-150 ms)",
         lambda: reading("flite-rms-runon-6m", [flite("rms"), flite("awb", 0.9)], 6, part="confirm", seed=25,
                         snr_db=25, pauses=RUN_ON_S, turn_sentences=3)),
        ("espeak-gb-fast-6m", "confirm", "espeak-ng en-gb-x-rp, 200 wpm, 25 dB SNR",
         lambda: reading("espeak-gb-fast-6m", [espeak("en-gb-x-rp", 200)], 6, part="confirm", seed=23,
                         snr_db=25)),
        ("asterisk-fr-6m", "confirm", "Asterisk French prompts (8 kHz), 30 dB SNR",
         lambda: (noisy_copy("asterisk-fr-6m", asterisk_long(minutes=6, silence_s=0, lang="fr", seed=4), 30), None)),
        (f"flite-mixed-{longest_min:g}m", "confirm",
         "flite slt/rms/awb/kal16 taking turns every 6 sentences, stretch 0.85-1.15, 25% numbers, 25 dB SNR",
         lambda: reading(f"flite-mixed-{longest_min:g}m",
                         [flite("slt", 0.9), flite("awb", 1.1), flite("rms", 1.0), flite("kal16", 0.85),
                          flite("slt", 1.15)], longest_min, part="confirm", seed=24, snr_db=25, numbers=0.25,
                         turn_sentences=6)),
    ]
    files = []
    for name, part, description, build in specs:
        if part in parts:
            fixture, words = build()
            files.append(DevFile(name, part, description, fixture, words))
    return files


def main() -> None:
    print("| file | part | minutes | language | reference words | word spans | description |")
    print("|---|---|---|---|---|---|---|")
    for f in dev_files():
        spans = len(f.words) if f.words else "-"
        print(f"| {f.name} | {f.part} | {f.minutes:.1f} | {f.fixture.language} | "
              f"{len(f.fixture.reference.split())} | {spans} | {f.description} |", flush=True)


if __name__ == "__main__":
    main()
