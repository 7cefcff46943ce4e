"""Language: which language a file (or each chunk, when code-switching) is spoken in.

Detection looks at several voiced windows spread over the whole file, not just its first 30 s (which
may be silence, music or another language); each window votes for its most likely language and a tie
goes to the language with the highest total probability.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch

from whisperkit_nb.speech.chunks import Chunk


def spread(chunks: list[Chunk], count: int) -> list[Chunk]:
    """Up to ``count`` chunks evenly spread over the file, longer ones preferred within each stretch."""
    if len(chunks) <= count:
        return list(chunks)
    picked = []
    for group in np.array_split(np.arange(len(chunks)), count):
        picked.append(max((chunks[i] for i in group), key=lambda c: c.duration))
    return picked


def vote(probs: torch.Tensor, codes: list[str], weights: list[float]) -> tuple[str, float]:
    """The language most windows vote for (ties: highest total probability) and its mean probability."""
    winners = [codes[int(i)] for i in probs.argmax(dim=-1)]
    counts = Counter(winners).most_common()
    best_count = counts[0][1]
    tied = [code for code, n in counts if n == best_count]
    totals = (probs * probs.new_tensor(weights)[:, None]).sum(dim=0)
    language = max(tied, key=lambda code: float(totals[codes.index(code)]))
    return language, float(probs[:, codes.index(language)].mean())
