"""Memory readings of this process: the kernel's peak RSS (resettable), and a sampler of RSS over a run."""

from __future__ import annotations

import resource
import threading
import time
from pathlib import Path


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux >= 4.0); False where it cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class RssSampler:
    """Samples this process's resident memory twice a second while a run lasts: a flat median with spikes
    means per-batch transients, a rising median means memory that grows with the audio."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.every_s = every_s
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.perf_counter()
        while not self._stop.is_set():
            try:
                for line in Path("/proc/self/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.samples.append((time.perf_counter() - started, int(line.split()[1]) * 1024))
            except OSError:
                return
            self._stop.wait(self.every_s)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        if len(self.samples) < 4:
            return {}
        import numpy as np

        times = np.array([t for t, _ in self.samples])
        rss = np.array([r for _, r in self.samples]) / 2**20
        halves = len(rss) // 2
        return {"rss_median_mib": round(float(np.median(rss))),
                "rss_median_first_half_mib": round(float(np.median(rss[:halves]))),
                "rss_median_second_half_mib": round(float(np.median(rss[halves:]))),
                "rss_sampled_max_at": f"{times[int(rss.argmax())] / times[-1]:.0%} of the run"}
