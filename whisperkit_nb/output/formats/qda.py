"""Transcripts for qualitative data analysis tools, with time stamps they link to the media.

Each follows the import format its tool documents (see the README's Exports section for the menus):
MAXQDA's "Transcript with Timestamps" (aTrain's ``_maxqda.txt`` layout), NVivo's "Import Transcript
Rows" (a tab-delimited table with a Timespan column) and ATLAS.ti's transcripts with f4/f5 time stamps.
"""

from __future__ import annotations

import os

import pandas as pd

from whisperkit_nb.output.formats._common import atomic, clean, hms, one_file, segments, turns


def write_maxqda(df: pd.DataFrame, path: str | os.PathLike, *, speaker_lines: bool = True) -> None:
    """MAXQDA, Import > Transcripts > "Transcript with Timestamps" (then choose the media file): one
    paragraph per speaker turn, the speaker's name on its own line, each segment in it preceded by its
    start as ``[hh:mm:ss] - ``, the layout aTrain's ``transcription_maxqda.txt`` uses and MAXQDA reads.

    Options
    -------
    speaker_lines : bool, default True
        The speaker's name on a line of its own before each turn (only when the transcript has speakers).

    Speaker names are written as they are: avoid names that look like ``hh:mm:ss`` (MAXQDA would read
    them as time stamps). Written UTF-8 with a byte-order mark, which MAXQDA uses to detect the encoding.
    """
    one_file(df, "MAXQDA transcript")
    blocks = []
    for turn in turns(segments(df)):
        text = " ".join(f"[{hms(s.start)}] - {clean(s.text)}" for s in turn.segments)
        blocks.append(f"{turn.speaker}\n{text}" if speaker_lines and turn.speaker else text)
    with atomic(path) as out:
        out.write("\ufeff" + "\n\n".join(blocks) + ("\n" if blocks else ""))


def write_nvivo(df: pd.DataFrame, path: str | os.PathLike, *, header: bool = True) -> None:
    """NVivo, open the audio/video document > Edit > Transcript > Import Rows: a tab-delimited table, one
    row per segment in time order, columns ``Timespan`` (``hh:mm:ss.s - hh:mm:ss.s``), ``Content`` and
    ``Speaker`` (NVivo's custom transcript field; map it in the import dialog or leave it out).

    Options
    -------
    header : bool, default True
        The first row names the columns (NVivo's "first row contains field names").

    Tabs and newlines in the text become spaces. UTF-8 with a byte-order mark.
    """
    one_file(df, "NVivo transcript")
    rows = ["Timespan\tContent\tSpeaker"] if header else []
    for s in segments(df):
        rows.append(f"{hms(s.start, decimals=1)} - {hms(s.end, decimals=1)}\t{clean(s.text)}\t{clean(s.speaker)}")
    with atomic(path) as out:
        out.write("\ufeff" + "".join(r + "\n" for r in rows))


def f4_stamp(seconds: float) -> str:
    """f4/f5transkript's time stamp, ``#hh:mm:ss-d#`` (tenths after the dash)."""
    return "#" + hms(seconds, decimals=1, sep="-") + "#"


def write_atlasti(df: pd.DataFrame, path: str | os.PathLike, *, by_turn: bool = False) -> None:
    """ATLAS.ti: a transcript with f4/f5 time stamps, which ATLAS.ti synchronises with the media (add the
    media file, then import this file as its transcript: Import > Transcript / "Add transcript" on the
    multimedia document). One paragraph per segment: ``Speaker: text #hh:mm:ss-d#``, the stamp at the
    paragraph's end giving where it ends, as f4 writes it; the first paragraph starts with the first
    segment's start stamp.

    Options
    -------
    by_turn : bool, default False
        One paragraph per speaker turn instead of per segment (coarser synchronisation).
    """
    one_file(df, "ATLAS.ti transcript")
    segs = segments(df)
    groups = turns(segs) if by_turn else [turn for s in segs for turn in turns([s])]
    paragraphs = []
    for i, turn in enumerate(groups):
        lead = f4_stamp(turn.start) + " " if i == 0 else ""
        who = f"{turn.speaker}: " if turn.speaker else ""
        paragraphs.append(f"{lead}{who}{turn.text} {f4_stamp(turn.end)}")
    with atomic(path) as out:
        out.write("\ufeff" + "\n\n".join(paragraphs) + ("\n" if paragraphs else ""))
