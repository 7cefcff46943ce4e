"""`stream_segments`: one input's segments as batches finish (VAD chunking)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from whisperkit_nb.audio.source import AudioSource, open_audio
from whisperkit_nb.engines.base import Engine
from whisperkit_nb.engines.registry import load_model, settle
from whisperkit_nb.engines.tokens import normalize_language
from whisperkit_nb.errors import OptionsError
from whisperkit_nb.events import ProgressCallback
from whisperkit_nb.options import TranscribeOptions, resolve_options
from whisperkit_nb.report import FileReport
from whisperkit_nb.run.batch import BatchFit
from whisperkit_nb.run.decode import decode_inputs
from whisperkit_nb.run.lock import RUN
from whisperkit_nb.run.prepare import Prepared, plan_input, record_plan
from whisperkit_nb.transcript.segments import Segment


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
            callback: ProgressCallback | None, batch_fit: BatchFit | None,
            prepared: Prepared | None = None) -> Iterator[Segment]:
    """`stream_segments` without taking the run (`transcribe` holds it for all of its inputs). ``prepared``: this
    input's chunk plan, made ahead (`PreparedNext`), so its VAD pass is not run again."""
    engine = engine or load_model(opts)
    opts = settle(opts, engine.name)
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
    yield from _vad_segments(source, opts, engine, language, report, callback, batch_fit, prepared)


def _vad_segments(source: AudioSource, opts: TranscribeOptions, engine: Engine,
                  language: str | None, report: FileReport, callback: ProgressCallback | None,
                  fit: BatchFit | None = None, prepared: Prepared | None = None) -> Iterator[Segment]:
    """One input through the batches of `decode_inputs`, its VAD first (with its progress events) unless its plan
    was ``prepared`` ahead; an input up to `IN_MEMORY_MAX_S` long is kept in memory from that pass, so its chunks
    are not decoded a second time."""
    if prepared is not None:
        chunks, duration = prepared.chunks, prepared.duration
    else:
        source, chunks, duration = plan_input(source, opts, callback=callback)
    record_plan(report, source, chunks, duration)
    planned = Prepared(source.name, source, chunks, duration, report)
    for run, segments in decode_inputs([planned], opts, engine, language, callback=callback, fit=fit):
        if run.error is not None:
            raise run.error
        yield from segments


def check_model_options(opts: TranscribeOptions, engine: Engine) -> str | None:
    """Options that depend on the engine and model: what the engine cannot honour (an engine passed in may
    not be the one the options would load), the language, and code-switching's need for a multilingual model."""
    engine.check(opts)
    if opts.code_switching != "off" and not engine.tokens.multilingual:
        raise OptionsError(f"code_switching={opts.code_switching!r} needs a multilingual model, not {engine.model_name}.")
    if opts.task == "translate" and not engine.tokens.multilingual:
        raise OptionsError(f"task='translate' needs a multilingual model, not {engine.model_name}.")
    return normalize_language(opts.language, engine.tokens)
