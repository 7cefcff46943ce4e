"""The notebook layer: magics, control panel, run progress and the playback-aligned transcript player.

It sits on top of the core (which never imports it). ``%load_ext whisperkit_nb`` registers the magics;
`controls.controls` and `player.player` build the widgets (``whisperkit_nb.controls()`` and
``whisperkit_nb.player(df)``); importing this package adds the ``df.whisperkit`` accessor. Widget libraries
(ipywidgets, anywidget) are imported only when a widget is built.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from whisperkit_nb.notebook.state import SESSION

__all__ = ["SESSION", "WhisperkitAccessor", "load_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%transcribe``, ``%%transcribe`` and ``%whisperkit``."""
    from whisperkit_nb.notebook.magics import WhisperkitMagics

    ipython.register_magics(WhisperkitMagics)


@pd.api.extensions.register_dataframe_accessor("whisperkit")
class WhisperkitAccessor:
    """``df.whisperkit.player()``: the transcript player for a whisperkit_nb DataFrame."""

    def __init__(self, df: pd.DataFrame) -> None:
        self._df = df

    def player(self, audio: Any = None, **kwargs: Any):
        """See `whisperkit_nb.notebook.player.player`."""
        from whisperkit_nb.notebook.player import player

        return player(self._df, audio, **kwargs)
