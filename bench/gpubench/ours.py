"""whisperkit_nb's rows: the best settings and the ablations, timed through the engine and progress seams."""

from __future__ import annotations

import contextlib
import cProfile
import io
import pstats
import threading
import time
from pathlib import Path
from typing import Any

from gpubench.attach import ProgressClock, replaced, stream_segments_with_engine, timed_source, wrapped
from gpubench.common import REPO, SAMPLE_RATE, AttachError
from gpubench.forcing import ForcedTokens, check_applied, forced_library_decoding
from gpubench.systems import Setup, full_batch_s, memory_start, timed_row
from gpubench.timed_engine import TimedEngine
from gpubench.timing import StageTimer

#: A folder: wk-best then runs the same input once more under cProfile (after its timed row, so neither its time
#: nor its memory counts) and writes profile-<model>.txt there. For the GPU row's "other" column: the calling
#: thread's time outside every timed stage.
PROFILE_DIR_ENV = "GPUBENCH_PROFILE_DIR"
PROFILE_LINES = 45


def best_options(setup: Setup, *, compile: bool):
    """The options of our rows (attn "auto": Flash Attention 2 when flash-attn and a GPU are there, else SDPA:
    the library's best)."""
    import whisperkit_nb as wk

    return wk.TranscribeOptions(model=str(setup.model_path), device=setup.device, dtype=setup.dtype,
                                attn_implementation="auto", language=setup.language, progress=False,
                                batch_size=setup.batch_size, compile=compile)


def our_input(setup: Setup):
    """What our rows transcribe: the file's path (input mode "file": we read and decode it), or the samples."""
    return str(setup.audio_path) if setup.input_mode == "file" else setup.samples


def load_engine(options) -> Any:
    """The engine object `stream_segments(..., engine=)` takes, loaded (or reused) for ``options``."""
    import whisperkit_nb as wk

    return wk.load_model(options)


def run_whisperkit(setup: Setup, *, chunking: str = "vad", compile: bool = True, prefetch: bool = True) -> dict:
    import torch

    from whisperkit_nb.audio.log_mel import LogMel
    from whisperkit_nb.audio.source import open_audio
    from whisperkit_nb.output.dataframe import segments_to_dataframe
    from whisperkit_nb.report import FileReport
    from whisperkit_nb.run import prefetch as reading_ahead
    from whisperkit_nb.run import prepare
    from whisperkit_nb.run.prepare import IN_MEMORY_MAX_S

    stream_segments = stream_segments_with_engine()
    options = best_options(setup, compile=compile)
    engine = load_engine(options)
    notes: list[str] = [f"attention: {getattr(engine, 'attn_implementation', 'unknown')}"]
    if compile and setup.compile_backend != "inductor":
        precompile(engine, setup.compile_backend, notes)
    timer = StageTimer(sync=torch.cuda.synchronize if setup.cuda else None)
    counts = setup.forced or ForcedTokens(engine.tokenizer, 1)
    timed = TimedEngine(engine, timer, on_decode=counts.count_results)  # fails here, before any warm-up
    plan = FixedWindows() if chunking == "fixed-windows" else None
    with contextlib.ExitStack() as attached:
        attached.enter_context(replaced(reading_ahead, "PREFETCH", prefetch))
        if plan is not None:
            attached.enter_context(replaced(prepare, "plan_chunks", plan))  # what plan_input calls
        attached.enter_context(forced_library_decoding(setup.forced))
        # Warm-up (model load, compile, first-call costs) on the head of the audio, the same path untimed, as in
        # a notebook where the model is already loaded and warm.
        started = time.perf_counter()
        report = FileReport()
        list(stream_segments(setup.samples[: int(setup.warmup_s * SAMPLE_RATE)], options, engine=engine,
                             report=report))
        batch = report.batch_size or setup.batch_size
        if batch:
            # A full batch too, compiled or not, as the peers are warmed (compiled graphs are per batch shape).
            need = full_batch_s(setup, batch)
            if need > setup.warmup_s:
                list(stream_segments(setup.samples[: int(need * SAMPLE_RATE)], options, engine=engine))
        warmup = time.perf_counter() - started

        attached.enter_context(wrapped(LogMel, "__call__", lambda f: timer.wrap("features", f, device=True)))
        source = timed_source(open_audio(our_input(setup)), timer)
        clock = ProgressClock(timer)
        counts.windows.clear()
        applied = setup.forced.applied if setup.forced else 0
        calls = plan.calls if plan else 0
        report = FileReport()
        memory = memory_start(setup)
        graphs_before = _graphs_compiled()
        started = time.perf_counter()
        clock.start()
        segments = list(stream_segments(source, options, engine=timed, report=report, callback=clock))
        with timer.stage("assembly"):
            frame = segments_to_dataframe(segments)
        wall = time.perf_counter() - started
    what = f"whisperkit_nb ({chunking}, compile={compile}, prefetch={prefetch})"
    timer.require("audio_decode", "audio_read", "features", "encoder", "decoder", what=what)
    clock.check_transcribed()
    check_applied(setup.forced, applied)
    if plan is not None and plan.calls == calls:
        raise AttachError("the fixed-window plan replaced whisperkit_nb.run.prepare.plan_chunks but was never "
                          "called: stream_segments plans its chunks elsewhere now")
    readers = timer.threads["audio_read"] - {threading.get_ident()}
    # An input up to IN_MEMORY_MAX_S is kept in memory from its VAD pass and its chunks are cut from there, on
    # the calling thread: reading ahead is for inputs streamed from disk, so only those can show PREFETCH.
    streamed = len(setup.samples) / SAMPLE_RATE > IN_MEMORY_MAX_S
    if (readers and not prefetch) or (streamed and prefetch and not readers):
        raise AttachError(f"PREFETCH={prefetch} did not take: chunk audio was read on "
                          f"{'another thread' if readers else 'the calling thread'}")
    if not streamed:
        notes.append(f"input kept in memory (up to {IN_MEMORY_MAX_S / 60:g} min): PREFETCH has nothing to read ahead")
    row = timed_row(setup, timer, wall, memory, vad_s=clock.vad_seconds(), main_thread=threading.get_ident(),
                    batch_size=report.batch_size, windows=dict(counts.windows))
    row["warmup_s"] = round(warmup, 2)
    row["notes"] += notes
    row["segments"] = len(frame)
    row["chunks"] = report.chunks
    row["tails"] = report.tails or 0
    for key in ("fallbacks", "dropped_chunks"):  # temperature fallback and dropped chunks (quality checks)
        if getattr(report, key):
            row[key] = getattr(report, key)
            if setup.forced is not None:
                row["notes"].append(f"{key}={row[key]}: forced text failed the library's quality checks")
    row["text"] = " ".join(frame.text)
    compiled = _graphs_compiled() - graphs_before
    if compile and compiled:
        row["notes"].append(f"torch.compile built {compiled} graph(s) during the timed run (new batch shapes)")
    return row


def profile_best(setup: Setup, folder: str) -> str:
    """wk-best's input once more, untimed, under cProfile: ``folder``/profile-<model>.txt. Run after its timed
    row is saved (the engine, loaded and compiled for that row, is reused)."""
    from whisperkit_nb.audio.source import open_audio

    options = best_options(setup, compile=True)
    engine = load_engine(options)
    stream_segments = stream_segments_with_engine()
    with forced_library_decoding(setup.forced):
        return profile_run(lambda: list(stream_segments(open_audio(our_input(setup)), options, engine=engine)),
                           Path(folder) / f"profile-{setup.model}.txt",
                           f"whisperkit_nb best, {setup.model}, {setup.duration / 60:g} min, {setup.input_mode} input")


def profile_run(run, path: Path, title: str) -> str:
    """``run()`` under cProfile (the calling thread only), its top functions by own and by cumulative time
    written to ``path``; returns the path."""
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    try:
        run()
    finally:
        profiler.disable()
    wall = time.perf_counter() - started
    text = io.StringIO()
    text.write(f"{title}: one more run under cProfile, {wall:.2f} s wall (profiler overhead included); the calling "
               "thread only: the decode-ahead and prefetch threads are not in it.\n\n")
    for order in ("tottime", "cumulative"):
        text.write(f"== by {order} ==\n")
        pstats.Stats(profiler, stream=text).strip_dirs().sort_stats(order).print_stats(PROFILE_LINES)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.getvalue())
    return str(path)


class FixedWindows:
    """Stands in for `plan_chunks` in the no-VAD ablation: consecutive 30 s windows, no VAD."""

    def __init__(self, window_s: float = 30.0) -> None:
        self.window_s = window_s
        self.calls = 0

    def __call__(self, source, opts, *args, **kwargs):
        from whisperkit_nb.speech.chunks import Chunk

        self.calls += 1
        keep = kwargs.get("keep")  # the input's samples, gathered as the plan reads them (plan_chunks' keep=)
        total = 0
        for block in source.blocks():
            total += len(block)
            if keep is not None:
                keep.add(block)
        size = int(self.window_s * SAMPLE_RATE)
        chunks = [Chunk(i, ((start, min(start + size, total)),)) for i, start in enumerate(range(0, total, size))]
        return chunks, total / SAMPLE_RATE


def precompile(engine: Any, backend: str, notes: list[str]) -> None:
    """compile=True with another torch.compile backend (the smoke test's "eager": static cache, no inductor):
    the library's compiled decoder takes its backend from `compiled.BACKEND`, which this sets for the process."""
    from whisperkit_nb.engines.transformers import compiled

    if not hasattr(compiled, "BACKEND") or not callable(getattr(compiled, "compile_config", None)):
        raise AttachError(f"--compile-backend {backend}: whisperkit_nb.engines.transformers.compiled no longer "
                          "has BACKEND and compile_config(), so the backend cannot be chosen")
    if getattr(engine, "model", None) is None:
        raise AttachError(f"--compile-backend {backend}: the engine has no .model to compile")
    compiled.BACKEND = backend
    notes.append(f"torch.compile backend {backend!r}")


def _graphs_compiled() -> int:
    try:
        from torch._dynamo.utils import counters

        return int(counters["stats"]["unique_graphs"])
    except Exception:  # noqa: BLE001 - a diagnostic only
        return 0
