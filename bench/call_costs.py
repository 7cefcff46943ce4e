"""What one model call costs on this CPU, taken apart: the levers left once the pipeline keeps every core busy.

    .venv/bin/python bench/call_costs.py [--model base] [--rounds 3] [--no-compile] [--out bench/results]

`bench/stage_times.py` splits a file's time by model call; this splits the calls (issue 17):

- **the torch encoder** (`whisperkit_nb.engines.torch_encoder`, in the dtype the default picks on this CPU), per
  30 s window: as it runs, and under ``torch.compile`` (inductor; its warm-up from a cold cache is timed apart),
  with the largest difference of the outputs; and the profiler's share of its time in matrix products,
  attention and the rest;
- **attention kernels** at the encoder's shape (8 heads x 1500 frames x 64): torch's SDPA (what the encoder
  runs), SDPA's math back end, and attention written out (products and softmax);
- **CTranslate2's alignment pass** (`Whisper.align`, what word times cost): seconds per row on one worker at 5,
  50, 100 and 150 text tokens, with every encoder frame and with half of them. The pass scores every token
  against the whole vocabulary (its per-token probabilities), so its cost per token is mostly that product.

Random encoder input and tokens: the costs depend on shapes, not on the words. Writes
``call-costs-<date>-<HHMM>.json`` (never an existing file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# torch.compile's warm-up from a cold cache, as a user's first run pays it (inductor keeps compiled code there).
os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="call-costs-inductor-")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from machine import cpu_with_encoder  # noqa: E402
from result_file import new_result_path  # noqa: E402

ALIGN_TOKENS = (5, 50, 100, 150)
ALIGN_ROWS = 8


def fastest(call: Callable[[], object], rounds: int) -> tuple[float, object]:
    """The fastest of ``rounds`` timed calls after one untimed, and the last output."""
    out = call()
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        out = call()
        best = min(best, time.perf_counter() - started)
    return best, out


def encoder_costs(model: str, rounds: int, compile_too: bool) -> dict:
    from torch.profiler import profile

    from whisperkit_nb.engines.packs import offline_pack_dir
    from whisperkit_nb.engines.torch_encoder import TorchEncoder, encoder_dtype

    dtype = encoder_dtype("cpu", "auto") or torch.float32  # float32 where CTranslate2 encodes (not measured there)
    encoder = TorchEncoder.from_ct2(offline_pack_dir(model), dtype)
    windows = torch.randn(2, 80, 2 * encoder.frames)
    seconds, eager_out = fastest(lambda: encoder(windows), rounds)
    found: dict = {"dtype": str(dtype).removeprefix("torch."), "eager_s_per_window": round(seconds / 2, 3)}
    with profile() as profiler:
        encoder(windows)
    shares: dict[str, float] = {"matrix products": 0.0, "attention": 0.0, "other": 0.0}
    events = [e for e in profiler.key_averages() if e.key.startswith("aten::")]
    total = sum(e.self_cpu_time_total for e in events)
    for event in events:
        kind = ("attention" if "attention" in event.key else
                "matrix products" if event.key in ("aten::addmm", "aten::mm", "aten::bmm") else "other")
        shares[kind] += event.self_cpu_time_total / total
    found["shares"] = {kind: round(share, 3) for kind, share in shares.items()}
    if compile_too:
        encoder._encode = torch.compile(encoder._encode, dynamic=False)
        started = time.perf_counter()
        encoder(windows[:1])
        found["compile_warmup_s"] = round(time.perf_counter() - started, 1)
        seconds, compiled_out = fastest(lambda: encoder(windows), rounds)
        found["compiled_s_per_window"] = round(seconds / 2, 3)
        found["compiled_max_abs_difference"] = float((compiled_out - eager_out).abs().max())
    return found


def attention_costs(rounds: int) -> dict:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 8, 1500, 64, generator=generator) for _ in range(3))

    def written_out() -> torch.Tensor:
        return torch.matmul(torch.softmax(torch.matmul(q, k.transpose(2, 3)), dim=-1), v)

    def sdpa() -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, scale=1.0)

    def sdpa_math() -> torch.Tensor:
        with sdpa_kernel(SDPBackend.MATH):
            return F.scaled_dot_product_attention(q, k, v, scale=1.0)

    with torch.inference_mode():
        return {name: round(fastest(call, rounds)[0] * 1000, 1)
                for name, call in (("sdpa_ms", sdpa), ("sdpa_math_ms", sdpa_math), ("written_out_ms", written_out))}


def alignment_costs(model: str, rounds: int) -> dict:
    from whisperkit_nb.engines.ctranslate2_engine import _view
    from whisperkit_nb.engines.registry import load_model, release_models
    from whisperkit_nb.options import TranscribeOptions

    engine = load_model(TranscribeOptions(model=model, engine="ctranslate2"))
    width = engine.encode(torch.zeros(1, engine.n_mels, 3000)).shape[-1]  # the encoder's, whatever the model
    encoded = torch.randn(ALIGN_ROWS, 1500, width)
    prompt = engine.tokens.prompt("en", "transcribe")
    found = {}
    for tokens in ALIGN_TOKENS:
        texts = [list(range(400, 400 + tokens))] * ALIGN_ROWS
        for label, mel_frames in (("all frames", 3000), ("half the frames", 1500)):
            seconds, _ = fastest(lambda: engine.ct2.align(_view(encoded), prompt, texts, [mel_frames] * ALIGN_ROWS),
                                 rounds)
            found[f"{tokens} tokens, {label}"] = round(seconds / ALIGN_ROWS * 1000, 1)
    release_models()
    return {"ms_per_row_one_worker": found, "workers": engine.workers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="base")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true", help="leave torch.compile out (its warm-up is long)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    result = {"date": stamp, "machine": cpu_with_encoder(), "model": args.model,
              "encoder": encoder_costs(args.model, args.rounds, not args.no_compile),
              "attention": attention_costs(args.rounds), "alignment": alignment_costs(args.model, args.rounds)}
    path = new_result_path(args.out, "call-costs")
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{stamp} · {result['machine']} · model {args.model} · fastest of {args.rounds} rounds")
    encoder = result["encoder"]
    print(f"\nencoder ({encoder['dtype']}), s a window: as run {encoder['eager_s_per_window']}", end="")
    if "compiled_s_per_window" in encoder:
        print(f", torch.compile {encoder['compiled_s_per_window']} (warm-up {encoder['compile_warmup_s']} s, "
              f"outputs differ by up to {encoder['compiled_max_abs_difference']:.2g})", end="")
    print("; time in " + ", ".join(f"{kind} {share:.0%}" for kind, share in encoder["shares"].items()))
    print("attention at the encoder's shape, ms: " + ", ".join(f"{k[:-3]} {v}" for k, v in result["attention"].items()))
    print("\n| alignment pass, one worker | ms a row |\n|---|---|")
    for label, ms in result["alignment"]["ms_per_row_one_worker"].items():
        print(f"| {label} | {ms} |")
    print(f"\n{path}")


if __name__ == "__main__":
    main()
