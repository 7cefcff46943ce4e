"""What a chunk keeps when it fails Whisper's checks at every fallback temperature (2026-12-06).

    .venv/bin/python bench/fallback_keep.py [--models tiny.en,base] [--seeds 5]

openai/whisper keeps the last draw, sampled at temperature 1.0; faster-whisper's sequential pipeline (and
whisperkit_nb since 2026-12-06, `decoding/fallback.py::most_likely`) keeps the try with the highest average
log-probability among those that are not repetition loops. At the default thresholds a chunk rarely fails
every temperature (none did on the development set or the unseen recordings, base), so this bench
forces it: ``logprob_threshold=-0.001`` with ``logprob_fallback=True`` fails every decoding, every chunk goes
through all five temperatures (0.2 ... 1.0), and what it keeps is the rule's choice alone. Word error rate per
seed, on real speech with a reference (the 26 s LibriVox reading, and 1 minute of flite's kal16 voice from the
development set), against
the same run without fallback (``temperature_step=0``). Writes ``results/fallback-keep-<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import whisperkit_nb as wk  # noqa: E402
from devset import dev_files, librivox_concat  # noqa: E402
from machine import cpu_model  # noqa: E402
from result_file import new_result_path  # noqa: E402
from whisperkit_nb.decoding import fallback  # noqa: E402
from whisperkit_nb.scoring.words import wer_details  # noqa: E402

FORCED = dict(logprob_threshold=-0.001, logprob_fallback=True)  # no decoding reaches it, and it sends to fallback


def last_draw(tries, opts):
    """openai/whisper's choice: the last try (temperature 1.0)."""
    return tries[-1]


def run(path: str, reference: str, model: str, **options) -> dict:
    df = wk.transcribe(path, model=model, language="en", progress=False, **options)
    details = wer_details(reference, " ".join(df.text), normalize="english")
    return {"wer": round(details.wer, 4), "errors": details.errors, "fallbacks": df.attrs["files"][path]["fallbacks"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = parser.parse_args()
    kal16 = next(f for f in dev_files(("confirm",)) if f.name == "flite-kal16-1m")
    files = {"librivox-0.5m": librivox_concat(), "flite-kal16-1m": kal16.fixture}
    rows = []
    for model in args.models.split(","):
        for name, fixture in files.items():
            path = str(fixture.path)
            plain = run(path, fixture.reference, model, temperature_step=0.0)
            kept = fallback.most_likely
            for rule in ("most-likely", "last-draw"):
                fallback.most_likely = kept if rule == "most-likely" else last_draw
                try:
                    for seed in range(args.seeds):
                        row = {"model": model, "file": name, "rule": rule, "seed": seed,
                               "no_fallback_wer": plain["wer"], **run(path, fixture.reference, model, seed=seed,
                                                                      **FORCED)}
                        rows.append(row)
                        print(json.dumps(row), flush=True)
                finally:
                    fallback.most_likely = kept

    print(f"\n{dt.datetime.now():%Y-%m-%d %H:%M} · {cpu_model()} · every chunk failing every temperature, "
          f"seeds 0-{args.seeds - 1}\n")
    print("| model | file | WER without fallback | most likely try: WER per seed | last draw: WER per seed |")
    print("|---|---|---|---|---|")
    for model in args.models.split(","):
        for name in files:
            mine = [r for r in rows if r["model"] == model and r["file"] == name]
            per = {rule: ", ".join(f"{r['wer'] * 100:.1f}%" for r in mine if r["rule"] == rule)
                   for rule in ("most-likely", "last-draw")}
            print(f"| {model} | {name} | {mine[0]['no_fallback_wer'] * 100:.1f}% | {per['most-likely']} | "
                  f"{per['last-draw']} |")
    path = new_result_path(args.out, "fallback-keep")
    path.write_text(json.dumps({"date": f"{dt.datetime.now():%Y-%m-%d %H:%M}", "machine": cpu_model(),
                                "forced": FORCED, "rows": rows}, indent=2))
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
