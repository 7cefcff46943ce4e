"""Where speech may be cut: pauses that the VAD and the signal's own energy agree on.

A chunk that must end inside a stretch of speech is cut where the VAD's (smoothed) probability is low.
That point sits on the VAD's 32 ms grid and, on some voices, at or inside a word's edge: Whisper then
hears "on vlope" for "envelope" on both sides of the cut. So a cut also needs the energy of the audio to
be low there, measured at the 8 ms resolution a gap between two words shows up in.
"""

from __future__ import annotations

import functools
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


class EnergyMeter:
    """The energy (dB) of every 8 ms of a stream of audio blocks, computed as the blocks go by."""

    def __init__(self) -> None:
        self._carry = np.zeros(0, np.float32)
        self._parts: list[np.ndarray] = []

    def add(self, block: np.ndarray) -> None:
        data = np.concatenate([self._carry, block]) if len(self._carry) else block
        whole = len(data) // SUBFRAME * SUBFRAME
        if whole:
            self._parts.append(_db(data[:whole].reshape(-1, SUBFRAME)))
        self._carry = np.array(data[whole:], np.float32)

    def energy_db(self) -> np.ndarray:
        """Energy per 8 ms subframe; a last partial subframe is zero-padded."""
        parts = list(self._parts)
        if len(self._carry):
            last = np.zeros((1, SUBFRAME), np.float32)
            last[0, : len(self._carry)] = self._carry
            parts.append(_db(last))
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _db(frames: np.ndarray) -> np.ndarray:
    power = np.mean(np.square(frames, dtype=np.float32), axis=1)
    return np.maximum(10 * np.log10(power + 1e-12), _FLOOR_DB).astype(np.float32)


@dataclass
class PauseFinder:
    """Pauses in speech: the VAD ranks the candidates, the energy vetoes those where sound goes on.

    Candidates are the VAD frames in reach, surest pause (lowest smoothed probability) first, as a cut
    went before. A candidate counts only if the audio is also quiet for 16 ms on both sides of the cut.
    The VAD stays the judge of where a pause is: in noise, a soft "f" or "th" is as quiet by energy as
    the pause beside it (cutting in the middle of the quiet stretch cut such words), while the VAD still
    hears it as speech; the energy catches the other failure, a VAD dip where a voice is still sounding.
    """

    smooth_probs: np.ndarray  # per 32 ms VAD frame, smoothed
    energy_db: np.ndarray  # per 8 ms subframe

    @functools.cached_property
    def _smoothed_db(self) -> np.ndarray:
        """Energy averaged over 32 ms around each subframe: the 8 ms energy of noise alone swings by
        several dB, enough to fail a quiet pause."""
        power = np.convolve(10 ** (self.energy_db / 10), np.ones(SMOOTH_SUBFRAMES) / SMOOTH_SUBFRAMES, "same")
        return (10 * np.log10(power + 1e-12)).astype(np.float32)

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
        a, b = lo // SUBFRAME, min(hi // SUBFRAME, len(self.energy_db))
        if b - a < 2 * QUIET_AROUND:
            return None
        energy = self._smoothed_db[a:b]
        floor, loud = np.percentile(energy, [5, 95])
        quiet = energy <= floor + min(QUIET_SHARE * (loud - floor), QUIET_MAX_DB)
        first, last = -(-a // SUBFRAMES_PER_FRAME), min(b // SUBFRAMES_PER_FRAME, len(self.smooth_probs))
        frames = np.arange(first, last)
        for k in frames[np.argsort(self.smooth_probs[first:last], kind="stable")][:candidates]:
            if self.smooth_probs[k] >= pause_below:
                return None
            around = int(k) * SUBFRAMES_PER_FRAME - a + np.arange(-QUIET_AROUND, QUIET_AROUND)
            if around[0] >= 0 and around[-1] < len(quiet) and quiet[around].all():
                return int(k) * FRAME_SAMPLES
        return None

