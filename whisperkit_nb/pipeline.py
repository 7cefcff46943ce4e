"""The pipeline: audio → speech regions → chunks → features → tokens → segments → DataFrame.

`stream_segments` is a generator that yields segments as each batch finishes (front ends draw progress
from it); `transcribe` runs it over one or many inputs and returns a DataFrame. In a list of inputs, a
failing file never loses the others: failures are collected per file and reported.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .alignment import align_words
from .audio import ARRAY_NAME, SAMPLE_RATE, AudioSource, is_array_pair, expand_inputs, open_audio
from .chunking import Chunk, pack_chunks, split_long_regions
from . import quality
from .decoding import decode, decode_compiled, encode, language_probabilities, new_input
from .errors import AudioError, OptionsError, TranscriptionFailures
from .features import LogMel
from .frame import segments_to_frame
from .language import detect_file_language, vote
from .models import WhisperModel, default_batch_size, load_model
from .options import TranscribeOptions
from .segments import Segment, chunk_segments, covered_until, up_to_last_timestamp, word_segments
from .tokens import normalize_language
from .vad import quiet_below, speech_probabilities, speech_regions

TAIL_MIN_S = 1.0  # uncovered speech at a chunk's end worth a second decoding pass
PREFETCH = True  # decode the next chunks' audio on a CPU thread while the model works (bench ablation)
PREFETCH_STOP_S = 5.0  # longest wait for the prefetch thread to finish its item once decoding stops


@dataclass(frozen=True)
class ProgressEvent:
    """What a progress callback receives: ``done`` of ``total`` (in ``unit``) for one stage of one file."""

    stage: str  # "vad", "transcribe" or "diarize"
    file: str
    done: float
    total: float
    unit: str = "s"


ProgressCallback = Callable[[ProgressEvent], None]


class _RunLock:
    """One transcription at a time per process: the runs share one model (and CTranslate2's sampling state).

    A call from another thread (a magic run from a thread, a second panel) waits for the run in progress,
    with one warning saying so. A call from the thread that is already running one (from a progress
    callback, or beside a `stream_segments` generator that was neither finished nor closed) would wait for
    itself forever, so it raises instead.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._owner: threading.Thread | None = None
        self._what = ""

    @contextlib.contextmanager
    def hold(self, what: str) -> Iterator[None]:
        """Hold the run for ``what`` (the public entry point's name) until the block ends."""
        me = threading.current_thread()
        with self._changed:
            owner, running = self._owner, self._what
        if owner is me:
            raise RuntimeError(
                f"{what}() was called while this thread is already running {running}() (from a progress "
                "callback, or beside an unfinished stream_segments generator: exhaust it or close() it first). "
                "whisperkit_nb runs one transcription at a time."
            )
        if owner is not None:
            warnings.warn(f"{what}() waits for the {running}() already running in thread {owner.name!r} to finish: "
                          "whisperkit_nb runs one transcription at a time.", stacklevel=4)
        try:  # taken inside the try: an interrupt just after taking it still gives it back
            with self._changed:
                while self._owner is not None:
                    self._changed.wait()  # a KeyboardInterrupt here leaves without the run
                self._owner, self._what = me, what
            yield
        finally:
            with self._changed:
                if self._owner is me:
                    self._owner, self._what = None, ""
                    self._changed.notify()


_RUN = _RunLock()


def _one_run_at_a_time(func: Callable) -> Callable:
    """``func`` holding `_RUN` for its whole call (see `_RunLock`)."""

    @functools.wraps(func)
    def exclusive(*args: Any, **kwargs: Any) -> Any:
        with _RUN.hold(func.__name__):
            return func(*args, **kwargs)

    return exclusive


@_one_run_at_a_time
def transcribe(audio: Any, options: TranscribeOptions | None = None, *, callback: ProgressCallback | None = None,
               **kwargs: Any) -> pd.DataFrame:
    """Transcribe one input or many, returning one DataFrame row per segment.

    Parameters
    ----------
    audio : path, array, tensor, glob pattern, or a list of these
        Files are anything FFmpeg reads; arrays and tensors are 16 kHz samples (or ``(array, rate)``).
        A list or glob is transcribed in order, rows of all inputs in one frame.
    options : TranscribeOptions, optional
        All settings; keyword arguments override its fields (``transcribe(path, model="base")``).
    callback : callable, optional
        Called with a `ProgressEvent` as each stage advances (for front ends other than tqdm).

    Returns
    -------
    pandas.DataFrame
        Columns described in `whisperkit_nb.frame.COLUMNS`. ``df.attrs["failures"]`` maps each input
        that failed (in a list) to its error message; ``df.attrs["files"]`` holds per-file facts;
        ``df.attrs["interrupted"]`` is True when a KeyboardInterrupt stopped the run early (the segments
        finished until then are returned, and a warning says so): earlier inputs are whole, the interrupted
        one keeps its decoded batches and has ``"interrupted": True`` in its per-file facts (and
        ``"diarization": "interrupted"`` when its speakers were not assigned yet: an interrupt during
        diarization keeps the whole transcript, without speakers). The model stays loaded for the next call.

    Raises
    ------
    AudioError, ModelError, OptionsError
        For a single input, or an option that cannot be honoured.
    TranscriptionFailures
        When every input of a list failed.
    RuntimeError
        When called from the thread that is already running a transcription (see Notes).

    Notes
    -----
    One transcription runs at a time per process (the model is shared). A call made while another thread
    runs one waits for it, with a warning; a KeyboardInterrupt during that wait raises, as nothing started.
    """
    opts = _options(options, kwargs)
    inputs = expand_inputs(audio)
    single = len(inputs) == 1 and (not isinstance(audio, (list, tuple)) or is_array_pair(audio))
    whisper = load_model(opts)
    _check_model_options(opts, whisper)  # fails once, not once per file
    if opts.diarize:
        from .diarize import load_pipeline

        load_pipeline(opts)  # a missing token or package fails now, not after the transcription
    frames: list[pd.DataFrame] = []
    failures: dict[str, BaseException] = {}
    files: dict[str, dict] = {}
    interrupted = False
    fit = BatchFit()  # a batch size lowered by GPU out-of-memory stays lower for the rest of the run
    for item in inputs:
        name = str(item) if isinstance(item, (str, os.PathLike)) else ARRAY_NAME
        started = time.perf_counter()
        info: dict = {}
        segments: list[Segment] = []
        pending = None
        try:
            source = open_audio(item, opts.corrupt_audio)
            if opts.diarize:
                from .diarize import start_diarization

                source = source.in_memory()  # decoded once: VAD, Whisper and pyannote share the samples
                pending = start_diarization(source, opts, callback=callback)  # on a GPU: alongside the ASR
            # closing: an interrupt between two segments still stops the stream (and its prefetch thread) here
            with contextlib.closing(_stream(source, opts, whisper, info, callback, fit)) as stream:
                for segment in stream:
                    segments.append(segment)
            frame = segments_to_frame(segments, words=opts.timestamps == "word")
            if pending is not None:
                frame = _add_speakers(frame, pending, opts, info)
            frames.append(frame)
            info["seconds"] = round(time.perf_counter() - started, 3)
            files[info.get("name", name)] = info
        except KeyboardInterrupt:
            # Keep what is finished: earlier files whole, this one up to its last decoded batch (all of its
            # batches when the interrupt came during diarization: then it has no speakers).
            frames.append(segments_to_frame(segments, words=opts.timestamps == "word"))
            info["interrupted"] = True
            if opts.diarize and "speakers" not in info:
                info["diarization"] = "interrupted"
            files[info.get("name", name)] = info
            interrupted = True
            break
        except Exception as err:  # noqa: BLE001 - collected per file so the other files still come back
            if single:
                raise
            failures[name] = err
        finally:
            if pending is not None:
                pending.cancel()  # a background diarization no longer wanted stops now, not during the next call
    if failures and len(failures) == len(inputs):
        raise TranscriptionFailures(failures)
    empty = segments_to_frame([], words=opts.timestamps == "word")
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else (frames or [empty])[0]
    frame.attrs["failures"] = {name: _reason(err) for name, err in failures.items()}
    frame.attrs["files"] = files
    frame.attrs["interrupted"] = interrupted
    if failures:
        listing = "; ".join(f"{name}: {_reason(err)}" for name, err in failures.items())
        warnings.warn(f"{len(failures)} of {len(inputs)} inputs failed ({listing})", stacklevel=3)
    if interrupted:
        unfinished = [name for name, info in files.items() if info.get("diarization") == "interrupted"]
        speakers = f" ({', '.join(unfinished)}: diarization interrupted, no speakers)" if unfinished else ""
        warnings.warn(f"Interrupted: returning the {len(frame)} segments finished so far{speakers}.", stacklevel=3)
    return frame


def _add_speakers(frame: pd.DataFrame, pending: Callable[[], pd.DataFrame], opts: TranscribeOptions,
                  info: dict) -> pd.DataFrame:
    """Wait for the diarization and give every segment (and word) its speaker.

    ``info`` gets its speaker facts only once the frame has them, so an interrupt in here (while waiting, on
    CPU while pyannote runs) leaves ``transcribe`` a file without speakers and without speaker facts.
    """
    from .speakers import assign_speakers, rename_speakers

    turns = pending()
    frame = assign_speakers(frame, turns, split_min_s=opts.speaker_split_min_s)
    frame = rename_speakers(frame, opts.speaker_names) if opts.speaker_names else frame
    info["speakers"] = int(turns.speaker.nunique()) if len(turns) else 0
    info["speaker_turns"] = turns.attrs.get("overlapping", [])  # for DER against a reference
    return frame


def stream_segments(
    audio: Any,
    options: TranscribeOptions | None = None,
    *,
    whisper: WhisperModel | None = None,
    info: dict | None = None,
    callback: ProgressCallback | None = None,
    batch_fit: BatchFit | None = None,
    **kwargs: Any,
) -> Iterator[Segment]:
    """Yield the segments of one input as batches finish, in time order.

    ``info``, if given, is filled with facts about the input (duration, speech seconds, chunks,
    language, batch size). ``batch_fit`` carries a batch size lowered by GPU out-of-memory from one input
    to the next (`transcribe` shares one across its inputs).

    The generator holds the process's one run (see `transcribe`'s Notes) from its first ``next()`` until
    it is exhausted or closed: use it in a ``for`` loop, or ``close()`` it when stopping early.
    """
    with _RUN.hold("stream_segments"):
        yield from _stream(audio, _options(options, kwargs), whisper, info, callback, batch_fit)


def _stream(audio: Any, opts: TranscribeOptions, whisper: WhisperModel | None, info: dict | None,
            callback: ProgressCallback | None, batch_fit: BatchFit | None) -> Iterator[Segment]:
    """`stream_segments` without taking the run (`transcribe` holds it for all of its inputs)."""
    whisper = whisper or load_model(opts)
    info = {} if info is None else info
    source = audio if isinstance(audio, AudioSource) else open_audio(audio, opts.corrupt_audio)
    info["name"] = source.name
    info["engine"] = whisper.engine  # what engine="auto" chose
    language = _check_model_options(opts, whisper)
    if opts.diarize and not isinstance(audio, AudioSource):
        raise OptionsError("stream_segments yields before speakers are known; use transcribe(..., diarize=True).")
    if opts.chunking == "fixed":
        from .fixed import fixed_segments

        yield from fixed_segments(source, opts, whisper, language, info)
        return
    new_input(whisper)
    yield from _vad_segments(source, opts, whisper, language, info, callback, batch_fit)


def plan_chunks(source: AudioSource, opts: TranscribeOptions, *,
                callback: ProgressCallback | None = None) -> tuple[list[Chunk], float]:
    """Run the VAD over the whole input and pack its speech into chunks; also return the duration.

    ``callback`` gets a ``"vad"`` `ProgressEvent` as each block of audio goes to the VAD (seconds read of
    the duration the input announces, when it does).
    """
    total = 0
    expected = source.duration or (len(source.samples) / SAMPLE_RATE if source.samples is not None else 0.0)

    def counted() -> Iterator[np.ndarray]:
        nonlocal total
        for block in source.blocks():
            total += len(block)
            if callback is not None:
                read = total / SAMPLE_RATE
                callback(ProgressEvent("vad", source.name, round(read, 3), round(max(read, expected), 3)))
            yield block

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
    regions = split_long_regions(regions, probs, longest)
    chunks = pack_chunks(regions, longest, opts.vad_max_gap_s, probs=probs,
                         pause_below=quiet_below(opts.vad_threshold))
    return chunks, total / SAMPLE_RATE


def _vad_segments(source: AudioSource, opts: TranscribeOptions, whisper: WhisperModel,
                  language: str | None, info: dict, callback: ProgressCallback | None,
                  fit: BatchFit | None = None) -> Iterator[Segment]:
    from tqdm.auto import tqdm

    chunks, duration = plan_chunks(source, opts, callback=callback)
    speech = sum(c.duration for c in chunks)
    fit = fit or BatchFit()
    batch_size = opts.batch_size or default_batch_size(whisper, opts.max_new_tokens)
    batch_size = min(batch_size, fit.size or batch_size)
    info.update(duration=duration, speech_seconds=round(speech, 3), chunks=len(chunks), batch_size=batch_size,
                tails=0, fallbacks=0, dropped_chunks=0)
    info["gaps"] = list(source.gaps)  # stretches that could not be decoded (silent), found by the VAD pass
    notify = callback or (lambda event: None)
    notify(ProgressEvent("vad", source.name, duration, duration))
    if not chunks:
        info["language"] = language
        return
    per_chunk_language = opts.code_switching != "off"
    if language is None and not whisper.tokens.multilingual:
        language = "en"
    if language is None and not per_chunk_language and len(chunks) > batch_size:
        language, probability = detect_file_language(whisper, source, chunks, opts.language_detection_segments)
        info.update(language=language, language_probability=round(probability, 4))

    mel = LogMel(whisper.n_mels, whisper.device)
    fresh = _ahead(_chunk_audio(source, chunks), depth=2 * batch_size)
    taken = 0  # fresh chunks handed to batches so far
    tails: deque[tuple[Chunk, np.ndarray, str]] = deque()
    done: dict[int, list[Segment]] = {}
    spoken: dict[str, float] = {}  # speech seconds per chunk language (code-switching)
    waiting: set[int] = set()  # chunks whose tail is still to be decoded
    next_out = 0
    transcribed = 0.0
    bar = tqdm(total=round(speech, 1), unit="s", desc=short_name(source.name), disable=not opts.progress,
               leave=False)
    try:
        while taken < len(chunks) or tails:
            batch = [tails.popleft() for _ in range(min(len(tails), batch_size))]
            new_from = len(batch)
            while taken < len(chunks) and len(batch) < batch_size:
                chunk, samples = next(fresh)
                batch.append((chunk, samples, None))
                taken += 1
            passed = _BatchPass(whisper, mel, language, per_chunk_language, opts, info, source.name, fit)
            decoded, words = passed.run(batch, new_from)
            language = passed.language
            batch_size = min(batch_size, fit.size or batch_size)
            info["batch_size"] = batch_size
            for (chunk, samples, _), result, chunk_words in zip(batch, decoded, words):
                if not opts.decodes_timestamps:
                    segments = word_segments(result, chunk, whisper.tokens.eot, whisper.tokenizer, source.name,
                                             chunk_words, keep_words=opts.timestamps == "word")
                    tail_from = None  # without timestamps there is no telling what was left out
                else:
                    tail_from = _tail_start(chunk, result, whisper.tokens.timestamp_begin)
                    if tail_from is not None:  # the tail re-decodes what follows the last timestamp
                        result = up_to_last_timestamp(result, whisper.tokens.timestamp_begin)
                    segments = chunk_segments(result, chunk, whisper.tokens.timestamp_begin, whisper.tokens.eot,
                                              whisper.tokenizer, source.name, chunk_words)
                done.setdefault(chunk.index, []).extend(segments)
                waiting.discard(chunk.index)
                spoken[result.language] = spoken.get(result.language, 0.0) + chunk.duration
                if tail_from is not None:
                    tails.append((chunk.tail(tail_from), samples[int(tail_from * SAMPLE_RATE) :], result.language))
                    waiting.add(chunk.index)
                    info["tails"] += 1
            while next_out < taken and next_out not in waiting:
                yield from done.pop(next_out, [])
                next_out += 1
            # Reported after the batch's finished segments are handed out: an interrupt after the event keeps them.
            step = sum(c.duration for c, _, _ in batch if c.part == 0)
            transcribed += step
            bar.update(round(min(transcribed, speech), 1) - bar.n)  # rounded steps must not pass the total
            notify(ProgressEvent("transcribe", source.name, round(transcribed, 3), round(speech, 3)))
    finally:
        bar.close()
        fresh.close()
    if per_chunk_language:
        info["languages"] = {k: round(v, 1) for k, v in sorted(spoken.items(), key=lambda kv: -kv[1])}
        info["language"] = next(iter(info["languages"]), None)
    info.setdefault("language", language)


@dataclass
class BatchFit:
    """The batch size a run's device can afford, shared by the files of one `transcribe` call.

    ``size`` is None until a batch runs out of GPU memory; from then on it caps every batch of the run.
    """

    size: int | None = None
    warned: bool = False


def _out_of_memory(err: BaseException) -> bool:
    """A GPU allocation failure: torch's own error, or CTranslate2's RuntimeError from CUDA."""
    import torch

    if isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and "out of memory" in str(err).lower()


@dataclass
class _BatchPass:
    """The model's work on one batch (encode, detect languages, decode with fallback, align words).

    A batch that runs out of GPU memory is split in halves that run one after the other, down to single
    chunks: every chunk is still transcribed, in order, and the smaller size is kept for the rest of the run
    (`BatchFit`), with one warning per run.
    """

    whisper: WhisperModel
    mel: LogMel
    language: str | None
    per_chunk_language: bool
    opts: TranscribeOptions
    info: dict
    name: str
    fit: BatchFit

    def run(self, batch: list[tuple[Chunk, np.ndarray, str | None]], new_from: int) -> tuple[list, list]:
        """Decoded chunks and their words for ``batch``, whose items from ``new_from`` on are fresh chunks
        (the ones before are tails, which bring their language with them)."""
        if self.fit.size and len(batch) > self.fit.size:  # an earlier piece of this batch ran out of memory
            return self._in_pieces(batch, new_from, self.fit.size)
        counts = {key: self.info[key] for key in ("fallbacks", "dropped_chunks")}
        try:
            return self._once(batch, new_from)
        except Exception as err:  # noqa: BLE001 - only out-of-memory is handled; everything else re-raised
            if not _out_of_memory(err) or len(batch) == 1:
                raise
        # Retried outside the except block, so that the failed attempt's tensors are freed first.
        self.info.update(counts)  # the pieces count their own fallbacks
        self._shrink(len(batch), (len(batch) + 1) // 2)
        return self._in_pieces(batch, new_from, self.fit.size)

    def _in_pieces(self, batch: list, new_from: int, size: int) -> tuple[list, list]:
        decoded: list = []
        words: list = []
        for at in range(0, len(batch), size):
            piece = batch[at : at + size]
            piece_decoded, piece_words = self.run(piece, min(max(new_from - at, 0), len(piece)))
            decoded += piece_decoded
            words += piece_words
        return decoded, words

    def _shrink(self, failed: int, half: int) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self.fit.size = min(self.fit.size or failed, half)
        self.info["oom_retries"] = self.info.get("oom_retries", 0) + 1
        if not self.fit.warned:
            self.fit.warned = True
            warnings.warn(f"{self.name}: out of GPU memory with a batch of {failed} chunks; the same chunks are "
                          f"decoded again in batches of {half}, and batches stay at most that size for the rest "
                          "of this run (set batch_size lower to avoid the retry).", stacklevel=2)

    def _once(self, batch: list[tuple[Chunk, np.ndarray, str | None]], new_from: int) -> tuple[list, list]:
        whisper, opts, info = self.whisper, self.opts, self.info
        chunks = [chunk for chunk, _, _ in batch]
        encoded = encode(whisper, self.mel([samples for _, samples, _ in batch]))
        languages = [lang for _, _, lang in batch]
        # A batch of tails only has nothing new to detect (their languages came with them).
        if new_from < len(batch) and (self.language is None or self.per_chunk_language):
            fresh_langs = _chunk_languages(whisper, encoded[new_from:], chunks[new_from:], self.per_chunk_language,
                                           info)
            languages[new_from:] = fresh_langs
            if not self.per_chunk_language:
                self.language = fresh_langs[0]
        if not self.per_chunk_language:
            languages = [self.language] * len(batch)
        tasks = [_task_for(lang, opts) for lang in languages]
        decoded = _decode_with_fallback(whisper, encoded, chunks, languages, tasks, opts, info)
        words = (
            align_words(whisper, encoded, decoded, [c.duration for c in chunks], opts.task)
            if opts.timestamps == "word" or not opts.decodes_timestamps
            else [None] * len(batch)
        )
        return decoded, words


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


def _chunk_languages(whisper: WhisperModel, encoded, batch: list[Chunk], per_chunk: bool, info: dict) -> list[str]:
    """Each chunk's own language (code-switching), or the batch's vote for the whole file."""
    probs, codes = language_probabilities(whisper, encoded)
    if per_chunk:
        return [codes[int(i)] for i in probs.argmax(dim=-1)]
    language, probability = vote(probs, codes, [c.duration for c in batch])
    info.update(language=language, language_probability=round(probability, 4))
    return [language] * len(batch)


def _check_model_options(opts: TranscribeOptions, whisper: WhisperModel) -> str | None:
    """Options that depend on the model: the language, and code-switching's need for a multilingual model."""
    if opts.code_switching != "off" and not whisper.tokens.multilingual:
        raise OptionsError(f"code_switching={opts.code_switching!r} needs a multilingual model, not {whisper.name}.")
    if opts.task == "translate" and not whisper.tokens.multilingual:
        raise OptionsError(f"task='translate' needs a multilingual model, not {whisper.name}.")
    return normalize_language(opts.language, whisper.tokens)


def _task_for(language: str | None, opts: TranscribeOptions) -> str:
    if opts.code_switching == "english":
        return "transcribe" if language == "en" else "translate"
    return opts.task


def _decode_with_fallback(whisper: WhisperModel, encoded, chunks: list[Chunk], languages: list[str | None],
                          tasks: list[str], opts: TranscribeOptions, info: dict) -> list:
    """Greedy decoding, then temperature fallback for the chunks that fail Whisper's checks (re-batched
    together), silence and hopeless repetition dropped."""
    timestamps = opts.decodes_timestamps
    if opts.compile:
        results = decode_compiled(whisper, encoded, languages, tasks[0], opts.max_new_tokens, timestamps=timestamps)
    else:
        results = decode(whisper, encoded, languages, tasks, opts.max_new_tokens, beam_size=opts.beam_size,
                         timestamps=timestamps)
    tokenizer, eot = whisper.tokenizer, whisper.tokens.eot
    pending = [i for i, r in enumerate(results)
               if not quality.is_silence(r, opts) and quality.needs_fallback(r, quality.chunk_text(r, tokenizer, eot), opts)]
    for temperature in quality.fallback_temperatures(opts):
        if not pending:
            break
        info["fallbacks"] += len(pending)
        retried = decode(
            whisper, encoded[pending], [languages[i] for i in pending], [tasks[i] for i in pending],
            opts.max_new_tokens, temperatures=[temperature] * len(pending),
            seeds=[quality.chunk_seed(opts.seed, chunks[i].index, chunks[i].part, temperature) for i in pending],
            timestamps=timestamps,
        )
        still = []
        for i, result in zip(pending, retried):
            results[i] = result
            if quality.needs_fallback(result, quality.chunk_text(result, tokenizer, eot), opts):
                still.append(i)
        pending = still
    for i, result in enumerate(results):
        text = quality.chunk_text(result, tokenizer, eot)
        if quality.is_silence(result, opts) or (i in pending and quality.too_repetitive(result, text, opts)):
            results[i] = quality.dropped(result)
            info["dropped_chunks"] += 1
    return results


def _tail_start(chunk: Chunk, result, timestamp_begin: int) -> float | None:
    """Where to re-decode a chunk from, when Whisper stopped well before its speech ended.

    Whisper tends to skip an utterance that ends at the very end of a full window (it was trained on
    windows whose last sentence is often cut off). Only first passes get a tail, so this cannot loop.
    """
    if chunk.part > 0 or not result.tokens:  # tails and dropped chunks get no second pass
        return None
    covered = covered_until(result, timestamp_begin)
    if result.truncated or chunk.duration - covered > TAIL_MIN_S:
        return covered
    return None


def _reason(err: BaseException) -> str:
    """The error without the input's name, where the message already starts with it."""
    return err.reason if isinstance(err, AudioError) else str(err)


def _options(options: TranscribeOptions | None, kwargs: dict[str, Any]) -> TranscribeOptions:
    if options is None:
        return TranscribeOptions.from_kwargs(**kwargs)
    return options.replace(**kwargs) if kwargs else options


def short_name(name: str, width: int = 30) -> str:
    """An input's name for progress displays: its last ``width`` characters."""
    return name if len(name) <= width else "…" + name[-(width - 1) :]
