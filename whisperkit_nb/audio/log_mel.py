"""Batched log-mel features on the model's device: one torch STFT for a whole batch of chunks.

Matches transformers' `WhisperFeatureExtractor` (pad to 30 s, 400-point Hann STFT with hop 160, Slaney
mel filters, log10, dynamic range clamp of 8, rescale) within float32 rounding, without its per-chunk
numpy loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

N_FFT = 400
HOP = 160
WINDOW_SAMPLES = 480_000  # 30 s at 16 kHz
N_FRAMES = WINDOW_SAMPLES // HOP  # 3000


@lru_cache(maxsize=4)
def _mel_filters(n_mels: int) -> np.ndarray:
    from transformers.audio_utils import mel_filter_bank

    return mel_filter_bank(
        num_frequency_bins=1 + N_FFT // 2,
        num_mel_filters=n_mels,
        min_frequency=0.0,
        max_frequency=8000.0,
        sampling_rate=16000,
        norm="slaney",
        mel_scale="slaney",
    ).astype(np.float32)


class LogMel:
    """Log-mel spectrogram extractor for batches of up-to-30-s chunks.

    Parameters
    ----------
    n_mels : int
        80 for most Whisper models, 128 for large-v3 and turbo (the model config's ``num_mel_bins``).
    device : torch.device | str
        Where the STFT runs (the model's device).
    """

    def __init__(self, n_mels: int, device: torch.device | str = "cpu") -> None:
        self.n_mels = n_mels
        self.device = torch.device(device)
        self.window = torch.hann_window(N_FFT, device=self.device)
        self.filters = torch.from_numpy(_mel_filters(n_mels)).to(self.device).T.contiguous()

    def __call__(self, chunks: Sequence[np.ndarray], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Features of shape (batch, n_mels, 3000) for chunks of at most 30 s of 16 kHz audio."""
        batch = np.zeros((len(chunks), WINDOW_SAMPLES), np.float32)
        for row, samples in zip(batch, chunks):
            n = min(len(samples), WINDOW_SAMPLES)
            row[:n] = samples[:n]
        audio = torch.from_numpy(batch).to(self.device, non_blocking=True)
        return self.from_padded(audio).to(dtype)

    @torch.inference_mode()
    def from_padded(self, audio: torch.Tensor) -> torch.Tensor:
        """Features of already padded audio of shape (batch, 480000)."""
        stft = torch.stft(audio, N_FFT, HOP, window=self.window, return_complex=True)
        power = stft[..., :-1].abs() ** 2
        mel = self.filters @ power
        log_spec = torch.clamp(mel, min=1e-10).log10()
        peak = log_spec.amax(dim=(1, 2), keepdim=True)
        log_spec = torch.maximum(log_spec, peak - 8.0)
        return (log_spec + 4.0) / 4.0
