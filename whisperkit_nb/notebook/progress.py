"""The notebook's progress display, drawn from the pipeline's `ProgressEvent`s (the pipeline draws nothing).

`RunProgress` shows one tqdm.auto bar per file (`whisperkit_nb.progress_bars.ProgressBars`: named by the
file, the full path as its tooltip, counting its audio over all of its stages, with the pace in "x real
time" and the stage it is in, "load model" from the start), and what a run of several inputs needs on top:
files done out of files given, and, for the control panel, one ipywidgets bar for the whole run with a line
saying which file and stage it is in. `CorpusRunProgress` does the same for a `transcribe_corpus` run (a
store): files done of total, audio done of total, rate, ETA and failures, from the runner's
`CorpusProgress` events. Whatever it is given as ``forward`` receives every event unchanged.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from whisperkit_nb.events import FileProgress, ProgressEvent
from whisperkit_nb.output.summary import display_name
from whisperkit_nb.progress_bars import CorpusBar, ProgressBars
from whisperkit_nb.progress_bars import corpus_status as status_parts


def stages_of(options: Any) -> tuple[str, ...]:
    """The stages each input of a run with these options goes through."""
    return ("vad", "transcribe", "diarize") if getattr(options, "diarize", False) else ("vad", "transcribe")


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
    stages : iterable of str
        The stages of each input (`stages_of` the run's options).
    first : str, optional
        The first input's name: its bar is shown from the start, while the model loads.
    """

    def __init__(self, n_inputs: int, *, enabled: bool = True, widget: Any = None, label: Any = None,
                 forward: Callable[[ProgressEvent], None] | None = None,
                 stages: Iterable[str] = ("vad", "transcribe"), first: str | None = None) -> None:
        self.n_inputs = max(1, n_inputs)
        self.enabled = enabled
        self.widget = widget
        self.label = label
        self.forward = forward
        self.stages = tuple(stages)
        self.files: list[str] = []
        self._started = time.perf_counter()
        self._current: FileProgress | None = None
        self._bar = None
        self._file_bars = ProgressBars(self.stages) if enabled else None
        if enabled and widget is None and n_inputs > 1:
            from tqdm.auto import tqdm

            # files done of all, and the file under way (the postfix); no files-per-second rate
            self._bar = tqdm(total=n_inputs, desc="files", bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt}{postfix}")
        if self._file_bars is not None and first is not None:
            self._file_bars.start(first)
        if enabled and widget is not None and label is not None:
            label.value = f"file 1/{self.n_inputs} · load model"

    def __call__(self, event: ProgressEvent) -> None:
        if event.file not in self.files:
            self.files.append(event.file)
            self._current = FileProgress(event.file, self.stages)
            if self._bar is not None:
                self._bar.n = len(self.files) - 1
                self._bar.set_postfix_str(display_name(event.file), refresh=True)
        if self._file_bars is not None:
            self._file_bars(event)
        if self._current is not None and event.file == self._current.name:
            self._current.update(event)
        if self.enabled and self.widget is not None and self._current is not None:
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
        current = self._current
        fraction = (len(self.files) - 1 + current.fraction()) / self.n_inputs
        self.widget.value = max(self.widget.value, min(1.0, fraction))
        if self.label is not None:
            where = f"file {len(self.files)}/{self.n_inputs} · {display_name(event.file)}"
            self.label.value = f"{where} · {current.status()}"


def transcribe_with_progress(audio: Any, options: Any, *, widget: Any = None, label: Any = None,
                             callback: Callable[[ProgressEvent], None] | None = None) -> Any:
    """`transcribe` with run-level progress (see `RunProgress`); ``options.progress=False`` draws nothing."""
    from whisperkit_nb.audio.source import ARRAY_NAME, expand_inputs
    from whisperkit_nb.run.transcribe import transcribe

    inputs = expand_inputs(audio)
    first = (str(inputs[0]) if isinstance(inputs[0], (str, os.PathLike)) else ARRAY_NAME) if inputs else None
    progress = RunProgress(len(inputs), enabled=options.progress, widget=widget, label=label, forward=callback,
                           stages=stages_of(options), first=first)
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
                 forward: Callable[[ProgressEvent], None] | None = None,
                 stages: Iterable[str] = ("vad", "transcribe")) -> None:
        self.enabled, self.widget, self.label, self.forward = enabled, widget, label, forward
        self.corpus: Any = None  # the last CorpusProgress
        self.stages = tuple(stages)
        self._inputs: dict[str, FileProgress] = {}  # the inputs under way, for the widget
        self._started = time.perf_counter()
        self._file_bars = ProgressBars(self.stages) if enabled else None
        self._corpus_bar = CorpusBar() if enabled and widget is None else None

    def __call__(self, event: ProgressEvent) -> None:
        if event.stage == "corpus":
            if self.corpus is None:  # the rate counts from the first event, after the inputs were planned
                self._started = time.perf_counter()
            self.corpus = event
            self._inputs.pop(event.file, None)  # finished: counted in event.done from now on
            if self._corpus_bar is not None:
                self._corpus_bar(event)
        else:
            self._inputs.setdefault(event.file, FileProgress(event.file, self.stages)).update(event)
            if self._file_bars is not None:
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
        within = sum(progress.fraction() for progress in self._inputs.values())  # the inputs under way
        fraction = (corpus.done + within) / corpus.total if corpus.total else 1.0
        self.widget.value = max(self.widget.value, min(1.0, fraction))
        if self.label is not None:
            status = corpus_status(corpus, time.perf_counter() - self._started)
            if event.stage != "corpus":
                status += f" · {display_name(event.file)} · {self._inputs[event.file].stage_words()}"
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

    progress = CorpusRunProgress(enabled=options.progress, widget=widget, label=label, forward=callback,
                                 stages=stages_of(options))
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
