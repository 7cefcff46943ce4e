"""The magics in a real IPython shell, and the control panel they share their session defaults with."""

from __future__ import annotations

import base64
import html
import re
import subprocess
import sys
import textwrap

import ipywidgets as widgets
import numpy as np
import pandas as pd
import pysubs2
import pytest
import webvtt
from assets import clip_of, read_wav
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

import whisperkit_nb as wk
from whisperkit_nb.notebook import progress
from whisperkit_nb.notebook.controls import FIRST_SCREEN, Controls
from whisperkit_nb.notebook.magics import FLAGS_NOTE
from whisperkit_nb.notebook.state import SESSION
from whisperkit_nb.options import base_type_of, choices_of, option_fields
from whisperkit_nb.output.summary import summary_lines

FAST = "--model tiny.en --no-progress"


@pytest.fixture(autouse=True)
def fresh_session():
    SESSION.reset()
    yield
    SESSION.reset()


@pytest.fixture(scope="module")
def clips(sample, tmp_path_factory):
    """Two short speech clips of the sample call as WAV files ("Hello. Hello. Oh, hello." and "I didn't know
    you were there. Neither did I."), and the first as samples."""
    samples, rate = read_wav(sample.path)
    folder = tmp_path_factory.mktemp("clips")
    paths = [clip_of(sample.path, start, end, folder / f"clip_{name}.wav")
             for name, (start, end) in {"a": (6.5, 9.0), "b": (8.9, 11.0)}.items()]
    return paths, samples[int(6.5 * rate) : int(9.0 * rate)].astype(np.float32) / 32768


@pytest.fixture
def fake_transcribe(monkeypatch):
    """Replaces the pipeline's transcribe: records its calls, reports progress per input, returns a tiny frame."""
    from whisperkit_nb.audio.source import expand_inputs
    from whisperkit_nb.events import ProgressEvent

    calls = []

    def transcribe(audio, options, *, callback=None):
        calls.append((audio, options))
        names = [str(item) if isinstance(item, str) else "<array>" for item in expand_inputs(audio)]
        for name in names:
            for stage, done in (("vad", 4.0), ("transcribe", 2.0), ("transcribe", 4.0)):
                callback(ProgressEvent(stage, name, done, 4.0))
        return pd.DataFrame({"file": names, "start": 0.0, "end": 1.0, "text": "hi"})

    monkeypatch.setattr("whisperkit_nb.run.transcribe.transcribe", transcribe)
    return calls


def run(shell, cell: str):
    result = shell.run_cell(cell)
    result.raise_error()
    return result.result


def test_help_documents_every_option(shell):
    with capture_output() as shown:
        shell.run_cell("%transcribe?")
    for f in option_fields():
        flag = "--" + f.name.replace("_", "-")
        assert flag in shown.stdout, flag
        assert f.metadata["help"].split()[0] in shown.stdout
    assert "-o NAME" in shown.stdout and "FILE_OR_GLOB" in shown.stdout
    for magic in (shell.find_cell_magic("transcribe"), shell.find_line_magic("whisperkit")):
        assert all("--" + f.name.replace("_", "-") in magic.__doc__ for f in option_fields())


def test_line_magic_returns_and_stores_a_dataframe_and_sums_it_up(shell, clips):
    paths, _ = clips
    shell.user_ns["path"] = str(paths[0])
    SESSION.update(language="en")
    with capture_output() as shown:
        frame = run(shell, f"df = %transcribe {{path}} {FAST} -o kept\ndf")
    assert isinstance(frame, pd.DataFrame) and len(frame) >= 1
    assert shell.user_ns["kept"] is shell.user_ns["df"] is frame
    assert set(frame.file) == {str(paths[0])}
    assert "hello" in " ".join(frame.text).lower()
    # The call's summary: one line for the file, in plain text and in the notebook's HTML, and the note that
    # its flags applied to it only; the session records what it ran with.
    [summary] = [o for o in shown.outputs if "text/html" in o.data and "whisperkit-summary" in o.data["text/html"]]
    line = summary_lines(frame)[0]
    assert line.startswith(f"clip_a.wav: 0:02 of audio, {len(frame)} segment") and "x real time), ctranslate2" in line
    assert summary.data["text/plain"].splitlines() == [line, "(" + FLAGS_NOTE + ")"]
    assert html.escape(line) in summary.data["text/html"] and str(paths[0].parent) not in summary.data["text/plain"]
    assert SESSION.last_summary == [line]
    assert SESSION.last_options == SESSION.options.replace(model="tiny.en", progress=False)
    assert SESSION.options.model is None, "the call's flags did not become session defaults"


def test_summary_of_several_files_has_a_total_and_no_note_without_flags(shell, clips, fake_transcribe):
    paths, _ = clips
    with capture_output() as shown:
        frame = run(shell, f"%transcribe {paths[0]} {paths[1]}")
    [summary] = [o for o in shown.outputs if "whisperkit-summary" in o.data.get("text/html", "")]
    assert summary.data["text/plain"].splitlines() == ["clip_a.wav: 1 segment", "clip_b.wav: 1 segment",
                                                       "2 files, 2 segments"]
    assert SESSION.last_options == SESSION.options and SESSION.last_summary == summary_lines(frame)


def test_variables_holding_audio_are_looked_up(shell, clips, fake_transcribe):
    paths, samples = clips
    shell.user_ns.update(clip=samples, pair=(samples, 16000), several=[str(p) for p in paths])
    assert list(run(shell, "%transcribe clip").file) == ["<array>"]
    assert fake_transcribe[-1][0] is samples
    run(shell, "%transcribe pair")
    assert fake_transcribe[-1][0] is shell.user_ns["pair"]
    run(shell, f"%transcribe several {paths[0]}")
    assert fake_transcribe[-1][0] == [str(paths[0]), str(paths[1]), str(paths[0])]


def test_cell_magic_transcribes_a_corpus_into_one_dataframe(shell, clips):
    paths, _ = clips
    shell.user_ns["folder"] = str(paths[0].parent)
    with capture_output() as shown:
        run(shell, f"%%transcribe corpus {FAST}\n# the two clips\n{{folder}}/clip_a.wav\n\n{{folder}}/clip_b*.wav\n")
    corpus = shell.user_ns["corpus"]
    assert list(dict.fromkeys(corpus.file)) == [str(p) for p in paths]
    assert "corpus: " in shown.stdout
    text = " ".join(corpus.text).lower()
    assert "hello" in text and "there" in text


def test_cell_magic_without_name_returns_the_frame(shell, clips, fake_transcribe):
    frame = run(shell, f"%%transcribe\n{clips[0][1]}")
    assert isinstance(frame, pd.DataFrame) and list(frame.file) == [str(clips[0][1])]


def test_bad_options_are_usage_errors_naming_the_option(shell, clips):
    with pytest.raises(UsageError, match="batch_size"):
        shell.run_line_magic("transcribe", f"{clips[0][0]} --batch-size 0")
    with pytest.raises(UsageError, match="diarize=True"):
        shell.run_line_magic("transcribe", f"{clips[0][0]} --num-speakers 2")
    with pytest.raises(UsageError, match="chunking"):
        shell.run_line_magic("whisperkit", "--chunking bogus")
    with pytest.raises(UsageError, match="no audio"):
        shell.run_cell_magic("transcribe", "x", "\n# nothing\n")


def test_whisperkit_and_controls_share_the_session(shell):
    report = shell.run_line_magic("whisperkit", "--model tiny.en --batch-size 4")
    assert report.defaults["model"] == "tiny.en" and report.defaults["batch_size"] == 4
    for fact in ("device", "gpu", "dtype", "attention", "flash-attn", "engine"):
        assert fact in report.device
    assert report.device["engine"] == "ctranslate2"  # CPU, CTranslate2 installed, tiny.en has a pack
    assert "tiny.en" in report._repr_html_() and "flash-attn" in repr(report)

    panel = wk.controls()
    assert panel.widgets["model"].value == "tiny.en" and panel.widgets["batch_size"].value == 4
    assert panel.options == SESSION.options

    panel.widgets["vad_threshold"].input.value = 0.3  # as if typed in the browser
    panel.widgets["task"].input.value = "translate"  # invalid with an English-only model: not applied
    assert "English-only" in panel.message.value and SESSION.options.task == "transcribe"
    panel.widgets["task"].input.value = "transcribe"
    assert panel.message.value == ""
    assert shell.run_line_magic("whisperkit", "").defaults["vad_threshold"] == 0.3

    shell.run_line_magic("whisperkit", "--diarize --num-speakers 3 --hf-token secret-value")
    assert panel.widgets["diarize"].value is True and panel.widgets["num_speakers"].value == 3
    assert panel.widgets["hf_token"].input.value == "" and panel.options.hf_token == "secret-value"
    assert "secret-value" not in repr(shell.run_line_magic("whisperkit", ""))
    shell.run_line_magic("whisperkit", "--reset")
    assert panel.options == SESSION.options and panel.widgets["batch_size"].value is None


def test_whisperkit_report_is_short_and_all_lists_every_option(shell):
    short = shell.run_line_magic("whisperkit", "")
    lines = repr(short).splitlines()
    assert len(lines) <= 10 and lines[0] == "session defaults:", lines
    shown = short.shown()
    assert list(shown) == ["model", "language", "timestamps", "diarize", "device"] and not short.changed
    assert "%whisperkit --all" in lines[-1] and "%whisperkit --help" in lines[-1]
    assert "Flags given to %transcribe apply to that call only" in lines[-1] and "flash-attn" in repr(short)

    changed = shell.run_line_magic("whisperkit", "--diarize --num-speakers 2 --vad-threshold 0.3")
    assert list(changed.shown()) == ["model", "language", "timestamps", "diarize", "num_speakers", "device",
                                     "vad_threshold"]
    assert set(changed.changed) == {"diarize", "num_speakers", "vad_threshold"}
    assert "  vad_threshold  0.3 *" in repr(changed) and "vad_threshold" in changed._repr_html_()

    every = shell.run_line_magic("whisperkit", "--all")
    assert all(f"  {f.name} " in repr(every) for f in option_fields()) and every.shown() == every.defaults
    assert every.defaults["vad_threshold"] == 0.3, "--all shows the session, it does not reset it"
    with capture_output() as helped:
        assert shell.run_line_magic("whisperkit", "--help") is None
    assert "--all" in helped.stdout and "--vad-threshold" in helped.stdout
    assert SESSION.options.vad_threshold == 0.3


def test_magic_help_says_flags_apply_to_one_call(shell):
    for magic in (shell.find_line_magic("transcribe"), shell.find_cell_magic("transcribe")):
        assert "apply to this call only" in " ".join(magic.__doc__.split())
    assert "apply to that call only" in " ".join(shell.find_line_magic("whisperkit").__doc__.split())


def test_magic_uses_the_session_defaults(shell, clips, monkeypatch):
    seen = []
    monkeypatch.setattr("whisperkit_nb.notebook.magics.transcribe_with_progress",
                        lambda audio, options: seen.append((audio, options)) or pd.DataFrame())
    shell.run_line_magic("whisperkit", "--model tiny.en --vad-threshold 0.4")
    shell.run_line_magic("transcribe", f"{clips[0][0]} --batch-size 2")
    audio, options = seen[-1]
    assert audio == str(clips[0][0])
    assert (options.model, options.vad_threshold, options.batch_size) == ("tiny.en", 0.4, 2)
    assert SESSION.options.batch_size is None, "flags of one call do not change the session"
    assert SESSION.last_options is options


def test_controls_cover_every_option(shell):
    """Every option has a row, on the first screen or folded in "Advanced", with the widget its type asks for,
    a label for people (its ``label`` metadata) and the option's name, flag and help in the tooltip."""
    panel = wk.controls("talk.m4a")
    tree = list(_walk(panel))
    accordions = {acc.get_title(0): set(_walk(acc)) for acc in tree if isinstance(acc, widgets.Accordion)}
    assert set(accordions) == {"Advanced"}
    for f in option_fields():
        option = panel.widgets[f.name]
        assert option.input in tree and option.widget.children[:2] == (option.label, option.input), f.name
        assert (option.input in accordions["Advanced"]) == (f.name not in FIRST_SCREEN), f.name
        kind, choices = base_type_of(f), choices_of(f)
        if choices:
            assert isinstance(option.input, widgets.Dropdown)
            assert tuple(value for _label, value in option.input.options) == choices
        elif kind is bool:
            assert isinstance(option.input, widgets.Checkbox)
        elif f.metadata.get("secret"):
            assert isinstance(option.input, widgets.Password)
        elif kind in (int, float):
            assert isinstance(option.input, (widgets.BoundedIntText, widgets.BoundedFloatText))
            assert (option.input.min, option.input.max) == (f.metadata["low"], f.metadata["high"])
        label = f.metadata["label"]
        assert label and label != f.name and "_" not in label, f"{f.name}: give it a label for people"
        assert html.unescape(re.sub("<[^>]+>", "", option.label.value)) == label
        for tip in (option.label.tooltip, option.input.tooltip):
            assert f.name in tip and "--" + f.name.replace("_", "-") in tip and f.metadata["help"] in tip
    assert panel.audio.value == "talk.m4a" and panel.result is None
    assert isinstance(panel, Controls) and panel.button.description == "Transcribe"


def test_panel_transcribes_and_shows_the_result_and_player(clips, monkeypatch, tmp_path):
    SESSION.update(model="tiny.en")
    panel = wk.controls(str(clips[0][0]))
    shown = []
    monkeypatch.setattr("whisperkit_nb.notebook.controls.display", shown.append)  # Output capture needs a kernel
    frame = panel.run()
    assert frame is panel.result and set(frame.file) == {str(clips[0][0])} and len(frame)
    assert panel.bar.value == 1.0 and "1 input(s)" in panel.status.value
    assert panel.player is not None and panel.player.title == str(clips[0][0])
    assert shown == [frame, panel.player]
    assert html.unescape(panel.summary.value).count(f"{clips[0][0].name}: 0:02 of audio, {len(frame)} segment") == 1

    # The Export row: a download link holding the player's transcript in the chosen format.
    assert panel.export_row.layout.display is None and panel.export_format.value == "srt"
    panel.export_button.click()
    name, data = _download(panel.download.value)
    assert name == "clip_a.srt"
    subs = pysubs2.SSAFile.from_string(data.decode("utf-8"), format_="srt")
    assert len(subs) == len(frame) and subs[0].plaintext == " ".join(frame.text[0].split())
    panel.export("json")
    name, data = _download(panel.download.value)
    (tmp_path / name).write_bytes(data)
    pd.testing.assert_frame_equal(wk.read_transcript(tmp_path / name)[["start", "end", "text"]],
                                  frame[["start", "end", "text"]])
    monkeypatch.setitem(sys.modules, "docx", None)  # as if python-docx were not installed
    panel.export("docx")
    assert "<a " not in panel.download.value and "python-docx" in panel.download.value
    assert "whisperkit_nb[exports]" in html.unescape(panel.download.value)

    panel.audio.value = str(clips[0][0].parent / "missing.wav")
    assert panel.run() is None and "file not found" in panel.message.value


def test_panel_progress_bar_follows_a_multi_file_run(clips, fake_transcribe):
    panel = wk.controls(str(clips[0][0].parent / "clip_*.wav"))
    seen = []
    panel.bar.observe(lambda change: seen.append(change["new"]), names="value")
    panel.status.observe(lambda change: seen.append(change["new"]), names="value")
    panel.run()
    fractions = [v for v in seen if isinstance(v, float)]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and 0 < fractions[0] < 0.5
    assert any("file 2/2" in str(v) and "transcribe" in str(v) for v in seen)


def test_interrupt_keeps_finished_files_and_says_so(shell, clips, monkeypatch):
    paths, _ = clips
    calls = []

    def interrupt_on_second_file(self, event):
        calls.append(event)
        if event.file == str(paths[1]):
            raise KeyboardInterrupt

    monkeypatch.setattr(progress.RunProgress, "__call__", interrupt_on_second_file)
    with capture_output() as shown, pytest.warns(UserWarning, match="Interrupted"):
        shell.run_cell_magic("transcribe", f"partial {FAST}", f"{paths[0]}\n{paths[1]}")
    partial = shell.user_ns["partial"]
    assert partial.attrs["interrupted"] and set(partial.file) == {str(paths[0])}
    assert "Interrupted" in shown.stdout and "stored in partial" in shown.stdout


def test_progress_false_draws_no_bars(shell, clips, capfd, fake_transcribe):
    paths, _ = clips
    shell.run_line_magic("transcribe", f"{paths[0]} {paths[1]} --no-progress")
    assert "files" not in capfd.readouterr().err
    shell.run_line_magic("transcribe", f"{paths[0]} {paths[1]} --progress")
    drawn = capfd.readouterr().err
    assert "files: 100%" in drawn and "2/2" in drawn


def test_store_magic_returns_the_frame_and_a_second_run_is_all_done(shell, clips, tmp_path):
    paths, _ = clips
    store = tmp_path / "out"
    line = f"{paths[0]} {paths[1]} --store {store} --model tiny.en"
    with capture_output() as shown:
        frame = run(shell, f"df = %transcribe {line}\ndf")
    assert shell.user_ns["df"] is frame
    assert list(dict.fromkeys(frame.file)) == [str(p) for p in paths]
    text = " ".join(frame.text).lower()
    assert "hello" in text and "there" in text
    assert f"2 file(s) in {store}: 2 done (0 already done before this run), 0 failed" in shown.stdout
    assert "corpus" in shown.stderr and "2/2" in shown.stderr and "audio" in shown.stderr  # the corpus bar
    stored = wk.open_corpus(store)
    assert stored.counts() == {"done": 2, "failed": 0, "pending": 0}
    assert list(stored.files.file) == [str(p) for p in paths]

    with capture_output() as again:
        second = run(shell, f"%transcribe {line} --no-progress")
    assert f"all 2 file(s) were already done in {store}" in again.stdout and again.stderr == ""
    pd.testing.assert_frame_equal(second, frame)


def test_store_cell_magic_takes_a_manifest_and_names_failures(shell, clips, tmp_path):
    paths, _ = clips
    manifest = tmp_path / "interviews.csv"
    pd.DataFrame({"path": [str(paths[0]), str(tmp_path / "missing.wav")], "site": ["north", "south"]}).to_csv(
        manifest, index=False)
    store = tmp_path / "out"
    with capture_output() as shown:
        run(shell, f"%%transcribe notes --store {store} {FAST}\n{manifest}\n")
    notes = shell.user_ns["notes"]
    assert set(notes.file) == {str(paths[0])} and set(notes.site) == {"north"}
    assert f"2 file(s) in {store}: 1 done (0 already done before this run), 1 failed" in shown.stdout
    assert f"wk.open_corpus({str(store)!r}).failures lists them" in shown.stdout
    assert wk.open_corpus(store).failures == {str(tmp_path / "missing.wav"): "file not found"}


def test_store_that_cannot_be_used_is_a_usage_error(shell, clips, tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    with pytest.raises(UsageError, match="is not writable"):
        shell.run_line_magic("transcribe", f"{clips[0][0]} --store {tmp_path / 'a_file' / 'out'} {FAST}")
    with pytest.raises(UsageError, match="--overwrite applies to --store"):
        shell.run_line_magic("transcribe", f"{clips[0][0]} --overwrite {FAST}")
    (tmp_path / "list.csv").write_text("file\na.wav\n")
    with pytest.raises(UsageError, match="no 'path' column"):
        shell.run_line_magic("transcribe", f"{tmp_path / 'list.csv'} --store {tmp_path / 'out'} {FAST}")


def test_store_interrupt_keeps_finished_files_and_the_same_line_resumes(shell, clips, tmp_path, monkeypatch):
    paths, _ = clips
    store = tmp_path / "out"
    line = f"{paths[0]} {paths[1]} --store {store} {FAST}"
    call = progress.CorpusRunProgress.__call__

    def interrupt_after_first_file(self, event):
        call(self, event)
        if event.stage == "corpus" and event.file == str(paths[0]):
            raise KeyboardInterrupt  # as Ctrl-C right after the first file was stored

    monkeypatch.setattr(progress.CorpusRunProgress, "__call__", interrupt_after_first_file)
    with capture_output() as shown:
        partial = shell.run_line_magic("transcribe", line)
    assert partial.attrs["interrupted"] and set(partial.file) == {str(paths[0])}
    assert f"Interrupted: the 1 finished file(s) are in {store}; run the same line again to resume" in shown.stdout
    assert wk.open_corpus(store).counts() == {"done": 1, "failed": 0, "pending": 1}

    monkeypatch.setattr(progress.CorpusRunProgress, "__call__", call)
    with capture_output() as resumed:
        frame = shell.run_line_magic("transcribe", line)
    assert "2 done (1 already done before this run)" in resumed.stdout
    assert list(dict.fromkeys(frame.file)) == [str(p) for p in paths] and not frame.attrs.get("interrupted")


def test_panel_output_folder_sends_the_run_into_a_store(clips, tmp_path, monkeypatch):
    SESSION.update(model="tiny.en")
    panel = wk.controls(str(clips[0][0].parent / "clip_*.wav"))
    assert "Output folder" in panel.store_label.value and "Resumable" in panel.store.tooltip
    monkeypatch.setattr("whisperkit_nb.notebook.controls.display", lambda _shown: None)
    seen = []
    panel.status.observe(lambda change: seen.append(change["new"]), names="value")
    panel.store.value = str(tmp_path / "panel")
    frame = panel.run()
    stored = wk.open_corpus(tmp_path / "panel")
    assert stored.counts() == {"done": 2, "failed": 0, "pending": 0}
    assert list(stored.files.file) == [str(p) for p in clips[0]]
    assert frame is panel.result and set(frame.file) == {str(p) for p in clips[0]} and panel.corpus.skipped == 0
    assert panel.bar.value == 1.0 and panel.status.value.startswith(f"2 file(s) in {tmp_path / 'panel'}: 2 done")
    assert any("/2 files · " in v and " audio · " in v and "0 failed" in v and "· transcribe" in v for v in seen)

    panel.export_format.value = "vtt"  # a corpus run exports one file per input into the output folder
    panel.export_button.click()
    exports = tmp_path / "panel" / "exports"
    assert panel.status.value == f"exported 2 input(s) as vtt into {exports}" and panel.download.value == ""
    assert sorted(p.name for p in exports.iterdir()) == ["clip_a.vtt", "clip_b.vtt"]
    for path in clips[0]:
        captions = webvtt.read(exports / f"{path.stem}.vtt")
        assert [c.text for c in captions] == [" ".join(t.split()) for t in frame[frame.file == str(path)].text]

    panel.run()
    assert panel.status.value.startswith(f"all 2 file(s) were already done in {tmp_path / 'panel'}")
    panel.store.value = str(tmp_path / "panel" / "manifest.json" / "x")
    assert panel.run() is None and "not writable" in panel.message.value
    panel.store.value = ""  # back to an in-memory run
    assert panel.run() is not None and "done: 2 input(s)" in panel.status.value


def test_core_never_imports_the_notebook_layer_and_missing_widgets_name_the_extra():
    """In a fresh interpreter: every core module imports without the notebook layer; with a widget library
    missing, building a widget raises MissingDependencyError naming the `notebook` extra."""
    script = textwrap.dedent("""
        import importlib, pkgutil, sys
        import whisperkit_nb as wk
        for module in pkgutil.iter_modules(wk.__path__, "whisperkit_nb."):
            if module.name != "whisperkit_nb.notebook":
                importlib.import_module(module.name)
        print("core imports notebook:", any(name.startswith("whisperkit_nb.notebook") for name in sys.modules))
        sys.modules["ipywidgets"] = sys.modules["anywidget"] = None  # as if not installed
        for build in (lambda: wk.controls(), lambda: wk.player(None)):
            try:
                build()
            except wk.MissingDependencyError as err:
                print(err)
    """)
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "core imports notebook: False"
    assert lines[1:] == [
        'The control panel needs the \'ipywidgets\' package. Install it with: pip install "whisperkit_nb[notebook]"',
        'The transcript player needs the \'anywidget\' package. Install it with: pip install "whisperkit_nb[notebook]"',
    ]


def _download(link: str) -> tuple[str, bytes]:
    """The file name and bytes of the panel's ``<a download="NAME" href="data:...;base64,...">`` link."""
    found = re.fullmatch(r'<a download="([^"]+)" href="data:[^;"]+;base64,([^"]*)"[^>]*>.*', link, re.DOTALL)
    assert found, link
    return html.unescape(found[1]), base64.b64decode(html.unescape(found[2]))


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)
