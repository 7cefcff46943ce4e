"""The lent-GPU check (issue 17, section 4): every GPU table in one call of under 8 minutes.

    bench/gpu_check.sh                       # on the GPU machine (installs the carried wheels, then runs this)
    bench/gpu_check.sh --cpu-rehearsal       # here: every step's code path, small models, 1-2 min of audio
    python3 bench/gpu_check.py --out DIR [--cpu-rehearsal] [--deadline EPOCH_S] [--steps a,b]

Steps, most important first, each a child process with its own time limit (its process group is killed at
the limit; whatever it wrote is kept), all inside one overall deadline; a step that cannot run on this
machine (no real weights, no carried clips, too little time left) is reported "not measured: <reason>":

1. throughput-large-v3        bench/gpu.py --model large-v3: the insanely-fast-whisper method (transformers
                              pipeline, fp16, SDPA, batch 24; flash-attn row if installed) and whisperkit_nb's
                              best, 30 min of audio, random weights, the same forced tokens (gpu.py's own method)
2. throughput-large-v3-turbo  the same with large-v3-turbo
3. prep                       bench/prep.py: many 1-minute 16 kHz wavs prepared (decode, resample, VAD, plan) by 1,
                              4 and 16 worker processes, and one 3-minute file stage by stage
4. memory-10min, -30min,     bench/gpu.py --memory-scan (large-v3-turbo, the library's GPU default), one
   -60min                     length per step: peak GPU memory and RSS of one transcribe(file) (60 min: two
                              batches of 64 chunks, so flatness past one full batch shows)
5. check-text                 bench/gpu.py --check-text on the real weights found on the machine
6. corpus-a                   bench/corpus.py case (a) on the GPU (device auto): a few clips as a corpus, a
                              loop and one file, 3 rounds in rotating order; real weights if found, else random
                              large-v3-turbo forced

Writes under --out (the device tool's $OUT): gpu-check.md (what was found, the summary, every step's table),
gpu-check.json (the same and every step's full JSON), rewritten after each step; gpu_check.sh adds
gpu-check.log; the large-v3-turbo throughput step adds profile-large-v3-turbo.txt (profile-tiny.en.txt in the
rehearsal): wk-best once more under cProfile, after its row is saved. Per-step raw files go to --work (default /tmp/gpu-check-work), outside $OUT, because the device
tool brings back at most 8 files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
GPU_PY = BENCH / "gpu.py"
CORPUS_CLIPS_GPU = 4  # case (a) clips on the GPU (30-45 s each; carried, see gpu_check_wheels.sh)
CORPUS_SEED = 0
PACKAGES = ("av", "silero_vad", "onnxruntime", "pandas", "pyarrow", "tqdm", "numpy", "huggingface_hub",
            "ctranslate2", "faster_whisper", "flash_attn", "whisper")
REAL_CANDIDATES = ("tiny.en", "base", "large-v3-turbo", "large-v3")
PROFILE_DIR_ENV = "GPUBENCH_PROFILE_DIR"  # read by gpubench.ours (its PROFILE_DIR_ENV), in the step's child


def log(*parts) -> None:
    print(f"[gpu-check {time.strftime('%H:%M:%S')}]", *parts, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# Probe (a child process, so the orchestrator never holds a CUDA context while the steps run)


def probe_child() -> None:
    info: dict = {"python": sys.version.split()[0], "executable": sys.executable, "cpu_count": os.cpu_count()}
    try:
        info["disk_free_gib"] = round(shutil.disk_usage(REPO).free / 2**30, 1)
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    info["packages"] = {}
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        where = "missing"
        if spec is not None:
            where = "present"
            if name == "whisper":  # only its normaliser's spelling table is used (whisperkit_nb.scoring)
                locs = list(spec.submodule_search_locations or [])
                where = ("normaliser table present" if any((Path(p) / "normalizers" / "english.json").is_file()
                                                           for p in locs) else "present, no normaliser table")
        info["packages"][name] = where
    import torch
    import transformers

    info["torch"] = torch.__version__
    info["transformers"] = transformers.__version__
    info["cuda"] = torch.cuda.is_available()
    if info["cuda"]:
        free, total = torch.cuda.mem_get_info()
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_free_gib"] = round(free / 2**30, 1)
        info["gpu_total_gib"] = round(total / 2**30, 1)
        info["gpu_capability"] = f"{props.major}.{props.minor}"
        info["gpu_sms"] = props.multi_processor_count
    sys.path.insert(0, str(BENCH))
    from gpubench.common import CONFIGS, PACK_DIR
    from gpubench.models import RANDOM_MODELS

    info["random_weight_configs"] = [m for m in RANDOM_MODELS if (CONFIGS / f"{m}.json").is_file()]
    real: dict[str, str] = {}
    from whisperkit_nb.engines.weights import resolve_model

    for name in REAL_CANDIDATES:
        try:
            resolved = resolve_model(name)
            real[name] = f"present ({resolved.source}: {resolved.path})"
        except Exception as err:  # noqa: BLE001 - absent weights are the common case here
            real[name] = f"absent ({type(err).__name__}: {str(err).splitlines()[0][:120]})"
    info["real_weights"] = real
    try:  # anything Whisper-like in the Hugging Face cache, whatever its name
        from huggingface_hub import scan_cache_dir

        info["hf_cache_whisper"] = sorted(r.repo_id for r in scan_cache_dir().repos if "whisper" in r.repo_id.lower())
    except Exception as err:  # noqa: BLE001
        info["hf_cache_whisper"] = f"no cache ({type(err).__name__})"
    info["audio_pack"] = "present" if (PACK_DIR / "prompts.json").is_file() else "missing"
    import assets

    try:
        assets.asterisk_prompts("en")
        info["asterisk_prompts"] = "Debian files present"
    except Exception:  # noqa: BLE001 - assets.MissingAssetError where the Debian packages are not installed
        info["asterisk_prompts"] = "absent (the audio pack stands in)"
    folder = corpus_folder(CORPUS_CLIPS_GPU)
    info["corpus_clips"] = f"{folder.name}: {'present' if (folder / 'references.json').is_file() else 'missing'}"
    print(json.dumps(info), flush=True)


def corpus_folder(clips: int, quick: bool = False) -> Path:
    sys.path.insert(0, str(REPO / "tests"))
    import assets

    seconds = "8-12s" if quick else "30-45s"
    return assets.FIXTURE_DIR / "bench_corpus" / f"clips_{clips}x{seconds}_seed{CORPUS_SEED}_v2"


# --------------------------------------------------------------------------------------------------
# The corpus step's child: bench/corpus.py case (a), its model swapped (and forced when the weights are random)


def corpus_child(args) -> int:
    sys.path.insert(0, str(BENCH))
    import corpus  # bench/corpus.py
    from gpubench.audio import ensure_vad_model
    from gpubench.common import resolve_device
    from gpubench.forcing import ForcedTokens, forced_library_decoding
    from gpubench.models import is_random, model_dir

    ensure_vad_model()  # silero-vad, or a stub around the carried ONNX file
    device = resolve_device("auto")  # what corpus.py's transcribe calls pick (device="auto")
    # Three rounds in rotating order on the GPU (the median): with one, the first run carries the first batch of
    # its shape after a one-chunk warm-up (2026-12-04: one file 5.2 s against 1.5 s for the same chunks as a corpus).
    argv = ["corpus.py", "--cases", "a", "--rounds", "1" if args.quick else "3", "--out", args.corpus_out]
    argv += ["--quick"] if args.quick else ["--clips", str(args.clips)]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    sys.argv = argv
    if not is_random(args.model):
        corpus.MODEL = args.model
        return corpus.main()
    path = model_dir(args.model, device)
    corpus.MODEL = str(path)
    from transformers import AutoTokenizer

    forced = ForcedTokens(AutoTokenizer.from_pretrained(path), 110)
    with forced_library_decoding(forced):
        rc = corpus.main()
    if forced.applied == 0:
        log("corpus: forcing never applied (the engine that ran is not the transformers engine)")
        return 1
    return rc


# --------------------------------------------------------------------------------------------------
# Orchestration


class Step:
    def __init__(self, name: str, title: str, cap_s: float, command: list[str] | None, *, min_s: float = 20.0,
                 skip: str | None = None, kind: str = "gpu", extra: dict | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.name, self.title, self.cap_s, self.command = name, title, cap_s, command
        self.min_s, self.skip, self.kind, self.extra, self.env = min_s, skip, kind, extra or {}, env or {}


def run_child(command: list[str], limit_s: float, logfile: Path,
              env: dict[str, str] | None = None) -> tuple[int | None, float]:
    """Run one step in its own process group; kill the group at the limit. (rc or None on timeout, seconds)."""
    started = time.perf_counter()
    log(f"$ {' '.join(command)}   (limit {limit_s:.0f} s)")
    with open(logfile, "w") as captured:
        # Output goes to our stderr (gpu_check.sh tees it into gpu-check.log) and to the step's own file.
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO,
                                start_new_session=True, env={**os.environ, **(env or {})})

        def copy() -> None:
            for line in iter(proc.stdout.readline, b""):
                sys.stderr.buffer.write(line)
                sys.stderr.flush()
                captured.write(line.decode("utf-8", "replace"))

        copier = threading.Thread(target=copy, daemon=True)
        copier.start()
        timed_out = False
        try:
            proc.wait(timeout=max(1.0, limit_s))
        except subprocess.TimeoutExpired:
            timed_out = True
            log(f"time limit {limit_s:.0f} s reached: killing the step's process group")
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=5)
                    break
                except subprocess.TimeoutExpired:
                    continue
        rc = proc.wait()
        try:  # a grandchild left holding the pipe must not keep us waiting
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        copier.join(timeout=5)
    return (None if timed_out else rc), time.perf_counter() - started


def newest_json(folder: Path) -> dict | None:
    files = sorted(glob.glob(str(folder / "*.json")), key=os.path.getmtime)
    if not files:
        return None
    try:
        return json.loads(Path(files[-1]).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def summarize(step: Step, result: dict | None) -> tuple[str, str]:
    """(status refinement, the key numbers) of a step's result JSON."""
    if result is None:
        return "", "no result file"
    if step.kind == "throughput":
        rows = result.get("systems", {})
        parts = []
        base = rows.get("ifw-sdpa", {})
        for key, r in rows.items():
            if r.get("status") == "ok":
                gib = r.get("peak_gpu_bytes")
                parts.append(f"{key} {r['x_real_time']}x RT" + (f", {gib / 2**30:.1f} GiB" if gib else ""))
            else:
                parts.append(f"{key}: {r.get('status', '?')[:80]}")
        best = rows.get("wk-best", {})
        if base.get("status") == "ok" and best.get("status") == "ok":
            parts.append(f"wk-best / ifw-sdpa = {base['wall_s'] / best['wall_s']:.2f}x")
        parts.append(f"forced tokens: {result.get('forced_tokens_check', '-')}")
        partial = "" if result.get("complete") else "partial"
        return partial, "; ".join(parts)
    if step.kind == "memory":
        parts = []
        for r in result.get("rows", []):
            if "status" in r:
                parts.append(f"{r['minutes']:g} min: {r['status']}")
            else:
                parts.append(f"{r['minutes']:g} min: peak GPU {r.get('peak_gpu_mib') or '-'} MiB, peak RSS "
                             f"{r['peak_rss_mib']} MiB, {r['x_real_time']}x RT, batch {r['batch_size']}")
        return "", "; ".join(parts)
    if step.kind == "text":
        parts = []
        for model, block in result.get("models", {}).items():
            rows = block["rows"]
            same = sum(1 for r in rows if r["identical"] is True)
            parts.append(f"{model}: {same}/{len(rows)} variants identical")
        return "", "; ".join(parts)
    if step.kind == "prep":
        rows = result.get("corpus", [])
        parts = [f"{r['workers']} {r['mode']}: {r['prep_x']}x RT ({r['prep_x_per_cpu_s']} audio s per CPU s)"
                 for r in rows]
        stages = result.get("long_file_stages", [])
        parts += [f"one file: decode {r['decode_s']} s, VAD {r['vad_s']} s per {r['audio_s'] / 60:g} min" for r in stages]
        parts += [f"its VAD on {r['threads']} threads {r['vad_s']} s ({r['vad_speedup']}x), prepare_input "
                  f"{r['prepare_input_s']} s ({r['prepare_speedup']}x)" for r in result.get("vad_threads", [])]
        return ("" if not result.get("mismatches") else "MISMATCH"), "; ".join(parts)
    if step.kind == "corpus":
        a = result.get("case_a", {})
        if not a:
            return "partial", "no case (a) in the result"
        return "", (f"{a['clips']} clips, corpus / one file {a['ratio_corpus_vs_one_file']:.2f}x wall, loop / one "
                    f"file {a['ratio_loop_vs_one_file']:.2f}x; " + ", ".join(
                        f"{k} {a['one_file_audio_s' if k == 'one file' else 'audio_s'] / r['wall_s']:.1f}x RT"
                        for k, r in a["runs"].items()))
    return "", ""


def step_table(step: Step, result: dict | None) -> str:
    if result is None:
        return ""
    if "table" in result:  # bench/gpu.py puts its markdown table into the JSON
        return result["table"]
    if step.kind == "corpus" and "case_a" in result:
        sys.path.insert(0, str(BENCH))
        import corpus

        note = step.extra.get("note", "")
        return (f"{result.get('date')} · model {step.extra.get('model')} · torch threads "
                f"{result.get('torch_threads')} · {result.get('engine_loaded')}{note}\n\n" + corpus.table_a(result["case_a"]))
    return ""


def found_lines(probe: dict, header: dict) -> list[str]:
    """What the machine has: GPU, free memory, versions, packages, weights, audio."""
    lines = [f"# GPU check · {header['date']} · {header['mode']}", ""]
    if "error" in probe:
        lines.append(f"probe: {probe['error']}")
    if probe.get("cuda"):
        lines.append(f"GPU: {probe.get('gpu')} (compute {probe.get('gpu_capability')}, {probe.get('gpu_sms')} SMs), "
                     f"{probe.get('gpu_free_gib')} of {probe.get('gpu_total_gib')} GiB free at start")
    else:
        lines.append("GPU: none (CUDA not available): " + ("a CPU rehearsal of the code paths, no GPU numbers"
                                                           if "rehearsal" in header["mode"] else "no GPU rows"))
    lines.append(f"python {probe.get('python')} · torch {probe.get('torch')} · transformers "
                 f"{probe.get('transformers')} · {probe.get('cpu_count')} CPUs · disk free {probe.get('disk_free_gib')} "
                 f"GiB · load average {probe.get('load_average')}")
    lines.append("packages: " + ", ".join(f"{k} {v}" for k, v in probe.get("packages", {}).items()))
    lines.append("real weights: " + ", ".join(f"{k} {v.split(' (')[0]}" for k, v in probe.get("real_weights", {}).items())
                 + f" · Whisper repos in the HF cache: {probe.get('hf_cache_whisper')}")
    lines.append(f"random-weight configs: {', '.join(probe.get('random_weight_configs', []))} · audio pack "
                 f"{probe.get('audio_pack')} · Asterisk prompts {probe.get('asterisk_prompts')} · corpus clips "
                 f"{probe.get('corpus_clips')} · deadline {header['deadline_utc']} UTC")
    return lines


def write_report(out: Path, probe: dict, rows: list[dict], header: dict) -> None:
    lines = found_lines(probe, header)
    lines += ["", "## Summary", "", "| step | what | status | s | numbers |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['step']} | {r['title']} | {r['status']} | {r.get('seconds', '-')} | {r.get('numbers', '')} |")
    measured = [r["step"] for r in rows if r["status"].startswith("measured")]
    lines += ["", (f"measured: {', '.join(measured) or 'none'} · not measured: "
              f"{', '.join(r['step'] for r in rows if not r['status'].startswith('measured')) or 'none'}")]
    for r in rows:
        if r.get("table"):
            lines += ["", f"## {r['step']}: {r['title']}", "", r["table"]]
    tmp = out / "gpu-check.md.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, out / "gpu-check.md")
    tmp = out / "gpu-check.json.tmp"
    tmp.write_text(json.dumps({**header, "probe": probe, "steps": rows}, indent=1, default=str))
    os.replace(tmp, out / "gpu-check.json")


def plan(args, probe: dict, py: str, work: Path) -> list[Step]:
    cpu = args.cpu_rehearsal
    gpu = bool(probe.get("cuda"))
    steps: list[Step] = []
    no_gpu = None if (gpu or cpu) else "no CUDA GPU on this machine (run with --cpu-rehearsal to rehearse)"
    low_memory = None
    if gpu and probe.get("gpu_free_gib", 0) < 12:
        low_memory = f"only {probe.get('gpu_free_gib')} GiB of GPU memory free (large-v3 in fp16 needs about 12)"

    def gpu_py(*extra: str) -> list[str]:
        return [py, str(GPU_PY), *extra]

    # 1-2: throughput, the same audio and forced tokens for every system of a run (gpu.py's own method).
    # Limits in seconds: (GPU, CPU rehearsal).
    # large-v3's compiled decoder warmed up for more than the 190 s its step had on the H200 (2026-12-04), so it
    # gets the most time, and its wk-no-compile row (seconds of warm-up) runs before wk-best: a ratio against the
    # pipeline method on large-v3 is measured even when the compile warm-up outlasts the step.
    for model, caps, rehearsal_model in (("large-v3", (280, 120), "tiny-random"),
                                         ("large-v3-turbo", (120, 120), "tiny.en")):
        cap = caps[cpu]
        name = f"throughput-{model}"
        folder = work / name
        if cpu:
            # Random tiny model (the GPU rows' path: random weights + forcing), then real tiny.en forced; small
            # batches, 1.5 min, the "eager" compile backend (static cache without inductor, as --smoke).
            extra = ["--model", rehearsal_model, "--minutes", "1.5", "--device", "cpu", "--compile-backend", "eager",
                     "--threads", "1", "--warmup-s", "10", "--batch-size", "4", "--hf-batch-size", "4"]
            if rehearsal_model != "tiny-random":
                extra.append("--force-tokens")
            skip = None
            if rehearsal_model == "tiny.en" and not probe.get("real_weights", {}).get("tiny.en", "").startswith("present"):
                skip = "tiny.en weights absent here"
        else:
            extra = ["--model", model, "--minutes", "30", "--hf-batch-size", "24", "--device", "cuda"]
            skip = no_gpu or low_memory
        # --time-budget-s: gpu.py skips a system not started by then (filled in from the step's real limit).
        systems = "ifw-sdpa,ifw-fa2,wk-no-compile,wk-best" if model == "large-v3" else "ifw-sdpa,ifw-fa2,wk-best"
        command = gpu_py(*extra, "--systems", systems, "--out", str(folder),
                         "--time-budget-s", "{budget}")
        # large-v3-turbo's wk-best then runs once more under cProfile (after its row is saved): profile-<model>.txt
        # in --out says where the calling thread's time outside the timed stages ("other") goes.
        profile = {PROFILE_DIR_ENV: str(Path(args.out).resolve())} if model == "large-v3-turbo" else None
        steps.append(Step(name, f"{model if not cpu else rehearsal_model}: insanely-fast-whisper method vs "
                          "whisperkit_nb best, same audio, same forced tokens", cap, command, skip=skip,
                          kind="throughput", min_s=60 if not cpu else 20, env=profile))
    # 3: preparation on this machine's cores (bench/prep.py: decode + resample + VAD + plan of many 1-minute wavs in
    # 1, 4 and 16 worker processes), the "prep table on the GPU machine's cores". It runs before the memory
    # steps, which have been measured in both leases, while prep on 16 cores has only a partial, unexplained single
    # round (2026-12-04 16:36). Its case 4 (one file's VAD on k threads) wants a file of several 30 s calls per
    # thread: 6 minutes, 12 calls.
    workers = "1,2" if cpu else "1,4,16"
    extra = ["--minutes", "2" if cpu else "16", "--file-minutes", "0.5" if cpu else "1", "--long-minutes",
             "1" if cpu else "6", "--workers", workers, "--modes", "processes", "--formats", "wav", "--rounds", "1",
             "--out", str(work / "prep")]
    steps.append(Step("prep", f"bench/prep.py: 16 kHz wav prepared by {workers} worker processes, one round",
                      100 if cpu else 110, [py, str(BENCH / "prep.py"), *extra], kind="prep", min_s=45))
    # 4: memory against length, one length per step so a slow 30 min cannot lose the 10 min row.
    mem_model = "tiny.en" if cpu else "large-v3-turbo"
    # On the GPU gpu.py's memory scan always runs compile=True; the "eager" torch.compile backend (static KV
    # cache, no inductor code generation) keeps each child's warm-up to seconds (GPU_CHECK_MEMORY_BACKEND=inductor
    # for the library's own backend, a minute or more per length).
    backend = os.environ.get("GPU_CHECK_MEMORY_BACKEND", "eager")
    # 60 min: two batches of 64 chunks where 30 min fills one, so flat memory in audio length shows from 30 to 60.
    for minutes, rehearsal_minutes, caps in ((10, 1, (55, 90)), (30, 2, (60, 100)), (60, 3, (70, 110))):
        m = rehearsal_minutes if cpu else minutes
        cap = caps[cpu]
        folder = work / f"memory-{minutes}min"
        extra = ["--memory-scan", "--model", mem_model, "--minutes-list", str(m), "--out", str(folder)]
        # The rehearsal runs the GPU's path too: compile=True through the eager backend.
        extra += (["--device", "cpu", "--threads", "1", "--scan-compile", "--compile-backend", "eager"] if cpu else
                  ["--device", "cuda", "--compile-backend", backend])
        skip = no_gpu
        if cpu and not probe.get("real_weights", {}).get("tiny.en", "").startswith("present"):
            skip = "tiny.en weights absent here"
        steps.append(Step(f"memory-{minutes}min", f"peak GPU memory and RSS, {mem_model}, {m:g} min of audio, "
                          "one transcribe(file), compile=True (torch.compile backend " + ("eager" if cpu else backend) + ")",
                          cap, gpu_py(*extra), skip=skip, kind="memory", min_s=30))
    # 5: the real-weight text identity check.
    present = [m for m, v in probe.get("real_weights", {}).items() if v.startswith("present")]
    text_models = (["tiny.en"] if "tiny.en" in present else present[:1]) if cpu else present[:2]
    skip = no_gpu
    if not text_models:
        skip = ("no real Whisper weights on this machine (none in the HF cache; the offline packs, tiny.en 76 MB "
                "and base 145 MB, exceed the 64 MiB a device call carries)")
    extra = ["--check-text", "--text-models", ",".join(text_models), "--text-minutes", "1" if cpu else "5",
             "--out", str(work / "check-text")]
    extra += ["--device", "cpu", "--threads", "1"] if cpu else ["--device", "cuda"]
    steps.append(Step("check-text", f"real weights ({', '.join(text_models) or 'none'}), free decoding: text "
                      "identical with each speed-up", 150 if cpu else 70, gpu_py(*extra), skip=skip, kind="text", min_s=30))
    # 6: the corpus bench's GPU row.
    real_small = [m for m in ("base", "tiny.en") if m in present]
    if cpu:
        corpus_model, note = "tiny-random", " · random tiny weights, decoding forced: WER meaningless"
        folder_ok = True  # corpus.py builds its quick clips here from the Debian sources
        clips_args = ["--quick"]
    else:
        corpus_model = real_small[0] if real_small else "large-v3-turbo"
        note = "" if real_small else " · random large-v3-turbo weights, decoding forced: WER meaningless, times real"
        folder_ok = (corpus_folder(CORPUS_CLIPS_GPU) / "references.json").is_file() or \
            probe.get("asterisk_prompts", "").startswith("Debian")
        clips_args = ["--clips", str(CORPUS_CLIPS_GPU)]
    skip = no_gpu or (None if folder_ok else f"corpus clips not carried ({corpus_folder(CORPUS_CLIPS_GPU)}; "
                      "gpu_check_wheels.sh builds them, carry .cache/fixtures/bench_corpus)")
    command = [py, str(Path(__file__)), "--corpus-child", "--model", corpus_model, *clips_args,
               "--corpus-out", str(work / "corpus-a" / "corpus.json")] + (["--threads", "1"] if cpu else [])
    steps.append(Step("corpus-a", f"bench/corpus.py case (a), {corpus_model}, device auto "
                      f"({'CPU rehearsal' if cpu else 'cuda'})", 90 if cpu else 75, command, skip=skip, kind="corpus", min_s=30,
                      extra={"model": corpus_model, "note": note}))
    return steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.environ.get("OUT") or str(REPO / "gpu-check-out"))
    parser.add_argument("--work", default=os.environ.get("GPU_CHECK_WORK", "/tmp/gpu-check-work"))
    parser.add_argument("--cpu-rehearsal", action="store_true")
    parser.add_argument("--deadline", type=float, default=0.0, help="epoch seconds by which every step must end "
                        "(default: now + 470 s; gpu_check.sh passes its start + its budget)")
    parser.add_argument("--steps", default="", help="comma list of step names to run (default: all)")
    parser.add_argument("--probe-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--corpus-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="")
    parser.add_argument("--clips", type=int, default=CORPUS_CLIPS_GPU)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--corpus-out", default="")
    args = parser.parse_args()
    if args.probe_child:
        probe_child()
        return 0
    if args.corpus_child:
        return corpus_child(args)

    deadline = args.deadline or time.time() + 470
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    py = sys.executable
    header = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "mode": "CPU rehearsal (small models, 1-2 min of audio: code paths, not GPU numbers)"
              if args.cpu_rehearsal else "GPU check", "deadline_utc": dt.datetime.fromtimestamp(
                  deadline, dt.timezone.utc).strftime("%H:%M:%S")}

    rc, seconds = run_child([py, str(Path(__file__)), "--probe-child"], min(90, deadline - time.time()),
                            work / "probe.log")
    probe: dict = {}
    try:
        probe = json.loads((work / "probe.log").read_text().strip().splitlines()[-1])
    except (OSError, IndexError, json.JSONDecodeError):
        probe = {"error": f"probe failed (exit {rc}); see the log"}
    print("\n".join(found_lines(probe, header)) + "\n", flush=True)
    steps = plan(args, probe, py, work)
    wanted = {s.strip() for s in args.steps.split(",") if s.strip()}
    rows: list[dict] = []
    for step in steps:
        row = {"step": step.name, "title": step.title, "status": "pending"}
        if wanted and step.name not in wanted:
            row["status"] = "not measured: not asked for (--steps)"
        elif step.skip:
            row["status"] = f"not measured: {step.skip}"
        else:
            left = deadline - time.time() - 5
            limit = min(step.cap_s, left)
            if limit < step.min_s:
                row["status"] = f"not measured: time budget spent ({max(0, left):.0f} s left, needs {step.min_s:.0f})"
            else:
                (work / step.name).mkdir(parents=True, exist_ok=True)
                command = [c.replace("{budget}", str(max(10, int(limit - 45)))) for c in step.command]
                code, seconds = run_child(command, limit, work / step.name / "step.log", step.env)
                result = newest_json(work / step.name)
                refinement, numbers = summarize(step, result)
                row["seconds"] = round(seconds, 1)
                row["numbers"] = numbers
                row["table"] = step_table(step, result)
                row["result"] = result
                if code is None:
                    row["status"] = (f"measured, partial (time limit {limit:.0f} s)" if result else
                                     f"not measured: timed out after {limit:.0f} s")
                elif code != 0:
                    row["status"] = (f"measured, with failures (exit {code})" if result else
                                     f"not measured: failed (exit {code}), see gpu-check.log")
                else:
                    row["status"] = "measured" + (f", {refinement}" if refinement else "")
        log(f"{step.name}: {row['status']} {row.get('numbers', '')}")
        rows.append(row)
        write_report(out, probe, rows + [{"step": s.name, "title": s.title, "status": "pending"}
                                         for s in steps[len(rows):]], header)
    write_report(out, probe, rows, header)
    print("\n".join(found_lines(probe, header)) + "\n\n## Summary\n", flush=True)
    for r in rows:
        print(f"{r['step']:28} {r['status']}" + (f"  [{r['seconds']} s]" if "seconds" in r else "")
              + (f"\n{'':30}{r['numbers']}" if r.get("numbers") else ""), flush=True)
    print(f"\ntables: {out / 'gpu-check.md'} · JSON: {out / 'gpu-check.json'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
