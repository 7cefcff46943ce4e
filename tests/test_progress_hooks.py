"""Progress flows through hooks: the pipeline emits `ProgressEvent`s and draws nothing; the front ends draw
them (`ProgressBars`). The per-file facts are a typed `FileReport`, shown as ``df.attrs["files"]``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import whisperkit_nb
from whisperkit_nb.events import ProgressEvent, combine
from whisperkit_nb.progress_bars import ProgressBars
from whisperkit_nb.report import FileReport

PACKAGE = Path(whisperkit_nb.__file__).parent
FRONT_ENDS = {"progress_bars.py", "cli.py", "notebook"}  # where drawing progress belongs
BAR = "s/s]"  # what tqdm prints at the end of a bar counting seconds of speech


def _imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_only_front_ends_import_tqdm():
    core = [path for path in PACKAGE.rglob("*.py") if path.relative_to(PACKAGE).parts[0] not in FRONT_ENDS]
    assert any(path.parts[-2] == "run" for path in core)
    drawing = [str(path.relative_to(PACKAGE)) for path in core
               if any(name.split(".")[0] == "tqdm" for name in _imports_of(path))]
    assert drawing == []


def test_pipeline_reports_through_its_callback_and_draws_nothing(librivox, capfd):
    from whisperkit_nb.run.transcribe import transcribe

    events: list[ProgressEvent] = []
    frame = transcribe(str(librivox.path), model="tiny.en", progress=True, callback=events.append)
    assert BAR not in capfd.readouterr().err, "the pipeline drew a progress bar itself"
    assert len(frame) and {e.file for e in events} == {str(librivox.path)}
    assert list(dict.fromkeys(e.stage for e in events)) == ["vad", "transcribe"]
    assert all(e.unit == "s" and e.done <= e.total for e in events)
    for stage in ("vad", "transcribe"):
        done = [e.done for e in events if e.stage == stage]
        assert done == sorted(done), stage
    last = [e for e in events if e.stage == "transcribe"][-1]
    assert last.done == last.total == pytest.approx(frame.attrs["files"][str(librivox.path)]["speech_seconds"])
    facts = frame.attrs["files"][str(librivox.path)]
    assert set(facts) == {"name", "engine", "duration", "speech_seconds", "chunks", "batch_size", "tails",
                          "fallbacks", "dropped_chunks", "gaps", "language", "seconds"}
    assert facts["language"] == "en" and facts["gaps"] == [] and facts["chunks"] > 0


def test_public_transcribe_draws_bars_only_with_progress_on(librivox, capfd):
    from whisperkit_nb.api import transcribe

    seen: list[ProgressEvent] = []
    transcribe(str(librivox.path), model="tiny.en", batch_size=2, callback=seen.append)
    drawn = capfd.readouterr().err
    assert BAR in drawn and librivox.path.name in drawn, drawn[-2000:]
    assert seen, "the caller's callback still gets every event beside the bars"
    transcribe(str(librivox.path), model="tiny.en", batch_size=2, progress=False)
    assert BAR not in capfd.readouterr().err


BARS_MADE: list[_Bar] = []


class _Bar:
    """Records what `ProgressBars` asks of tqdm."""

    def __init__(self, total=None, unit="it", leave=True):
        self.total, self.unit, self.leave, self.n, self.desc, self.closed = total, unit, leave, 0, "", False
        BARS_MADE.append(self)

    def update(self, n):
        self.n += n
        assert self.n <= self.total, (self.n, self.total)

    def set_description_str(self, desc):
        self.desc = desc

    def close(self):
        self.closed = True


def test_progress_bars_one_per_file_and_stage(monkeypatch):
    import tqdm.auto

    monkeypatch.setattr(tqdm.auto, "tqdm", _Bar)
    BARS_MADE.clear()
    long_name = "/data/" + "x" * 40 + "/talk.m4a"
    with ProgressBars() as bars:
        bars(ProgressEvent("vad", long_name, 10.0, 10.0))  # quick: no bar
        for done in (3.33, 6.66, 9.99, 10.04):
            bars(ProgressEvent("transcribe", long_name, done, 10.04))
        bars(ProgressEvent("diarize", long_name, 42.7, 100.0, "%"))
        bars(ProgressEvent("transcribe", "b.wav", 1.0, 5.0))
    transcribed, diarized, other = BARS_MADE
    assert (transcribed.unit, transcribed.total, transcribed.n) == ("s", 10.0, 10.0)
    assert transcribed.desc.endswith("talk.m4a") and len(transcribed.desc) == 30 and not transcribed.leave
    assert (diarized.unit, diarized.total, diarized.n) == ("%", 100, 42) and diarized.desc.endswith("speakers")
    assert other.desc == "b.wav" and other.n == 1.0
    assert all(bar.closed for bar in BARS_MADE), "a bar left open after the run"


def test_combine_hands_every_event_to_every_hook():
    first, second = [], []
    event = ProgressEvent("vad", "a.wav", 1.0, 2.0)
    combine(first.append, None, second.append)(event)
    assert first == second == [event]
    assert combine(None, None) is None and combine(first.append) == first.append


def test_file_report_shows_only_what_was_recorded():
    report = FileReport()
    assert report.as_dict() == {}
    report.name, report.language = "a.wav", None  # a language recorded as None (no speech) is shown
    report.tails = 0
    report.tails += 2
    report.record(speakers=2, speaker_turns=[])
    assert report.as_dict() == {"name": "a.wav", "tails": 2, "language": None, "speakers": 2, "speaker_turns": []}
    assert FileReport(name="b.wav").as_dict() == {"name": "b.wav"}
    with pytest.raises(AttributeError, match="speaker_count"):
        report.record(speaker_count=2)


def test_notebook_file_bars_show_file_names_as_text(monkeypatch):
    """tqdm.notebook draws its label as HTML: a file name reaches it escaped, from its first display on."""
    import tqdm.auto
    import tqdm.notebook

    shown: list[str] = []
    monkeypatch.setattr(tqdm.auto, "tqdm", tqdm.notebook.tqdm)  # as tqdm.auto picks in a kernel
    monkeypatch.setattr(tqdm.notebook, "display", lambda box: shown.append(box.children[0].value))
    name = "<img src=x>.wav"
    with ProgressBars() as bars:
        bars(ProgressEvent("transcribe", name, 1.0, 2.0))
        (bar,) = bars._bars.values()
        shown.append(bar.container.children[0].value)
    assert len(shown) == 2 and all("<img" not in label for label in shown), shown
    assert "&lt;img" in shown[-1], shown
