"""Paths, constants and small helpers every module of the benchmark shares."""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ENTRY = REPO / "bench" / "gpu.py"  # the command line; the memory scan starts it again, once per length
CONFIGS = REPO / "bench" / "configs"
PACK_DIR = REPO / ".cache" / "bench-audio"  # what travels to the GPU machine (carry it)
BUILD_DIR = REPO / ".cache" / "bench-build"  # rebuilt wherever the bench runs: random models, prompt wavs
RESULTS = REPO / "bench" / "results"
SAMPLE_RATE = 16_000

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WHISPERKIT_NB_CACHE", str(REPO / ".cache" / "whisperkit_nb"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
for _path in (str(REPO), str(REPO / "tests")):  # whisperkit_nb from this checkout; tests/assets.py for audio
    if _path not in sys.path:
        sys.path.insert(0, _path)


def log(*parts: Any) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, file=sys.stderr, flush=True)


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(torch.device(device))}"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores, CPU only"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()}, CPU only"


class AttachError(RuntimeError):
    """A timer, switch or hook of the benchmark could not attach to the library (a name moved or vanished, or
    an attachment never fired): its numbers would be wrong, so the system fails instead of reporting them."""
