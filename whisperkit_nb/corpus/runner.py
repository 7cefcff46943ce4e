"""`transcribe_corpus`: many inputs into a store, one after another, resumable after any kill.

Each input goes through the public pipeline: `transcribe` (without speakers), then, with ``diarize=True``,
the `diarize` and `assign_speakers` nodes on the transcript. What is stored decides what runs again:

- a result whose keys match (`whisperkit_nb.corpus.fingerprint`) is done: skipped, nothing loaded;
- a transcript whose speaker options changed: only `diarize` + `assign_speakers` run, words kept;
- any option that changes the transcript (or another model, or package version): the input is
  transcribed again; the old result stays in the store, so going back to the old options costs nothing.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from whisperkit_nb.corpus.corpus import Corpus
from whisperkit_nb.corpus.fingerprint import (
    SPEAKER_OPTIONS,
    audio_hash,
    model_identity,
    speaker_key,
    speaker_options,
    transcript_key,
    transcript_options,
)
from whisperkit_nb.corpus.inputs import Input, collect_inputs
from whisperkit_nb.corpus.store import Store
from whisperkit_nb.errors import AudioError
from whisperkit_nb.events import ProgressCallback, ProgressEvent
from whisperkit_nb.options import TranscribeOptions, resolve_options


@dataclass(frozen=True)
class CorpusProgress(ProgressEvent):
    """The corpus's progress, sent after each input (and once before the first): ``done`` of ``total``
    inputs finished (done or failed, those found done included), with the audio seconds behind them.

    ``file`` is the input just finished (``""`` for the first event).
    """

    stage: str = "corpus"
    file: str = ""
    done: float = 0
    total: float = 0
    unit: str = "files"
    failed: int = 0
    skipped: int = 0  # inputs found done when the run started
    audio_done: float = 0.0  # seconds of audio of the finished inputs (found done included)
    audio_total: float = 0.0  # seconds of audio of all inputs (as far as their containers tell)
    audio_skipped: float = 0.0  # seconds of audio of the inputs found done: a rate leaves them out


def transcribe_corpus(inputs: Any, store: str | os.PathLike = "transcripts/", options: TranscribeOptions | None = None,
                      *, overwrite: bool = False, callback: ProgressCallback | None = None,
                      **kwargs: Any) -> Corpus:
    """Transcribe a corpus into a store, skipping what the store already holds; resumable after any kill.

    Parameters
    ----------
    inputs : folder, glob, path, list, or manifest
        A folder is searched recursively for audio and video files; a manifest (``.csv``, ``.parquet`` or a
        DataFrame) has a ``path`` column, and its other columns (interviewee, date, site, ...) are carried
        into every result as metadata columns.
    store : path
        The store folder (created; it must be writable, checked before any work).
    options : TranscribeOptions, optional
        As for `transcribe`; keyword arguments override its fields.
    overwrite : bool
        Transcribe every input again, even those the store holds.
    callback : callable, optional
        Receives the pipeline's `ProgressEvent`s and a `CorpusProgress` after each input.

    Returns
    -------
    Corpus
        ``frame`` (all segments with metadata), ``words``, ``files`` (one row per input, with its status),
        ``failures``. An input that is missing or is not audio is a "failed" row; the others still run.
        A KeyboardInterrupt ends the run early: every finished input is stored, the rest are "pending", and
        the corpus returned has ``interrupted=True``.

    Raises
    ------
    StoreError
        The store is not writable, or another run holds it (the message names it: pid, host, start).
    OptionsError
        Options that cannot be honoured.
    """
    opts = resolve_options(options, kwargs)
    folder = Store(store)
    folder.create()
    with folder.lock("transcribe_corpus"):
        return _Run(folder, opts, overwrite, callback).run(collect_inputs(inputs), str(store))


class _Run:
    def __init__(self, store: Store, opts: TranscribeOptions, overwrite: bool, callback: ProgressCallback | None):
        # The package root is imported before any of its modules: read its version, importing nothing.
        __version__ = sys.modules["whisperkit_nb"].__version__
        self.store, self.opts, self.overwrite, self.callback = store, opts, overwrite, callback
        self.identity = model_identity(opts)
        self.version = __version__
        self.skey = speaker_key(opts, self.identity, __version__)
        # The transcript without speakers: what `transcribe` stores; speakers come from the nodes after.
        defaults = {f.name: f.default for f in dataclasses.fields(TranscribeOptions) if f.name in SPEAKER_OPTIONS}
        self.transcript_opts = opts.replace(**defaults)

    def run(self, inputs: list[Input], name: str) -> Corpus:
        previous = {e["file"]: e for e in self.store.read_manifest()["inputs"]}
        entries = [self._plan(item, previous.get(item.path)) for item in inputs]
        skipped = sum(e["status"] == "done" for e in entries)
        manifest = {"version": self.version, "model": self.identity,
                    "options": {**transcript_options(self.opts), **speaker_options(self.opts)}, "inputs": entries}
        self.store.write_manifest(manifest)
        progress = _Progress(entries, self.callback)
        progress.emit("")
        interrupted = False
        for entry in entries:
            if entry["status"] != "pending":
                continue
            try:
                self._process(entry)
            except KeyboardInterrupt:
                interrupted = True
                break
            except Exception as err:  # noqa: BLE001 - one failed row; the other inputs still run
                from whisperkit_nb.run.transcribe import failure_reason

                entry.update(status="failed", error=failure_reason(err))
            finally:
                self.store.write_manifest(manifest)
            progress.emit(entry["file"])
        return Corpus(name, entries, skipped=skipped, interrupted=interrupted)

    def _plan(self, item: Input, before: dict[str, Any] | None) -> dict[str, Any]:
        """The input's manifest record: "done" when its result is stored, "failed" when it cannot be read."""
        entry: dict[str, Any] = {"file": item.path, "metadata": item.metadata, "status": "pending", "error": None}
        path = os.path.expanduser(item.path)
        try:
            stat = os.stat(path)
            same = before is not None and (before.get("size"), before.get("mtime_ns")) == (stat.st_size, stat.st_mtime_ns)
            audio = before["audio"] if same and before.get("audio") else audio_hash(path)
        except OSError as err:
            reason = "file not found" if isinstance(err, FileNotFoundError) else (err.strerror or str(err))
            entry.update(status="failed", error=reason)
            return entry
        tkey = transcript_key(audio, self.transcript_opts, self.identity, self.version)
        result = self.store.result_path(tkey, self.skey)
        entry.update(audio=audio, size=stat.st_size, mtime_ns=stat.st_mtime_ns, transcript_key=tkey,
                     speaker_key=self.skey, result=str(result.relative_to(self.store.root)))
        if result.is_file() and not self.overwrite:
            reusable = before is not None and before.get("result") == entry["result"] and before.get("status") == "done"
            entry.update(_summary(before) if reusable else _summary_of(_read_info(result)), status="done")
        else:
            try:  # not audio at all: failed now, before any model is loaded for it
                entry["duration"] = _probe_duration(item.path)
            except AudioError as err:
                entry.update(status="failed", error=err.reason)
        return entry

    def _process(self, entry: dict[str, Any]) -> None:
        from whisperkit_nb.run.nodes import assign_speakers, diarize
        from whisperkit_nb.run.transcribe import transcribe

        started = time.perf_counter()
        transcript_path = self.store.result_path(entry["transcript_key"])
        if transcript_path.is_file() and not self.overwrite:  # only the speakers changed
            frame, info = self.store.read_result(transcript_path)
        else:
            frame = transcribe(entry["file"], self.transcript_opts, callback=self.callback)
            if frame.attrs.get("interrupted"):
                raise KeyboardInterrupt  # a partial transcript is never stored
            info = {"facts": next(iter(frame.attrs["files"].values()), {}), "model": self._model_used(),
                    "version": self.version}
            frame.attrs = {}
            self.store.write_result(transcript_path, frame, info)
        if self.opts.diarize:
            turns = diarize(entry["file"], self.opts, callback=self.callback)
            frame.attrs = {"files": {entry["file"]: dict(info["facts"])}}
            frame = assign_speakers(frame, turns, self.opts)
            info = {**info, "facts": next(iter(frame.attrs["files"].values()))}
            frame.attrs = {}
        info["facts"]["seconds"] = round(time.perf_counter() - started, 3)
        if self.opts.diarize:
            self.store.write_result(self.store.result_path(entry["transcript_key"], self.skey), frame, info)
        entry.update(_summary_of(info), status="done", error=None)

    def _model_used(self) -> dict[str, str]:
        """The identity, with the dtype the loaded engine runs in (what ``dtype="auto"`` became)."""
        from whisperkit_nb.run.nodes import load_model

        engine = load_model(self.transcript_opts)  # the model `transcribe` just used, from the cache
        return {**self.identity, "engine": engine.name, "dtype": engine.dtype_name}


class _Progress:
    def __init__(self, entries: list[dict[str, Any]], callback: ProgressCallback | None) -> None:
        self.entries, self.callback = entries, callback
        self.skipped = sum(e["status"] == "done" for e in entries)
        self.audio_skipped = sum(e.get("duration") or 0.0 for e in entries if e["status"] == "done")
        self.audio_total = sum(e.get("duration") or 0.0 for e in entries)

    def emit(self, name: str) -> None:
        if self.callback is None:
            return
        finished = [e for e in self.entries if e["status"] in ("done", "failed")]
        self.callback(CorpusProgress(
            file=name, done=len(finished), total=len(self.entries),
            failed=sum(e["status"] == "failed" for e in self.entries), skipped=self.skipped,
            audio_done=sum(e.get("duration") or 0.0 for e in finished), audio_total=self.audio_total,
            audio_skipped=self.audio_skipped,
        ))


def _read_info(path: Any) -> dict[str, Any]:
    import json

    import pyarrow.parquet as pq

    from whisperkit_nb.corpus.store import FACTS_KEY

    return json.loads((pq.read_schema(path).metadata or {}).get(FACTS_KEY, b"{}"))


def _summary_of(info: dict[str, Any]) -> dict[str, Any]:
    """The manifest's per-input columns from a result's facts and model."""
    facts, model = info.get("facts", {}), info.get("model", {})
    return {"duration": facts.get("duration"), "language": facts.get("language"), "speakers": facts.get("speakers"),
            "engine": facts.get("engine") or model.get("engine"), "model": model.get("model"),
            "dtype": model.get("dtype"), "seconds": facts.get("seconds"), "facts": facts}


def _summary(before: dict[str, Any]) -> dict[str, Any]:
    return {k: before.get(k) for k in ("duration", "language", "speakers", "engine", "model", "dtype", "seconds", "facts")}


def _probe_duration(path: str) -> float | None:
    """The container's duration, for the progress totals (None when it does not say); `AudioError` when the
    input is no audio FFmpeg can open."""
    from whisperkit_nb.run.nodes import load_audio

    return load_audio(path).duration
