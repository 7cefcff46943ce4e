"""Hardware choices: device, dtype, attention kernel and batch size, resolved from the options."""

from __future__ import annotations

import importlib.util

import torch

from whisperkit_nb.errors import MissingDependencyError, OptionsError

CPU_BATCH_SIZE = 16  # measured on base: the decoder is memory-bound, 16 rows amortise weight reads
MAX_AUTO_BATCH = 64
GPU_MEMORY_FRACTION = 0.7  # leave room for the allocator's fragmentation and other tensors


def resolve_device(device: str) -> torch.device:
    """The torch device for an option value ("auto" prefers CUDA, then MPS, then CPU)."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise OptionsError(f"device={device!r} but no CUDA GPU is visible to torch; use device='cpu'.")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise OptionsError(f"device={device!r} but only {torch.cuda.device_count()} CUDA device(s) exist.")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise OptionsError("device='mps' but MPS is not available on this machine.")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """float16 on GPUs, float32 on CPU unless asked otherwise; float16 on CPU raises (unsupported kernels)."""
    if dtype == "auto":
        return torch.float32 if device.type == "cpu" else torch.float16
    chosen = getattr(torch, dtype)
    if device.type == "cpu" and chosen is torch.float16:
        raise OptionsError("dtype='float16' is not supported on CPU; use 'float32' (or 'bfloat16').")
    return chosen


def flash_attn_installed() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def resolve_attention(attn: str, device: torch.device, dtype: torch.dtype) -> str:
    """SDPA by default; Flash Attention 2 when asked for or, with "auto", when it can actually run."""
    can_flash = device.type == "cuda" and dtype in (torch.float16, torch.bfloat16)
    if attn == "auto":
        return "flash_attention_2" if can_flash and flash_attn_installed() else "sdpa"
    if attn == "flash_attention_2":
        if not flash_attn_installed():
            raise MissingDependencyError("flash-attn", "flash", "attn_implementation='flash_attention_2'")
        if not can_flash:
            raise OptionsError(
                "attn_implementation='flash_attention_2' needs a CUDA GPU and dtype float16 or bfloat16; "
                f"this run has device={device.type!r}, dtype={str(dtype).removeprefix('torch.')!r}."
            )
    return attn


def auto_batch_size(device: torch.device, d_model: int, decoder_layers: int, dtype: torch.dtype,
                    max_new_tokens: int) -> int:
    """A batch size that fits the free GPU memory (the CPU default on other devices).

    Per chunk, the decoder keeps cross-attention keys/values for 1500 encoder frames and self-attention
    keys/values for the prompt plus generated tokens, in every decoder layer; the encoder's activations
    for one window are of the same order. Model weights are already on the device when this runs.
    """
    if device.type != "cuda":
        return CPU_BATCH_SIZE
    free, _ = torch.cuda.mem_get_info(device)
    item_bytes = torch.tensor([], dtype=dtype).element_size()
    kv = decoder_layers * 2 * (1500 + max_new_tokens + 8) * d_model * item_bytes
    encoder_activations = 1500 * d_model * item_bytes * 16
    per_chunk = kv + encoder_activations
    return int(max(1, min(MAX_AUTO_BATCH, free * GPU_MEMORY_FRACTION // per_chunk)))
