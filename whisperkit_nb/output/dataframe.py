"""DataFrame: the documented column schema users get back from `transcribe`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:  # only annotated: reading a saved transcript needs no Whisper (nor torch)
    from whisperkit_nb.transcript.segments import Segment

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

#: Present with ``timestamps="word"``: per segment, a list of {"word", "start", "end", "probability"}
#: (and "speaker" after diarization), times on the original timeline.
WORDS_COLUMN = "words"

#: Present on a transcript someone corrected (the player's edits; a corpus frame whose inputs have edits,
#: `whisperkit_nb.corpus.edits`), after the columns above. Our JSON keeps them, ``edited`` as bool.
EDIT_COLUMNS: dict[str, str] = {
    "edited": "bool: True where a person changed the row (text, times or speaker); False elsewhere",
    "text_original": "the machine's text of an edited row (None where the row is the machine's own)",
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


def segments_to_dataframe(segments: Iterable[Segment], *, words: bool = False) -> pd.DataFrame:
    """One row per segment, columns as in `COLUMNS` (plus ``words`` when asked for); an empty frame still
    has every column."""
    columns = list(COLUMNS) + [WORDS_COLUMN]
    rows = [dataclasses.astuple(s) for s in segments]
    frame = pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
    frame = frame.astype({**_DTYPES, WORDS_COLUMN: "object"})
    if words:
        frame[WORDS_COLUMN] = [list(w) if w is not None else [] for w in frame[WORDS_COLUMN]]
        return frame
    return frame.drop(columns=[WORDS_COLUMN])


def words_frame(segments: pd.DataFrame) -> pd.DataFrame:
    """One row per word: ``file``, ``segment`` (the row index in ``segments``), ``word``, ``start``,
    ``end``, ``probability``, ``speaker`` (the word's own speaker after diarization, else the segment's).

    ``segments`` must come from ``transcribe(..., timestamps="word")``.
    """
    if WORDS_COLUMN not in segments.columns:
        raise ValueError("This DataFrame has no words column: transcribe with timestamps='word'.")
    rows = []
    for index, row in segments.iterrows():
        for word in row[WORDS_COLUMN] or []:
            rows.append({
                "file": row["file"],
                "segment": index,
                "word": word["word"],
                "start": word["start"],
                "end": word["end"],
                "probability": word.get("probability"),
                "speaker": word.get("speaker", row.get("speaker")),
            })
    columns = ["file", "segment", "word", "start", "end", "probability", "speaker"]
    return pd.DataFrame(rows, columns=columns)
