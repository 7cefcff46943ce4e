"""The store: a folder of results that a kill never corrupts, and the lock that keeps it to one run.

Layout::

    store/
      manifest.json                 the last run's inputs, in order: status, error, metadata, facts, keys
      files/<transcript key>.parquet            a transcript (segments, words as JSON), no speakers
      files/<transcript key>.<speaker key>.parquet    the same with speakers (diarization runs only)
      edits/<digest of an input's name>.parquet       a researcher's corrected rows of one input, shown
                                    over its machine result (`whisperkit_nb.corpus.edits`); runs never touch it
      speaker_links.json            the corpus speaker labels (`whisperkit_nb.corpus.link`): threshold, and per
                                    input the result linked and {speaker -> corpus label}; written by a
                                    ``link_speakers`` run or `Corpus.link_speakers`, under the lock
      lock                          JSON naming the run that holds the store (pid, host, start time)

Every file is written to a temporary file in the same folder, flushed and renamed over its name
(`atomic_write`): a reader sees the old file or the new one, and a kill leaves at most a ``.tmp-*`` file,
which counts for nothing and is deleted by the next run that takes the lock. A result file is found by its key alone, so it is done exactly when it exists;
the manifest is an index rewritten during a run (at most once a second) and at its end. Results of other options stay in ``files/`` (so
switching back costs nothing); delete the folder to reclaim them. Edits are saved without the lock (a run
never writes ``edits/``), so they can be saved while a run goes on.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from whisperkit_nb.errors import WhisperkitError

FORMAT = 1
MANIFEST = "manifest.json"
FILES = "files"
LOCK = "lock"
LINKS = "speaker_links.json"
WORDS = "words"
FACTS_KEY = b"whisperkit_nb.facts"


class StoreError(WhisperkitError):
    """The store cannot be used: not writable, not a store, or held by another run."""


class Store:
    """A store folder (see the module docstring)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(os.path.expanduser(str(root)))

    @property
    def files(self) -> Path:
        return self.root / FILES

    def create(self) -> None:
        """Make the folders and prove they take a file, before any work starts (else `StoreError`)."""
        try:
            self.files.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.files, prefix=".tmp-probe-"):
                pass
        except OSError as err:
            raise StoreError(f"The store {str(self.root)!r} is not writable ({err.strerror or err}): "
                             "choose another folder with store=, or fix its permissions.") from err

    def result_path(self, transcript_key: str, speaker_key: str = "none") -> Path:
        name = transcript_key if speaker_key == "none" else f"{transcript_key}.{speaker_key}"
        return self.files / f"{name}.parquet"

    # The manifest --------------------------------------------------------------------------------------

    def read_manifest(self) -> dict[str, Any]:
        path = self.root / MANIFEST
        if not path.is_file():
            return {"format": FORMAT, "inputs": []}
        manifest = json.loads(path.read_text())
        if manifest.get("format") != FORMAT:
            raise StoreError(f"{path} has format {manifest.get('format')!r}; this whisperkit_nb reads format {FORMAT}.")
        return manifest

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        text = json.dumps({**manifest, "format": FORMAT}, indent=1, default=_json_default)
        atomic_write(self.root / MANIFEST, lambda path: path.write_text(text))

    # Speaker links -----------------------------------------------------------------------------------

    def read_links(self) -> dict[str, Any] | None:
        """The stored speaker linking, or None when the corpus was never linked."""
        path = self.root / LINKS
        return json.loads(path.read_text()) if path.is_file() else None

    def write_links(self, links: dict[str, Any]) -> None:
        text = json.dumps({**links, "format": FORMAT}, indent=1, default=_json_default)
        atomic_write(self.root / LINKS, lambda path: path.write_text(text))

    # Results -------------------------------------------------------------------------------------------

    def write_result(self, path: Path, frame: pd.DataFrame, facts: dict[str, Any]) -> None:
        """``frame`` (words as JSON text) with ``facts`` in the Parquet metadata, so a file describes itself."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        stored = frame.copy()
        if WORDS in stored.columns:
            stored[WORDS] = [json.dumps(w, default=_json_default) for w in stored[WORDS]]
        table = pa.Table.from_pandas(stored, preserve_index=False)
        metadata = {**(table.schema.metadata or {}), FACTS_KEY: json.dumps(facts, default=_json_default).encode()}
        table = table.replace_schema_metadata(metadata)
        atomic_write(path, lambda tmp: pq.write_table(table, tmp))

    @staticmethod
    def read_result(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
        """A result file back as `transcribe` returned it (words as lists of dicts) and its facts."""
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        facts = json.loads((table.schema.metadata or {}).get(FACTS_KEY, b"{}"))
        frame = table.to_pandas()
        for column in frame.columns:  # text back as `transcribe` gives it: object, None for missing
            if isinstance(frame[column].dtype, pd.StringDtype) or frame[column].dtype == object:
                frame[column] = pd.Series([None if _missing(v) else v for v in frame[column]], dtype=object,
                                          index=frame.index)
        if WORDS in frame.columns:
            frame[WORDS] = [json.loads(w) for w in frame[WORDS]]
        return frame, facts

    @staticmethod
    def read_facts(path: Path) -> dict[str, Any]:
        """A result file's facts and model (``{"facts", "model", "version"}``), from its metadata alone."""
        import pyarrow.parquet as pq

        return json.loads((pq.read_schema(path).metadata or {}).get(FACTS_KEY, b"{}"))

    # The lock ------------------------------------------------------------------------------------------

    def _remove_leftovers(self) -> None:
        """Delete the temporary files of runs that were killed while writing: with the lock held, no other
        run can be writing one, and a temporary file never counts as a result."""
        for folder in (self.root, self.files):
            for leftover in folder.glob(".tmp-*"):
                if leftover.name.startswith(".tmp-probe-"):
                    continue  # another run's writability probe (`create`), checked before it takes the lock
                with contextlib.suppress(OSError):
                    leftover.unlink()

    @contextlib.contextmanager
    def lock(self, what: str) -> Iterator[None]:
        """Hold the store for one run; another live run raises `StoreError` naming it (pid, host, start).

        A lock left by a process that is gone (killed) on this host is taken over; one from another host
        cannot be checked, so its message says to delete it when that run is known to be over.
        """
        path = self.root / LOCK
        mine = {"pid": os.getpid(), "host": socket.gethostname(), "started": _now(), "what": what}
        for _ in range(3):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = _read_lock(path)
                if holder is not None and _alive_here(holder):
                    raise StoreError(_held_message(self.root, path, holder)) from None
                if holder is not None and holder.get("host") != mine["host"]:
                    raise StoreError(_held_message(self.root, path, holder)
                                     + f" If that run is over, delete {path}.") from None
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()  # a dead run's lock (or one being written a moment ago: retried)
                continue
            except OSError as err:
                raise StoreError(f"The store {str(self.root)!r} is not writable ({err.strerror or err}).") from err
            with os.fdopen(fd, "w") as file:
                json.dump(mine, file)
            break
        else:
            raise StoreError(f"Could not take the lock {path}; another run keeps taking it.")
        self._remove_leftovers()
        try:
            yield
        finally:
            holder = _read_lock(path)
            if holder is not None and holder.get("pid") == mine["pid"] and holder.get("started") == mine["started"]:
                path.unlink(missing_ok=True)


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """``write(temporary path)`` in ``path``'s folder, flushed to disk, then renamed to ``path``."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}.")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, _readable_mode())
        with open(tmp, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # the rename itself, on file systems that allow a folder fsync
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _readable_mode() -> int:
    """The mode a plain ``open`` would give a new file (mkstemp's are private to their owner)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _read_lock(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # gone, or half written by a run killed at that instant: not a live holder


def _alive_here(holder: dict[str, Any]) -> bool:
    if holder.get("host") != socket.gethostname():
        return True  # cannot be checked from here
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, ValueError, TypeError):
        return True
    return True


def _held_message(root: Path, path: Path, holder: dict[str, Any]) -> str:
    return (f"The store {str(root)!r} is in use by another run ({holder.get('what', 'a run')}: pid "
            f"{holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}; lock {path}). "
            "Wait for it to finish, or use another store.")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat(timespec="seconds")


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
