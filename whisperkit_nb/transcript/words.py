"""Words: word timings from a token-to-frame alignment path, whichever engine found the path.

An engine aligns a chunk's decoded text with its audio (a teacher-forced decoder pass whose alignment heads'
cross-attention, normalised and median-filtered, is walked by dynamic time warping); the path it returns
gives every text token a 20 ms encoder frame. Here the tokens are grouped into words, each word timed by
where the path enters it, and punctuation merged into the neighbouring word, so numbers and quoted or
punctuated words get times like any other.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from whisperkit_nb.engines.base import DecodedChunk

FRAMES_PER_SECOND = 50  # encoder frames: 20 ms each
PREPEND_PUNCTUATION = "\"'“¿([{-"
APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"
UNICODE_SPLIT_LANGUAGES = {"zh", "ja", "th", "lo", "my", "yue"}


@dataclass(frozen=True)
class WordTiming:
    """A word in chunk time; ``first_token`` indexes the chunk's text tokens (timestamps excluded)."""

    word: str
    start: float
    end: float
    probability: float
    first_token: int


def text_and_probabilities(result: DecodedChunk, eot: int) -> tuple[list[int], list[float]]:
    """A chunk's text tokens (timestamps and end-of-text left out) and each one's probability."""
    kept = [(t, lp) for t, lp in zip(result.tokens, result.logprobs) if t < eot]
    return [t for t, _ in kept], [float(np.exp(lp)) for _, lp in kept]


def dtw(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Monotonic alignment path through a cost matrix (rows: tokens, columns: frames).

    Computed one anti-diagonal at a time, so the inner recurrence is vectorised instead of a Python
    double loop (the rows*columns cells of a 224 x 1500 matrix would take seconds otherwise).
    """
    n, m = cost.shape
    total = np.full((n + 1, m + 1), np.inf)
    total[0, 0] = 0.0
    trace = np.zeros((n + 1, m + 1), np.int8)  # 0 diagonal, 1 from above (token advances), 2 from left
    for d in range(2, n + m + 1):
        i = np.arange(max(1, d - m), min(n, d - 1) + 1)
        j = d - i
        options = np.stack([total[i - 1, j - 1], total[i - 1, j], total[i, j - 1]])
        best = options.argmin(axis=0)
        total[i, j] = cost[i - 1, j - 1] + options[best, np.arange(len(i))]
        trace[i, j] = best
    i, j = n, m
    path = []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        move = trace[i, j] if i > 0 and j > 0 else (1 if i > 0 else 2)
        if move == 0:
            i, j = i - 1, j - 1
        elif move == 1:
            i -= 1
        else:
            j -= 1
    path = np.array(path[::-1])
    return path[:, 0], path[:, 1]


def words_on_path(tokenizer, eot: int, text: list[int], probs: list[float], token_index: np.ndarray,
                  frame_index: np.ndarray, language: str | None) -> list[WordTiming]:
    """Words from a token-to-frame path (rows: the text tokens, then end-of-text)."""
    words, groups = split_words(tokenizer, eot, text + [eot], language)
    boundaries = np.cumsum([0] + [len(g) for g in groups[:-1]])
    jumps = np.pad(np.diff(token_index), (1, 0), constant_values=1).astype(bool)
    jump_times = frame_index[jumps] / FRAMES_PER_SECOND
    starts = jump_times[boundaries[:-1]]
    ends = jump_times[boundaries[1:]]
    timings = []
    for k, (word, group) in enumerate(zip(words[:-1], groups[:-1])):
        first = int(boundaries[k])
        p = float(np.mean(probs[first : first + len(group)])) if group else 0.0
        timings.append(WordTiming(word, float(starts[k]), float(ends[k]), p, first))
    return tidy(merge_punctuation(timings))


def split_words(tokenizer, eot: int, tokens: list[int], language: str | None) -> tuple[list[str], list[list[int]]]:
    """The words of ``tokens`` and the tokens of each (special tokens, such as end-of-text, stand alone)."""
    decode = tokenizer.decode
    # Split where the decoded text is whole characters (byte-level BPE can cut a character in two).
    pieces, groups, current = [], [], []
    for token in tokens:
        current.append(token)
        piece = decode(current) if token < eot else ""
        if "\ufffd" not in piece or token >= eot:
            pieces.append(piece)
            groups.append(current)
            current = []
    if language in UNICODE_SPLIT_LANGUAGES:
        return pieces, groups
    words, word_groups = [], []
    for piece, group in zip(pieces, groups):
        starts_word = group[0] >= eot or piece.startswith(" ") or piece.strip() in string.punctuation
        if starts_word or not words:
            words.append(piece)
            word_groups.append(list(group))
        else:
            words[-1] += piece
            word_groups[-1].extend(group)
    return words, word_groups


def merge_punctuation(timings: list[WordTiming]) -> list[WordTiming]:
    merged: list[WordTiming] = []
    pending_prefix: WordTiming | None = None
    for w in timings:
        stripped = w.word.strip()
        if stripped and all(c in APPEND_PUNCTUATION for c in stripped) and merged:
            last = merged[-1]
            merged[-1] = WordTiming(last.word + w.word.strip(), last.start, last.end, last.probability,
                                    last.first_token)
            continue
        if stripped and all(c in PREPEND_PUNCTUATION for c in stripped) and w.word.startswith(" "):
            pending_prefix = w
            continue
        if pending_prefix is not None:
            w = WordTiming(pending_prefix.word + w.word.lstrip(), pending_prefix.start, w.end, w.probability,
                           pending_prefix.first_token)
            pending_prefix = None
        merged.append(w)
    if pending_prefix is not None:
        merged.append(pending_prefix)
    return merged


def tidy(timings: list[WordTiming]) -> list[WordTiming]:
    """Cap implausibly long words (DTW parks the path on pauses) at twice the median word length."""
    durations = [w.end - w.start for w in timings if w.end > w.start]
    if not durations:
        return timings
    longest = max(2 * float(np.median(durations)), 0.7)
    out = []
    for k, w in enumerate(timings):
        start, end = w.start, w.end
        if end - start > longest:
            # A long first word usually starts late (the pause before speech); later ones end early.
            if k == 0:
                start = end - longest
            else:
                end = start + longest
        out.append(WordTiming(w.word, round(start, 3), round(max(end, start), 3), w.probability, w.first_token))
    return out
