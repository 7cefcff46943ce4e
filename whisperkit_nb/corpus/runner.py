"""`transcribe_corpus`: many inputs into a store, in batches that span them, resumable after any kill.

Inputs are prepared (decoded, VAD, chunk plan) on worker threads ahead of the model (`run.prepare`), their
chunks share the model's batches (`run.decode`), and each input is stored as soon as its last chunk is
decoded; with ``diarize=True`` the `diarize` node then runs on its samples (decoded once) and
`assign_speakers`' code path labels its segments. What is stored decides what runs again:

- a result whose keys match (`whisperkit_nb.corpus.fingerprint`) is done: skipped, nothing loaded;
- a transcript whose speaker options changed: only `diarize` + `assign_speakers` run, words kept;
- any option that changes the transcript (or another model, or package version): the input is
  transcribed again; the old result stays in the store, so going back to the old options costs nothing.

With ``link_speakers=True`` the speakers of every done input (those of earlier runs too) are then linked
across files from their stored facts (`whisperkit_nb.corpus.link`), and the linking is stored.

Nothing here touches a researcher's edits (``edits/``, `whisperkit_nb.corpus.edits`): the corpus a run returns
shows them over the new results, flagged ``edits_on_older_result`` where the machine rows changed under them.
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
from whisperkit_nb.corpus.link import link_store
from whisperkit_nb.corpus.store import Store
from whisperkit_nb.errors import AudioError, OptionsError
from whisperkit_nb.events import ProgressCallback, ProgressEvent
from whisperkit_nb.options import TranscribeOptions, resolve_options

BACKENDS = ("local", "ray")
MANIFEST_EVERY_S = 1.0  # the manifest is rewritten at most this often during a run (and at its end)


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
                      *, overwrite: bool = False, num_workers: int | None = None, backend: str = "local",
                      ray_address: str | None = None, callback: ProgressCallback | None = None,
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
    num_workers : int, optional
        Workers that prepare the next inputs (decode, VAD, chunk plan) while the model works: a thread
        for 1, worker processes from 2 on (`whisperkit_nb.run.prepare.use_processes`); at most
        ``num_workers + 1`` inputs are prepared ahead. Default: one per core beyond the first, from 1 to 4
        (`whisperkit_nb.run.prepare.default_workers`); 0 prepares each input when the model needs it.
        With ``backend="ray"``: the transcription actors (default 1; one per GPU is the usual choice).
    backend : {"local", "ray"}
        ``"local"`` runs in this process. ``"ray"`` runs the stages on Ray Data (the ``ray`` extra):
        preparation as CPU tasks, transcription in an actor pool (one model per actor, a GPU each with
        ``device="cuda"``), diarization as tasks; results are written to the same store by this process,
        so either backend resumes the other's runs. Progress is per input (events of the stages inside
        the workers stay there).
    ray_address : str, optional
        An existing Ray cluster (``"auto"``, ``"ray://host:10001"``); without it a local Ray is started,
        or the one this process already joined (``ray.init``) is used.
    callback : callable, optional
        Receives the pipeline's `ProgressEvent`s and a `CorpusProgress` after each input.

    Returns
    -------
    Corpus
        ``frame`` (all segments with metadata; an input's saved edits in place of its machine rows),
        ``words``, ``files`` (one row per input, with its status and edit state), ``failures``. An input
        that is missing or is not audio is a "failed" row; the others still run. A KeyboardInterrupt ends
        the run early: every finished input is stored, the rest are "pending", and the corpus returned has
        ``interrupted=True``.

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
    if num_workers is not None and (isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0):
        raise OptionsError(f"num_workers must be a whole number, 0 or more, not {num_workers!r}.")
    if backend not in BACKENDS:
        raise OptionsError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, not {backend!r}.")
    if ray_address is not None and backend != "ray":
        raise OptionsError("ray_address applies to backend='ray'.")
    from whisperkit_nb.run.prepare import default_workers

    if backend == "ray":
        workers = num_workers or 1  # transcription actors
    else:
        workers = default_workers() if num_workers is None else num_workers
    with folder.lock("transcribe_corpus"):
        run = _Run(folder, opts, overwrite, callback, workers, backend, ray_address)
        return run.run(collect_inputs(inputs), str(store))


class _Run:
    def __init__(self, store: Store, opts: TranscribeOptions, overwrite: bool, callback: ProgressCallback | None,
                 workers: int = 0, backend: str = "local", ray_address: str | None = None):
        # The package root is imported before any of its modules: read its version, importing nothing.
        __version__ = sys.modules["whisperkit_nb"].__version__
        self.store, self.opts, self.overwrite, self.callback = store, opts, overwrite, callback
        self.workers, self.backend, self.ray_address = workers, backend, ray_address
        self.identity = model_identity(opts)
        self.version = __version__
        self.skey = speaker_key(opts, self.identity, __version__)
        # The transcript without speakers: what `transcribe` stores; speakers come from the nodes after.
        # (linking is corpus-level: done here after the inputs, never by `transcribe`.)
        unset = (*SPEAKER_OPTIONS, "link_speakers")
        defaults = {f.name: f.default for f in dataclasses.fields(TranscribeOptions) if f.name in unset}
        from whisperkit_nb.engines.registry import settle

        # Settled (segment_times, beam_size, vad_max_gap_s as the engine runs them), so the key names them.
        self.transcript_opts = settle(opts.replace(**defaults), self.identity["engine"])
        self.manifest: dict[str, Any] = {}
        self.saved = 0.0

    def run(self, inputs: list[Input], name: str) -> Corpus:
        previous = {e["file"]: e for e in self.store.read_manifest()["inputs"]}
        entries = [self._plan(item, previous.get(item.path)) for item in inputs]
        skipped = sum(e["status"] == "done" for e in entries)
        self.manifest = {"version": self.version, "model": self.identity,
                         "options": {**transcript_options(self.opts), **speaker_options(self.opts)},
                         "inputs": entries}
        self._save(now=True)
        progress = _Progress(entries, self.callback)
        progress.emit("")
        pending = [e for e in entries if e["status"] == "pending"]
        # Inputs whose transcript is stored (only the speaker options changed), and fixed 30 s windows
        # (no chunk plan to share batches with), go one at a time through `transcribe` and the nodes.
        alone, batched = [], []
        for entry in pending:
            (alone if self.opts.chunking == "fixed" or self._transcript_stored(entry) else batched).append(entry)
        interrupted = False
        try:
            for entry in alone:
                self._one(entry, self._process)
                progress.emit(entry["file"])
            if batched and self.backend == "ray":
                self._transcribe_on_ray(batched, progress)
            elif batched:
                self._transcribe_batched(batched, progress)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            self._save(now=True)
        if self.opts.link_speakers:  # every done input, those of earlier runs included
            link_store(self.store, entries, self.opts.speaker_link_threshold, self.opts.speaker_names)
        return Corpus(name, entries, skipped=skipped, interrupted=interrupted)

    def _one(self, entry: dict[str, Any], work: Any, *args: Any) -> None:
        """``work(entry, *args)``; an exception makes the entry a failed row (the others still run)."""
        try:
            work(entry, *args)
        except Exception as err:  # noqa: BLE001 - one failed row; the other inputs still run
            from whisperkit_nb.run.transcribe import failure_reason

            entry.update(status="failed", error=failure_reason(err))
        self._save()

    def _save(self, now: bool = False) -> None:
        """Write the manifest, at most once a second unless ``now``: the result files are what counts as done
        (a run re-plans from them), so a manifest a little behind after a kill loses nothing."""
        if now or time.monotonic() - self.saved >= MANIFEST_EVERY_S:
            self.store.write_manifest(self.manifest)
            self.saved = time.monotonic()

    def _transcript_stored(self, entry: dict[str, Any]) -> bool:
        return not self.overwrite and self.store.result_path(entry["transcript_key"]).is_file()

    def _transcribe_batched(self, entries: list[dict[str, Any]], progress: _Progress) -> None:
        """The inputs through shared batches (prepared ahead on worker threads), each stored once decoded."""
        from whisperkit_nb.engines.registry import load_model
        from whisperkit_nb.run.batch import BatchFit
        from whisperkit_nb.run.decode import finished_inputs
        from whisperkit_nb.run.lock import RUN
        from whisperkit_nb.run.prepare import prepare_ahead
        from whisperkit_nb.run.stream import check_model_options

        opts = self.transcript_opts
        engine = load_model(opts)
        language = check_model_options(opts, engine)
        if self.opts.diarize:
            from whisperkit_nb.speakers.diarize import check_samples, load_pipeline

            load_pipeline(self.opts)  # a missing token or package fails now, not after the transcription
            check_samples(self.opts)  # and so does a bad voice sample
        # With speakers, every input is held in memory once: the VAD, Whisper and pyannote share its samples.
        prepared = prepare_ahead([(i, e["file"]) for i, e in enumerate(entries)], opts, workers=self.workers,
                                 in_memory=True if self.opts.diarize else None)
        with RUN.hold("transcribe_corpus"):
            for run, segments in finished_inputs(prepared, opts, engine, language, callback=self.callback,
                                                 fit=BatchFit()):
                entry = entries[run.prepared.key]
                self._one(entry, self._store_run, run, segments, engine)
                progress.emit(entry["file"])

    def _transcribe_on_ray(self, entries: list[dict[str, Any]], progress: _Progress) -> None:
        """The inputs through the Ray Data stages; each result stored here as it arrives."""
        from whisperkit_nb.corpus.ray_backend import ray_results

        items = [(i, e["file"]) for i, e in enumerate(entries)]
        for result in ray_results(items, self.opts, self.transcript_opts, address=self.ray_address,
                                  actors=self.workers):
            entry = entries[result["key"]]
            self._one(entry, self._store_ray_result, result)
            progress.emit(entry["file"])

    def _store_ray_result(self, entry: dict[str, Any], result: dict[str, Any]) -> None:
        if "error" in result:
            raise RuntimeError(result["error"])
        info = {"facts": result["facts"], "model": {**self.identity, **result["model"]}, "version": self.version}
        self.store.write_result(self.store.result_path(entry["transcript_key"]), result["transcript"], info)
        if "speaker_error" in result:
            raise RuntimeError(result["speaker_error"])
        if result["speakers"] is not None:
            info["facts"] = {**info["facts"], **result["speaker_facts"]}
            self.store.write_result(self.store.result_path(entry["transcript_key"], self.skey), result["speakers"],
                                    info)
        entry.update(_summary_of(info), status="done", error=None)

    def _store_run(self, entry: dict[str, Any], run: Any, segments: list, engine: Any) -> None:
        """A decoded input's transcript into the store, then its speakers (with ``diarize``)."""
        from whisperkit_nb.output.dataframe import segments_to_dataframe

        if run.error is not None:
            raise run.error
        run.report.seconds = round(time.perf_counter() - run.started, 3)
        frame = segments_to_dataframe(segments, words=self.opts.timestamps == "word")
        info = {"facts": run.report.as_dict(), "model": self._model_used(engine), "version": self.version}
        self.store.write_result(self.store.result_path(entry["transcript_key"]), frame, info)
        if self.opts.diarize:
            self._add_speakers(entry, frame, info, run.prepared.source, run.started)
        entry.update(_summary_of(info), status="done", error=None)

    def _add_speakers(self, entry: dict[str, Any], frame: Any, info: dict[str, Any], source: Any,
                      started: float) -> None:
        """Diarize the input (the `diarize` node's code, inside this run) and label the transcript's segments
        (`assign_speakers`' code path)."""
        from whisperkit_nb.run.nodes import label_speakers, speaker_facts
        from whisperkit_nb.speakers.diarize import diarize

        turns = diarize(source, self.opts, callback=self.callback)
        frame = label_speakers(frame, turns, self.opts)
        info["facts"] = {**info["facts"], **speaker_facts(turns), "seconds": round(time.perf_counter() - started, 3)}
        self.store.write_result(self.store.result_path(entry["transcript_key"], self.skey), frame, info)

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
        """One input alone: its stored transcript (only the speakers changed) or `transcribe` (fixed windows)."""
        from whisperkit_nb.run.nodes import load_model
        from whisperkit_nb.run.transcribe import transcribe

        started = time.perf_counter()
        transcript_path = self.store.result_path(entry["transcript_key"])
        if self._transcript_stored(entry):
            frame, info = self.store.read_result(transcript_path)
        else:
            frame = transcribe(entry["file"], self.transcript_opts, callback=self.callback)
            if frame.attrs.get("interrupted"):
                raise KeyboardInterrupt  # a partial transcript is never stored
            engine = load_model(self.transcript_opts)  # the model `transcribe` just used, from the cache
            info = {"facts": next(iter(frame.attrs["files"].values()), {}), "model": self._model_used(engine),
                    "version": self.version}
            info["facts"]["seconds"] = round(time.perf_counter() - started, 3)
            frame.attrs = {}
            self.store.write_result(transcript_path, frame, info)
        if self.opts.diarize:
            from whisperkit_nb.audio.source import open_audio

            self._add_speakers(entry, frame, info, open_audio(entry["file"], self.opts.corrupt_audio), started)
        entry.update(_summary_of(info), status="done", error=None)

    def _model_used(self, engine: Any) -> dict[str, str]:
        """The identity, with the dtype the loaded engine runs in (what ``dtype="auto"`` became)."""
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
