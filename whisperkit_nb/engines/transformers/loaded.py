"""`LoadedWhisper`: a transformers Whisper on its device, with what decoding needs beside it.

The decoders, rules and alignment of this package take it; `engine.TransformersEngine` extends it with the
`Engine` protocol (kept apart so those modules and the engine never import each other in a cycle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from whisperkit_nb.engines.tokens import SpecialTokens
    from whisperkit_nb.engines.weights import ResolvedModel


@dataclass(eq=False)
class LoadedWhisper:
    """A loaded `WhisperForConditionalGeneration`, its tokenizer and its decoding settings."""

    resolved: ResolvedModel
    model: Any  # WhisperForConditionalGeneration
    tokenizer: Any
    tokens: SpecialTokens
    device: torch.device
    torch_dtype: torch.dtype
    attn_implementation: str
    suppress_ids: tuple[int, ...]  # suppressed at every step (generation_config.suppress_tokens)
    suppress_begin_ids: tuple[int, ...]  # suppressed at the first step (blank, end-of-text)
    max_initial_timestamp_index: int
