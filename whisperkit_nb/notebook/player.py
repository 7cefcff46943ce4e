"""The playback-aligned transcript: an anywidget with the audio, a waveform and the transcript beside it,
where the transcript can be corrected.

The audio reaches the browser inside the widget's state, without a server: decoded as 16 kHz mono and
encoded as Opus (24 kb/s, WebM) or MP3, so an hour of speech is about 10 MB (14 MB as a data URL), not
the hundreds of MB of a WAV. The front end (`player.js`) builds its DOM with ``textContent`` only, so a
transcript is always shown as text, never interpreted as HTML.

Corrections (text, split, merge, speaker) are made by `whisperkit_nb.transcript.edits` on the DataFrame the
player was given, in place: the ``df`` a user holds is the corrected transcript (``player(df, copy=True)``
leaves it alone; ``player.df`` then holds the result). Speaker renames (`Player.speaker_names`) are written
into it as well. The front end asks for each change with a custom message; the kernel applies it and
sends the new segments back.

The Export control asks the kernel for a file (a custom message naming the format); `Player` writes this
recording's transcript, corrections applied, with `whisperkit_nb.output.export.export` and sends the bytes
back, and the browser downloads them as ``<audio stem><suffix>``.

A notebook saved without widget state (JupyterLab's default) keeps the player's static fallback: the
transcript as ``text/html`` (speakers and times, every text escaped, edited lines marked, and an ``<audio
controls>`` with the recording). Displayed in a notebook, the player is two outputs, that static transcript
(kept up to date with each correction) and the widget, which hides the static one while it is live; in a
reopened notebook the static one is what shows. ``_repr_mimebundle_`` carries it too, beside the widget
view, for nbconvert and other readers of the bundle.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from whisperkit_nb.audio.source import ARRAY_NAME, SAMPLE_RATE, open_audio
from whisperkit_nb.errors import MissingDependencyError, WhisperkitError
from whisperkit_nb.output.formats import FORMATS, format_named

try:
    import anywidget
    import traitlets
except ImportError as err:
    raise MissingDependencyError("anywidget", "notebook", "The transcript player") from err

HERE = Path(__file__).parent
# Tableau 10: distinct on light and dark backgrounds; speakers get them in order of first appearance.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac")
PEAKS = 1600  # waveform resolution: enough for a wide notebook cell, a few KB of state
PEAK_WINDOW = SAMPLE_RATE // 20  # 50 ms: peaks are first taken per window, then pooled down to PEAKS
# format: (container, codec, sample format, bit rate, MIME type)
AUDIO_FORMATS = {
    "opus": ("webm", "libopus", "flt", 24_000, "audio/webm"),
    "mp3": ("mp3", "libmp3lame", "fltp", 32_000, "audio/mpeg"),
}
# A downloaded file lands away from the recording: a path relative to a temporary folder would mislead ELAN.
DOWNLOAD_OPTIONS = {"eaf": {"relative_media": False}}


#: A word Whisper gave a probability below this is marked "unsure" in the player (and found by its key).
UNSURE_PROBABILITY = 0.5
#: A pause between segments at least this long (seconds) is shown as a row of its own.
SILENCE_S = 5.0
#: Undo keeps this many earlier states of the file's rows.
UNDO_DEPTH = 100


class Player(anywidget.AnyWidget):
    """An audio player with the transcript of one file, where it can be corrected; see `player`.

    Corrections in code take the segment's position in this file (in start order): `edit_text`, `split`,
    `merge`, `set_speaker`, then `undo` / `redo`; `on_edit` hears every change, `save` writes the JSON.

    Attributes
    ----------
    speaker_names : dict
        Display name of each speaker label (synced both ways); a rename is written into the DataFrame.
    df : pandas.DataFrame
        The DataFrame the player edits: the one given (the same object), or its copy with ``copy=True``.
    """

    _esm = HERE / "player.js"
    _css = HERE / "player.css"

    title = traitlets.Unicode("").tag(sync=True)
    audio_url = traitlets.Unicode("").tag(sync=True)
    duration = traitlets.Float(0.0).tag(sync=True)
    peaks = traitlets.List(traitlets.Int()).tag(sync=True)
    # one dict per segment: s(tart), e(nd), t(ext), k (speaker label or None), x (edited),
    # w (words: [text, start, end, speaker, probability])
    segments = traitlets.List(traitlets.Dict()).tag(sync=True)
    speakers = traitlets.List(traitlets.Unicode()).tag(sync=True)
    colors = traitlets.Dict().tag(sync=True)
    speaker_names = traitlets.Dict().tag(sync=True)
    # label -> how speaker_samples named it ("matched the sample of Ana, similarity 0.91"), for its hover title
    speaker_about = traitlets.Dict().tag(sync=True)
    # the Export control's choices: format name -> what reads it (every format holds one recording)
    export_formats = traitlets.Dict().tag(sync=True)
    unsure_below = traitlets.Float(UNSURE_PROBABILITY).tag(sync=True)
    silence_s = traitlets.Float(SILENCE_S).tag(sync=True)
    can_undo = traitlets.Bool(False).tag(sync=True)
    can_redo = traitlets.Bool(False).tag(sync=True)
    # names this player's static fallback (its CSS class), which a live view hides
    static_key = traitlets.Unicode("").tag(sync=True)

    def __init__(self, df: pd.DataFrame, file: str | None, audio: Any, *, audio_format: str = "opus",
                 on_rename: Callable[[dict[str, str], pd.DataFrame], None] | None = None, copy: bool = False,
                 **kwargs: Any) -> None:
        frame = df.copy() if copy else df
        if copy:
            frame.attrs = dict(df.attrs)
        self._frame = frame
        self._file = file
        # the speaker label the player knows each speaker by -> its name in the DataFrame now
        self._in_frame: dict[str, str] = {}
        segments = self._segment_states()
        speakers = _speakers_in_order(segments)
        self._in_frame = {label: label for label in speakers}
        url, peaks, duration = encode_audio(audio if audio is not None else file, audio_format)
        super().__init__(
            title=str(file if file is not None else ARRAY_NAME),
            audio_url=url,
            duration=duration,
            peaks=peaks,
            segments=segments,
            speakers=speakers,
            colors={label: PALETTE[i % len(PALETTE)] for i, label in enumerate(speakers)},
            speaker_names={label: label for label in speakers},
            speaker_about=_speaker_about(df.attrs.get("files"), file),
            export_formats={f.name: f.description for f in FORMATS.values()},
            static_key=uuid.uuid4().hex,
            **kwargs,
        )
        self._static: Any = None  # the display of the static fallback, once shown (`_ipython_display_`)
        # the recording eaf links and html embeds, when the player plays a file other than df's
        self._media = Path(audio) if isinstance(audio, (str, os.PathLike)) and Path(audio).is_file() else None
        self._rename_callbacks: list[Callable] = [on_rename] if on_rename else []
        self._edit_callbacks: list[Callable[[pd.DataFrame], None]] = []
        self._undo: list[tuple[pd.DataFrame, dict[str, str]]] = []
        self._redo: list[tuple[pd.DataFrame, dict[str, str]]] = []
        self.observe(self._renamed, names="speaker_names")
        self.on_msg(self._message)

    @property
    def df(self) -> pd.DataFrame:
        """The transcript with every correction and rename: the DataFrame given (or its copy)."""
        return self._frame

    # ---- corrections: ``segment`` is the position among this file's rows, in start order ----

    def edit_text(self, segment: int, text: str) -> None:
        """Set the text of segment ``segment``; see `whisperkit_nb.transcript.edits.edit_text`."""
        from whisperkit_nb.transcript import edits

        self._change(lambda: edits.edit_text(self._frame, self._label(segment), text))

    def split(self, segment: int, word: int) -> None:
        """Split segment ``segment`` before its word ``word``; see `~whisperkit_nb.transcript.edits.split_segment`."""
        from whisperkit_nb.transcript import edits

        self._change(lambda: edits.split_segment(self._frame, self._label(segment), word))

    def merge(self, segment: int) -> None:
        """Merge segment ``segment`` with the next; see `~whisperkit_nb.transcript.edits.merge_with_next`."""
        from whisperkit_nb.transcript import edits

        self._change(lambda: edits.merge_with_next(self._frame, self._label(segment)))

    def set_speaker(self, segment: int, speaker: str) -> None:
        """Give segment ``segment`` the speaker ``speaker``: a label or a shown name of one, or a new name."""
        from whisperkit_nb.transcript import edits

        speaker = str(speaker).strip()
        if not speaker:
            raise ValueError("set_speaker: the speaker needs a name.")
        names = self.speaker_names
        label = next((k for k in self.speakers if k == speaker), None)
        label = label or next((k for k in self.speakers if names.get(k) == speaker), None)
        if label is None:  # a new speaker: known by its name from now on
            label = speaker
            self._in_frame[label] = speaker
        in_frame = self._in_frame.get(label, label)
        self._change(lambda: edits.set_speaker(self._frame, self._label(segment), in_frame))

    def undo(self) -> bool:
        """Undo the last correction; False when there is none."""
        return self._restore(self._undo, self._redo)

    def redo(self) -> bool:
        """Redo the last correction undone; False when there is none."""
        return self._restore(self._redo, self._undo)

    def on_edit(self, callback: Callable[[pd.DataFrame], None]) -> None:
        """Call ``callback(rows)`` after every correction, undo, redo and rename, with this file's rows."""
        self._edit_callbacks.append(callback)

    def refresh(self) -> None:
        """Show `df` again after changing it in code (this file's rows are read anew)."""
        self._edited()

    def rows(self) -> pd.DataFrame:
        """This file's rows of `df`, in start order (a copy)."""
        return self._rows().copy()

    def save(self, path: str | os.PathLike) -> Path:
        """Write this file's corrected transcript as our JSON; `whisperkit_nb.read_transcript` reads it back
        (``edited`` and ``text_original`` included)."""
        from whisperkit_nb.output.export import export

        return export(one_recording(self._frame, self._file), path, "json")

    def export_file(self, format: str, **options: Any) -> tuple[str, bytes]:
        """This recording's transcript, corrections and renames applied, as ``format``: ``(file name, bytes)``.

        What the Export control downloads. ``options`` go to the format's writer (see
        `whisperkit_nb.output.export.export`); eaf and html link or embed the audio the player plays when
        that is a file.
        """
        from whisperkit_nb.output.export import format_options

        fmt = format_named(format)
        if self._media is not None and "audio" in format_options(fmt):
            options.setdefault("audio", self._media)
        stem = Path(self.title).stem if self.title != ARRAY_NAME else "transcript"
        return export_file(one_recording(self._frame, self._file), fmt.name, stem, **options)

    def on_rename(self, callback: Callable[[dict[str, str], pd.DataFrame], None]) -> None:
        """Call ``callback(speaker_names, df)`` whenever a speaker is renamed (in the widget or in code)."""
        self._rename_callbacks.append(callback)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget view, and the transcript as static HTML (`static_html`) for where no widget can show
        (nbconvert, GitHub, a front end without the widget manager)."""
        bundle = super()._repr_mimebundle_(**kwargs)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        if data is None:
            return bundle
        data = {**data, "text/html": static_html(self)}
        return (data, metadata) if isinstance(bundle, tuple) else data

    def _ipython_display_(self, **kwargs: Any) -> None:
        """Two outputs: the static transcript, then the widget, which hides the static one while it is live.

        JupyterLab prefers the widget view in a bundle whatever else it holds, and in a notebook saved
        without widget state (its default) shows "Error displaying widget: model not found" in its place;
        an output of its own keeps the transcript readable there.
        """
        from IPython.display import display

        data, metadata = super()._repr_mimebundle_(**kwargs)
        # The recording once, in an output of its own: a correction then resends only the text (an hour of
        # audio is about 14 MB of data URL).
        display({"text/html": static_audio_html(self)}, raw=True)
        # kept up to date with every correction and rename, so a saved notebook shows the corrected text
        self._static = display({"text/html": static_html(self, audio=False)}, raw=True, display_id=True)
        display(data, raw=True, metadata=metadata)

    def _update_static(self) -> None:
        if self._static is not None:
            self._static.update({"text/html": static_html(self, audio=False)}, raw=True)

    # ---- internals ----

    def _rows(self) -> pd.DataFrame:
        frame = self._frame
        rows = frame[frame["file"] == self._file] if self._file is not None and "file" in frame.columns else frame
        return rows.sort_values("start", kind="stable")

    def _label(self, segment: int) -> Any:
        labels = list(self._rows().index)
        if not 0 <= int(segment) < len(labels):
            raise ValueError(f"segment {segment} does not exist: this file has {len(labels)} segments.")
        return labels[int(segment)]

    def _segment_states(self) -> list[dict[str, Any]]:
        back = {name: label for label, name in self._in_frame.items()}
        return [_segment_state(row, back) for row in self._rows().itertuples(index=False)]

    def _snapshot(self) -> tuple[pd.DataFrame, dict[str, str]]:
        # The words lists are shared, not copied: every edit puts new lists in (none changes one in place),
        # so a hundred undo steps of an hour's transcript cost pointers, not a hundred copies of its words.
        return self._rows().copy(), dict(self._in_frame)

    def _change(self, edit: Callable[[], Any]) -> None:
        before = self._snapshot()
        edit()
        self._undo = [*self._undo[-(UNDO_DEPTH - 1):], before]
        self._redo = []
        self._edited()

    def _restore(self, source: list, target: list) -> bool:
        from whisperkit_nb.transcript.edits import replace_rows

        if not source:
            return False
        target.append(self._snapshot())
        rows, in_frame = source.pop()
        replace_rows(self._frame, list(self._rows().index), rows)
        self._in_frame = in_frame
        self._apply_names({label: self.speaker_names.get(label, label) for label in in_frame})
        self._edited()
        return True

    def _edited(self) -> None:
        """Send the new state to the front end and tell the callbacks."""
        segments = self._segment_states()
        speakers = list(dict.fromkeys([*self.speakers, *_speakers_in_order(segments)]))
        colors = dict(self.colors)
        for label in speakers:
            colors.setdefault(label, PALETTE[len(colors) % len(PALETTE)])
        with self.hold_sync():
            self.colors = colors
            self.speakers = speakers
            self.speaker_names = {**{label: self._in_frame.get(label, label) for label in speakers},
                                  **{k: v for k, v in self.speaker_names.items() if k in speakers}}
            self.segments = segments
            self.can_undo, self.can_redo = bool(self._undo), bool(self._redo)
        self._tell_edit()

    def _tell_edit(self) -> None:
        self._update_static()
        if self._edit_callbacks:
            rows = self.rows()
            for callback in self._edit_callbacks:
                callback(rows)

    def _renamed(self, change: dict) -> None:
        """Write a rename into the DataFrame (this file's rows only: SPEAKER_00 of another file is someone
        else). A partial mapping keeps the other speakers' names."""
        names = {label: label for label in self.speakers}
        names.update({str(k): (str(v).strip() or str(k)) for k, v in (change["new"] or {}).items()})
        if names != change["new"]:
            self.speaker_names = names  # observed again: that call writes the rename
            return
        if not self._apply_names(names):
            return
        for callback in self._rename_callbacks:
            callback(dict(names), self._frame)
        self._tell_edit()

    def _apply_names(self, names: dict[str, str]) -> bool:
        """Write the names into this file's rows; False when they are there already."""
        from whisperkit_nb.transcript.edits import rename_speakers_in_place

        mapping = {self._in_frame.get(label, label): name for label, name in names.items()
                   if self._in_frame.get(label, label) != name}
        if not mapping:
            return False
        rename_speakers_in_place(self._frame, mapping, list(self._rows().index))
        for label, name in names.items():
            self._in_frame[label] = name
        return True

    def _message(self, _widget: Any, content: Any, _buffers: list) -> None:
        """Answer the front end: ``{"export": format, "request": id}`` gets ``{"request": id, "name": file
        name}`` with the file's bytes as the buffer, or ``{"request": id, "error": message}``; ``{"edit":
        "text" | "split" | "merge" | "speaker" | "undo" | "redo", "segment": i, ...}`` applies a correction
        (answered by ``{"edit_done": kind}`` after the new state, or ``{"edit_error": message}``)."""
        if isinstance(content, dict) and "edit" in content:
            self._edit_message(content)
            return
        if not isinstance(content, dict) or "export" not in content:
            return
        reply = {"request": content.get("request")}
        try:
            name, data = self.export_file(str(content["export"]))
        except Exception as err:  # noqa: BLE001 - shown in the player, not lost in the kernel log
            self.send({**reply, "error": f"Export failed: {_message_of(err)}"})
            return
        self.send({**reply, "name": name}, [data])

    def _edit_message(self, content: dict) -> None:
        kind = content["edit"]
        try:
            if kind == "text":
                self.edit_text(int(content["segment"]), str(content["text"]))
            elif kind == "split":
                self.split(int(content["segment"]), int(content["word"]))
            elif kind == "merge":
                self.merge(int(content["segment"]))
            elif kind == "speaker":
                self.set_speaker(int(content["segment"]), str(content["speaker"]))
            elif kind == "undo":
                self.undo()
            elif kind == "redo":
                self.redo()
            else:
                raise ValueError(f"unknown edit {kind!r}")
        except Exception as err:  # noqa: BLE001 - shown in the player
            self.send({"edit_error": f"Edit failed: {_message_of(err)}"})
            return
        self.send({"edit_done": kind})  # after the new state: the front end stops waiting


def player(df: pd.DataFrame, audio: Any = None, *, file: str | int | None = None, audio_format: str = "opus",
           on_rename: Callable[[dict[str, str], pd.DataFrame], None] | None = None, copy: bool = False) -> Player:
    """An interactive, playback-aligned transcript of one file of a transcript DataFrame, for listening and
    correcting.

    Parameters
    ----------
    df : pandas.DataFrame
        From `whisperkit_nb.transcribe` (a ``words`` column and speakers are used when present). Corrected
        in place: text edits, splits, merges, speaker changes and renames made in the player change ``df``
        (see `whisperkit_nb.transcript.edits`); edited rows get ``edited`` True and ``text_original``.
    audio : path, array, tensor or (array, sample_rate), optional
        The audio to play. Default: the file named in ``df.file``.
    file : str or int, optional
        Which file of ``df`` to show, by name or by position among its files; needed when ``df`` has several.
    audio_format : {"opus", "mp3"}
        Opus (24 kb/s, WebM) is smaller; MP3 (32 kb/s) plays in every browser, old Safari included.
    on_rename : callable, optional
        ``on_rename(speaker_names, df)`` after each speaker rename in the widget.
    copy : bool, default False
        Correct a copy of ``df`` (``player.df``) and leave ``df`` as it is.

    Returns
    -------
    Player
        Display it (last expression of a cell). ``.df`` is the corrected DataFrame, ``.save(path)`` writes
        it as JSON, ``.on_edit(callback)`` hears each change, ``.refresh()`` shows ``df`` again after a
        change made in code. A frame from a corpus store
        (``df.attrs["store"]``) saves each change to the store
        (`whisperkit_nb.corpus.edits.save_edits`).
    """
    if audio_format not in AUDIO_FORMATS:
        raise ValueError(f"audio_format={audio_format!r}: use one of {', '.join(AUDIO_FORMATS)}.")
    missing = {"file", "start", "end", "text"} - set(df.columns)
    if missing:
        raise ValueError(f"player() needs a transcript DataFrame; this one lacks {', '.join(sorted(missing))}.")
    chosen = _choose_file(df, file)
    if audio is None and (chosen is None or chosen == ARRAY_NAME):
        raise ValueError("This transcript came from in-memory audio: pass it again, player(df, audio=samples).")
    widget = Player(df, chosen, audio, audio_format=audio_format, on_rename=on_rename, copy=copy)
    store = df.attrs.get("store")
    if store and chosen is not None:
        widget.on_edit(lambda rows: _save_to_store(store, chosen, rows))
    return widget


def _save_to_store(store: Any, file: str, rows: pd.DataFrame) -> None:
    from whisperkit_nb.corpus.edits import save_edits  # the corpus layer, only for frames from a store

    save_edits(store, file, rows)


def _message_of(err: Exception) -> str:
    return str(err) if isinstance(err, (WhisperkitError, ValueError)) else f"{type(err).__name__}: {err}"


def static_audio_html(widget: Player) -> str:
    """The title and an ``<audio controls>`` with the recording, as static HTML (the first part of
    `static_html`)."""
    title = html.escape(Path(widget.title).name)
    return (f'<div class="wk-static-audio wk-static-{html.escape(widget.static_key)}" '
            'style="font-family:system-ui,sans-serif;font-size:13px;max-width:980px">'
            f'<div style="font-weight:600">{title}</div>'
            f'<audio controls preload="none" src="{html.escape(widget.audio_url)}" style="width:100%"></audio>'
            '</div>')


def static_html(widget: Player, *, audio: bool = True) -> str:
    """The transcript as static HTML: (with ``audio``) title and ``<audio controls>`` with the recording,
    then one line per segment (time, speaker name, text; edited lines marked). Every text is escaped."""
    names = widget.speaker_names
    lines = []
    for segment in widget.segments:
        speaker = names.get(segment["k"], segment["k"]) if segment["k"] else ""
        colour = widget.colors.get(segment["k"], "#8a94a0") if segment["k"] else "#8a94a0"
        mark = ' <span title="edited" style="color:#59636e">✎</span>' if segment.get("x") else ""
        lines.append(
            f'<div class="wk-static-line" style="border-left:4px solid {html.escape(colour)};padding:2px 6px">'
            f'<span style="color:#59636e;font-variant-numeric:tabular-nums">{_clock(segment["s"])}</span> '
            + (f'<b style="color:{html.escape(colour)}">{html.escape(speaker)}</b> ' if speaker else "")
            + f'<span class="wk-static-text">{html.escape(segment["t"])}</span>{mark}</div>')
    head = static_audio_html(widget) if audio else ""
    return (f'<div class="wk-static wk-static-{html.escape(widget.static_key)}" '
            'style="font-family:system-ui,sans-serif;font-size:13px;max-width:980px">'
            f'{head}<div style="max-height:320px;overflow-y:auto">{"".join(lines)}</div>'
            '<div style="color:#59636e;font-size:12px">Static transcript: run the cell again for the '
            'interactive player.</div></div>')


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    total = int(max(0.0, seconds))
    h, m, s = total // 3600, total % 3600 // 60, total % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def one_recording(df: pd.DataFrame, file: str | None) -> pd.DataFrame:
    """The rows of ``file`` in ``df``, with only its facts in ``attrs["files"]`` (a one-recording format
    refuses a frame of several files)."""
    if file is None or "file" not in df.columns:
        return df
    rows = df[df["file"] == file].reset_index(drop=True)
    facts = df.attrs.get("files", {})
    rows.attrs = {**df.attrs, "files": {file: facts[file]} if file in facts else {}}
    return rows


def export_file(df: pd.DataFrame, format: str, stem: str, **options: Any) -> tuple[str, bytes]:
    """``df`` written as ``format`` by `whisperkit_nb.output.export.export`: ``(<stem><suffix>, bytes)``."""
    from whisperkit_nb.output.export import export

    fmt = format_named(format)
    name = f"{stem or 'transcript'}{fmt.suffix}"
    options = {**DOWNLOAD_OPTIONS.get(fmt.name, {}), **options}
    with tempfile.TemporaryDirectory(prefix="whisperkit-export-") as folder:
        return name, export(df, Path(folder) / name, fmt.name, **options).read_bytes()


def encode_audio(audio: Any, audio_format: str = "opus") -> tuple[str, list[int], float]:
    """Encode audio for the browser: (data URL, waveform peaks 0..255, duration in seconds).

    Reads the input block by block (see `whisperkit_nb.audio`), so a long file never sits in memory whole.
    """
    import av

    container_format, codec, sample_format, bit_rate, mime = AUDIO_FORMATS[audio_format]
    source = open_audio(audio)
    buffer = io.BytesIO()
    window_peaks: list[np.ndarray] = []
    carry = np.zeros(0, np.float32)
    total = 0
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=SAMPLE_RATE, layout="mono")
        stream.bit_rate = bit_rate
        for block in source.blocks():
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block, np.float32)[None, :],
                                               format=sample_format, layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = total
            container.mux(stream.encode(frame))
            total += len(block)
            samples = np.concatenate([carry, np.abs(block)])
            whole = len(samples) // PEAK_WINDOW * PEAK_WINDOW
            window_peaks.append(samples[:whole].reshape(-1, PEAK_WINDOW).max(axis=1))
            carry = samples[whole:]
        container.mux(stream.encode(None))
    if len(carry):
        window_peaks.append(carry.max(keepdims=True))
    url = f"data:{mime};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return url, _pool_peaks(np.concatenate(window_peaks) if window_peaks else np.zeros(0), PEAKS), total / SAMPLE_RATE


def _pool_peaks(peaks: np.ndarray, n: int) -> list[int]:
    """Max-pool to at most ``n`` values, scaled to 0..255 against the loudest."""
    if len(peaks) > n:
        edges = np.linspace(0, len(peaks), n + 1).astype(int)
        peaks = np.maximum.reduceat(peaks, edges[:-1])
    top = float(peaks.max()) if len(peaks) else 0.0
    return [int(round(255 * p / top)) for p in peaks] if top > 0 else [0] * len(peaks)


def _choose_file(df: pd.DataFrame, file: str | int | None) -> str | None:
    files = list(dict.fromkeys(df["file"]))
    if isinstance(file, int):
        if not 0 <= file < len(files):
            raise ValueError(f"file={file}: this transcript has {len(files)} file(s).")
        return files[file]
    if file is not None:
        if file not in files:
            raise ValueError(f"file={file!r} is not in this transcript; its files: {', '.join(map(str, files))}.")
        return file
    if len(files) > 1:
        listing = ", ".join(map(str, files[:5])) + (", ..." if len(files) > 5 else "")
        raise ValueError(f"This transcript has {len(files)} files ({listing}): choose one with file=NAME or "
                         "file=INDEX.")
    return files[0] if files else None


def _segment_state(row: Any, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A row as the front end gets it; ``labels`` maps a speaker's name in the DataFrame back to the label
    the player knows it by (speakers are keyed by label, shown by name)."""
    labels = labels or {}
    label = lambda name: labels.get(name, name) if isinstance(name, str) else None  # noqa: E731
    speaker = getattr(row, "speaker", None)
    state = {"s": _seconds(row.start), "e": _seconds(row.end), "t": str(row.text), "k": label(speaker),
             "x": _flag(getattr(row, "edited", False))}
    words = getattr(row, "words", None)
    if isinstance(words, Iterable) and not isinstance(words, str) and len(words):
        state["w"] = [[str(w["word"]), _seconds(w.get("start")), _seconds(w.get("end")), label(w.get("speaker")),
                       _seconds(w.get("probability"))] for w in words]
    return state


def _flag(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_)) and bool(value)


def _seconds(value: Any) -> float | None:
    return round(float(value), 3) if value is not None and not math.isnan(float(value)) else None


def _speaker_about(files: Any, file: str | None) -> dict[str, str]:
    """Each speaker's match to the speaker samples (``speaker_matches`` in the file's facts), in words."""
    if not isinstance(files, dict):
        return {}
    facts = files.get(file) if file in files else next(iter(files.values())) if len(files) == 1 else None
    matches = facts.get("speaker_matches") if isinstance(facts, dict) else None
    about = {}
    for label, match in (matches or {}).items():
        if not isinstance(match, dict) or match.get("similarity") is None:
            continue
        if match.get("name"):
            about[match["name"]] = f"matched the sample of {match['name']}, similarity {match['similarity']:.2f}"
        else:
            about[label] = (f"matched no sample (closest: {match.get('closest')}, "
                            f"similarity {match['similarity']:.2f})")
    return about


def _speakers_in_order(segments: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for segment in segments:
        for label in [segment["k"]] + [w[3] for w in segment.get("w", [])]:
            if isinstance(label, str):
                seen.setdefault(label)
    return list(seen)
