"""Batches that span inputs: the chunks of several prepared inputs share the model's batches.

One input's chunks fill batches in order (its tails first; a long file whose language is detected starts
with the chunks that voted on it, already encoded), and when an input has no chunks left to fill a
batch, the next input's chunks fill the rest. A folder of short clips then runs at the speed of one long
file instead of one small batch per clip. Each input keeps its own language, facts, seeds and progress;
its segments come back in time order as its batches finish, and the input is reported finished once its
last chunk (and tail) is decoded. A single input runs through the same code: its batches are the same.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice
from dataclasses import dataclass, field

import numpy as np

from whisperkit_nb.audio.log_mel import LogMel
from whisperkit_nb.audio.source import SAMPLE_RATE, AudioSource
from whisperkit_nb.decoding.language import spread, vote
from whisperkit_nb.decoding.tails import plan_aligned_tail, plan_tail
from whisperkit_nb.engines.base import Engine
from whisperkit_nb.events import ProgressCallback, ProgressEvent
from whisperkit_nb.options import TranscribeOptions
from whisperkit_nb.report import FileReport
from whisperkit_nb.run.batch import BatchFit, BatchItem, BatchPass
from whisperkit_nb.run.prefetch import ahead
from whisperkit_nb.run.prepare import Prepared
from whisperkit_nb.speech.chunks import Chunk
from whisperkit_nb.transcript.segments import Segment, chunk_segments, word_segments


@dataclass(eq=False)
class FileRun:
    """One input while its chunks go through the shared batches.

    ``error`` is set when a batch holding its chunks failed (the input is then reported finished, without
    segments); ``started`` is when its first batch was formed (`time.perf_counter`).
    """

    prepared: Prepared
    language: str | None
    fresh: Iterator[tuple[Chunk, np.ndarray]]
    started: float = field(default_factory=time.perf_counter)
    taken: int = 0  # fresh chunks handed to batches so far
    next_out: int = 0  # the next chunk whose segments are handed out
    transcribed: float = 0.0  # seconds of speech decoded (first parts of chunks)
    tails: deque[BatchItem] = field(default_factory=deque)
    done: dict[int, list[Segment]] = field(default_factory=dict)
    waiting: set[int] = field(default_factory=set)  # chunks whose tail is still to be decoded
    spoken: dict[str, float] = field(default_factory=dict)  # speech seconds per chunk language
    voted: deque[BatchItem] = field(default_factory=deque)  # chunks that voted on its language, encoded
    error: BaseException | None = None

    @property
    def name(self) -> str:
        return self.prepared.name

    @property
    def report(self) -> FileReport:
        return self.prepared.report

    @property
    def chunks(self) -> list[Chunk]:
        return self.prepared.chunks

    @property
    def left(self) -> int:
        """Chunks still to go into a batch: fresh ones and tails."""
        return len(self.chunks) - self.taken + len(self.tails)

    @property
    def finished(self) -> bool:
        return self.error is not None or (self.next_out == len(self.chunks) and not self.tails)


def decode_inputs(inputs: Iterable[Prepared], opts: TranscribeOptions, engine: Engine, language: str | None, *,
                  callback: ProgressCallback | None = None, fit: BatchFit | None = None,
                  ) -> Iterator[tuple[FileRun, list[Segment]]]:
    """Decode prepared inputs in batches that span them; yield ``(run, segments)`` after each batch for every
    input in it, the segments being those now complete in time order; ``run.finished`` says the input is done.

    ``language`` is the option's, normalised (`check_model_options`). A prepared input that failed
    (``error`` set) is yielded once, finished, with its error on the run. A batch that fails for another
    reason than GPU memory fails the inputs in it (``run.error``); the others go on. Inputs are taken from
    ``inputs`` only when their chunks are needed to fill a batch.
    """
    fit = fit or BatchFit()
    notify = callback or (lambda event: None)
    batch_size = opts.batch_size or engine.default_batch_size(opts.max_new_tokens)
    batch_size = min(batch_size, fit.size or batch_size)
    per_chunk_language = opts.code_switching != "off"
    mel = LogMel(engine.n_mels, engine.device)
    queue = iter(inputs)
    active: list[FileRun] = []
    try:
        while True:
            while sum(run.left for run in active) < batch_size and (prepared := next(queue, None)) is not None:
                run = _admit(prepared, opts, engine, mel, language, batch_size, per_chunk_language, notify)
                if run.finished:  # failed, or no speech: nothing to decode
                    _finish(run, per_chunk_language)
                    yield run, []
                else:
                    active.append(run)
            if not active:
                return
            batch = _fill(active, batch_size)
            passed = BatchPass(engine, mel, per_chunk_language, opts, fit)
            try:
                decoded, words = passed.run(batch)
            except Exception as err:  # noqa: BLE001 - the inputs in this batch fail; the others go on
                for run in _runs_of(batch):
                    run.error = err
                    active.remove(run)
                    _finish(run, per_chunk_language)
                    yield run, []
                continue
            batch_size = min(batch_size, fit.size or batch_size)
            for item, result, chunk_words in zip(batch, decoded, words):
                _take_result(item, result, chunk_words, opts, engine)
            for run in _runs_of(batch):
                run.report.batch_size = batch_size
                ready: list[Segment] = []
                while run.next_out in run.done and run.next_out not in run.waiting:
                    ready += run.done.pop(run.next_out, [])
                    run.next_out += 1
                if run.finished:
                    active.remove(run)
                    _finish(run, per_chunk_language)
                yield run, ready
                # Reported after the batch's finished segments are handed out: an interrupt after the event keeps them.
                run.transcribed += sum(item.chunk.duration for item in batch if item.file is run and item.chunk.part == 0)
                speech = run.report.speech_seconds or 0.0
                notify(ProgressEvent("transcribe", run.name, round(run.transcribed, 3), round(speech, 3)))
    finally:
        for run in active:
            _close(run)
        getattr(queue, "close", lambda: None)()


def finished_inputs(inputs: Iterable[Prepared], opts: TranscribeOptions, engine: Engine, language: str | None, *,
                    callback: ProgressCallback | None = None, fit: BatchFit | None = None,
                    ) -> Iterator[tuple[FileRun, list[Segment]]]:
    """`decode_inputs` gathered per input: each input once it is finished, with all its segments in time
    order (none when ``run.error`` is set). What a corpus stores, locally or in a Ray actor."""
    gathered: dict[int, list[Segment]] = {}
    for run, ready in decode_inputs(inputs, opts, engine, language, callback=callback, fit=fit):
        gathered.setdefault(id(run), []).extend(ready)
        if run.finished:
            yield run, gathered.pop(id(run))


def _admit(prepared: Prepared, opts: TranscribeOptions, engine: Engine, mel: LogMel, language: str | None,
           batch_size: int, per_chunk_language: bool, notify: ProgressCallback) -> FileRun:
    """A prepared input's run: its facts started, its language settled when it can be before decoding."""
    report = prepared.report
    run = FileRun(prepared, language, iter(()), error=prepared.error)
    if prepared.error is not None:
        return run
    report.engine = engine.name  # what engine="auto" chose
    report.batch_size = batch_size
    report.tails = report.fallbacks = report.dropped_chunks = 0
    notify(ProgressEvent("vad", prepared.name, prepared.duration, prepared.duration))
    if not prepared.chunks:
        return run
    engine.new_input()  # its sampled fallbacks depend on this input alone (as far as batches allow)
    if run.language is None and not engine.tokens.multilingual:
        run.language = "en"
    if run.language is None and not per_chunk_language:
        # The language is voted on by windows spread over the file, not by its first batch (detection costs
        # a tenth of an encoder pass per row on CTranslate2, so every chunk of a short file voting was not
        # free either). Those chunks are read and encoded first, and keep their encoder output for their
        # batch: none is encoded twice.
        voters = spread(prepared.chunks, opts.language_detection_segments)
        picked = {chunk.index for chunk in voters}
        order = voters + [chunk for chunk in prepared.chunks if chunk.index not in picked]
        run.fresh = _chunk_audio(prepared.source, order, len(voters), depth=2 * batch_size)
        run.voted = deque(BatchItem(chunk, samples, run) for chunk, samples in islice(run.fresh, len(voters)))
        run.language, probability = _vote_on_language(engine, mel, list(run.voted), batch_size)
        report.language, report.language_probability = run.language, round(probability, 4)
    else:
        run.fresh = _chunk_audio(prepared.source, prepared.chunks, 0, depth=2 * batch_size)
    return run


def _vote_on_language(engine: Engine, mel: LogMel, items: list[BatchItem], batch_size: int) -> tuple[str, float]:
    """The language ``items`` (one input's voting chunks) vote for, and its mean probability; each item keeps
    its encoder output (``item.encoded``) for the batch that decodes it. Encoded ``batch_size`` at a time."""
    import torch

    encoded = torch.cat([engine.encode(mel([item.samples for item in items[at : at + batch_size]]))
                         for at in range(0, len(items), batch_size)])
    for item, row in zip(items, encoded):
        item.encoded = row
    probs, codes = engine.language_probabilities(encoded)
    return vote(probs, codes, [item.chunk.duration for item in items])


def _fill(active: list[FileRun], batch_size: int) -> list[BatchItem]:
    """The next batch: tails first (they hold back their inputs' segments), then fresh chunks, inputs in order."""
    batch: list[BatchItem] = []
    for run in active:
        while run.tails and len(batch) < batch_size:
            batch.append(run.tails.popleft())
    for run in active:
        while run.taken < len(run.chunks) and len(batch) < batch_size:
            if run.voted:
                batch.append(run.voted.popleft())
            else:
                chunk, samples = next(run.fresh)
                batch.append(BatchItem(chunk, samples, run))
            run.taken += 1
    return batch


def _take_result(item: BatchItem, result, chunk_words, opts: TranscribeOptions, engine: Engine) -> None:
    """A decoded row's segments into its input, and its tail (the speech after its last timestamp, or after its
    last aligned word when decoded without timestamps) queued."""
    run: FileRun = item.file  # type: ignore[assignment]
    chunk, name = item.chunk, run.name
    if not opts.decodes_timestamps:
        segments = word_segments(result, chunk, engine.tokens.eot, engine.tokenizer, name, chunk_words,
                                 keep_words=opts.timestamps == "word")
        tail_from = plan_aligned_tail(chunk, chunk_words)
    else:
        result, tail_from = plan_tail(chunk, result, engine.tokens.timestamp_begin, item.samples)
        segments = chunk_segments(result, chunk, engine.tokens.timestamp_begin, engine.tokens.eot,
                                  engine.tokenizer, name, chunk_words)
    run.done.setdefault(chunk.index, []).extend(segments)
    run.waiting.discard(chunk.index)
    run.spoken[result.language] = run.spoken.get(result.language, 0.0) + chunk.duration
    if tail_from is not None:
        samples = item.samples[int(tail_from * SAMPLE_RATE) :]
        run.tails.append(BatchItem(chunk.tail(tail_from), samples, run, tail_language=result.language))
        run.waiting.add(chunk.index)
        run.report.tails += 1


def _finish(run: FileRun, per_chunk_language: bool) -> None:
    """The input's last facts: its language (given, detected for the whole file, or the one spoken longest)."""
    _close(run)
    if run.error is not None:
        return
    report = run.report
    if per_chunk_language and run.spoken:
        report.languages = {k: round(v, 1) for k, v in sorted(run.spoken.items(), key=lambda kv: -kv[1])}
        run.language = next(iter(report.languages), None)
    report.language = run.language


def _close(run: FileRun) -> None:
    getattr(run.fresh, "close", lambda: None)()


def _runs_of(batch: list[BatchItem]) -> list[FileRun]:
    """The inputs a batch holds chunks of, in batch order."""
    return list({id(item.file): item.file for item in batch}.values())  # type: ignore[misc]


def _chunk_audio(source: AudioSource, chunks: list[Chunk], first: int,
                 depth: int) -> Iterator[tuple[Chunk, np.ndarray]]:
    """Each chunk with its samples, in the order given: the ``first`` chunks (language voters, in time
    order), then the rest in time order; a file that streams from disk is read on a thread ahead of the
    model (one pass over the file for each of the two groups)."""

    def read() -> Iterator[tuple[Chunk, np.ndarray]]:
        for group in (chunks[:first], chunks[first:]):
            spans = source.read_spans([span for chunk in group for span in chunk.spans])
            for chunk in group:
                yield chunk, np.concatenate([next(spans) for _ in chunk.spans])

    return read() if source.samples is not None else ahead(read(), depth=depth)
