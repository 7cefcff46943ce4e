"""One line per transcribed file: what a researcher wants to see when a call ends.

``summary_lines(df)`` reads only the DataFrame and its per-file facts (``df.attrs["files"]``), so it works
on a transcript read back from disk as well as on a fresh one. The notebook layer prints these lines after
``%transcribe`` and shows them in the control panel; the core prints nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd


def summary_lines(df: pd.DataFrame) -> list[str]:
    """One line per file of ``df``: name, audio duration, segments, speakers, language, wall time (with
    the rate in "x real time") and engine; failed files say why, e.g.

    ``interview.m4a: 6:12 of audio, 84 segments, 3 speakers, en, 41.2 s (9.0x real time), ctranslate2``
    """
    facts: dict[str, dict[str, Any]] = df.attrs.get("files", {}) or {}
    lines = [_file_line(name, df[df["file"] == name] if "file" in df.columns else df, facts.get(name, {}))
             for name in _names(df)]
    for name, reason in (df.attrs.get("failures", {}) or {}).items():
        lines.append(f"{display_name(name)}: failed: {reason}")
    if df.attrs.get("interrupted"):
        lines.append("Interrupted: the segments above are those finished before the interrupt.")
    return lines


def summary_line(df: pd.DataFrame) -> str:
    """`summary_lines` joined into one line for a single file, or a count plus totals for several."""
    lines = summary_lines(df)
    if len(lines) <= 1:
        return lines[0] if lines else "No audio was transcribed."
    facts = df.attrs.get("files", {}) or {}
    failed = len(df.attrs.get("failures", {}) or {})
    files = len(_names(df)) + failed
    parts = [f"{files} file{'s' if files != 1 else ''}"]
    if any(f.get("duration") is not None for f in facts.values()):
        parts.append(f"{format_duration(sum(float(f.get('duration') or 0.0) for f in facts.values()))} of audio")
    parts.append(f"{len(df)} segment{'s' if len(df) != 1 else ''}")
    if failed:
        parts.append(f"{failed} failed")
    return ", ".join(parts)


def _names(df: pd.DataFrame) -> list[Any]:
    """The files of ``df``: those with facts, then any other its rows name, in order."""
    facts = df.attrs.get("files", {}) or {}
    return list(dict.fromkeys([*facts, *(df["file"] if "file" in df.columns else [])]))


def display_name(name: Any) -> str:
    """A file's name without its folders (the full path stays in ``df.file``)."""
    text = str(name)
    return text if text.startswith("<") else Path(text).name


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` or ``m:ss``."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _file_line(name: Any, rows: pd.DataFrame, facts: dict[str, Any]) -> str:
    parts = []
    duration = facts.get("duration")
    if duration is not None:
        parts.append(f"{format_duration(float(duration))} of audio")
    parts.append(f"{len(rows)} segment{'s' if len(rows) != 1 else ''}")
    speakers = facts.get("speakers")
    if speakers is None and "speaker" in rows.columns and rows["speaker"].notna().any():
        speakers = rows["speaker"].dropna().nunique()
    if speakers is not None:
        parts.append(f"{speakers} speaker{'s' if speakers != 1 else ''}")
    language = facts.get("language")
    if language:
        parts.append(str(language))
    seconds = facts.get("seconds")
    if seconds:
        rate = f" ({float(duration) / float(seconds):.1f}x real time)" if duration else ""
        parts.append(f"{float(seconds):.1f} s{rate}")
    if facts.get("engine"):
        parts.append(str(facts["engine"]))
    if facts.get("interrupted"):
        parts.append("interrupted")
    return f"{display_name(name)}: " + ", ".join(parts)
