"""The markdown tables each mode prints last, and the JSON file each run writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

STAGE_NOTE = (
    "Stage columns: seconds inside each stage, exclusive of nested stages, host clock; on GPUs the device stages "
    "(features, encoder, decoder) synchronise CUDA at entry and exit. Ours: encoder and decoder (+ language "
    "detection, word alignment) from the engine's protocol methods (TimedEngine), VAD from progress events (the "
    "VAD pass's wall time less the calling thread's own timed stages: the file decodes on a thread beside it, so "
    "a wait for decoding counts as VAD), "
    "audio decode from the AudioSource's reads, features from LogMel, assembly = segments to DataFrame; other = "
    "the calling thread outside every timed stage (per-batch segment assembly, fallback checks, waiting for "
    "prefetched audio). With prefetch, audio decode runs beside the model and the stages can sum past the wall "
    "time. Warm-up (model load, compile) is excluded from every row."
)


def throughput_table(result: dict) -> str:
    rows = result["systems"]
    base = rows.get("ifw-sdpa", {})
    lines = [
        f"{result['date']} · {result['device']} · torch {result['torch']} · transformers {result['transformers']}",
        f"model {result['model']} ({result['weights']}"
        + (f", {result['tokens_per_window']} tokens per 30 s window incl. timestamps, then end-of-text, "
           f"identical for every system: {result.get('forced_tokens_check')}" if result["tokens_per_window"] else "")
        + f") · {result['audio']} · input: {result['input']} · flash-attn: {result['flash_attn']}",
        "",
        ("| system | x real time | wall s | audio decode | VAD | features | encoder | decoder | assembly | other "
         "| batch | windows x tokens | peak GPU GiB | peak RSS GiB | vs IFW sdpa |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, r in rows.items():
        if r.get("status") != "ok":
            lines.append(f"| {key} | {r['status']} |" + " |" * 14)
            continue
        s = r["stages"]
        windows = ", ".join(f"{v} x {k}" for k, v in r["windows"].items())
        gpu = f"{r['peak_gpu_bytes'] / 2**30:.2f}" if r.get("peak_gpu_bytes") is not None else "-"
        ratio = f"{base['wall_s'] / r['wall_s']:.2f}x" if base.get("status") == "ok" else "-"
        lines.append(
            f"| {key} | {r['x_real_time']} | {r['wall_s']:.2f} | {s['audio_decode']:.2f} | {s['vad']:.2f} "
            f"| {s['features']:.2f} | {s['encoder']:.2f} | {s['decoder']:.2f} | {s['assembly']:.2f} "
            f"| {r['other_s']:.2f} | {r['batch_size']} | {windows} | {gpu} | {r['peak_rss_bytes'] / 2**30:.2f} "
            f"| {ratio} |"
        )
    best = rows.get("wk-best", {})
    if best.get("status") == "ok":
        hours = result["minutes"] / 60
        s = best["stages"]
        lines.append("")
        lines.append(f"CPU-side stages of wk-best per audio hour: audio decode {s['audio_decode'] / hours:.1f} s, "
                     f"VAD {s['vad'] / hours:.1f} s (host, single-threaded unless the library parallelises them; "
                     "they bound end-to-end speed unless they overlap the GPU work).")
    lines += ["", STAGE_NOTE]
    return "\n".join(lines)


def text_table(result: dict) -> str:
    lines = [f"{result['date']} · {result['device']} · {result['audio']} · real weights, free decoding", "",
             ("| model | variant | identical to baseline | differing segments | segments | WER "
              "| seconds (1st row: + model load) |"),
             "|---|---|---|---|---|---|---|"]
    for model, block in result["models"].items():
        for r in block["rows"]:
            wer = f"{r['wer'] * 100:.2f}%" if r["wer"] is not None else "-"
            lines.append(f"| {model} | {r['variant']} | {r['identical']} | {r['differing_segments']} | "
                         f"{r['segments']} | {wer} | {r['seconds']} |")
    return "\n".join(lines)


def memory_table(result: dict) -> str:
    lines = [(f"{result['date']} · {result['device']} · model {result['model']} · one process per length, "
              "file input (streamed)"), "",
             ("| minutes | wall s | x real time | wall s per audio hour | CPU s per audio hour | peak RSS MiB "
              "(transcription) | RSS median MiB (1st half / 2nd half) | RSS after load+warm-up MiB | peak GPU MiB "
              "| segments | batch |"),
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if "status" in r:
            lines.append(f"| {r['minutes']:g} | {r['status']} |" + " |" * 9)
            continue
        gpu = r["peak_gpu_mib"] if r["peak_gpu_mib"] is not None else "-"
        lines.append(f"| {r['minutes']:g} | {r['wall_s']} | {r['x_real_time']} | {r['s_per_audio_hour']} | "
                     f"{r.get('cpu_s_per_audio_hour', '-')} | {r['peak_rss_mib']} | "
                     f"{r.get('rss_median_first_half_mib', '-')} / {r.get('rss_median_second_half_mib', '-')} | "
                     f"{r['rss_after_load_and_warmup_mib']} | {gpu} | {r['segments']} | {r['batch_size']} |")
    return "\n".join(lines)


_RUN_PATHS: dict[tuple[str, str], Path] = {}  # this run's file per result name: partial results rewrite it


def write_result(result: dict, out: Path, name: str, table: str) -> Path:
    """Write this run's ``name`` results: a new file at the first call (earlier runs' files are kept), the
    same file at later calls of the run (partial results, then the whole)."""
    from result_file import new_result_path  # bench/ is on sys.path: the harness runs as bench/gpu.py

    kind = "gpu" if "CPU only" not in result["device"] else "cpu"
    key = (str(out), f"gpu-{name}-{kind}")
    path = _RUN_PATHS.get(key) or _RUN_PATHS.setdefault(key, new_result_path(out, key[1]))
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({**result, "table": table}, indent=2))
    os.replace(tmp, path)
    return path
