"""DataFrame: the documented column schema users get back from `transcribe`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import pandas as pd

from .segments import Segment

#: Columns of a transcript DataFrame, in order, with their meaning.
COLUMNS: dict[str, str] = {
    "file": "input path as given, or '<array>' for in-memory audio",
    "start": "segment start, seconds on the original timeline",
    "end": "segment end, seconds on the original timeline",
    "text": "transcribed (or translated) text",
    "language": "language code the segment was decoded in",
    "speaker": "speaker label (None until diarization)",
    "avg_logprob": "mean token log-probability (NaN where the strategy does not expose it)",
    "no_speech_prob": "Whisper's no-speech probability of the segment's chunk",
    "compression_ratio": "UTF-8 length over zlib-compressed length of the text",
    "chunk": "index of the chunk (VAD) or window (fixed) the segment came from",
}

_DTYPES = {
    "file": "object",
    "start": "float64",
    "end": "float64",
    "text": "object",
    "language": "object",
    "speaker": "object",
    "avg_logprob": "float64",
    "no_speech_prob": "float64",
    "compression_ratio": "float64",
    "chunk": "int64",
}


def segments_to_frame(segments: Iterable[Segment]) -> pd.DataFrame:
    """One row per segment, columns as in `COLUMNS` (an empty frame still has every column)."""
    rows = [dataclasses.astuple(s) for s in segments]
    frame = pd.DataFrame(rows, columns=list(COLUMNS)) if rows else pd.DataFrame(columns=list(COLUMNS))
    return frame.astype(_DTYPES)
