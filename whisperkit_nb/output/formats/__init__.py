"""The export formats: one small module per format or family, and the table that names them.

Each format is a ``write(df, path, **options)`` function in its module; `FORMATS` maps its name to that
module, imported only when the format is used (so optional libraries such as praatio or python-docx are
needed only for the formats that use them). A new format is one function and one line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from whisperkit_nb.errors import OptionsError


@dataclass(frozen=True)
class Format:
    """An export format.

    Attributes
    ----------
    name : str
        What ``format=`` and ``--formats`` take.
    suffix : str
        The file name ending written (``export_corpus`` names files ``<input stem><suffix>``).
    module, function : str
        Where the writer lives (``whisperkit_nb.output.formats.<module>.<function>``).
    description : str
        What reads it.
    """

    name: str
    suffix: str
    module: str
    function: str
    description: str

    def writer(self) -> Callable:
        return getattr(importlib.import_module(f"{__name__}.{self.module}"), self.function)


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("json", ".json", "ours", "write_json", "everything; read back by read_transcript"),
    Format("txt", ".txt", "text", "write_txt", "plain text, or the interview layout (layout='interview')"),
    Format("srt", ".srt", "subtitles", "write_srt", "SubRip subtitles"),
    Format("vtt", ".vtt", "subtitles", "write_vtt", "WebVTT, speakers as <v Name> (EXMARaLDA, ELAN, browsers)"),
    Format("tsv", ".tsv", "text", "write_tsv", "tab-separated start/end in ms, text, speaker (WhisperX's tsv)"),
    Format("audacity", ".audacity.txt", "text", "write_audacity", "Audacity label track (File > Import > Labels)"),
    Format("whisperx", ".whisperx.json", "peers", "write_whisperx", "WhisperX's JSON (segments, words, speaker)"),
    Format("ifw", ".ifw.json", "peers", "write_ifw", "insanely-fast-whisper's JSON (speakers, chunks, text)"),
    Format("rttm", ".rttm", "rttm", "write_rttm", "speaker turns for diarization tools (pyannote, dscore)"),
    Format("textgrid", ".TextGrid", "textgrid", "write_textgrid", "Praat TextGrid: a tier per speaker, a words tier"),
    Format("eaf", ".eaf", "eaf", "write_eaf", "ELAN: a tier per speaker, words tiers, the media linked"),
    Format("docx", ".docx", "word", "write_docx", "Word document: title, speakers, time stamps"),
    Format("maxqda", ".maxqda.txt", "qda", "write_maxqda", "MAXQDA: Import > Transcripts > Transcript with Timestamps"),
    Format("nvivo", ".nvivo.txt", "qda", "write_nvivo", "NVivo: transcript > Import Rows (tab-delimited)"),
    Format("atlasti", ".atlasti.txt", "qda", "write_atlasti", "ATLAS.ti: transcript with f4/f5 time stamps"),
    Format("html", ".html", "page", "write_html", "one self-contained page: audio, transcript, click to seek"),
)}

#: Other names ``format=`` accepts, and the file endings that choose a format.
ALIASES = {"textgrid": "textgrid", "praat": "textgrid", "elan": "eaf", "word": "docx", "webvtt": "vtt",
           "subrip": "srt", "atlas.ti": "atlasti", "atlas": "atlasti", "insanely-fast-whisper": "ifw",
           "labels": "audacity", "htm": "html"}


def format_named(name: str) -> Format:
    """The format called ``name`` (case-insensitive; aliases such as ``praat`` or ``elan`` too)."""
    key = name.strip().lower().lstrip(".")
    key = ALIASES.get(key, key)
    if key not in FORMATS:
        raise OptionsError(f"unknown export format {name!r}; formats: {', '.join(FORMATS)}.")
    return FORMATS[key]


def format_for_path(path: str | Path) -> Format:
    """The format a file name asks for: the longest known ending (``x.whisperx.json`` is WhisperX's,
    ``x.json`` ours)."""
    name = Path(path).name.lower()
    endings = sorted(((f.suffix.lower(), f) for f in FORMATS.values()), key=lambda e: -len(e[0]))
    endings += [(".htm", FORMATS["html"]), (".labels.txt", FORMATS["audacity"])]
    for ending, fmt in sorted(endings, key=lambda e: -len(e[0])):
        if name.endswith(ending):
            return fmt
    raise OptionsError(
        f"{str(path)!r}: cannot tell the export format from the file name; use one of "
        f"{', '.join(f.suffix for f in FORMATS.values())}, or pass format= (one of {', '.join(FORMATS)})."
    )
