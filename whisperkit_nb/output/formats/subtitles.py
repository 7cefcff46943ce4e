"""Subtitles: SubRip (``srt``) and WebVTT (``vtt``, speakers as ``<v Name>`` voice tags)."""

from __future__ import annotations

import os

import pandas as pd

from whisperkit_nb.output.formats._common import atomic, clean, hms, one_file, segments


def _srt_time(seconds: float) -> str:
    return hms(seconds, decimals=3, sep=",")


def write_srt(df: pd.DataFrame, path: str | os.PathLike, *, speaker_prefix: bool = True) -> None:
    """SubRip subtitles: one numbered cue per segment, times to the millisecond.

    Options
    -------
    speaker_prefix : bool, default True
        Start each cue with ``[Speaker]: `` as WhisperX does (SRT has no speaker field); only where the
        segment has a speaker.

    Whitespace in the text (newlines included: a blank line would end the cue) becomes single spaces.
    SRT has no escaping: text is written as it is.
    """
    one_file(df, "srt")
    with atomic(path) as out:
        for number, s in enumerate(segments(df), 1):
            text = clean(s.text)
            if speaker_prefix and s.speaker:
                text = f"[{clean(s.speaker)}]: {text}"
            out.write(f"{number}\n{_srt_time(s.start)} --> {_srt_time(s.end)}\n{text}\n\n")


def _escape(text: str) -> str:
    # WebVTT cue text: & and < start entities and tags, and > must be escaped so that "-->" cannot appear.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_vtt(df: pd.DataFrame, path: str | os.PathLike, *, voices: bool = True) -> None:
    """WebVTT: one cue per segment, times to the millisecond.

    Options
    -------
    voices : bool, default True
        Write each segment's speaker as a voice span, ``<v Name>text``, which EXMARaLDA, ELAN and
        browsers read as the speaker.

    ``&``, ``<`` and ``>`` in the text are escaped as entities (so text can never end a cue with
    ``-->``); whitespace, newlines included, becomes single spaces.
    """
    one_file(df, "vtt")
    with atomic(path) as out:
        out.write("WEBVTT\n\n")
        for s in segments(df):
            text = _escape(clean(s.text))
            if voices and s.speaker:
                # An annotation ends at ">"; the name's own ">" (and "&", "<") are escaped.
                text = f"<v {_escape(clean(s.speaker))}>{text}"
            out.write(f"{hms(s.start, decimals=3)} --> {hms(s.end, decimals=3)}\n{text}\n\n")
