"""Our JSON: everything in the DataFrame (segments, words, speakers, per-file facts, options, the package
version), read back into the same DataFrame by `read_json`."""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from whisperkit_nb.output.formats._common import atomic, speaker_of

FORMAT_NAME = "whisperkit_nb transcript"
SCHEMA = 1


def plain(value: Any) -> Any:
    """``value`` as JSON can hold it: NaN and NA as null, numpy scalars and arrays as numbers and lists,
    tuples as lists, paths and dates as text, dataclasses as objects."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return [plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, (datetime.date, datetime.datetime, pd.Timestamp)):
        return value.isoformat()
    return str(value)


def speakers_table(df: pd.DataFrame) -> list[dict]:
    """Each speaker in order of first speech, with segments and talk time."""
    if "speaker" not in df.columns:
        return []
    table: dict[str, dict] = {}
    for speaker, start, end in zip(df["speaker"], df["start"], df["end"]):
        name = speaker_of(speaker)
        if name is None:
            continue
        entry = table.setdefault(name, {"speaker": name, "segments": 0, "talk_time_s": 0.0})
        entry["segments"] += 1
        entry["talk_time_s"] += float(end) - float(start)
    return list(table.values())


def write_json(df: pd.DataFrame, path: str | os.PathLike, *, options: Mapping | Any | None = None,
               indent: int | None = 1) -> None:
    """Our JSON transcript: every column of every segment (words included), the speakers, ``df.attrs``
    (per-file facts under ``files``, failures, ...), the options and the package version.

    Options
    -------
    options : mapping or TranscribeOptions, optional
        The settings of the run, recorded under ``"options"`` (secrets such as ``hf_token`` are left out).
        Default: ``df.attrs["options"]`` when present.
    indent : int or None, default 1
        JSON indentation (None: one line).

    `read_transcript` reads it back into the same DataFrame (columns, dtypes, values and attrs).
    """
    # The package root is always loaded before any submodule; looked up by name, since a static import of
    # the root would count, for the import contracts, as importing everything its TYPE_CHECKING block names.
    version = importlib.import_module("whisperkit_nb").__version__
    if options is None:
        options = df.attrs.get("options")
    elif dataclasses.is_dataclass(options):
        secret = {f.name for f in dataclasses.fields(options) if f.metadata.get("secret")}
        options = {k: v for k, v in dataclasses.asdict(options).items() if k not in secret}
    document = {
        "format": FORMAT_NAME,
        "schema": SCHEMA,
        "whisperkit_nb": version,
        "columns": {str(c): str(t) for c, t in df.dtypes.items()},
        "segments": [plain(dict(zip(map(str, df.columns), row))) for row in df.itertuples(index=False, name=None)],
        "speakers": speakers_table(df),
        "files": plain(df.attrs.get("files", {})),
        "options": plain(options),
        "attrs": plain({k: v for k, v in df.attrs.items() if k not in ("files", "options")}),
    }
    with atomic(path) as out:
        json.dump(document, out, ensure_ascii=False, indent=indent)
        out.write("\n")


def is_ours(document: Any) -> bool:
    return isinstance(document, dict) and document.get("format") == FORMAT_NAME


def read_json(document: dict) -> pd.DataFrame:
    """The DataFrame `write_json` wrote (``document`` is the parsed JSON)."""
    columns = document.get("columns", {})
    rows = document.get("segments", [])
    # Built as objects first: pandas 3 would infer its string dtype, turning None into NaN.
    frame = pd.DataFrame([[row.get(c) for c in columns] for row in rows], columns=list(columns), dtype=object)
    for name, dtype in columns.items():
        if dtype in ("float64", "float32"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(dtype)
        elif dtype.startswith(("int", "uint", "bool")):
            frame[name] = frame[name].astype(dtype)
        else:
            frame[name] = frame[name].astype("object")
    frame.attrs.update(document.get("attrs", {}))
    frame.attrs["files"] = document.get("files", {})
    if document.get("options") is not None:
        frame.attrs["options"] = document["options"]
    return frame


def load(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))
