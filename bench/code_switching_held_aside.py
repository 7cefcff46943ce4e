"""code_switching_chunk_s re-decided on held-aside files: chosen on the TUNE part, reported on CONFIRM.

    nice -n 10 .venv/bin/python bench/code_switching_held_aside.py [--model base] [--chunk-lengths 5,10,15,20,30]

Fixtures: bench/held_aside.py's code-switched files (Asterisk en/es/fr prompts in blocks of 12, 20, 40 and
90 s, one language per block, odd seeds tune, even seeds confirm; tests/test_quality.py's file, seed 0 with
40 s blocks, confirms). Each is transcribed with ``code_switching="hybrid"`` (engine auto, CPU) once per
chunk length.

Per file and chunk length: the share of speech time whose segment language is right (the test's metric,
`language_time_accuracy`); the share of transcribed words in the right language (each segment's words spread
evenly over its time, each counted in the block it falls in); WER per language (reference: that language's
prompts; hypothesis: the segments whose midpoint lies in that language's blocks; basic normalisation); wall
and process CPU seconds.

Rule, fixed before the first run: the chunk length with the highest mean share of words in the right language
over the tune files; among lengths within 1 point of it, the one with the lowest WER pooled over the tune
files, the longest (fastest) one winning when WERs are within 0.5 points. The confirm part only reports.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import held_aside  # noqa: E402  (puts tests/ on sys.path too)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pandas as pd  # noqa: E402

from machine import cpu_model  # noqa: E402
from result_file import new_result_path  # noqa: E402
import whisperkit_nb as wk  # noqa: E402
from whisperkit_nb.scoring.words import language_time_accuracy, normalize_basic, wer_details  # noqa: E402

LANGUAGES = ("en", "es", "fr")


def language_at(spec: held_aside.CodeSwitched, t: float) -> str:
    return spec.blocks[min(int(t // spec.block_s), len(spec.blocks) - 1)]


def right_word_share(spec: held_aside.CodeSwitched, frame: pd.DataFrame) -> float:
    right = total = 0.0
    for start, end, text, language in zip(frame.start, frame.end, frame.text, frame.language):
        words = len(normalize_basic(str(text)).split())
        if not words or end <= start:
            continue
        for index, block in enumerate(spec.blocks):
            lo, hi = index * spec.block_s, (index + 1) * spec.block_s
            share = max(0.0, min(end, hi) - max(start, lo)) / (end - start)
            total += words * share
            right += words * share * (language == block)
    return right / total if total else 0.0


def wer_by_language(spec: held_aside.CodeSwitched, fixture, frame: pd.DataFrame) -> dict:
    """WER details per language: (errors, reference words)."""
    out = {}
    middles = (frame.start + frame.end) / 2
    for lang in LANGUAGES:
        reference = " ".join(t.text for t in fixture.turns if t.language == lang)
        if not reference:
            continue
        hypothesis = " ".join(str(x) for x, m in zip(frame.text, middles) if language_at(spec, m) == lang)
        details = wer_details(reference, hypothesis, normalize="basic")
        out[lang] = (details.errors, details.reference_words)
    return out


def run(spec: held_aside.CodeSwitched, chunk_s: float, model: str) -> dict:
    fixture = spec.build()
    wall, cpu = time.perf_counter(), time.process_time()
    frame = wk.transcribe(str(fixture.path), model=model, code_switching="hybrid", code_switching_chunk_s=chunk_s,
                          device="cpu", progress=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    wers = wer_by_language(spec, fixture, frame)
    return {"part": spec.part, "fixture": spec.name, "file": fixture.path.name, "audio_s": round(fixture.duration, 1),
            "chunk_s": chunk_s, "engine": frame.attrs["files"][str(fixture.path)]["engine"],
            "segments": len(frame), "languages": sorted(set(frame.language.dropna())),
            "time_accuracy": round(language_time_accuracy(frame, fixture.turns), 4),
            "word_share": round(right_word_share(spec, frame), 4),
            "wer": {lang: round(e / n, 4) for lang, (e, n) in wers.items()},
            "wer_counts": {lang: [e, n] for lang, (e, n) in wers.items()},
            "wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}


def summarize(rows: list[dict], part: str) -> pd.DataFrame:
    """Per chunk length over one part's files: mean shares right, WER pooled over languages and files, wall s."""
    rows = [r for r in rows if r["part"] == part]
    summary = {}
    for chunk_s in sorted({r["chunk_s"] for r in rows}):
        mine = [r for r in rows if r["chunk_s"] == chunk_s]
        errors = sum(e for r in mine for e, _ in r["wer_counts"].values())
        words = sum(n for r in mine for _, n in r["wer_counts"].values())
        summary[chunk_s] = {"mean_word_share": sum(r["word_share"] for r in mine) / len(mine),
                            "mean_time_accuracy": sum(r["time_accuracy"] for r in mine) / len(mine),
                            "pooled_wer": errors / words, "wall_s": sum(r["wall_s"] for r in mine)}
    return pd.DataFrame(summary).T.rename_axis("chunk_s")


def choose(rows: list[dict]) -> tuple[float, pd.DataFrame]:
    summary = summarize(rows, held_aside.TUNE)
    close = summary[summary.mean_word_share >= summary.mean_word_share.max() - 0.01]
    close = close[close.pooled_wer <= close.pooled_wer.min() + 0.005]
    return float(close.index.max()), summary


def table(rows: list[dict], part: str) -> list[str]:
    lines = [f"| {part} file | chunk s | time right | words right | WER en | WER es | WER fr | wall s | CPU s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["part"] == part:
            wers = " | ".join(f"{r['wer'][lang] * 100:.1f}%" if lang in r["wer"] else "-" for lang in LANGUAGES)
            lines.append(f"| {r['fixture']} | {r['chunk_s']:g} | {r['time_accuracy'] * 100:.1f}% | "
                         f"{r['word_share'] * 100:.1f}% | {wers} | {r['wall_s']} | {r['cpu_s']} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--chunk-lengths", default="5,10,15,20,30")
    parser.add_argument("--part", choices=(held_aside.TUNE, held_aside.CONFIRM),
                        help="only this part (a shared machine: the sweep on tune, then the pick and the old default "
                             "on confirm)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    lengths = [float(x) for x in args.chunk_lengths.split(",")]
    path = new_result_path(args.out, "code-switching-held-aside" + (f"-{args.part}" if args.part else ""))
    specs = sorted(held_aside.CODE_SWITCHED, key=lambda s: s.part != held_aside.TUNE)
    specs = [s for s in specs if args.part in (None, s.part)]
    wk.transcribe(str(specs[0].build().path), model=args.model, code_switching="hybrid", device="cpu",
                  progress=False)  # warm-up: model load and caches out of the timings
    rows = []
    for spec in specs:
        for chunk_s in lengths:
            rows.append(run(spec, chunk_s, args.model))
            print(json.dumps(rows[-1]), flush=True)
            path.write_text(json.dumps({"partial": True, "rows": rows}, indent=2))  # keep what finished
    chosen, summary = choose(rows) if args.part != held_aside.CONFIRM else (None, pd.DataFrame())

    stamp = dt.datetime.now().strftime("%Y-%m-%d")
    machine = f"{cpu_model()}, {os.cpu_count()} cores, CPU only"
    picked = f" · chosen on the tune part: code_switching_chunk_s={chosen:g}" if chosen is not None else ""
    lines = [f"{stamp} · {machine} · model {args.model}, code_switching='hybrid'{picked}"]
    if chosen is not None:
        lines += ["", *table(rows, held_aside.TUNE), "", "Tune part, all files together:", "",
                  "| chunk s | mean words right | mean time right | pooled WER | wall s |", "|---|---|---|---|---|"]
        lines += [f"| {c:g} | {r.mean_word_share * 100:.1f}% | {r.mean_time_accuracy * 100:.1f}% | "
                  f"{r.pooled_wer * 100:.1f}% | {r.wall_s:.1f} |" for c, r in summary.iterrows()]
    if args.part != held_aside.TUNE:
        lines += ["", *table(rows, held_aside.CONFIRM), "", "Confirm part, all files together:", "",
                  "| chunk s | mean words right | mean time right | pooled WER | wall s |", "|---|---|---|---|---|"]
        lines += [f"| {c:g} | {r.mean_word_share * 100:.1f}% | {r.mean_time_accuracy * 100:.1f}% | "
                  f"{r.pooled_wer * 100:.1f}% | {r.wall_s:.1f} |"
                  for c, r in summarize(rows, held_aside.CONFIRM).iterrows()]
    text = "\n".join(lines)
    print("\n" + text)
    path.write_text(json.dumps({"date": stamp, "machine": machine, "model": args.model, "rule": __doc__.split(
        "Rule, fixed before the first run: ")[1].split("\n\n")[0].replace("\n", " "), "chosen_chunk_s": chosen,
        "parts": {p: [s.name for s in specs if s.part == p] for p in (held_aside.TUNE, held_aside.CONFIRM)},
        "rows": rows, "table": text}, indent=2))
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
