"""Tails: a second pass over speech that Whisper left undecoded at a chunk's end."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from whisperkit_nb.audio.source import SAMPLE_RATE
from whisperkit_nb.engines.tokens import SECONDS_PER_TIMESTAMP
from whisperkit_nb.speech.chunks import Chunk

if TYPE_CHECKING:
    from whisperkit_nb.engines.base import DecodedChunk

TAIL_MIN_S = 1.0  # uncovered speech at a chunk's end worth a second decoding pass
# A segment at least this long carrying fewer text tokens per second than this (speech runs at 3-5) is a
# timestamp jump: Whisper wrote a few words, then an end timestamp seconds later, skipping the speech between.
JUMP_MIN_S = 5.0
JUMP_TOKENS_PER_S = 0.6
# Text-only decoding (segment_times="alignment") has no timestamp to say where Whisper stopped; its last aligned
# word does, less surely (cross-attention alignment can place the last word early by a second or two), so the
# uncovered end worth a second pass is longer than TAIL_MIN_S.
ALIGNED_TAIL_MIN_S = 3.0


def plan_tail(chunk: Chunk, result: DecodedChunk, timestamp_begin: int,
              samples: np.ndarray) -> tuple[DecodedChunk, float | None]:
    """Whether to decode part of a chunk again: the result to keep and the chunk time to re-decode from.

    Whisper tends to skip an utterance that ends at the very end of a full window (it was trained on
    windows whose last sentence is often cut off): the tail starts at the last timestamp. It also jumps:
    a few words, then an end timestamp many seconds on, skipping the speech between (seen after a spoken
    web address). Decoding again from the segment's start gives the same jump, so that segment keeps its
    words and ends at the quietest point where they plausibly end (`resume_after`), and the tail starts
    there. Only first passes get a tail, so this cannot loop.
    """
    if chunk.part > 0 or not result.tokens:  # tails and dropped chunks get no second pass
        return result, None
    jumped = find_jump(result, timestamp_begin)
    if jumped is not None:
        end_index, start, text_tokens = jumped
        step = round(resume_after(samples, start, text_tokens) / SECONDS_PER_TIMESTAMP)
        resume = step * SECONDS_PER_TIMESTAMP  # on the timestamp grid: the segment ends where the tail starts
        tokens = [*result.tokens[:end_index], timestamp_begin + step]
        return dataclasses.replace(result, tokens=tokens, logprobs=result.logprobs[: end_index + 1]), resume
    covered = covered_until(result, timestamp_begin)
    if result.truncated or chunk.duration - covered > TAIL_MIN_S:
        return up_to_timestamp(result, timestamp_begin, covered), covered
    return result, None


def plan_aligned_tail(chunk: Chunk, words: list) -> float | None:
    """Chunk time to re-decode from when Whisper, decoding text only, stopped well before the chunk's end.

    ``words`` are the chunk's aligned words (`transcript.words.WordTiming`, chunk time). A chunk holds speech
    only (the VAD took its pauses out), so more than `ALIGNED_TAIL_MIN_S` after the last word is speech left
    undecoded: seen where a voice changed mid-window and Whisper wrote the first voice's one sentence ("You have
    been kicked from this conference.") and stopped, leaving the 18 s the second voice read after it. A chunk
    with no words gets no tail (decoding the same samples again gives the same nothing), nor do tails
    themselves, so this cannot loop.
    """
    if chunk.part > 0 or not words:
        return None
    last = max(word.end for word in words)
    return last if chunk.duration - last > ALIGNED_TAIL_MIN_S else None


def find_jump(decoded: DecodedChunk, timestamp_begin: int) -> tuple[int, float, int] | None:
    """The first segment that jumped over speech (`JUMP_MIN_S`): the index of its end timestamp token, its
    start (chunk time) and its number of text tokens; None if none did."""
    start, text = None, 0
    for index, token in enumerate(decoded.tokens):
        if token < timestamp_begin:
            text += 1
            continue
        at = (token - timestamp_begin) * SECONDS_PER_TIMESTAMP
        if start is not None and text and at - start >= JUMP_MIN_S and text < (at - start) * JUMP_TOKENS_PER_S:
            return index, start, text
        start, text = at, 0  # a timestamp right after another starts the segment there
    return None


def resume_after(samples: np.ndarray, start: float, text_tokens: int) -> float:
    """Chunk time at which a jumped segment's ``text_tokens`` most plausibly end: the quietest 32 ms between
    0.15 and 0.6 s a token after ``start`` (speech runs at 3-5 tokens a second)."""
    lo = int((start + 0.15 * text_tokens) * SAMPLE_RATE)
    hi = min(int((start + max(0.6 * text_tokens, 1.0)) * SAMPLE_RATE), len(samples))
    window, hop = SAMPLE_RATE * 32 // 1000, SAMPLE_RATE * 8 // 1000
    if hi - lo < window:
        return min(max(hi, lo), len(samples)) / SAMPLE_RATE
    power = np.convolve(np.square(samples[lo:hi], dtype=np.float32), np.ones(window, np.float32), "valid")[::hop]
    return (lo + int(np.argmin(power)) * hop + window // 2) / SAMPLE_RATE


def covered_until(decoded: DecodedChunk, timestamp_begin: int) -> float:
    """Chunk time up to which the decoded text reaches (its last timestamp token)."""
    stamps = [t for t in decoded.tokens if t >= timestamp_begin]
    return (stamps[-1] - timestamp_begin) * SECONDS_PER_TIMESTAMP if stamps else 0.0


def up_to_timestamp(decoded: DecodedChunk, timestamp_begin: int, until: float) -> DecodedChunk:
    """The decoded chunk without what follows its last timestamp token at or before ``until`` (chunk time).

    Used when the rest of the chunk is re-decoded as a tail from ``until``: the segment being cut would
    otherwise appear twice (once as first decoded, once from the tail).
    """
    last = max((i for i, t in enumerate(decoded.tokens)
                if t >= timestamp_begin and (t - timestamp_begin) * SECONDS_PER_TIMESTAMP <= until + 1e-6),
               default=-1)
    return dataclasses.replace(decoded, tokens=decoded.tokens[: last + 1], logprobs=decoded.logprobs[: last + 1])
