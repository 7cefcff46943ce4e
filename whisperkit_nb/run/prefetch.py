"""Reading ahead of the model: a generator run on a CPU thread, a bounded number of items ahead."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any


def ahead(items: Iterator, depth: int) -> Iterator:
    """Run a generator on a CPU thread, up to ``depth`` items ahead, so decoding audio overlaps model work.

    The queue is bounded (memory stays flat), errors surface in the consumer, and closing the consumer
    (end, error, KeyboardInterrupt) stops the thread: it never blocks on a full queue nobody reads, closes
    ``items`` (and the file it reads) itself, and is waited for, up to `PREFETCH_STOP_S`.
    """
    if not PREFETCH:
        yield from items
        return
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

    thread = threading.Thread(target=work, name="whisperkit-prefetch", daemon=True)
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
        thread.join(PREFETCH_STOP_S)  # at most the item being read; a daemon, so never holds up the exit


PREFETCH = True  # decode the next chunks' audio on a CPU thread while the model works (bench ablation)


PREFETCH_STOP_S = 5.0  # longest wait for the prefetch thread to finish its item once decoding stops
