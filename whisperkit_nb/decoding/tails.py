"""Tails: a second pass over speech that Whisper left undecoded at a chunk's end."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from whisperkit_nb.engines.tokens import SECONDS_PER_TIMESTAMP
from whisperkit_nb.speech.chunks import Chunk

if TYPE_CHECKING:
    from whisperkit_nb.engines.base import DecodedChunk

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


def covered_until(decoded: DecodedChunk, timestamp_begin: int) -> float:
    """Chunk time up to which the decoded text reaches (its last timestamp token)."""
    stamps = [t for t in decoded.tokens if t >= timestamp_begin]
    return (stamps[-1] - timestamp_begin) * SECONDS_PER_TIMESTAMP if stamps else 0.0


def up_to_last_timestamp(decoded: DecodedChunk, timestamp_begin: int) -> DecodedChunk:
    """The decoded chunk without text after its last timestamp token.

    Used when the rest of the chunk is re-decoded as a tail from that timestamp: the unfinished last
    segment would otherwise appear twice (once running to the chunk's end, once from the tail).
    """
    last = max((i for i, t in enumerate(decoded.tokens) if t >= timestamp_begin), default=-1)
    return dataclasses.replace(decoded, tokens=decoded.tokens[: last + 1], logprobs=decoded.logprobs[: last + 1])
