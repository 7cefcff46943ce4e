"""Progress events: what the core emits to a hook as each stage advances. Front ends draw them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    """What a progress callback receives: ``done`` of ``total`` (in ``unit``) for one stage of one file."""

    stage: str  # "vad", "transcribe" or "diarize"
    file: str
    done: float
    total: float
    unit: str = "s"


ProgressCallback = Callable[[ProgressEvent], None]


def short_name(name: str, width: int = 30) -> str:
    """An input's name for progress displays: its last ``width`` characters."""
    return name if len(name) <= width else "…" + name[-(width - 1) :]


def combine(*hooks: ProgressCallback | None) -> ProgressCallback | None:
    """One callback that hands each event to every hook given, in order (None entries left out).

    Returns None when no hook is left, and the hook itself when only one is.
    """
    given = [hook for hook in hooks if hook is not None]
    if len(given) <= 1:
        return given[0] if given else None

    def each(event: ProgressEvent) -> None:
        for hook in given:
            hook(event)

    return each
