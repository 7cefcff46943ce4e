"""The public `transcribe`, `stream_segments`, `diarize` and `transcribe_corpus`: the pipeline's, with progress bars when asked.

The pipeline (`whisperkit_nb.run`) draws nothing: it emits `ProgressEvent`s to its ``callback``. These
wrappers add a `ProgressBars` hook beside the caller's callback, which still receives every event.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import pandas as pd

from whisperkit_nb.corpus.corpus import Corpus
from whisperkit_nb.corpus.runner import transcribe_corpus as _transcribe_corpus
from whisperkit_nb.events import ProgressCallback, combine
from whisperkit_nb.options import TranscribeOptions
from whisperkit_nb.progress_bars import CorpusBar, ProgressBars
from whisperkit_nb.run.nodes import diarize as _diarize
from whisperkit_nb.run.stream import stream_segments as _stream_segments
from whisperkit_nb.run.transcribe import transcribe as _transcribe
from whisperkit_nb.transcript.segments import Segment


@functools.wraps(_transcribe)
def transcribe(audio: Any, options: TranscribeOptions | None = None, *, callback: ProgressCallback | None = None,
               **kwargs: Any) -> pd.DataFrame:
    with _bars(options, kwargs) as bars:
        return _transcribe(audio, options, callback=combine(bars, callback), **kwargs)


@functools.wraps(_stream_segments)
def stream_segments(audio: Any, options: TranscribeOptions | None = None, *,
                    callback: ProgressCallback | None = None, **kwargs: Any) -> Iterator[Segment]:
    with _bars(options, kwargs) as bars:
        yield from _stream_segments(audio, options, callback=combine(bars, callback), **kwargs)


@functools.wraps(_diarize)
def diarize(audio: Any, options: TranscribeOptions | None = None, *, callback: ProgressCallback | None = None,
            **kwargs: Any) -> pd.DataFrame:
    with _bars(options, kwargs) as bars:
        return _diarize(audio, options, callback=combine(bars, callback), **kwargs)


@functools.wraps(_transcribe_corpus)
def transcribe_corpus(inputs: Any, store: Any = "transcripts/", options: TranscribeOptions | None = None, *,
                      overwrite: bool = False, callback: ProgressCallback | None = None, **kwargs: Any) -> Corpus:
    with _bars(options, kwargs) as bars, _corpus_bar(options, kwargs) as corpus_bar:
        return _transcribe_corpus(inputs, store, options, overwrite=overwrite,
                                  callback=combine(corpus_bar, bars, callback), **kwargs)


def _corpus_bar(options: TranscribeOptions | None, kwargs: dict[str, Any]) -> contextlib.AbstractContextManager:
    progress = kwargs.get("progress", TranscribeOptions.progress if options is None else options.progress)
    return CorpusBar() if progress is True else contextlib.nullcontext()


def _bars(options: TranscribeOptions | None, kwargs: dict[str, Any]) -> contextlib.AbstractContextManager:
    """Progress bars for the run when its ``progress`` option is on (the pipeline itself checks the value)."""
    progress = kwargs.get("progress", TranscribeOptions.progress if options is None else options.progress)
    return ProgressBars() if progress is True else contextlib.nullcontext()
