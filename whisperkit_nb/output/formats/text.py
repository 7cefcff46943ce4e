"""Plain-text formats: ``txt`` (plain or interview layout), ``tsv`` (WhisperX's, in ms) and Audacity labels."""

from __future__ import annotations

import os
from typing import Literal

import pandas as pd

from whisperkit_nb.errors import OptionsError
from whisperkit_nb.output.formats._common import atomic, clean, hms, one_file, segments, turns


def pause_mark(gap: float, long_pause_s: float = 10.0) -> str:
    """noScribe's pause notation: ``(..)`` one dot per second (at least one), ``(12 seconds pause)`` from
    ``long_pause_s`` on."""
    if gap >= long_pause_s:
        return f"({round(gap)} seconds pause)"
    return "(" + "." * max(1, round(gap)) + ")"


def write_txt(df: pd.DataFrame, path: str | os.PathLike, *, layout: Literal["plain", "interview"] = "plain",
              pauses: float | None = None, timestamps: bool = True) -> None:
    """Plain text.

    Options
    -------
    layout : "plain" or "interview", default "plain"
        plain: one line per segment, the text only. interview: one paragraph per speaker turn (consecutive
        segments of one speaker), each starting ``[hh:mm:ss] Speaker: `` (the speaker left out when the
        transcript has none), paragraphs separated by a blank line.
    pauses : float, optional (interview layout)
        Mark silences of at least this many seconds inside and before a turn, as noScribe does: ``(..)``
        one dot per second, ``(N seconds pause)`` from 10 s on. Gaps between words when the transcript
        has word times, else between segments. None (default): no pause marks.
    timestamps : bool, default True (interview layout)
        The ``[hh:mm:ss]`` at each turn.
    """
    if layout not in ("plain", "interview"):
        raise OptionsError(f"txt layout={layout!r}: use 'plain' or 'interview'.")
    if pauses is not None and (layout != "interview" or pauses <= 0):
        raise OptionsError("txt pauses= needs layout='interview' and a number of seconds above 0.")
    one_file(df, "txt")
    segs = segments(df)
    with atomic(path) as out:
        if layout == "plain":
            for s in segs:
                out.write(clean(s.text) + "\n")
            return
        previous_end = None
        paragraphs = []
        for turn in turns(segs):
            parts = []
            if pauses is not None and previous_end is not None and turn.start - previous_end >= pauses:
                parts.append(pause_mark(turn.start - previous_end))
            last = None
            for s in turn.segments:
                # Word times place the pause marks inside segments; without marks the segment's own text.
                words = [(w["start"], w["end"], clean(w["word"])) for w in s.words] if pauses is not None else []
                pieces = words or [(s.start, s.end, clean(s.text))]
                for start, end, text in pieces:
                    if pauses is not None and last is not None and start - last >= pauses:
                        parts.append(pause_mark(start - last))
                    if text:
                        parts.append(text)
                    last = end
            previous_end = turn.end
            head = f"[{hms(turn.start)}] " if timestamps else ""
            if turn.speaker:
                head += f"{turn.speaker}: "
            paragraphs.append(head + " ".join(parts))
        out.write("\n\n".join(paragraphs) + ("\n" if paragraphs else ""))


def write_tsv(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Tab-separated values as WhisperX writes them: a ``start end text`` header, times in integer
    milliseconds, plus a ``speaker`` column (empty where unknown). Tabs and newlines in the text become
    spaces. No options."""
    one_file(df, "tsv")
    with atomic(path) as out:
        out.write("start\tend\ttext\tspeaker\n")
        for s in segments(df):
            out.write(f"{round(s.start * 1000)}\t{round(s.end * 1000)}\t{clean(s.text)}\t{clean(s.speaker)}\n")


def write_audacity(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """An Audacity label track (File > Import > Labels...): ``start<TAB>end<TAB>label`` per segment, times
    in seconds with 6 decimals, the label ``Speaker: text`` (the text alone without a speaker). No options."""
    one_file(df, "Audacity labels")
    with atomic(path) as out:
        for s in segments(df):
            label = f"{clean(s.speaker)}: {clean(s.text)}" if s.speaker else clean(s.text)
            out.write(f"{s.start:.6f}\t{s.end:.6f}\t{label}\n")
