"""The control panel as a researcher meets it: labels for people, the common choices on the first screen,
the speaker settings and the token where they apply, and what the last ``%transcribe`` used.

A real IPython shell with the extension loaded (so the panel is refreshed after each cell, as in a kernel)
and the real tiny Whisper model on a clip of the pyannote sample call.
"""

from __future__ import annotations

import html
import re

import ipywidgets as widgets
import pytest
from assets import clip_of

import whisperkit_nb as wk
from whisperkit_nb.notebook.controls import FIRST_SCREEN, Controls
from whisperkit_nb.notebook.state import SESSION
from whisperkit_nb.options import option_fields, option_names

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def fresh_session():
    SESSION.reset()
    SESSION.last_options = SESSION.last_summary = None
    yield
    SESSION.reset()
    SESSION.last_options = SESSION.last_summary = None


@pytest.fixture(scope="module")
def clip(sample, tmp_path_factory):
    """2.5 s of the sample call ("Hello. Hello. Oh, hello.") as a WAV file."""
    return clip_of(sample.path, 6.5, 9.0, tmp_path_factory.mktemp("panel") / "hello.wav")


def text_of(label: widgets.HTML) -> str:
    return html.unescape(re.sub("<[^>]+>", "", label.value))


def visible(widget, *, unfold: bool = False):
    """The widgets shown without unfolding an Accordion (``unfold``: all of them) nor showing a hidden row."""
    if widget.layout.display == "none":
        return
    yield widget
    if isinstance(widget, widgets.Accordion) and not unfold:
        return
    for child in getattr(widget, "children", ()):
        yield from visible(child, unfold=unfold)


def test_first_screen_has_the_common_choices_under_human_labels():
    panel = wk.controls("talk.m4a")
    shown = list(visible(panel))
    labels = [text_of(w) for w in shown if isinstance(w, widgets.HTML) and "class='wk-label'" in w.value]
    assert labels[:7] == ["Audio file(s)", "Model", "Language", "Word timestamps", "Find speakers",
                          "Number of speakers", "Output folder"]
    for name in FIRST_SCREEN:
        assert panel.widgets[name].input in shown, name
    assert panel.audio in shown and panel.button in shown
    assert [w.get_title(0) for w in shown if isinstance(w, widgets.Accordion)] == ["Advanced"]
    assert panel.advanced.selected_index is None, "folded"
    folded = [w for w in visible(panel.advanced, unfold=True) if w not in shown]
    assert panel.widgets["vad_threshold"].input in folded and panel.widgets["beam_size"].input in folded
    # The dropdown says what a value does, the value itself is the option's
    assert panel.widgets["timestamps"].input.label == "off (segment times only)"
    panel.widgets["timestamps"].input.value = "word"
    assert SESSION.options.timestamps == "word"


def test_no_raw_option_name_as_a_label_and_none_cut_off():
    panel = wk.controls()
    rows = {name: option.label for name, option in panel.widgets.items()}
    everything = list(visible(panel, unfold=True)) + [option.widget for option in panel.widgets.values()]
    for name, label in rows.items():
        text = text_of(label)
        assert text not in option_names() and "_" not in text, (name, text)
        assert text[0].isupper(), (name, text)
        assert name in label.tooltip and "--" + name.replace("_", "-") in label.tooltip
    # Labels are wrapping HTML in a fixed column, never an ipywidgets description (those are cut off with "…")
    for widget in everything:
        description = getattr(widget, "description", "")
        assert description in ("", "auto", "Upload", "Transcribe", "Export", "Make these the defaults"), description
    for label in rows.values():
        assert "white-space:normal" in label.value and label.layout.width == label.layout.min_width
    assert len({text_of(label) for label in rows.values()}) == len(rows), "each label names one option"


def test_speaker_settings_apply_only_with_find_speakers():
    panel = wk.controls()
    count = panel.widgets["num_speakers"]
    assert panel.widgets["diarize"].input.value is False
    assert count.input.disabled and count._auto.disabled and panel.widgets["speaker_names"].input.disabled
    panel.widgets["diarize"].input.value = True
    assert SESSION.options.diarize and not count._auto.disabled
    count._auto.value = False
    count.input.value = 3
    assert not count.input.disabled and SESSION.options.num_speakers == 3
    assert not panel.widgets["speaker_names"].input.disabled
    panel.widgets["speaker_names"].input.value = "SPEAKER_00=Ana"
    panel.widgets["hf_token"].input.value = "typed-token"
    panel.widgets["diarize"].input.value = False  # the counts and names go with it, the token stays
    assert panel.message.value == "" and not SESSION.options.diarize
    assert SESSION.options.num_speakers is None and SESSION.options.speaker_names is None
    assert SESSION.options.hf_token == "typed-token" and count._auto.value and count.input.disabled


def test_token_row_is_hidden_until_a_hub_pipeline_is_chosen(shell, tmp_path, monkeypatch):
    panel = wk.controls()
    token_row = panel.widgets["hf_token"].widget
    model = panel.widgets["diarization_model"].input
    assert token_row.layout.display == "none" and token_row not in list(visible(panel, unfold=True))
    panel.widgets["diarize"].input.value = True
    assert token_row.layout.display == "none", "the offline default needs no token"
    model.value = "pyannote/speaker-diarization-community-1"
    assert token_row.layout.display is None and token_row in list(visible(panel, unfold=True))
    assert SESSION.options.diarization_model == "pyannote/speaker-diarization-community-1"
    model.value = ""
    assert token_row.layout.display == "none"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipelines" / "mine").mkdir(parents=True)
    model.value = "pipelines/mine"  # a local pipeline folder: no token either
    assert token_row.layout.display == "none"
    # Set by the magic, the panel follows
    shell.run_line_magic("whisperkit", "--diarize --diarization-model pyannote/speaker-diarization-3.1")
    assert model.value == "pyannote/speaker-diarization-3.1" and token_row.layout.display is None


def test_panel_says_flags_apply_to_one_call_and_shows_what_the_last_transcribe_used(shell, clip):
    shell.run_line_magic("whisperkit", "--no-progress")
    panel = wk.controls(str(clip))
    assert "apply to that one call only" in panel.note.value and "%whisperkit --model base" in panel.note.value
    assert panel.last_row.layout.display == "none"

    shell.user_ns["clip"] = str(clip)
    result = shell.run_cell("df = %transcribe {clip} --model tiny.en --timestamps word --diarize --num-speakers 1")
    result.raise_error()
    assert SESSION.options.model is None and SESSION.options.timestamps == "segment", "one call only"
    assert SESSION.last_options is not None and SESSION.last_options.model == "tiny.en"
    # refreshed after the cell, as in a kernel: no call on the panel needed
    assert panel.last_row.layout.display is None
    note = html.unescape(re.sub("<[^>]+>", " ", panel.last_used.value))
    for said in ("Model : tiny.en (panel: auto)", "Word timestamps : on (words column)", "Find speakers : on",
                 "Number of speakers : 1", "applied to that call only",
                 "%whisperkit --model tiny.en --timestamps word --diarize --num-speakers 1"):
        assert said in " ".join(note.split()), said
    assert "hello.wav:" in note, "the call's summary line"
    assert panel.widgets["model"].value is None, "the panel keeps showing the session defaults"

    panel.keep_last.click()
    assert SESSION.options.model == "tiny.en" and SESSION.options.num_speakers == 1
    assert panel.widgets["model"].value == "tiny.en" and panel.widgets["diarize"].value is True
    assert panel.last_row.layout.display == "none", "nothing differs any more"


def test_panel_run_shows_the_summary_lines(clip, monkeypatch):
    SESSION.update(model="tiny.en", progress=False)
    panel = Controls(str(clip))
    monkeypatch.setattr("whisperkit_nb.notebook.controls.display", lambda _shown: None)  # Output needs a kernel
    frame = panel.run()
    assert frame is not None and len(frame)
    summary = text_of(panel.summary)
    assert summary.startswith("hello.wav: 0:02 of audio, ") and f"{len(frame)} segment" in summary
    assert "ctranslate2" in summary
    assert all(f.name in panel.widgets for f in option_fields())
