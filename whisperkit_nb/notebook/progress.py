"""The notebook's progress display, drawn from the pipeline's `ProgressEvent`s (the pipeline draws nothing).

`RunProgress` shows one tqdm.auto bar per file and stage (`whisperkit_nb.progress_bars.ProgressBars`:
speech seconds transcribed, percent diarized), and what a corpus run needs on top: files done out of files
given, and, for the control panel, one ipywidgets bar for the whole run with a line saying which file and
stage it is in. Whatever it is given as ``forward`` receives every event unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from whisperkit_nb.events import ProgressEvent, short_name
from whisperkit_nb.progress_bars import ProgressBars

# Share of one file's work each stage stands for, for the single bar of the control panel.
STAGE_SPAN = {"vad": (0.0, 0.1), "transcribe": (0.1, 0.9), "diarize": (0.9, 1.0)}


class RunProgress:
    """A callback for `transcribe(..., callback=)` that shows progress over ``n_inputs`` inputs.

    Parameters
    ----------
    n_inputs : int
        Inputs in the run (after glob expansion).
    enabled : bool
        False draws nothing (``progress=False``); events are still forwarded.
    widget : ipywidgets.FloatProgress, optional
        A bar (0..1) to drive instead of a tqdm "files" bar; ``label`` then gets the status line.
    label : ipywidgets.Label or HTML, optional
    forward : callable, optional
        Another callback that receives every `ProgressEvent`.
    """

    def __init__(self, n_inputs: int, *, enabled: bool = True, widget: Any = None, label: Any = None,
                 forward: Callable[[ProgressEvent], None] | None = None) -> None:
        self.n_inputs = max(1, n_inputs)
        self.enabled = enabled
        self.widget = widget
        self.label = label
        self.forward = forward
        self.files: list[str] = []
        self._started = time.perf_counter()
        self._file_started = self._started
        self._bar = None
        self._file_bars = ProgressBars() if enabled else None
        if enabled and widget is None and n_inputs > 1:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=n_inputs, unit="file", desc="files")

    def __call__(self, event: ProgressEvent) -> None:
        if event.file not in self.files:
            self.files.append(event.file)
            self._file_started = time.perf_counter()
            if self._bar is not None:
                self._bar.n = len(self.files) - 1
                self._bar.set_postfix_str(short_name(event.file), refresh=True)
        if self._file_bars is not None:
            self._file_bars(event)
        if self.enabled and self.widget is not None:
            self._draw_widget(event)
        if self.forward is not None:
            self.forward(event)

    def close(self, *, finished: bool = True) -> None:
        """Complete the bars (or leave them where an interrupted run stopped)."""
        if self._file_bars is not None:
            self._file_bars.close()
        if self._bar is not None:
            if finished:
                self._bar.n = self.n_inputs
            self._bar.refresh()
            self._bar.close()
        if self.enabled and self.widget is not None and finished:
            self.widget.value = 1.0
            if self.label is not None:
                self.label.value = f"done: {self.n_inputs} input(s) in {time.perf_counter() - self._started:.1f} s"

    def _draw_widget(self, event: ProgressEvent) -> None:
        low, high = STAGE_SPAN.get(event.stage, (0.0, 1.0))
        within = event.done / event.total if event.total else 1.0
        fraction = (len(self.files) - 1 + low + (high - low) * min(1.0, within)) / self.n_inputs
        self.widget.value = max(self.widget.value, min(1.0, fraction))
        if self.label is not None:
            status = f"file {len(self.files)}/{self.n_inputs} · {short_name(event.file)} · {event.stage}"
            if event.stage == "transcribe" and event.unit == "s":
                elapsed = max(time.perf_counter() - self._file_started, 1e-6)
                status += f" {event.done:.0f}/{event.total:.0f} s of speech ({event.done / elapsed:.1f} s/s)"
            self.label.value = status


def transcribe_with_progress(audio: Any, options: Any, *, widget: Any = None, label: Any = None,
                             callback: Callable[[ProgressEvent], None] | None = None) -> Any:
    """`transcribe` with run-level progress (see `RunProgress`); ``options.progress=False`` draws nothing."""
    from whisperkit_nb.audio.source import expand_inputs
    from whisperkit_nb.run.transcribe import transcribe

    progress = RunProgress(len(expand_inputs(audio)), enabled=options.progress, widget=widget, label=label,
                           forward=callback)
    frame = None
    try:
        frame = transcribe(audio, options, callback=progress)
    finally:
        progress.close(finished=frame is not None and not frame.attrs.get("interrupted"))
    return frame
