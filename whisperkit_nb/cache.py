"""Where whisperkit_nb keeps files it derives once and reuses (joined packs, converted models)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Return whisperkit_nb's cache root; the directory may not exist yet.

    Returns
    -------
    pathlib.Path
        ``$WHISPERKIT_NB_CACHE`` when set, else ``$XDG_CACHE_HOME/whisperkit_nb``, else
        ``~/.cache/whisperkit_nb``.
    """
    own = os.environ.get("WHISPERKIT_NB_CACHE")
    if own:
        return Path(own).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "whisperkit_nb"
    return Path.home() / ".cache" / "whisperkit_nb"
