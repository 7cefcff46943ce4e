"""`Corpus`: a store read back as DataFrames; `open_corpus` reopens one from another kernel or process."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import pandas as pd

from whisperkit_nb.corpus.store import MANIFEST, Store, StoreError

#: The columns of `Corpus.files`, before the manifest's metadata columns.
FILE_COLUMNS = ("file", "status", "error", "duration", "language", "speakers", "engine", "model", "seconds")
STATUSES = ("done", "failed", "pending")


@dataclass
class Corpus:
    """The inputs of a corpus run and their results, read from its store.

    Attributes
    ----------
    store : str
        The store folder.
    entries : list of dict
        The manifest's records, one per input in input order (see `whisperkit_nb.corpus.store`).
    skipped : int
        Inputs found already done when this run started (0 for `open_corpus`).
    interrupted : bool
        True when a KeyboardInterrupt stopped the run: finished inputs are stored, the rest are pending.
    """

    store: str
    entries: list[dict[str, Any]]
    skipped: int = 0
    interrupted: bool = False

    @functools.cached_property
    def files(self) -> pd.DataFrame:
        """One row per input: `FILE_COLUMNS` (status "done", "failed" or "pending"), then its metadata."""
        rows = [{**{c: entry.get(c) for c in FILE_COLUMNS}, **entry.get("metadata", {})} for entry in self.entries]
        return pd.DataFrame(rows, columns=list(dict.fromkeys([*FILE_COLUMNS, *self._metadata_columns()])))

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        """Every done input's segments, in input order, as `transcribe` returns them, plus the metadata columns.

        ``attrs["files"]`` holds each done input's facts (as ``transcribe``'s ``df.attrs["files"]``).
        """
        parts, facts = [], {}
        metadata = self._metadata_columns()
        for entry in self.entries:
            if entry.get("status") != "done":
                continue
            frame, info = Store.read_result(Store(self.store).root / entry["result"])
            frame["file"] = entry["file"]
            for column in metadata:
                frame[column] = [entry.get("metadata", {}).get(column)] * len(frame)
            parts.append(frame)
            facts[entry["file"]] = {**info.get("facts", {}), "name": entry["file"]}
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["file", "start", "end", "text"])
        frame.attrs["files"] = facts
        frame.attrs["failures"] = self.failures
        return frame

    @functools.cached_property
    def words(self) -> pd.DataFrame:
        """One row per word (`whisperkit_nb.words_frame`), plus the metadata columns."""
        from whisperkit_nb.output.dataframe import words_frame

        words = words_frame(self.frame)
        by_file = {entry["file"]: entry.get("metadata", {}) for entry in self.entries}
        for column in self._metadata_columns():
            words[column] = [by_file.get(name, {}).get(column) for name in words["file"]]
        return words

    @property
    def failures(self) -> dict[str, str]:
        """Each failed input and its reason."""
        return {entry["file"]: entry.get("error") or "" for entry in self.entries if entry.get("status") == "failed"}

    def export(self, folder: str | os.PathLike, formats: Any = ("json",), **options: Any) -> Any:
        """Each done input's transcript into ``folder``, one file per format and input (options go to the
        formats that take them; see `whisperkit_nb.output.export.export_corpus`)."""
        from whisperkit_nb.output.export import export_corpus

        return export_corpus(self.frame, folder, formats, **options)

    def counts(self) -> dict[str, int]:
        """Inputs per status."""
        return {status: sum(entry.get("status") == status for entry in self.entries) for status in STATUSES}

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {status}" for status, n in self.counts().items())
        return f"Corpus({self.store!r}: {len(self.entries)} inputs, {counts})"

    def _metadata_columns(self) -> list[str]:
        return list(dict.fromkeys(c for entry in self.entries for c in entry.get("metadata", {})))


def open_corpus(store: str | os.PathLike) -> Corpus:
    """The corpus a `transcribe_corpus` run left in ``store`` (in any kernel or process; a run may be going on).

    Raises `StoreError` when the folder holds no corpus manifest.
    """
    folder = Store(store)
    if not (folder.root / MANIFEST).is_file():
        raise StoreError(f"{str(folder.root)!r} holds no corpus ({MANIFEST} is missing): run transcribe_corpus first.")
    return Corpus(str(store), folder.read_manifest()["inputs"])
