"""Speech regions: Silero VAD probabilities per 32 ms frame, turned into padded speech regions.

We run Silero's "sequence" ONNX export (shipped in the `silero-vad` package): it computes the same
per-frame probabilities as the streaming model, but a block of frames per call, so a 3-hour file costs
a few thousand calls instead of a few hundred thousand. We load the model file ourselves rather than
importing `silero_vad`, because that package sets ``torch.set_num_threads(1)`` for the whole process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from whisperkit_nb.audio.source import SAMPLE_RATE
from whisperkit_nb.errors import MissingDependencyError

FRAME_SAMPLES = 512  # Silero's frame at 16 kHz: 32 ms
CONTEXT_SAMPLES = 64  # samples of the previous frame each frame sees
FRAMES_PER_CALL = 1024
FRAME_S = FRAME_SAMPLES / SAMPLE_RATE

_session_lock = threading.Lock()
_session = None


@dataclass(frozen=True)
class SpeechRegion:
    """A stretch of speech, in samples on the original timeline (end exclusive)."""

    start: int
    end: int

    @property
    def duration(self) -> float:
        return (self.end - self.start) / SAMPLE_RATE


def _model_path() -> Path:
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("silero-vad", "vad", "VAD chunking (chunking='vad')")
    return Path(spec.submodule_search_locations[0]) / "data" / "silero_vad_16k_sequence.onnx"


def _load_session():
    global _session
    with _session_lock:
        if _session is None:
            try:
                with _interrupt_after("onnxruntime"):
                    import onnxruntime as ort
            except ImportError as err:
                raise MissingDependencyError("onnxruntime", "vad", "Silero VAD") from err
            options = ort.SessionOptions()
            # One thread: the VAD runs beside the Whisper model, which wants the cores.
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            _session = ort.InferenceSession(
                str(_model_path()), sess_options=options, providers=["CPUExecutionProvider"]
            )
        return _session


@contextlib.contextmanager
def _interrupt_after(module: str) -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) until the first import of ``module`` is done, then raise it.

    An interrupt inside onnxruntime's first import leaves it half initialised, and every later import in the
    process (the next ``%transcribe`` in the same kernel) fails with "ImportError: initialization failed".
    Signal handlers belong to the main thread; elsewhere, or once imported, this does nothing.
    """
    if module in sys.modules or threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
    if caught:
        raise KeyboardInterrupt


def speech_probabilities(blocks: Iterable[np.ndarray]) -> np.ndarray:
    """Speech probability of every 32 ms frame of a block stream (the last frame zero-padded)."""
    session = _load_session()
    hidden = np.zeros((1, 1, 128), np.float32)
    cell = np.zeros((1, 1, 128), np.float32)
    context = np.zeros(CONTEXT_SAMPLES, np.float32)
    carry = np.zeros(0, np.float32)
    out: list[np.ndarray] = []

    def run(frames: np.ndarray) -> None:
        nonlocal hidden, cell, context
        contexts = np.empty((len(frames), CONTEXT_SAMPLES), np.float32)
        contexts[0] = context
        contexts[1:] = frames[:-1, -CONTEXT_SAMPLES:]
        context = frames[-1, -CONTEXT_SAMPLES:].copy()
        probs, hidden, cell = session.run(
            ["speech_probs", "hn", "cn"],
            {"input": np.concatenate([contexts, frames], axis=1), "h": hidden, "c": cell},
        )
        out.append(probs.reshape(-1))

    for block in blocks:
        data = np.concatenate([carry, block]) if len(carry) else block
        whole = len(data) // FRAME_SAMPLES * FRAME_SAMPLES
        frames = data[:whole].reshape(-1, FRAME_SAMPLES)
        for i in range(0, len(frames), FRAMES_PER_CALL):
            run(np.ascontiguousarray(frames[i : i + FRAMES_PER_CALL], dtype=np.float32))
        carry = data[whole:].astype(np.float32, copy=True)
    if len(carry):
        last = np.zeros((1, FRAME_SAMPLES), np.float32)
        last[0, : len(carry)] = carry
        run(last)
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def quiet_below(threshold: float) -> float:
    """Probability under which a frame counts as silence once speech has started (Silero's hysteresis)."""
    return max(threshold - 0.15, 0.01)


def speech_regions(
    probs: np.ndarray,
    num_samples: int,
    *,
    threshold: float = 0.5,
    min_silence_s: float = 0.5,
    min_speech_s: float = 0.25,
    pad_s: float = 0.1,
) -> list[SpeechRegion]:
    """Turn frame probabilities into padded speech regions (Silero's hysteresis rule).

    Speech starts at a frame at or above ``threshold`` and ends once the probability has stayed below
    ``threshold - 0.15`` for ``min_silence_s``; regions shorter than ``min_speech_s`` are dropped.
    Each region is padded by ``pad_s`` on both sides; where pads of neighbours would overlap, the gap
    is split in the middle, so regions never overlap.
    """
    low = quiet_below(threshold)
    min_silence = int(round(min_silence_s / FRAME_S))
    raw: list[tuple[int, int]] = []
    start = None
    quiet_since = None
    for i, p in enumerate(probs):
        if start is None:
            if p >= threshold:
                start, quiet_since = i, None
            continue
        if p >= threshold:
            quiet_since = None
        elif p < low:
            quiet_since = i if quiet_since is None else quiet_since
            if i - quiet_since + 1 >= max(min_silence, 1):
                raw.append((start, quiet_since))
                start, quiet_since = None, None
    if start is not None:
        raw.append((start, len(probs) if quiet_since is None else quiet_since))

    min_frames = min_speech_s / FRAME_S
    kept = [(s * FRAME_SAMPLES, e * FRAME_SAMPLES) for s, e in raw if e - s >= min_frames]
    return _pad(kept, num_samples, int(pad_s * SAMPLE_RATE))


def _pad(regions: list[tuple[int, int]], num_samples: int, pad: int) -> list[SpeechRegion]:
    padded: list[SpeechRegion] = []
    for i, (s, e) in enumerate(regions):
        lo = max(0, s - pad)
        hi = min(num_samples, e + pad)
        if i > 0:
            prev_end = regions[i - 1][1]
            lo = max(lo, (prev_end + s) // 2) if s - prev_end < 2 * pad else lo
        if i + 1 < len(regions):
            next_start = regions[i + 1][0]
            hi = min(hi, (e + next_start) // 2) if next_start - e < 2 * pad else hi
        if hi > lo:
            padded.append(SpeechRegion(lo, hi))
    return padded
