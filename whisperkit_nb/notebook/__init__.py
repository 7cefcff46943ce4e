"""The notebook layer: magics, control panel, run progress, the transcript display and the player.

It sits on top of the core (which never imports it). ``%load_ext whisperkit_nb`` registers the magics;
`controls.controls` and `player.player` build the widgets (``whisperkit_nb.controls()`` and
``whisperkit_nb.player(df)``); importing this package adds the ``df.whisperkit`` accessor. In an IPython
kernel, ``%load_ext whisperkit_nb`` and importing this package both register the readable HTML display of
transcript DataFrames (`display`) and refresh the control panels after each cell, so a panel shows what
the last ``%transcribe`` used. Widget libraries (ipywidgets, anywidget) are imported only when a widget is
built.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from whisperkit_nb.notebook.state import SESSION

__all__ = ["SESSION", "WhisperkitAccessor", "attach", "load_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%transcribe``, ``%%transcribe`` and ``%whisperkit``, and the transcript display."""
    from whisperkit_nb.notebook.magics import WhisperkitMagics

    ipython.register_magics(WhisperkitMagics)
    attach(ipython)


def attach(ipython: Any) -> None:
    """The transcript DataFrames' HTML display, and the panels' refresh after each cell (idempotent)."""
    from whisperkit_nb.notebook import display

    display.register(ipython)
    if _after_cell not in ipython.events.callbacks["post_run_cell"]:
        ipython.events.register("post_run_cell", _after_cell)


def _after_cell(_result: Any = None) -> None:
    # Only panels that exist need it: the widget libraries are not imported for this.
    controls = sys.modules.get("whisperkit_nb.notebook.controls")
    if controls is not None:
        controls.refresh_panels()


def _running_shell() -> Any:
    """The IPython shell this package is imported in, or None (IPython not even imported: no shell)."""
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


def _writer(name: str):
    """``df.whisperkit.to_<name>(path, **options)``: `whisperkit_nb.export` in format ``name``."""

    def write(self, path: str | os.PathLike, **options: Any) -> Path:
        from whisperkit_nb.output.export import export

        return export(self._df, path, name, **options)

    write.__name__ = f"to_{name}"
    write.__doc__ = (f"Write this transcript as {name} to ``path`` and return the path; ``options`` are the "
                     f"format's (see ``whisperkit_nb.output.formats.FORMATS['{name}'].writer()``'s docstring).")
    return write


@pd.api.extensions.register_dataframe_accessor("whisperkit")
class WhisperkitAccessor:
    """``df.whisperkit.player()``: the transcript player for a whisperkit_nb DataFrame; ``df.whisperkit.export(path)``
    and ``df.whisperkit.to_srt(path)``, ``.to_vtt``, ``.to_eaf``, ... write it in any export format."""

    def __init__(self, df: pd.DataFrame) -> None:
        self._df = df

    def player(self, audio: Any = None, **kwargs: Any):
        """See `whisperkit_nb.notebook.player.player`."""
        from whisperkit_nb.notebook.player import player

        return player(self._df, audio, **kwargs)

    def export(self, path: str | os.PathLike, format: str | None = None, **options: Any) -> Path:
        """Write this transcript to ``path`` (format from the file name unless given); see
        `whisperkit_nb.export` for the formats and their options."""
        from whisperkit_nb.output.export import export

        return export(self._df, path, format, **options)

    to_json = _writer("json")
    to_txt = _writer("txt")
    to_srt = _writer("srt")
    to_vtt = _writer("vtt")
    to_tsv = _writer("tsv")
    to_audacity = _writer("audacity")
    to_whisperx = _writer("whisperx")
    to_ifw = _writer("ifw")
    to_rttm = _writer("rttm")
    to_textgrid = _writer("textgrid")
    to_eaf = _writer("eaf")
    to_docx = _writer("docx")
    to_maxqda = _writer("maxqda")
    to_nvivo = _writer("nvivo")
    to_atlasti = _writer("atlasti")
    to_html = _writer("html")


if (_shell := _running_shell()) is not None:
    attach(_shell)
