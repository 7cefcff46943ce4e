"""What machine a benchmark ran on (the date-and-machine line every bench table carries), and how busy it was."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what `platform` knows."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_with_encoder() -> str:
    """The CPU as a bench's machine line names it: model, cores, torch threads, AMX, and the encoder the
    CTranslate2 default runs there (the CPU decides it: AMX or AVX512_BF16 bfloat16, no AVX-512 float32, else
    CTranslate2's int8; whisperkit_nb/engines/torch_encoder.py)."""
    import torch

    from whisperkit_nb.engines.torch_encoder import encoder_dtype, has_amx, has_avx512_bf16

    amx = "AMX" if has_amx() else "no AMX, AVX512_BF16" if has_avx512_bf16() else "no AMX"
    dtype = encoder_dtype("cpu", "auto")
    encoder = "encoder int8 (CTranslate2)" if dtype is None else f"encoder {str(dtype).removeprefix('torch.')} (torch)"
    return f"{cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads, {amx}, {encoder}"


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages: how much else the machine was running during a timed run."""
    return [round(x, 2) for x in os.getloadavg()]


def cpu_seconds() -> float:
    """CPU seconds of this process (all threads) and of its children that have exited (worker processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def warm_file_cache(paths: list[Path]) -> None:
    """Read the files once, so the first timed run does not pay for the disk."""
    for path in paths:
        with open(path, "rb") as f:
            while f.read(1 << 22):
                pass
