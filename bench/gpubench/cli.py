"""The command line of `bench/gpu.py`: parse, pick the mode, write the JSON, print the table last."""

from __future__ import annotations

import argparse
from pathlib import Path

from gpubench.common import RESULTS, log, resolve_device
from gpubench.systems import SYSTEMS


def build_parser(doc: str) -> argparse.ArgumentParser:
    """The options of every mode (``doc``, gpu.py's docstring, is the help text's epilog)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=doc)
    parser.add_argument("--model", default=None, help="large-v3 (default on GPUs), large-v3-turbo, distil-large-v3, "
                        "medium, tiny-random (random weights), or a real model (tiny.en, base: default on CPU)")
    parser.add_argument("--minutes", type=float, default=None, help="audio length (default 150 on GPUs, 5 on CPU)")
    parser.add_argument("--silence-s", type=float, default=0.0, help="one long silence inserted (default none)")
    parser.add_argument("--systems", default="all", help=f"comma list from {', '.join(SYSTEMS)}")
    parser.add_argument("--tokens-per-window", type=int, default=110)
    parser.add_argument("--force-tokens", action="store_true", help="force tokens for real weights too")
    parser.add_argument("--batch-size", type=int, default=None, help="whisperkit batch size (default: automatic)")
    parser.add_argument("--hf-batch-size", type=int, default=24, help="the pipeline's (insanely-fast-whisper: 24)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--input", choices=("auto", "file", "array"), default="auto",
                        help="file: whisperkit reads the file itself (needs av); array: every system gets the "
                        "samples decoded once")
    parser.add_argument("--warmup-s", type=float, default=0.0, help="warm-up audio per system (60 s GPU, 20 s CPU)")
    parser.add_argument("--compile-backend", default="inductor", help="torch.compile backend for compile=True "
                        "(inductor = the library's own choice; eager = static cache without code generation)")
    parser.add_argument("--time-budget-s", type=float, default=0.0, help="skip systems not started by then")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's; --smoke: 1, "
                        "which also keeps a shared CPU from thrashing)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--smoke", action="store_true", help="tiny random model, 1 min, every system, CPU")
    parser.add_argument("--make-audio-pack", action="store_true")
    parser.add_argument("--check-text", action="store_true")
    parser.add_argument("--text-models", default="tiny.en,base")
    parser.add_argument("--text-minutes", type=float, default=5.0)
    parser.add_argument("--memory-scan", action="store_true")
    parser.add_argument("--minutes-list", default=None, help="memory scan lengths (default 10,60,180 CPU; 30,150 GPU)")
    parser.add_argument("--scan-compile", action="store_true", help="memory scan with compile=True (default on GPUs)")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None, doc: str = __doc__) -> int:
    """Run one mode; exit status 1 when a system failed (a stage timer that cannot attach fails its system)
    or forcing did not give every window the same number of tokens."""
    args = build_parser(doc).parse_args(argv)
    if args.make_audio_pack:
        from gpubench.audio import make_audio_pack

        make_audio_pack()
        return 0
    import torch

    gpu = resolve_device(args.device).startswith("cuda")
    if args.smoke:
        args.model = args.model or "tiny-random"
        args.minutes = args.minutes or 1.0
        args.device = "cpu" if args.device == "auto" else args.device
        args.compile_backend = "eager" if args.compile_backend == "inductor" else args.compile_backend
        args.warmup_s = args.warmup_s or 10.0
        args.threads = args.threads or 1
        gpu = False
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        from gpubench.memory_scan import memory_child

        memory_child(args)
        return 0
    from gpubench import report

    out = Path(args.out)
    ok = True
    if args.check_text:
        from gpubench.text_check import check_text

        result = check_text(args)
        table = report.text_table(result)
        path = report.write_result(result, out, "check-text", table)
    elif args.memory_scan:
        from gpubench.memory_scan import memory_scan

        args.model = args.model or ("large-v3" if gpu else "tiny.en")
        args.minutes_list = args.minutes_list or ("30,150" if gpu else "10,60,180")
        args.scan_compile = args.scan_compile or gpu
        result = memory_scan(args)
        table = report.memory_table(result)
        path = report.write_result(result, out, f"memory-{args.model}", table)
    else:
        from gpubench.throughput import succeeded, throughput

        args.model = args.model or ("large-v3" if gpu else "base")
        args.minutes = args.minutes or (150.0 if gpu else 5.0)
        torch.manual_seed(0)
        name = ("smoke-" if args.smoke else "") + args.model
        result = throughput(args, save=lambda partial, table: report.write_result(partial, out, name, table))
        table = report.throughput_table(result)
        path = report.write_result(result, out, name, table)
        ok = succeeded(result)
    log(f"wrote {path}")
    print(table, flush=True)
    return 0 if ok else 1
