"""What the writers share: atomic files, time stamps, speaker turns, text clean-up, optional imports."""

from __future__ import annotations

import contextlib
import importlib
import math
import mimetypes
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from whisperkit_nb.errors import MissingDependencyError, OptionsError

#: The optional extra that installs every export library.
EXTRA = "exports"


def require(module: str, package: str, purpose: str) -> Any:
    """Import ``module`` (an optional export library) or raise `MissingDependencyError` naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(package, EXTRA, purpose) from err


@contextlib.contextmanager
def atomic(path: str | os.PathLike, mode: str = "w") -> Iterator[Any]:
    """An open file that becomes ``path`` only when the block ends without error (a temporary file renamed),
    so a failed export never leaves a half-written file behind. Text mode writes UTF-8 with ``\\n`` lines."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        kwargs = {"encoding": "utf-8", "newline": "\n"} if "b" not in mode else {}
        with open(partial, mode, **kwargs) as handle:
            yield handle
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path for libraries that write files themselves; renamed to ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial{path.suffix}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def clean(text: Any) -> str:
    """Text for line-based formats: every run of whitespace (newlines and tabs included) one space."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    return " ".join(str(text).split())


def hms(seconds: float, *, decimals: int = 0, sep: str = ".") -> str:
    """``hh:mm:ss`` (with ``decimals`` digits of the second after ``sep``), rounded, never negative."""
    scale = 10**decimals
    units = max(0, round(float(seconds) * scale))
    whole, fraction = divmod(units, scale)
    hours, rest = divmod(whole, 3600)
    text = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{text}{sep}{fraction:0{decimals}d}" if decimals else text


def speaker_of(value: Any) -> str | None:
    """A speaker label, or None for a missing one (None, NaN, empty)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


@dataclass
class Segment:
    """One row of a transcript, as the writers read it."""

    start: float
    end: float
    text: str  # as transcribed (not cleaned)
    speaker: str | None
    words: list[dict] = field(default_factory=list)


def segments(df: pd.DataFrame) -> list[Segment]:
    """The rows of ``df`` as `Segment` objects, in time order per file as the frame holds them."""
    has_words = "words" in df.columns
    has_speaker = "speaker" in df.columns
    rows = []
    for i in range(len(df)):
        row = df.iloc[i]
        words = row["words"] if has_words else None
        # a list of dicts; an array of them (read from Parquet); NaN or None where a frame has no words
        words = [dict(w) for w in words] if isinstance(words, (list, tuple, np.ndarray)) else []
        rows.append(Segment(float(row["start"]), float(row["end"]), "" if row["text"] is None else str(row["text"]),
                            speaker_of(row["speaker"]) if has_speaker else None, words))
    return rows


def words_of(segs: list[Segment]) -> list[dict]:
    """Every word of ``segs``, each with its own speaker (the segment's when the word has none)."""
    return [{**w, "speaker": speaker_of(w.get("speaker")) or s.speaker} for s in segs for w in s.words]


def has_speakers(segs: list[Segment]) -> bool:
    return any(s.speaker for s in segs)


@dataclass
class Turn:
    """Consecutive segments of one speaker."""

    speaker: str | None
    segments: list[Segment]

    @property
    def start(self) -> float:
        return self.segments[0].start

    @property
    def end(self) -> float:
        return self.segments[-1].end

    @property
    def text(self) -> str:
        return " ".join(t for t in (clean(s.text) for s in self.segments) if t)


def turns(segs: list[Segment]) -> list[Turn]:
    """Speaker turns: runs of consecutive segments with the same speaker."""
    result: list[Turn] = []
    for s in segs:
        if result and result[-1].speaker == s.speaker:
            result[-1].segments.append(s)
        else:
            result.append(Turn(s.speaker, [s]))
    return result


def one_file(df: pd.DataFrame, format_name: str) -> str | None:
    """The single input ``df`` holds (None when it has no ``file`` column or no rows but one file fact).

    Formats tied to one recording (subtitles, TextGrid, EAF, ...) refuse a frame of several inputs.
    """
    names = list(dict.fromkeys(df["file"].dropna())) if "file" in df.columns else []
    if not names:
        facts = list(df.attrs.get("files", {}))
        names = facts if len(facts) == 1 else []
    if len(names) > 1:
        raise OptionsError(
            f"{format_name} holds one recording, and this DataFrame has {len(names)} files: export each file "
            "on its own (df[df.file == name]), or use export_corpus / --export DIR for one file per input."
        )
    return names[0] if names else None


def media_path(df: pd.DataFrame, audio: str | os.PathLike | None, format_name: str) -> Path | None:
    """The recording a format links or embeds: ``audio`` when given (it must exist), else the frame's input
    when that is a file on disk, else None."""
    if audio is not None:
        path = Path(audio)
        if not path.is_file():
            raise OptionsError(f"audio={str(audio)!r}: no such file, so the {format_name} cannot link or embed it.")
        return path
    name = one_file(df, format_name)
    if name and name != "<array>" and Path(name).is_file() and _is_media(Path(name)):
        return Path(name)
    return None


def _is_media(path: Path) -> bool:
    # A converted transcript's "file" may name its JSON: never link or embed that as the recording.
    kind = mimetypes.guess_type(path.name)[0] or ""
    return kind.startswith(("audio/", "video/")) or path.suffix.lower() in {".m4a", ".opus", ".flac", ".webm"}


def no_overlap(items: list[tuple[float, float, str]], *, resolution: float = 0.001) -> list[tuple[float, float, str]]:
    """Intervals for tiers whose annotations may not overlap nor be empty (Praat, ELAN): each start at or
    after the previous end, each at least ``resolution`` long. Whisper's times rarely need it; when they do,
    the later interval is shortened at its start."""
    result: list[tuple[float, float, str]] = []
    last = 0.0
    for start, end, text in sorted(items, key=lambda x: (x[0], x[1])):
        start = max(start, last)
        end = max(end, start + resolution)
        result.append((start, end, text))
        last = end
    return result
