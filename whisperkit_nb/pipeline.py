"""The pipeline: audio → speech regions → chunks → features → tokens → segments → DataFrame.

`stream_segments` is a generator that yields segments as each batch finishes (front ends draw progress
from it); `transcribe` runs it over one or many inputs and returns a DataFrame. In a list of inputs, a
failing file never loses the others: failures are collected per file and reported.
"""

from __future__ import annotations

import os
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
from .decoding import decode, decode_compiled, encode, language_probabilities
from .device import auto_batch_size
from .errors import AudioError, OptionsError, TranscriptionFailures
from .features import LogMel
from .frame import segments_to_frame
from .models import WhisperModel, load_model
from .options import TranscribeOptions
from .segments import Segment, chunk_segments, covered_until
from .tokens import normalize_language
from .vad import speech_probabilities, speech_regions

TAIL_MIN_S = 1.0  # uncovered speech at a chunk's end worth a second decoding pass


@dataclass(frozen=True)
class ProgressEvent:
    """What a progress callback receives: ``done`` of ``total`` (in ``unit``) for one stage of one file."""

    stage: str  # "vad", "transcribe" or "diarize"
    file: str
    done: float
    total: float
    unit: str = "s"


ProgressCallback = Callable[[ProgressEvent], None]


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
        finished until then are returned, and a warning says so).

    Raises
    ------
    AudioError, ModelError, OptionsError
        For a single input, or an option that cannot be honoured.
    TranscriptionFailures
        When every input of a list failed.
    """
    opts = _options(options, kwargs)
    inputs = expand_inputs(audio)
    single = len(inputs) == 1 and (not isinstance(audio, (list, tuple)) or is_array_pair(audio))
    whisper = load_model(opts)
    normalize_language(opts.language, whisper.tokens)  # a bad language fails once, not once per file
    frames: list[pd.DataFrame] = []
    failures: dict[str, BaseException] = {}
    files: dict[str, dict] = {}
    interrupted = False
    for item in inputs:
        name = str(item) if isinstance(item, (str, os.PathLike)) else ARRAY_NAME
        started = time.perf_counter()
        info: dict = {}
        segments: list[Segment] = []
        try:
            source = open_audio(item)
            if opts.diarize:
                source = source.in_memory()  # decoded once: VAD, Whisper and pyannote share the samples
            for segment in stream_segments(source, opts, whisper=whisper, info=info, callback=callback):
                segments.append(segment)
            frame = segments_to_frame(segments, words=opts.timestamps == "word")
            if opts.diarize:
                frame = _add_speakers(frame, source, opts, info, callback)
            frames.append(frame)
            info["seconds"] = round(time.perf_counter() - started, 3)
            files[info.get("name", name)] = info
        except KeyboardInterrupt:
            # Keep what is finished: earlier files whole, this one up to its last decoded batch.
            frames.append(segments_to_frame(segments, words=opts.timestamps == "word"))
            info["interrupted"] = True
            files[info.get("name", name)] = info
            interrupted = True
            break
        except Exception as err:  # noqa: BLE001 - collected per file so the other files still come back
            if single:
                raise
            failures[name] = err
    if failures and len(failures) == len(inputs):
        raise TranscriptionFailures(failures)
    empty = segments_to_frame([], words=opts.timestamps == "word")
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else (frames or [empty])[0]
    frame.attrs["failures"] = {name: _reason(err) for name, err in failures.items()}
    frame.attrs["files"] = files
    frame.attrs["interrupted"] = interrupted
    if failures:
        listing = "; ".join(f"{name}: {_reason(err)}" for name, err in failures.items())
        warnings.warn(f"{len(failures)} of {len(inputs)} inputs failed ({listing})", stacklevel=2)
    if interrupted:
        warnings.warn(f"Interrupted: returning the {len(frame)} segments finished so far.", stacklevel=2)
    return frame


def _add_speakers(frame: pd.DataFrame, source: AudioSource, opts: TranscribeOptions, info: dict,
                  callback: ProgressCallback | None) -> pd.DataFrame:
    """Diarize the input and give every segment (and word) its speaker."""
    from .diarize import diarize
    from .speakers import assign_speakers, rename_speakers

    turns = diarize(source, opts, callback=callback)
    info["speakers"] = int(turns.speaker.nunique()) if len(turns) else 0
    frame = assign_speakers(frame, turns, split_min_s=opts.speaker_split_min_s)
    return rename_speakers(frame, opts.speaker_names) if opts.speaker_names else frame


def stream_segments(
    audio: Any,
    options: TranscribeOptions | None = None,
    *,
    whisper: WhisperModel | None = None,
    info: dict | None = None,
    callback: ProgressCallback | None = None,
    **kwargs: Any,
) -> Iterator[Segment]:
    """Yield the segments of one input as batches finish, in time order.

    ``info``, if given, is filled with facts about the input (duration, speech seconds, chunks,
    language, batch size).
    """
    opts = _options(options, kwargs)
    whisper = whisper or load_model(opts)
    info = {} if info is None else info
    source = audio if isinstance(audio, AudioSource) else open_audio(audio)
    info["name"] = source.name
    language = normalize_language(opts.language, whisper.tokens)
    if opts.diarize and not isinstance(audio, AudioSource):
        raise OptionsError("stream_segments yields before speakers are known; use transcribe(..., diarize=True).")
    if opts.chunking == "fixed":
        from .fixed import fixed_segments

        yield from fixed_segments(source, opts, whisper, language, info)
        return
    yield from _vad_segments(source, opts, whisper, language, info, callback)


def plan_chunks(source: AudioSource, opts: TranscribeOptions) -> tuple[list[Chunk], float]:
    """Run the VAD over the whole input and pack its speech into chunks; also return the duration."""
    total = 0

    def counted() -> Iterator[np.ndarray]:
        nonlocal total
        for block in source.blocks():
            total += len(block)
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
    regions = split_long_regions(regions, probs, opts.chunk_s)
    return pack_chunks(regions, opts.chunk_s, opts.vad_max_gap_s), total / SAMPLE_RATE


def _vad_segments(source: AudioSource, opts: TranscribeOptions, whisper: WhisperModel,
                  language: str | None, info: dict, callback: ProgressCallback | None) -> Iterator[Segment]:
    from tqdm.auto import tqdm

    chunks, duration = plan_chunks(source, opts)
    speech = sum(c.duration for c in chunks)
    notify = callback or (lambda event: None)
    notify(ProgressEvent("vad", source.name, duration, duration))
    transcribed = 0.0
    batch_size = opts.batch_size or _auto_batch(whisper, opts)
    info.update(duration=duration, speech_seconds=round(speech, 3), chunks=len(chunks), batch_size=batch_size)
    if not chunks:
        info["language"] = language
        return
    mel = LogMel(whisper.n_mels, whisper.device)
    spans = source.read_spans([span for chunk in chunks for span in chunk.spans])
    fresh = deque(chunks)
    tails: deque[tuple[Chunk, np.ndarray]] = deque()
    done: dict[int, list[Segment]] = {}
    waiting: set[int] = set()  # chunks whose tail is still to be decoded
    next_out = 0
    bar = tqdm(total=round(speech, 1), unit="s", desc=_short(source.name), disable=not opts.progress,
               leave=False)
    try:
        while fresh or tails:
            batch: list[tuple[Chunk, np.ndarray]] = [tails.popleft() for _ in range(min(len(tails), batch_size))]
            while fresh and len(batch) < batch_size:
                chunk = fresh.popleft()
                batch.append((chunk, np.concatenate([next(spans) for _ in chunk.spans])))
            encoded = encode(whisper, mel([samples for _, samples in batch]))
            if language is None:
                parts = [chunk for chunk, _ in batch]
                language = _detect_language(whisper, encoded, parts) if whisper.tokens.multilingual else "en"
                info["language"] = language
            decoder = decode_compiled if opts.compile else decode
            decoded = decoder(whisper, encoded, [language] * len(batch), opts.task, opts.max_new_tokens)
            words = (
                align_words(whisper, encoded, decoded, [c.duration for c, _ in batch], opts.task)
                if opts.timestamps == "word"
                else [None] * len(batch)
            )
            for (chunk, samples), result, chunk_words in zip(batch, decoded, words):
                segments = chunk_segments(result, chunk, whisper.tokens.timestamp_begin, whisper.tokens.eot,
                                          whisper.tokenizer, source.name, chunk_words)
                done.setdefault(chunk.index, []).extend(segments)
                waiting.discard(chunk.index)
                tail_from = _tail_start(chunk, result, whisper.tokens.timestamp_begin)
                if tail_from is not None:
                    tails.append((chunk.tail(tail_from), samples[int(tail_from * SAMPLE_RATE) :]))
                    waiting.add(chunk.index)
                    info["tails"] = info.get("tails", 0) + 1
            step = sum(c.duration for c, _ in batch if c.part == 0)
            transcribed += step
            bar.update(round(step, 1))
            notify(ProgressEvent("transcribe", source.name, round(transcribed, 3), round(speech, 3)))
            limit = fresh[0].index if fresh else len(chunks)
            while next_out < limit and next_out not in waiting:
                yield from done.pop(next_out, [])
                next_out += 1
    finally:
        bar.close()
    info.setdefault("language", language)


def _tail_start(chunk: Chunk, result, timestamp_begin: int) -> float | None:
    """Where to re-decode a chunk from, when Whisper stopped well before its speech ended.

    Whisper tends to skip an utterance that ends at the very end of a full window (it was trained on
    windows whose last sentence is often cut off). Only first passes get a tail, so this cannot loop.
    """
    if chunk.part > 0:
        return None
    covered = covered_until(result, timestamp_begin)
    if result.truncated or chunk.duration - covered > TAIL_MIN_S:
        return covered
    return None


def _detect_language(whisper: WhisperModel, encoded, batch: list[Chunk]) -> str:
    """The language of the file from the chunks of its first batch, weighting each chunk by its speech."""
    probs, codes = language_probabilities(whisper, encoded)
    weights = probs.new_tensor([c.duration for c in batch])[:, None]
    return codes[int((probs * weights).sum(dim=0).argmax())]


def _auto_batch(whisper: WhisperModel, opts: TranscribeOptions) -> int:
    config = whisper.model.config
    return auto_batch_size(whisper.device, config.d_model, config.decoder_layers, whisper.dtype,
                           opts.max_new_tokens)


def _reason(err: BaseException) -> str:
    """The error without the input's name, where the message already starts with it."""
    return err.reason if isinstance(err, AudioError) else str(err)


def _options(options: TranscribeOptions | None, kwargs: dict[str, Any]) -> TranscribeOptions:
    if options is None:
        return TranscribeOptions.from_kwargs(**kwargs)
    return options.replace(**kwargs) if kwargs else options


def _short(name: str, width: int = 30) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1) :]
