"""Praat TextGrid (through praatio): one interval tier per speaker, plus a words tier."""

from __future__ import annotations

import os

import pandas as pd

from whisperkit_nb.output.formats._common import (
    atomic_path,
    clean,
    has_speakers,
    no_overlap,
    one_file,
    require,
    segments,
    words_of,
)

NO_SPEAKER_TIER = "transcript"
WORDS_TIER = "words"


def write_textgrid(df: pd.DataFrame, path: str | os.PathLike, *, words: bool = True,
                   duration: float | None = None) -> None:
    """A Praat TextGrid (long ooTextFile format, UTF-8): an IntervalTier per speaker named after it (one
    ``transcript`` tier when there are no speakers) holding its segments, and a ``words`` tier.

    Options
    -------
    words : bool, default True
        Add the ``words`` tier (when the transcript has word times; each interval holds one word).
    duration : float, optional
        The TextGrid's end time. Default: the recording's duration from ``df.attrs["files"]``, else the
        last end.

    Praat intervals within a tier may not overlap: where Whisper's times do, the later one starts at the
    earlier one's end. Needs praatio (``pip install "whisperkit_nb[exports]"``).
    """
    one_file(df, "TextGrid")
    textgrid = require("praatio.textgrid", "praatio", "TextGrid export")
    segs = segments(df)
    facts = list(df.attrs.get("files", {}).values())
    ends = [s.end for s in segs] + [w["end"] for w in words_of(segs)]
    known = facts[0].get("duration") if len(facts) == 1 else None
    end_time = max([duration or known or 0.0, *ends, 0.001])
    grid = textgrid.Textgrid(0.0, end_time)
    names = list(dict.fromkeys(s.speaker for s in segs)) if has_speakers(segs) else [None]
    for name in names:
        items = [(s.start, s.end, clean(s.text)) for s in segs if s.speaker == name]
        tier_name = name if name is not None else NO_SPEAKER_TIER
        if name is None and has_speakers(segs):
            tier_name = "no speaker"
        grid.addTier(textgrid.IntervalTier(tier_name, no_overlap(items), 0.0, end_time))
    if words and "words" in df.columns:
        items = [(w["start"], w["end"], clean(w["word"])) for w in words_of(segs)]
        grid.addTier(textgrid.IntervalTier(WORDS_TIER, no_overlap(items), 0.0, end_time))
    with atomic_path(path) as partial:
        grid.save(str(partial), format="long_textgrid", includeBlankSpaces=True)
