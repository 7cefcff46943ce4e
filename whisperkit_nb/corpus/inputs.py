"""A corpus's inputs: a folder, a glob, a list or a manifest, each input a path with its metadata."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from whisperkit_nb.audio.source import expand_inputs
from whisperkit_nb.errors import OptionsError

# What a folder is searched for (lower case): the audio and video containers FFmpeg reads.
MEDIA_EXTENSIONS = frozenset({
    ".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".wma", ".aiff", ".aif", ".amr",
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".mpg", ".mpeg", ".3gp",
})
MANIFEST_EXTENSIONS = (".csv", ".parquet")
PATH_COLUMN = "path"


@dataclass(frozen=True)
class Input:
    """One input of a corpus: its path as given (the ``file`` of its rows) and its manifest metadata."""

    path: str
    metadata: dict[str, Any] = field(default_factory=dict)


def collect_inputs(inputs: Any) -> list[Input]:
    """The inputs, in order, each path once (its first occurrence).

    ``inputs``: a folder (searched recursively for `MEDIA_EXTENSIONS`), a glob pattern, a path, a manifest
    (a ``.csv`` or ``.parquet`` file, or a DataFrame, with a ``path`` column; its other columns are
    metadata), or a list of any of these but manifests. A pattern that matches nothing and a missing path
    are kept, so that they come back as failed rows naming them.
    """
    if isinstance(inputs, pd.DataFrame):
        return _dedupe(_from_manifest(inputs, "the DataFrame"))
    if isinstance(inputs, (str, os.PathLike)) and str(inputs).lower().endswith(MANIFEST_EXTENSIONS) \
            and Path(inputs).is_file():
        return _dedupe(_from_manifest(_read_manifest(Path(inputs)), str(inputs)))
    items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    found: list[Input] = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise OptionsError(f"transcribe_corpus takes paths (files, folders, globs, a manifest), not {type(item).__name__}.")
        found.extend(Input(path) for path in _expand(str(item)))
    return _dedupe(found)


def _expand(item: str) -> list[str]:
    """A folder's media files (recursively); otherwise a glob or a path, as `transcribe` expands them."""
    if os.path.isdir(os.path.expanduser(item)):
        return [str(p) for p in sorted(Path(item).rglob("*")) if p.suffix.lower() in MEDIA_EXTENSIONS and p.is_file()]
    return [str(path) for path in expand_inputs(item)]


def _read_manifest(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    # Relative paths in a manifest file are relative to the manifest, so it can move with its audio.
    if PATH_COLUMN in frame.columns:
        frame[PATH_COLUMN] = [p if os.path.isabs(os.path.expanduser(str(p))) else str(path.parent / str(p))
                              for p in frame[PATH_COLUMN]]
    return frame


def _from_manifest(frame: pd.DataFrame, what: str) -> list[Input]:
    if PATH_COLUMN not in frame.columns:
        raise OptionsError(f"The manifest {what} has no {PATH_COLUMN!r} column (its columns: {', '.join(map(str, frame.columns))}).")
    metadata = [c for c in frame.columns if c != PATH_COLUMN]
    return [Input(str(row[PATH_COLUMN]), {c: _plain(row[c]) for c in metadata}) for _, row in frame.iterrows()]


def _plain(value: Any) -> Any:
    """A manifest cell as a JSON-friendly Python value (numpy scalars to Python, NaN to None)."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _dedupe(found: list[Input]) -> list[Input]:
    seen: dict[str, Input] = {}
    for item in found:
        seen.setdefault(item.path, item)
    return list(seen.values())
