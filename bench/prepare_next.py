"""`transcribe([...])` with the next input decoded and planned while one is transcribed, against in turn.

    .venv/bin/python bench/prepare_next.py [--model base] [--rounds 2] [--files a,b,...] [--out bench/results]

`whisperkit_nb.run.transcribe.PREPARE_NEXT` switches it; both modes run on the same list of development-set files
(bench/devset.py), taking turns round by round so a slow spell of the machine hits both, after one warm-up. Per
mode: wall seconds of each round, the median, x real time, and whether every round's words are the same (they
must be: only when the VAD runs changes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

import whisperkit_nb as wk  # noqa: E402
import whisperkit_nb.run.transcribe as run_transcribe  # noqa: E402
from devset import dev_files  # noqa: E402
from machine import cpu_model  # noqa: E402
from result_file import new_result_path  # noqa: E402

DEFAULT_FILES = "flite-slt-6m,flite-rms-fast-6m,espeak-us-6m,asterisk-es-6m,librivox-0.5m"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--files", default=DEFAULT_FILES, help="development-set files, in this order")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    by_name = {f.name: f for f in dev_files(("tune", "confirm"))}
    files = [by_name[name] for name in args.files.split(",")]
    paths = [str(f.fixture.path) for f in files]
    audio_s = sum(f.fixture.duration for f in files)
    options = dict(model=args.model, progress=False)
    wk.transcribe(paths[-1], **options)  # warm-up: the model loaded, the VAD session made

    modes = {"in turn": False, "next prepared ahead": True}
    walls: dict[str, list[float]] = {mode: [] for mode in modes}
    texts: dict[str, list[list[str]]] = {mode: [] for mode in modes}
    for round_ in range(args.rounds):
        for mode, ahead in (modes.items() if round_ % 2 == 0 else reversed(list(modes.items()))):
            run_transcribe.PREPARE_NEXT = ahead
            started = time.perf_counter()
            frame = wk.transcribe(paths, **options)
            walls[mode].append(round(time.perf_counter() - started, 2))
            texts[mode].append(list(frame.text))
            print(json.dumps({"round": round_, "mode": mode, "wall_s": walls[mode][-1]}), flush=True)
    run_transcribe.PREPARE_NEXT = True

    reference = texts["in turn"][0]
    same = all(t == reference for runs in texts.values() for t in runs)
    stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    machine = f"{cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads, CPU only"
    print(f"\n{stamp} UTC · {machine} · model {args.model} · {len(paths)} files, {audio_s / 60:.1f} min · "
          f"{args.rounds} rounds, modes taking turns · same words in every run: {same}")
    print("| mode | wall s per round | median s | x real time |\n|---|---|---|---|")
    medians = {mode: statistics.median(w) for mode, w in walls.items()}
    for mode, w in walls.items():
        print(f"| {mode} | {', '.join(f'{x:.2f}' for x in w)} | {medians[mode]:.2f} | {audio_s / medians[mode]:.1f} |")
    ratio = medians["in turn"] / medians["next prepared ahead"]
    print(f"\nnext prepared ahead / in turn: {ratio:.3f}x faster")
    path = new_result_path(args.out, "prepare-next")
    path.write_text(json.dumps({"date": stamp, "machine": machine, "model": args.model, "files": args.files.split(","),
                                "audio_s": round(audio_s, 1), "walls": walls, "medians": medians,
                                "speedup": round(ratio, 3), "same_words": same}, indent=2))
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
