"""The stage clock: host seconds per stage, exclusive of nested stages, per thread; on CUDA a device stage
synchronises at its entry and exit, so its host time is its GPU time."""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass
class _Frame:
    name: str
    started: float
    child_s: float = 0.0


class StageTimer:
    """Seconds per stage name, summed over calls and threads, each stage's own time only (time spent in a
    stage opened inside it counts for the inner one).

    ``sync`` (``torch.cuda.synchronize`` on GPUs, else None) runs at the entry and exit of device stages:
    at entry so that work queued earlier is not charged to the stage, at exit so that its own work is. That
    costs one wait per device-stage call (a few per batch); host-only stages never wait.
    """

    def __init__(self, sync: Callable[[], None] | None = None) -> None:
        self.sync = sync
        self.seconds: collections.Counter = collections.Counter()
        self.calls: collections.Counter = collections.Counter()
        self.threads: dict[str, set[int]] = collections.defaultdict(set)  # stage -> idents of threads it ran on
        self._per_thread: collections.Counter = collections.Counter()  # thread ident -> seconds in any stage
        self._local = threading.local()
        self._lock = threading.Lock()

    def _stack(self) -> list[_Frame]:
        if not hasattr(self._local, "stack"):
            self._local.stack = []
        return self._local.stack

    def enter(self, name: str, device: bool = False) -> None:
        if device and self.sync is not None:
            self.sync()
        self._stack().append(_Frame(name, time.perf_counter()))

    def exit(self, device: bool = False) -> None:
        if device and self.sync is not None:
            self.sync()
        frame = self._stack().pop()
        elapsed = time.perf_counter() - frame.started
        ident = threading.get_ident()
        stack = self._stack()
        with self._lock:
            self.seconds[frame.name] += elapsed - frame.child_s
            self.calls[frame.name] += 1
            self.threads[frame.name].add(ident)
            if not stack:  # outermost: this thread's total grows by the whole span
                self._per_thread[ident] += elapsed
        if stack:
            stack[-1].child_s += elapsed

    @contextlib.contextmanager
    def stage(self, name: str, device: bool = False) -> Iterator[None]:
        self.enter(name, device)
        try:
            yield
        finally:
            self.exit(device)

    def wrap(self, name: str, fn: Callable, device: bool = False) -> Callable:
        def timed(*args, **kwargs):
            with self.stage(name, device):
                return fn(*args, **kwargs)

        timed.__wrapped__ = fn
        return timed

    def wrap_iterator(self, name: str, items, device: bool = False) -> Iterator:
        """Time each ``next()`` of ``items`` (a generator does its work lazily, inside them); closing the
        returned generator closes ``items``."""
        inner = iter(items)
        try:
            while True:
                with self.stage(name, device):
                    try:
                        item = next(inner)
                    except StopIteration:
                        return
                yield item
        finally:
            getattr(inner, "close", lambda: None)()

    def wrap_generator(self, name: str, fn: Callable, device: bool = False) -> Callable:
        """`wrap_iterator` around whatever ``fn`` returns."""

        def timed(*args, **kwargs):
            return self.wrap_iterator(name, fn(*args, **kwargs), device)

        timed.__wrapped__ = fn
        return timed

    def thread_seconds(self, ident: int | None = None) -> float:
        """Seconds this thread (default: the calling one) has spent inside any stage so far."""
        with self._lock:
            return self._per_thread[threading.get_ident() if ident is None else ident]

    def require(self, *names: str, what: str) -> None:
        """Raise `AttachError` for each stage of ``names`` that never ran: its timer is attached to nothing."""
        from gpubench.common import AttachError

        idle = [name for name in names if not self.calls[name]]
        if idle:
            raise AttachError(f"{what}: the timer of stage(s) {', '.join(idle)} attached but never ran, so the "
                              "library no longer goes through that attachment point")
