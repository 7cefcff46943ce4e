"""Progress flows through hooks: the pipeline emits `ProgressEvent`s and draws nothing; the front ends draw
them (`ProgressBars`). The per-file facts are a typed `FileReport`, shown as ``df.attrs["files"]``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import whisperkit_nb
from whisperkit_nb.events import STAGE_COST, FileProgress, ProgressEvent, combine
from whisperkit_nb.output.summary import summary_lines
from whisperkit_nb.progress_bars import ProgressBars
from whisperkit_nb.report import FileReport

PACKAGE = Path(whisperkit_nb.__file__).parent
FRONT_ENDS = {"progress_bars.py", "cli.py", "notebook"}  # where drawing progress belongs
BAR = " audio · "  # what a file's bar prints: its audio done of the total, then the pace and the stage


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
    drawn = capfd.readouterr()
    assert BAR not in drawn.err and drawn.out == "", "the pipeline drew a progress bar (or printed) itself"
    assert len(frame) and {e.file for e in events} == {str(librivox.path)}
    assert list(dict.fromkeys(e.stage for e in events)) == ["vad", "transcribe"]
    assert all(e.unit == "s" and e.done <= e.total for e in events)
    duration = frame.attrs["files"][str(librivox.path)]["duration"]
    assert events[0].stage == "vad" and events[0].done == 0 and events[0].total == pytest.approx(duration)
    for stage in ("vad", "transcribe"):
        done = [e.done for e in events if e.stage == stage]
        assert done == sorted(done), stage
    last = [e for e in events if e.stage == "transcribe"][-1]
    assert last.done == last.total == pytest.approx(frame.attrs["files"][str(librivox.path)]["speech_seconds"])
    facts = frame.attrs["files"][str(librivox.path)]
    assert set(facts) == {"name", "engine", "duration", "speech_seconds", "chunks", "batch_size", "tails",
                          "fallbacks", "dropped_chunks", "gaps", "language", "seconds"}
    assert facts["language"] == "en" and facts["gaps"] == [] and facts["chunks"] > 0


def test_public_transcribe_draws_bars_and_a_summary_only_with_progress_on(librivox, capfd):
    from whisperkit_nb.api import transcribe

    seen: list[ProgressEvent] = []
    frame = transcribe(str(librivox.path), model="tiny.en", batch_size=2, callback=seen.append)
    drawn = capfd.readouterr()
    assert BAR in drawn.err and "x real time" in drawn.err, drawn.err[-2000:]
    assert f"{librivox.path.name}: " in drawn.err and str(librivox.path.parent) not in drawn.err  # the name only
    assert "s/s" not in drawn.err and "%/s" not in drawn.err and "load model" in drawn.err
    assert drawn.out.splitlines() == summary_lines(frame)
    assert drawn.out.startswith(f"{librivox.path.name}: ") and "x real time), ctranslate2" in drawn.out
    assert seen, "the caller's callback still gets every event beside the bars"
    transcribe(str(librivox.path), model="tiny.en", batch_size=2, progress=False)
    assert capfd.readouterr() == ("", "")


BARS_MADE: list[_Bar] = []


class _Bar:
    """Records what `ProgressBars` asks of tqdm."""

    def __init__(self, total=None, leave=True, bar_format=None, desc=None):
        self.total, self.leave, self.n, self.desc, self.closed = total, leave, 0, desc, False
        self.bar_format, self.shown = bar_format, []
        BARS_MADE.append(self)

    def reset(self, total=None):
        self.n, self.total = 0, total

    def refresh(self):
        assert 0 <= self.n <= self.total, (self.n, self.total)
        self.shown.append((self.n, self.total, self.bar_format))

    def set_description_str(self, desc):
        self.desc = desc

    def close(self):
        self.closed = True


@pytest.fixture
def recorded_bars(monkeypatch):
    import tqdm.auto

    monkeypatch.setattr(tqdm.auto, "tqdm", _Bar)
    BARS_MADE.clear()
    return BARS_MADE


def test_one_bar_per_file_over_its_stages_named_by_the_file(recorded_bars):
    long_name = "/data/" + "x" * 40 + "/talk.m4a"
    with ProgressBars(("vad", "transcribe", "diarize")) as bars:
        bars.start(long_name)  # while the model loads
        bars(ProgressEvent("vad", long_name, 0.0, 60.0))
        bars(ProgressEvent("vad", long_name, 60.0, 60.0))
        for done in (10.0, 20.0, 40.0):
            bars(ProgressEvent("transcribe", long_name, done, 40.0))
        bars(ProgressEvent("diarize", long_name, 42.7, 100.0, "%", duration=60.0))
        bars(ProgressEvent("diarize", long_name, 100.0, 100.0, "%", duration=60.0))
        bars(ProgressEvent("transcribe", long_name, 40.0, 40.0))  # late: its bar is gone, none comes back
        bars(ProgressEvent("vad", "b.wav", 0.0, 5.0))
    with ProgressBars() as bars:
        bars.start("missing.wav")
        bars(ProgressEvent("vad", "c.wav", 0.0, 5.0))  # the first input failed to open: its bar is the next's
    talk, other, third = recorded_bars
    assert third.desc == "c.wav" and third.shown[-1][2].endswith("· read audio") and third.closed
    assert talk.desc == "talk.m4a" and other.desc == "b.wav" and not talk.leave
    assert talk.shown[0][2].endswith("| load model")
    assert talk.shown[1][2].endswith("| 0:00/1:00 audio · read audio")
    positions = [n for n, _, _ in talk.shown]
    assert positions == sorted(positions) and positions[-1] == talk.total == 60.0
    formats = [f for _, _, f in talk.shown]
    assert any(f.endswith(" · transcribe") for f in formats) and formats[-1].endswith(" · find speakers")
    assert all(" audio · " in f and "x real time" in f for f in formats[3:])
    assert talk.closed and other.closed, "a bar left open after the run"


def test_file_progress_shares_the_audio_by_stage_cost():
    now = [0.0]
    progress = FileProgress("a.wav", ("vad", "transcribe", "diarize"), clock=lambda: now[0])
    progress.update(ProgressEvent("vad", "a.wav", 0.0, 100.0))
    assert (progress.position, progress.stage_words()) == (0.0, "read audio")
    progress.update(ProgressEvent("vad", "a.wav", 100.0, 100.0))
    cost = STAGE_COST
    estimated = sum(cost.values()) * 100
    assert progress.position == pytest.approx(100 * cost["vad"] * 100 / estimated)
    now[0] = 1.0
    progress.update(ProgressEvent("transcribe", "a.wav", 40.0, 80.0))  # half of the speech
    half = progress.position
    assert half == pytest.approx(100 * (cost["vad"] + cost["transcribe"] / 2) * 100 / estimated)
    now[0] = 3.0  # transcription done: 3 s measured, diarization estimated at 25 s for 100 s of audio
    progress.update(ProgressEvent("transcribe", "a.wav", 80.0, 80.0))
    assert progress.position == pytest.approx(100 * (0.2 + 3.0) / (0.2 + 3.0 + 25.0))
    progress.update(ProgressEvent("diarize", "a.wav", 0.0, 100.0, "%", duration=100.0))
    assert progress.stage_words() == "find speakers" and not progress.finished
    now[0] = 28.0
    progress.update(ProgressEvent("diarize", "a.wav", 100.0, 100.0, "%", duration=100.0))
    assert progress.finished and progress.position == 100.0 and progress.rate() == pytest.approx(100 / 28)
    assert progress.status() == "1:40/1:40 audio · 3.6x real time · find speakers"


def test_file_progress_never_moves_back():
    """Diarization beside the ASR (a GPU's layout): events of both stages interleave; an unexpected stage
    joins without moving the position back; no speech to decode counts as decoded."""
    progress = FileProgress("a.wav", ("vad", "transcribe", "diarize"))
    positions = []
    for event in [ProgressEvent("vad", "a.wav", 0.0, 0.0), ProgressEvent("diarize", "a.wav", 0.0, 100.0, "%"),
                  ProgressEvent("vad", "a.wav", 50.0, 50.0), ProgressEvent("diarize", "a.wav", 30.0, 100.0, "%"),
                  ProgressEvent("transcribe", "a.wav", 10.0, 20.0), ProgressEvent("diarize", "a.wav", 80.0, 100.0, "%"),
                  ProgressEvent("transcribe", "a.wav", 20.0, 20.0), ProgressEvent("align", "a.wav", 1.0, 2.0),
                  ProgressEvent("diarize", "a.wav", 100.0, 100.0, "%"), ProgressEvent("align", "a.wav", 2.0, 2.0)]:
        progress.update(event)
        positions.append(progress.position)
    assert positions == sorted(positions) and positions[0] == 0.0 and positions[-1] == 50.0
    silent = FileProgress("quiet.wav")
    silent.update(ProgressEvent("vad", "quiet.wav", 3.0, 3.0))
    silent.update(ProgressEvent("transcribe", "quiet.wav", 0.0, 0.0))
    assert silent.finished and silent.position == 3.0


def test_diarized_run_one_bar_with_diarization_weighted_by_its_cost(sample, recorded_bars):
    """A real diarized run on CPU: one bar, named by the file, reaching the whole audio; the share of the
    bar diarization fills is close to its share of the run's time (the stage costs measured on CPU)."""
    import time

    from whisperkit_nb.api import transcribe

    name, timeline = str(sample.path), []
    frame = transcribe(name, model="tiny.en", diarize=True, num_speakers=2,
                       callback=lambda e: timeline.append((time.perf_counter(), e.stage, BARS_MADE[0].n)))
    [bar] = recorded_bars
    duration = frame.attrs["files"][name]["duration"]
    positions = [n for n, _, _ in bar.shown]
    assert bar.desc == "sample.wav" and bar.total == round(duration, 1) and bar.closed
    assert positions == sorted(positions) and positions[-1] == bar.total
    assert all("s/s" not in f and "%/s" not in f for _, _, f in bar.shown)
    started, = [t for t, stage, _ in timeline[:1]]
    diarizing = [(t, n) for t, stage, n in timeline if stage == "diarize"]
    time_share = (timeline[-1][0] - diarizing[0][0]) / (timeline[-1][0] - started)
    bar_share = 1 - diarizing[0][1] / bar.total  # where the bar stood as diarization began
    assert 0.5 < bar_share < 1 and abs(bar_share - time_share) < 0.25, (bar_share, time_share)


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
    """tqdm.notebook draws its label as HTML: a file name reaches it escaped, from its first display on; the
    full path is the bar's tooltip."""
    import tqdm.auto
    import tqdm.notebook

    shown: list[str] = []
    monkeypatch.setattr(tqdm.auto, "tqdm", tqdm.notebook.tqdm)  # as tqdm.auto picks in a kernel
    monkeypatch.setattr(tqdm.notebook, "display", lambda box: shown.append(box.children[0].value))
    name = "<img src=x>.wav"
    with ProgressBars() as bars:
        bars(ProgressEvent("transcribe", name, 1.0, 2.0))
        ((_, bar),) = bars._open_bars.values()
        shown.append(bar.container.children[0].value)
        assert bar.container.tooltip == name
        bars(ProgressEvent("vad", "/data/talks/" + name, 0.0, 2.0))
        (_, (_, other)) = bars._open_bars.values()
        assert other.container.tooltip == "/data/talks/" + name and "talks" not in other.container.children[0].value
    assert len(shown) == 3 and all("<img" not in label for label in shown), shown
    assert all("&lt;img" in label for label in shown[:2]), shown
