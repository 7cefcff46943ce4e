"""The systems of the throughput table, what they share (`Setup`), and how a timed run becomes a row."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpubench.forcing import ForcedTokens
from gpubench.rss import peak_rss_bytes, reset_peak_rss
from gpubench.timing import StageTimer

SYSTEMS = ("ifw-sdpa", "ifw-fa2", "wk-best", "wk-no-vad", "wk-no-compile", "wk-no-prefetch")
LABELS = {
    "ifw-sdpa": "insanely-fast-whisper method (HF pipeline, 30 s chunks, sdpa)",
    "ifw-fa2": "insanely-fast-whisper method (HF pipeline, 30 s chunks, flash_attention_2)",
    "wk-best": "whisperkit_nb best (vad, auto batch, compile, prefetch)",
    "wk-no-vad": "whisperkit_nb without VAD batching (fixed 30 s windows)",
    "wk-no-compile": "whisperkit_nb without static cache/compile",
    "wk-no-prefetch": "whisperkit_nb without CPU/GPU overlap (PREFETCH off)",
}
STAGES = ("audio_decode", "vad", "features", "encoder", "decoder", "assembly")  # the table's stage columns
# Timer stages summed into each table column (the JSON keeps every timer stage apart).
COLUMN_PARTS = {
    "audio_decode": ("audio_decode", "audio_read"),
    "features": ("features",),
    "encoder": ("encoder",),
    "decoder": ("decoder", "language", "align"),
    "assembly": ("assembly",),
}


@dataclass
class Setup:
    """What every system of one run shares."""

    model: str
    model_path: Path
    device: str
    dtype: str  # option value: float16 on GPUs, float32 on CPU
    audio_path: Path
    duration: float
    input_mode: str  # "file" (ours read the file; the HF pipeline gets it decoded once) or "array"
    samples: Any  # the file decoded once (float32)
    decode_once_s: float
    forced: ForcedTokens | None
    hf_batch_size: int
    batch_size: int | None
    warmup_s: float
    compile_backend: str
    language: str | None
    cuda: bool


def run_system(key: str, setup: Setup) -> dict:
    from gpubench import ours, peers

    if key == "ifw-sdpa":
        return peers.run_ifw(setup, "sdpa")
    if key == "ifw-fa2":
        from whisperkit_nb.device import flash_attn_installed

        if not setup.cuda:
            return unavailable("flash_attention_2 needs a CUDA GPU")
        if not flash_attn_installed():
            return unavailable("flash-attn is not installed")
        return peers.run_ifw(setup, "flash_attention_2")
    if key == "wk-best":
        return ours.run_whisperkit(setup)
    if key == "wk-no-vad":
        return ours.run_whisperkit(setup, chunking="fixed-windows")
    if key == "wk-no-compile":
        return ours.run_whisperkit(setup, compile=False)
    if key == "wk-no-prefetch":
        return ours.run_whisperkit(setup, prefetch=False)
    raise SystemExit(f"unknown system {key!r}; choose from {', '.join(SYSTEMS)}")


def unavailable(reason: str) -> dict:
    """A row for a system this machine cannot run (a missing GPU or package; never a missing library name)."""
    return {"status": f"not available: {reason}", "notes": []}


def memory_start(setup: Setup) -> dict:
    import torch

    gc.collect()
    if setup.cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    return {"rss_reset": reset_peak_rss()}


def timed_row(setup: Setup, timer: StageTimer, wall: float, memory: dict, *, vad_s: float, main_thread: int,
              batch_size, windows: dict) -> dict:
    """A finished run's row: wall time, the stage columns, the raw timer stages, memory peaks."""
    import torch

    stages = {name: round(sum(timer.seconds.get(part, 0.0) for part in COLUMN_PARTS.get(name, ())), 3)
              for name in STAGES}
    stages["vad"] = round(vad_s, 3)
    other = wall - timer.thread_seconds(main_thread) - vad_s  # the calling thread's time in no timed stage
    return {
        "status": "ok",
        "wall_s": round(wall, 3),
        "x_real_time": round(setup.duration / wall, 1),
        "stages": stages,
        "stages_s": {k: round(v, 3) for k, v in sorted(timer.seconds.items())},
        "stage_calls": dict(sorted(timer.calls.items())),
        "other_s": round(max(0.0, other), 3),
        "batch_size": batch_size,
        "windows": {int(k): v for k, v in sorted(windows.items())},
        "peak_gpu_bytes": torch.cuda.max_memory_allocated() if setup.cuda else None,
        "peak_rss_bytes": peak_rss_bytes(),
        "peak_rss_scope": "this system" if memory["rss_reset"] else "process so far (peak could not be reset)",
        "notes": [],
    }


def release(setup: Setup) -> None:
    import torch

    from whisperkit_nb.engines.registry import release_models

    release_models()
    gc.collect()
    if setup.cuda:
        torch.cuda.empty_cache()


def full_batch_s(setup: Setup, batch: int) -> float:
    """Seconds of audio that fill one batch of 30 s windows (with some to spare), at most 40 minutes: every
    system is warmed up on this after the head of the audio, so none pays per-shape costs when timed."""
    return min(setup.duration, batch * 30.0 + 60.0, 2400.0)
