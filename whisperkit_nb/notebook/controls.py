"""The control panel: ipywidgets generated from `TranscribeOptions`, a Transcribe button, the result below.

One row per option field, by its type and metadata: its label for people (the field's ``label``, e.g.
"Find speakers" for ``diarize``; the option's name, magic flag and help in the tooltip), then a dropdown
for a choice (Literal), a checkbox for a flag, a bounded number box for a number (with an "auto" tick where
the option may be None), a text box for a string, a password box for the secret token. What most runs
change is on the first screen (`FIRST_SCREEN`: model, language, word timestamps, speakers and their number);
every other option is folded in "Advanced", in one section per metadata "group". The speaker settings
are greyed out until "Find speakers" is ticked, and the Hugging Face token row appears only when the
diarization model is a hub id (the offline default needs no token).

The panel reads and writes the session defaults (`state.SESSION`), so ``%whisperkit`` and every panel
show the same settings. Flags on a ``%transcribe`` line apply to that one call only: the panel says so,
and after such a call it shows what that call used where it differs from the panel (``SESSION.last_options``,
refreshed after every cell), with a button that makes those settings the defaults. An "Output folder" box,
when filled, sends the run into a resumable store (`whisperkit_nb.transcribe_corpus`); empty, the result is
only kept in memory. After a run the panel shows one summary line per file (`summary_lines`).

After a run an Export row offers the result in any export format: a download link for the transcript the
player shows (speaker renames applied), or, after a run into an output folder, one file per input and
format in its ``exports`` subfolder (`Corpus.export`).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import html
import mimetypes
import re
import weakref
from pathlib import Path
from typing import Any

import pandas as pd

from whisperkit_nb.audio.source import ARRAY_NAME
from whisperkit_nb.cli import format_mapping, parse_mapping
from whisperkit_nb.engines.weights import SHORT_NAMES
from whisperkit_nb.errors import MissingDependencyError, OptionsError, WhisperkitError
from whisperkit_nb.notebook.progress import transcribe_corpus_with_progress, transcribe_with_progress
from whisperkit_nb.notebook.state import SESSION, SessionDefaults
from whisperkit_nb.options import TranscribeOptions, base_type_of, choices_of, option_fields
from whisperkit_nb.output.formats import FORMATS
from whisperkit_nb.output.summary import summary_lines

try:
    import ipywidgets as widgets
    from IPython.display import display
except ImportError as err:
    raise MissingDependencyError("ipywidgets", "notebook", "The control panel") from err

LABEL_WIDTH = "190px"  # labels wrap inside it rather than being cut off
INPUT_WIDTH = "360px"
# The options most runs change, shown on the first screen in this order; the rest are folded in "Advanced".
FIRST_SCREEN = ("model", "language", "timestamps", "diarize", "num_speakers")
ADVANCED_TITLE = "Advanced"
# The sections of "Advanced", by the options' metadata "group" (a group added later gets its own section).
SECTION_TITLES = {"basic": "Transcription and hardware", "speakers": "Speakers",
                  "advanced": "Decoding, speech detection and audio"}
HUB_PIPELINES = ["pyannote/speaker-diarization-community-1", "pyannote/speaker-diarization-3.1"]
SUGGESTIONS = {"model": list(SHORT_NAMES), "device": ["auto", "cpu", "cuda", "cuda:0", "mps"],
               "language": ["en", "es", "fr", "de", "it", "pt", "nl", "ja", "zh"],
               "diarization_model": HUB_PIPELINES}
PLACEHOLDERS = {"language": "detect from the audio", "diarization_model": "offline default (no token needed)",
                "speaker_names": "SPEAKER_00=Ana, SPEAKER_01=Ben",
                "speaker_samples": "Ana=ana.wav, Ben=ben1.m4a, Ben=ben2.m4a"}
NONE_WORDS = {"language": "detect", "diarization_model": "offline default"}  # what None means, in the note
HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")
PLAIN_ARGUMENT = re.compile(r"[\w.,:/=+-]+")  # written in a flag without quotes
UPLOAD_DIR = Path("whisperkit_uploads")
SHOWN_FAILURES = 5  # failed inputs named under the panel; a corpus may have hundreds
SHOWN_SUMMARY = 10  # summary lines under the panel
SESSION_NOTE = ("These settings are this session's defaults: every <code>%transcribe</code> starts from them. "
                "Flags on a <code>%transcribe</code> line apply to that one call only; "
                "<code>%whisperkit --model base</code> (or this panel) changes the defaults.")
AUDIO_TOOLTIP = ("Audio or video file, or a glob pattern for several files (with an output folder, also a "
                 "folder or a CSV/Parquet manifest).")
STORE_TOOLTIP = ("Optional. A folder to save each file's transcript in as soon as it is finished. Resumable: "
                 "pressing Transcribe again skips the files already done there, so an interrupted or crashed "
                 "run goes on where it stopped; wk.open_corpus(folder) reads it back from any notebook. "
                 "Empty: the result is kept in memory only.")
EXPORTS_FOLDER = "exports"  # inside the output folder: where a corpus run's exports go

_PANELS: weakref.WeakSet = weakref.WeakSet()  # for `refresh_panels`


def option_label(f: dataclasses.Field) -> str:
    """The option's name for people: its ``label`` metadata ("Find speakers" for ``diarize``)."""
    return f.metadata.get("label") or f.name.replace("_", " ").capitalize()


def option_tooltip(f: dataclasses.Field) -> str:
    """The option's name, its magic/CLI flag and its help text."""
    return f"{f.name} (--{f.name.replace('_', '-')}): {f.metadata['help']}"


def label_widget(text: str, tooltip: str) -> widgets.HTML:
    """A row's label: a fixed-width column whose text wraps instead of being cut off."""
    return widgets.HTML(f"<div class='wk-label' style='white-space:normal;line-height:1.3;padding-top:4px'>"
                        f"{html.escape(text)}</div>",
                        tooltip=tooltip, layout=widgets.Layout(width=LABEL_WIDTH, min_width=LABEL_WIDTH))


def is_hub_id(name: str | None) -> bool:
    """Whether a diarization model names a Hugging Face hub pipeline (``org/name``, not a local folder)."""
    text = (name or "").strip()
    return bool(HUB_ID.fullmatch(text)) and not Path(text).expanduser().exists()


def refresh_panels() -> None:
    """Every live panel shows again what the last ``%transcribe`` used (called after each cell)."""
    for panel in list(_PANELS):
        panel.refresh_last_used()


class OptionWidget:
    """The row of one option; ``value`` is the option's value (None where the option allows it).

    ``label`` is the row's label, ``input`` the widget that holds the value, ``widget`` the whole row.
    """

    def __init__(self, f: dataclasses.Field) -> None:
        self.field = f
        self.name = f.name
        kind, choices = base_type_of(f), choices_of(f)
        tooltip = option_tooltip(f)
        common = {"tooltip": tooltip, "layout": widgets.Layout(width=INPUT_WIDTH)}
        self._auto: widgets.Checkbox | None = None
        self._secret: str | None = None
        self._enabled = True
        if choices is not None:
            words = f.metadata.get("choice_labels") or {}
            self.input = widgets.Dropdown(options=[(words.get(c, str(c)), c) for c in choices], **common)
        elif kind is bool:
            self.input = widgets.Checkbox(indent=False, tooltip=tooltip)
        elif f.metadata.get("secret"):
            # The typed token is moved to Python and the box emptied, so it never stays in the saved widget state.
            self.input = widgets.Password(placeholder="not set ($HF_TOKEN)", **common)
        elif kind in (int, float):
            box = widgets.BoundedIntText if kind is int else widgets.BoundedFloatText
            low, high = f.metadata.get("low"), f.metadata.get("high")
            self.input = box(min=low if low is not None else -1e9, max=high if high is not None else 1e9,
                             value=f.default if f.default is not None else (low or 0), **common)
            if f.default is None:
                self._auto = widgets.Checkbox(value=True, description="auto", indent=False,
                                              tooltip=f"{f.name}: None, chosen at run time",
                                              layout=widgets.Layout(width="80px"))
                self.input.layout.width = "140px"
        elif f.name in SUGGESTIONS:
            self.input = widgets.Combobox(options=SUGGESTIONS[f.name], ensure_option=False,
                                          placeholder=PLACEHOLDERS.get(f.name, "auto"), **common)
        else:
            self.input = widgets.Text(placeholder=PLACEHOLDERS.get(f.name, "auto"), **common)
        self.label = label_widget(option_label(f), tooltip)
        self.widget = widgets.HBox([self.label, self.input] + ([self._auto] if self._auto else []))
        if self._auto:
            self._auto.observe(lambda _change: self._update_disabled(), names="value")
            self._update_disabled()

    @property
    def value(self) -> Any:
        kind = base_type_of(self.field)
        if self.field.metadata.get("secret"):
            return self._secret
        if self._auto is not None and self._auto.value:
            return None
        raw = self.input.value
        if kind is dict:
            if not raw.strip():
                return None
            try:
                return parse_mapping(raw)
            except argparse.ArgumentTypeError as err:
                raise OptionsError(f"Option {self.name}: {err}") from None
        if kind is str and self.field.default is None and choices_of(self.field) is None:
            return raw.strip() or None
        return raw

    @value.setter
    def value(self, value: Any) -> None:
        if self.field.metadata.get("secret"):
            self._secret = value
            self.input.value = ""
            self.input.placeholder = "set (hidden)" if value else "not set ($HF_TOKEN)"
            return
        if self._auto is not None:
            self._auto.value = value is None
            if value is not None:
                self.input.value = value
            return
        if base_type_of(self.field) is dict:
            self.input.value = format_mapping(value or {})
        elif isinstance(self.input, (widgets.Text, widgets.Combobox, widgets.Password)):
            self.input.value = "" if value is None else str(value)
        else:
            self.input.value = value

    @property
    def enabled(self) -> bool:
        return self._enabled

    @enabled.setter
    def enabled(self, enabled: bool) -> None:
        """Greyed out (the value kept) while the option does not apply, e.g. speaker counts without diarization."""
        self._enabled = enabled
        self._update_disabled()

    def _update_disabled(self) -> None:
        self.input.disabled = not self._enabled or (self._auto is not None and self._auto.value)
        if self._auto is not None:
            self._auto.disabled = not self._enabled

    def observe(self, callback) -> None:
        def changed(_change: dict) -> None:
            if self.field.metadata.get("secret"):
                if not self.input.value:
                    return  # our own emptying of the box
                self.value = self.input.value  # kept in Python; the box is emptied
            callback(self)

        self.input.observe(changed, names="value")
        if self._auto is not None:
            self._auto.observe(changed, names="value")


class Controls(widgets.VBox):
    """The control panel (an ipywidgets VBox); see `controls`.

    Attributes
    ----------
    options : TranscribeOptions
        The settings the widgets show (raises `OptionsError` while they are inconsistent).
    result : pandas.DataFrame or None
        The last transcription's DataFrame (with an output folder: all of the folder's segments).
    corpus : Corpus or None
        The last run into an output folder (`whisperkit_nb.Corpus`: files, failures, ...).
    player : Player or None
        The player shown under the result (of the file chosen there).
    widgets : dict
        The `OptionWidget` of each option, by option name.
    first_screen : ipywidgets.VBox
        The rows shown without unfolding anything; ``advanced`` is the folded Accordion with the others.
    last_used : ipywidgets.HTML
        What the last ``%transcribe`` used where it differs from the panel (empty when nothing does);
        ``keep_last`` is the button that makes those settings the session defaults.
    summary : ipywidgets.HTML
        One line per file of the last run (`whisperkit_nb.output.summary.summary_lines`).
    """

    def __init__(self, audio: str | None = None, *, session: SessionDefaults = SESSION, **kwargs: Any) -> None:
        self.session = session
        self.result: pd.DataFrame | None = None
        self.corpus = None
        self.player = None
        self.widgets = {f.name: OptionWidget(f) for f in option_fields()}
        self.audio = widgets.Text(value=audio or "", placeholder="a file or a glob: interviews/*.m4a",
                                  tooltip=AUDIO_TOOLTIP, layout=widgets.Layout(width=INPUT_WIDTH))
        self.store = widgets.Text(value="", placeholder="optional; empty: keep the result in memory only",
                                  tooltip=STORE_TOOLTIP, layout=widgets.Layout(width=INPUT_WIDTH))
        self.upload = widgets.FileUpload(accept="audio/*,video/*", multiple=True, description="Upload",
                                         tooltip=f"Upload audio files into {UPLOAD_DIR}/ beside this notebook.")
        self.upload.observe(self._uploaded, names="value")
        self.note = widgets.HTML(f"<div style='white-space:normal;line-height:1.4;color:#555'>{SESSION_NOTE}</div>")
        self.last_used = widgets.HTML("")
        self.keep_last = widgets.Button(description="Make these the defaults", icon="thumb-tack",
                                        tooltip="Set the session defaults (and this panel) to what the last "
                                                "%transcribe used", layout=widgets.Layout(width="220px"))
        self.keep_last.on_click(lambda _button: self.keep_last_used())
        self.last_row = widgets.VBox([self.last_used, self.keep_last], layout=widgets.Layout(display="none"))
        self.button = widgets.Button(description="Transcribe", button_style="primary", icon="play")
        self.button.on_click(lambda _button: self.run())
        self.bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="260px"))
        self.status = widgets.Label("")
        self.message = widgets.HTML("")
        self.summary = widgets.HTML("")
        self.output = widgets.Output()
        self.export_format = widgets.Dropdown(options=list(FORMATS), value="srt", description="Export",
                                              tooltip="The format to export the result in")
        self.export_button = widgets.Button(description="Export", icon="download",
                                            tooltip="Write the result in the chosen format")
        self.export_button.on_click(lambda _button: self.export())
        self.download = widgets.HTML("")
        self.export_row = widgets.HBox([self.export_format, self.export_button, self.download],
                                       layout=widgets.Layout(display="none"))  # shown once there is a result
        self._ran_into_store = False
        self.audio_label = label_widget("Audio file(s)", AUDIO_TOOLTIP)
        self.store_label = label_widget("Output folder", STORE_TOOLTIP)
        self.first_screen = widgets.VBox([widgets.HBox([self.audio_label, self.audio, self.upload]),
                                          *(self.widgets[name].widget for name in FIRST_SCREEN),
                                          widgets.HBox([self.store_label, self.store])])
        self.advanced = widgets.Accordion([self._advanced_sections()], titles=(ADVANCED_TITLE,), selected_index=None)
        super().__init__([self.note, self.last_row, self.first_screen, self.advanced,
                          widgets.HBox([self.button, self.bar, self.status]), self.message, self.summary,
                          self.export_row, self.output], **kwargs)
        self._syncing = False
        self._show(session.options, [f.name for f in option_fields()])
        for option in self.widgets.values():
            option.observe(self._edited)
        session.observe(self._session_changed)
        _PANELS.add(self)
        self.refresh_last_used()

    def _advanced_sections(self) -> widgets.VBox:
        groups: dict[str, list] = {}
        for option in self.widgets.values():
            if option.name not in FIRST_SCREEN:
                groups.setdefault(option.field.metadata.get("group", "basic"), []).append(option.widget)
        order = [g for g in SECTION_TITLES if g in groups] + [g for g in groups if g not in SECTION_TITLES]
        children = []
        for group in order:
            title = SECTION_TITLES.get(group, group.replace("_", " ").capitalize())
            children += [widgets.HTML(f"<b>{html.escape(title)}</b>"), *groups[group]]
        return widgets.VBox(children)

    @property
    def options(self) -> TranscribeOptions:
        return TranscribeOptions(**{name: option.value for name, option in self.widgets.items()})

    def refresh_last_used(self) -> None:
        """Show what the last ``%transcribe`` used where it differs from the panel (or nothing)."""
        last, current = self.session.last_options, self.session.options
        differing = [f for f in option_fields()
                     if last is not None and getattr(last, f.name) != getattr(current, f.name)]
        if not differing:
            self.last_used.value = ""
            self.last_row.layout.display = "none"
            return
        items = "".join(f"<li><b>{html.escape(option_label(f))}</b>: {html.escape(_shown(f, getattr(last, f.name)))}"
                        f" <span style='color:#666'>(panel: {html.escape(_shown(f, getattr(current, f.name)))})"
                        "</span></li>" for f in differing)
        flags = " ".join(_flag(f, getattr(last, f.name)) for f in differing if getattr(last, f.name) is not None)
        keep = f" To keep them: <code>%whisperkit {html.escape(flags)}</code> or the button." if flags else ""
        summary = "".join(f"<br>{html.escape(line)}" for line in (self.session.last_summary or [])[:SHOWN_SUMMARY])
        self.last_used.value = (
            "<div style='white-space:normal;line-height:1.4;background:#fff8e1;padding:4px 8px'>The last "
            "<code>%transcribe</code> "
            f"ran with flags that applied to that call only:<ul style='margin:2px 0'>{items}</ul>"
            f"The panel shows the session defaults.{keep}{summary}</div>")
        self.last_row.layout.display = None

    def keep_last_used(self) -> None:
        """Make what the last ``%transcribe`` used the session defaults (and so this panel's settings)."""
        last = self.session.last_options
        if last is not None:
            self.session.update(**{f.name: getattr(last, f.name) for f in option_fields()})

    def run(self) -> pd.DataFrame | None:
        """Transcribe what the panel names with its options (what the button does); returns the DataFrame."""
        try:
            options = self.options
        except OptionsError as err:
            return self._error(err)
        audio = self.audio.value.strip()
        if not audio:
            return self._error("Name an audio file or a glob in the Audio file(s) box (or upload files).")
        self.message.value = ""
        self.summary.value = ""
        self.button.disabled = True
        self.bar.value = 0.0
        self.bar.layout.visibility = "visible" if options.progress else "hidden"
        self.output.clear_output()
        self.download.value = ""
        store = self.store.value.strip() or None
        frame, failure = None, None
        try:
            with self.output:  # an unexpected error is shown there, with its traceback
                try:
                    frame = self._transcribe(audio, store, options)
                except WhisperkitError as err:  # a StoreError (folder not writable, in use) included
                    failure = err
        finally:
            self.button.disabled = False
        if failure is not None:
            return self._error(failure)
        if frame is None:
            return None
        self.result = frame
        self._ran_into_store = store is not None
        self.summary.value = summary_html(frame)
        self._show_result(frame)
        self.export_row.layout.display = None
        return frame

    def export(self, format: str | None = None) -> None:
        """What the Export button does: the last result in ``format`` (default: the dropdown's).

        After an in-memory run, ``download`` becomes a link that downloads the player's transcript (speaker
        renames applied); after a run into an output folder, each input is written to its ``exports``
        subfolder and the status line says where.
        """
        format = format or self.export_format.value
        self.download.value = ""
        try:
            if self._ran_into_store and self.corpus is not None:
                folder = Path(self.corpus.store) / EXPORTS_FOLDER
                written = self.corpus.export(folder, [format])
                self.status.value = f"exported {len(written)} input(s) as {format} into {folder}"
            elif self.result is not None:
                name, data = self._export_file(format)
                self.download.value = download_link(name, data)
        except Exception as err:  # noqa: BLE001 - shown in the panel (a missing export library included)
            message = str(err) if isinstance(err, WhisperkitError) else f"{type(err).__name__}: {err}"
            self.download.value = f"<span style='color:#c62828'>⚠ {html.escape('Export failed: ' + message)}</span>"

    def _export_file(self, format: str) -> tuple[str, bytes]:
        from whisperkit_nb.notebook.player import export_file

        if self.player is not None:
            return self.player.export_file(format)
        return export_file(self.result, format, "transcript")  # in-memory audio: no player

    def _transcribe(self, audio: str, store: str | None, options: TranscribeOptions) -> pd.DataFrame:
        """The run: in memory, or into the ``store`` folder (the status line then says what it did)."""
        if store is None:
            return transcribe_with_progress(audio, options, widget=self.bar, label=self.status)
        self.corpus = transcribe_corpus_with_progress(audio, store, options, widget=self.bar, label=self.status)
        if self.corpus.interrupted:
            self.message.value = html.escape(f"Interrupted: the finished files are in {store}; press Transcribe "
                                             "again to resume.")
        elif self.corpus.failures:
            failures = list(self.corpus.failures.items())
            failed = "; ".join(f"{name}: {reason}" for name, reason in failures[:SHOWN_FAILURES])
            if len(failures) > SHOWN_FAILURES:
                failed += (f"; and {len(failures) - SHOWN_FAILURES} more "
                           f"(wk.open_corpus({store!r}).failures lists them all)")
            self.message.value = f"<span style='color:#c62828'>⚠ {html.escape('Failed: ' + failed)}</span>"
        return self.corpus.frame

    def _show_result(self, frame: pd.DataFrame) -> None:
        from whisperkit_nb.notebook.player import player

        with self.output:
            display(frame)
            files = [f for f in dict.fromkeys(frame["file"]) if f != ARRAY_NAME]
            if not files:
                return
            self.player = player(frame, file=files[0])
            if len(files) == 1:
                display(self.player)
                return
            chooser = widgets.Dropdown(options=files, description="Play")
            holder = widgets.Box([self.player])

            def choose(change: dict) -> None:
                self.player = player(frame, file=change["new"])
                holder.children = [self.player]

            chooser.observe(choose, names="value")
            display(widgets.VBox([chooser, holder]))

    def _error(self, err: Exception | str) -> None:
        self.message.value = f"<span style='color:#c62828'>⚠ {html.escape(str(err))}</span>"

    def _edited(self, option: OptionWidget) -> None:
        if self._syncing:
            return
        if option.name == "diarize" and not option.value:
            self._clear_speaker_settings()
        self._refresh_rows()
        try:
            wanted = self.options
        except OptionsError as err:
            self._error(err)  # shown until the settings agree again; the session keeps its last valid state
            return
        self.message.value = ""
        changes = {name: getattr(wanted, name) for name in self.widgets
                   if getattr(wanted, name) != getattr(self.session.options, name)}
        if changes:
            self.session.update(**changes)

    def _session_changed(self, options: TranscribeOptions, changed: dict[str, Any]) -> None:
        self._show(options, list(changed))
        self.refresh_last_used()

    def _show(self, options: TranscribeOptions, names: list[str]) -> None:
        self._syncing = True
        try:
            for name in names:
                self.widgets[name].value = getattr(options, name)
        finally:
            self._syncing = False
        self._refresh_rows()

    def _clear_speaker_settings(self) -> None:
        """Unticking "Find speakers" empties the settings only diarization takes (counts, model, names), which
        would otherwise make the options invalid; the token stays."""
        self._syncing = True
        try:
            for option in self.widgets.values():
                f = option.field
                if f.metadata.get("group") == "speakers" and f.default is None and not f.metadata.get("secret"):
                    option.value = None
        finally:
            self._syncing = False

    def _refresh_rows(self) -> None:
        """Speaker settings greyed out without "Find speakers"; the token row only for a hub pipeline."""
        diarize = bool(self.widgets["diarize"].input.value)
        for option in self.widgets.values():
            if option.field.metadata.get("group") == "speakers" and option.name != "diarize":
                option.enabled = diarize
        hub = is_hub_id(self.widgets["diarization_model"].input.value)
        self.widgets["hf_token"].widget.layout.display = None if hub else "none"

    def _uploaded(self, change: dict) -> None:
        files = change["new"]
        if not files:
            return
        UPLOAD_DIR.mkdir(exist_ok=True)
        paths = []
        for item in files:
            path = UPLOAD_DIR / Path(item["name"]).name
            path.write_bytes(bytes(item["content"]))
            paths.append(path)
        self.audio.value = str(paths[0]) if len(paths) == 1 else str(UPLOAD_DIR / "*")


def summary_html(frame: pd.DataFrame) -> str:
    """The run's `summary_lines` (at most `SHOWN_SUMMARY`), escaped, one per line."""
    lines = summary_lines(frame)
    shown = lines[:SHOWN_SUMMARY]
    if len(lines) > SHOWN_SUMMARY:
        shown.append(f"… and {len(lines) - SHOWN_SUMMARY} more")
    return "<div style='white-space:normal'>" + "<br>".join(html.escape(line) for line in shown) + "</div>"


def _shown(f: dataclasses.Field, value: Any) -> str:
    """An option's value as the last-used note words it (a secret only as set or not)."""
    if f.metadata.get("secret"):
        return "set" if value else "not set"
    if value is None:
        return NONE_WORDS.get(f.name) or ("off" if f.metadata.get("nullable") else
                                          "none" if base_type_of(f) is dict else "auto")
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, dict):
        return format_mapping(value)
    words = f.metadata.get("choice_labels") or {}
    return words.get(value, str(value)) if isinstance(value, str) else str(value)


def _flag(f: dataclasses.Field, value: Any) -> str:
    """The ``%whisperkit`` flag that sets an option to ``value`` (a secret's value never written out)."""
    flag = "--" + f.name.replace("_", "-")
    if isinstance(value, bool):
        return flag if value else f"--no-{flag[2:]}"
    if f.metadata.get("secret"):
        return f"{flag} $HF_TOKEN"
    if isinstance(value, dict):
        value = format_mapping(value, ",")
    text = str(value)
    return f"{flag} {text if PLAIN_ARGUMENT.fullmatch(text) else repr(text)}"


def download_link(name: str, data: bytes) -> str:
    """An ``<a download>`` link holding ``data`` as a data URL (name and URL escaped for the attribute)."""
    mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return (f'<a download="{html.escape(name)}" href="{html.escape(url)}" class="wk-download">'
            f"⬇ {html.escape(name)}</a> ({len(data):,} bytes)")


def controls(audio: str | None = None) -> Controls:
    """The control panel: every option as a widget, a Transcribe button, the DataFrame and player below.

    The first screen holds the audio, model, language, word timestamps and speakers; everything else is under
    "Advanced". Each label's tooltip names the option and its ``%transcribe`` flag.

    Parameters
    ----------
    audio : str, optional
        A file or glob to put in the Audio file(s) box.

    Returns
    -------
    Controls
        Display it (last expression of a cell). ``.options`` and ``.result`` give its settings and the
        last DataFrame to code; its settings are the session defaults that ``%whisperkit`` shows and sets.
    """
    return Controls(audio)
