"""Preparation throughput (issue 17, section 3): can the CPU side keep a fast GPU fed?

    .venv/bin/python bench/prep.py [--minutes 60] [--file-minutes 6] [--long-minutes 18] [--workers 1,2]
                                   [--formats wav,mp3,m4a] [--rounds 3] [--out bench/results]
    .venv/bin/python bench/prep.py --quick      # smoke run: 3 files of 20 s, a 30 s long file, 1 round, 1,2 workers

An H100 running large-v3-turbo at 1500x real time eats 150 minutes of audio in 6 s; decoding, resampling, the
VAD and the chunk plan have to keep up. This measures, on this machine, audio seconds prepared per wall second:

1. Several files at once (``--minutes`` of audio in files of ``--file-minutes``) through
   `whisperkit_nb.run.prepare.prepare_ahead` with ``workers=k`` for each k of ``--workers`` (default 1 .. the
   core count): open + decode (FFmpeg through the package's `open_audio`) + resample to 16 kHz + VAD + chunk
   plan, i.e. `prepare_input` as the pipeline runs it (inputs up to 30 min are decoded once into memory). Then,
   as a separate column, the log-mel features of every planned chunk (`whisperkit_nb.audio.log_mel.LogMel`,
   128 mels as large-v3-turbo uses, CPU, batches of 16, torch limited to one thread per worker, k worker
   threads over the files). Per k: x real time, per core (divided by min(k, cores)), speed-up over 1 worker,
   CPU seconds / wall seconds (near k when k threads really run at once; near 1 when something holds the
   GIL), and the cores the 1500x rate needs: 1500 / per-core rate, for preparation alone (features on the
   GPU, as the transformers engine computes them) and for preparation + log-mel on the CPU.
2. One long file (``--long-minutes``, 18 by default), one thread, stage by stage: decoding alone
   (``open_audio(path).in_memory()``: demux, decode, resample, downmix), the VAD alone (`speech_probabilities`
   over the decoded samples), the rest of the plan (regions, splitting, packing), the log-mel features of its
   chunks; which part dominates.
3. The same stages with k copies run at once on k threads (one long file each): whether each stage scales
   across threads, to find what a second worker cannot overlap.

Inputs, each format built from the same audio: ``wav`` (16 kHz mono PCM: no resampling), ``mp3`` (16 kHz mono,
libmp3lame, `tests/assets.py` `encode_audio`), ``m4a`` (AAC in MP4, 48 kHz stereo, what phones and recorders
write: decode + resample 48 -> 16 kHz + downmix). The speech: `assets.asterisk_long` (Asterisk prompts, one
real voice, natural pauses, no long silence), one seed per file, with a room tone under all of it (the
coloured noise and 50 Hz hum of `assets._noise`, 12 dB lower: about -54 dBFS, as `bench/corpus.py` uses), so no
pause is digital zero. Built once under ``$WHISPERKIT_NB_FIXTURES/bench_prep_v1/``.

Timing: every file is read once before timing (OS cache) and the VAD model, FFmpeg and the mel filters are
warmed up; each measurement is the median of ``--rounds`` rounds, worker counts interleaved within a round.
Prints the tables last (date, machine, load average at start and end); writes JSON to
``bench/results/prep-<date>-<HHMM>.json`` (``prep-quick-...`` with ``--quick``; never an existing file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
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
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

import assets  # tests/ is on sys.path (above)
from machine import cpu_model  # bench/ is on sys.path (above)
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
                 formats: list[str]) -> tuple[dict[str, list[Path]], dict[str, Path]]:
    count = max(1, round(total_minutes / file_minutes))
    files: dict[str, list[Path]] = {fmt: [] for fmt in formats}
    for seed in range(count):
        for fmt, path in build_file(file_minutes, seed, formats).items():
            files[fmt].append(path)
    return files, build_file(long_minutes, LONG_SEED, formats)


def warm_file_cache(paths: list[Path]) -> None:
    for path in paths:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


# --------------------------------------------------------------------------------------------------
# Measuring


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def timed(fn):
    """``fn()``'s result, wall seconds and CPU seconds of the whole process (all threads)."""
    cpu, started = time.process_time(), time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started, time.process_time() - cpu


def prepare_all(paths: list[Path], opts, workers: int) -> list:
    from whisperkit_nb.run.prepare import prepare_ahead

    prepared = list(prepare_ahead(enumerate(map(str, paths)), opts, workers=workers))
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


def median(values: list[float]) -> float:
    return statistics.median(values)


def corpus_runs(files: dict[str, list[Path]], workers: list[int], rounds: int, opts) -> list[dict]:
    """Case 1: every format's files through prepare_ahead with each worker count, then their log-mel."""
    rows: dict[tuple[str, int], dict] = {}
    for round_index in range(rounds):
        order = workers if round_index % 2 == 0 else list(reversed(workers))  # interleaved, alternating
        for fmt, paths in files.items():
            for k in order:
                prepared, wall, cpu = timed(partial(prepare_all, paths, opts, k))
                chunks, mel_wall, mel_cpu = timed(partial(mel_all, prepared, k))
                row = rows.setdefault((fmt, k), {
                    "format": fmt, "workers": k, "files": len(paths),
                    "audio_s": round(sum(p.duration for p in prepared), 2),
                    "speech_s": round(sum(p.report.speech_seconds for p in prepared), 2),
                    "chunks": sum(len(p.chunks) for p in prepared), "plan_digest": plan_digest(prepared),
                    "prep_wall_s_rounds": [], "prep_cpu_s_rounds": [], "mel_wall_s_rounds": [], "mel_cpu_s_rounds": []})
                if chunks != row["chunks"] or plan_digest(prepared) != row["plan_digest"]:
                    raise AssertionError(f"{fmt}, {k} workers: {chunks} chunks, another round planned {row['chunks']}")
                same_format = {r["plan_digest"] for (f, _), r in rows.items() if f == fmt}
                if len(same_format) != 1:  # preparing on more threads must not change any plan
                    raise AssertionError(f"{fmt}: the chunk plans differ between worker counts")
                row["prep_wall_s_rounds"].append(round(wall, 3))
                row["prep_cpu_s_rounds"].append(round(cpu, 3))
                row["mel_wall_s_rounds"].append(round(mel_wall, 3))
                row["mel_cpu_s_rounds"].append(round(mel_cpu, 3))
                del prepared
                print(f"  round {round_index + 1}: {fmt}, {k} workers: prep {wall:.2f} s (CPU {cpu:.2f}), "
                      f"log-mel {mel_wall:.2f} s (CPU {mel_cpu:.2f})", file=sys.stderr, flush=True)
    cores = os.cpu_count() or 1
    out = []
    for (_, k), row in rows.items():
        prep, mel = median(row["prep_wall_s_rounds"]), median(row["mel_wall_s_rounds"])
        audio = row["audio_s"]
        used = min(k, cores)
        row.update({
            "prep_wall_s": round(prep, 3), "prep_cpu_s": round(median(row["prep_cpu_s_rounds"]), 3),
            "mel_wall_s": round(mel, 3), "mel_cpu_s": round(median(row["mel_cpu_s_rounds"]), 3),
            "prep_x": round(audio / prep, 1), "prep_x_per_core": round(audio / prep / used, 1),
            "prep_cpu_per_wall": round(median(row["prep_cpu_s_rounds"]) / prep, 2),
            "mel_x": round(audio / mel, 1), "mel_x_per_core": round(audio / mel / used, 1),
            "both_x": round(audio / (prep + mel), 1), "both_x_per_core": round(audio / (prep + mel) / used, 1),
            "cores_used": used,
        })
        row["cores_for_target_prep"] = round(TARGET_X / row["prep_x_per_core"], 2)
        row["cores_for_target_prep_mel"] = round(TARGET_X / row["both_x_per_core"], 2)
        out.append(row)
    for row in out:
        base = next(r for r in out if r["format"] == row["format"] and r["workers"] == min(workers))
        row["prep_speedup_vs_1"] = round(base["prep_wall_s"] / row["prep_wall_s"] * min(workers), 2)
        row["mel_speedup_vs_1"] = round(base["mel_wall_s"] / row["mel_wall_s"] * min(workers), 2)
    return sorted(out, key=lambda r: (FORMATS.index(r["format"]), r["workers"]))


def stage_times(path: Path, opts) -> dict:
    """Case 2: one file, one thread, each stage on its own (seconds)."""
    from whisperkit_nb.audio.source import open_audio
    from whisperkit_nb.run.prepare import prepare_input
    from whisperkit_nb.speech.plan import plan_chunks
    from whisperkit_nb.speech.vad import speech_probabilities

    source = open_audio(str(path))
    memory, decode_s, _ = timed(source.in_memory)
    _, vad_s, _ = timed(lambda: speech_probabilities(memory.blocks()))
    (chunks, duration), plan_s, _ = timed(lambda: plan_chunks(memory, opts))
    prepared, prepare_s, _ = timed(lambda: prepare_input(0, str(path), opts))
    _, mel_s, _ = timed(lambda: mel_of(prepared))
    return {"audio_s": round(duration, 2), "chunks": len(chunks), "decode_s": decode_s, "vad_s": vad_s,
            "plan_rest_s": max(plan_s - vad_s, 0.0), "plan_s": plan_s, "prepare_input_s": prepare_s, "mel_s": mel_s}


def stage_scaling(path: Path, opts, k: int) -> dict:
    """Case 3: each stage on k copies of one file at once, k threads (wall seconds for all k)."""
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
        for key in ("decode_s", "vad_s", "plan_rest_s", "plan_s", "prepare_input_s", "mel_s"):
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


# --------------------------------------------------------------------------------------------------
# Tables


def corpus_table(rows: list[dict]) -> str:
    lines = [("| input | workers | files | audio min | prep wall s | CPU s / wall s | prep x real time | per core | "
             "speed-up vs 1 | log-mel x real time (per core) | prep + log-mel x real time | "
             "cores for 1500x: prep / prep + log-mel |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {FORMAT_LABEL[r['format']]} | {r['workers']} | {r['files']} | {r['audio_s'] / 60:.1f} | "
                     f"{r['prep_wall_s']:.2f} | {r['prep_cpu_per_wall']:.2f} | {r['prep_x']:g} | "
                     f"{r['prep_x_per_core']:g} | {r['prep_speedup_vs_1']:.2f}x | {r['mel_x']:g} ({r['mel_x_per_core']:g}) | "
                     f"{r['both_x']:g} | {r['cores_for_target_prep']:.1f} / {r['cores_for_target_prep_mel']:.1f} |")
    return "\n".join(lines)


def stage_table(rows: list[dict]) -> str:
    lines = [("| input | audio min | decode + resample s | VAD s | rest of plan s | prepare_input s | log-mel s | "
             "x real time: decode / VAD / log-mel (one core) | decode / VAD share of prepare_input |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        a = r["audio_s"]
        lines.append(f"| {FORMAT_LABEL[r['format']]} | {a / 60:.1f} | {r['decode_s']:.2f} | {r['vad_s']:.2f} | "
                     f"{r['plan_rest_s']:.3f} | {r['prepare_input_s']:.2f} | {r['mel_s']:.2f} | "
                     f"{a / r['decode_s']:.0f} / {a / r['vad_s']:.0f} / {a / r['mel_s']:.0f} | "
                     f"{r['decode_s'] / r['prepare_input_s']:.0%} / {r['vad_s'] / r['prepare_input_s']:.0%} |")
    return "\n".join(lines)


def scaling_table(rows: list[dict]) -> str:
    lines = [("| stage | threads (one copy of the file each) | wall s | x real time (all copies) | CPU s / wall s | "
             "speed-up vs 1 |"), "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['stage']} | {r['threads']} | {r['wall_s']:.2f} | {r['x_real_time']:g} | "
                     f"{r['cpu_per_wall']:.2f} | {r['speedup_vs_1']:.2f}x |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------


def main() -> int:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="audio in the several-files case, per format")
    parser.add_argument("--file-minutes", type=float, default=6.0, help="length of each of those files")
    parser.add_argument("--long-minutes", type=float, default=18.0, help="the one long file of the stage timings")
    parser.add_argument("--workers", default="",
                        help="worker counts, e.g. 1,2,4 (default 1 .. cores; 1,2 with --quick)")
    parser.add_argument("--formats", default=",".join(FORMATS), help="of wav, mp3, m4a")
    parser.add_argument("--rounds", type=int, default=3, help="median of this many rounds")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 3 files of 20 s, a 30 s long file, 1 round, workers 1,2")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"), help="folder for the JSON file")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.file_minutes, args.long_minutes, args.rounds = 1.0, 1 / 3, 0.5, 1
    default = "1,2" if args.quick else ",".join(str(k) for k in range(1, cores + 1))
    workers = sorted({int(k) for k in (args.workers or default).split(",")})
    formats = [f for f in args.formats.split(",") if f]
    unknown = set(formats) - set(FORMATS)
    if unknown or not workers or min(workers) < 1:
        parser.error(f"unknown formats {sorted(unknown)} or bad workers {args.workers!r}")

    import torch

    torch.set_num_threads(1)  # log-mel: one thread per worker, so k workers use k cores
    from whisperkit_nb.options import TranscribeOptions
    from whisperkit_nb.run.prepare import default_workers

    opts = TranscribeOptions()
    start_time = dt.datetime.now(dt.timezone.utc)
    result_path = new_result_path(args.out, "prep-quick" if args.quick else "prep", start_time)

    built, build_s, _ = timed(lambda: build_inputs(args.minutes, args.file_minutes, args.long_minutes, formats))
    files, long_files = built
    print(f"inputs ready in {build_s:.1f} s under {fixture_dir()}", file=sys.stderr, flush=True)
    warm_file_cache([p for paths in files.values() for p in paths] + list(long_files.values()))
    # warm-up: the VAD session, FFmpeg's codecs, the mel filters (transformers), outside any timing
    for paths in files.values():
        mel_of(prepare_all(paths[:1], opts, 0)[0])

    load_start = loadavg()
    if load_start[0] > 1.5:
        print(f"warning: load average {load_start[0]} at start: other work shares the cores", file=sys.stderr)
    corpus = corpus_runs(files, workers, args.rounds, opts)
    stages, scaling = long_file_runs(long_files, workers, args.rounds, opts)
    load_end = loadavg()

    machine = f"{cpu_model()}, {cores} cores, CPU only"
    from whisperkit_nb.speech import vad

    result = {
        "date": start_time.strftime("%Y-%m-%d %H:%M UTC"), "machine": machine, "cores": cores,
        "load_average_at_start": load_start, "load_average_at_end": load_end,
        "quick": args.quick, "rounds": args.rounds, "workers": workers, "formats": formats,
        "target_x_real_time": TARGET_X, "n_mels": N_MELS, "mel_batch": MEL_BATCH, "torch_threads": 1,
        "default_workers_here": default_workers(), "vad_model": vad._model_path().name,
        "fixtures": str(fixture_dir()), "build_s": round(build_s, 1),
        "options": {k: getattr(opts, k) for k in ("chunk_s", "vad_threshold", "vad_min_silence_s", "vad_max_gap_s")},
        "corpus": corpus, "long_file_stages": stages, "stage_scaling": scaling,
    }
    head = (f"{result['date']} · {machine} · load average {load_start[0]:g} at start, {load_end[0]:g} at end · "
            f"median of {args.rounds} round{'s' if args.rounds != 1 else ''} · torch threads 1 per worker · "
            f"log-mel {N_MELS} mels on CPU, batches of {MEL_BATCH}")
    one = next((r for r in corpus if r["workers"] == 1), corpus[0])
    text = [head, "",
            (f"Several files at once: {args.minutes:g} min per format in files of {args.file_minutes:g} min, "
            "through prepare_ahead(workers=k) (decode + resample + VAD + chunk plan), then the log-mel of every "
            "planned chunk on k threads:"), "", corpus_table(corpus), "",
            f"One {args.long_minutes:g}-min file, one thread, stage by stage:", "", stage_table(stages), "",
            (f"Each stage on k copies of the {long_files.get('m4a', next(iter(long_files.values()))).name} file at "
            "once, k threads:"), "", scaling_table(scaling), "",
            (f"1500x real time needs {one['cores_for_target_prep']:.1f} cores of this machine for preparation "
            f"({FORMAT_LABEL[one['format']]}, per-core rate at 1 worker), "
            f"{one['cores_for_target_prep_mel']:.1f} with the log-mel on the CPU.")]
    result["table"] = "\n".join(text)
    result_path.write_text(json.dumps(result, indent=1))
    print("\n" + result["table"])
    print(f"\nJSON: {result_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
