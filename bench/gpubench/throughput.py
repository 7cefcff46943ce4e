"""Throughput mode: every system on the same audio, one after another, in one process."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import time
import traceback
from collections.abc import Callable
from typing import Any

from gpubench import ours
from gpubench.audio import audio_fixture, ensure_vad_model, read_samples
from gpubench.common import device_name, log, resolve_device
from gpubench.forcing import ForcedTokens
from gpubench.models import is_random, model_dir
from gpubench.report import throughput_table
from gpubench.systems import LABELS, SYSTEMS, Setup, release, run_system


def throughput(args, save: Callable[[dict, str], Any] | None = None) -> dict:
    import torch
    import transformers

    device = resolve_device(args.device)
    cuda = device.startswith("cuda")
    vad_source = ensure_vad_model()
    fixture = audio_fixture(args.minutes, args.silence_s)
    duration = fixture.duration
    input_mode = args.input
    if input_mode == "auto":
        input_mode = "file" if importlib.util.find_spec("av") is not None else "array"
    path = model_dir(args.model, device)
    started = time.perf_counter()
    samples = read_samples(fixture.path)
    decode_once = time.perf_counter() - started
    forced = None
    if is_random(args.model) or args.force_tokens:
        from transformers import AutoTokenizer

        forced = ForcedTokens(AutoTokenizer.from_pretrained(path), args.tokens_per_window)
    setup = Setup(
        model=args.model, model_path=path, device=device, dtype="float16" if cuda else "float32",
        audio_path=fixture.path, duration=duration, input_mode=input_mode, samples=samples,
        decode_once_s=decode_once, forced=forced, hf_batch_size=args.hf_batch_size,
        batch_size=args.batch_size, warmup_s=args.warmup_s if args.warmup_s else (60.0 if cuda else 20.0),
        compile_backend=args.compile_backend, language="en", cuda=cuda,
    )
    header = {
        "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "device": device_name(device),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "model": args.model,
        "weights": "random (bench/configs), decoding forced" if is_random(args.model) else "real (offline pack)",
        "tokens_per_window": forced.n if forced else None,
        "audio": f"{fixture.path.name}: {duration / 60:.1f} min of Asterisk English prompts with natural gaps",
        "input": input_mode,
        "decode_once_s": round(decode_once, 2),
        "vad_model": vad_source,
        "flash_attn": "installed" if importlib.util.find_spec("flash_attn") is not None else "not installed",
    }
    log("bench:", json.dumps(header))
    deadline = time.perf_counter() + args.time_budget_s if args.time_budget_s else None
    rows: dict[str, dict] = {}
    systems = [s.strip() for s in args.systems.split(",")] if args.systems != "all" else list(SYSTEMS)
    unknown = sorted(set(systems) - set(SYSTEMS))
    if unknown:
        raise SystemExit(f"unknown system(s) {', '.join(unknown)}; choose from {', '.join(SYSTEMS)}")
    for key in systems:
        if deadline is not None and time.perf_counter() > deadline:
            rows[key] = {"status": "skipped: --time-budget-s spent", "notes": []}
            continue
        log(f"{key}: {LABELS[key]} ...")
        try:
            rows[key] = run_system(key, setup)
        except Exception as err:  # noqa: BLE001 - one failing system must not lose the others' numbers
            traceback.print_exc()
            rows[key] = {"status": f"failed: {type(err).__name__}: {err}"[:400], "notes": []}
            release(setup)
        rows[key]["label"] = LABELS[key]
        rows[key].pop("text", None)
        log(f"  {key}: " + json.dumps(rows[key]))
        if save is not None:  # every finished row is on disk, should the run be killed at its time limit
            partial = {"mode": "throughput", **header, "minutes": round(duration / 60, 2), "systems": dict(rows),
                       "complete": False}
            check_forced(partial)
            save(partial, throughput_table(partial))
        profile_dir = os.environ.get(ours.PROFILE_DIR_ENV)
        if key == "wk-best" and profile_dir and rows[key].get("status") == "ok":
            # After the row is saved: a profile cut short by the step's time limit costs no number.
            try:
                rows[key]["profile"] = ours.profile_best(setup, profile_dir)
                log(f"  {key}: profile written to {rows[key]['profile']}")
            except Exception:  # noqa: BLE001 - the profile is an extra; the row stands
                traceback.print_exc()
    result = {"mode": "throughput", **header, "minutes": round(duration / 60, 2), "systems": rows, "complete": True}
    check_forced(result)
    return result


def check_forced(result: dict) -> None:
    """Every decoded window of every system got exactly the forced number of tokens."""
    n = result.get("tokens_per_window")
    if not n:
        return
    counts = {k: r.get("windows") for k, r in result["systems"].items() if r.get("status") == "ok"}
    bad = {k: w for k, w in counts.items() if not w or set(w) != {n}}
    result["forced_tokens_check"] = "ok" if not bad else f"FAILED: {bad}"


def succeeded(result: dict) -> bool:
    """No system failed (a timer that could not attach fails its system) and forcing held everywhere."""
    failed = [k for k, r in result["systems"].items() if r.get("status", "").startswith("failed")]
    return not failed and result.get("forced_tokens_check", "ok") == "ok"
