"""`Corpus`: a store read back as DataFrames; `open_corpus` reopens one from another kernel or process.

The frames show each input's edits (`whisperkit_nb.corpus.edits`) in place of its machine rows.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from whisperkit_nb.corpus.edits import (
    Overlay,
    discard_edits,
    find_overlays,
    on_older_result,
    read_overlay,
    save_edits,
)
from whisperkit_nb.corpus.link import CORPUS_SPEAKER, Linking, link_store, stored_linking, with_corpus_speaker
from whisperkit_nb.corpus.store import MANIFEST, Store, StoreError

#: The columns of `Corpus.files`, before the manifest's metadata columns.
FILE_COLUMNS = ("file", "status", "error", "duration", "language", "speakers", "engine", "model", "seconds")
#: After them: whether the input has edits, and whether they were made on another machine result than the
#: one the store now holds for it (None when that cannot be told: no result yet, or an unreadable overlay).
EDIT_COLUMNS = ("edited", "edits_on_older_result")
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
        """One row per input: `FILE_COLUMNS` (status "done", "failed" or "pending"), `EDIT_COLUMNS`, then its
        metadata."""
        rows = [{**{c: entry.get(c) for c in FILE_COLUMNS}, **self._edit_state(entry), **entry.get("metadata", {})}
                for entry in self.entries]
        columns = list(dict.fromkeys([*FILE_COLUMNS, *EDIT_COLUMNS, *self._metadata_columns()]))
        return pd.DataFrame(rows, columns=columns).astype({"edited": "bool", "edits_on_older_result": "object"})

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        """Every done input's segments, in input order, as `transcribe` returns them, plus the metadata columns;
        an input with edits shows its edited rows instead of the machine's (``edited`` and ``text_original``
        columns as the editor saved them; ``edited`` is False on the other inputs' rows).

        ``attrs["files"]`` holds each done input's facts (as ``transcribe``'s ``df.attrs["files"]``), with
        ``result`` (its machine result file in the store) and, for an input with edits, ``edited`` (True),
        ``edits_saved`` (when), ``edits_result`` (the result they were made on) and ``edits_on_older_result``.
        ``attrs["store"]`` is the store folder, for saving edits (`whisperkit_nb.corpus.edits.save_edits`).

        In a linked corpus (a ``link_speakers=True`` run, or `link_speakers`) ``corpus_speaker`` follows
        ``speaker``: one label per voice across the files (`whisperkit_nb.corpus.link`); None on the rows
        of inputs not linked (``attrs["speaker_links"]["unlinked"]`` says why) and on rows whose edited
        speaker is none of the diarized ones. ``attrs["speaker_links"]`` holds the threshold and the labels.

        Raises `StoreError` naming an overlay file that cannot be read (the machine results are untouched).
        """
        parts, facts = [], {}
        metadata = self._metadata_columns()
        root = Store(self.store).root
        for entry in self.entries:
            if entry.get("status") != "done":
                continue
            frame, info = Store.read_result(root / entry["result"])
            facts[entry["file"]] = {**info.get("facts", {}), "name": entry["file"], "result": entry["result"]}
            overlay = self._overlays.get(entry["file"])
            if overlay is not None:
                edited, edit_facts = read_overlay(overlay.path)
                facts[entry["file"]].update(edited=True, edits_saved=edit_facts.get("saved"),
                                            edits_result=edit_facts.get("result"),
                                            edits_on_older_result=on_older_result(edit_facts, frame))
                frame = _in_columns_of(edited, frame)
            frame["file"] = entry["file"]
            for column in metadata:
                frame[column] = [entry.get("metadata", {}).get(column)] * len(frame)
            parts.append(frame)
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["file", "start", "end", "text"])
        _fill_edit_columns(frame)
        frame.attrs["files"] = facts
        frame.attrs["failures"] = self.failures
        frame.attrs["store"] = str(root.absolute())
        return frame if self._linking is None else with_corpus_speaker(frame, self._linking)

    @functools.cached_property
    def words(self) -> pd.DataFrame:
        """One row per word (`whisperkit_nb.words_frame`), plus the metadata columns; ``corpus_speaker`` (the
        word's own speaker, linked) after ``speaker`` in a linked corpus."""
        from whisperkit_nb.output.dataframe import words_frame

        words = words_frame(self.frame)
        by_file = {entry["file"]: entry.get("metadata", {}) for entry in self.entries}
        for column in self._metadata_columns():
            words[column] = [by_file.get(name, {}).get(column) for name in words["file"]]
        return words if self._linking is None else with_corpus_speaker(words, self._linking)

    @property
    def failures(self) -> dict[str, str]:
        """Each failed input and its reason."""
        return {entry["file"]: entry.get("error") or "" for entry in self.entries if entry.get("status") == "failed"}

    def export(self, folder: str | os.PathLike, formats: Any = ("json",), **options: Any) -> Any:
        """Each done input's transcript (with its saved edits) into ``folder``, one file per format and input
        (options go to the formats that take them; see `whisperkit_nb.output.export.export_corpus`)."""
        from whisperkit_nb.output.export import export_corpus

        return export_corpus(self.frame, folder, formats, **options)

    def counts(self) -> dict[str, int]:
        """Inputs per status."""
        return {status: sum(entry.get("status") == status for entry in self.entries) for status in STATUSES}

    @property
    def edited(self) -> list[str]:
        """The inputs that have edits (in input order), whatever their status."""
        return [entry["file"] for entry in self.entries if entry["file"] in self._overlays]

    def save_edits(self, file: str, rows: pd.DataFrame, *, reviewed: bool = False) -> Path:
        """Store ``rows`` as the corrected transcript of the input ``file`` (see
        `whisperkit_nb.corpus.edits.save_edits`); the frames show them from now on."""
        path = save_edits(self.store, file, rows, reviewed=reviewed)
        self._forget()
        return path

    def discard_edits(self, file: str) -> list[Path]:
        """Drop ``file``'s edits from the store: its machine result shows again. Returns the overlay files
        deleted (none when it had no edits)."""
        removed = discard_edits(self.store, file)
        self._forget()
        return removed

    def link_speakers(self, threshold: float | None = None) -> pd.DataFrame:
        """Link the speakers of the done inputs across files (again), from the stored results alone: nothing
        is transcribed or diarized. The linking is stored, so `open_corpus` shows it; a later
        ``link_speakers=True`` run links again, its new inputs included.

        Parameters
        ----------
        threshold : float, optional
            ``speaker_link_threshold`` (cosine similarity; default: the option's default).

        Returns
        -------
        DataFrame
            One row per speaker of each linked input: ``file``, ``speaker`` (as the rows show it),
            ``corpus_speaker``. The corpus's frames show ``corpus_speaker`` from now on.

        Raises
        ------
        StoreError
            A run holds the store.
        """
        from whisperkit_nb.corpus.link import default_threshold

        store = Store(self.store)
        with store.lock("link_speakers"):
            options = store.read_manifest().get("options", {})
            link_store(store, self.entries, default_threshold() if threshold is None else float(threshold),
                       options.get("speaker_names"))
        self._forget()
        return self.speaker_links

    @property
    def speaker_links(self) -> pd.DataFrame:
        """The stored linking: ``file``, ``speaker``, ``corpus_speaker``, one row per linked speaker (empty
        when the corpus was never linked)."""
        links = self._linking.labels if self._linking is not None else {}
        rows = [(file, speaker, label) for file, speakers in links.items() for speaker, label in speakers.items()]
        return pd.DataFrame(rows, columns=["file", "speaker", CORPUS_SPEAKER])

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {status}" for status, n in self.counts().items())
        return f"Corpus({self.store!r}: {len(self.entries)} inputs, {counts})"

    def _forget(self) -> None:
        for name in ("files", "frame", "words", "_overlays", "_linking"):
            self.__dict__.pop(name, None)  # read again on next use

    @functools.cached_property
    def _overlays(self) -> dict[str, Overlay]:
        return find_overlays(self.store, self.entries)

    @functools.cached_property
    def _linking(self) -> Linking | None:
        return stored_linking(Store(self.store), self.entries)

    def _edit_state(self, entry: dict[str, Any]) -> dict[str, Any]:
        overlay = self._overlays.get(entry["file"])
        if overlay is None:
            return {"edited": False, "edits_on_older_result": False}
        older = None
        result = Store(self.store).root / entry["result"] if entry.get("result") else None
        if overlay.error is None and entry.get("status") == "done" and result is not None and result.is_file():
            older = on_older_result(overlay.facts, Store.read_result(result)[0])
        return {"edited": True, "edits_on_older_result": older}

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


def _in_columns_of(edited: pd.DataFrame, machine: pd.DataFrame) -> pd.DataFrame:
    """The edited rows with the machine frame's columns first (a column the editor dropped comes back empty:
    ``words`` as empty lists), then the editor's own (``edited``, ``text_original``)."""
    edited = edited.copy()
    for column in machine.columns:
        if column not in edited.columns:
            edited[column] = [[] for _ in range(len(edited))] if column == "words" else None
    return edited[[*machine.columns, *(c for c in edited.columns if c not in machine.columns)]]


def _fill_edit_columns(frame: pd.DataFrame) -> None:
    """``edited`` False and ``text_original`` None on the rows of inputs without edits (a column only some
    inputs' edits have comes out of the concat as NaN there); ``words`` an empty list where missing."""
    if "edited" in frame.columns:
        frame["edited"] = pd.Series([isinstance(v, (bool, np.bool_)) and bool(v) for v in frame["edited"]],
                                    dtype="bool", index=frame.index)
    if "text_original" in frame.columns:
        frame["text_original"] = pd.Series([v if isinstance(v, str) else None for v in frame["text_original"]],
                                           dtype=object, index=frame.index)
    if "words" in frame.columns:
        frame["words"] = [w if isinstance(w, list) else [] for w in frame["words"]]
