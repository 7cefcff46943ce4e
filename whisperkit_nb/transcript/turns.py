"""Turns: consecutive segments of one speaker merged into one row, the unit a reader of a conversation thinks in.

Whisper cuts where it pauses or where a 30 s window ends, not where a speaker stops, so one turn often lands on
several rows ("...how long you have worked at" | "the clinic?"). `turns` joins them back; it works on any
transcript DataFrame (one file or many, with or without speakers) and imports no model.
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from typing import Any

import pandas as pd

#: A pause longer than this (seconds) starts a new turn, even for the same speaker: a long silence is
#: where a reader expects a new paragraph, and where a speaker whom diarization missed may have spoken.
DEFAULT_MAX_GAP_S = 2.0

# Per-segment measures that mean nothing for a merged row.
_SEGMENT_ONLY = {"avg_logprob", "no_speech_prob", "compression_ratio", "chunk", "text_original"}
_OWN = {"file", "start", "end", "text", "language", "speaker", "words", "edited", "segments"}


def turns(df: pd.DataFrame, *, max_gap_s: float = DEFAULT_MAX_GAP_S) -> pd.DataFrame:
    """Merge consecutive segments of one speaker, per file, into turns: one row per turn.

    Within each file (files in the order they first appear; rows in order of ``start``, ties as the frame
    has them), a row joins the turn before it when it has the same speaker and starts at most ``max_gap_s``
    after the turn's end (overlapping rows always join).

    Parameters
    ----------
    df : DataFrame
        A transcript as `transcribe` returns it (``start``, ``end``, ``text``; ``file``, ``speaker``,
        ``language`` and ``words`` when present), e.g. after `assign_speakers` or from a corpus.
    max_gap_s : float, default 2.0 (`DEFAULT_MAX_GAP_S`)
        The longest pause inside a turn, in seconds; ``math.inf`` merges every run of one speaker.

    Returns
    -------
    DataFrame
        One row per turn: ``file``, ``start`` (its first segment's), ``end`` (the latest end among its
        segments), ``text`` (the segments' texts joined by one space, whitespace runs collapsed),
        ``language`` (the language of most of its speech time), ``speaker``, ``words`` (the segments' word
        lists concatenated; only when ``df`` has words), ``edited`` (any of its segments edited; only when
        ``df`` has that column), ``segments`` (the index labels of the rows merged, in order), then the columns
        that hold one value per file (a corpus's metadata). The per-segment measures (``avg_logprob``,
        ``no_speech_prob``, ``compression_ratio``, ``chunk``, ``text_original``) are left out.
        ``attrs`` are copied from ``df``.

    Rows without a speaker (no diarization, or speech that diarization gave no speaker) merge only with
    each other: without speakers at all, turns are cut by pauses alone.
    """
    if isinstance(max_gap_s, bool) or not isinstance(max_gap_s, numbers.Real) or math.isnan(max_gap_s) or max_gap_s < 0:
        raise ValueError(f"max_gap_s must be a number of seconds, 0 or more, not {max_gap_s!r}.")
    missing = {"start", "end", "text"} - set(df.columns)
    if missing:
        raise ValueError(f"turns needs a transcript DataFrame; this one lacks {', '.join(sorted(missing))}.")
    has_words = "words" in df.columns
    has_edited = "edited" in df.columns
    carried = _per_file_columns(df)
    rows = [_turn(df.iloc[positions], has_words, has_edited, carried)
            for positions in _turn_groups(df, float(max_gap_s))]
    columns = ["file", "start", "end", "text", "language", "speaker"]
    columns += ["words"] * has_words + ["edited"] * has_edited + ["segments"] + carried
    # Built as objects: pandas 3 would infer its string dtype, turning None into NaN.
    result = pd.DataFrame(rows, columns=columns, dtype=object)
    result = result.astype({"start": "float64", "end": "float64", **({"edited": "bool"} if has_edited else {}),
                            **{c: df[c].dtype for c in carried}})
    result.attrs = dict(df.attrs)
    return result


def _turn_groups(df: pd.DataFrame, max_gap_s: float) -> list[list[int]]:
    """The positions of each turn's rows."""
    files = df["file"] if "file" in df.columns else pd.Series([None] * len(df), index=df.index)
    speakers = df["speaker"] if "speaker" in df.columns else pd.Series([None] * len(df), index=df.index)
    order = {name: i for i, name in enumerate(dict.fromkeys(_key(f) for f in files))}
    positions = sorted(range(len(df)), key=lambda i: (order[_key(files.iat[i])], float(df["start"].iat[i])))
    groups: list[list[int]] = []
    last_file, last_speaker, last_end = object(), object(), -math.inf
    for i in positions:
        file, speaker = _key(files.iat[i]), _speaker(speakers.iat[i])
        start, end = float(df["start"].iat[i]), float(df["end"].iat[i])
        if groups and file == last_file and speaker == last_speaker and start - last_end <= max_gap_s:
            groups[-1].append(i)
            last_end = max(last_end, end)
        else:
            groups.append([i])
            last_file, last_speaker, last_end = file, speaker, end
    return groups


def _turn(rows: pd.DataFrame, has_words: bool, has_edited: bool, carried: list[str]) -> list[Any]:
    first = rows.iloc[0]
    texts = (" ".join(str(t).split()) for t in rows["text"] if not _missing(t))
    row = [first.get("file"), float(first["start"]), float(rows["end"].max()), " ".join(t for t in texts if t),
           _language(rows), _speaker(first.get("speaker"))]
    if has_words:
        row.append([dict(w) for words in rows["words"] if _is_list(words) for w in words])
    if has_edited:
        row.append(any(not _missing(e) and bool(e) for e in rows["edited"]))
    row.append(list(rows.index))
    row.extend(first[c] for c in carried)
    return row


def _language(rows: pd.DataFrame) -> str | None:
    """The language of most of the turn's speech time (the first one on a tie)."""
    if "language" not in rows.columns:
        return None
    time: Counter = Counter()
    for language, start, end in zip(rows["language"], rows["start"], rows["end"]):
        if not _missing(language):
            time[language] += max(float(end) - float(start), 0.0) + 1e-9  # a zero-length row still counts
    return max(time, key=time.__getitem__) if time else None


def _per_file_columns(df: pd.DataFrame) -> list[str]:
    """Extra columns (a corpus's metadata) that hold one value per file: they describe each turn too."""
    if "file" not in df.columns:
        return []
    carried = []
    for column in df.columns:
        if column in _OWN or column in _SEGMENT_ONLY:
            continue
        try:
            if (df.groupby("file", sort=False, dropna=False)[column].nunique(dropna=False) <= 1).all():
                carried.append(column)
        except TypeError:  # unhashable values (lists, dicts): not metadata
            continue
    return carried


def _speaker(value: Any) -> Any:
    """The label, or None for a missing one (None, NaN, blank text)."""
    if _missing(value) or (isinstance(value, str) and not value.strip()):
        return None
    return value


def _key(value: Any) -> Any:
    return None if _missing(value) else value


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _is_list(value: Any) -> bool:
    return hasattr(value, "__iter__") and not isinstance(value, (str, bytes, dict))
