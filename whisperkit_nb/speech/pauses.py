"""Where speech may be cut: pauses that the VAD and the signal's own energy agree on.

A chunk that must end inside a stretch of speech is cut where the VAD's (smoothed) probability is low.
That point sits on the VAD's 32 ms grid and, on some voices, at or inside a word's edge: Whisper then
hears "on vlope" for "envelope" on both sides of the cut. So a cut also needs the energy of the audio to
be low there, measured at the 8 ms resolution a gap between two words shows up in, and the energy of its
treble too: under room noise, whose energy lies low, a soft "th" or "f" that starts a word right after the
last one ("four three", "leaves from") is as quiet as the noise by energy, and the VAD hears a pause in it,
but its hiss stands a few dB out of the noise's treble.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from whisperkit_nb.speech.vad import FRAME_SAMPLES

SUBFRAME = 128  # samples (8 ms): the grid on which energy is measured
SUBFRAMES_PER_FRAME = FRAME_SAMPLES // SUBFRAME
# Quiet: near the floor (5th percentile of the energy in reach): within a quarter of the range up to the
# 95th percentile, and never more than 6 dB above the floor, which a soft consonant ("th", "f") can reach.
QUIET_SHARE = 0.25
QUIET_MAX_DB = 6.0
SMOOTH_SUBFRAMES = 4
QUIET_AROUND = 2  # subframes each side of a cut that must be quiet: 16 ms, half a VAD frame
_FLOOR_DB = -100.0  # digital silence
# Quiet treble: within 4 dB of its floor (5th percentile in reach). Such fricatives measured 5-7 dB above it;
# bench/cut_probe.py: 3-5 dB cut no word on either part of its probes, 6 dB and more cut some.
TREBLE_MAX_DB = 4.0


class EnergyMeter:
    """The energy (dB) of every 8 ms of a stream of audio blocks, computed as the blocks go by: of the whole
    signal, and of its treble (second difference, see `_treble_db`)."""

    def __init__(self) -> None:
        self._carry = np.zeros(0, np.float32)
        self._parts: list[np.ndarray] = []
        self._treble: list[np.ndarray] = []

    def add(self, block: np.ndarray) -> None:
        data = np.concatenate([self._carry, block]) if len(self._carry) else block
        whole = len(data) // SUBFRAME * SUBFRAME
        if whole:
            frames = data[:whole].reshape(-1, SUBFRAME)
            self._parts.append(_db(frames))
            self._treble.append(_treble_db(frames))
        self._carry = np.array(data[whole:], np.float32)

    def energy_db(self) -> np.ndarray:
        """Energy per 8 ms subframe; a last partial subframe is zero-padded."""
        return self._joined(self._parts, _db)

    def treble_db(self) -> np.ndarray:
        """Treble energy per 8 ms subframe, on the grid of `energy_db`."""
        return self._joined(self._treble, _treble_db)

    def _joined(self, parts: list[np.ndarray], measure: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        parts = list(parts)
        if len(self._carry):
            last = np.zeros((1, SUBFRAME), np.float32)
            last[0, : len(self._carry)] = self._carry
            parts.append(measure(last))
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _db(frames: np.ndarray) -> np.ndarray:
    power = np.mean(np.square(frames, dtype=np.float32), axis=1)
    return np.maximum(10 * np.log10(power + 1e-12), _FLOOR_DB).astype(np.float32)


def _treble_db(frames: np.ndarray) -> np.ndarray:
    """Energy of each subframe's second difference: a filter rising 12 dB an octave, which weighs 4-8 kHz 6-12 dB
    up and a voice's 200 Hz 44 dB down, so a soft "th" or "f" stands out of room noise whose energy lies low."""
    return _db(np.diff(frames, n=2, axis=1))


@dataclass
class PauseFinder:
    """Pauses in speech: the VAD ranks the candidates, the energy vetoes those where sound goes on.

    Candidates are the VAD frames in reach, surest pause (lowest smoothed probability) first, as a cut
    went before. A candidate counts only if the audio is also quiet for 16 ms on both sides of the cut, by
    energy and, when ``treble_db`` is given, by treble energy.
    The VAD stays the judge of where a pause is: in noise, a soft "f" or "th" is as quiet by energy as
    the pause beside it (cutting in the middle of the quiet stretch cut such words), while the VAD still
    hears it as speech; the energy catches the other failure, a VAD dip where a voice is still sounding.
    """

    smooth_probs: np.ndarray  # per 32 ms VAD frame, smoothed
    energy_db: np.ndarray  # per 8 ms subframe
    treble_db: np.ndarray | None = None  # per 8 ms subframe
    treble_max_db: float = TREBLE_MAX_DB  # how far above its floor the treble may be and still count as quiet

    @functools.cached_property
    def _smoothed_db(self) -> np.ndarray:
        """Energy averaged over 32 ms around each subframe: the 8 ms energy of noise alone swings by
        several dB, enough to fail a quiet pause."""
        return _averaged_db(self.energy_db)

    @functools.cached_property
    def _smoothed_treble_db(self) -> np.ndarray | None:
        return None if self.treble_db is None else _averaged_db(self.treble_db)

    def pause(self, lo: int, hi: int, pause_below: float) -> int | None:
        """Sample between ``lo`` and ``hi`` at the VAD's surest pause if the energy agrees, or None: the caller
        ends its chunk early instead (a lesser candidate is not tried: the chunk need not be cut at all)."""
        return self._confirmed(lo, hi, pause_below, candidates=1)

    def cut(self, lo: int, hi: int) -> int | None:
        """Sample between ``lo`` and ``hi`` at which speech that must be cut is cut: the surest pause the
        energy confirms, at any VAD probability; None when the audio is never quiet in reach (the caller
        then cuts at the VAD's lowest point)."""
        return self._confirmed(lo, hi, float("inf"), candidates=len(self.smooth_probs))

    def _confirmed(self, lo: int, hi: int, pause_below: float, candidates: int) -> int | None:
        reach = self.reach(lo, hi)
        if reach is None:
            return None
        first, last, quiet_at = reach
        frames = np.arange(first, last)
        for k in frames[np.argsort(self.smooth_probs[first:last], kind="stable")][:candidates]:
            if self.smooth_probs[k] >= pause_below:
                return None
            if quiet_at(int(k)):
                return int(k) * FRAME_SAMPLES
        return None

    def reach(self, lo: int, hi: int) -> tuple[int, int, Callable[[int], bool]] | None:
        """The VAD frames ``first:last`` between samples ``lo`` and ``hi``, and a test of whether the audio is quiet
        16 ms on both sides of a frame's start (energy, and treble when given, judged against this reach's own
        floor); None when the reach is too short to judge."""
        a, b = lo // SUBFRAME, min(hi // SUBFRAME, len(self.energy_db))
        if b - a < 2 * QUIET_AROUND:
            return None
        energy = self._smoothed_db[a:b]
        floor, loud = np.percentile(energy, [5, 95])
        quiet = energy <= floor + min(QUIET_SHARE * (loud - floor), QUIET_MAX_DB)
        if self._smoothed_treble_db is not None:
            treble = self._smoothed_treble_db[a:b]
            quiet &= treble <= np.percentile(treble, 5) + self.treble_max_db

        def quiet_at(k: int) -> bool:
            around = k * SUBFRAMES_PER_FRAME - a + np.arange(-QUIET_AROUND, QUIET_AROUND)
            return bool(around[0] >= 0 and around[-1] < len(quiet) and quiet[around].all())

        first, last = -(-a // SUBFRAMES_PER_FRAME), min(b // SUBFRAMES_PER_FRAME, len(self.smooth_probs))
        return first, last, quiet_at


def _averaged_db(db: np.ndarray) -> np.ndarray:
    """``db`` averaged (as power) over `SMOOTH_SUBFRAMES` around each subframe."""
    power = np.convolve(10 ** (db / 10), np.ones(SMOOTH_SUBFRAMES) / SMOOTH_SUBFRAMES, "same")
    return (10 * np.log10(power + 1e-12)).astype(np.float32)
