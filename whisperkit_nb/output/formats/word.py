"""A Word document (through python-docx): a readable interview transcript."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from whisperkit_nb.output.formats._common import atomic_path, hms, one_file, require, segments, turns

PARAGRAPH_STYLE = "Normal"


def write_docx(df: pd.DataFrame, path: str | os.PathLike, *, title: str | None = None, timestamps: bool = True,
               line_numbers: bool = False, by_turn: bool = True) -> None:
    """A Word (.docx) transcript: a title, a line naming the speakers, then one paragraph per speaker turn
    (or per segment), each starting with ``[hh:mm:ss]`` and the speaker's name in bold.

    Options
    -------
    title : str, optional
        Default: the input's file name (``Transcript`` for in-memory audio).
    timestamps : bool, default True
        The ``[hh:mm:ss]`` at the start of each paragraph.
    line_numbers : bool, default False
        Number the lines in the margin (Word's line numbering, counting through the document), for
        citing passages as "lines 12-18".
    by_turn : bool, default True
        One paragraph per speaker turn (consecutive segments of one speaker); False: one per segment.

    Needs python-docx (``pip install "whisperkit_nb[exports]"``).
    """
    docx = require("docx", "python-docx", "Word (.docx) export")
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    name = one_file(df, "docx")
    segs = segments(df)
    document = docx.Document()
    document.core_properties.title = title or (Path(name).name if name and name != "<array>" else "Transcript")
    document.add_heading(document.core_properties.title, level=0)
    speakers = list(dict.fromkeys(s.speaker for s in segs if s.speaker))
    document.add_paragraph("Speakers: " + (", ".join(speakers) if speakers else "not identified"))
    groups = turns(segs) if by_turn else [turn for s in segs for turn in turns([s])]
    for turn in groups:
        paragraph = document.add_paragraph(style=PARAGRAPH_STYLE)
        if timestamps:
            paragraph.add_run(f"[{hms(turn.start)}] ")
        if turn.speaker:
            paragraph.add_run(f"{turn.speaker}:").bold = True
            paragraph.add_run(" ")
        paragraph.add_run(turn.text)
    if line_numbers:
        numbering = OxmlElement("w:lnNumType")
        numbering.set(qn("w:countBy"), "1")
        numbering.set(qn("w:restart"), "continuous")
        section = document.sections[-1]._sectPr
        columns = section.find(qn("w:cols"))  # lnNumType comes before cols in the schema's order
        if columns is not None:
            columns.addprevious(numbering)
        else:
            section.append(numbering)
    with atomic_path(path) as partial:
        document.save(str(partial))
