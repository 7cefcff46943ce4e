"""`transcribe`: one input or many to one DataFrame, diarization and speakers included; a failing input never loses the others."""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Callable
from typing import Any

import pandas as pd

from whisperkit_nb.audio.source import ARRAY_NAME, SAMPLE_RATE, AudioSource, expand_inputs, is_array_pair, open_audio
from whisperkit_nb.engines.registry import load_model, settle
from whisperkit_nb.errors import AudioError, OptionsError, TranscriptionFailures, user_stacklevel
from whisperkit_nb.events import ProgressCallback, ProgressEvent
from whisperkit_nb.options import TranscribeOptions, resolve_options
from whisperkit_nb.output.dataframe import segments_to_dataframe
from whisperkit_nb.report import FileReport
from whisperkit_nb.run.batch import BatchFit
from whisperkit_nb.run.lock import one_run_at_a_time
from whisperkit_nb.run.prepare import PreparedNext
from whisperkit_nb.run.stream import check_model_options, stream_input
from whisperkit_nb.transcript.segments import Segment


@one_run_at_a_time
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
        Called with a `ProgressEvent` as each stage advances (`whisperkit_nb.events.combine` joins several):
        for each input a ``"vad"`` event with nothing read as it is opened, the VAD's and the batches' events,
        a ``"transcribe"`` event with all of its speech done once decoded, then the diarization's (see
        `whisperkit_nb.events`). The pipeline itself draws nothing: ``whisperkit_nb.transcribe`` honours
        ``progress=True`` by adding its progress bars (`whisperkit_nb.progress_bars.ProgressBars`) as one more
        callback, and printing `whisperkit_nb.output.summary.summary_lines` at the end.

    Returns
    -------
    pandas.DataFrame
        Columns described in `whisperkit_nb.frame.COLUMNS`. ``df.attrs["failures"]`` maps each input
        that failed (in a list) to its error message; ``df.attrs["files"]`` maps each input to its facts
        (`whisperkit_nb.report.FileReport.as_dict`: the facts recorded, by field name);
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
    Of a list, the next input is opened, decoded and its VAD run on a thread while the current one is
    transcribed (one input ahead; `whisperkit_nb.run.prepare.PreparedNext`).
    """
    opts = resolve_options(options, kwargs)
    if opts.link_speakers:
        raise OptionsError("link_speakers links the speakers of a corpus's stored files: use "
                           "wk.transcribe_corpus(..., link_speakers=True); transcribe names speakers per file "
                           "(speaker_samples gives the same voice the same name in every file).")
    inputs = expand_inputs(audio)
    single = len(inputs) == 1 and (not isinstance(audio, (list, tuple)) or is_array_pair(audio))
    engine = load_model(opts)
    opts = settle(opts, engine.name)  # the automatic decoding values, as this engine runs them
    check_model_options(opts, engine)  # fails once, not once per file
    if opts.diarize:
        from whisperkit_nb.speakers.diarize import check_samples, load_pipeline

        load_pipeline(opts)  # a missing token or package fails now, not after the transcription
        check_samples(opts)  # so does a bad speaker sample (embedded once here, then cached for every file)
    frames: list[pd.DataFrame] = []
    failures: dict[str, BaseException] = {}
    reports: dict[str, FileReport] = {}
    interrupted = False
    fit = BatchFit()  # a batch size lowered by GPU out-of-memory stays lower for the rest of the run
    # The next input of a list is decoded and planned while this one is transcribed (the first one is planned
    # here, with its VAD's progress events): the model does not wait for each input's VAD pass.
    ahead = PreparedNext(opts) if PREPARE_NEXT and opts.chunking == "vad" and len(inputs) > 1 else None
    try:
        for index, item in enumerate(inputs):
            name = str(item) if isinstance(item, (str, os.PathLike)) else ARRAY_NAME
            started = time.perf_counter()
            report = FileReport()
            segments: list[Segment] = []
            pending = None
            try:
                prepared = ahead.take(index) if ahead is not None else None
                if prepared is not None and prepared.error is not None:
                    raise prepared.error
                source = prepared.source if prepared is not None else open_audio(item, opts.corrupt_audio)
                _opened(source, callback)
                if ahead is not None and index + 1 < len(inputs):
                    ahead.start(index + 1, inputs[index + 1])
                if opts.diarize:
                    from whisperkit_nb.speakers.diarize import start_diarization

                    source = source.in_memory()  # decoded once: VAD, Whisper and pyannote share the samples
                    pending = start_diarization(source, opts, callback=callback)  # on a GPU: alongside the ASR
                # closing: an interrupt between two segments still stops the stream (and its prefetch thread) here
                with contextlib.closing(stream_input(source, opts, engine, report, callback, fit, prepared)) as stream:
                    for segment in stream:
                        segments.append(segment)
                if callback is not None:  # done, also where no batch reported it (no speech, fixed windows)
                    decoded = report.speech_seconds if report.speech_seconds is not None else report.duration or 0.0
                    callback(ProgressEvent("transcribe", source.name, decoded, decoded))
                frame = segments_to_dataframe(segments, words=opts.timestamps == "word")
                if pending is not None:
                    frame = _add_speakers(frame, pending, opts, report)
                frames.append(frame)
                report.seconds = round(time.perf_counter() - started, 3)
                reports[report.name or name] = report
            except KeyboardInterrupt:
                # Keep what is finished: earlier files whole, this one up to its last decoded batch (all of its
                # batches when the interrupt came during diarization: then it has no speakers).
                frames.append(segments_to_dataframe(segments, words=opts.timestamps == "word"))
                report.interrupted = True
                if opts.diarize and report.speakers is None:
                    report.diarization = "interrupted"
                reports[report.name or name] = report
                interrupted = True
                break
            except Exception as err:  # noqa: BLE001 - collected per file so the other files still come back
                if single:
                    raise
                failures[name] = err
            finally:
                if pending is not None:
                    pending.cancel()  # a background diarization no longer wanted stops now, not during the next call
    finally:
        if ahead is not None:
            ahead.close()  # an input prepared ahead that the run no longer wants (interrupted) stops
    if failures and len(failures) == len(inputs):
        raise TranscriptionFailures(failures)
    empty = segments_to_dataframe([], words=opts.timestamps == "word")
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else (frames or [empty])[0]
    frame.attrs["failures"] = {name: failure_reason(err) for name, err in failures.items()}
    frame.attrs["files"] = {name: report.as_dict() for name, report in reports.items()}
    frame.attrs["interrupted"] = interrupted
    if failures:
        listing = "; ".join(f"{name}: {failure_reason(err)}" for name, err in failures.items())
        warnings.warn(f"{len(failures)} of {len(inputs)} inputs failed ({listing})", stacklevel=user_stacklevel())
    if interrupted:
        unfinished = [name for name, report in reports.items() if report.diarization == "interrupted"]
        speakers = f" ({', '.join(unfinished)}: diarization interrupted, no speakers)" if unfinished else ""
        warnings.warn(f"Interrupted: returning the {len(frame)} segments finished so far{speakers}.", stacklevel=user_stacklevel())
    return frame


PREPARE_NEXT = True  # a list's next input decoded and planned while one is transcribed (False: in turn; bench ablation)


def _opened(source: AudioSource, callback: ProgressCallback | None) -> None:
    """The VAD's first event, nothing read yet: a front end shows the input as started (decoding it into
    memory for diarization, or the model's first batch, can take a while before the VAD reports)."""
    if callback is not None:
        expected = source.duration or (len(source.samples) / SAMPLE_RATE if source.samples is not None else 0.0)
        callback(ProgressEvent("vad", source.name, 0.0, round(expected, 3)))


def _add_speakers(frame: pd.DataFrame, pending: Callable[[], pd.DataFrame], opts: TranscribeOptions,
                  report: FileReport) -> pd.DataFrame:
    """Wait for the diarization and give every segment (and word) its speaker.

    ``report`` gets its speaker facts only once the frame has them, so an interrupt in here (while waiting, on
    CPU while pyannote runs) leaves ``transcribe`` a file without speakers and without speaker facts.
    """
    from whisperkit_nb.run.nodes import label_speakers, speaker_facts  # wk.assign_speakers' code path too

    turns = pending()
    frame = label_speakers(frame, turns, opts)
    report.record(**speaker_facts(turns))
    return frame


def failure_reason(err: BaseException) -> str:
    """The error without the input's name, where the message already starts with it."""
    return err.reason if isinstance(err, AudioError) else str(err)
