"""The control panel: ipywidgets generated from `TranscribeOptions`, a Transcribe button, the result below.

One widget per option field, by its type and metadata: a dropdown for a choice (Literal), a checkbox for
a flag, a bounded number box for a number (with an "auto" tick where the option may be None), a text box
for a string, a password box for the secret token. Fields are grouped by their metadata "group": basic
ones in the panel, "advanced" and "speakers" ones in accordions. The panel reads and writes the session
defaults (`state.SESSION`), so ``%whisperkit`` and every panel show the same settings. An "Output folder"
box, when filled, sends the run into a resumable store (`whisperkit_nb.transcribe_corpus`); empty, the
result is only kept in memory.

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
from pathlib import Path
from typing import Any

import pandas as pd

from whisperkit_nb.audio.source import ARRAY_NAME
from whisperkit_nb.cli import parse_mapping
from whisperkit_nb.engines.weights import SHORT_NAMES
from whisperkit_nb.errors import MissingDependencyError, OptionsError, WhisperkitError
from whisperkit_nb.notebook.progress import transcribe_corpus_with_progress, transcribe_with_progress
from whisperkit_nb.notebook.state import SESSION, SessionDefaults
from whisperkit_nb.options import TranscribeOptions, base_type_of, choices_of, option_fields
from whisperkit_nb.output.formats import FORMATS

try:
    import ipywidgets as widgets
    from IPython.display import display
except ImportError as err:
    raise MissingDependencyError("ipywidgets", "notebook", "The control panel") from err

LABEL_STYLE = {"description_width": "170px"}
SUGGESTIONS = {"model": list(SHORT_NAMES), "device": ["auto", "cpu", "cuda", "cuda:0", "mps"],
               "language": ["en", "es", "fr", "de", "it", "pt", "nl", "ja", "zh"]}
GROUP_TITLES = {"advanced": "Advanced", "speakers": "Speakers"}
UPLOAD_DIR = Path("whisperkit_uploads")
SHOWN_FAILURES = 5  # failed inputs named under the panel; a corpus may have hundreds
STORE_TOOLTIP = ("Optional. A folder to save each file's transcript in as soon as it is finished. Resumable: "
                 "pressing Transcribe again skips the files already done there, so an interrupted or crashed "
                 "run goes on where it stopped; wk.open_corpus(folder) reads it back from any notebook. "
                 "Empty: the result is kept in memory only.")
EXPORTS_FOLDER = "exports"  # inside the output folder: where a corpus run's exports go


class OptionWidget:
    """The widget of one option; ``value`` is the option's value (None where the option allows it)."""

    def __init__(self, f: dataclasses.Field) -> None:
        self.field = f
        self.name = f.name
        kind, choices = base_type_of(f), choices_of(f)
        common = {"description": f.name, "tooltip": f.metadata["help"], "style": LABEL_STYLE}
        self._auto: widgets.Checkbox | None = None
        self._secret: str | None = None
        if choices is not None:
            self.input = widgets.Dropdown(options=list(choices), **common)
        elif kind is bool:
            self.input = widgets.Checkbox(indent=True, **common)
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
                                              layout=widgets.Layout(width="80px"))
        elif f.name in SUGGESTIONS:
            self.input = widgets.Combobox(options=SUGGESTIONS[f.name], ensure_option=False, placeholder="auto",
                                          **common)
        elif kind is dict:
            self.input = widgets.Text(placeholder="SPEAKER_00=Ana, SPEAKER_01=Ben", **common)
        else:
            self.input = widgets.Text(placeholder="auto", **common)
        self.widget = widgets.HBox([self.input, self._auto]) if self._auto else self.input
        self.input.layout.width = "420px"
        if self._auto:
            self._auto.observe(lambda change: setattr(self.input, "disabled", change["new"]), names="value")
            self.input.disabled = True

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
            self.input.value = ", ".join(f"{k}={v}" for k, v in (value or {}).items())
        elif isinstance(self.input, (widgets.Text, widgets.Combobox, widgets.Password)):
            self.input.value = "" if value is None else str(value)
        else:
            self.input.value = value

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
    """

    def __init__(self, audio: str | None = None, *, session: SessionDefaults = SESSION, **kwargs: Any) -> None:
        self.session = session
        self.result: pd.DataFrame | None = None
        self.corpus = None
        self.player = None
        self.widgets = {f.name: OptionWidget(f) for f in option_fields()}
        self.audio = widgets.Text(value=audio or "", description="audio", style=LABEL_STYLE,
                                  placeholder="a file or a glob: interviews/*.m4a",
                                  tooltip="Audio or video file, or a glob pattern for several files (with an "
                                          "output folder, also a folder or a CSV/Parquet manifest).",
                                  layout=widgets.Layout(width="420px"))
        self.store = widgets.Text(value="", description="Output folder", style=LABEL_STYLE,
                                  placeholder="optional; empty: keep the result in memory only",
                                  tooltip=STORE_TOOLTIP, layout=widgets.Layout(width="420px"))
        self.upload = widgets.FileUpload(accept="audio/*,video/*", multiple=True, description="Upload",
                                         tooltip=f"Upload audio files into {UPLOAD_DIR}/ beside this notebook.")
        self.upload.observe(self._uploaded, names="value")
        self.button = widgets.Button(description="Transcribe", button_style="primary", icon="play")
        self.button.on_click(lambda _button: self.run())
        self.bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="260px"))
        self.status = widgets.Label("")
        self.message = widgets.HTML("")
        self.output = widgets.Output()
        self.export_format = widgets.Dropdown(options=list(FORMATS), value="srt", description="Export",
                                              style=LABEL_STYLE, tooltip="The format to export the result in")
        self.export_button = widgets.Button(description="Export", icon="download",
                                            tooltip="Write the result in the chosen format")
        self.export_button.on_click(lambda _button: self.export())
        self.download = widgets.HTML("")
        self.export_row = widgets.HBox([self.export_format, self.export_button, self.download],
                                       layout=widgets.Layout(display="none"))  # shown once there is a result
        self._ran_into_store = False
        groups: dict[str, list] = {}
        for option in self.widgets.values():
            groups.setdefault(option.field.metadata.get("group", "basic"), []).append(option.widget)
        sections = [widgets.HBox([self.audio, self.upload]), self.store, *groups.pop("basic", [])]
        for group, title in GROUP_TITLES.items():
            if group in groups:
                sections.append(widgets.Accordion([widgets.VBox(groups.pop(group))], titles=(title,)))
        sections += [widgets.VBox(children) for children in groups.values()]  # any group added later
        sections += [widgets.HBox([self.button, self.bar, self.status]), self.message, self.export_row,
                     self.output]
        super().__init__(sections, **kwargs)
        self._syncing = False
        self._show(session.options, [f.name for f in option_fields()])
        for option in self.widgets.values():
            option.observe(self._edited)
        session.observe(self._session_changed)

    @property
    def options(self) -> TranscribeOptions:
        return TranscribeOptions(**{name: option.value for name, option in self.widgets.items()})

    def run(self) -> pd.DataFrame | None:
        """Transcribe what the panel names with its options (what the button does); returns the DataFrame."""
        try:
            options = self.options
        except OptionsError as err:
            return self._error(err)
        audio = self.audio.value.strip()
        if not audio:
            return self._error("Name an audio file or a glob in the audio box (or upload files).")
        self.message.value = ""
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
            chooser = widgets.Dropdown(options=files, description="play", style=LABEL_STYLE)
            holder = widgets.Box([self.player])

            def choose(change: dict) -> None:
                self.player = player(frame, file=change["new"])
                holder.children = [self.player]

            chooser.observe(choose, names="value")
            display(widgets.VBox([chooser, holder]))

    def _error(self, err: Exception | str) -> None:
        self.message.value = f"<span style='color:#c62828'>⚠ {html.escape(str(err))}</span>"

    def _edited(self, _option: OptionWidget) -> None:
        if self._syncing:
            return
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

    def _show(self, options: TranscribeOptions, names: list[str]) -> None:
        self._syncing = True
        try:
            for name in names:
                self.widgets[name].value = getattr(options, name)
        finally:
            self._syncing = False

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


def download_link(name: str, data: bytes) -> str:
    """An ``<a download>`` link holding ``data`` as a data URL (name and URL escaped for the attribute)."""
    mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return (f'<a download="{html.escape(name)}" href="{html.escape(url)}" class="wk-download">'
            f"⬇ {html.escape(name)}</a> ({len(data):,} bytes)")


def controls(audio: str | None = None) -> Controls:
    """The control panel: every option as a widget, a Transcribe button, the DataFrame and player below.

    Parameters
    ----------
    audio : str, optional
        A file or glob to put in the audio box.

    Returns
    -------
    Controls
        Display it (last expression of a cell). ``.options`` and ``.result`` give its settings and the
        last DataFrame to code; its settings are the session defaults that ``%whisperkit`` shows and sets.
    """
    return Controls(audio)
