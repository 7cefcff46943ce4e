"""Diarization benchmark (issue 4): the offline pipeline's time per audio hour on CPU and DER on fixtures,
transcription alone vs transcription + diarization on one file, and the segment-split trade-off.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/diarization.py [--model base] [--threads 1] [--out bench/results]

Fixtures (tests/assets.py): pyannote's real 2-speaker phone call (reference RTTM, with overlap); flite
conversations of 3 and 4 synthetic voices; three real Asterisk voices (en, es, fr blocks of 20 s). DER is
pyannote.metrics' full scoring (no collar, overlap scored) of the overlapping turns, and of the exclusive
turns that assignment uses. Times: wall seconds and process CPU seconds (less disturbed by other work on a
shared machine); the pipeline is built and warmed up before timing. Prints markdown tables, writes JSON.
The split trade-off here is on two files only (one of them tests/test_diarize.py's); speaker_split_min_s is
decided by bench/split_held_aside.py, on a tune part and confirmed on a held-aside part.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
os.environ.setdefault("WHISPERKIT_NB_CACHE", str(Path(__file__).resolve().parents[1] / ".cache" / "whisperkit_nb"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
warnings.filterwarnings("ignore", message="'uem' was approximated")

import assets  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from machine import cpu_model  # noqa: E402  (bench/ is on sys.path when run as a script)
from result_file import new_result_path
import whisperkit_nb as wk  # noqa: E402
from whisperkit_nb.audio.source import open_audio
from whisperkit_nb.speakers.diarize import diarize, load_pipeline
from whisperkit_nb.options import TranscribeOptions
from whisperkit_nb.scoring.speakers import diarization_error_rate, speaker_mapping
from whisperkit_nb.speakers.assign import assign_speakers

SPLITS = (0.0, 0.5, 1.0, 2.0, math.inf)


def fixtures() -> dict[str, tuple[assets.Fixture, object]]:
    """name -> (fixture, reference for DER: an RTTM path or the exact turns)."""
    sample = assets.pyannote_sample()
    found = {
        "pyannote sample (real, 2)": (sample, sample.path.with_suffix(".rttm")),
        "flite 3 voices": (assets.flite_conversation(), None),
        "flite 4 voices": (assets.flite_conversation(("slt", "rms", "awb", "kal16"), turns=40, seed=2), None),
        "asterisk 3 real voices": (assets.code_switched(block_s=20.0), None),
    }
    return {name: (fx, ref if ref is not None else turns_of(fx)) for name, (fx, ref) in found.items()}


def turns_of(fixture: assets.Fixture) -> pd.DataFrame:
    return pd.DataFrame([(t.start, t.end, t.speaker) for t in fixture.turns], columns=["start", "end", "speaker"])


def timed(function, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def der_rows(options: TranscribeOptions) -> list[dict]:
    rows = []
    for name, (fixture, reference) in fixtures().items():
        source = open_audio(str(fixture.path)).in_memory()
        turns, wall, cpu = timed(diarize, source, options)
        true_speakers = len({t.speaker for t in fixture.turns})
        rows.append({
            "fixture": name, "audio_s": round(source.duration, 1), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "wall_s_per_audio_hour": round(wall / source.duration * 3600), "speakers": turns.speaker.nunique(),
            "true_speakers": true_speakers,
            "der": round(diarization_error_rate(pd.DataFrame(turns.attrs["overlapping"]), reference), 4),
            "der_exclusive": round(diarization_error_rate(turns, reference), 4),
        })
        print(json.dumps(rows[-1]), flush=True)
    return rows


def asr_vs_diarization(path: str, model: str) -> dict:
    """Wall time of transcribe() without and with diarize=True (both warmed up, same file)."""
    options = dict(model=model, language="en", progress=False, timestamps="word")
    warm = (0.1 * np.sin(np.arange(16000 * 5) * 2 * np.pi * 220 / 16000)).astype(np.float32)
    wk.transcribe(warm, **options)
    plain, wall_plain, cpu_plain = timed(wk.transcribe, path, **options)
    with_speakers, wall_both, cpu_both = timed(wk.transcribe, path, diarize=True, **options)
    return {"file": Path(path).name, "model": model, "asr_wall_s": round(wall_plain, 1),
            "asr_cpu_s": round(cpu_plain, 1), "asr_diarize_wall_s": round(wall_both, 1),
            "asr_diarize_cpu_s": round(cpu_both, 1), "overhead": round(wall_both / wall_plain - 1, 3),
            "_frames": (plain, with_speakers)}


def split_tradeoff(name: str, fixture: assets.Fixture, model: str, options: TranscribeOptions) -> list[dict]:
    """Word accuracy and segment purity of assign_speakers for each split threshold, on one transcript."""
    frame = wk.transcribe(str(fixture.path), model=model, language="en", progress=False, timestamps="word")
    turns = diarize(open_audio(str(fixture.path)).in_memory(), options)
    reference = turns_of(fixture)
    mapping = speaker_mapping(turns, reference)
    rows = []
    for split in SPLITS:
        assigned = assign_speakers(frame, turns, split_min_s=split)
        rows.append({"fixture": name, "split_min_s": split, "segments": len(assigned),
                     **word_accuracy(assigned, reference, mapping), **segment_scores(assigned, reference, mapping)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def reference_speaker(reference: pd.DataFrame, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The reference speaker at each interval's midpoint (the nearest turn's in a pause)."""
    middle = (start + end) / 2
    starts, ends = reference.start.to_numpy(), reference.end.to_numpy()
    distance = np.maximum(starts[None] - middle[:, None], middle[:, None] - ends[None])
    return reference.speaker.to_numpy()[distance.argmin(axis=1)]


def word_accuracy(frame: pd.DataFrame, reference: pd.DataFrame, mapping: dict) -> dict:
    words = [w for ws in frame.get("words", pd.Series(dtype=object)) if isinstance(ws, list) for w in ws]
    if not words:
        return {"word_accuracy": None, "segment_word_accuracy": None}
    start = np.array([w["start"] for w in words], dtype=float)
    end = np.array([w["end"] for w in words], dtype=float)
    truth = reference_speaker(reference, start, end)
    own = np.array([mapping.get(w["speaker"]) for w in words], dtype=object)
    # what a reader of the segments sees: each word labelled with its segment's speaker
    by_segment = np.array([mapping.get(s) for s, ws in zip(frame.speaker, frame.words) for _ in ws], dtype=object)
    return {"word_accuracy": round(float((own == truth).mean()), 4),
            "segment_word_accuracy": round(float((by_segment == truth).mean()), 4)}


def segment_scores(frame: pd.DataFrame, reference: pd.DataFrame, mapping: dict) -> dict:
    """Purity: share of each segment's speech from its main reference speaker (time-weighted);
    accuracy: share of segment time whose (mapped) speaker is the one speaking."""
    pure = correct = total = 0.0
    for start, end, speaker in zip(frame.start, frame.end, frame.speaker):
        overlap = (np.minimum(reference.end, end) - np.maximum(reference.start, start)).clip(lower=0)
        per_speaker = overlap.groupby(reference.speaker).sum()
        total += per_speaker.sum()
        pure += per_speaker.max() if len(per_speaker) else 0.0
        correct += per_speaker.get(mapping.get(speaker), 0.0)
    return {"segment_purity": round(pure / total, 4), "segment_time_accuracy": round(correct / total, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (default: torch's); 1 keeps a busy shared machine from thrashing")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    options = TranscribeOptions(diarize=True, progress=False, device="cpu")

    _, build_s, _ = timed(load_pipeline, options)
    diarize(open_audio(str(assets.pyannote_sample().path)).in_memory(), options)  # warm-up
    ders = der_rows(options)
    conversation = assets.flite_conversation()
    both = asr_vs_diarization(str(conversation.path), args.model)
    both.pop("_frames")
    splits = split_tradeoff("flite 3 voices", conversation, args.model, options)
    splits += split_tradeoff("pyannote sample", assets.pyannote_sample(), args.model, options)

    stamp = dt.datetime.now().strftime("%Y-%m-%d")
    machine = f"{cpu_model()}, {os.cpu_count()} cores, CPU only, torch threads {torch.get_num_threads()}"
    total_audio = sum(r["audio_s"] for r in ders)
    per_hour = sum(r["wall_s"] for r in ders) / total_audio * 3600
    per_hour_cpu = sum(r["cpu_s"] for r in ders) / total_audio * 3600
    print(f"\n{stamp} · {machine} · offline pipeline (segmentation-3.0 + CAM++), built in {build_s:.1f} s")
    print(f"Diarization time per audio hour: {per_hour / 60:.1f} min wall, {per_hour_cpu / 60:.1f} min CPU\n")
    print("| fixture | audio s | wall s | s per audio hour | speakers (true) | DER | DER exclusive |")
    print("|---|---|---|---|---|---|---|")
    for r in ders:
        print(f"| {r['fixture']} | {r['audio_s']} | {r['wall_s']} | {r['wall_s_per_audio_hour']} | "
              f"{r['speakers']} ({r['true_speakers']}) | {r['der']:.3f} | {r['der_exclusive']:.3f} |")
    print(f"\nTranscription alone vs with diarization ({both['file']}, model {both['model']}, word timestamps)\n")
    print("| run | wall s | CPU s |")
    print("|---|---|---|")
    print(f"| transcribe | {both['asr_wall_s']} | {both['asr_cpu_s']} |")
    print(f"| transcribe + diarize | {both['asr_diarize_wall_s']} | {both['asr_diarize_cpu_s']} |")
    print("\nSplit trade-off (speaker_split_min_s)\n")
    print("| fixture | split_min_s | segments | word acc. (own) | word acc. (segment's) | segment purity | "
          "segment time acc. |")
    print("|---|---|---|---|---|---|---|")
    for r in splits:
        cells = [r["word_accuracy"], r["segment_word_accuracy"], r["segment_purity"], r["segment_time_accuracy"]]
        shown = " | ".join("-" if c is None else f"{c * 100:.1f}%" for c in cells)
        print(f"| {r['fixture']} | {r['split_min_s']} | {r['segments']} | {shown} |")
    path = new_result_path(args.out, "diarization")  # a new file per run: earlier runs are kept
    path.write_text(json.dumps(
        {"date": stamp, "machine": machine, "pipeline_build_s": round(build_s, 1),
         "diarization_wall_s_per_audio_hour": round(per_hour), "diarization_cpu_s_per_audio_hour": round(per_hour_cpu),
         "fixtures": ders, "asr_vs_asr_diarize": both,
         "split_tradeoff": [{**r, "split_min_s": str(r["split_min_s"])} for r in splits]}, indent=2))
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
