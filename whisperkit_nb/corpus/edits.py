"""Edits: a researcher's corrections of a stored transcript, kept beside the machine results as an overlay.

Layout (inside the store, see `whisperkit_nb.corpus.store`)::

    edits/<digest of the input's name>.parquet   one input's corrected rows (words as JSON), and in its
                                                  Parquet metadata: the input's name and audio, the machine
                                                  result the edits were made on (its file and a digest of
                                                  its rows), when they were saved

An overlay holds every row of its input, as corrected (text, times, renamed speakers; ``edited`` and
``text_original`` when the editor keeps them), so reading it back needs nothing else: a `Corpus` frame shows
the overlay's rows in place of the input's machine rows. Runs never write, move or delete anything in
``edits/``: re-running, resuming, or running with other options keeps every overlay. When a run gives an input
another machine result (other options, another model, ``overwrite=True`` with different rows), the overlay
still wins, and the input's facts say ``edits_on_older_result: True`` so the corrections can be reviewed
against the new text; `save_edits` with ``reviewed=True`` moves them onto the current result.

Saving takes no store lock: a run never touches ``edits/``, so corrections can be saved while a run goes on
(in another kernel); each save replaces the overlay atomically (`whisperkit_nb.corpus.store.atomic_write`), and the last save wins.
An overlay is found by the input's name, or, for an input whose name has none (a moved or renamed folder),
by an overlay of the same audio that no other input's name claims.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from whisperkit_nb.corpus.store import FACTS_KEY, MANIFEST, Store, StoreError

EDITS = "edits"
#: Leftover temporary files of saves killed mid-write are deleted by the next save once this old (seconds):
#: a save in progress (in another kernel) is never that slow.
LEFTOVER_AGE_S = 3600.0
# The machine rows' columns a digest covers: a change in any is a change the corrections were not made on.
_DIGEST_COLUMNS = ("start", "end", "text", "speaker")


@dataclass(frozen=True)
class Overlay:
    """One overlay file and the facts in its metadata (``file``, ``audio``, ``result``, ``result_digest``,
    ``saved``, ``rows``); ``error`` says why its facts could not be read (a torn or foreign file)."""

    path: Path
    facts: dict[str, Any]
    error: str | None = None


def edits_folder(store: str | os.PathLike) -> Path:
    return Store(store).root / EDITS


def overlay_path(store: str | os.PathLike, file: str) -> Path:
    """Where ``file``'s overlay lives: named by a digest of the input's name, which may hold any character."""
    return edits_folder(store) / f"{hashlib.sha256(str(file).encode()).hexdigest()[:32]}.parquet"


def save_edits(store: str | os.PathLike, file: str, rows: pd.DataFrame, *, reviewed: bool = False) -> Path:
    """Store ``rows``, the corrected transcript of the corpus input ``file``, as its overlay; returns its path.

    Parameters
    ----------
    store : path
        The store folder (a corpus frame's ``attrs["store"]``).
    file : str
        The input, as the corpus names it (its ``file`` column).
    rows : DataFrame
        Every row of that input, corrected (columns as `transcribe`'s, plus ``edited`` and ``text_original``
        when the editor keeps them); rows of another input are refused.
    reviewed : bool, default False
        Record the edits as made on the input's current machine result. By default the first save records
        the machine result the rows were read with (``rows.attrs["files"][file]["result"]``, else the one the
        store holds now) and later saves keep it, so a changed result stays flagged until someone reviews it.

    Raises
    ------
    StoreError
        The folder holds no corpus, or no input named ``file``.
    ValueError
        ``rows`` is not a transcript of that one input.
    """
    folder = Store(store)
    entries = _entries(folder)
    entry = next((e for e in entries if e.get("file") == file), None)
    if entry is None:
        raise StoreError(f"The corpus in {str(folder.root)!r} has no input {file!r}: its edits were not saved. "
                         "Open the corpus again (open_corpus) and edit its frame.")
    _check_rows(rows, file)
    path = overlay_path(store, file)
    # the overlay the rows were read with: the input's own, or (a moved input) the one found by its audio
    before = _peek(path) if path.is_file() else find_overlays(store, entries).get(file)
    base = _base(folder, entry, rows, before, reviewed)
    stored = rows.drop(columns=[c for c in entry.get("metadata", {}) if c in rows.columns and c != "file"])
    stored = stored.reset_index(drop=True)
    stored["file"] = file
    facts = {"file": file, "audio": entry.get("audio"), **base, "saved": _now(), "rows": len(stored)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"Cannot save the edits of {file!r}: {path.parent} is not writable "
                         f"({err.strerror or err}).") from err
    _remove_leftovers(path.parent)
    try:
        folder.write_result(path, stored, {"edits": facts})
    except OSError as err:
        raise StoreError(f"Cannot save the edits of {file!r} to {path} ({err.strerror or err}); the overlay "
                         "saved before, if any, is unchanged.") from err
    return path


def discard_edits(store: str | os.PathLike, file: str) -> list[Path]:
    """Delete ``file``'s overlay (and an overlay of its audio that a frame would apply to it): its machine
    result shows again. Returns the files deleted (none when it had no edits)."""
    folder = Store(store)
    entries = folder.read_manifest()["inputs"]
    overlay = find_overlays(store, entries).get(file)
    paths = {overlay_path(store, file)} | ({overlay.path} if overlay is not None else set())
    removed = []
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def read_overlay(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """An overlay's rows and facts; a torn or unreadable file raises `StoreError` naming it."""
    try:
        frame, info = Store.read_result(path)
    except Exception as err:  # noqa: BLE001 - pyarrow's errors have no common base worth naming
        raise StoreError(_unreadable(path, err)) from err
    if "edits" not in info:
        raise StoreError(_unreadable(path, "no edits facts in its metadata"))
    return frame, info["edits"]


def find_overlays(store: str | os.PathLike, entries: list[dict[str, Any]]) -> dict[str, Overlay]:
    """Each input of ``entries`` that has an overlay, by name: its own, else (a moved or renamed input) one
    made on the same audio whose input no entry names. Reads the overlays' metadata only."""
    folder = edits_folder(store)
    if not folder.is_dir():
        return {}
    names = {e["file"] for e in entries}
    peeked = {path: _peek(path) for path in sorted(folder.glob("*.parquet"))}
    orphans: dict[str, Overlay] = {}
    for overlay in peeked.values():
        audio = overlay.facts.get("audio")
        if overlay.facts.get("file") not in names and audio:
            if audio not in orphans or str(overlay.facts.get("saved")) > str(orphans[audio].facts.get("saved")):
                orphans[audio] = overlay  # the latest save of that audio
    found: dict[str, Overlay] = {}
    for entry in entries:
        own = peeked.get(overlay_path(store, entry["file"]))
        if own is not None:
            found[entry["file"]] = own
        elif entry.get("audio") in orphans:
            found[entry["file"]] = orphans[entry["audio"]]
    return found


def rows_digest(frame: pd.DataFrame) -> str:
    """A digest of a machine result's rows (times, text, speakers): what `edits_on_older_result` compares."""
    columns = [c for c in _DIGEST_COLUMNS if c in frame.columns]
    rows = [[_plain(v) for v in row] for row in frame[columns].itertuples(index=False, name=None)]
    return hashlib.sha256(json.dumps([columns, rows]).encode()).hexdigest()[:32]


def on_older_result(overlay_facts: dict[str, Any], machine: pd.DataFrame) -> bool:
    """True when ``machine`` (the input's current machine rows) is not the result the edits were made on."""
    return overlay_facts.get("result_digest") != rows_digest(machine)


# Helpers -------------------------------------------------------------------------------------------------


def _entries(folder: Store) -> list[dict[str, Any]]:
    if not (folder.root / MANIFEST).is_file():
        raise StoreError(f"{str(folder.root)!r} holds no corpus ({MANIFEST} is missing): edits are saved into "
                         "the store of a transcribe_corpus run.")
    return folder.read_manifest()["inputs"]


def _check_rows(rows: Any, file: str) -> None:
    if not isinstance(rows, pd.DataFrame):
        raise ValueError(f"The edits of {file!r} must be a DataFrame of its rows, not {type(rows).__name__}.")
    missing = {"start", "end", "text"} - set(rows.columns)
    if missing:
        raise ValueError(f"The edits of {file!r} lack the column(s) {', '.join(sorted(missing))}.")
    if "file" in rows.columns:
        others = sorted({str(f) for f in rows["file"] if not _missing(f) and f != file})
        if others:
            raise ValueError(f"The edits of {file!r} hold rows of other inputs too ({', '.join(others[:3])}): "
                             "save each input's rows on their own.")


def _base(folder: Store, entry: dict[str, Any], rows: pd.DataFrame, before: Overlay | None,
          reviewed: bool) -> dict[str, Any]:
    """The machine result the edits are made on: kept from an earlier save unless ``reviewed``."""
    if not reviewed and before is not None and before.error is None:  # a torn overlay's base is lost with it
        return {"result": before.facts.get("result"), "result_digest": before.facts.get("result_digest")}
    seen = (rows.attrs.get("files") or {}).get(entry["file"]) or {}
    result = entry.get("result") if reviewed else seen.get("result") or entry.get("result")
    digest = None
    if result and (folder.root / result).is_file():
        machine, _ = Store.read_result(folder.root / result)
        digest = rows_digest(machine)
    return {"result": result, "result_digest": digest}


def _peek(path: Path) -> Overlay:
    import pyarrow.parquet as pq

    try:
        info = json.loads((pq.read_schema(path).metadata or {}).get(FACTS_KEY, b"{}"))
        return Overlay(path, dict(info["edits"]))
    except Exception as err:  # noqa: BLE001 - reported with the overlay, raised when its rows are read
        return Overlay(path, {}, _unreadable(path, err))


def _unreadable(path: Path, err: Any) -> str:
    return (f"The edits overlay {path} cannot be read ({err}); the machine result is untouched. Restore the "
            "file from a backup, or drop it with corpus.discard_edits(file) to use the machine result.")


def _remove_leftovers(folder: Path) -> None:
    """Temporary files of saves killed mid-write, once old enough that no save can still be writing them."""
    for leftover in folder.glob(".tmp-*"):
        with contextlib.suppress(OSError):
            if time.time() - leftover.stat().st_mtime > LEFTOVER_AGE_S:
                leftover.unlink()


def _plain(value: Any) -> Any:
    if _missing(value):
        return None
    if hasattr(value, "item"):
        value = value.item()
    return round(value, 6) if isinstance(value, float) else value


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat(timespec="seconds")
