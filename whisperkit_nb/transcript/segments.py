"""Segments: decoded tokens cut at Whisper's timestamp tokens (or, for text decoded without them, at
sentence ends and pauses between aligned words), mapped onto the original timeline."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from whisperkit_nb.decoding.quality import compression_ratio
from whisperkit_nb.engines.tokens import SECONDS_PER_TIMESTAMP
from whisperkit_nb.speech.chunks import Chunk

if TYPE_CHECKING:
    from whisperkit_nb.engines.base import DecodedChunk


JOINT_TOLERANCE_S = 0.4
SENTENCE_ENDS = (".", "?", "!", "…", "。", "？", "！", "؟", "।")


@dataclass(frozen=True)
class Segment:
    """One transcript segment, as users get it (one DataFrame row).

    Attributes
    ----------
    file : str
        The input path as given, or ``"<array>"``.
    start, end : float
        Seconds on the original timeline of the input.
    text : str
        The transcribed (or translated) text, stripped.
    language : str | None
        Language the segment was decoded in.
    speaker : str | None
        Speaker label; None until diarization.
    avg_logprob : float
        Mean log-probability of the segment's tokens (NaN where the strategy does not expose it).
    no_speech_prob : float
        Whisper's no-speech probability for the chunk the segment came from.
    compression_ratio : float
        Length of the UTF-8 text over its zlib-compressed length; repetitive hallucinations score high.
    chunk : int
        Index of the chunk the segment was decoded in.
    words : tuple of dict, optional
        With ``timestamps="word"``: ``{"word", "start", "end", "probability"}`` per word, times on the
        original timeline.
    """

    file: str
    start: float
    end: float
    text: str
    language: str | None
    speaker: str | None
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    chunk: int
    words: tuple[dict, ...] | None = None


def chunk_segments(decoded: DecodedChunk, chunk: Chunk, timestamp_begin: int, eot: int, tokenizer,
                   file: str, words: list | None = None) -> list[Segment]:
    """Cut one chunk's tokens into segments at consecutive timestamp pairs (Whisper's convention).

    ``words`` (from the engine's `align`, chunk time) are shared out to the segments whose text
    tokens they start in; a segment with words then starts at its first word and ends at its last.
    """
    pieces = _split_at_timestamps(decoded.tokens, timestamp_begin)
    text_before = np.cumsum([0] + [1 if t < eot else 0 for t in decoded.tokens])
    segments: list[Segment] = []
    previous_end = 0.0  # chunk time
    for lo, hi in pieces:
        toks = decoded.tokens[lo:hi]
        text_tokens = [t for t in toks if t < eot]
        text = tokenizer.decode(text_tokens).strip()
        if not text:
            continue
        stamps = [t for t in toks if t >= timestamp_begin]
        start = (stamps[0] - timestamp_begin) * SECONDS_PER_TIMESTAMP if toks[0] >= timestamp_begin else None
        end = (stamps[-1] - timestamp_begin) * SECONDS_PER_TIMESTAMP if toks[-1] >= timestamp_begin else None
        if start is None:  # rare: a segment without its opening timestamp starts where the last ended
            start = previous_end
        if end is None or end <= start:
            end = chunk.duration  # truncated or unterminated: the segment runs to the chunk's end
        start, end = min(start, chunk.duration), min(end, chunk.duration)
        start, end = chunk.snap(start, end, JOINT_TOLERANCE_S)
        previous_end = end
        seg_words = None
        if words is not None:
            mine = [w for w in words if text_before[lo] <= w.first_token < text_before[hi]]
            if mine:
                start, end = _words_span(mine, chunk)
            seg_words = tuple(_word_dict(w, chunk, start, end) for w in mine)
        segments.append(_segment(decoded, chunk, file, start, end, text, decoded.logprobs[lo:hi], seg_words))
    return segments


def word_segments(decoded: DecodedChunk, chunk: Chunk, eot: int, tokenizer, file: str, words: list,
                  keep_words: bool) -> list[Segment]:
    """Cut a chunk decoded without timestamp tokens into segments from its aligned words.

    A segment ends after a word that ends a sentence, and wherever the next word lies across a removed
    pause (a joint between the chunk's speech spans), so no segment spans a silence the VAD took out.
    ``words`` are `transcript.words.WordTiming` in chunk time; ``keep_words`` fills the segments' words.
    """
    text_tokens = [t for t in decoded.tokens if t < eot]
    logprobs = [lp for t, lp in zip(decoded.tokens, decoded.logprobs) if t < eot]
    if not text_tokens:
        return []
    if not words:  # nothing to align (punctuation only): the chunk is one segment
        groups: list[list] = [[]]
    else:
        groups = [[words[0]]]
        for previous, word in zip(words, words[1:]):
            ends_sentence = previous.word.strip().endswith(SENTENCE_ENDS)
            if ends_sentence or chunk.span_of(_middle(word)) != chunk.span_of(_middle(previous)):
                groups.append([])
            groups[-1].append(word)
    firsts = [g[0].first_token if g else 0 for g in groups] + [len(text_tokens)]
    segments = []
    for group, lo, hi in zip(groups, firsts, firsts[1:]):
        text = tokenizer.decode(text_tokens[lo:hi]).strip()
        if not text:
            continue
        start, end = _words_span(group, chunk) if group else (0.0, chunk.duration)
        seg_words = tuple(_word_dict(w, chunk, start, end) for w in group) if keep_words else None
        segments.append(_segment(decoded, chunk, file, start, end, text, logprobs[lo:hi], seg_words))
    return segments


def _middle(word) -> float:
    return (word.start + word.end) / 2


def _words_span(words: list, chunk: Chunk) -> tuple[float, float]:
    """Chunk time from the first word's start to the last word's end, kept in the chunk, snapped at joints."""
    start, end = max(min(w.start for w in words), 0.0), min(max(w.end for w in words), chunk.duration)
    return chunk.snap(start, max(end, start), JOINT_TOLERANCE_S)


def _segment(decoded: DecodedChunk, chunk: Chunk, file: str, start: float, end: float, text: str,
             logprobs: list[float], words: tuple[dict, ...] | None) -> Segment:
    """A segment from chunk times, mapped onto the original timeline."""
    return Segment(
        file=file,
        start=round(chunk.to_original(start), 3),
        end=round(chunk.to_original(end, side="end"), 3),
        text=text,
        language=decoded.language,
        speaker=None,
        avg_logprob=sum(logprobs) / len(logprobs) if logprobs else math.nan,
        no_speech_prob=decoded.no_speech_prob,
        compression_ratio=compression_ratio(text),
        chunk=chunk.index,
        words=words,
    )


def _word_dict(w, chunk: Chunk, seg_start: float, seg_end: float) -> dict:
    """A word on the original timeline, snapped at span joints and kept inside its segment."""
    start, end = chunk.snap(w.start, max(w.end, w.start), JOINT_TOLERANCE_S)
    start = min(max(start, seg_start), seg_end)
    end = min(max(end, start), seg_end)
    return {
        "word": w.word.strip(),
        "start": round(chunk.to_original(start), 3),
        "end": round(chunk.to_original(end, side="end"), 3),
        "probability": round(w.probability, 4),
    }


def _split_at_timestamps(tokens: list[int], timestamp_begin: int) -> list[tuple[int, int]]:
    """Index ranges of segments: a segment ends where two timestamp tokens stand side by side."""
    if not tokens:
        return []
    pieces: list[tuple[int, int]] = []
    lo = 0
    for i in range(1, len(tokens)):
        if tokens[i - 1] >= timestamp_begin and tokens[i] >= timestamp_begin:
            pieces.append((lo, i))
            lo = i
    pieces.append((lo, len(tokens)))
    return [(a, b) for a, b in pieces if b > a]
