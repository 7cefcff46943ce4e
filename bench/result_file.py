"""Names of bench result files: one new file per run, never an earlier run's file overwritten.

``<name>-<YYYY-MM-DD>-<HHMM>.json`` (UTC), with ``-2``, ``-3``, ... added when a run of the same minute left
that name already. Files of earlier runs named ``<name>-<YYYY-MM-DD>.json`` keep their names; a reader that
wants every run of a bench globs ``<name>-*.json``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path


def new_result_path(folder: str | Path, name: str, when: dt.datetime | None = None) -> Path:
    """A path in ``folder`` for this run's ``name`` results that no file holds yet (the folder is created).

    The name is chosen once: a bench that rewrites its file as it goes (to keep what finished if it is
    interrupted) calls this once at its start and writes that path each time.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    when = when or dt.datetime.now(dt.timezone.utc)
    base = f"{name}-{when.strftime('%Y-%m-%d-%H%M')}"
    path, count = folder / f"{base}.json", 1
    while path.exists():
        count += 1
        path = folder / f"{base}-{count}.json"
    return path
