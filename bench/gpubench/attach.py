"""Where the benchmark attaches to whisperkit_nb besides the engine: the progress hook, the audio source, and
the few names an ablation replaces. Each attachment raises `AttachError` when its target is missing, and each
can be checked afterwards to have fired; none is skipped with a note."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from gpubench.common import AttachError
from gpubench.timing import StageTimer

_INHERITED = object()


@contextlib.contextmanager
def replaced(owner: Any, attr: str, value: Any) -> Iterator[None]:
    """``owner.attr = value`` for the block, restored after; AttachError if ``owner`` has no ``attr``."""
    if not hasattr(owner, attr):
        raise AttachError(f"{getattr(owner, '__name__', type(owner).__name__)} has no attribute {attr!r} to replace")
    own = getattr(owner, "__dict__", {})
    original = own.get(attr, _INHERITED)  # static (a class's function, not a bound method)
    setattr(owner, attr, value)
    try:
        yield
    finally:
        if original is _INHERITED:
            delattr(owner, attr)  # found on a class or type before: uncover it again
        else:
            setattr(owner, attr, original)


@contextlib.contextmanager
def wrapped(owner: Any, attr: str, make: Callable[[Callable], Callable]) -> Iterator[None]:
    """``owner.attr = make(owner.attr)`` for the block (a timer around a method); AttachError if missing."""
    if not callable(getattr(owner, attr, None)):
        raise AttachError(f"{getattr(owner, '__name__', type(owner).__name__)} has no method {attr!r} to time")
    with replaced(owner, attr, make(getattr(owner, attr))):
        yield


def stream_segments_with_engine() -> Callable:
    """whisperkit_nb's `stream_segments`, checked to take an engine object (``engine=``)."""
    from whisperkit_nb.run import stream

    if "engine" not in inspect.signature(stream.stream_segments).parameters:
        raise AttachError("whisperkit_nb.run.stream.stream_segments takes no engine= argument, so TimedEngine "
                          "cannot time the encoder and decoder (the engine protocol of whisperkit_nb/engines/"
                          "base.py has not landed)")
    return stream.stream_segments


def timed_source(source: Any, timer: StageTimer) -> Any:
    """The same `AudioSource`, its reads timed: ``blocks()`` (decoding) as "audio_decode", ``read_spans()``
    (cutting chunks from the decoded blocks, on whichever thread reads them) as "audio_read"."""
    from whisperkit_nb.audio.source import AudioSource

    if not isinstance(source, AudioSource):
        raise AttachError(f"open_audio returned {type(source).__name__}, not whisperkit_nb's AudioSource")
    for method in ("blocks", "read_spans"):
        if not callable(getattr(AudioSource, method, None)):
            raise AttachError(f"AudioSource has no {method}() to time")

    @dataclasses.dataclass(frozen=True)
    class TimedSource(AudioSource):
        timer: Any = dataclasses.field(default=None, compare=False, repr=False)

        def blocks(self):
            return self.timer.wrap_iterator("audio_decode", super().blocks())

        def read_spans(self, spans):
            return self.timer.wrap_iterator("audio_read", super().read_spans(spans))

    fields = {f.name: getattr(source, f.name) for f in dataclasses.fields(source)}
    return TimedSource(**fields, timer=timer)


class ProgressClock:
    """A progress callback that times the VAD pass from `ProgressEvent`s.

    The VAD pass ends with the last "vad" event (the library sends one after the chunk plan is made); its
    time, from `start` on, less the time this thread spent inside timed stages meanwhile, is the VAD's own. A
    file is decoded on a thread of its own beside the VAD (`whisperkit_nb.speech.plan.DECODE_AHEAD`), so that
    decoding is not subtracted and a wait for it counts as VAD; with DECODE_AHEAD off, this thread decodes and
    its decoding is subtracted. "transcribe" events follow each batch; the last must report all speech done.
    """

    def __init__(self, timer: StageTimer) -> None:
        self.timer = timer
        self.events: list[tuple[float, Any, float]] = []  # (clock, event, the run thread's staged seconds)
        self._start: tuple[float, float] | None = None
        self._thread: int | None = None  # the thread that runs stream_segments (and the VAD pass)

    def start(self) -> None:
        self._thread = threading.get_ident()
        self._start = (time.perf_counter(), self.timer.thread_seconds(self._thread))

    def __call__(self, event: Any) -> None:
        self.events.append((time.perf_counter(), event, self.timer.thread_seconds(self._thread)))

    def vad_seconds(self) -> float:
        if self._start is None:
            raise RuntimeError("ProgressClock.start() was not called before the run")
        vad = [(t, staged) for t, event, staged in self.events if event.stage == "vad"]
        if not vad:
            raise AttachError("no 'vad' ProgressEvent reached the callback: stream_segments no longer reports "
                              "its VAD pass through callback=")
        (t, staged), (t0, staged0) = vad[-1], self._start
        return max(0.0, (t - t0) - (staged - staged0))

    def check_transcribed(self) -> None:
        done = [event for _, event, _ in self.events if event.stage == "transcribe"]
        if not done:
            raise AttachError("no 'transcribe' ProgressEvent reached the callback")
        if done[-1].done < done[-1].total:
            raise AttachError(f"the last 'transcribe' event reports {done[-1].done} of {done[-1].total} s")
