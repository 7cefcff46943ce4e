"""CPU benchmark (issues 2 and 3): this engine (its defaults, and the transformers engine) vs the "fixed"
(insanely-fast-whisper) strategy vs faster-whisper's BatchedInferencePipeline, side by side in one run, on
an 18-minute English file (Asterisk prompts with natural gaps and a 90 s digital-silence stretch).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/cpu_engine.py [--minutes 18] [--model base] [--out bench/results]

Prints, for each system: audio seconds per wall second (x real time); WER after Whisper's English
normaliser; inserted words (hypothesis words aligned to no reference word: hallucinations and repeats);
words of segments overlapping the silent stretch (pro rata: segment times that span the silence count
too); and speed ratios against the fixed strategy and faster-whisper. Writes the rows as JSON beside it.

One file's WER moves by a few words with any change of chunking, so ``--shuffles 1,2,3`` also transcribes
(once each, untimed) files built from the same prompts in other orders and with other pauses, and prints
each system's errors summed over all the files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from machine import cpu_model  # noqa: E402  (bench/ is on sys.path when run as a script)
from result_file import new_result_path
import whisperkit_nb as wk  # noqa: E402
from assets import asterisk_long  # noqa: E402
from whisperkit_nb.scoring.words import wer_details


def words_inside(frame_rows: list[tuple[float, float, str]], span: tuple[float, float]) -> int:
    """Words of segments lying inside a span (pro rata for segments that straddle it)."""
    lo, hi = span
    count = 0.0
    for start, end, text in frame_rows:
        overlap = max(0.0, min(end, hi) - max(start, lo))
        if overlap > 0 and end > start:
            count += len(text.split()) * overlap / (end - start)
    return round(count)


def run_whisperkit(path: str, model: str, **options) -> tuple[float, list]:
    import numpy as np

    # Warm up on 5 s of noise-free tone so model loading and first-call costs stay out of the timing,
    # as in a notebook session where the model is already loaded.
    warm = (0.1 * np.sin(np.arange(16000 * 5) * 2 * np.pi * 220 / 16000)).astype(np.float32)
    options = dict(model=model, language="en", progress=False, **options)
    wk.transcribe(warm, **options)
    started = time.perf_counter()
    df = wk.transcribe(path, **options)
    return time.perf_counter() - started, list(zip(df.start, df.end, df.text))


def run_faster_whisper(path: str, model: str, batch_size: int, timestamps: bool = False) -> tuple[float, list]:
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    from whisperkit_nb.engines.packs import offline_pack_dir

    fw = WhisperModel(str(offline_pack_dir(model)), device="cpu", compute_type="int8",
                      cpu_threads=os.cpu_count() or 2)
    pipe = BatchedInferencePipeline(fw)
    started = time.perf_counter()
    # Its batched mode decodes without timestamps by default (one segment per chunk).
    segments, _ = pipe.transcribe(path, language="en", batch_size=batch_size, without_timestamps=not timestamps)
    rows = [(s.start, s.end, s.text) for s in segments]
    return time.perf_counter() - started, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=18.0)
    parser.add_argument("--model", default="base")
    parser.add_argument("--batch-size", type=int, default=16,
                        help="for the transformers rows and the fixed strategy (the default row picks its own)")
    parser.add_argument("--fw-batch-size", type=int, default=8, help="for faster-whisper (its README's setting)")
    parser.add_argument("--systems", default="whisperkit,whisperkit-align,whisperkit-beam5,whisperkit-fp32,"
                        "whisperkit-bf16,fixed,faster-whisper,faster-whisper-timestamps")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per system (median reported)")
    parser.add_argument("--shuffles", default="",
                        help="extra fixture seeds (e.g. 1,2,3) for an accuracy total over several files")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    fixture = asterisk_long(minutes=args.minutes, silence_s=90.0)
    duration = fixture.turns[-1].end
    path = str(fixture.path)
    fp32 = dict(engine="transformers", batch_size=args.batch_size)
    runners = {  # each takes the file's path
        "whisperkit": ("whisperkit (defaults: auto engine = ctranslate2 int8)",
                       lambda p: run_whisperkit(p, args.model)),
        "whisperkit-beam5": ("whisperkit (ctranslate2 int8, beam_size=5 as faster-whisper)",
                             lambda p: run_whisperkit(p, args.model, beam_size=5)),
        "whisperkit-align": ("whisperkit (ctranslate2 int8, segment_times='alignment', beam_size=2)",
                             lambda p: run_whisperkit(p, args.model, segment_times="alignment", beam_size=2)),
        "whisperkit-fp32": ("whisperkit (transformers, fp32)", lambda p: run_whisperkit(p, args.model, **fp32)),
        "whisperkit-bf16": ("whisperkit (transformers, bf16)",
                            lambda p: run_whisperkit(p, args.model, **fp32, dtype="bfloat16")),
        "fixed": ("fixed (insanely-fast-whisper method, fp32)",
                  lambda p: run_whisperkit(p, args.model, **fp32, chunking="fixed")),
        "faster-whisper": ("faster-whisper batched (int8)",
                           lambda p: run_faster_whisper(p, args.model, args.fw_batch_size)),
        "faster-whisper-timestamps": ("faster-whisper batched (int8, without_timestamps=False)",
                                      lambda p: run_faster_whisper(p, args.model, args.fw_batch_size, True)),
    }
    # Rounds interleave the systems, so a slow spell of a shared machine hits them all; the median of the
    # rounds is reported. Decoding is deterministic: the text (and its scores) come from the first round.
    keys = args.systems.split(",")
    times: dict[str, list[float]] = {key: [] for key in keys}
    texts: dict[str, list] = {}
    for round_ in range(args.repeats):
        for key in keys:
            seconds, segments = runners[key][1](path)
            times[key].append(seconds)
            texts.setdefault(key, segments)
            print(f"round {round_ + 1}: {key} {seconds:.1f} s", flush=True)
    rows = []
    for key in keys:
        segments = texts[key]
        seconds = statistics.median(times[key])
        errors = wer_details(fixture.reference, " ".join(t for _, _, t in segments))
        rows.append({
            "system": runners[key][0],
            "wall_s": round(seconds, 1),
            "wall_s_rounds": [round(t, 1) for t in times[key]],
            "x_real_time": round(duration / seconds, 1),
            "wer": round(errors.wer, 4),
            "inserted_words": errors.insertions,
            "words_in_silence": words_inside(segments, fixture.silences[0]),
            "segments": len(segments),
        })
        print(json.dumps(rows[-1]), flush=True)

    peers = {name: next((r for r in rows if r["system"].startswith(name)), None)
             for name in ("fixed", "faster-whisper batched (int8)")}
    stamp = dt.datetime.now().strftime("%Y-%m-%d")
    machine = f"{cpu_model()}, {os.cpu_count()} cores, CPU only"
    print(f"\n{stamp} · {machine} · model {args.model} · batch {args.batch_size} (faster-whisper "
          f"{args.fw_batch_size}) · median of {args.repeats} rounds · "
          f"{duration / 60:.1f} min audio incl. {fixture.silences[0][1] - fixture.silences[0][0]:.0f} s silence")
    print("| system | x real time | wall s | WER | inserted words | words in silence | vs fixed | vs faster-whisper |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratios = [f"{p['wall_s'] / r['wall_s']:.2f}x" if p else "-" for p in peers.values()]
        print(f"| {r['system']} | {r['x_real_time']} | {r['wall_s']} | {r['wer'] * 100:.2f}% | "
              f"{r['inserted_words']} | {r['words_in_silence']} | {ratios[0]} | {ratios[1]} |")
    shuffles = accuracy_over_shuffles(args, keys, runners, texts, fixture) if args.shuffles else None
    path = new_result_path(args.out, "cpu_engine")  # a new file per run: earlier runs are kept
    path.write_text(json.dumps(
        {"date": stamp, "machine": machine, "model": args.model, "minutes": args.minutes, "rows": rows,
         "shuffles": shuffles}, indent=2))
    print(f"\nJSON: {path}")


def accuracy_over_shuffles(args, keys: list[str], runners: dict, texts: dict, fixture) -> dict:
    """Errors of every system summed over the main file and one file per extra seed (same prompts, other
    order and pauses): the accuracy comparison one file's few-word differences cannot settle."""
    seeds = [int(s) for s in args.shuffles.split(",")]
    files = [(0, fixture, texts)]
    for seed in seeds:
        other = asterisk_long(minutes=args.minutes, silence_s=90.0, seed=seed)
        path = str(other.path)
        again = {key: runners[key][1](path)[1] for key in keys}
        files.append((seed, other, again))
        print(f"shuffle {seed}: done", flush=True)
    totals = {}
    for key in keys:
        errors = [wer_details(f.reference, " ".join(t for _, _, t in found[key])) for _, f, found in files]
        totals[key] = {"errors": sum(e.errors for e in errors), "insertions": sum(e.insertions for e in errors),
                       "reference_words": sum(e.reference_words for e in errors),
                       "errors_per_file": [e.errors for e in errors]}
    print(f"\nAccuracy over {len(files)} files (seeds {', '.join(str(s) for s, _, _ in files)}; "
          f"{totals[keys[0]]['reference_words']} reference words)")
    print("| system | word errors | WER | inserted words | errors per file |")
    print("|---|---|---|---|---|")
    for key in keys:
        t = totals[key]
        print(f"| {runners[key][0]} | {t['errors']} | {t['errors'] / t['reference_words'] * 100:.2f}% | "
              f"{t['insertions']} | {' / '.join(map(str, t['errors_per_file']))} |")
    return {"seeds": [s for s, _, _ in files], "systems": {runners[k][0]: v for k, v in totals.items()}}


if __name__ == "__main__":
    main()
