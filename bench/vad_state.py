"""Can the VAD of one long file run in parallel over blocks without changing its results?

    .venv/bin/python bench/vad_state.py [--warmups 5,30,60] [--out bench/results]

Silero VAD carries an LSTM state from frame to frame through the whole file. Splitting a file into blocks
that run at once means starting each block from a fresh state, with some seconds of audio before it as a
warm-up. This measures how far the probabilities after such a warm-up still are from the sequential pass's,
at several points of development-set files: if they converged to the same numbers, blocks could run in
parallel and give the same chunk plans. Each point: the 30 s after the warm-up; max and mean absolute
difference, and the frames that land on the other side of the speech threshold (0.5) or of the silence
threshold (0.35, `vad.quiet_below`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import devset  # bench/ is on sys.path (above)
from machine import cpu_model  # bench/ is on sys.path (above)
from result_file import new_result_path  # bench/ is on sys.path (above)

from whisperkit_nb.audio.source import SAMPLE_RATE, open_audio
from whisperkit_nb.speech import vad

FILES = ("flite-slt-6m", "flite-awb-slow-18m", "espeak-us-6m", "asterisk-es-6m")
POINTS_S = (100.0, 211.0, 307.0)  # block starts, seconds into each file (every file is at least 6 min long)
AFTER_S = 30.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warmups", default="5,30,60", help="seconds of audio before each block's start")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = parser.parse_args()
    warmups = [float(w) for w in args.warmups.split(",")]
    high, low = 0.5, vad.quiet_below(0.5)

    rows = []
    for dev in (f for f in devset.dev_files() if f.name in FILES):
        samples = np.concatenate(list(open_audio(str(dev.fixture.path)).blocks()))
        sequential = vad.speech_probabilities([samples])
        for point in POINTS_S:
            for warmup in warmups:
                first = int((point - warmup) * SAMPLE_RATE) // vad.FRAME_SAMPLES  # frame where the block's state starts
                skip = int(warmup * SAMPLE_RATE) // vad.FRAME_SAMPLES
                count = int(AFTER_S * SAMPLE_RATE) // vad.FRAME_SAMPLES
                piece = samples[first * vad.FRAME_SAMPLES : (first + skip + count) * vad.FRAME_SAMPLES]
                fresh = vad.speech_probabilities([piece])[skip : skip + count]
                same = sequential[first + skip : first + skip + count]
                diff = np.abs(fresh - same)
                rows.append({"file": dev.name, "block_start_s": point, "warmup_s": warmup,
                             "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
                             "identical": bool(diff.max() == 0),
                             "frames_across_speech_threshold": int(np.sum((fresh >= high) != (same >= high))),
                             "frames_across_silence_threshold": int(np.sum((fresh < low) != (same < low)))})
                print(f"{dev.name:20s} {point:5.0f} s  warm-up {warmup:4.0f} s  max {diff.max():.2e}", file=sys.stderr)

    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": cpu_model(),
              "vad_model": vad._model_path().name, "after_s": AFTER_S, "rows": rows}
    path = new_result_path(args.out, "vad-state")
    path.write_text(json.dumps(result, indent=1))
    print(f"\n{result['date']} · {result['machine']} · {AFTER_S:g} s after each warm-up\n")
    print("| warm-up s | points | identical | max abs diff (worst point) | mean abs diff (mean) | frames across 0.5 | "
          "frames across 0.35 |")
    print("|---|---|---|---|---|---|---|")
    for warmup in warmups:
        sel = [r for r in rows if r["warmup_s"] == warmup]
        print(f"| {warmup:g} | {len(sel)} | {sum(r['identical'] for r in sel)} | "
              f"{max(r['max_abs_diff'] for r in sel):.3f} | {np.mean([r['mean_abs_diff'] for r in sel]):.4f} | "
              f"{sum(r['frames_across_speech_threshold'] for r in sel)} | "
              f"{sum(r['frames_across_silence_threshold'] for r in sel)} |")
    print(f"\nJSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
