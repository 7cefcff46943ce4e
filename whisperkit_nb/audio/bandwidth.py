"""How much of a recording's speech lies in the low band (60-250 Hz), where a voice's fundamental sits.

A telephone line passes 300-3400 Hz: the fundamental of most voices is gone, and speaker embeddings of two people
come out more alike than on full-band audio, which the speaker split and the naming from samples allow for
(`whisperkit_nb.speakers.regroup.split_threshold`, `whisperkit_nb.speakers.identify`). The share of speech energy
below 250 Hz tells such audio apart by two orders of magnitude in the bench (bench/README.md, "Which edge of the
telephone band"): at most 0.05% on audio high-passed at 300 Hz, at least 3% on every other file, clean or in noise,
full band or sampled at 8 kHz.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from whisperkit_nb.audio.source import SAMPLE_RATE

#: The low band, in Hz: from above mains hum to above most voices' fundamental.
LOW_BAND_HZ = (60.0, 250.0)
#: Samples per frame (32 ms at 16 kHz, 31.25 Hz per bin); frames are Hann-windowed so that the energy of the band
#: above does not leak into the low one.
FRAME = 512
#: Speech with less of its energy than this in the low band has had it cut (`is_low_cut`): the geometric middle of
#: the bench's gap (0.05% and less against 3% and more).
LOW_CUT_MAX_SHARE = 0.004
#: A telephone line's band, in Hz: what `telephone_band` passes.
TELEPHONE_BAND_HZ = (300.0, 3400.0)
#: Frames transformed at once, which bounds the memory an hour of speech takes (8 MB of float32 a block).
BLOCK_FRAMES = 4096


def low_band_share(samples: np.ndarray, spans: Iterable[tuple[float, float]], *,
                   sample_rate: int = SAMPLE_RATE) -> float:
    """The share of the energy of ``samples`` within ``spans`` that lies in `LOW_BAND_HZ`, of that above 60 Hz.

    Parameters
    ----------
    samples : ndarray
        Mono audio.
    spans : iterable of (start, end)
        Where the speech is, in seconds (e.g. a diarization's turns); the frames wholly inside them are measured.
    sample_rate : int
        Of ``samples``.

    Returns
    -------
    float
        Between 0 and 1; ``nan`` when the spans hold no whole frame or no energy above 60 Hz.
    """
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    starts = [np.arange(int(round(start * sample_rate)), min(int(round(end * sample_rate)), len(samples)) - FRAME + 1,
                        FRAME) for start, end in spans]
    starts = np.concatenate([np.zeros(0, dtype=np.int64), *starts]).astype(np.int64)
    if not len(starts):
        return float("nan")
    hertz = np.fft.rfftfreq(FRAME, 1 / sample_rate)
    low, above = (hertz >= LOW_BAND_HZ[0]) & (hertz < LOW_BAND_HZ[1]), hertz >= LOW_BAND_HZ[0]
    window = np.hanning(FRAME).astype(np.float32)
    power = np.zeros(len(hertz))
    for block in range(0, len(starts), BLOCK_FRAMES):
        frames = samples[starts[block:block + BLOCK_FRAMES, None] + np.arange(FRAME)] * window
        power += (np.abs(np.fft.rfft(frames, axis=1)) ** 2).sum(axis=0)
    total = power[above].sum()
    return float(power[low].sum() / total) if total > 0 else float("nan")


def is_low_cut(share: float) -> bool:
    """Whether speech with ``share`` of its energy in the low band (`low_band_share`) has had that band cut, as on a
    telephone line; ``nan`` (nothing measured) is not."""
    return bool(share < LOW_CUT_MAX_SHARE)


def telephone_band(samples: np.ndarray, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``samples`` band-passed to `TELEPHONE_BAND_HZ` (a 6th-order Butterworth filter, run forwards and backwards so
    that nothing is delayed), float32: a voice sample made to sound as it would on a telephone line."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(6, TELEPHONE_BAND_HZ, btype="bandpass", fs=sample_rate, output="sos")
    return sosfiltfilt(sos, np.asarray(samples, dtype=np.float64)).astype(np.float32)
