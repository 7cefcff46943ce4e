"""The public `transcribe`, `stream_segments`, `diarize` and `transcribe_corpus`: the pipeline's, with progress bars when asked.

The pipeline (`whisperkit_nb.run`) draws nothing: it emits `ProgressEvent`s to its ``callback``. These
wrappers add a `ProgressBars` hook beside the caller's callback, which still receives every event, and
`transcribe` prints its summary (one line per file, `whisperkit_nb.output.summary.summary_lines`) at the
end of a run with progress on.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from typing import Any

import pandas as pd

from whisperkit_nb.corpus.corpus import Corpus
from whisperkit_nb.corpus.runner import transcribe_corpus as _transcribe_corpus
from whisperkit_nb.events import ProgressCallback, combine
from whisperkit_nb.options import TranscribeOptions
from whisperkit_nb.output.summary import summary_lines
from whisperkit_nb.progress_bars import CorpusBar, ProgressBars
from whisperkit_nb.run.nodes import diarize as _diarize
from whisperkit_nb.run.stream import stream_segments as _stream_segments
from whisperkit_nb.run.transcribe import transcribe as _transcribe
from whisperkit_nb.transcript.segments import Segment

ASR = ("vad", "transcribe")


@functools.wraps(_transcribe)
def transcribe(audio: Any, options: TranscribeOptions | None = None, *, callback: ProgressCallback | None = None,
               **kwargs: Any) -> pd.DataFrame:
    with _bars(options, kwargs, ASR + (("diarize",) if _option(options, kwargs, "diarize") else ())) as bars:
        if bars is not None:
            bars.start(_first_name(audio))  # shown while the model loads
        frame = _transcribe(audio, options, callback=combine(bars, callback), **kwargs)
    if bars is not None:
        print("\n".join(summary_lines(frame)))
    return frame


@functools.wraps(_stream_segments)
def stream_segments(audio: Any, options: TranscribeOptions | None = None, *,
                    callback: ProgressCallback | None = None, **kwargs: Any) -> Iterator[Segment]:
    with _bars(options, kwargs, ASR) as bars:
        yield from _stream_segments(audio, options, callback=combine(bars, callback), **kwargs)


@functools.wraps(_diarize)
def diarize(audio: Any, options: TranscribeOptions | None = None, *, callback: ProgressCallback | None = None,
            **kwargs: Any) -> pd.DataFrame:
    with _bars(options, kwargs, ("diarize",)) as bars:
        return _diarize(audio, options, callback=combine(bars, callback), **kwargs)


@functools.wraps(_transcribe_corpus)
def transcribe_corpus(inputs: Any, store: Any = "transcripts/", options: TranscribeOptions | None = None, *,
                      overwrite: bool = False, callback: ProgressCallback | None = None, **kwargs: Any) -> Corpus:
    stages = ASR + (("diarize",) if _option(options, kwargs, "diarize") else ())
    with _bars(options, kwargs, stages) as bars, _corpus_bar(options, kwargs) as corpus_bar:
        return _transcribe_corpus(inputs, store, options, overwrite=overwrite,
                                  callback=combine(corpus_bar, bars, callback), **kwargs)


def _option(options: TranscribeOptions | None, kwargs: dict[str, Any], name: str) -> Any:
    """An option's value for this call, before the pipeline validates it."""
    return kwargs.get(name, getattr(TranscribeOptions if options is None else options, name))


def _corpus_bar(options: TranscribeOptions | None, kwargs: dict[str, Any]) -> contextlib.AbstractContextManager:
    return CorpusBar() if _option(options, kwargs, "progress") is True else contextlib.nullcontext()


def _bars(options: TranscribeOptions | None, kwargs: dict[str, Any],
          stages: tuple[str, ...]) -> contextlib.AbstractContextManager:
    """Progress bars for the run when its ``progress`` option is on (the pipeline itself checks the value)."""
    return ProgressBars(stages) if _option(options, kwargs, "progress") is True else contextlib.nullcontext()


def _first_name(audio: Any) -> str:
    """The first input's name as the run's events will give it (a glob may match nothing: then any name)."""
    from whisperkit_nb.audio.source import ARRAY_NAME, expand_inputs

    try:
        inputs = expand_inputs(audio)
    except Exception:  # noqa: BLE001 - the run itself reports what is wrong with the inputs
        return ARRAY_NAME
    first = inputs[0] if inputs else None
    return str(first) if isinstance(first, (str, os.PathLike)) else ARRAY_NAME
