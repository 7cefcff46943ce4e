"""The playback-aligned transcript: an anywidget with the audio, a waveform and the transcript beside it.

The audio reaches the browser inside the widget's state, without a server: decoded as 16 kHz mono and
encoded as Opus (24 kb/s, WebM) or MP3, so an hour of speech is about 10 MB (14 MB as a data URL), not
the hundreds of MB of a WAV. The front end (`player.js`) builds its DOM with ``textContent`` only, so a
transcript is always shown as text, never interpreted as HTML.

The Export control asks the kernel for a file (a custom message naming the format); `Player` writes this
recording's transcript, renames applied, with `whisperkit_nb.output.export.export` and sends the bytes
back, and the browser downloads them as ``<audio stem><suffix>``.
"""

from __future__ import annotations

import base64
import io
import math
import os
import tempfile
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


class Player(anywidget.AnyWidget):
    """An audio player with the transcript of one file; see `player`.

    Attributes
    ----------
    speaker_names : dict
        Display name of each speaker label, edited in the widget (synced both ways).
    df : pandas.DataFrame
        The DataFrame given, with the speaker names applied to this file's rows (and their words).
    """

    _esm = HERE / "player.js"
    _css = HERE / "player.css"

    title = traitlets.Unicode("").tag(sync=True)
    audio_url = traitlets.Unicode("").tag(sync=True)
    duration = traitlets.Float(0.0).tag(sync=True)
    peaks = traitlets.List(traitlets.Int()).tag(sync=True)
    # one dict per segment: s(tart), e(nd), t(ext), k (speaker label or None), w (words: [text, start, end, speaker])
    segments = traitlets.List(traitlets.Dict()).tag(sync=True)
    speakers = traitlets.List(traitlets.Unicode()).tag(sync=True)
    colors = traitlets.Dict().tag(sync=True)
    speaker_names = traitlets.Dict().tag(sync=True)
    # the Export control's choices: format name -> what reads it (every format holds one recording)
    export_formats = traitlets.Dict().tag(sync=True)

    def __init__(self, df: pd.DataFrame, file: str | None, audio: Any, *, audio_format: str = "opus",
                 on_rename: Callable[[dict[str, str], pd.DataFrame], None] | None = None, **kwargs: Any) -> None:
        rows = df[df["file"] == file] if file is not None else df
        rows = rows.sort_values("start", kind="stable")
        segments = [_segment_state(row) for row in rows.itertuples(index=False)]
        speakers = _speakers_in_order(segments)
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
            export_formats={f.name: f.description for f in FORMATS.values()},
            **kwargs,
        )
        self._frame = df
        self._file = file
        # the recording eaf links and html embeds, when the player plays a file other than df's
        self._media = Path(audio) if isinstance(audio, (str, os.PathLike)) and Path(audio).is_file() else None
        self._rename_callbacks: list[Callable] = [on_rename] if on_rename else []
        self.observe(self._renamed, names="speaker_names")
        self.on_msg(self._message)

    @property
    def df(self) -> pd.DataFrame:
        from whisperkit_nb.speakers.assign import rename_speakers

        # Labels belong to one file (SPEAKER_00 of another file is someone else): rename this file's rows only.
        out = self._frame.copy()
        mine = out["file"] == self._file if self._file is not None else pd.Series(True, index=out.index)
        renamed = rename_speakers(out[mine], self.speaker_names)
        for column in ("speaker", "words"):
            if column in out.columns:
                out.loc[mine, column] = renamed[column]
        return out

    def export_file(self, format: str, **options: Any) -> tuple[str, bytes]:
        """This recording's transcript, speaker renames applied, as ``format``: ``(file name, bytes)``.

        What the Export control downloads. ``options`` go to the format's writer (see
        `whisperkit_nb.output.export.export`); eaf and html link or embed the audio the player plays when
        that is a file.
        """
        from whisperkit_nb.output.export import format_options

        fmt = format_named(format)
        if self._media is not None and "audio" in format_options(fmt):
            options.setdefault("audio", self._media)
        stem = Path(self.title).stem if self.title != ARRAY_NAME else "transcript"
        return export_file(one_recording(self.df, self._file), fmt.name, stem, **options)

    def _message(self, _widget: Any, content: Any, _buffers: list) -> None:
        """Answer the Export control: ``{"export": format, "request": id}`` gets ``{"request": id, "name":
        file name}`` with the file's bytes as the buffer, or ``{"request": id, "error": message}``."""
        if not isinstance(content, dict) or "export" not in content:
            return
        reply = {"request": content.get("request")}
        try:
            name, data = self.export_file(str(content["export"]))
        except Exception as err:  # noqa: BLE001 - shown in the player, not lost in the kernel log
            message = str(err) if isinstance(err, WhisperkitError) else f"{type(err).__name__}: {err}"
            self.send({**reply, "error": f"Export failed: {message}"})
            return
        self.send({**reply, "name": name}, [data])

    def on_rename(self, callback: Callable[[dict[str, str], pd.DataFrame], None]) -> None:
        """Call ``callback(speaker_names, df)`` whenever a speaker is renamed (in the widget or in code)."""
        self._rename_callbacks.append(callback)

    def _renamed(self, change: dict) -> None:
        if self._rename_callbacks:
            frame = self.df
            for callback in self._rename_callbacks:
                callback(dict(change["new"]), frame)


def player(df: pd.DataFrame, audio: Any = None, *, file: str | int | None = None, audio_format: str = "opus",
           on_rename: Callable[[dict[str, str], pd.DataFrame], None] | None = None) -> Player:
    """An interactive, playback-aligned transcript of one file of a transcript DataFrame.

    Parameters
    ----------
    df : pandas.DataFrame
        From `whisperkit_nb.transcribe` (a ``words`` column and speakers are used when present).
    audio : path, array, tensor or (array, sample_rate), optional
        The audio to play. Default: the file named in ``df.file``.
    file : str or int, optional
        Which file of ``df`` to show, by name or by position among its files; needed when ``df`` has several.
    audio_format : {"opus", "mp3"}
        Opus (24 kb/s, WebM) is smaller; MP3 (32 kb/s) plays in every browser, old Safari included.
    on_rename : callable, optional
        ``on_rename(speaker_names, df)`` after each speaker rename in the widget.

    Returns
    -------
    Player
        Display it (last expression of a cell); ``.df`` is the DataFrame with speaker renames applied.
    """
    if audio_format not in AUDIO_FORMATS:
        raise ValueError(f"audio_format={audio_format!r}: use one of {', '.join(AUDIO_FORMATS)}.")
    missing = {"file", "start", "end", "text"} - set(df.columns)
    if missing:
        raise ValueError(f"player() needs a transcript DataFrame; this one lacks {', '.join(sorted(missing))}.")
    chosen = _choose_file(df, file)
    if audio is None and (chosen is None or chosen == ARRAY_NAME):
        raise ValueError("This transcript came from in-memory audio: pass it again, player(df, audio=samples).")
    return Player(df, chosen, audio, audio_format=audio_format, on_rename=on_rename)


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


def _segment_state(row: Any) -> dict[str, Any]:
    speaker = getattr(row, "speaker", None)
    state = {"s": _seconds(row.start), "e": _seconds(row.end), "t": str(row.text),
             "k": speaker if isinstance(speaker, str) else None}
    words = getattr(row, "words", None)
    if isinstance(words, Iterable) and not isinstance(words, str) and len(words):
        state["w"] = [[str(w["word"]), _seconds(w["start"]), _seconds(w["end"]), w.get("speaker")] for w in words]
    return state


def _seconds(value: Any) -> float | None:
    return round(float(value), 3) if value is not None and not math.isnan(float(value)) else None


def _speakers_in_order(segments: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for segment in segments:
        for label in [segment["k"]] + [w[3] for w in segment.get("w", [])]:
            if isinstance(label, str):
                seen.setdefault(label)
    return list(seen)
