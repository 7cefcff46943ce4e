"""RTTM: speaker turns in the diarization research format (pyannote, dscore, md-eval)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from whisperkit_nb.output.formats._common import atomic, segments


def _token(text: str) -> str:
    # RTTM fields are separated by whitespace: names keep their letters, spaces become underscores.
    return "_".join(str(text).split()) or "<NA>"


def write_rttm(df: pd.DataFrame, path: str | os.PathLike, *, uri: str | None = None, merge: bool = False) -> None:
    """RTTM, one ``SPEAKER <uri> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>`` line per segment with
    a speaker, times in seconds to the millisecond. Several inputs may share one file (one uri each).

    Options
    -------
    uri : str, optional
        The recording's name in column 2. Default: each input's file name without its extension.
    merge : bool, default False
        One line per speaker turn (consecutive segments of one speaker joined, gaps included) instead of
        one per segment.

    Segments without a speaker are left out (a transcript without speakers gives an empty file), and
    whitespace in names becomes ``_`` (RTTM fields are whitespace-separated).
    """
    lines = []
    files = df["file"] if "file" in df.columns else [None] * len(df)
    rows = list(zip(files, segments(df)))
    turns: list[list] = []
    for name, s in rows:
        if not s.speaker:
            continue
        label = _token(uri if uri is not None else Path(str(name)).stem if name else "audio")
        if merge and turns and turns[-1][0] == label and turns[-1][3] == s.speaker:
            turns[-1][2] = max(turns[-1][2], s.end)
        else:
            turns.append([label, s.start, s.end, s.speaker])
    for label, start, end, speaker in turns:
        duration = max(0.0, end - start)
        lines.append(f"SPEAKER {label} 1 {start:.3f} {duration:.3f} <NA> <NA> {_token(speaker)} <NA> <NA>\n")
    with atomic(path) as out:
        out.writelines(lines)
