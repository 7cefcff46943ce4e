"""Preparation throughput (issue 17, section 3): can the CPU side keep a fast GPU fed?

    .venv/bin/python bench/prep.py [--minutes 60] [--file-minutes 6] [--long-minutes 18] [--workers 1,2]
                                   [--modes threads,processes] [--formats wav,mp3,m4a] [--rounds 3]
                                   [--no-stages] [--out bench/results]
    .venv/bin/python bench/prep.py --quick      # smoke run: 3 files of 20 s, a 30 s long file, 1 round, 1,2 workers

An H100 running large-v3-turbo at 1500x real time eats 150 minutes of audio in 6 s; decoding, resampling, the
VAD and the chunk plan have to keep up. This measures, on this machine, audio seconds prepared per wall second:

1. Several files at once (``--minutes`` of audio in files of ``--file-minutes``, at least two files per
   worker) through `whisperkit_nb.run.prepare.prepare_ahead` with ``workers=k`` for each k of ``--workers``
   (default 1, 2, 4, ... and the core count), on k threads and on k worker processes (``--modes``;
   ``processes=True``: "spawn"ed workers, started inside the timing as a corpus run starts them): open +
   decode (FFmpeg through the package's `open_audio`) + resample to 16 kHz + VAD + chunk plan, i.e.
   `prepare_input` as the pipeline runs it (inputs up to 30 min are decoded once into memory, and come back
   from a worker process with their samples). Then, as a separate column, the log-mel features of every
   planned chunk (`whisperkit_nb.audio.log_mel.LogMel`, 128 mels as large-v3-turbo uses, CPU, batches of 16,
   torch limited to one thread per worker, k worker threads over the files; measured once per k, the same
   for both modes). Per mode and k: x real time, per core (divided by the cores the workers can keep busy:
   min(k x the VAD's threads, cores) for threads, each running its VAD on `vad_threads()` threads; min(k, cores)
   for processes, whose VAD runs on one), speed-up over 1 thread, efficiency (per core against one worker
   thread's per core: 1.0 is linear), CPU seconds / wall seconds (the workers' CPU included; near k when k
   workers really run at once, near 1 when something holds the GIL), audio seconds per CPU second (what
   preparing costs, whatever else shares the cores), and the cores the 1500x rate needs: 1500 / per-core
   rate, for preparation alone (features on the GPU, as the transformers engine computes them) and for
   preparation + log-mel on the CPU. Every mode, k and round must give the same
   samples and chunk plans as the first run of the format (per-input digests); an input that does not is
   printed and listed under MISMATCHES. (A worker process imports the package when it starts: with an
   editable install, a source file edited during the run changes what later workers plan.)
2. One long file (``--long-minutes``, 18 by default), one thread, stage by stage: decoding alone
   (``open_audio(path).in_memory()``: demux, decode, resample, downmix), the VAD alone (`speech_probabilities`
   over the decoded samples), the rest of the plan (regions, splitting, packing), the log-mel features of its
   chunks; which part dominates. And `prepare_input` whole, as the pipeline runs it (the file decoded on a
   thread a few blocks ahead of the VAD, `whisperkit_nb.speech.plan.DECODE_AHEAD`) and with the decoding and
   the VAD one after the other (``DECODE_AHEAD = False``; the plan and samples must be identical).
3. The same stages with k copies run at once on k threads (one long file each): whether each stage scales
   across threads, to find what a second worker cannot overlap. Cases 2 and 3 run each VAD on one thread
   (`whisperkit_nb.speech.vad.THREADS` = 1), as before the VAD had threads of its own.
4. One input's VAD on k threads (its frame features computed on k threads, the LSTM in order; each k of
   ``--workers``): the VAD alone over the decoded long file, and `prepare_input` whole; the probabilities,
   plans and samples must be those of one thread.

Inputs, each format built from the same audio: ``wav`` (16 kHz mono PCM: no resampling), ``mp3`` (16 kHz mono,
libmp3lame, `tests/assets.py` `encode_audio`), ``m4a`` (AAC in MP4, 48 kHz stereo, what phones and recorders
write: decode + resample 48 -> 16 kHz + downmix). The speech: `assets.asterisk_long` (Asterisk prompts, one
real voice, natural pauses, no long silence), one seed per file, with a room tone under all of it (the
coloured noise and 50 Hz hum of `assets._noise`, 12 dB lower: about -54 dBFS, as `bench/corpus.py` uses), so no
pause is digital zero. Built once under ``$WHISPERKIT_NB_FIXTURES/bench_prep_v1/``.

Timing: every file is read once before timing (OS cache) and the VAD model, FFmpeg and the mel filters are
warmed up (in this process: worker processes start cold, as in a corpus run; the start of one is measured
apart); each measurement is the median of ``--rounds`` rounds, worker counts and modes interleaved within a
round. ``--no-stages`` leaves out cases 2 and 3.
Prints the tables last (date, machine, load average at start and end); writes JSON to
``bench/results/prep-<date>-<HHMM>.json`` (``prep-quick-...`` with ``--quick``; never an existing file).
"""

from __future__ import annotations

import argparse
import contextlib
import collections
import datetime as dt
import hashlib
import json
import math
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from functools import partial
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WHISPERKIT_NB_CACHE", str(REPO / ".cache" / "whisperkit_nb"))
sys.path.insert(0, str(REPO))  # whisperkit_nb where it is not installed (the lent GPU machine: bench/gpu_check.py)
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

import assets  # tests/ is on sys.path (above)
from gpubench.common import PACK_DIR  # bench/ is on sys.path (above)
from machine import cpu_model, cpu_seconds, loadavg, warm_file_cache  # bench/ is on sys.path (above)
from result_file import new_result_path

SAMPLE_RATE = assets.SAMPLE_RATE
BUILD_VERSION = 1  # part of the fixture folder's name: bump it when the builder's output changes
ROOM_TONE_GAIN_DB = -12.0  # relative to assets._noise (-42 dBFS RMS): about -54 dBFS, as bench/corpus.py
FORMATS = ("wav", "mp3", "m4a")
FORMAT_LABEL = {"wav": "wav 16 kHz mono", "mp3": "mp3 16 kHz mono", "m4a": "m4a (AAC) 48 kHz stereo"}
N_MELS = 128  # large-v3 and large-v3-turbo
MEL_BATCH = 16
TARGET_X = 1500.0  # large-v3-turbo on an H100, end to end (issue 17)
LONG_SEED = 100  # the long file's seed: none of the corpus files' (0 .. files - 1)


# --------------------------------------------------------------------------------------------------
# The audio


def fixture_dir() -> Path:
    return assets.FIXTURE_DIR / f"bench_prep_v{BUILD_VERSION}"


def _encode(path: Path, samples: np.ndarray, rate: int, layout: str, container: str, codec: str) -> None:
    """16 kHz mono int16 ``samples`` encoded by FFmpeg's ``codec`` at ``rate`` Hz, ``layout`` channels
    (FFmpeg's resampler converts; `assets.encode_audio` with another rate and layout)."""
    import av

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with av.open(str(tmp), "w", format=container) as out:
            stream = out.add_stream(codec, rate=rate, layout=layout)
            resampler = av.AudioResampler(format=stream.format.name, layout=layout, rate=rate,
                                          frame_size=stream.codec_context.frame_size or None)
            step = SAMPLE_RATE * 60  # a minute at a time: the resampler's output stays small
            for start in range(0, len(samples), step):
                piece = samples[start:start + step]
                frame = av.AudioFrame.from_ndarray(piece[None].astype(np.int16), format="s16", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, start, Fraction(1, SAMPLE_RATE)
                for resampled in resampler.resample(frame):
                    for packet in stream.encode(resampled):
                        out.mux(packet)
            for resampled in resampler.resample(None):
                for packet in stream.encode(resampled):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def build_file(minutes: float, seed: int, formats: list[str]) -> dict[str, Path]:
    """One recording (``minutes`` of Asterisk prompts, seed ``seed``, room tone under it) in each format."""
    folder = fixture_dir()
    stem = f"prep_{minutes:g}min_seed{seed}"
    paths = {"wav": folder / f"{stem}.wav", "mp3": folder / f"{stem}.mp3", "m4a": folder / f"{stem}.m4a"}
    if not paths["wav"].exists():
        speech = assets.asterisk_long(minutes, silence_s=0, seed=seed)
        samples, _ = assets.read_wav(speech.path)
        rng = np.random.default_rng(10_000 + seed)
        tone = assets._noise(len(samples), rng).astype(np.float64) * 10 ** (ROOM_TONE_GAIN_DB / 20)
        assets.write_wav(paths["wav"], assets._to_int16(samples.astype(np.float64) + tone))
    samples = None
    for fmt in formats:
        if fmt == "wav" or paths[fmt].exists():
            continue
        if samples is None:
            samples, _ = assets.read_wav(paths["wav"])
        if fmt == "mp3":
            tmp = paths[fmt].with_name(f".{paths[fmt].name}.{os.getpid()}.tmp")
            assets.encode_audio(tmp, samples, "mp3", "libmp3lame")
            os.replace(tmp, paths[fmt])
        else:
            _encode(paths[fmt], samples, 48_000, "stereo", "mp4", "aac")
    return {fmt: paths[fmt] for fmt in formats}


def build_inputs(total_minutes: float, file_minutes: float, long_minutes: float,
                 formats: list[str], min_files: int = 1) -> tuple[dict[str, list[Path]], dict[str, Path]]:
    count = max(1, min_files, round(total_minutes / file_minutes))
    files: dict[str, list[Path]] = {fmt: [] for fmt in formats}
    for seed in range(count):
        for fmt, path in build_file(file_minutes, seed, formats).items():
            files[fmt].append(path)
    return files, build_file(long_minutes, LONG_SEED, formats)


# --------------------------------------------------------------------------------------------------
# Measuring


def timed(fn):
    """``fn()``'s result, wall seconds and CPU seconds of the whole process (all threads, exited children)."""
    cpu, started = cpu_seconds(), time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started, cpu_seconds() - cpu


def prepare_all(paths: list[Path], opts, workers: int, processes: bool = False) -> list:
    from whisperkit_nb.run.prepare import prepare_ahead

    prepared = list(prepare_ahead(enumerate(map(str, paths)), opts, workers=workers, processes=processes))
    failed = [p for p in prepared if p.error is not None]
    if failed:
        raise RuntimeError(f"{failed[0].name}: {failed[0].error!r}")
    return prepared


def chunk_samples(prepared) -> list[np.ndarray]:
    """The samples of every planned chunk of one prepared input (its spans joined, as the pipeline reads)."""
    chunks = prepared.chunks
    spans = prepared.source.read_spans([span for chunk in chunks for span in chunk.spans])
    return [np.concatenate([next(spans) for _ in chunk.spans]) for chunk in chunks]


_MEL = threading.local()


def mel_of(prepared) -> int:
    """Log-mel features of one input's chunks on the CPU, in batches; the number of chunks."""
    import torch

    from whisperkit_nb.audio.log_mel import LogMel

    mel = getattr(_MEL, "mel", None)
    if mel is None:
        mel = _MEL.mel = LogMel(N_MELS, "cpu")
    pieces = chunk_samples(prepared)
    for start in range(0, len(pieces), MEL_BATCH):
        features = mel(pieces[start:start + MEL_BATCH], torch.float32)
        assert features.shape[1:] == (N_MELS, 3000)
    return len(pieces)


def mel_all(prepared: list, workers: int) -> int:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(mel_of, prepared))


def plan_digest(prepared: list) -> str:
    """A digest of every input's chunk plan (its spans in samples): equal digests, equal plans."""
    spans = [[chunk.spans for chunk in p.chunks] for p in prepared]
    return hashlib.sha256(repr(spans).encode()).hexdigest()[:16]


def samples_digest(prepared: list) -> str:
    """A digest of every input's decoded samples: equal digests, equal samples."""
    return hashlib.sha256("".join(file_digests(prepared)["samples"]).encode()).hexdigest()[:16]


def file_digests(prepared: list) -> dict[str, list[str]]:
    """Per input: a digest of its samples, and one of its chunk plan."""
    return {"samples": [hashlib.sha256(p.source.samples.tobytes()).hexdigest()[:16] for p in prepared],
            "plans": [hashlib.sha256(repr([c.spans for c in p.chunks]).encode()).hexdigest()[:16] for p in prepared]}


MISMATCHES: list[dict] = []  # runs that planned or decoded an input otherwise than the first run of its format


def check_same(fmt: str, mode: str, k: int, round_index: int, paths: list[Path], prepared: list,
               first: dict[str, list[str]]) -> None:
    """Record (and print) every input whose samples or plan differ from the first run of its format."""
    now = file_digests(prepared)
    for index, path in enumerate(paths):
        differs = [what for what in ("samples", "plans") if now[what][index] != first[what][index]]
        if differs:
            MISMATCHES.append({"format": fmt, "mode": mode, "workers": k, "round": round_index + 1,
                               "file": path.name, "differs": differs})
            print(f"  MISMATCH: {path.name}, {k} {mode}, round {round_index + 1}: {' and '.join(differs)} differ "
                  "from the first run", file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values)


def corpus_runs(files: dict[str, list[Path]], workers: list[int], modes: list[str], rounds: int, opts) -> list[dict]:
    """Case 1: every format's files through prepare_ahead with each mode and worker count, then their log-mel."""
    rows: dict[tuple[str, str, int], dict] = {}
    first: dict[str, dict[str, list[str]]] = {}  # per format: the first run's per-input digests
    runs = [(mode, k) for k in workers for mode in modes]
    for round_index in range(rounds):
        order = runs if round_index % 2 == 0 else list(reversed(runs))  # interleaved, alternating
        for fmt, paths in files.items():
            for mode, k in order:
                prepared, wall, cpu = timed(partial(prepare_all, paths, opts, k, mode == "processes"))
                # the log-mel is the same for both modes: measured once per k and round
                mel_row = next((rows[(fmt, m, k)] for m in modes if (fmt, m, k) in rows
                                and len(rows[(fmt, m, k)]["mel_wall_s_rounds"]) > round_index), None)
                if mel_row is None:
                    chunks, mel_wall, mel_cpu = timed(partial(mel_all, prepared, k))
                else:
                    chunks = sum(len(p.chunks) for p in prepared)
                    mel_wall = mel_row["mel_wall_s_rounds"][round_index]
                    mel_cpu = mel_row["mel_cpu_s_rounds"][round_index]
                row = rows.setdefault((fmt, mode, k), {
                    "format": fmt, "mode": mode, "workers": k, "files": len(paths),
                    "audio_s": round(sum(p.duration for p in prepared), 2),
                    "speech_s": round(sum(p.report.speech_seconds for p in prepared), 2),
                    "chunks": sum(len(p.chunks) for p in prepared), "plan_digest": plan_digest(prepared),
                    "samples_digest": samples_digest(prepared),
                    "prep_wall_s_rounds": [], "prep_cpu_s_rounds": [], "mel_wall_s_rounds": [], "mel_cpu_s_rounds": []})
                # preparing on more workers, or in processes, or again, must change nothing: recorded if it does
                check_same(fmt, mode, k, round_index, paths, prepared, first.setdefault(fmt, file_digests(prepared)))
                row["prep_wall_s_rounds"].append(round(wall, 3))
                row["prep_cpu_s_rounds"].append(round(cpu, 3))
                row["mel_wall_s_rounds"].append(round(mel_wall, 3))
                row["mel_cpu_s_rounds"].append(round(mel_cpu, 3))
                del prepared
                print(f"  round {round_index + 1}: {fmt}, {k} {mode}: prep {wall:.2f} s (CPU {cpu:.2f}), "
                      f"log-mel {mel_wall:.2f} s (CPU {mel_cpu:.2f})", file=sys.stderr, flush=True)
    from whisperkit_nb.speech.vad import vad_threads

    cores = os.cpu_count() or 1
    out = []
    for (_, mode, k), row in rows.items():
        prep, mel = median(row["prep_wall_s_rounds"]), median(row["mel_wall_s_rounds"])
        audio = row["audio_s"]
        # The cores preparation can keep busy: a worker thread runs its VAD on vad_threads() threads, a worker
        # process on one (prepare's workers); the log-mel runs on k threads.
        used = min(cores, k * (vad_threads() if mode == "threads" else 1))
        mel_used = min(k, cores)
        row.update({
            "prep_wall_s": round(prep, 3), "prep_cpu_s": round(median(row["prep_cpu_s_rounds"]), 3),
            "mel_wall_s": round(mel, 3), "mel_cpu_s": round(median(row["mel_cpu_s_rounds"]), 3),
            "prep_x": round(audio / prep, 1), "prep_x_per_core": round(audio / prep / used, 1),
            "prep_cpu_per_wall": round(median(row["prep_cpu_s_rounds"]) / prep, 2),
            "prep_x_per_cpu_s": round(audio / median(row["prep_cpu_s_rounds"]), 1),
            "mel_x": round(audio / mel, 1), "mel_x_per_core": round(audio / mel / mel_used, 1),
            "both_x": round(audio / (prep + mel), 1), "both_x_per_core": round(audio / (prep + mel) / used, 1),
            "cores_used": used,
        })
        row["cores_for_target_prep"] = round(TARGET_X / row["prep_x_per_core"], 2)
        row["cores_for_target_prep_mel"] = round(TARGET_X / row["both_x_per_core"], 2)
        row["cores_for_target_prep_by_cpu"] = round(TARGET_X / row["prep_x_per_cpu_s"], 2)
        out.append(row)
    for row in out:
        base = next((r for r in out if r["format"] == row["format"] and r["workers"] == min(workers)
                     and r["mode"] == "threads"), None)
        base = base or next(r for r in out if r["format"] == row["format"] and r["workers"] == min(workers))
        row["prep_speedup_vs_1"] = round(base["prep_wall_s"] / row["prep_wall_s"] * min(workers), 2)
        # per core against the first row's per core (1.0: as efficient per core as one worker thread)
        row["prep_efficiency"] = round(row["prep_x_per_core"] / base["prep_x_per_core"], 2)
        row["mel_speedup_vs_1"] = round(base["mel_wall_s"] / row["mel_wall_s"] * min(workers), 2)
    return sorted(out, key=lambda r: (FORMATS.index(r["format"]), r["workers"], r["mode"] != "threads"))


def worker_start(path: Path, opts, rounds: int) -> dict:
    """Seconds to the first prepared input of a short file: one thread, and one freshly started worker process
    (its interpreter, imports and VAD session); the difference is what starting a process costs."""
    runs = {"threads": [], "processes": []}
    for _ in range(max(rounds, 3)):
        for mode in runs:
            _, wall, _ = timed(partial(prepare_all, [path], opts, 1, mode == "processes"))
            runs[mode].append(wall)
    thread, process = median(runs["threads"]), median(runs["processes"])
    return {"file": path.name, "thread_s": round(thread, 3), "process_s": round(process, 3),
            "process_start_s": round(max(process - thread, 0.0), 3)}


@contextlib.contextmanager
def vad_on_threads(k: int | None):
    """The VAD of every input prepared inside on ``k`` threads (None: its own rule, `vad.vad_threads`)."""
    from whisperkit_nb.speech import vad

    was, vad.THREADS = vad.THREADS, k
    try:
        yield
    finally:
        vad.THREADS = was


def stage_times(path: Path, opts) -> dict:
    """Case 2: one file, one thread, each stage on its own (seconds)."""
    with vad_on_threads(1):
        return _stage_times(path, opts)


def _stage_times(path: Path, opts) -> dict:
    from whisperkit_nb.audio.source import open_audio
    from whisperkit_nb.run.prepare import prepare_input
    from whisperkit_nb.speech import plan
    from whisperkit_nb.speech.vad import speech_probabilities

    source = open_audio(str(path))
    memory, decode_s, _ = timed(source.in_memory)
    _, vad_s, _ = timed(lambda: speech_probabilities(memory.blocks()))
    (chunks, duration), plan_s, _ = timed(lambda: plan.plan_chunks(memory, opts))
    # prepare_input as the pipeline runs it (the file decoded on a thread beside the VAD), then with the
    # decoding and the VAD one after the other (plan.DECODE_AHEAD off): what the overlap saves.
    prepared, prepare_s, _ = timed(lambda: prepare_input(0, str(path), opts))
    try:
        plan.DECODE_AHEAD = False
        serial, serial_s, _ = timed(lambda: prepare_input(0, str(path), opts))
    finally:
        plan.DECODE_AHEAD = True
    if serial.chunks != prepared.chunks or not np.array_equal(serial.source.samples, prepared.source.samples):
        raise SystemExit(f"{path.name}: decoding beside the VAD changed the plan or the samples")
    _, mel_s, _ = timed(lambda: mel_of(prepared))
    return {"audio_s": round(duration, 2), "chunks": len(chunks), "decode_s": decode_s, "vad_s": vad_s,
            "plan_rest_s": max(plan_s - vad_s, 0.0), "plan_s": plan_s, "prepare_input_s": prepare_s,
            "prepare_serial_s": serial_s, "mel_s": mel_s}


def stage_scaling(path: Path, opts, k: int) -> dict:
    """Case 3: each stage on k copies of one file at once, k threads (wall seconds for all k)."""
    with vad_on_threads(1):
        return _stage_scaling(path, opts, k)


def _stage_scaling(path: Path, opts, k: int) -> dict:
    from whisperkit_nb.audio.source import open_audio
    from whisperkit_nb.run.prepare import prepare_input
    from whisperkit_nb.speech.vad import speech_probabilities

    memory = open_audio(str(path)).in_memory()
    prepared = prepare_input(0, str(path), opts)

    def at_once(fn) -> tuple[float, float]:
        with ThreadPoolExecutor(max_workers=k) as pool:
            _, wall, cpu = timed(lambda: list(pool.map(lambda _: fn(), range(k))))
        return wall, cpu

    out = {}
    for name, fn in (("decode", lambda: open_audio(str(path)).in_memory()),
                     ("vad", lambda: speech_probabilities(memory.blocks())),
                     ("prepare_input", lambda: prepare_input(0, str(path), opts)),
                     ("mel", lambda: mel_of(prepared))):
        wall, cpu = at_once(fn)
        out[name] = {"wall_s": wall, "cpu_s": cpu}
    return out


def long_file_runs(long_files: dict[str, Path], workers: list[int], rounds: int, opts) -> tuple[list[dict], list[dict]]:
    stages: list[dict] = []
    for fmt, path in long_files.items():
        runs = [stage_times(path, opts) for _ in range(rounds)]
        row = {"format": fmt, "file": path.name, "audio_s": runs[0]["audio_s"], "chunks": runs[0]["chunks"]}
        for key in ("decode_s", "vad_s", "plan_rest_s", "plan_s", "prepare_input_s", "prepare_serial_s", "mel_s"):
            row[key] = round(median([r[key] for r in runs]), 3)
            row[key + "_rounds"] = [round(r[key], 3) for r in runs]
        stages.append(row)
        print(f"  stages, {fmt}: decode {row['decode_s']} s, VAD {row['vad_s']} s, rest of plan "
              f"{row['plan_rest_s']} s, log-mel {row['mel_s']} s", file=sys.stderr, flush=True)
    # scaling: on the compressed file that costs most to decode (m4a if built, else the first format)
    fmt = "m4a" if "m4a" in long_files else next(iter(long_files))
    scaling: dict[tuple[str, int], list[dict]] = {}
    for _ in range(rounds):
        for k in workers:
            for name, r in stage_scaling(long_files[fmt], opts, k).items():
                scaling.setdefault((name, k), []).append(r)
    audio = next(r["audio_s"] for r in stages if r["format"] == fmt)
    scale_rows = []
    for (name, k), runs in scaling.items():
        wall, cpu = median([r["wall_s"] for r in runs]), median([r["cpu_s"] for r in runs])
        scale_rows.append({"stage": name, "format": fmt, "threads": k, "copies": k, "wall_s": round(wall, 3),
                           "cpu_s": round(cpu, 3), "wall_s_rounds": [round(r["wall_s"], 3) for r in runs],
                           "x_real_time": round(k * audio / wall, 1), "cpu_per_wall": round(cpu / wall, 2)})
    for row in scale_rows:
        one = next(r for r in scale_rows if r["stage"] == row["stage"] and r["threads"] == min(workers))
        row["speedup_vs_1"] = round(row["x_real_time"] / one["x_real_time"] * min(workers), 2)
    return stages, scale_rows


def vad_thread_runs(long_files: dict[str, Path], workers: list[int], rounds: int, opts) -> list[dict]:
    """Case 4: one input's VAD on k threads, alone and inside `prepare_input`, against one thread."""
    from whisperkit_nb.audio.source import SAMPLE_RATE, open_audio
    from whisperkit_nb.run.prepare import prepare_input
    from whisperkit_nb.speech.vad import speech_probabilities

    rows = []
    for fmt, path in long_files.items():
        memory = open_audio(str(path)).in_memory()
        with vad_on_threads(1):
            probs = speech_probabilities(memory.blocks(), threads=1)
            plan = prepare_input(0, str(path), opts)
        times: dict[int, dict[str, list[float]]] = {k: {"vad_s": [], "prepare_input_s": []} for k in workers}
        for _ in range(rounds):
            for k in workers:
                got, vad_s, _ = timed(lambda: speech_probabilities(memory.blocks(), threads=k))
                with vad_on_threads(k):
                    prepared, prepare_s, _ = timed(lambda: prepare_input(0, str(path), opts))
                if not np.array_equal(got, probs) or prepared.chunks != plan.chunks or not np.array_equal(
                        prepared.source.samples, plan.source.samples):
                    raise SystemExit(f"{path.name}: the VAD on {k} threads changed the probabilities, plan or samples")
                times[k]["vad_s"].append(vad_s)
                times[k]["prepare_input_s"].append(prepare_s)
        for k in workers:
            row = {"format": fmt, "file": path.name, "audio_s": round(len(memory.samples) / SAMPLE_RATE, 2),
                   "threads": k}
            for key, runs in times[k].items():
                row[key] = round(median(runs), 3)
                row[key + "_rounds"] = [round(t, 3) for t in runs]
            rows.append(row)
    for row in rows:
        one = next(r for r in rows if r["format"] == row["format"] and r["threads"] == min(workers))
        row["vad_speedup"] = round(one["vad_s"] / row["vad_s"], 2)
        row["prepare_speedup"] = round(one["prepare_input_s"] / row["prepare_input_s"], 2)
    return rows


# --------------------------------------------------------------------------------------------------
# Tables


def vad_thread_table(rows: list[dict]) -> str:
    lines = [("| input | audio min | VAD threads | VAD s | VAD x real time | speed-up | prepare_input s | "
              "prepare_input x real time | speed-up |"), "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        a = r["audio_s"]
        lines.append(f"| {FORMAT_LABEL[r['format']]} | {a / 60:.1f} | {r['threads']} | {r['vad_s']:.2f} | "
                     f"{a / r['vad_s']:.0f} | {r['vad_speedup']:.2f}x | {r['prepare_input_s']:.2f} | "
                     f"{a / r['prepare_input_s']:.0f} | {r['prepare_speedup']:.2f}x |")
    return "\n".join(lines)


def corpus_table(rows: list[dict]) -> str:
    lines = [("| input | workers | files | audio min | prep wall s | CPU s / wall s | prep x real time | per core | "
             "speed-up vs 1 thread | efficiency | audio s per CPU s | log-mel x real time (per core) | "
             "prep + log-mel x real time | cores for 1500x: prep / prep + log-mel |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {FORMAT_LABEL[r['format']]} | {r['workers']} {r['mode']} | {r['files']} | "
                     f"{r['audio_s'] / 60:.1f} | {r['prep_wall_s']:.2f} | {r['prep_cpu_per_wall']:.2f} | "
                     f"{r['prep_x']:g} | "
                     f"{r['prep_x_per_core']:g} | {r['prep_speedup_vs_1']:.2f}x | {r['prep_efficiency']:.2f} | "
                     f"{r['prep_x_per_cpu_s']:g} | "
                     f"{r['mel_x']:g} ({r['mel_x_per_core']:g}) | "
                     f"{r['both_x']:g} | {r['cores_for_target_prep']:.1f} / {r['cores_for_target_prep_mel']:.1f} |")
    return "\n".join(lines)


def target_lines(rows: list[dict]) -> list[str]:
    """Per format: the cores 1500x needs from one worker's per-core rate, and from the most workers' (processes)."""
    lines = []
    for fmt in dict.fromkeys(r["format"] for r in rows):
        mine = [r for r in rows if r["format"] == fmt]
        one = min(mine, key=lambda r: (r["workers"], r["mode"] != "threads"))
        most = max(mine, key=lambda r: (r["workers"], r["mode"] == "processes"))
        lines.append(f"- {FORMAT_LABEL[fmt]}: {math.ceil(one['cores_for_target_prep'] - 1e-9)} cores for preparation "
                     f"({one['prep_x_per_core']:g}x per core, {one['workers']} {one['mode']}), "
                     f"{math.ceil(one['cores_for_target_prep_mel'] - 1e-9)} with the log-mel on the CPU; at the "
                     f"per-core rate of {most['workers']} {most['mode']} ({most['prep_x_per_core']:g}x): "
                     f"{math.ceil(most['cores_for_target_prep'] - 1e-9)} / "
                     f"{math.ceil(most['cores_for_target_prep_mel'] - 1e-9)}; from the CPU seconds preparation "
                     f"costs with {most['workers']} {most['mode']} ({most['prep_x_per_cpu_s']:g} audio s per CPU s, "
                     f"whatever else shares the cores): {math.ceil(most['cores_for_target_prep_by_cpu'] - 1e-9)}.")
    return lines


def stage_table(rows: list[dict]) -> str:
    lines = [("| input | audio min | decode + resample s | VAD s | rest of plan s | prepare_input s: decode then VAD / "
              "decode beside VAD | saved | log-mel s | x real time: decode / VAD / log-mel (one core) | "
              "decode / VAD share of prepare_input (one after the other) |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        a, serial = r["audio_s"], r.get("prepare_serial_s", r["prepare_input_s"])
        lines.append(f"| {FORMAT_LABEL[r['format']]} | {a / 60:.1f} | {r['decode_s']:.2f} | {r['vad_s']:.2f} | "
                     f"{r['plan_rest_s']:.3f} | {serial:.2f} / {r['prepare_input_s']:.2f} | "
                     f"{1 - r['prepare_input_s'] / serial:.0%} | {r['mel_s']:.2f} | "
                     f"{a / r['decode_s']:.0f} / {a / r['vad_s']:.0f} / {a / r['mel_s']:.0f} | "
                     f"{r['decode_s'] / serial:.0%} / {r['vad_s'] / serial:.0%} |")
    return "\n".join(lines)


def scaling_table(rows: list[dict]) -> str:
    lines = [("| stage | threads (one copy of the file each) | wall s | x real time (all copies) | CPU s / wall s | "
             "speed-up vs 1 |"), "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['stage']} | {r['threads']} | {r['wall_s']:.2f} | {r['x_real_time']:g} | "
                     f"{r['cpu_per_wall']:.2f} | {r['speedup_vs_1']:.2f}x |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------


_PACK = contextlib.ExitStack()  # holds the audio pack's prompts in place for the rest of the run


def _prompts_in_reach() -> str:
    """The Debian Asterisk prompts the inputs are built from, else the GPU bench's audio pack (.cache/bench-audio,
    what a lent GPU machine without the Debian packages gets): its prompts and its Silero ONNX file stand in."""
    try:
        assets.asterisk_prompts("en")
        return "Debian asterisk-core-sounds-en"
    except assets.MissingAssetError:
        from gpubench.audio import _prompts_from_pack, ensure_vad_model

        if not (PACK_DIR / "prompts.json").is_file():
            raise
        vad_model = ensure_vad_model()  # (on sys.path, which "spawn"ed preparation workers inherit)
        _PACK.enter_context(_prompts_from_pack())
        return f"the audio pack in {PACK_DIR} (VAD: {vad_model})"


def main() -> int:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="audio in the several-files case, per format")
    parser.add_argument("--file-minutes", type=float, default=6.0, help="length of each of those files")
    parser.add_argument("--long-minutes", type=float, default=18.0, help="the one long file of the stage timings")
    parser.add_argument("--workers", default="",
                        help="worker counts, e.g. 1,2,4 (default 1, 2, 4, ... and the core count; 1,2 with --quick)")
    parser.add_argument("--modes", default="threads,processes", help="of threads, processes")
    parser.add_argument("--no-stages", action="store_true", help="only case 1 (several files at once)")
    parser.add_argument("--formats", default=",".join(FORMATS), help="of wav, mp3, m4a")
    parser.add_argument("--rounds", type=int, default=3, help="median of this many rounds")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 3 files of 20 s, a 30 s long file, 1 round, workers 1,2")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"), help="folder for the JSON file")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.file_minutes, args.long_minutes, args.rounds = 1.0, 1 / 3, 0.5, 1
    default = "1,2" if args.quick else ",".join(str(k) for k in {*(2 ** i for i in range(cores.bit_length())), cores})
    workers = sorted({int(k) for k in (args.workers or default).split(",")})
    formats = [f for f in args.formats.split(",") if f]
    modes = [m for m in ("threads", "processes") if m in args.modes.split(",")]
    unknown = set(formats) - set(FORMATS)
    if unknown or not workers or min(workers) < 1 or not modes:
        parser.error(f"unknown formats {sorted(unknown)}, bad workers {args.workers!r} or modes {args.modes!r}")

    prompts_source = _prompts_in_reach()
    import torch

    torch.set_num_threads(1)  # log-mel: one thread per worker, so k workers use k cores
    from whisperkit_nb.engines.registry import settle
    from whisperkit_nb.options import TranscribeOptions
    from whisperkit_nb.run.prepare import default_workers

    opts = settle(TranscribeOptions())  # the chunk plan of a default run (its engine's gap rule)
    start_time = dt.datetime.now(dt.timezone.utc)
    result_path = new_result_path(args.out, "prep-quick" if args.quick else "prep", start_time)

    min_files = 1 if args.quick else 2 * max(workers)  # every worker busy until the last files
    built, build_s, _ = timed(lambda: build_inputs(args.minutes, args.file_minutes, args.long_minutes, formats,
                                                   min_files))
    files, long_files = built
    print(f"inputs ready in {build_s:.1f} s under {fixture_dir()}", file=sys.stderr, flush=True)
    warm_file_cache([p for paths in files.values() for p in paths] + list(long_files.values()))
    # warm-up: the VAD session, FFmpeg's codecs, the mel filters (transformers), outside any timing
    for paths in files.values():
        mel_of(prepare_all(paths[:1], opts, 0)[0])

    load_start = loadavg()
    if load_start[0] > 1.5:
        print(f"warning: load average {load_start[0]} at start: other work shares the cores", file=sys.stderr)
    start = worker_start(files[formats[0]][0], opts, args.rounds) if "processes" in modes else None
    corpus = corpus_runs(files, workers, modes, args.rounds, opts)
    stages, scaling = ([], []) if args.no_stages else long_file_runs(long_files, workers, args.rounds, opts)
    vad_rows = [] if args.no_stages else vad_thread_runs(long_files, workers, args.rounds, opts)
    load_end = loadavg()

    machine = f"{cpu_model()}, {cores} cores, CPU only"
    from whisperkit_nb.speech import vad

    result = {
        "date": start_time.strftime("%Y-%m-%d %H:%M UTC"), "machine": machine, "cores": cores,
        "load_average_at_start": load_start, "load_average_at_end": load_end,
        "quick": args.quick, "rounds": args.rounds, "workers": workers, "modes": modes, "formats": formats,
        "target_x_real_time": TARGET_X, "n_mels": N_MELS, "mel_batch": MEL_BATCH, "torch_threads": 1,
        "default_workers_here": default_workers(), "vad_model": vad._model_path().name,
        "prompts": prompts_source, "fixtures": str(fixture_dir()), "build_s": round(build_s, 1),
        "options": {k: getattr(opts, k) for k in ("chunk_s", "vad_threshold", "vad_min_silence_s", "vad_max_gap_s")},
        "corpus": corpus, "long_file_stages": stages, "stage_scaling": scaling, "vad_threads": vad_rows,
        "vad_max_threads": vad.MAX_THREADS, "worker_start": start,
        "mismatches": MISMATCHES,
    }
    head = (f"{result['date']} · {machine} · load average {load_start[0]:g} at start, {load_end[0]:g} at end · "
            f"median of {args.rounds} round{'s' if args.rounds != 1 else ''} · torch threads 1 per worker · "
            f"log-mel {N_MELS} mels on CPU, batches of {MEL_BATCH}")
    files_line = (f"Several files at once: {len(files[formats[0]])} files of {args.file_minutes:g} min per format, "
                  "through prepare_ahead(workers=k) on k threads or k worker processes (decode + resample + VAD + "
                  "chunk plan; processes: started inside the timing), then the log-mel of every planned chunk on "
                  "k threads:")
    text = [head, "", files_line, "", corpus_table(corpus), ""]
    if start is not None:
        text += [(f"Starting a worker process (interpreter, imports, VAD session): {start['process_start_s']:.2f} s "
                  f"(first result of {start['file']}: {start['process_s']:.2f} s in a new process, "
                  f"{start['thread_s']:.2f} s on a thread)."), ""]
    if stages:
        text += [f"One {args.long_minutes:g}-min file, one thread, stage by stage:", "", stage_table(stages), "",
                 (f"Each stage on k copies of the {long_files.get('m4a', next(iter(long_files.values()))).name} "
                  "file at once, k threads:"), "", scaling_table(scaling), "",
                 (f"One {args.long_minutes:g}-min file's VAD on k threads (frame features on k threads, the LSTM in "
                  f"order; a run's default: torch's CPU threads, at most {vad.MAX_THREADS}), alone and in "
                  "prepare_input, the same probabilities, plans and samples as one thread:"), "",
                 vad_thread_table(vad_rows), ""]
    text += ["Cores that 1500x real time needs on this machine:", *target_lines(corpus), "",
             (f"Every mode, worker count and round gave the same samples and chunk plans ({len(corpus)} runs x "
              f"{args.rounds} rounds)." if not MISMATCHES else
              "MISMATCHES (inputs whose samples or plans differ from the first run of their format): "
              + "; ".join(f"{fmt} {k} {mode}, round {n}: {what} of {count} files" for (fmt, k, mode, n, what), count
                          in collections.Counter((m["format"], m["workers"], m["mode"], m["round"],
                                                  " and ".join(m["differs"])) for m in MISMATCHES).items()))]
    result["table"] = "\n".join(text)
    result_path.write_text(json.dumps(result, indent=1))
    print("\n" + result["table"])
    print(f"\nJSON: {result_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
