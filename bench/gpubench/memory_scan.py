"""Memory scan: time and peak memory against audio length, one subprocess per length so each peak is its own."""

from __future__ import annotations

import datetime as dt
import gc
import importlib.util
import json
import resource
import subprocess
import sys
import time
from typing import Any

from gpubench.audio import audio_fixture, ensure_vad_model, read_samples, wav_head
from gpubench.common import ENTRY, device_name, log, resolve_device
from gpubench.forcing import ForcedTokens, check_applied, forced_library_decoding
from gpubench.models import is_random, model_dir
from gpubench.ours import load_engine, precompile
from gpubench.rss import RssSampler, peak_rss_bytes, reset_peak_rss


def memory_scan(args) -> dict:
    device = resolve_device(args.device)
    minutes = [float(m) for m in args.minutes_list.split(",")]
    model = args.model
    model_dir(model, device)  # random weights are built once, here, not inside a measured child
    rows = []
    for m in minutes:
        fixture = audio_fixture(m, args.silence_s)  # built here, so the child's peak is transcription alone
        command = [sys.executable, str(ENTRY), "--memory-child", "--model", model,
                   "--device", device, "--minutes", str(m), "--silence-s", str(args.silence_s),
                   "--tokens-per-window", str(args.tokens_per_window), "--compile-backend", args.compile_backend,
                   "--threads", str(args.threads)]
        if args.batch_size:
            command += ["--batch-size", str(args.batch_size)]
        if args.scan_compile:
            command.append("--scan-compile")
        log(f"memory scan: {m:g} min ({fixture.path.name}) ...")
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-4000:])
            rows.append({"minutes": m, "status": f"failed (exit {done.returncode})"})
            continue
        child = json.loads(done.stdout.strip().splitlines()[-1])
        child["process_s"] = round(time.perf_counter() - started, 1)
        rows.append(child)
        log("  " + json.dumps(child))
    return {"mode": "memory-scan", "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "device": device_name(device), "model": model, "rows": rows}


def memory_child(args) -> None:
    """One length: load, warm up on the first 30 s (and a full batch with compile), transcribe the file
    (streamed from disk); print one JSON line. Peak RSS is reset after the warm-up."""
    import torch

    import whisperkit_nb as wk

    ensure_vad_model()
    device = resolve_device(args.device)
    cuda = device.startswith("cuda")
    fixture = audio_fixture(args.minutes, args.silence_s)
    path = model_dir(args.model, device)
    # The transformers engine, as on GPUs (on a CPU the automatic engine could pick CTranslate2).
    options = wk.TranscribeOptions(model=str(path), device=device, engine="transformers", language="en",
                                   progress=False, batch_size=args.batch_size, compile=args.scan_compile)
    notes: list[str] = []
    source: Any = str(fixture.path)
    if importlib.util.find_spec("av") is None:
        source = read_samples(fixture.path)
        notes.append("av is not installed: the whole file was read into memory (RSS grows with length)")
    whisper = load_engine(options)
    forced = ForcedTokens(whisper.tokenizer, args.tokens_per_window) if is_random(args.model) else None
    if args.scan_compile and args.compile_backend != "inductor":
        precompile(whisper, args.compile_backend, notes)
    applied = 0
    with forced_library_decoding(forced):
        warm = wk.transcribe(wav_head(fixture.path, 30.0), options)  # load, first calls
        batch = next(iter(warm.attrs["files"].values()), {}).get("batch_size") or 1
        if args.scan_compile:  # compiled graphs are per batch shape: warm a full batch as well
            wk.transcribe(wav_head(fixture.path, min(fixture.duration, batch * 30.0 + 60.0)), options)
        del warm
        gc.collect()
        rss_process = peak_rss_bytes()
        rss_reset = reset_peak_rss()  # the peak below is the transcription's own
        rss_before = peak_rss_bytes()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        sampler = RssSampler()
        started = time.perf_counter()
        with sampler:
            frame = wk.transcribe(source, options)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
    check_applied(forced, applied)
    if not rss_reset:
        notes.append("peak RSS could not be reset: it includes loading and warm-up")
    # CPU seconds (all threads) are far less disturbed than wall time by other work on a shared machine.
    cpu_s = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    info = next(iter(frame.attrs["files"].values()), {})
    out = {
        "minutes": args.minutes, "model": args.model, "wall_s": round(wall, 2),
        "x_real_time": round(fixture.duration / wall, 1),
        "s_per_audio_hour": round(wall / (fixture.duration / 3600), 1),
        "cpu_s": round(cpu_s, 1), "cpu_s_per_audio_hour": round(cpu_s / (fixture.duration / 3600), 1),
        "peak_rss_mib": round(peak_rss_bytes() / 2**20), "rss_after_load_and_warmup_mib": round(rss_before / 2**20),
        "peak_rss_load_and_warmup_mib": round(rss_process / 2**20),
        **sampler.summary(),
        "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20) if cuda else None,
        "segments": len(frame), "chunks": info.get("chunks"), "batch_size": info.get("batch_size"),
        "forced_tokens": forced.n if forced else None, "notes": notes,
    }
    print(json.dumps(out), flush=True)
