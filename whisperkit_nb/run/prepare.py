"""Inputs made ready for the model: opened, decoded, VAD run and chunks planned, on worker threads ahead of it.

The model's batches only need an input's chunk plan and samples. Preparing the next inputs while the model
decodes the current ones keeps it busy (on a GPU, the VAD and FFmpeg would otherwise leave it idle between
files). A fixed number of inputs are prepared ahead, so memory stays bounded however long the corpus.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from whisperkit_nb.audio.source import AudioSource, open_audio
from whisperkit_nb.options import TranscribeOptions
from whisperkit_nb.report import FileReport
from whisperkit_nb.speech.chunks import Chunk
from whisperkit_nb.speech.plan import plan_chunks

IN_MEMORY_MAX_S = 30 * 60  # inputs up to this long are decoded once into memory (115 MB of samples at most)


@dataclass
class Prepared:
    """One input ready for the model's batches: its source, chunk plan and first facts, or why it failed.

    ``key`` is the caller's name for the input (an index into its list, say); ``error`` is the exception
    that stopped the preparation (a missing file, no audio), with ``source`` None.
    """

    key: Any
    source: AudioSource | None
    chunks: list[Chunk] = field(default_factory=list)
    duration: float = 0.0
    report: FileReport = field(default_factory=FileReport)
    error: BaseException | None = None

    @property
    def name(self) -> str:
        return self.source.name if self.source is not None else str(self.key)


def prepare_input(key: Any, audio: Any, opts: TranscribeOptions, *, in_memory: bool | None = None) -> Prepared:
    """Open ``audio``, run the VAD over it and plan its chunks; a failure is returned in ``error``.

    ``in_memory``: decode the input once into memory, so reading its chunks (and diarizing it) does not
    decode it again. None decides by length: inputs up to `IN_MEMORY_MAX_S` (and any with ``diarize``).
    """
    report = FileReport()
    try:
        source = open_audio(audio, opts.corrupt_audio)
        report.name = source.name
        if in_memory is None:
            in_memory = opts.diarize or (source.duration or 0.0) <= IN_MEMORY_MAX_S
        if in_memory:
            source = source.in_memory()
        chunks, duration = plan_chunks(source, opts)
    except Exception as err:  # noqa: BLE001 - the caller decides: a failed row, or raise
        return Prepared(key, None, report=report, error=err)
    record_plan(report, source, chunks, duration)
    return Prepared(key, source, chunks, duration, report)


def record_plan(report: FileReport, source: AudioSource, chunks: list[Chunk], duration: float) -> None:
    """The facts the chunk plan gives: duration, speech seconds, chunks, and the gaps decoding found."""
    report.name = source.name
    report.duration, report.speech_seconds, report.chunks = duration, round(sum(c.duration for c in chunks), 3), len(chunks)
    report.gaps = list(source.gaps)  # stretches that could not be decoded (silent), found by the VAD pass


def prepare_ahead(inputs: Iterable[tuple[Any, Any]], opts: TranscribeOptions, *, workers: int,
                  ahead: int | None = None, in_memory: bool | None = None) -> Iterator[Prepared]:
    """`prepare_input` for each ``(key, audio)``, in order, on ``workers`` threads, at most ``ahead`` inputs
    (default ``workers + 1``) prepared before they are asked for. ``workers=0`` prepares each input when it
    is asked for, in the caller's thread. ``in_memory`` as for `prepare_input`.

    Closing the iterator (end, error, KeyboardInterrupt) cancels what has not started; an input already being
    prepared finishes in the background (its thread is not interruptible).
    """
    if workers <= 0:
        for key, audio in inputs:
            yield prepare_input(key, audio, opts, in_memory=in_memory)
        return
    ahead = max(ahead if ahead is not None else workers + 1, 1)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="whisperkit-prepare")
    queued: deque[Future] = deque()
    items = iter(inputs)
    try:
        while True:
            while len(queued) < ahead and (item := next(items, None)) is not None:
                queued.append(pool.submit(prepare_input, item[0], item[1], opts, in_memory=in_memory))
            if not queued:
                return
            yield queued.popleft().result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def default_workers() -> int:
    """Preparation threads when ``num_workers`` is not given: one per core beyond the model's first, at
    least one and at most four (the VAD and FFmpeg need little; more only competes with the model)."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))

