"""Hallucination-control thresholds (issue 3): what each default buys, varied one at a time.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/thresholds.py [--model base] [--minutes 6] [--out bench/results]

The file: real Asterisk prompts with a 90 s digital-silence stretch and a 60 s room-noise stretch (no
speech) inside (tests/assets.py). Each row changes one of compression_ratio_threshold, logprob_threshold,
no_speech_threshold or temperature_step from its default (None turns a check off). Conditions: the file as
it is; the same with a leaky VAD (vad_threshold=0.05) that lets non-speech into the chunks, standing in for
a VAD fooled by music; and room noise under the whole file at 3 dB and -5 dB below the speech, where
Whisper starts to guess and the checks have work to do. Reported: WER, inserted words, words of segments
inside the non-speech stretches, chunks re-decoded (fallbacks) and dropped, wall seconds. Prints markdown
tables, writes JSON beside them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import assets  # noqa: E402

from cpu_engine import words_inside  # noqa: E402  (bench/ is on sys.path when run as a script)
from machine import cpu_model  # noqa: E402
from result_file import new_result_path
import whisperkit_nb as wk  # noqa: E402
from whisperkit_nb.scoring.words import wer_details
from whisperkit_nb.options import TranscribeOptions

VARIATIONS: list[tuple[str, object]] = [
    ("compression_ratio_threshold", 1.8), ("compression_ratio_threshold", 3.0),
    ("compression_ratio_threshold", None),
    ("logprob_threshold", -0.5), ("logprob_threshold", -1.5), ("logprob_threshold", None),
    ("no_speech_threshold", 0.3), ("no_speech_threshold", 0.9), ("no_speech_threshold", None),
    ("temperature_step", 0.0), ("logprob_fallback", True),
]


def conditions(fixture) -> dict[str, tuple[object, dict]]:
    """Name -> (audio input, extra options)."""
    return {
        "as it is": (str(fixture.path), {}),
        "leaky VAD (vad_threshold=0.05)": (str(fixture.path), {"vad_threshold": 0.05}),
        "room noise under everything, SNR 3 dB": (assets.with_background_noise(fixture, 3.0), {}),
        "room noise under everything, SNR -5 dB": (assets.with_background_noise(fixture, -5.0), {}),
    }


def run(fixture, audio, model: str, extra: dict, change: dict) -> dict:
    started = time.perf_counter()
    df = wk.transcribe(audio if isinstance(audio, str) else (audio, 16000), model=model, language="en",
                       progress=False, **extra, **change)
    seconds = time.perf_counter() - started
    (info,) = df.attrs["files"].values()
    rows = list(zip(df.start, df.end, df.text))
    errors = wer_details(fixture.reference, " ".join(df.text))
    return {"wer": round(errors.wer, 4), "inserted_words": errors.insertions,
            "words_in_non_speech": sum(words_inside(rows, span) for span in fixture.silences),
            "fallbacks": info["fallbacks"], "dropped_chunks": info["dropped_chunks"], "chunks": info["chunks"],
            "wall_s": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--minutes", type=float, default=6.0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    fixture = assets.with_noise_stretch(assets.asterisk_long(minutes=args.minutes, silence_s=90.0), noise_s=60.0)
    defaults = TranscribeOptions()
    wk.transcribe(str(fixture.path), model=args.model, language="en", progress=False)  # load, warm up
    results: dict[str, list[dict]] = {}
    for condition, (audio, extra) in conditions(fixture).items():
        rows = [{"change": "defaults", **run(fixture, audio, args.model, extra, {})}]
        for name, value in VARIATIONS:
            row = {"change": f"{name}={value} (default {getattr(defaults, name)})",
                   **run(fixture, audio, args.model, extra, {name: value})}
            rows.append(row)
            print(json.dumps(row), flush=True)
        results[condition] = rows

    stamp = dt.datetime.now().strftime("%Y-%m-%d")
    machine = f"{cpu_model()}, {os.cpu_count()} cores, CPU only"
    speech_min = (fixture.turns[-1].end - sum(hi - lo for lo, hi in fixture.silences)) / 60
    print(f"\n{stamp} · {machine} · model {args.model} · {fixture.path.name}: {fixture.turns[-1].end / 60:.1f} min, "
          f"{speech_min:.1f} min of it speech and pauses, 90 s silence + 60 s noise")
    for condition, rows in results.items():
        print(f"\n{condition}\n")
        print("| change | WER | inserted words | words in silence/noise | fallbacks | dropped chunks | wall s |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['change']} | {r['wer'] * 100:.2f}% | {r['inserted_words']} | {r['words_in_non_speech']} | "
                  f"{r['fallbacks']} | {r['dropped_chunks']} of {r['chunks']} | {r['wall_s']} |")
    path = new_result_path(args.out, "thresholds")  # a new file per run: earlier runs are kept
    path.write_text(json.dumps(
        {"date": stamp, "machine": machine, "model": args.model, "file": fixture.path.name, "results": results},
        indent=2))
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
