"""Memory on long files (reliability issue): peak RSS of ``transcribe(path, model="base", device="cpu",
diarize=True)`` on hours of speech, beside transcription alone, one fresh process per run.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/memory.py [--hours 1,3] [--model base] [--threads 1] [--out bench/results]
    HF_HUB_OFFLINE=1 .venv/bin/python bench/memory.py --hours 0.1      # rehearsal: 6 minutes, a few minutes

The audio (built once per length, FLAC under .cache/bench-memory/, about 8 MB per hour): a cycle of real and
synthetic English speech from tests/assets.py repeated to the length asked, 1 s of silence between pieces:
4 minutes of Asterisk prompts (asterisk_long, one real voice), pyannote's 30 s phone call (two real voices) and
a flite conversation (three synthetic voices, about 2 minutes); seeds 0, 1, 2 in turn give three different
cycles. Six voices in all, so the diarization finds several speakers and runs its turn refinement.

Each run is a child process (`--child`) that calls ``wk.transcribe`` once, as a user would (model loading
included, no warm-up), and reports: ``ru_maxrss`` (peak RSS of the whole run), the peak reached by the end of
each stage (load + decode + VAD, transcription, diarization: VmHWM when the first progress event of the next
stage arrives), the RSS sampled every second, wall and CPU time, rows and speakers. The table gives the peak as
a multiple of one copy of the waveform (duration x 16000 x 4 bytes of float32), and the growth of the peak
between two lengths per extra waveform copy: about 1 means the run holds the decoded file once plus a working
set that does not grow with the length. Prints a markdown table last; writes JSON (after every run, so an
interrupted run keeps what finished).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "bench-memory"
SAMPLE_RATE = 16_000
GAP_S = 1.0
MIB = 2**20

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
os.environ.setdefault("WHISPERKIT_NB_CACHE", str(REPO / ".cache" / "whisperkit_nb"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from result_file import new_result_path


# --------------------------------------------------------------------------------------------------
# The audio


def cycle(seed: int) -> list[Path]:
    """The WAV files (16 kHz mono int16) of one cycle of the long file."""
    import assets

    return [
        assets.asterisk_long(minutes=4.0, silence_s=0.0, seed=seed).path,
        assets.pyannote_sample().path,
        assets.flite_conversation(seed=seed).path,
    ]


def long_speech(hours: float) -> Path:
    """A FLAC file of ``hours`` of speech (see the module docstring), built once and cached."""
    path = CACHE / f"long_speech_{hours:g}h_v1.flac"
    if path.exists():
        return path
    import av

    total = round(hours * 3600 * SAMPLE_RATE)
    cycles = [cycle(seed) for seed in range(3)]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    written = 0
    with av.open(str(tmp), "w", format="flac") as out:
        stream = out.add_stream("flac", rate=SAMPLE_RATE, layout="mono")
        stream.format = "s16"

        def write(samples: np.ndarray) -> None:
            nonlocal written
            samples = samples[: total - written]
            for start in range(0, len(samples), SAMPLE_RATE * 10):
                frame = av.AudioFrame.from_ndarray(samples[None, start : start + SAMPLE_RATE * 10], format="s16",
                                                   layout="mono")
                frame.sample_rate = SAMPLE_RATE
                for packet in stream.encode(frame):
                    out.mux(packet)
            written += len(samples)

        index = 0
        while written < total:
            for piece in cycles[index % len(cycles)]:
                if written >= total:
                    break
                with wave.open(str(piece), "rb") as wav:
                    if wav.getframerate() != SAMPLE_RATE or wav.getnchannels() != 1 or wav.getsampwidth() != 2:
                        raise ValueError(f"{piece}: expected 16 kHz mono 16-bit PCM")
                    write(np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2"))
                write(np.zeros(round(GAP_S * SAMPLE_RATE), dtype="<i2"))
            index += 1
        for packet in stream.encode(None):
            out.mux(packet)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------------------------------
# One run, in a fresh process


def _status(key: str) -> int:
    from assets import proc_status  # tests/ is on the path (above)

    return proc_status(key)


def child(path: str, model: str, diarize: bool, threads: int) -> dict:
    """Transcribe ``path`` once and measure; runs in the child process."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    import whisperkit_nb as wk

    rss_imports = _status("VmRSS")
    timeline: list[tuple[float, int]] = []
    stop = threading.Event()
    started = time.perf_counter()

    def sample() -> None:
        while not stop.wait(1.0):
            timeline.append((round(time.perf_counter() - started, 1), _status("VmRSS") // MIB))
            if len(timeline) % 60 == 0:  # a line a minute on stderr: how far a long run got
                print(f"  {timeline[-1][0]:.0f} s: RSS {timeline[-1][1]} MiB, peak {_status('VmHWM') // MIB} MiB",
                      file=sys.stderr, flush=True)

    marks: dict[str, dict] = {}
    names = {"vad": "load, decode, VAD", "diarize": "transcription"}

    def callback(event) -> None:
        # the first event of a stage closes the one before it ("vad" comes once VAD is done)
        name = names.get(event.stage)
        if name is not None and name not in marks:
            marks[name] = {"at_s": round(time.perf_counter() - started, 1), "peak_so_far_mib": _status("VmHWM") // MIB,
                           "rss_mib": _status("VmRSS") // MIB}
            print(f"  {name} done: {marks[name]}", file=sys.stderr, flush=True)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu = time.process_time()
    frame = wk.transcribe(path, model=model, device="cpu", diarize=diarize, progress=False, callback=callback)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    stop.set()
    last = "diarization" if diarize else "transcription"
    marks[last] = {"at_s": round(wall, 1), "peak_so_far_mib": _status("VmHWM") // MIB, "rss_mib": _status("VmRSS") // MIB}
    info = frame.attrs["files"][path]
    return {
        "diarize": diarize, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,  # KiB on Linux
        "rss_after_imports_mib": rss_imports // MIB, "stages": marks, "rows": len(frame),
        "speakers": info.get("speakers"), "engine": info.get("engine"), "duration_s": info.get("duration"),
        "language": info.get("language"), "torch_threads": torch.get_num_threads(), "rss_timeline_mib": timeline,
    }


def run_child(path: Path, model: str, diarize: bool, threads: int) -> dict:
    command = [sys.executable, __file__, "--child", str(path), "--model", model, "--threads", str(threads)]
    if diarize:
        command.append("--diarize")
    print(f"run: {path.name}, diarize={diarize}", file=sys.stderr, flush=True)
    # the child's stderr (progress lines, warnings) passes through
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"child failed with exit status {done.returncode} (its stderr is above)")
    return json.loads(lines[-1][len("RESULT "):])


# --------------------------------------------------------------------------------------------------
# The table


def machine_line(threads: int) -> str:
    import torch

    from machine import cpu_model

    processor = platform.processor() or platform.machine()
    shown = threads or torch.get_num_threads()
    return f"{cpu_model()} ({processor}), {os.cpu_count()} cores, CPU only, torch threads {shown}"


def table(rows: list[dict]) -> str:
    lines = [
        "| audio | waveform MiB | run | wall s | CPU s | rows | speakers | peak RSS MiB | peak / waveform | "
        "peak after load+decode+VAD / transcription / diarization MiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        stages = " / ".join(str(r["stages"].get(name, {}).get("peak_so_far_mib", "-"))
                            for name in ("load, decode, VAD", "transcription", "diarization"))
        run = "transcribe + diarize" if r["diarize"] else "transcribe only"
        lines.append(
            f"| {r['hours']:g} h | {r['waveform_mib']:.0f} | {run} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} | {r['rows']} | "
            f"{r['speakers'] if r['speakers'] is not None else '-'} | {r['peak_rss_mib']} | "
            f"{r['peak_rss_mib'] / r['waveform_mib']:.1f}x | {stages} |"
        )
    return "\n".join(lines)


def growth(rows: list[dict]) -> list[str]:
    """Peak growth between the shortest and longest length, per extra waveform copy, for each kind of run."""
    lines = []
    for diarize in (True, False):
        runs = sorted((r for r in rows if r["diarize"] == diarize), key=lambda r: r["hours"])
        if len(runs) >= 2 and runs[-1]["hours"] > runs[0]["hours"]:
            a, b = runs[0], runs[-1]
            extra = b["waveform_mib"] - a["waveform_mib"]
            ratio = (b["peak_rss_mib"] - a["peak_rss_mib"]) / extra
            run = "transcribe + diarize" if diarize else "transcribe only"
            lines.append(f"{run}: peak grew {b['peak_rss_mib'] - a['peak_rss_mib']} MiB from {a['hours']:g} h to "
                         f"{b['hours']:g} h, {ratio:.2f} x the extra waveform ({extra:.0f} MiB)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", default="1,3", help="comma-separated lengths in hours (0.1 to rehearse)")
    parser.add_argument("--model", default="base")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads in each run (default: torch's); 1 keeps a busy shared machine from "
                             "thrashing")
    parser.add_argument("--no-transcription-only", action="store_true",
                        help="skip the transcription-only run of each length")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--diarize", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args.model, args.diarize, args.threads)), flush=True)
        return

    hours = sorted(float(h) for h in args.hours.split(","))
    started = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    machine = machine_line(args.threads)
    # One new file per run, chosen now and rewritten after every child run: earlier runs are kept.
    result_path = new_result_path(args.out, "memory" if hours != [0.1] else "memory-rehearsal")
    rows: list[dict] = []
    for length in hours:
        built = time.perf_counter()
        path = long_speech(length)
        print(f"{path.name}: {path.stat().st_size / MIB:.1f} MiB on disk, built in {time.perf_counter() - built:.0f} s",
              flush=True)
        # the shorter transcription-only run first: an interrupted long run still leaves its figure
        for diarize in (False, True) if not args.no_transcription_only else (True,):
            result = run_child(path, args.model, diarize, args.threads)
            waveform_mib = result["duration_s"] * SAMPLE_RATE * 4 / MIB
            rows.append({"hours": length, "file": path.name, "waveform_mib": round(waveform_mib, 1), **result})
            shown = {k: v for k, v in rows[-1].items() if k != "rss_timeline_mib"}
            print(json.dumps(shown), flush=True)
            result_path.write_text(json.dumps({"date": started, "machine": machine, "model": args.model,
                                                "runs": rows}, indent=1))
    print(f"\n{started} · {machine} · model {args.model} ({rows[0]['engine']}), device cpu · one process per run, "
          "model loading included\n")
    print(table(rows))
    for line in growth(rows):
        print(f"\n{line}")
    print(f"\nJSON: {result_path}")


if __name__ == "__main__":
    main()
