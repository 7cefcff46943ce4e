"""Word timings on transformers: the decoder's cross-attention, aligned by dynamic time warping.

After a batch is decoded, one teacher-forced decoder pass over the decoded text (batched, not a second
decoding) yields the cross-attention of the model's alignment heads; openai/whisper's recipe turns it
into a token-to-frame path (normalise, median-filter, DTW), and `transcript.words` turns the path into words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from whisperkit_nb.transcript.words import FRAMES_PER_SECOND, WordTiming, dtw, text_and_probabilities, words_on_path

if TYPE_CHECKING:
    from whisperkit_nb.engines.base import DecodedChunk
    from whisperkit_nb.engines.transformers.loaded import LoadedWhisper

MEDIAN_WIDTH = 7


@torch.inference_mode()
def align_words(engine: LoadedWhisper, encoded: torch.Tensor, results: list[DecodedChunk],
                durations: list[float]) -> list[list[WordTiming]]:
    """Word timings (chunk time) for every decoded chunk of a batch, each under its own language and task."""
    heads = _alignment_heads(engine)
    tokens = engine.tokens
    rows = []
    for result in results:
        text = text_and_probabilities(result, tokens.eot)[0]
        rows.append(tokens.prompt(result.language, result.task, timestamps=False) + text + [tokens.eot])
    width = max(len(r) for r in rows)
    batch = torch.tensor([r + [tokens.eot] * (width - len(r)) for r in rows], device=engine.device)
    weights = _cross_attention(engine, encoded, batch, heads)  # (B, heads, T, 1500)

    timings = []
    for i, result in enumerate(results):
        text, probs = text_and_probabilities(result, tokens.eot)
        if not text:
            timings.append([])
            continue
        prompt_len = len(rows[i]) - len(text) - 2
        frames = max(1, min(1500, int(np.ceil(durations[i] * FRAMES_PER_SECOND))))
        matrix = _normalise(weights[i, :, : len(rows[i]), :frames])[prompt_len : len(rows[i]) - 1]
        token_index, frame_index = dtw(-matrix)
        timings.append(words_on_path(engine.tokenizer, tokens.eot, text, probs, token_index, frame_index,
                                     result.language))
    return timings


def _alignment_heads(engine: LoadedWhisper) -> list[tuple[int, int]]:
    heads = getattr(engine.model.generation_config, "alignment_heads", None)
    if not heads:
        # Models without published heads: openai's fallback, every head of the upper half of the decoder.
        config = engine.model.config
        heads = [(layer, head) for layer in range(config.decoder_layers // 2, config.decoder_layers)
                 for head in range(config.decoder_attention_heads)]
    return [tuple(h) for h in heads]


def _cross_attention(engine: LoadedWhisper, encoded: torch.Tensor, batch: torch.Tensor,
                     heads: list[tuple[int, int]]) -> torch.Tensor:
    # SDPA and flash kernels never materialise attention weights: switch to eager for this one pass.
    config = engine.model.model.decoder.config
    previous = config._attn_implementation
    config._attn_implementation = "eager"
    try:
        out = engine.model.model.decoder(
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
