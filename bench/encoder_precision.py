"""Whisper's encoder on a CPU: CTranslate2's int8 (as the engine runs it) against torch in bfloat16 and float32,
speed and distance from float32, on real speech (issue 17; `whisperkit_nb.engines.torch_encoder`).

    .venv/bin/python bench/encoder_precision.py [--model base] [--rows 8] [--rounds 3] [--out bench/results]

Rows are 30 s windows of the LibriVox readings and the Asterisk prompts (log-mel as the pipeline makes it).
Each encoder encodes them one row per call, as the engine does, on torch's thread count; the best of
``--rounds`` is kept. "bfloat16, AMX off" runs the same in a child process with oneDNN held to AVX-512 BF16
(``ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16``): what a CPU with bfloat16 instructions but no AMX tiles gets, which
is why the rule asks for AMX. The distance is the relative Frobenius error of each encoder's output against
transformers' float32 encoder on the same weights. Writes ``encoder_precision-<date>-<HHMM>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from machine import cpu_model, loadavg  # noqa: E402
from result_file import new_result_path  # noqa: E402

AMX_OFF = {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}


def windows(rows: int) -> torch.Tensor:
    """``rows`` log-mel windows of 30 s of real speech: LibriVox first, then Asterisk prompts."""
    import assets

    from whisperkit_nb.audio.log_mel import LogMel
    from whisperkit_nb.audio.source import SAMPLE_RATE, open_audio

    step = 30 * SAMPLE_RATE
    pieces = []
    for fixture in (assets.librivox_concat(), assets.asterisk_long(minutes=6.0)):
        samples = np.concatenate(list(open_audio(str(fixture.path), "error").blocks()))
        pieces += [samples[at : at + step] for at in range(0, len(samples) - step // 2, step)]
    return LogMel(80, torch.device("cpu"))(pieces[:rows])


def best_time(encode, features: torch.Tensor, rounds: int) -> tuple[float, torch.Tensor]:
    out = encode(features[:1])  # warm-up: oneDNN builds its kernels on the first call
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        out = encode(features)
        times.append(time.perf_counter() - started)
    return min(times), out


def measure(model: str, rows: int, rounds: int, only: str | None) -> dict:
    from transformers import WhisperForConditionalGeneration

    from whisperkit_nb.engines.torch_encoder import TorchEncoder, has_amx
    from whisperkit_nb.engines.ct2_weights import converted_dir_for
    from whisperkit_nb.engines.packs import offline_pack_dir
    from whisperkit_nb.engines.registry import load_model, release_models
    from whisperkit_nb.options import TranscribeOptions

    pack = offline_pack_dir(model)
    features = windows(rows)
    bf16 = TorchEncoder.from_ct2(pack)
    if only == "bf16":  # the child process of "bfloat16, AMX off"
        seconds, _ = best_time(bf16, features, rounds)
        return {"seconds": seconds}
    float32 = WhisperForConditionalGeneration.from_pretrained(converted_dir_for(pack), dtype=torch.float32).model.encoder

    def run_float32(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return torch.cat([float32(row[None]).last_hidden_state for row in x])

    engine = load_model(TranscribeOptions(model=model, engine="ctranslate2"))
    engine.torch_encoder = None  # CTranslate2's own int8 encoder, as on an AVX-512 CPU without AMX
    found = {}
    found["float32 (torch)"] = best_time(run_float32, features, rounds)
    found["int8 (CTranslate2)"] = best_time(engine.encode, features, rounds)
    found["bfloat16 (torch)"] = best_time(bf16, features, rounds)
    release_models()
    reference = found["float32 (torch)"][1]
    result = {name: {"seconds": round(seconds, 3), "seconds_per_row": round(seconds / len(features), 3),
                     "relative_error": round(float((out - reference).norm() / reference.norm()), 4)}
              for name, (seconds, out) in found.items()}
    child = subprocess.run([sys.executable, __file__, "--model", model, "--rows", str(rows), "--rounds", str(rounds),
                            "--only", "bf16"], env={**os.environ, **AMX_OFF}, capture_output=True, text=True, check=True)
    seconds = json.loads(child.stdout.strip().splitlines()[-1])["seconds"]
    result["bfloat16 (torch), AMX off"] = {"seconds": round(seconds, 3), "seconds_per_row": round(seconds / rows, 3),
                                          "relative_error": None}
    return {"amx": has_amx(), "encoders": result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--only", choices=["bf16"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    measured = measure(args.model, args.rows, args.rounds, args.only)
    if args.only:
        print(json.dumps(measured))
        return
    stamp = time.strftime("%Y-%m-%d %H:%M")
    machine = f"{cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads, AMX {measured['amx']}"
    print(f"{stamp} · {machine} · model {args.model} · {args.rows} windows of 30 s, one per call, best of "
          f"{args.rounds} · load average {loadavg()}")
    print("| encoder | s | s per window | relative error against float32 |")
    print("|---|---|---|---|")
    for name, row in measured["encoders"].items():
        error = "-" if row["relative_error"] is None else f"{100 * row['relative_error']:.2f}%"
        print(f"| {name} | {row['seconds']} | {row['seconds_per_row']} | {error} |")
    path = new_result_path(args.out, "encoder_precision")
    path.write_text(json.dumps({"date": stamp, "machine": machine, "model": args.model, "rows": args.rows,
                                "rounds": args.rounds, **measured}, indent=2))
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
