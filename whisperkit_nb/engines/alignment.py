"""Words: word timestamps from the decoder's cross-attention, aligned by dynamic time warping.

After a batch is decoded, one teacher-forced decoder pass over the decoded text (batched, not a second
decoding) yields the cross-attention of the model's alignment heads; openai/whisper's recipe turns it
into a token-to-frame path (normalise, median-filter, DTW), and word boundaries on that path give each
word's start and end. Punctuation is merged into the neighbouring word, so numbers and quoted or
punctuated words get times like any other.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import torch

from whisperkit_nb.engines.transformers_decoding import DecodedChunk
from whisperkit_nb.engines.models import WhisperModel

FRAMES_PER_SECOND = 50  # encoder frames: 20 ms each
MEDIAN_WIDTH = 7
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


@torch.inference_mode()
def align_words(whisper: WhisperModel, encoded: torch.Tensor, results: list[DecodedChunk],
                durations: list[float], task: str) -> list[list[WordTiming]]:
    """Word timings (chunk time) for every decoded chunk of a batch."""
    if whisper.engine == "ctranslate2":
        return _align_ct2(whisper, encoded, results, durations)
    heads = _alignment_heads(whisper)
    tokens = whisper.tokens
    rows = []
    for result in results:
        text = _text_and_probabilities(result, tokens.eot)[0]
        rows.append(tokens.prompt(result.language, result.task, timestamps=False) + text + [tokens.eot])
    width = max(len(r) for r in rows)
    batch = torch.tensor([r + [tokens.eot] * (width - len(r)) for r in rows], device=whisper.device)
    weights = _cross_attention(whisper, encoded, batch, heads)  # (B, heads, T, 1500)

    timings = []
    for i, result in enumerate(results):
        text, probs = _text_and_probabilities(result, tokens.eot)
        if not text:
            timings.append([])
            continue
        prompt_len = len(rows[i]) - len(text) - 2
        frames = max(1, min(1500, int(np.ceil(durations[i] * FRAMES_PER_SECOND))))
        matrix = _normalise(weights[i, :, : len(rows[i]), :frames])[prompt_len : len(rows[i]) - 1]
        timings.append(_words(whisper, text, probs, matrix, result.language))
    return timings


def _align_ct2(whisper, encoded: torch.Tensor, results: list[DecodedChunk],
               durations: list[float]) -> list[list[WordTiming]]:
    """The same recipe on CTranslate2: its ``align`` runs the teacher-forced pass over the model's
    alignment heads, normalisation, median filter and DTW in one call and returns the path, and the
    pass's per-token probabilities (decoding on CTranslate2 scores only whole sequences)."""
    from whisperkit_nb.engines import ct2 as ct2_engine

    texts = [_text_and_probabilities(r, whisper.tokens.eot)[0] for r in results]
    timings: list[list[WordTiming]] = [[] for _ in results]
    # align takes one start sequence per call: group the rows by language and task.
    by_prompt: dict[tuple, list[int]] = {}
    for i, text in enumerate(texts):
        if text:
            by_prompt.setdefault((results[i].language, results[i].task), []).append(i)
    for (language, task), rows in by_prompt.items():
        prompt = whisper.tokens.prompt(language, task)  # CTranslate2 appends <|notimestamps|> itself
        frames = [max(2, min(3000, int(np.ceil(durations[i] * 2 * FRAMES_PER_SECOND)))) for i in rows]
        paths = ct2_engine.align(whisper, encoded[rows], prompt, [texts[i] for i in rows], frames)
        for i, (token_index, frame_index, probs) in zip(rows, paths):
            timings[i] = _words_on_path(whisper, texts[i], probs, token_index, frame_index, results[i].language)
    return timings


def _text_and_probabilities(result: DecodedChunk, eot: int) -> tuple[list[int], list[float]]:
    """A chunk's text tokens (timestamps and end-of-text left out) and each one's probability."""
    kept = [(t, lp) for t, lp in zip(result.tokens, result.logprobs) if t < eot]
    return [t for t, _ in kept], [float(np.exp(lp)) for _, lp in kept]


def _alignment_heads(whisper: WhisperModel) -> list[tuple[int, int]]:
    heads = getattr(whisper.model.generation_config, "alignment_heads", None)
    if not heads:
        # Models without published heads: openai's fallback, every head of the upper half of the decoder.
        config = whisper.model.config
        heads = [(layer, head) for layer in range(config.decoder_layers // 2, config.decoder_layers)
                 for head in range(config.decoder_attention_heads)]
    return [tuple(h) for h in heads]


def _cross_attention(whisper: WhisperModel, encoded: torch.Tensor, batch: torch.Tensor,
                     heads: list[tuple[int, int]]) -> torch.Tensor:
    # SDPA and flash kernels never materialise attention weights: switch to eager for this one pass.
    config = whisper.model.model.decoder.config
    previous = config._attn_implementation
    config._attn_implementation = "eager"
    try:
        out = whisper.model.model.decoder(
            input_ids=batch, encoder_hidden_states=encoded, output_attentions=True, use_cache=False
        )
    finally:
        config._attn_implementation = previous
    return torch.stack([out.cross_attentions[layer][:, head] for layer, head in heads], dim=1).float()


def _normalise(weights: torch.Tensor) -> np.ndarray:
    """openai/whisper: standardise each head over tokens, median-filter over time, average the heads."""
    std, mean = torch.std_mean(weights, dim=-2, keepdim=True, unbiased=False)
    weights = (weights - mean) / (std + 1e-8)
    weights = _median_filter(weights, MEDIAN_WIDTH)
    return weights.mean(dim=0).cpu().numpy()


def _median_filter(x: torch.Tensor, width: int) -> torch.Tensor:
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    padded = torch.nn.functional.pad(x[None], (pad, pad, 0, 0), mode="reflect")[0]
    return padded.unfold(-1, width, 1).median(dim=-1).values


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


def _words(whisper: WhisperModel, text: list[int], probs: list[float], matrix: np.ndarray,
           language: str | None) -> list[WordTiming]:
    token_index, frame_index = dtw(-matrix)
    return _words_on_path(whisper, text, probs, token_index, frame_index, language)


def _words_on_path(whisper, text: list[int], probs: list[float], token_index: np.ndarray,
                   frame_index: np.ndarray, language: str | None) -> list[WordTiming]:
    """Words from a token-to-frame path (rows: the text tokens, then end-of-text)."""
    words, groups = _split_words(whisper, text + [whisper.tokens.eot], language)
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
    return _tidy(_merge_punctuation(timings))


def _split_words(whisper: WhisperModel, tokens: list[int], language: str | None):
    decode = whisper.tokenizer.decode
    eot = whisper.tokens.eot
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


def _merge_punctuation(timings: list[WordTiming]) -> list[WordTiming]:
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


def _tidy(timings: list[WordTiming]) -> list[WordTiming]:
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
