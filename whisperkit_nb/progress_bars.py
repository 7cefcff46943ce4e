"""Progress bars for terminals and notebooks: a hook that draws the pipeline's `ProgressEvent`s with tqdm.

The pipeline only emits events; the front ends (``whisperkit_nb.transcribe(progress=True)``, the CLI and
the notebook layer) pass a `ProgressBars` as one of its callbacks (see `whisperkit_nb.events.combine`).
"""

from __future__ import annotations

import threading
from typing import Any

from whisperkit_nb.events import ProgressEvent, short_name

# The stages that get a bar, and what follows the file's name in their label. The VAD pass gets none: it
# is quick, and its bar would only flash by.
LABELS = {"transcribe": "", "diarize": " speakers"}


class ProgressBars:
    """A progress callback drawing one ``tqdm.auto`` bar per (file, stage).

    Transcription counts seconds of speech decoded, diarization percent of the stage; each bar is labelled
    with the file's short name, and never runs past its total. A bar goes away when its stage completes;
    `close` (or the end of a ``with`` block) removes the ones an error or interrupt left open. Events may
    come from several threads (diarization reports from its own thread on a GPU).
    """

    def __init__(self) -> None:
        self._bars: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        if event.stage not in LABELS:
            return
        key = (event.file, event.stage)
        with self._lock:
            bar = self._bars.get(key) or self._open(event)
            self._bars[key] = bar
            bar.update(min(_shown(event.done, event.unit), bar.total) - bar.n)
            if event.done >= event.total:
                self._bars.pop(key).close()

    def close(self) -> None:
        """Remove the bars still open."""
        with self._lock:
            for bar in self._bars.values():
                bar.close()
            self._bars.clear()

    def __enter__(self) -> ProgressBars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _open(event: ProgressEvent) -> Any:
        from tqdm.auto import tqdm

        bar = tqdm(total=_shown(event.total, event.unit), unit=event.unit, leave=False)
        # Set after construction: tqdm.notebook escapes a description set later, but not the constructor's.
        bar.set_description_str(short_name(event.file) + LABELS[event.stage])
        return bar


def _shown(amount: float, unit: str) -> float:
    """``amount`` as its bar counts it: whole percents, tenths of a second."""
    return int(amount) if unit == "%" else round(amount, 1)


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
