"""Audio in: files FFmpeg reads (through PyAV), numpy arrays and torch tensors, as 16 kHz mono float32.

Files are decoded as a stream of blocks, never as one whole-file array, so memory stays bounded for
multi-hour recordings: the VAD pass reads the blocks once, and the transcription pass reads them again
keeping only the speech spans it needs (decoding is far cheaper than either pass's model).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AudioError

SAMPLE_RATE = 16_000
BLOCK_SAMPLES = SAMPLE_RATE * 30  # decode granularity: small enough to bound memory, large enough to be fast

ARRAY_NAME = "<array>"


@dataclass(frozen=True)
class AudioSource:
    """One input, opened and checked, ready to be read in blocks.

    Attributes
    ----------
    name : str
        The path as given, or ``"<array>"`` for in-memory audio.
    path : Path | None
        The file, for file inputs.
    samples : numpy.ndarray | None
        16 kHz mono float32 samples, for in-memory inputs.
    duration : float | None
        Length in seconds when known before decoding (containers may not say).
    """

    name: str
    path: Path | None = None
    samples: np.ndarray | None = None
    duration: float | None = None

    def blocks(self) -> Iterator[np.ndarray]:
        """Yield consecutive 16 kHz mono float32 blocks covering the whole input."""
        if self.samples is not None:
            for start in range(0, len(self.samples), BLOCK_SAMPLES):
                yield self.samples[start : start + BLOCK_SAMPLES]
            return
        yield from _decode_blocks(self)

    def in_memory(self) -> AudioSource:
        """The same input with all its samples decoded once into memory (for stages that need them all)."""
        if self.samples is not None:
            return self
        samples = np.concatenate(list(self.blocks()))
        return AudioSource(self.name, self.path, samples, len(samples) / SAMPLE_RATE)

    def read_spans(self, spans: Sequence[tuple[int, int]]) -> Iterator[np.ndarray]:
        """Yield the samples of each (start, end) span, in order; spans must be sorted and disjoint."""
        if self.samples is not None:
            for start, end in spans:
                yield self.samples[start:end]
            return
        yield from _spans_from_blocks(self.blocks(), spans)


def expand_inputs(audio: Any) -> list[Any]:
    """Turn one input, a list of inputs, or a glob pattern into a list of inputs, in order.

    A string with glob characters that matches nothing is kept, so that it fails later with a clear
    "file not found" naming the pattern.
    """
    items = list(audio) if isinstance(audio, (list, tuple)) and not is_array_pair(audio) else [audio]
    expanded: list[Any] = []
    for item in items:
        if isinstance(item, (str, os.PathLike)) and any(ch in str(item) for ch in "*?["):
            matches = sorted(glob.glob(os.path.expanduser(str(item)), recursive=True))
            expanded.extend(matches or [str(item)])
        else:
            expanded.append(item)
    return expanded


def open_audio(source: Any) -> AudioSource:
    """Check one input and return an `AudioSource`; raise `AudioError` naming it if it is unusable.

    Accepts a path (str or PathLike), a 1-D or (channels, samples) numpy array or torch tensor at 16 kHz,
    an ``(array, sample_rate)`` pair, or a dict with ``array``/``sampling_rate`` (Hugging Face datasets)
    or ``waveform``/``sample_rate`` (pyannote) keys.
    """
    if isinstance(source, (str, os.PathLike)):
        return _open_file(Path(os.path.expanduser(str(source))), str(source))
    array, rate = _array_and_rate(source)
    return AudioSource(name=ARRAY_NAME, samples=_to_mono_16k(array, rate), duration=None)


def is_array_pair(value: Any) -> bool:
    return (
        len(value) == 2
        and isinstance(value[1], (int, float, np.number))
        and not isinstance(value[1], bool)
        and not isinstance(value[0], (str, os.PathLike))
    )


def _array_and_rate(source: Any) -> tuple[np.ndarray, int]:
    rate = SAMPLE_RATE
    if isinstance(source, dict):
        if "array" in source:
            source, rate = source["array"], source.get("sampling_rate", SAMPLE_RATE)
        elif "waveform" in source:
            source, rate = source["waveform"], source.get("sample_rate", SAMPLE_RATE)
        else:
            raise AudioError(ARRAY_NAME, "a dict input needs 'array' and 'sampling_rate' keys")
    elif isinstance(source, tuple) and len(source) == 2 and is_array_pair(source):
        source, rate = source
    if hasattr(source, "detach") and hasattr(source, "cpu"):  # a torch tensor, without importing torch
        source = (source.detach().cpu().float() if source.is_floating_point() else source.detach().cpu()).numpy()
    if not isinstance(source, np.ndarray):
        raise AudioError(
            repr(type(source).__name__),
            "is not audio: pass a file path, a numpy array or torch tensor of samples, or (array, sample_rate)",
        )
    return source, int(rate)


def _to_mono_16k(array: np.ndarray, rate: int) -> np.ndarray:
    if array.size == 0:
        raise AudioError(ARRAY_NAME, "contains no samples (zero-length audio)")
    if array.ndim == 2:
        # (channels, samples) as torch/pyannote lay it out; (samples, channels) as soundfile does
        array = array.mean(axis=0 if array.shape[0] <= array.shape[1] else 1)
    if array.ndim != 1:
        raise AudioError(ARRAY_NAME, f"expected 1-D or 2-D samples, got shape {array.shape}")
    if np.issubdtype(array.dtype, np.unsignedinteger):  # unsigned PCM is centred on half scale
        half = float(np.iinfo(array.dtype).max) / 2 + 0.5
        array = (array.astype(np.float32) - half) / half
    elif not np.issubdtype(array.dtype, np.floating):
        scale = float(np.iinfo(array.dtype).max) + 1 if np.issubdtype(array.dtype, np.integer) else 1.0
        array = array.astype(np.float32) / scale
    if not np.isfinite(array).all():
        raise AudioError(ARRAY_NAME, "contains NaN or infinite samples")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if rate != SAMPLE_RATE:
        array = _resample(array, rate)
    return array


def _resample(array: np.ndarray, rate: int) -> np.ndarray:
    """Resample an in-memory array with FFmpeg's resampler, the same one files go through."""
    import av

    frame = av.AudioFrame.from_ndarray(array[None, :], format="flt", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    pieces = [f.to_ndarray()[0] for f in resampler.resample(frame)]
    pieces += [f.to_ndarray()[0] for f in resampler.resample(None)]
    return np.concatenate(pieces).astype(np.float32, copy=False)


def _open_file(path: Path, name: str) -> AudioSource:
    import av

    if not path.exists():
        raise AudioError(name, "file not found")
    if path.is_dir():
        raise AudioError(name, "is a directory, not an audio file (pass a glob such as 'folder/*.wav')")
    if path.stat().st_size == 0:
        raise AudioError(name, "is empty (0 bytes)")
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(name, "contains no audio stream")
            duration = _container_duration(container)
    except AudioError:
        raise
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as err:
        raise AudioError(name, f"is not a readable audio file ({_ffmpeg_reason(err)})") from err
    return AudioSource(name=name, path=path, duration=duration)


def _container_duration(container: Any) -> float | None:
    stream = container.streams.audio[0]
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def _ffmpeg_reason(err: BaseException) -> str:
    return getattr(err, "strerror", None) or str(err) or type(err).__name__


def _decode_blocks(source: AudioSource) -> Iterator[np.ndarray]:
    import av

    # Keep the channels and average them ourselves: FFmpeg's own downmix scales by 1/sqrt(2), so a
    # stereo file would come out louder than the same audio passed as an array (and exceed [-1, 1]).
    resampler = av.AudioResampler(format="fltp", layout=None, rate=SAMPLE_RATE)
    pending: list[np.ndarray] = []
    pending_len = 0
    total = 0
    try:
        with av.open(str(source.path), metadata_errors="ignore") as container:
            stream = container.streams.audio[0]
            stream.thread_type = "AUTO"
            for frame in _frames_then_flush(container, stream):
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().mean(axis=0, dtype=np.float32)
                    pending.append(samples)
                    pending_len += len(samples)
                    if pending_len >= BLOCK_SAMPLES:
                        block = np.concatenate(pending)
                        pending, pending_len = [], 0
                        total += len(block)
                        yield block
    except av.error.FFmpegError as err:
        at = (total + pending_len) / SAMPLE_RATE
        raise AudioError(source.name, f"decoding failed after {at:.1f} s ({_ffmpeg_reason(err)})") from err
    if pending:
        total += pending_len
        yield np.concatenate(pending)
    if total == 0:
        raise AudioError(source.name, "contains no audio samples (zero-length or undecodable audio)")


def _frames_then_flush(container: Any, stream: Any) -> Iterable[Any]:
    yield from container.decode(stream)
    yield None  # flushes the resampler's buffered tail


def _spans_from_blocks(blocks: Iterable[np.ndarray], spans: Sequence[tuple[int, int]]) -> Iterator[np.ndarray]:
    """Cut sorted, disjoint sample spans out of a block stream, holding at most one span in memory."""
    span_iter = iter(spans)
    current = next(span_iter, None)
    pieces: list[np.ndarray] = []
    offset = 0
    for block in blocks:
        block_end = offset + len(block)
        while current is not None:
            start, end = current
            if start >= block_end:
                break
            lo, hi = max(start, offset), min(end, block_end)
            if hi > lo:
                pieces.append(block[lo - offset : hi - offset].copy())
            if end > block_end:
                break
            yield np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
            pieces = []
            current = next(span_iter, None)
        offset = block_end
        if current is None:
            return
    if current is not None:  # spans past the end (rounding at the file's tail): return what exists
        yield np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        for _ in span_iter:
            yield np.zeros(0, np.float32)
