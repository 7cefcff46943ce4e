"""Inputs made ready for the model: opened, decoded, VAD run and chunks planned, on workers ahead of it.

The model's batches only need an input's chunk plan and samples. Preparing the next inputs while the model
decodes the current ones keeps it busy (on a GPU, the VAD and FFmpeg would otherwise leave it idle between
files). A fixed number of inputs are prepared ahead, so memory stays bounded however long the corpus.

The workers are threads, or processes from two workers on: PyAV's decoding and resampling hold Python's GIL,
so a second thread hardly helps (bench/prep.py), while worker processes scale with the cores. A process
hands back the same `Prepared` a thread does (its samples through a file in RAM, its error rebuilt with its
type, its warnings raised again in the caller).
"""

from __future__ import annotations

import dataclasses
import glob
import os
import pickle
import shutil
import signal
import tempfile
import threading
import traceback
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from whisperkit_nb.audio.source import ARRAY_NAME, AudioSource, SampleBuffer, open_audio
from whisperkit_nb.engines.registry import settle
from whisperkit_nb.errors import AudioError, OptionsError, user_stacklevel
from whisperkit_nb.events import ProgressCallback
from whisperkit_nb.options import TranscribeOptions
from whisperkit_nb.report import FileReport
from whisperkit_nb.speech import vad
from whisperkit_nb.speech.chunks import Chunk
from whisperkit_nb.speech.plan import plan_chunks

IN_MEMORY_MAX_S = 30 * 60  # inputs up to this long are decoded once into memory (115 MB of samples at most)
PROCESSES_FROM = 2  # workers from which `prepare_ahead` uses processes unless told (see `use_processes`)
SPILL_FROM = 1 << 20  # decoded samples from this many bytes (33 s) come back from a worker through a file
SPILL_PREFIX = "whisperkit-prepare-"  # the spill folders' names: this, the process id, a random part
WORKER_EXIT_S = 5.0  # a terminated worker gets this long to exit before it is killed
NO_WORKERS = ("Worker processes to prepare the inputs could not start: each imports the script that started "
              "it, so the script's top-level code must be under `if __name__ == \"__main__\":` (the "
              "multiprocessing docs, \"Safe importing of main module\"); or prepare on threads: num_workers=1")


@dataclass
class Prepared:
    """One input ready for the model's batches: its source, chunk plan and first facts, or why it failed.

    ``key`` is the caller's name for the input (an index into its list, say); ``error`` is the exception
    that stopped the preparation (a missing file, no audio), with ``source`` None.
    """

    key: Any
    source: AudioSource | None
    chunks: list[Chunk] = field(default_factory=list)
    duration: float = 0.0
    report: FileReport = field(default_factory=FileReport)
    error: BaseException | None = None

    @property
    def name(self) -> str:
        return self.source.name if self.source is not None else str(self.key)


def prepare_input(key: Any, audio: Any, opts: TranscribeOptions, *, in_memory: bool | None = None,
                  stop: threading.Event | None = None) -> Prepared:
    """Open ``audio``, run the VAD over it and plan its chunks; a failure is returned in ``error``.

    ``in_memory``: decode the input once into memory, so reading its chunks (and diarizing it) does not
    decode it again. None decides by length: inputs up to `IN_MEMORY_MAX_S` (and any with ``diarize``).
    ``stop``, once set, abandons the VAD pass (``error`` is then a `PlanStopped`).
    """
    report = FileReport()
    if opts.vad_max_gap_s is None:  # options not settled for an engine yet (a run settles them once)
        opts = settle(opts)
    try:
        source = open_audio(audio, opts.corrupt_audio)
        report.name = source.name
        source, chunks, duration = plan_input(source, opts, in_memory=in_memory, stop=stop)
    except Exception as err:  # noqa: BLE001 - the caller decides: a failed row, or raise
        return Prepared(key, None, report=report, error=err)
    record_plan(report, source, chunks, duration)
    return Prepared(key, source, chunks, duration, report)


def plan_input(source: AudioSource, opts: TranscribeOptions, *, in_memory: bool | None = None,
               callback: ProgressCallback | None = None,
               stop: threading.Event | None = None) -> tuple[AudioSource, list[Chunk], float]:
    """Run the VAD over ``source`` and plan its chunks: (source, chunks, duration).

    An input wanted in memory (``in_memory``; None: up to `IN_MEMORY_MAX_S` long, or any with ``diarize``)
    comes back holding its samples, gathered during the VAD pass, so the file is decoded once: reading its
    chunks later (and diarizing it) decodes nothing. ``callback`` gets the VAD's progress events; ``stop``
    abandons the pass (`whisperkit_nb.speech.plan.PlanStopped`).
    """
    if in_memory is None:
        in_memory = opts.diarize or (source.duration or 0.0) <= IN_MEMORY_MAX_S
    if not in_memory or source.samples is not None:
        chunks, duration = plan_chunks(source, opts, callback=callback, stop=stop)
        return source, chunks, duration
    kept = SampleBuffer(source.duration)
    chunks, duration = plan_chunks(source, opts, callback=callback, keep=kept, stop=stop)
    return source.with_samples(kept.samples()), chunks, duration


def record_plan(report: FileReport, source: AudioSource, chunks: list[Chunk], duration: float) -> None:
    """The facts the chunk plan gives: duration, speech seconds, chunks, and the gaps decoding found."""
    report.name = source.name
    report.duration, report.speech_seconds, report.chunks = duration, round(sum(c.duration for c in chunks), 3), len(chunks)
    report.gaps = list(source.gaps)  # stretches that could not be decoded (silent), found by the VAD pass


def prepare_ahead(inputs: Iterable[tuple[Any, Any]], opts: TranscribeOptions, *, workers: int,
                  ahead: int | None = None, in_memory: bool | None = None,
                  processes: bool | None = None) -> Iterator[Prepared]:
    """`prepare_input` for each ``(key, audio)``, in order, on ``workers`` threads or processes, at most
    ``ahead`` inputs (default ``workers + 1``) prepared before they are asked for. ``workers=0`` prepares
    each input when it is asked for, in the caller's thread. ``in_memory`` as for `prepare_input`.

    ``processes``: prepare in ``workers`` worker processes (started with "spawn", so the caller's torch and
    onnxruntime threads are not forked) instead of threads; None decides (`use_processes`). Decoding holds
    Python's GIL, so a second thread adds little, while processes scale with the cores. What a process
    prepares is the same `Prepared` a thread gives: its samples, plan, report, and an error of the same
    type and message; the warnings it raised (a damaged stretch) are raised again here, where the input is
    handed out. A process that dies (FFmpeg crashing on a file, the out-of-memory killer) fails only the
    input it was preparing. Worker processes import the script that started them, so a script needs its
    top-level code under ``if __name__ == "__main__":``; where the workers cannot start, ``processes=True``
    raises RuntimeError saying so, None warns and prepares on threads.

    Closing the iterator (end, error, KeyboardInterrupt) cancels what has not started; an input already being
    prepared on a thread stops at its VAD pass's next block of audio (a thread cannot be interrupted, so it is
    asked to stop), worker processes are terminated.
    """
    if opts.vad_max_gap_s is None:
        opts = settle(opts)  # once here, not in every worker
    if workers <= 0:
        if processes:
            raise OptionsError("preparing in worker processes needs num_workers of 1 or more, not 0.")
        for key, audio in inputs:
            yield prepare_input(key, audio, opts, in_memory=in_memory)
        return
    ahead = max(ahead if ahead is not None else workers + 1, 1)
    if use_processes(workers, processes):
        pool = _ProcessPool.start(workers, opts, in_memory, asked=processes is not None)
        if pool is not None:
            yield from _prepare_in_processes(pool, iter(inputs), ahead)
            return
    threads = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="whisperkit-prepare")
    queued: deque[Future] = deque()
    items = iter(inputs)
    stop = threading.Event()
    try:
        while True:
            while len(queued) < ahead and (item := next(items, None)) is not None:
                queued.append(threads.submit(prepare_input, item[0], item[1], opts, in_memory=in_memory, stop=stop))
            if not queued:
                return
            yield queued.popleft().result()
    finally:
        stop.set()  # only inputs no longer wanted are still being prepared here
        threads.shutdown(wait=False, cancel_futures=True)


class PreparedNext:
    """The next input of a list opened, decoded and planned on a thread while the current one is transcribed.

    `transcribe` takes a list's inputs one at a time; without this, each input's decoding and VAD would wait
    for the one before to finish and then keep the model waiting (on a GPU, the whole VAD pass). One input is
    prepared ahead at most, so memory holds two inputs' samples at most. ``start`` it for the next input as the
    current one begins, ``take`` it when the next one's turn comes; ``close`` abandons a preparation no longer
    wanted (its VAD pass stops at its next block of audio).
    """

    def __init__(self, opts: TranscribeOptions) -> None:
        self.opts = opts
        self._key: Any = None
        self._thread: threading.Thread | None = None
        self._prepared: Prepared | None = None
        self._stop = threading.Event()

    def start(self, key: Any, audio: Any) -> None:
        """Prepare ``audio`` (called ``key``) on a thread now."""
        self._key, self._prepared = key, None

        def work() -> None:
            self._prepared = prepare_input(key, audio, self.opts, stop=self._stop)

        self._thread = threading.Thread(target=work, name="whisperkit-prepare-next", daemon=True)
        self._thread.start()

    def take(self, key: Any) -> Prepared | None:
        """The input started as ``key``, once prepared (waiting for it if need be); None if it was not started."""
        if self._thread is None or self._key != key:
            return None
        self._thread.join()
        prepared, self._thread, self._prepared, self._key = self._prepared, None, None, None
        return prepared

    def close(self) -> None:
        """Abandon a preparation still running; it stops within a block of audio (not waited for)."""
        self._stop.set()


def use_processes(workers: int, processes: bool | None = None) -> bool:
    """Whether `prepare_ahead` prepares in processes: as asked, or (None) when there are 2 workers or more."""
    if processes is not None:
        return processes and workers > 0
    return workers >= PROCESSES_FROM


def default_workers() -> int:
    """Preparation threads when ``num_workers`` is not given: one per core beyond the model's first, at
    least one and at most four (the VAD and FFmpeg need little; more only competes with the model)."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


# --------------------------------------------------------------------------------------------------
# Worker processes


def _prepare_in_processes(pool: _ProcessPool, items: Iterator[tuple[Any, Any]], ahead: int) -> Iterator[Prepared]:
    queued: deque[tuple[tuple[Any, Any], Future]] = deque()
    finished = False
    try:
        while True:
            while len(queued) < ahead and (item := next(items, None)) is not None:
                queued.append((item, pool.submit(item)))
            if not queued:
                finished = True
                return
            item, future = queued.popleft()
            try:
                shipped = future.result()
            except BrokenProcessPool:
                shipped = pool.after_crash(item, queued)
            yield shipped.unpack()
    finally:
        pool.close(wait=finished)
        if pool.spill is not None:
            shutil.rmtree(pool.spill, ignore_errors=True)  # the samples of inputs never handed out


class _ProcessPool:
    """A `ProcessPoolExecutor` of "spawn"ed workers that can be replaced after one of them died, and the
    folder through which they hand back decoded samples."""

    def __init__(self, workers: int, opts: TranscribeOptions, in_memory: bool | None) -> None:
        import multiprocessing

        self.workers, self.opts, self.in_memory = workers, opts, in_memory
        self.context = multiprocessing.get_context("spawn")
        self.spill = _spill_folder()
        self.executor = self._start()

    @classmethod
    def start(cls, workers: int, opts: TranscribeOptions, in_memory: bool | None, asked: bool) -> _ProcessPool | None:
        """A pool whose workers have started (before any input is taken: each submit starts one, so they
        start at once), or None where they cannot (with a warning; RuntimeError when processes were
        ``asked`` for)."""
        pool = cls(workers, opts, in_memory)
        try:
            for ready in [pool.executor.submit(_worker_ready) for _ in range(workers)]:
                ready.result()
            return pool
        except BaseException as err:  # a KeyboardInterrupt while they start leaves none behind either
            pool.close(wait=False)
            if pool.spill is not None:
                shutil.rmtree(pool.spill, ignore_errors=True)
            if not isinstance(err, BrokenProcessPool):
                raise
        if asked:
            raise RuntimeError(f"{NO_WORKERS}, or pass processes=False.")
        warnings.warn(f"{NO_WORKERS}. Preparing on threads instead.", RuntimeWarning, stacklevel=user_stacklevel())
        return None

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=self.context, initializer=_worker_started)

    def submit(self, item: tuple[Any, Any]) -> Future:
        """``item`` prepared in a worker; a future that failed already when a worker has died (the input is
        submitted again once the inputs before it are handed out: `after_crash`)."""
        try:
            return self.executor.submit(_prepare_shipped, item[0], item[1], self.opts, self.in_memory, self.spill)
        except BrokenProcessPool as err:
            lost: Future = Future()
            lost.set_exception(err)
            return lost

    def after_crash(self, item: tuple[Any, Any], queued: deque[tuple[tuple[Any, Any], Future]]) -> _Shipped:
        """A worker died while ``item`` or a later input was being prepared: every input in flight was lost.
        ``item`` is prepared again alone in a fresh pool (so a crash then is its own: it fails, named), the
        inputs after it that had not finished are submitted again."""
        self.close(wait=False)
        self.executor = self._start()
        try:
            shipped = self.submit(item).result()
        except BrokenProcessPool:
            name = str(item[1]) if isinstance(item[1], (str, os.PathLike)) else ARRAY_NAME
            reason = ("its preparation process died (FFmpeg crashed on it, or the machine ran out of memory); "
                      "the other inputs still run")
            shipped = _Shipped.pack(Prepared(item[0], None, report=FileReport(name=name),
                                             error=AudioError(name, reason)), [], None)
            self.close(wait=False)
            self.executor = self._start()
        for index, (later, future) in enumerate(queued):
            if future.cancelled() or future.exception() is not None:  # a dead pool fails every input it held
                queued[index] = (later, self.submit(later))
        return shipped

    def close(self, wait: bool) -> None:
        """Shut the pool down; unless ``wait`` (every input was handed out), its workers are terminated at once:
        what they were preparing is not wanted any more (a KeyboardInterrupt, an error, an early stop)."""
        executor = self.executor
        if wait:
            executor.shutdown(wait=True)
            return
        # The workers, read before shutdown forgets them; Python 3.14's terminate_workers() does the same.
        running = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for process in running:
            process.terminate()
        for process in running:
            process.join(WORKER_EXIT_S)
            if process.exitcode is None:
                process.kill()
                process.join()
        executor.shutdown(wait=True)  # its manager thread sees the workers gone and ends


def _worker_started() -> None:
    """In each worker: Ctrl-C in a terminal reaches the whole process group; only the parent acts on it (it
    terminates the workers when it stops asking), so a worker is never left half-way through a result.
    Each worker runs its VAD on one thread: the workers are the parallel part, one input each."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    vad.THREADS = 1


def _worker_ready() -> None:
    """The first calls a new pool makes: they return once its workers have started."""


def _prepare_shipped(key: Any, audio: Any, opts: TranscribeOptions, in_memory: bool | None,
                     spill: str | None) -> _Shipped:
    """`prepare_input` in a worker process, packed for the way back."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # all of them go back; the parent's filters decide what shows
        prepared = prepare_input(key, audio, opts, in_memory=in_memory)
    return _Shipped.pack(prepared, caught, spill)


def _spill_folder() -> str | None:
    """A new private folder for decoded samples on their way back: in RAM (/dev/shm) where there is one.

    Its name holds this process's id: the folders of processes that were killed before removing theirs (a
    SIGKILL, the out-of-memory killer) are removed here, so their samples do not stay in RAM."""
    shm = "/dev/shm"
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else tempfile.gettempdir()
    for stale in glob.glob(os.path.join(glob.escape(base), f"{SPILL_PREFIX}*-*")):
        pid = os.path.basename(stale)[len(SPILL_PREFIX):].split("-")[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    try:
        return tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}{os.getpid()}-", dir=base)
    except OSError:
        return None  # the samples are pickled instead


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: running
        return True
    return True


@dataclass
class _Shipped:
    """A `Prepared` on its way from a worker process: its error made portable, its warnings kept, and its
    decoded samples (up to 115 MB) in a file of the spill folder rather than in the pickle: for 29 min of
    audio, the parent spent 0.17 s of CPU receiving them through the pool's pipe (and the wall time grew by
    0.4-0.7 s: a pickle, a pipe, an unpickle), 0.06 s reading them back from /dev/shm."""

    prepared: Prepared
    warned: list[tuple[str, type[Warning], str, int]]
    failure: _Failure | None = None
    samples: str | None = None  # the file holding ``prepared.source.samples``

    @classmethod
    def pack(cls, prepared: Prepared, caught: list[warnings.WarningMessage], spill: str | None) -> _Shipped:
        failure = None
        if prepared.error is not None:
            failure = _Failure.of(prepared.error)
            prepared = dataclasses.replace(prepared, error=None)
        warned = [(str(w.message), w.category, w.filename, w.lineno) for w in caught]
        source, path = prepared.source, None
        samples = source.samples if source is not None else None
        if spill is not None and samples is not None and samples.nbytes >= SPILL_FROM:
            handle, path = tempfile.mkstemp(suffix=".f32", dir=spill)
            try:
                with os.fdopen(handle, "wb") as out:
                    samples.tofile(out)
                prepared = dataclasses.replace(prepared, source=dataclasses.replace(source, samples=None))
            except OSError:  # the folder is full: the samples go in the pickle
                os.unlink(path)
                path = None
        return cls(prepared, warned, failure, path)

    def unpack(self) -> Prepared:
        prepared = self.prepared
        if self.samples is not None:
            samples = np.fromfile(self.samples, np.float32)
            os.unlink(self.samples)
            prepared.source = dataclasses.replace(prepared.source, samples=samples)
        for message, category, filename, lineno in self.warned:
            warnings.warn_explicit(message, category, filename, lineno)
        if self.failure is not None:
            prepared.error = self.failure.rebuild()
        return prepared


@dataclass
class _Failure:
    """An exception raised in a worker, rebuilt in the parent with its type, ``args`` and attributes.

    Pickling an exception calls its class with ``args`` again, which fails for classes whose ``__init__``
    takes other arguments than its message (`AudioError(source, reason)`); this rebuilds without calling
    ``__init__``. An exception whose type or attributes cannot cross comes back as a RuntimeError with its
    type and message. The worker's traceback is the rebuilt exception's cause.
    """

    kind: type[BaseException]
    args: tuple
    state: dict[str, Any]
    trace: str

    @classmethod
    def of(cls, err: BaseException) -> _Failure:
        trace = "".join(traceback.format_exception(err))
        try:
            pickle.dumps((type(err), err.args, vars(err)))
            return cls(type(err), err.args, dict(vars(err)), trace)
        except Exception:  # noqa: BLE001 - anything unpicklable: its text still crosses
            return cls(RuntimeError, (f"{type(err).__name__}: {err}",), {}, trace)

    def rebuild(self) -> BaseException:
        err = self.kind.__new__(self.kind, *self.args)
        err.args = self.args
        err.__dict__.update(self.state)
        err.__cause__ = WorkerTraceback(self.trace)
        return err


class WorkerTraceback(Exception):
    """Where an error raised in a preparation process came from: its traceback there, as the error's cause."""

    def __str__(self) -> str:
        return "\n\n" + self.args[0]
