"""Reading ahead of the model: the next chunks' audio is read on a CPU thread while a batch decodes."""

from __future__ import annotations

from collections.abc import Iterator

from whisperkit_nb.audio.ahead import read_ahead


def ahead(items: Iterator, depth: int) -> Iterator:
    """``items`` read on a CPU thread up to ``depth`` items ahead (`read_ahead`), unless `PREFETCH` is off."""
    if not PREFETCH:
        yield from items
        return
    yield from read_ahead(items, depth, name="whisperkit-prefetch")


PREFETCH = True  # decode the next chunks' audio on a CPU thread while the model works (bench ablation)
