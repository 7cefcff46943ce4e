"""`stream_segments`: one input's segments as batches finish (VAD chunking), and the prefetch of chunk audio ahead of the model."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np

from whisperkit_nb.audio.log_mel import LogMel
from whisperkit_nb.audio.source import SAMPLE_RATE, AudioSource, open_audio
from whisperkit_nb.decoding.language import detect_file_language
from whisperkit_nb.decoding.tails import tail_start, up_to_last_timestamp
from whisperkit_nb.engines.base import Engine
from whisperkit_nb.engines.registry import load_model
from whisperkit_nb.engines.tokens import normalize_language
from whisperkit_nb.errors import OptionsError
from whisperkit_nb.events import ProgressCallback, ProgressEvent
from whisperkit_nb.options import TranscribeOptions, resolve_options
from whisperkit_nb.report import FileReport
from whisperkit_nb.run.batch import BatchFit, BatchPass
from whisperkit_nb.run.lock import RUN
from whisperkit_nb.speech.chunks import Chunk
from whisperkit_nb.speech.plan import plan_chunks
from whisperkit_nb.transcript.segments import Segment, chunk_segments, word_segments


def stream_segments(
    audio: Any,
    options: TranscribeOptions | None = None,
    *,
    engine: Engine | None = None,
    report: FileReport | None = None,
    callback: ProgressCallback | None = None,
    batch_fit: BatchFit | None = None,
    **kwargs: Any,
) -> Iterator[Segment]:
    """Yield the segments of one input as batches finish, in time order.

    ``engine``, if given, is the loaded engine to run (what `load_model` returns, or any object answering
    `whisperkit_nb.engines.base.Engine`); without it the one the options ask for is loaded. ``report``, if
    given, is filled with facts about the input (duration, speech seconds, chunks, language, batch size: see
    `FileReport`). ``callback`` receives a `ProgressEvent` as each stage advances
    (this function draws nothing; ``whisperkit_nb.stream_segments`` adds progress bars). ``batch_fit``
    carries a batch size lowered by GPU out-of-memory from one input to the next (`transcribe` shares one
    across its inputs).

    The generator holds the process's one run (see `transcribe`'s Notes) from its first ``next()`` until
    it is exhausted or closed: use it in a ``for`` loop, or ``close()`` it when stopping early.
    """
    with RUN.hold("stream_segments"):
        yield from stream_input(audio, resolve_options(options, kwargs), engine, report, callback, batch_fit)


def stream_input(audio: Any, opts: TranscribeOptions, engine: Engine | None, report: FileReport | None,
            callback: ProgressCallback | None, batch_fit: BatchFit | None) -> Iterator[Segment]:
    """`stream_segments` without taking the run (`transcribe` holds it for all of its inputs)."""
    engine = engine or load_model(opts)
    report = FileReport() if report is None else report
    source = audio if isinstance(audio, AudioSource) else open_audio(audio, opts.corrupt_audio)
    report.name = source.name
    report.engine = engine.name  # what engine="auto" chose
    language = check_model_options(opts, engine)
    if opts.diarize and not isinstance(audio, AudioSource):
        raise OptionsError("stream_segments yields before speakers are known; use transcribe(..., diarize=True).")
    if opts.chunking == "fixed":
        from whisperkit_nb.run.fixed import fixed_segments

        yield from fixed_segments(source, opts, engine, language, report)
        return
    engine.new_input()
    yield from _vad_segments(source, opts, engine, language, report, callback, batch_fit)


def _vad_segments(source: AudioSource, opts: TranscribeOptions, engine: Engine,
                  language: str | None, report: FileReport, callback: ProgressCallback | None,
                  fit: BatchFit | None = None) -> Iterator[Segment]:
    chunks, duration = plan_chunks(source, opts, callback=callback)
    speech = sum(c.duration for c in chunks)
    fit = fit or BatchFit()
    batch_size = opts.batch_size or engine.default_batch_size(opts.max_new_tokens)
    batch_size = min(batch_size, fit.size or batch_size)
    report.duration, report.speech_seconds, report.chunks = duration, round(speech, 3), len(chunks)
    report.batch_size = batch_size
    report.tails = report.fallbacks = report.dropped_chunks = 0
    report.gaps = list(source.gaps)  # stretches that could not be decoded (silent), found by the VAD pass
    notify = callback or (lambda event: None)
    notify(ProgressEvent("vad", source.name, duration, duration))
    if not chunks:
        report.language = language
        return
    per_chunk_language = opts.code_switching != "off"
    if language is None and not engine.tokens.multilingual:
        language = "en"
    if language is None and not per_chunk_language and len(chunks) > batch_size:
        language, probability = detect_file_language(engine, source, chunks, opts.language_detection_segments)
        report.language, report.language_probability = language, round(probability, 4)

    mel = LogMel(engine.n_mels, engine.device)
    fresh = _ahead(_chunk_audio(source, chunks), depth=2 * batch_size)
    taken = 0  # fresh chunks handed to batches so far
    tails: deque[tuple[Chunk, np.ndarray, str]] = deque()
    done: dict[int, list[Segment]] = {}
    spoken: dict[str, float] = {}  # speech seconds per chunk language (code-switching)
    waiting: set[int] = set()  # chunks whose tail is still to be decoded
    next_out = 0
    transcribed = 0.0
    try:
        while taken < len(chunks) or tails:
            batch = [tails.popleft() for _ in range(min(len(tails), batch_size))]
            new_from = len(batch)
            while taken < len(chunks) and len(batch) < batch_size:
                chunk, samples = next(fresh)
                batch.append((chunk, samples, None))
                taken += 1
            passed = BatchPass(engine, mel, language, per_chunk_language, opts, report, source.name, fit)
            decoded, words = passed.run(batch, new_from)
            language = passed.language
            batch_size = min(batch_size, fit.size or batch_size)
            report.batch_size = batch_size
            for (chunk, samples, _), result, chunk_words in zip(batch, decoded, words):
                if not opts.decodes_timestamps:
                    segments = word_segments(result, chunk, engine.tokens.eot, engine.tokenizer, source.name,
                                             chunk_words, keep_words=opts.timestamps == "word")
                    tail_from = None  # without timestamps there is no telling what was left out
                else:
                    tail_from = tail_start(chunk, result, engine.tokens.timestamp_begin)
                    if tail_from is not None:  # the tail re-decodes what follows the last timestamp
                        result = up_to_last_timestamp(result, engine.tokens.timestamp_begin)
                    segments = chunk_segments(result, chunk, engine.tokens.timestamp_begin, engine.tokens.eot,
                                              engine.tokenizer, source.name, chunk_words)
                done.setdefault(chunk.index, []).extend(segments)
                waiting.discard(chunk.index)
                spoken[result.language] = spoken.get(result.language, 0.0) + chunk.duration
                if tail_from is not None:
                    tails.append((chunk.tail(tail_from), samples[int(tail_from * SAMPLE_RATE) :], result.language))
                    waiting.add(chunk.index)
                    report.tails += 1
            while next_out < taken and next_out not in waiting:
                yield from done.pop(next_out, [])
                next_out += 1
            # Reported after the batch's finished segments are handed out: an interrupt after the event keeps them.
            step = sum(c.duration for c, _, _ in batch if c.part == 0)
            transcribed += step
            notify(ProgressEvent("transcribe", source.name, round(transcribed, 3), round(speech, 3)))
    finally:
        fresh.close()
    if per_chunk_language:
        report.languages = {k: round(v, 1) for k, v in sorted(spoken.items(), key=lambda kv: -kv[1])}
        language = next(iter(report.languages), None)
    report.language = language  # given, detected for the whole file, or the one spoken longest


def _chunk_audio(source: AudioSource, chunks: list[Chunk]) -> Iterator[tuple[Chunk, np.ndarray]]:
    spans = source.read_spans([span for chunk in chunks for span in chunk.spans])
    for chunk in chunks:
        yield chunk, np.concatenate([next(spans) for _ in chunk.spans])


def _ahead(items: Iterator, depth: int) -> Iterator:
    """Run a generator on a CPU thread, up to ``depth`` items ahead, so decoding audio overlaps model work.

    The queue is bounded (memory stays flat), errors surface in the consumer, and closing the consumer
    (end, error, KeyboardInterrupt) stops the thread: it never blocks on a full queue nobody reads, closes
    ``items`` (and the file it reads) itself, and is waited for, up to `PREFETCH_STOP_S`.
    """
    if not PREFETCH:
        yield from items
        return
    done = object()
    out: queue.Queue = queue.Queue(maxsize=max(depth, 1))
    stop = threading.Event()

    def put(entry: tuple[bool, Any]) -> bool:
        """Queue ``entry`` for the consumer; False once it has stopped reading."""
        while not stop.is_set():
            try:
                out.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((True, done))
        except BaseException as err:  # noqa: BLE001 - re-raised in the consumer
            put((False, err))
        finally:
            getattr(items, "close", lambda: None)()

    thread = threading.Thread(target=work, name="whisperkit-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = out.get()
            if not ok:
                raise item
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join(PREFETCH_STOP_S)  # at most the item being read; a daemon, so never holds up the exit


PREFETCH = True  # decode the next chunks' audio on a CPU thread while the model works (bench ablation)


PREFETCH_STOP_S = 5.0  # longest wait for the prefetch thread to finish its item once decoding stops


def check_model_options(opts: TranscribeOptions, engine: Engine) -> str | None:
    """Options that depend on the engine and model: what the engine cannot honour (an engine passed in may
    not be the one the options would load), the language, and code-switching's need for a multilingual model."""
    engine.check(opts)
    if opts.code_switching != "off" and not engine.tokens.multilingual:
        raise OptionsError(f"code_switching={opts.code_switching!r} needs a multilingual model, not {engine.model_name}.")
    if opts.task == "translate" and not engine.tokens.multilingual:
        raise OptionsError(f"task='translate' needs a multilingual model, not {engine.model_name}.")
    return normalize_language(opts.language, engine.tokens)
