"""The JSON of the peer tools, written and read: WhisperX's (``segments`` with ``words`` and ``speaker``)
and insanely-fast-whisper's (``speakers``, ``chunks``, ``text``), so scripts written for them keep working
and their old transcripts convert to every other format."""

from __future__ import annotations

import json
import math
import os
from typing import Any, Literal

import numpy as np
import pandas as pd

from whisperkit_nb.errors import OptionsError
from whisperkit_nb.output.dataframe import COLUMNS, WORDS_COLUMN
from whisperkit_nb.output.formats._common import atomic, clean, one_file, segments, speaker_of, words_of
from whisperkit_nb.output.formats.ours import plain


def _language(df: pd.DataFrame) -> str | None:
    if "language" in df.columns and df["language"].notna().any():
        return str(df["language"].dropna().iloc[0])
    return None


def write_whisperx(df: pd.DataFrame, path: str | os.PathLike, *, indent: int | None = None) -> None:
    """WhisperX's JSON, as its ``--output_format json`` writes it after alignment and ``assign_word_speakers``:
    ``{"segments": [{"start", "end", "text", "speaker"?, "words": [{"word", "start", "end", "score",
    "speaker"?}]}], "word_segments": [...], "language"}``. Times in seconds; a word's ``score`` is our
    ``probability``; ``speaker`` is left out where unknown, as WhisperX does.

    Options
    -------
    indent : int or None, default None (one line, as WhisperX)
    """
    one_file(df, "WhisperX JSON")
    out_segments, all_words = [], []
    for s in segments(df):
        words = []
        for w in s.words:
            word = {"word": clean(w.get("word")), "start": w.get("start"), "end": w.get("end"),
                    "score": w.get("probability")}
            speaker = speaker_of(w.get("speaker")) or s.speaker
            if speaker:
                word["speaker"] = speaker
            words.append(plain(word))
        segment = {"start": s.start, "end": s.end, "text": s.text, "words": words}
        if s.speaker:
            segment["speaker"] = s.speaker
        out_segments.append(segment)
        all_words.extend(words)
    document = {"segments": out_segments, "word_segments": all_words, "language": _language(df)}
    with atomic(path) as out:
        json.dump(document, out, ensure_ascii=False, indent=indent)


def write_ifw(df: pd.DataFrame, path: str | os.PathLike, *, timestamp: Literal["chunk", "word"] = "chunk",
              indent: int | None = None) -> None:
    """insanely-fast-whisper's JSON: ``{"speakers": [{"speaker", "text", "timestamp": [start, end]}],
    "chunks": [{"text", "timestamp": [start, end]}], "text"}``.

    Options
    -------
    timestamp : "chunk" or "word", default "chunk"
        As its ``--timestamp``: chunks are our segments, or (``"word"``) our words (the transcript must
        have words: ``timestamps="word"``).
    indent : int or None, default None

    ``speakers`` groups consecutive chunks of one speaker, their texts joined, as insanely-fast-whisper's
    diarization output does; it is empty without speakers. Chunk texts start with a space, as the
    transformers pipeline returns them, and ``text`` is every chunk's text joined.
    """
    if timestamp not in ("chunk", "word"):
        raise OptionsError(f"ifw timestamp={timestamp!r}: use 'chunk' or 'word'.")
    one_file(df, "insanely-fast-whisper JSON")
    segs = segments(df)
    if timestamp == "word":
        if WORDS_COLUMN not in df.columns:
            raise OptionsError("ifw timestamp='word' needs word times: transcribe with timestamps='word'.")
        pieces = [(w["start"], w["end"], clean(w["word"]), w["speaker"]) for w in words_of(segs)]
    else:
        pieces = [(s.start, s.end, clean(s.text), s.speaker) for s in segs]
    chunks = [{"timestamp": [start, end], "text": " " + text} for start, end, text, _ in pieces]
    speakers: list[dict[str, Any]] = []
    if any(p[3] for p in pieces):
        for (start, end, text, speaker), chunk in zip(pieces, chunks):
            label = speaker or "UNKNOWN"
            if speakers and speakers[-1]["speaker"] == label:
                speakers[-1]["text"] += chunk["text"]
                speakers[-1]["timestamp"][1] = end
            else:
                speakers.append({"speaker": label, "text": chunk["text"], "timestamp": [start, end]})
    document = {"speakers": speakers, "chunks": chunks, "text": "".join(c["text"] for c in chunks)}
    with atomic(path) as out:
        json.dump(plain(document), out, ensure_ascii=False, indent=indent)


# --------------------------------------------------------------------------------------------------
# Reading them back (``whisperkit convert``, `read_transcript`)


def is_whisperx(document: Any) -> bool:
    return isinstance(document, dict) and isinstance(document.get("segments"), list)


def is_ifw(document: Any) -> bool:
    return isinstance(document, dict) and isinstance(document.get("chunks"), list)


def _frame(rows: list[dict], name: str, source: str, with_words: bool) -> pd.DataFrame:
    columns = list(COLUMNS) + ([WORDS_COLUMN] if with_words else [])
    frame = pd.DataFrame([[r.get(c) for c in columns] for r in rows], columns=columns, dtype=object)
    for column in ("start", "end", "avg_logprob", "no_speech_prob", "compression_ratio"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["chunk"] = np.arange(len(frame), dtype="int64")
    frame.attrs["files"] = {name: {"name": name, "converted_from": source}}
    return frame


def _time(value: Any, fallback: float) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return fallback
    return float(value)


def read_whisperx(document: dict, name: str) -> pd.DataFrame:
    """A WhisperX JSON document as our DataFrame (``file`` = ``name``). Words WhisperX could not align
    (no times: numbers, unknown characters) get the previous word's end (or the segment's start) as both
    start and end."""
    rows, any_words = [], False
    language = document.get("language")
    for seg in document["segments"]:
        start, end = _time(seg.get("start"), 0.0), _time(seg.get("end"), 0.0)
        words, last = [], start
        for w in seg.get("words") or []:
            any_words = True
            w_start = _time(w.get("start"), last)
            w_end = _time(w.get("end"), w_start)
            word = {"word": w.get("word", ""), "start": w_start, "end": w_end, "probability": w.get("score")}
            if w.get("speaker") is not None:
                word["speaker"] = w["speaker"]
            words.append(word)
            last = w_end
        rows.append({"file": name, "start": start, "end": end, "text": seg.get("text", ""),
                     "language": language, "speaker": seg.get("speaker"), "words": words})
    return _frame(rows, name, "whisperx", any_words)


def read_ifw(document: dict, name: str) -> pd.DataFrame:
    """An insanely-fast-whisper JSON document as our DataFrame: one segment per chunk (with
    ``--timestamp word`` those are words), each with the speaker whose ``speakers`` span holds the chunk's
    middle. A missing end (the transformers pipeline leaves the last one open) becomes the start."""
    spans = [(_time(s["timestamp"][0], 0.0), _time(s["timestamp"][1], math.inf), s.get("speaker"))
             for s in document.get("speakers") or []]
    rows = []
    for chunk in document["chunks"]:
        start = _time(chunk["timestamp"][0], 0.0)
        end = _time(chunk["timestamp"][1], start)
        middle = (start + end) / 2
        speaker = next((label for a, b, label in spans if a <= middle <= b), None)
        if speaker is None and spans:  # between spans: the nearest
            speaker = min(spans, key=lambda sp: min(abs(sp[0] - middle), abs(sp[1] - middle)))[2]
        rows.append({"file": name, "start": start, "end": end, "text": chunk.get("text", ""), "speaker": speaker})
    return _frame(rows, name, "insanely-fast-whisper", False)
