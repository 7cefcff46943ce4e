"""Two transcriptions at once in one process (a magic run from a thread, a Transcribe button clicked during a
run): the second waits for the first, says so once, and each gets exactly what it gets alone. A call from
inside a run (the same thread) cannot wait for itself: it fails at once with a clear message.

The first run is held at its first progress event until the second announces that it waits, so the
overlap is certain and no wait depends on speed; the order of the progress events shows that the two runs
did not interleave.
"""

from __future__ import annotations

import threading
import warnings

import pytest

import whisperkit_nb as wk
from whisperkit_nb.notebook.controls import Controls
from whisperkit_nb.notebook.state import SessionDefaults

FAST = {"model": "tiny.en", "progress": False}
WAIT_S = 300  # generous deadlines for a run on a loaded machine
SAY_WAIT_S = 60  # for the second call to reach the run lock and warn (milliseconds when it works)
WAITS = "waits for the"


def rows(frame) -> list[tuple]:
    return [(r.file, r.start, r.end, r.text) for r in frame.itertuples()]


@pytest.fixture(scope="module")
def alone(librivox, sample):
    """Each input transcribed on its own, one after the other."""
    a, b = str(librivox.path), str(sample.path)
    return {a: rows(wk.transcribe(a, **FAST)), b: rows(wk.transcribe(b, **FAST))}


class Overlap:
    """Runs ``first`` on a thread, holds it at its first progress event until ``second`` (started then on
    another thread) has warned that it waits, and records every progress event and warning in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []  # (which run, stage), in the order they happened
        self.results: dict = {}
        self.errors: dict = {}
        self.warned = threading.Event()
        self.held = threading.Event()
        self.messages: list[str] = []
        self._lock = threading.Lock()

    def record(self, which: str):
        """A progress callback for run ``which``."""
        return lambda event: self.note(which, event.stage)

    def note(self, which: str, stage: str) -> None:
        """Record a progress event; the first run's first one waits until the second run has warned."""
        with self._lock:
            self.events.append((which, stage))
        if which == "first" and not self.held.is_set():
            self.held.set()
            assert self.warned.wait(SAY_WAIT_S), "the second call never said it waits"

    def run(self, first, second) -> None:
        def show(message, *args, **kwargs) -> None:
            self.messages.append(str(message))
            if WAITS in str(message):
                self.warned.set()

        def guarded(which, work) -> None:
            try:
                self.results[which] = work()
            except BaseException as err:  # noqa: BLE001 - reported by the test
                self.errors[which] = err

        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = show  # process-wide: sees the warnings of both threads
            one = threading.Thread(target=guarded, args=("first", first))
            one.start()
            assert self.held.wait(WAIT_S), "the first run never reported progress"
            two = threading.Thread(target=guarded, args=("second", second))
            two.start()
            one.join(WAIT_S)
            two.join(WAIT_S)
        assert not one.is_alive() and not two.is_alive(), "a run never finished"

    def assert_one_after_the_other(self) -> None:
        order = [which for which, _ in self.events]
        assert "second" in order and order == sorted(order, key=["first", "second"].index), order
        assert sum(WAITS in m for m in self.messages) == 1, self.messages


@pytest.mark.parametrize("first_kind", ["transcribe", "stream_segments"])
def test_two_calls_at_once_run_in_turn_with_their_own_results(alone, librivox, sample, first_kind):
    a, b = str(librivox.path), str(sample.path)
    overlap = Overlap()
    if first_kind == "transcribe":
        first = lambda: rows(wk.transcribe(a, callback=overlap.record("first"), **FAST))  # noqa: E731
    else:
        first = lambda: [(s.file, s.start, s.end, s.text)  # noqa: E731
                         for s in wk.stream_segments(a, callback=overlap.record("first"), **FAST)]
    overlap.run(first, lambda: rows(wk.transcribe(b, callback=overlap.record("second"), **FAST)))
    assert not overlap.errors, overlap.errors
    assert overlap.results["second"] == alone[b]
    assert overlap.results["first"] == alone[a]
    overlap.assert_one_after_the_other()


def test_the_panel_run_twice_at_once_gives_two_whole_results(alone, sample, monkeypatch):
    """The Transcribe button's handler (`Controls.run`) on two threads at once: no deadlock, no error shown,
    each run returns the whole transcript."""
    monkeypatch.setattr("whisperkit_nb.notebook.controls.display", lambda *objects: None)  # needs a kernel
    session = SessionDefaults()
    session.update(model="tiny.en", progress=True)  # the panel's bar moves only with progress on
    panel = Controls(str(sample.path), session=session)
    overlap = Overlap()

    def hold_the_first(change) -> None:
        if threading.current_thread().name == "first-click" and change["new"] > 0:
            overlap.note("first", "bar")

    panel.bar.observe(hold_the_first, names="value")
    clicked: dict = {}

    def click(which):
        threading.current_thread().name = f"{which}-click"
        clicked[which] = panel.run()
        return clicked[which]

    overlap.run(lambda: rows(click("first")), lambda: rows(click("second")))
    assert not overlap.errors, overlap.errors
    assert overlap.results == {"first": alone[str(sample.path)], "second": alone[str(sample.path)]}
    assert panel.message.value == "" and panel.result is clicked["second"] and not panel.button.disabled


def test_a_call_from_inside_a_run_fails_at_once_and_the_run_goes_on(alone, librivox, sample):
    a, b = str(librivox.path), str(sample.path)
    nested: list[BaseException] = []

    def call_again(event) -> None:
        if not nested:
            try:
                wk.transcribe(b, **FAST)
            except RuntimeError as err:
                nested.append(err)

    assert rows(wk.transcribe(a, callback=call_again, **FAST)) == alone[a]
    assert len(nested) == 1 and "already running transcribe()" in str(nested[0])


def test_an_open_stream_in_the_same_thread_is_named_and_closing_it_frees_the_run(alone, librivox, sample):
    a, b = str(librivox.path), str(sample.path)
    stream = wk.stream_segments(a, **FAST)
    next(stream)
    with pytest.raises(RuntimeError, match="unfinished stream_segments generator"):
        wk.transcribe(b, **FAST)
    stream.close()
    assert rows(wk.transcribe(b, **FAST)) == alone[b]
