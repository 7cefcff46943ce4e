"""The chunk plan: the VAD over a whole input, its speech packed into chunks."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import numpy as np

from whisperkit_nb.audio.ahead import read_ahead
from whisperkit_nb.audio.source import SAMPLE_RATE, AudioSource, SampleBuffer
from whisperkit_nb.events import ProgressCallback, ProgressEvent
from whisperkit_nb.options import TranscribeOptions
from whisperkit_nb.speech.chunks import Chunk, pack_chunks, split_long_regions
from whisperkit_nb.speech.pauses import EnergyMeter
from whisperkit_nb.speech.vad import quiet_below, speech_probabilities, speech_regions


class PlanStopped(Exception):
    """A chunk plan abandoned because its caller no longer wants it (`plan_chunks`'s ``stop`` was set)."""


def plan_chunks(source: AudioSource, opts: TranscribeOptions, *, callback: ProgressCallback | None = None,
                keep: SampleBuffer | None = None, stop: threading.Event | None = None) -> tuple[list[Chunk], float]:
    """Run the VAD over the whole input and pack its speech into chunks; also return the duration.

    ``callback`` gets a ``"vad"`` `ProgressEvent` as each block of audio goes to the VAD (seconds read of
    the duration the input announces, when it does). ``keep`` gathers the decoded samples as they go by, so
    an input wanted in memory is decoded once, during its VAD pass. A file is decoded on a thread a few blocks
    ahead of the VAD (`DECODE_AHEAD`): FFmpeg and onnxruntime then run at once, and the blocks, so the plan,
    are the same. ``stop``, once set (from another thread), ends the pass at the next block with `PlanStopped`.
    """
    total = 0
    energy = EnergyMeter()  # the signals (energy, treble) a cut inside speech must agree with
    expected = source.duration or (len(source.samples) / SAMPLE_RATE if source.samples is not None else 0.0)

    blocks = source.blocks()
    if source.samples is None and DECODE_AHEAD:
        blocks = read_ahead(blocks, BLOCKS_AHEAD, name="whisperkit-decode")

    def counted() -> Iterator[np.ndarray]:
        nonlocal total
        for block in blocks:
            if stop is not None and stop.is_set():
                raise PlanStopped(f"{source.name}: chunk plan stopped")
            total += len(block)
            energy.add(block)
            if keep is not None:
                keep.add(block)
            if callback is not None:
                read = total / SAMPLE_RATE
                callback(ProgressEvent("vad", source.name, round(read, 3), round(max(read, expected), 3)))
            yield block

    # Closed however the pass ends: an error kept with its traceback (a failed input's row) would otherwise keep
    # the reading thread polling, and the file open, for as long as the error is held.
    with contextlib.closing(blocks):
        probs = speech_probabilities(counted())
    regions = speech_regions(
        probs,
        total,
        threshold=opts.vad_threshold,
        min_silence_s=opts.vad_min_silence_s,
        min_speech_s=opts.vad_min_speech_s,
        pad_s=opts.vad_pad_s,
    )
    longest = min(opts.chunk_s, opts.code_switching_chunk_s) if opts.code_switching != "off" else opts.chunk_s
    pause_below = quiet_below(opts.vad_threshold)
    energy_db = energy.energy_db()
    treble_db = energy.treble_db() if TREBLE_CHECK else None
    regions = split_long_regions(regions, probs, longest, energy_db=energy_db, treble_db=treble_db,
                                 pause_below=pause_below)
    chunks = pack_chunks(regions, longest, opts.max_gap_s, probs=probs, energy_db=energy_db, treble_db=treble_db,
                         pause_below=pause_below)
    return chunks, total / SAMPLE_RATE


TREBLE_CHECK = True  # a cut inside speech also needs quiet treble (False: broadband energy only; bench ablation)
DECODE_AHEAD = True  # decode a file's blocks on a thread beside the VAD (False: one after the other; bench ablation)
BLOCKS_AHEAD = 4  # blocks of 30 s decoded ahead of the VAD: about 8 MB, enough to ride out an uneven decode
