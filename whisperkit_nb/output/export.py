"""Exports: `export` one transcript to any format, `export_corpus` one file per input and format, and
`read_transcript` to read our JSON (or WhisperX's, or insanely-fast-whisper's) back into a DataFrame.

The formats, their file endings and their options are in `whisperkit_nb.output.formats` (``FORMATS``);
each writer's docstring documents its options.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from whisperkit_nb.errors import OptionsError
from whisperkit_nb.output.formats import FORMATS, Format, format_for_path, format_named

__all__ = ["FORMATS", "export", "export_corpus", "format_options", "read_transcript"]


def format_options(fmt: str | Format) -> list[str]:
    """The options a format's writer takes (its keyword-only parameters)."""
    fmt = format_named(fmt) if isinstance(fmt, str) else fmt
    parameters = inspect.signature(fmt.writer()).parameters.values()
    return [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]


def export(df: pd.DataFrame, path: str | os.PathLike, format: str | None = None, **options: Any) -> Path:
    """Write the transcript ``df`` to ``path`` in ``format`` and return the path.

    Parameters
    ----------
    df : DataFrame
        A transcript as `transcribe` returns it (or `read_transcript` reads back).
    path : path
        The file to write (its folder is created; the file appears whole or not at all).
    format : str, optional
        One of ``FORMATS`` (json, txt, srt, vtt, tsv, audacity, whisperx, ifw, rttm, textgrid, eaf, docx,
        maxqda, nvivo, atlasti, html). Default: from the file name's ending (``.srt``, ``.TextGrid``,
        ``.whisperx.json``, ``.maxqda.txt``, ...).
    **options
        The format's options (see its writer's docstring, e.g. ``layout="interview"`` for txt); an option
        the format does not take raises `OptionsError`.

    Formats tied to one recording (all but json and rttm) refuse a DataFrame of several files: use
    `export_corpus` for one file per input.
    """
    fmt = format_named(format) if format is not None else format_for_path(path)
    accepted = format_options(fmt)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise OptionsError(f"{fmt.name} export takes no option {', '.join(map(repr, unknown))}; its options: "
                           f"{', '.join(accepted) or 'none'}.")
    fmt.writer()(df, path, **options)
    return Path(path)


def read_transcript(path: str | os.PathLike) -> pd.DataFrame:
    """Read a JSON transcript into our DataFrame.

    Our JSON (``export(df, "x.json")``) comes back as the same DataFrame: columns, dtypes, values and
    ``attrs`` (per-file facts; tuples come back as lists). WhisperX's JSON (``segments``) and
    insanely-fast-whisper's (``chunks``) are converted: the columns Whisper's decoding fills and they lack
    (``avg_logprob``, ...) are NaN, and ``file`` is the JSON's name without its endings.
    """
    from whisperkit_nb.output.formats import ours, peers

    path = Path(path)
    try:
        document = ours.load(path)
    except (OSError, ValueError) as err:
        raise OptionsError(f"{str(path)!r}: not a readable JSON transcript ({err}).") from err
    if ours.is_ours(document):
        return ours.read_json(document)
    name = path.name
    for ending in (".json", ".whisperx", ".ifw"):
        name = name[: -len(ending)] if name.lower().endswith(ending) else name
    if peers.is_whisperx(document):
        return peers.read_whisperx(document, name)
    if peers.is_ifw(document):
        return peers.read_ifw(document, name)
    raise OptionsError(f"{str(path)!r}: not a transcript this package reads (our JSON, WhisperX's JSON with "
                       "'segments', or insanely-fast-whisper's with 'chunks').")


FrameSource = pd.DataFrame | Mapping[str, pd.DataFrame] | Iterable[tuple[str, pd.DataFrame]]


def frames_by_file(frames: FrameSource) -> list[tuple[str, pd.DataFrame]]:
    """``(input name, its DataFrame)`` pairs from a DataFrame of several files (grouped by ``file``, each
    with its own ``attrs["files"]`` fact; inputs with no segments, known from ``attrs["files"]``, give an
    empty frame), a mapping, or an iterable of pairs."""
    if isinstance(frames, pd.DataFrame):
        facts = frames.attrs.get("files", {})
        names = list(dict.fromkeys([*(frames["file"] if "file" in frames.columns else []), *facts]))
        pairs = []
        for name in names:
            part = frames[frames["file"] == name].reset_index(drop=True) if "file" in frames.columns else frames
            part.attrs = {"files": {name: facts[name]} if name in facts else {}}
            pairs.append((str(name), part))
        return pairs
    items = frames.items() if isinstance(frames, Mapping) else frames
    return [(str(name), frame) for name, frame in items]


def export_corpus(frames: FrameSource, folder: str | os.PathLike, formats: str | Sequence[str] = ("json",),
                  **options: Any) -> dict[str, list[Path]]:
    """Write each input's transcript to ``folder`` in each of ``formats``: ``<input stem><format suffix>``
    (``talk.srt``, ``talk.TextGrid``, ``talk.maxqda.txt``; two inputs with the same stem get ``-2``, ...).

    Parameters
    ----------
    frames : DataFrame, mapping or iterable of pairs
        A DataFrame of several inputs (a corpus's ``frame``, or `transcribe` on a list), grouped by its
        ``file`` column; or ``{input name: DataFrame}``; or ``(name, DataFrame)`` pairs.
    folder : path
        Created if missing.
    formats : str or sequence of str, default ("json",)
        Format names (``"srt,vtt,eaf"`` works too).
    **options
        Given to every chosen format that takes them (``layout="interview"`` reaches txt only); an option
        no chosen format takes raises `OptionsError`.

    Returns the written paths by input name.
    """
    names = [f.strip() for f in formats.split(",")] if isinstance(formats, str) else list(formats)
    chosen = list(dict.fromkeys(format_named(f) for f in names if f))
    if not chosen:
        raise OptionsError("export_corpus: no formats given; formats: " + ", ".join(FORMATS) + ".")
    accepted = {f.name: set(format_options(f)) for f in chosen}
    unused = sorted(set(options) - set().union(*accepted.values()))
    if unused:
        raise OptionsError(f"no chosen format ({', '.join(accepted)}) takes the option(s) {', '.join(unused)}.")
    folder = Path(folder)
    written: dict[str, list[Path]] = {}
    stems: set[str] = set()
    for name, frame in frames_by_file(frames):
        stem = Path(name).stem or "transcript"
        unique, n = stem, 1
        while unique.lower() in stems:
            n += 1
            unique = f"{stem}-{n}"
        stems.add(unique.lower())
        paths = written.setdefault(name, [])
        for fmt in chosen:
            kwargs = {k: v for k, v in options.items() if k in accepted[fmt.name]}
            paths.append(export(frame, folder / f"{unique}{fmt.suffix}", fmt.name, **kwargs))
    return written
