"""Speech regions: Silero VAD probabilities per 32 ms frame, turned into padded speech regions.

We run Silero's "sequence" ONNX export (shipped in the `silero-vad` package): it computes the same
per-frame probabilities as the streaming model, but a block of frames per call, so a 3-hour file costs
a few thousand calls instead of a few hundred thousand. We load the model file ourselves rather than
importing `silero_vad`, because that package sets ``torch.set_num_threads(1)`` for the whole process.

Only the model's LSTM carries state from frame to frame; everything before it (the STFT and four
convolutions, nine tenths of its time) looks at one frame and its 64 samples of context. So the model is cut
in two at the LSTM's input (`vad_graphs`): the frame features of the next blocks are computed on several
threads while the LSTM runs through the blocks in order. The two parts run the same operations on the same
blocks as the whole model, so the probabilities are the same to the bit (checked when the parts are made,
and by the tests), and the chunk plans with them.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from whisperkit_nb.audio.source import SAMPLE_RATE
from whisperkit_nb.cache import cache_dir
from whisperkit_nb.errors import MissingDependencyError

FRAME_SAMPLES = 512  # Silero's frame at 16 kHz: 32 ms
CONTEXT_SAMPLES = 64  # samples of the previous frame each frame sees
FRAMES_PER_CALL = 1024
FRAME_S = FRAME_SAMPLES / SAMPLE_RATE
MAX_THREADS = 8  # past this the LSTM's own pass (a tenth of the VAD's time, one thread) is most of what is left
GROUPS_AHEAD = 2  # calls of frame features in flight per thread: enough to keep every thread busy

THREADS: int | None = None  # threads for the frame features; None: `vad_threads` decides (prepare's workers set 1)

_session_lock = threading.RLock()
_session = None
_parts: tuple[Any, Any, str] | None = None  # (features session, recurrent session, the LSTM input's name)
_parts_loaded = False


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


def vad_threads() -> int:
    """Threads the VAD computes frame features on, at most `MAX_THREADS`: `THREADS` when set (1 in preparation
    worker processes), else torch's CPU thread count where torch is loaded (as for both engines:
    ``torch.set_num_threads(n)`` or ``OMP_NUM_THREADS=n`` caps it), else the cores this process may run on."""
    if THREADS is not None:
        return max(1, THREADS)
    torch = sys.modules.get("torch")  # not imported for this: preparation alone does not need torch
    if torch is not None:
        cores = torch.get_num_threads()
    else:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cores = os.cpu_count() or 1
        omp = os.environ.get("OMP_NUM_THREADS", "")
        if omp.isdigit() and int(omp) > 0:
            cores = min(cores, int(omp))
    return max(1, min(cores, MAX_THREADS))


def _onnxruntime():
    try:
        with _interrupt_after("onnxruntime"):
            import onnxruntime as ort
    except ImportError as err:
        raise MissingDependencyError("onnxruntime", "vad", "Silero VAD") from err
    return ort


def _new_session(model: Path | bytes):
    ort = _onnxruntime()
    options = ort.SessionOptions()
    # One thread a call: the VAD runs beside the Whisper model, which wants the cores. The VAD's own
    # parallel work is several calls at once (`speech_probabilities`).
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model if isinstance(model, bytes) else str(model), sess_options=options,
                                providers=["CPUExecutionProvider"])


def _load_session():
    """The whole model, as one session (made once per process)."""
    global _session
    with _session_lock:
        if _session is None:
            _session = _new_session(_model_path())
        return _session


def _load_parts() -> tuple[Any, Any, str] | None:
    """The model's two parts as sessions, made once per process; None where the model cannot be cut in two
    (`vad_graphs`), or where the parts would not give the whole model's numbers on a probe."""
    global _parts, _parts_loaded
    whole = _load_session()
    with _session_lock:
        if not _parts_loaded:
            graphs = vad_graphs(_model_path())
            if graphs is not None:
                features, recurrent = (_new_session(graph) for graph in graphs)
                cut = next(i.name for i in recurrent.get_inputs() if i.name not in ("h", "c"))
                _parts = (features, recurrent, cut) if _same_as_whole(whole, features, recurrent, cut) else None
            _parts_loaded = True
        return _parts


def vad_graphs(model: Path) -> tuple[bytes, bytes] | None:
    """The Silero model file ``model`` cut at its LSTM's input: (frame features, LSTM and output layer), as ONNX.

    Cut with the ``onnx`` package once per model file and kept in the cache (``vad/`` in
    `whisperkit_nb.cache.cache_dir`), so later processes load the parts without importing onnx (0.7 s).
    None when the graph is not the one this cut expects: inputs ``input``, ``h``, ``c``, and one LSTM whose
    initial state is ``h`` and ``c`` (another export of the model then runs whole, on one thread).
    """
    data = model.read_bytes()
    key = hashlib.sha256(data).hexdigest()[:16]
    folder = cache_dir() / "vad"
    paths = [folder / f"{model.stem}-{key}-{part}.onnx" for part in ("features", "recurrent")]
    if all(path.is_file() for path in paths):  # complete by construction: written by an atomic rename
        features, recurrent = (path.read_bytes() for path in paths)
        return features, recurrent
    graphs = _cut_at_lstm(data)
    if graphs is not None:
        with contextlib.suppress(OSError):  # a read-only cache: this process cut the model in memory
            folder.mkdir(parents=True, exist_ok=True)
            for path, graph in zip(paths, graphs):
                partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
                partial.write_bytes(graph)
                os.replace(partial, path)
    return graphs


def _cut_at_lstm(data: bytes) -> tuple[bytes, bytes] | None:
    try:
        import onnx
        import onnx.shape_inference
        import onnx.utils
    except ImportError as err:
        raise MissingDependencyError("onnx", "vad", "Silero VAD") from err
    model = onnx.shape_inference.infer_shapes(onnx.load_from_string(data))  # the Extractor needs every shape
    graph = model.graph
    lstms = [node for node in graph.node if node.op_type == "LSTM"]
    if ({i.name for i in graph.input} != {"input", "h", "c"} or [o.name for o in graph.output] != list(_OUTPUTS)
            or len(lstms) != 1 or list(lstms[0].input[5:7]) != ["h", "c"]):
        return None
    cut = lstms[0].input[0]
    extractor = onnx.utils.Extractor(model)
    try:
        features = extractor.extract_model(["input"], [cut])
        recurrent = extractor.extract_model([cut, "h", "c"], list(_OUTPUTS))
    except ValueError:  # a path from the state to the features, or from the audio around the LSTM
        return None
    return features.SerializeToString(), recurrent.SerializeToString()


_OUTPUTS = ("speech_probs", "hn", "cn")


def _same_as_whole(whole, features, recurrent, cut: str) -> bool:
    """Whether the two parts give the whole model's probabilities and state, to the bit, on a probe."""
    rows = (np.random.default_rng(0).standard_normal((64, CONTEXT_SAMPLES + FRAME_SAMPLES)) * 0.1).astype(np.float32)
    state = np.zeros((1, 1, 128), np.float32)
    expected = whole.run(list(_OUTPUTS), {"input": rows, "h": state, "c": state})
    (frame_features,) = features.run(None, {"input": rows})
    got = recurrent.run(list(_OUTPUTS), {cut: frame_features, "h": state, "c": state})
    return all(np.array_equal(a, b) for a, b in zip(expected, got))


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


def speech_probabilities(blocks: Iterable[np.ndarray], *, threads: int | None = None) -> np.ndarray:
    """Speech probability of every 32 ms frame of a block stream (the last frame zero-padded).

    ``threads`` (None: `vad_threads`) compute the frame features of the next calls at once, while the LSTM
    takes the calls in order; the probabilities are the same, to the bit, for any number of threads.
    """
    threads = vad_threads() if threads is None else max(1, threads)
    parts = _load_parts() if threads > 1 else None
    state = {"h": np.zeros((1, 1, 128), np.float32), "c": np.zeros((1, 1, 128), np.float32)}
    out: list[np.ndarray] = []

    def step(session, inputs: dict) -> None:
        probs, state["h"], state["c"] = session.run(list(_OUTPUTS), {**inputs, **state})
        out.append(probs.reshape(-1))

    if parts is None:
        session = _load_session()
        for rows in _calls(blocks):
            step(session, {"input": rows})
    else:
        features, recurrent, cut = parts
        pool = ThreadPoolExecutor(threads, thread_name_prefix="whisperkit-vad")
        pending: deque[Future] = deque()
        try:
            for rows in _calls(blocks):
                pending.append(pool.submit(features.run, None, {"input": rows}))
                if len(pending) > GROUPS_AHEAD * threads:
                    step(recurrent, {cut: pending.popleft().result()[0]})
            while pending:
                step(recurrent, {cut: pending.popleft().result()[0]})
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # an error or interrupt: nothing left running
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def _calls(blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """The model's input, call by call: up to `FRAMES_PER_CALL` frames of each block (and what the last
    block left over), each frame preceded by the previous frame's last `CONTEXT_SAMPLES` samples."""
    context = np.zeros(CONTEXT_SAMPLES, np.float32)
    carry = np.zeros(0, np.float32)

    def rows(frames: np.ndarray) -> np.ndarray:
        nonlocal context
        contexts = np.empty((len(frames), CONTEXT_SAMPLES), np.float32)
        contexts[0] = context
        contexts[1:] = frames[:-1, -CONTEXT_SAMPLES:]
        context = frames[-1, -CONTEXT_SAMPLES:].copy()
        return np.concatenate([contexts, frames], axis=1)

    for block in blocks:
        data = np.concatenate([carry, block]) if len(carry) else block
        whole = len(data) // FRAME_SAMPLES * FRAME_SAMPLES
        frames = data[:whole].reshape(-1, FRAME_SAMPLES)
        for i in range(0, len(frames), FRAMES_PER_CALL):
            yield rows(np.ascontiguousarray(frames[i : i + FRAMES_PER_CALL], dtype=np.float32))
        carry = data[whole:].astype(np.float32, copy=True)
    if len(carry):
        last = np.zeros((1, FRAME_SAMPLES), np.float32)
        last[0, : len(carry)] = carry
        yield rows(last)


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
