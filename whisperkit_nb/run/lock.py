"""One transcription at a time per process: the runs share one model."""

from __future__ import annotations

import contextlib
import functools
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from whisperkit_nb.errors import user_stacklevel


class RunLock:
    """One transcription at a time per process: the runs share one model (and CTranslate2's sampling state).

    A call from another thread (a magic run from a thread, a second panel) waits for the run in progress,
    with one warning saying so. A call from the thread that is already running one (from a progress
    callback, or beside a `stream_segments` generator that was neither finished nor closed) would wait for
    itself forever, so it raises instead.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._owner: threading.Thread | None = None
        self._what = ""

    @contextlib.contextmanager
    def hold(self, what: str) -> Iterator[None]:
        """Hold the run for ``what`` (the public entry point's name) until the block ends."""
        me = threading.current_thread()
        with self._changed:
            owner, running = self._owner, self._what
        if owner is me:
            raise RuntimeError(
                f"{what}() was called while this thread is already running {running}() (from a progress "
                "callback, or beside an unfinished stream_segments generator: exhaust it or close() it first). "
                "whisperkit_nb runs one transcription at a time."
            )
        if owner is not None:
            warnings.warn(f"{what}() waits for the {running}() already running in thread {owner.name!r} to finish: "
                          "whisperkit_nb runs one transcription at a time.", stacklevel=user_stacklevel())
        try:  # taken inside the try: an interrupt just after taking it still gives it back
            with self._changed:
                while self._owner is not None:
                    self._changed.wait()  # a KeyboardInterrupt here leaves without the run
                self._owner, self._what = me, what
            yield
        finally:
            with self._changed:
                if self._owner is me:
                    self._owner, self._what = None, ""
                    self._changed.notify()


RUN = RunLock()


def one_run_at_a_time(func: Callable) -> Callable:
    """``func`` holding `RUN` for its whole call (see `RunLock`)."""

    @functools.wraps(func)
    def exclusive(*args: Any, **kwargs: Any) -> Any:
        with RUN.hold(func.__name__):
            return func(*args, **kwargs)

    return exclusive
