"""Progress bars for terminals and notebooks: a hook that draws the pipeline's `ProgressEvent`s with tqdm.

The pipeline only emits events; the front ends (``whisperkit_nb.transcribe(progress=True)``, the CLI and
the notebook layer) pass a `ProgressBars` as one of its callbacks (see `whisperkit_nb.events.combine`).
"""

from __future__ import annotations

import html
import threading
from collections.abc import Iterable
from typing import Any

from whisperkit_nb.events import FileProgress, ProgressEvent, short_name
from whisperkit_nb.output.summary import display_name

NAME_WIDTH = 40  # a file name longer than this is cut in the bar's label (the notebook's tooltip has it whole)


class ProgressBars:
    """A progress callback drawing one ``tqdm.auto`` bar per input, over all of its stages.

    A bar is labelled with the input's file name (the full path is its tooltip in a notebook) and counts
    seconds of the input's audio, the stages sharing them by their cost (`whisperkit_nb.events.FileProgress`:
    diarization's share is most of a CPU run's); its right side says the audio done of the total, the pace in
    "x real time" and the stage (``0:12/0:30 audio · 2.5x real time · transcribe``). A bar goes away
    when its input is done; `close` (or the end of a ``with`` block) removes the ones an error or interrupt
    left open. Events may come from several threads (diarization reports from its own thread on a GPU).

    Parameters
    ----------
    stages : iterable of str
        The stages each input goes through: ``("vad", "transcribe")``, plus ``"diarize"`` when the run
        diarizes, or ``("diarize",)`` alone for `whisperkit_nb.diarize`.
    """

    def __init__(self, stages: Iterable[str] = ("vad", "transcribe")) -> None:
        self.stages = tuple(stages)
        self._open_bars: dict[str, tuple[FileProgress, Any]] = {}
        self._finished: set[str] = set()
        self._waiting: str | None = None  # the bar `start` opened, before the run's first event
        self._lock = threading.Lock()

    def start(self, name: str) -> None:
        """Open the first input's bar before the run reports anything: it says the model is loading."""
        with self._lock:
            if not self._open_bars:
                self._open_bars[name] = self._open(name)
                self._waiting = name
                _draw(*self._open_bars[name])

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            if event.stage == "corpus":  # drawn by the corpus's own bar (`CorpusBar`); the input named is done
                if event.file in self._open_bars:
                    self._open_bars.pop(event.file)[1].close()
                return
            if self._waiting is not None:  # the bar opened by `start` is the first input's, whatever its name
                waiting, self._waiting = self._open_bars.pop(self._waiting), None
                if waiting[0].name != event.file:  # the input named first failed to open: this is the first
                    waiting[0].name = event.file
                    _name(waiting[1], event.file)
                self._open_bars[event.file] = waiting
            starting = event.stage == "vad" and event.done == 0
            if event.file in self._finished and not starting:
                return  # a late event of an input already done (the same input given twice starts anew)
            self._finished.discard(event.file)
            if event.file in self._open_bars:
                progress, bar = self._open_bars[event.file]
                progress.update(event)
            else:  # the bar opens with this event's stage, not "load model"
                progress = FileProgress(event.file, self.stages)
                progress.update(event)
                progress, bar = self._open(event.file, progress)
                self._open_bars[event.file] = progress, bar
            _draw(progress, bar)
            if progress.finished:
                self._open_bars.pop(event.file)[1].close()
                self._finished.add(event.file)

    def close(self) -> None:
        """Remove the bars still open."""
        with self._lock:
            for _, bar in self._open_bars.values():
                bar.close()
            self._open_bars.clear()
            self._waiting = None

    def __enter__(self) -> ProgressBars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self, name: str, progress: FileProgress | None = None) -> tuple[FileProgress, Any]:
        from tqdm.auto import tqdm

        progress = progress or FileProgress(name, self.stages)
        label = _label(name)
        # tqdm.notebook escapes a description set after construction, but not the constructor's: that one is
        # escaped here (for its first display), and the label set again as text.
        notebook = tqdm.__module__.startswith("tqdm.notebook")
        bar = tqdm(total=1, leave=False, bar_format=_format(progress), desc=html.escape(label) if notebook else label)
        _name(bar, name)
        return progress, bar


def _label(name: str) -> str:
    return short_name(display_name(name), NAME_WIDTH)


def _name(bar: Any, name: str) -> None:
    """Label ``bar`` with the file name; a notebook's widget bar gets the full path as its tooltip."""
    bar.set_description_str(_label(name))
    container = getattr(bar, "container", None)
    if container is not None and hasattr(container, "tooltip"):
        container.tooltip = str(name)


def _draw(progress: FileProgress, bar: Any) -> None:
    """The bar at the input's position, in seconds of its audio once its length is known."""
    if progress.duration and bar.total != round(progress.duration, 1):
        bar.reset(total=round(progress.duration, 1))
    bar.n = min(round(progress.position, 1), bar.total)
    bar.bar_format = _format(progress)
    bar.refresh()


def _format(progress: FileProgress) -> str:
    """tqdm's bar format: the name, the percentage and the bar, then `FileProgress.status`."""
    status = progress.status().replace("{", "{{").replace("}", "}}")
    return "{desc}: {percentage:3.0f}%|{bar}| " + status


class CorpusBar:
    """A progress callback drawing a corpus run's `CorpusProgress` events as one tqdm bar.

    The bar counts inputs (done or failed, of all); its label gives the audio hours finished of the total,
    the rate of this run (audio seconds per wall-clock second, inputs found done left out), the ETA from
    that rate, and the failures so far. Other events are ignored (`ProgressBars` draws them).
    """

    def __init__(self) -> None:
        self._bar: Any = None
        self._started: float | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if event.stage != "corpus":
            return
        import time

        from tqdm.auto import tqdm

        now = time.monotonic()
        if self._bar is None:
            self._bar = tqdm(total=int(event.total), initial=int(event.done), unit="file", desc="corpus")
            self._started = now
        self._bar.update(int(event.done) - self._bar.n)
        self._bar.set_postfix_str(", ".join(corpus_status(event, now - (self._started or now))), refresh=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> CorpusBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def corpus_status(event: ProgressEvent, elapsed: float) -> list[str]:
    """What a corpus's progress says besides files done of total: audio done of total, the rate of this run
    and the ETA from it, failures so far. The rate (audio seconds per second of the ``elapsed`` run) leaves
    out the inputs found done, which took no time. The notebook's status line words it the same way."""
    audio_done, audio_total = getattr(event, "audio_done", 0.0), getattr(event, "audio_total", 0.0)
    done_here = audio_done - getattr(event, "audio_skipped", 0.0)
    rate = done_here / elapsed if elapsed > 0 and done_here > 0 else None
    parts = [f"{clock(audio_done)}/{clock(audio_total)} audio"]
    if rate:
        parts.append(f"{rate:.1f}x real time, ETA {clock(max(audio_total - audio_done, 0.0) / rate)}")
    parts.append(f"{getattr(event, 'failed', 0)} failed")
    return parts


def clock(seconds: float) -> str:
    """``h:mm:ss``."""
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
