"""The notebook's progress display, drawn from the pipeline's `ProgressEvent`s (the pipeline draws nothing).

`RunProgress` shows one tqdm.auto bar per file and stage (`whisperkit_nb.progress_bars.ProgressBars`:
speech seconds transcribed, percent diarized), and what a corpus run needs on top: files done out of files
given, and, for the control panel, one ipywidgets bar for the whole run with a line saying which file and
stage it is in. `CorpusRunProgress` does the same for a `transcribe_corpus` run (a store): files done of
total, audio done of total, rate, ETA and failures, from the runner's `CorpusProgress` events. Whatever it
is given as ``forward`` receives every event unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from whisperkit_nb.events import ProgressEvent, short_name
from whisperkit_nb.progress_bars import CorpusBar, ProgressBars
from whisperkit_nb.progress_bars import corpus_status as status_parts

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


class CorpusRunProgress:
    """A callback for `transcribe_corpus(..., callback=)`: the corpus's progress, and each file's bars.

    Without a ``widget`` the corpus gets a tqdm.auto bar (`whisperkit_nb.progress_bars.CorpusBar`, as
    ``wk.transcribe_corpus(progress=True)`` draws it); with one, the widget (0..1) follows the run, within
    the current file too, and ``label`` gets `corpus_status` and the file and stage the run is in.
    Parameters as for `RunProgress`, less ``n_inputs``: the runner's events give the total.
    """

    def __init__(self, *, enabled: bool = True, widget: Any = None, label: Any = None,
                 forward: Callable[[ProgressEvent], None] | None = None) -> None:
        self.enabled, self.widget, self.label, self.forward = enabled, widget, label, forward
        self.corpus: Any = None  # the last CorpusProgress
        self._started = time.perf_counter()
        self._file_bars = ProgressBars() if enabled else None
        self._corpus_bar = CorpusBar() if enabled and widget is None else None

    def __call__(self, event: ProgressEvent) -> None:
        if event.stage == "corpus":
            if self.corpus is None:  # the rate counts from the first event, after the inputs were planned
                self._started = time.perf_counter()
            self.corpus = event
            if self._corpus_bar is not None:
                self._corpus_bar(event)
        elif self._file_bars is not None:
            self._file_bars(event)
        if self.enabled and self.widget is not None and self.corpus is not None:
            self._draw_widget(event)
        if self.forward is not None:
            self.forward(event)

    def close(self, summary: str | None = None) -> None:
        """Remove the bars; ``summary`` (the run's outcome) replaces the widget's status line."""
        if self._file_bars is not None:
            self._file_bars.close()
        if self._corpus_bar is not None:
            self._corpus_bar.close()
        if self.label is not None and summary is not None:  # the outcome, shown even without progress
            self.label.value = summary

    def _draw_widget(self, event: ProgressEvent) -> None:
        corpus = self.corpus
        within = 0.0
        if event.stage != "corpus" and event.total:  # an input under way: its share of the corpus, by stage
            low, high = STAGE_SPAN.get(event.stage, (0.0, 1.0))
            within = low + (high - low) * min(1.0, event.done / event.total)
        fraction = (corpus.done + within) / corpus.total if corpus.total else 1.0
        self.widget.value = max(self.widget.value, min(1.0, fraction))
        if self.label is not None:
            status = corpus_status(corpus, time.perf_counter() - self._started)
            if event.stage != "corpus":
                status += f" · {short_name(event.file)} · {event.stage}"
            self.label.value = status


def corpus_status(event: Any, elapsed: float) -> str:
    """One line for a `CorpusProgress`: files done of total, then `whisperkit_nb.progress_bars.corpus_status`
    (audio done of total, rate and ETA, failures), the corpus bar's wording."""
    return " · ".join([f"{int(event.done)}/{int(event.total)} files", *status_parts(event, elapsed)])


def transcribe_corpus_with_progress(inputs: Any, store: Any, options: Any, *, overwrite: bool = False,
                                    widget: Any = None, label: Any = None,
                                    callback: Callable[[ProgressEvent], None] | None = None) -> Any:
    """`transcribe_corpus` into ``store`` with the notebook's progress (see `CorpusRunProgress`); returns the
    `Corpus`. The run itself keeps every finished input on a KeyboardInterrupt (``corpus.interrupted``)."""
    from whisperkit_nb.corpus.runner import transcribe_corpus

    progress = CorpusRunProgress(enabled=options.progress, widget=widget, label=label, forward=callback)
    started = time.perf_counter()
    corpus = None
    try:
        corpus = transcribe_corpus(inputs, store, options, overwrite=overwrite, callback=progress)
    finally:
        seconds = time.perf_counter() - started
        progress.close(corpus_summary(corpus, store, seconds) if corpus is not None else None)
    return corpus


def corpus_summary(corpus: Any, store: Any, seconds: float | None = None) -> str:
    """The run's outcome in one line, worded as the CLI's ``--store`` summary.

    ``"2 file(s) in out/: 1 done (0 already done before this run), 1 failed, 0 pending —
    wk.open_corpus('out/').failures lists them"``, or ``"all 2 file(s) were already done in out/: nothing to
    transcribe"`` when the store held every input.
    """
    counts, total = corpus.counts(), len(corpus.entries)
    took = f" ({seconds:.1f} s)" if seconds is not None else ""
    if total and corpus.skipped == total:
        return f"all {total} file(s) were already done in {store}: nothing to transcribe{took}"
    line = (f"{total} file(s) in {store}: {counts['done']} done ({corpus.skipped} already done before this run), "
            f"{counts['failed']} failed, {counts['pending']} pending{took}")
    if counts["failed"]:
        line += f" — wk.open_corpus({str(store)!r}).failures lists them"
    return line
