"""Reading ahead: a generator run on a CPU thread, a bounded number of items ahead of its consumer.

Used twice: FFmpeg decodes an input's next blocks while the VAD runs over the last ones (`speech.plan`), and
the next chunks' audio is read while the model decodes a batch (`run.prefetch`). Both pay because the other
side (onnxruntime, the model) releases Python's GIL while it works.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

T = TypeVar("T")

STOP_S = 5.0  # longest wait for the reading thread to finish its item once the consumer stops


def read_ahead(items: Iterator[T], depth: int, name: str = "whisperkit-read-ahead") -> Iterator[T]:
    """Yield what ``items`` yields, in order, produced on a thread up to ``depth`` items ahead.

    The queue is bounded (memory stays flat), errors surface in the consumer where the item would have come,
    and closing the consumer (end, error, KeyboardInterrupt) stops the thread: it never blocks on a full queue
    nobody reads, closes ``items`` (and the file it reads) itself, and is waited for, up to `STOP_S`.
    """
    done = object()
    out: queue.Queue = queue.Queue(maxsize=max(depth, 1))
    stop = threading.Event()

    def put(entry: tuple[bool, Any]) -> bool:
        """Queue ``entry`` for the consumer; False once it has stopped reading."""
        while not stop.is_set():
            try:
                out.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((True, done))
        except BaseException as err:  # noqa: BLE001 - re-raised in the consumer
            put((False, err))
        finally:
            getattr(items, "close", lambda: None)()

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    try:
        while True:
            ok, item = out.get()
            if not ok:
                raise item
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join(STOP_S)  # at most the item being read; a daemon, so never holds up the exit
