"""Held-aside fixture sets for re-deciding defaults: each set has a TUNE part that picks a value and a
CONFIRM part, fixed here before any run, that only reports how the picked value does.

Parts are assigned by seed, never by result: odd seeds tune, even seeds confirm. The fixtures a test
asserts on (``flite_conversation()`` and ``code_switched()``, both seed 0) and the only real conversation
(pyannote's sample) are CONFIRM files: no default is chosen on the file that then tests it.

Conversations: flite voices (tests/assets.py) in pairs, triples and a quartet; turns drawn from three
kinds (back-channels such as "Yes." or "Right.", one sentence, two or three sentences); pauses tight,
normal or slow; speaking rate through flite's ``duration_stretch``; in two files (one per part) back-
channels start before the other speaker has finished, as they do in real calls. Code-switched files:
Asterisk en/es/fr prompts (one real voice per language) in blocks of 12, 20, 40 or 90 s, orders varied.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import assets  # noqa: E402

TUNE, CONFIRM = "tune", "confirm"

BACK_CHANNELS = ("Yes.", "Right.", "Okay.", "Sure.", "I see.", "Really?", "No.", "Exactly.", "Oh, okay.",
                 "Uh huh.", "Yeah, right.", "Good.")
PAUSES = {"latched": (0.0, 0.12), "tight": (0.05, 0.3), "normal": (0.2, 0.8), "slow": (0.6, 2.0)}
# share of back-channel, one-sentence and long turns
MIXES = {"back-channels": (0.4, 0.4, 0.2), "mixed": (0.2, 0.5, 0.3), "long turns": (0.1, 0.3, 0.6)}


@dataclass(frozen=True)
class Conversation:
    """How one synthetic conversation is built; ``part`` is TUNE for odd seeds, CONFIRM for even ones."""

    voices: tuple[str, ...]
    seed: int
    mix: str
    pauses: str
    stretch: float  # flite duration_stretch: <1 faster, >1 slower speech
    turns: int = 30
    overlap_back_channels: bool = False

    @property
    def part(self) -> str:
        return TUNE if self.seed % 2 else CONFIRM

    @property
    def name(self) -> str:
        over = ", overlapping" if self.overlap_back_channels else ""
        return (f"s{self.seed} {'+'.join(self.voices)}, {self.mix}, {self.pauses} pauses, "
                f"rate x{1 / self.stretch:.2f}{over}")


CONVERSATIONS = (
    Conversation(("slt", "rms"), 11, "back-channels", "tight", 1.0),
    Conversation(("awb", "kal16", "slt"), 13, "mixed", "normal", 0.85),
    Conversation(("rms", "awb"), 15, "long turns", "slow", 1.2),
    Conversation(("slt", "rms", "awb", "kal16"), 17, "back-channels", "normal", 1.0, overlap_back_channels=True),
    Conversation(("slt", "awb"), 12, "back-channels", "normal", 1.15),
    Conversation(("rms", "kal16", "slt"), 14, "long turns", "tight", 0.9),
    Conversation(("kal16", "awb"), 16, "mixed", "slow", 1.0),
    Conversation(("slt", "rms", "awb"), 18, "back-channels", "tight", 0.85, overlap_back_channels=True),
)

# Built after the first split run, to confirm its amended pick on files nobody had seen: latched turns (next
# speaker within 0.12 s) and overlapping back-channels, where Whisper is likelier to keep two speakers in
# one segment. Even seeds: confirm only.
FRESH_CONVERSATIONS = (
    Conversation(("slt", "rms"), 20, "back-channels", "latched", 1.0, overlap_back_channels=True),
    Conversation(("awb", "slt", "kal16"), 22, "mixed", "latched", 0.9),
    Conversation(("rms", "kal16"), 24, "long turns", "latched", 1.1, overlap_back_channels=True),
    Conversation(("slt", "awb", "rms", "kal16"), 26, "back-channels", "tight", 0.95),
)


@dataclass(frozen=True)
class CodeSwitched:
    """Arguments of ``assets.code_switched``; ``part`` as for `Conversation` (seed 0, the test's, confirms)."""

    blocks: tuple[str, ...]
    block_s: float
    seed: int

    @property
    def part(self) -> str:
        return TUNE if self.seed % 2 else CONFIRM

    @property
    def name(self) -> str:
        return f"s{self.seed} {'-'.join(self.blocks)} x {self.block_s:g} s"

    def build(self) -> assets.Fixture:
        return assets.code_switched(self.blocks, self.block_s, seed=self.seed)


CODE_SWITCHED = (
    CodeSwitched(("en", "es", "fr", "es", "en", "fr", "en", "fr", "es", "en"), 12.0, 101),
    CodeSwitched(("es", "en", "fr", "en", "es", "fr"), 20.0, 103),
    CodeSwitched(("fr", "es", "en", "fr"), 40.0, 105),
    CodeSwitched(("en", "fr", "es"), 90.0, 107),
    CodeSwitched(("fr", "en", "es", "en", "fr", "es", "fr", "es", "en", "fr"), 12.0, 102),
    CodeSwitched(("en", "fr", "es", "fr", "en", "es"), 20.0, 104),
    CodeSwitched(("es", "fr", "en", "es"), 40.0, 106),
    CodeSwitched(("es", "en", "fr"), 90.0, 108),
    CodeSwitched(("en", "es", "fr", "en", "es", "fr"), 40.0, 0),  # tests/test_quality.py's fixture
)


def build_conversation(spec: Conversation) -> assets.Fixture:
    """The conversation's WAV file (cached under the fixture folder) and its exact, possibly overlapping turns."""
    rng = np.random.default_rng(spec.seed)
    rate = assets.SAMPLE_RATE
    sentences: list[str] = []
    kinds = ("back-channel", "sentence", "long")
    placed, turns, pos, speaker, previous_start = [], [], round(0.3 * rate), None, 0
    for index in range(spec.turns):
        kind = str(rng.choice(kinds, p=MIXES[spec.mix])) if index else "sentence"
        count = 1 if kind == "sentence" else int(rng.integers(2, 4))
        if kind == "back-channel":
            text = str(rng.choice(BACK_CHANNELS))
        else:
            parts = []
            for _ in range(count):
                if not sentences:
                    sentences = [assets.SENTENCES[i] for i in rng.permutation(len(assets.SENTENCES))]
                parts.append(sentences.pop())
            text = " ".join(parts)
        speaker = str(rng.choice([s for s in spec.voices if s != speaker]))
        audio = _utterance(speaker, text, spec.stretch)
        gap = round(rng.uniform(*PAUSES[spec.pauses]) * rate)
        start = pos + gap
        if spec.overlap_back_channels and kind == "back-channel" and turns:
            # said over the end of the other's turn (never before that turn has begun)
            start = max(previous_start + round(0.05 * rate), pos - round(rng.uniform(0.1, 0.4) * rate))
        placed.append((start, audio))
        turns.append(assets.Turn(start / rate, (start + len(audio)) / rate, text, speaker, "en"))
        previous_start, pos = start, max(pos, start + len(audio))
    total = pos + round(0.3 * rate)
    key = hashlib.sha1(repr(spec).encode()).hexdigest()[:10]
    path = assets.FIXTURE_DIR / f"held_aside_conversation_s{spec.seed}_{key}_v{assets.FORMAT_VERSION}.wav"
    if not path.exists():
        mix = np.zeros(total, dtype=np.float64)
        for start, audio in placed:
            mix[start : start + len(audio)] += audio
        assets.write_wav(path, np.clip(np.rint(mix), -32768, 32767).astype(np.int16))
    ordered = sorted(turns, key=lambda t: t.start)
    return assets.Fixture(path, " ".join(t.text for t in ordered), ordered, [], "en")


def _utterance(voice: str, text: str, stretch: float) -> np.ndarray:
    """A trimmed, levelled 16 kHz recording (float64 in int16 units), cached like assets' flite clips."""
    if stretch == 1.0:
        samples, _ = assets.read_wav(assets._flite_utterance(voice, text))
        return samples.astype(np.float64)
    key = hashlib.sha1(f"{voice}\n{text}\n{stretch}".encode()).hexdigest()[:16]
    path = assets.FIXTURE_DIR / "flite_utterances" / f"{voice}_{key}_x{stretch:g}_v{assets.FORMAT_VERSION}.wav"
    if not path.exists():
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.wav"
            subprocess.run(["flite", "-voice", voice, "--setf", f"duration_stretch={stretch}", "-t", text,
                            "-o", str(raw)], capture_output=True, check=True)
            samples, rate = assets.read_wav(raw)
        audio = assets._trim_to_speech(assets._to_16k(samples, rate))
        audio *= 10 ** (-20 / 20) * 32768 / np.sqrt(np.mean(audio**2))
        audio *= min(1.0, 0.9 * 32768 / np.abs(audio).max())
        assets.write_wav(path, assets._to_int16(audio))
    return assets.read_wav(path)[0].astype(np.float64)
