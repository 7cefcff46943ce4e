"""Tails: a second pass over speech that Whisper left undecoded at a chunk's end."""

from __future__ import annotations

from whisperkit_nb.speech.chunks import Chunk
from whisperkit_nb.transcript.segments import covered_until

TAIL_MIN_S = 1.0  # uncovered speech at a chunk's end worth a second decoding pass


def tail_start(chunk: Chunk, result, timestamp_begin: int) -> float | None:
    """Where to re-decode a chunk from, when Whisper stopped well before its speech ended.

    Whisper tends to skip an utterance that ends at the very end of a full window (it was trained on
    windows whose last sentence is often cut off). Only first passes get a tail, so this cannot loop.
    """
    if chunk.part > 0 or not result.tokens:  # tails and dropped chunks get no second pass
        return None
    covered = covered_until(result, timestamp_begin)
    if result.truncated or chunk.duration - covered > TAIL_MIN_S:
        return covered
    return None
