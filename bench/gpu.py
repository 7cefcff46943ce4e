"""GPU benchmark (issue 6): whisperkit_nb against the insanely-fast-whisper method, side by side in one run.

    python bench/gpu.py --model large-v3 [--minutes 150]      # throughput table, one model per run
    python bench/gpu.py --check-text                          # real weights: text identical with each speed-up
    python bench/gpu.py --memory-scan [--minutes-list 10,60,180]   # time and peak memory against audio length
    python bench/gpu.py --smoke                               # everything, tiny random model, 2 min, CPU, < 2 min
    python bench/gpu.py --make-audio-pack                     # .cache/bench-audio/, for machines without the prompts

Systems (one process, same audio, same machine, one after another):
  ifw-sdpa / ifw-fa2   the insanely-fast-whisper method, run the way its cli.py does: transformers'
                       `pipeline("automatic-speech-recognition")`, chunk_length_s=30 (5 s strides), batch 24,
                       fp16 on GPUs, SDPA / Flash Attention 2 (when flash-attn is installed), greedy
  wk-best              whisperkit_nb: VAD chunking, automatic batch size, compile=True (static cache +
                       torch.compile), prefetch on (when the library has `pipeline.PREFETCH`)
  wk-no-vad            ablation: consecutive 30 s windows through our engine instead of VAD chunks
  wk-no-compile        ablation: compile=False (our dynamic-cache greedy loop)
  wk-no-prefetch       ablation: `pipeline.PREFETCH = False` (no CPU/GPU overlap)

Models listed in bench/configs (large-v3, large-v3-turbo, distil-large-v3, medium) and `tiny-random` get random
weights: every decoded window is then forced to exactly --tokens-per-window tokens (timestamp tokens included,
then end-of-text), the same for every system, so the decoders do the work real speech would give them. Real
models (tiny.en, base: the offline packs) decode freely unless --force-tokens is given.

Every number comes from this file's own timers: wall time per system, and per stage (audio decode, VAD,
features, encoder, decoder, assembly) through wrappers around the library's module functions, with CUDA
events for the stages that run on the GPU. Prints a markdown table last; writes JSON to --out.
Needs only torch, transformers, numpy, pandas, tqdm, onnxruntime (+ av for file input); see bench/README.md.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import gc
import gzip
import hashlib
import importlib.util
import inspect
import json
import lzma
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "bench" / "configs"
PACK_DIR = REPO / ".cache" / "bench-audio"  # what travels to the GPU machine (carry it)
BUILD_DIR = REPO / ".cache" / "bench-build"  # rebuilt wherever the bench runs: random models, prompt wavs
RESULTS = REPO / "bench" / "results"
SAMPLE_RATE = 16_000
VAD_ONNX = "silero_vad_16k_sequence.onnx"
STAGES = ("audio_decode", "vad", "features", "encoder", "decoder", "assembly")
DEVICE_STAGES = {"features", "encoder", "decoder", "language"}
RANDOM_MODELS = ("large-v3", "large-v3-turbo", "distil-large-v3", "medium")
# The smoke model: medium's vocabulary and mel bins, shrunk to a few MB.
SMOKE_CONFIG = {"d_model": 64, "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 128,
                "decoder_ffn_dim": 128, "encoder_layers": 2, "decoder_layers": 2, "num_hidden_layers": 2}
SYSTEMS = ("ifw-sdpa", "ifw-fa2", "wk-best", "wk-no-vad", "wk-no-compile", "wk-no-prefetch")
LABELS = {
    "ifw-sdpa": "insanely-fast-whisper method (HF pipeline, 30 s chunks, sdpa)",
    "ifw-fa2": "insanely-fast-whisper method (HF pipeline, 30 s chunks, flash_attention_2)",
    "wk-best": "whisperkit_nb best (vad, auto batch, compile, prefetch)",
    "wk-no-vad": "whisperkit_nb without VAD batching (fixed 30 s windows)",
    "wk-no-compile": "whisperkit_nb without static cache/compile",
    "wk-no-prefetch": "whisperkit_nb without CPU/GPU overlap (PREFETCH off)",
}

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WHISPERKIT_NB_CACHE", str(REPO / ".cache" / "whisperkit_nb"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path[:0] = [str(REPO), str(REPO / "tests")]


def log(*parts: Any) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# Audio: the Asterisk English prompts (Debian packages), or the pack built from them


def make_audio_pack() -> dict:
    """Write the English prompts (8 kHz int16, lossless, lzma) and Silero's ONNX file under .cache/bench-audio/.

    The GPU machine has no Debian prompts; from this pack it rebuilds the same prompt files and then the very
    same `asterisk_long` fixture as this machine (checked here by building one both ways).
    """
    import assets
    import numpy as np

    prompts = assets.asterisk_prompts("en")
    raw_texts = _raw_prompt_texts(assets.ASTERISK_DOC_DIR / "asterisk-core-sounds-en" / "core-sounds-en.txt.gz")
    samples, index = [], []
    for prompt in prompts:
        data, rate = assets.read_wav(prompt.path)
        samples.append(data)
        index.append({"name": prompt.name, "text": raw_texts[prompt.name], "n": len(data), "rate": rate})
    PACK_DIR.mkdir(parents=True, exist_ok=True)
    joined = np.concatenate(samples).astype(np.int16)
    # Sample differences split into high and low byte planes compress best (speech is smooth).
    diff = np.diff(joined.astype(np.int32), prepend=0).astype(np.int16).view(np.uint16)
    planes = np.concatenate([(diff >> 8).astype(np.uint8), (diff & 0xFF).astype(np.uint8)])
    (PACK_DIR / "samples.xz").write_bytes(lzma.compress(planes.tobytes(), preset=9))
    (PACK_DIR / "prompts.json").write_text(json.dumps({"format": 1, "prompts": index}, indent=0))
    shutil.copy(_vad_onnx_source(), PACK_DIR / VAD_ONNX)
    sizes = {p.name: p.stat().st_size for p in sorted(PACK_DIR.iterdir()) if p.is_file()}
    # Check: a fixture built from the pack is byte-identical to the one built from the Debian files.
    check_dir = BUILD_DIR / "pack-check"
    shutil.rmtree(check_dir, ignore_errors=True)
    debian = assets.asterisk_long(minutes=2.0, silence_s=0.0)
    with _prompts_from_pack(fixture_dir=check_dir):
        packed = assets.asterisk_long(minutes=2.0, silence_s=0.0)
    same = _sha256(debian.path) == _sha256(packed.path)
    shutil.rmtree(check_dir, ignore_errors=True)
    if not same:
        raise SystemExit("audio pack check failed: the fixture rebuilt from the pack differs from the Debian one")
    total = sum(sizes.values())
    log(f"audio pack in {PACK_DIR}: {len(index)} prompts, {joined.size / 8000 / 60:.1f} min at 8 kHz, "
        f"{total / 2**20:.1f} MiB ({', '.join(f'{k} {v / 2**20:.1f}' for k, v in sizes.items())}); "
        "a fixture rebuilt from it is byte-identical")
    return {"prompts": len(index), "bytes": total, "files": sizes}


def _raw_prompt_texts(transcript: Path) -> dict[str, str]:
    entries: dict[str, str] = {}
    with gzip.open(transcript, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.startswith(";") or ":" not in line:
                continue
            name, _, text = line.partition(":")
            entries.setdefault(name.strip(), text.strip())
    return entries


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _vad_onnx_source() -> Path:
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("silero-vad is not installed here: cannot copy its ONNX file into the pack")
    return Path(spec.submodule_search_locations[0]) / "data" / VAD_ONNX


@contextlib.contextmanager
def _prompts_from_pack(fixture_dir: Path | None = None):
    """Point tests/assets.py at prompt files rebuilt from the pack (Debian's layout, under .cache/bench-build)."""
    import assets
    import numpy as np

    meta = json.loads((PACK_DIR / "prompts.json").read_text())
    root = BUILD_DIR / "asterisk"
    sounds, doc = root / "sounds", root / "doc"
    marker = root / "complete"
    if not marker.is_file() or marker.read_text() != _sha256(PACK_DIR / "samples.xz"):
        shutil.rmtree(root, ignore_errors=True)
        planes = np.frombuffer(lzma.decompress((PACK_DIR / "samples.xz").read_bytes()), np.uint8)
        half = planes.size // 2
        diff = ((planes[:half].astype(np.uint16) << 8) | planes[half:]).view(np.int16)
        joined = np.cumsum(diff, dtype=np.int64).astype(np.int16)  # wraps exactly like the int16 diff did
        offset = 0
        for p in meta["prompts"]:
            path = sounds / "en" / f"{p['name']}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            import wave

            with wave.open(str(path), "wb") as wav:
                wav.setnchannels(1)
                wav.setsampwidth(2)
                wav.setframerate(p["rate"])
                wav.writeframes(joined[offset : offset + p["n"]].astype("<i2").tobytes())
            offset += p["n"]
        transcript = doc / "asterisk-core-sounds-en" / "core-sounds-en.txt.gz"
        transcript.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(transcript, "wt", encoding="utf-8") as out:
            out.writelines(f"{p['name']}: {p['text']}\n" for p in meta["prompts"])
        marker.write_text(_sha256(PACK_DIR / "samples.xz"))
    saved = (assets.ASTERISK_SOUNDS_DIR, assets.ASTERISK_DOC_DIR, assets.FIXTURE_DIR)
    assets.ASTERISK_SOUNDS_DIR, assets.ASTERISK_DOC_DIR = sounds, doc
    if fixture_dir is not None:
        assets.FIXTURE_DIR = fixture_dir
    assets._asterisk_prompts.cache_clear()
    try:
        yield
    finally:
        assets.ASTERISK_SOUNDS_DIR, assets.ASTERISK_DOC_DIR, assets.FIXTURE_DIR = saved
        assets._asterisk_prompts.cache_clear()


def audio_fixture(minutes: float, silence_s: float):
    """`asterisk_long(minutes, silence_s)`: from the Debian prompts when installed, else from the pack."""
    import assets

    try:
        assets.asterisk_prompts("en")
        return assets.asterisk_long(minutes=minutes, silence_s=silence_s)
    except assets.MissingAssetError:
        if not (PACK_DIR / "prompts.json").is_file():
            raise SystemExit(
                "No audio: the Debian Asterisk prompts are not installed and there is no pack in "
                f"{PACK_DIR}. Run `bench/gpu.py --make-audio-pack` where they are, and carry .cache/bench-audio."
            ) from None
        with _prompts_from_pack():
            return assets.asterisk_long(minutes=minutes, silence_s=silence_s)


def ensure_vad_model() -> str:
    """Make `silero_vad` importable: the installed package, or a stub holding the pack's ONNX file."""
    if importlib.util.find_spec("silero_vad") is not None:
        return "silero-vad package"
    onnx = PACK_DIR / VAD_ONNX
    if not onnx.is_file():
        raise SystemExit(f"silero-vad is not installed and {onnx} is missing (run --make-audio-pack, carry it)")
    site = BUILD_DIR / "site"
    data = site / "silero_vad" / "data"
    data.mkdir(parents=True, exist_ok=True)
    (site / "silero_vad" / "__init__.py").write_text("")
    shutil.copy(onnx, data / VAD_ONNX)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    return f"stub package around {onnx.relative_to(REPO)}"


def read_samples(path: Path):
    """The whole file as 16 kHz float32, decoded by the library's own PyAV decoder when av is installed."""
    import numpy as np

    if importlib.util.find_spec("av") is not None:
        from whisperkit_nb.audio.source import open_audio

        return np.concatenate(list(open_audio(path).blocks()))
    import assets

    samples, rate = assets.read_wav(path)
    assert rate == SAMPLE_RATE
    return samples.astype(np.float32) / 32768.0


# --------------------------------------------------------------------------------------------------
# Models: random weights from bench/configs, or the offline packs


def model_dir(name: str, device: str) -> Path:
    """A transformers directory for `name`: a random-weight model built from bench/configs, or a real model."""
    if name not in RANDOM_MODELS and name != "tiny-random":
        from whisperkit_nb.engines.models import resolve_model

        return resolve_model(name).path
    import torch
    from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    source = "medium" if name == "tiny-random" else name
    config = json.loads((CONFIGS / f"{source}.json").read_text())
    if name == "tiny-random":
        config.update(SMOKE_CONFIG)
    generation = json.loads((CONFIGS / f"{source}.generation.json").read_text())
    digest = hashlib.sha256(json.dumps([config, generation], sort_keys=True).encode()).hexdigest()[:12]
    target = BUILD_DIR / "models" / f"{name}-random-seed0-{digest}"
    if (target / "complete").is_file():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    log(f"building {name} with random weights in {target} ...")
    started = time.perf_counter()
    tokenizer = _tokenizer(config["vocab_size"], target)
    tokenizer.save_pretrained(target)
    WhisperFeatureExtractor(feature_size=config["num_mel_bins"]).save_pretrained(target)
    whisper_config = WhisperConfig(**{k: v for k, v in config.items() if not k.startswith("_")})
    torch.manual_seed(0)
    init_device = "cuda" if device.startswith("cuda") else "cpu"
    with torch.device(init_device):
        model = WhisperForConditionalGeneration._from_config(whisper_config, dtype=torch.float16 if init_device == "cuda"
                                                              else torch.float32)
    model.save_pretrained(target)
    GenerationConfig(**generation).save_pretrained(target)  # after the model's, which would overwrite it
    del model
    gc.collect()
    (target / "complete").write_text("")
    log(f"  done in {time.perf_counter() - started:.1f} s")
    return target


def _tokenizer(vocab_size: int, workdir: Path):
    """Whisper's multilingual tokenizer (51865 tokens), or large-v3's (51866: <|yue|> inserted at 50358)."""
    from transformers import WhisperTokenizerFast

    with gzip.open(CONFIGS / "tokenizer-multilingual.json.gz") as f:
        tok = json.loads(f.read())
    if vocab_size == 51866:
        for token in tok["added_tokens"]:
            if token["id"] >= 50358:
                token["id"] += 1
        tok["added_tokens"].append({"id": 50358, "content": "<|yue|>", "single_word": False, "lstrip": False,
                                    "rstrip": False, "normalized": False, "special": True})
        tok["added_tokens"].sort(key=lambda t: t["id"])
    elif vocab_size != 51865:
        raise SystemExit(f"no tokenizer for a {vocab_size}-token vocabulary")
    raw = workdir / "tokenizer.raw.json"
    raw.write_text(json.dumps(tok, ensure_ascii=False))
    specials = [t["content"] for t in tok["added_tokens"] if t["special"]]
    try:
        tokenizer = WhisperTokenizerFast(tokenizer_file=str(raw), pad_token="<|endoftext|>",
                                         extra_special_tokens=specials)
    except TypeError:  # transformers before 5 named them additional_special_tokens
        tokenizer = WhisperTokenizerFast(tokenizer_file=str(raw), pad_token="<|endoftext|>",
                                         additional_special_tokens=specials)
    raw.unlink()
    first = tokenizer.convert_tokens_to_ids("<|notimestamps|>") + 1
    assert len(tokenizer) == vocab_size and tokenizer.convert_tokens_to_ids("<|0.00|>") == first
    return tokenizer


def is_random(name: str) -> bool:
    return name in RANDOM_MODELS or name == "tiny-random"


# --------------------------------------------------------------------------------------------------
# Forced decoding: the same number of tokens in every window of every system


# Ordinary prose, so a window's text passes Whisper's quality checks (compression ratio about 1.6, far under
# 2.4): a repeated sentence would send every chunk to temperature fallback and then drop it.
FORCED_TEXT = (
    " Early in the morning the harbour was quiet, and only a few fishing boats moved between the grey stone"
    " walls. An old man sold coffee from a cart near the ferry office, while two students argued about a"
    " football match they had watched the night before. Later the wind turned cold, clouds gathered over the"
    " hills behind the town, and the first drops of rain began to fall on the market square, where traders"
    " were packing their vegetables into wooden crates. By noon the streets were empty except for a delivery"
    " van, a dog sheltering under a bench, and a woman in a yellow coat who seemed to be searching for an"
    " address she had written on the back of an envelope."
)


class ForcedTokens:
    """Forces each decoded window to the same N tokens: <|t0|> 20 text tokens <|t1|> ..., then end-of-text.

    Whisper's own rules (ours, or transformers' logits processors) still run first, so their cost stays in the
    timings; the forced token then replaces whatever they chose. Segment timestamps span 0-30 s, so no chunk
    has an uncovered tail for the engine to re-decode, and the text is prose, so no chunk needs fallback.
    """

    SEGMENT_TEXT = 20

    def __init__(self, tokenizer, n: int) -> None:
        vocab = tokenizer.get_vocab()
        self.eot = vocab["<|endoftext|>"]
        self.ts_begin = vocab["<|notimestamps|>"] + 1
        text = tokenizer(FORCED_TEXT, add_special_tokens=False).input_ids
        text = [t for t in text if t < self.eot]
        text = text * (n // len(text) + 1)
        segments = max(1, round(n / (self.SEGMENT_TEXT + 2)))
        seq: list[int] = []
        cursor = 0
        for i in range(segments):
            start = round(1500 * i / segments)
            end = round(1500 * (i + 1) / segments)
            room = n - len(seq) - 2 if i == segments - 1 else min(self.SEGMENT_TEXT, n - len(seq) - 2)
            if room < 1:
                break
            seq += [self.ts_begin + start] + text[cursor : cursor + room] + [self.ts_begin + end]
            cursor += room
        self.n = len(seq)
        self.sequence = seq
        self._lock = threading.Lock()
        self.windows: collections.Counter = collections.Counter()  # tokens per window -> windows

    def force(self, logits, step: int):
        import torch

        token = self.sequence[step] if step < self.n else self.eot
        forced = torch.full_like(logits, float("-inf"))
        forced[:, token] = 0.0
        return forced

    def count(self, token_lists) -> None:
        with self._lock:
            for tokens in token_lists:
                self.windows[sum(1 for t in tokens if t < self.eot or t >= self.ts_begin)] += 1

    def processor(self):
        """A transformers LogitsProcessor (after Whisper's own processors in `generate`)."""
        forcer = self
        special = (self.eot, self.ts_begin)

        class ForceProcessor:
            def __call__(self, input_ids, scores):
                row = input_ids[0].tolist()
                # The step is the number of tokens after the prompt's last special token (SOT/language/task).
                last = max((i for i, t in enumerate(row) if special[0] < t < special[1]), default=-1)
                return forcer.force(scores, len(row) - last - 1)

        return ForceProcessor()


@contextlib.contextmanager
def forced_library_decoding(forced: ForcedTokens | None):
    """Force our engine's two decoders through their logit hooks.

    `decode` (our greedy loop) applies `decoding._Rules.apply` each step; `decode_compiled` (generate with a
    static cache) runs `decoding._ChosenLogprobs` after transformers' Whisper processors. Subclasses of both
    force the token after the real rules ran. (A public hook would be better: see bench/README.md.)
    """
    if forced is None:
        yield
        return
    from whisperkit_nb.engines import transformers_decoding as decoding

    saved = {name: getattr(decoding, name, None) for name in ("_Rules", "_ChosenLogprobs")}
    missing = [name for name, value in saved.items() if value is None]
    if missing:
        raise SystemExit(f"cannot force tokens: whisperkit_nb.decoding has no {', '.join(missing)} "
                         "(the library's decoding hooks changed; see bench/README.md)")

    class ForcedRules(saved["_Rules"]):
        def apply(self, logits, generated, step):
            return forced.force(super().apply(logits, generated, step), step)

    class ForcedChosen(saved["_ChosenLogprobs"]):
        def __call__(self, input_ids, scores):
            step = len(self.steps)
            return super().__call__(input_ids, forced.force(scores, step))

    decoding._Rules, decoding._ChosenLogprobs = ForcedRules, ForcedChosen
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(decoding, name, value)


# --------------------------------------------------------------------------------------------------
# Stage timers: wrappers around module functions, exclusive of nested stages, CUDA events on GPUs


@dataclass
class _Frame:
    name: str
    started: float
    child_s: float = 0.0
    events: tuple | None = None
    child_events: list = field(default_factory=list)


class StageTimer:
    """Host seconds per stage (exclusive of nested stages, per thread) and, on CUDA, GPU seconds per device
    stage from events recorded on the current stream at entry and exit (no synchronisation, so the run's
    CPU/GPU overlap is untouched)."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.host: collections.Counter = collections.Counter()
        self.calls: collections.Counter = collections.Counter()
        self._gpu_items: list[tuple[str, tuple, list]] = []
        self._local = threading.local()
        self._lock = threading.Lock()

    def _stack(self) -> list[_Frame]:
        if not hasattr(self._local, "stack"):
            self._local.stack = []
        return self._local.stack

    def enter(self, name: str, device: bool | None = None) -> None:
        """Start a stage; `device` (default: the stage is one of DEVICE_STAGES) also records CUDA events."""
        events = None
        if self.cuda and (name in DEVICE_STAGES if device is None else device):
            import torch

            events = (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
            events[0].record()
        self._stack().append(_Frame(name, time.perf_counter(), events=events))

    def exit(self) -> None:
        frame = self._stack().pop()
        elapsed = time.perf_counter() - frame.started
        if frame.events is not None:
            frame.events[1].record()
        with self._lock:
            self.host[frame.name] += elapsed - frame.child_s
            self.calls[frame.name] += 1
            if frame.events is not None:
                self._gpu_items.append((frame.name, frame.events, frame.child_events))
        stack = self._stack()
        if stack:
            stack[-1].child_s += elapsed
            if frame.events is not None:
                stack[-1].child_events.append(frame.events)

    @contextlib.contextmanager
    def stage(self, name: str, device: bool | None = None):
        self.enter(name, device)
        try:
            yield
        finally:
            self.exit()

    def wrap(self, name: str, fn: Callable, device: bool | None = None) -> Callable:
        def timed(*args, **kwargs):
            with self.stage(name, device):
                return fn(*args, **kwargs)

        timed.__wrapped__ = fn
        return timed

    def wrap_generator(self, name: str, fn: Callable, device: bool | None = False) -> Callable:
        """Time each `next()` of the generators `fn` returns (the work happens lazily, inside them)."""
        timer = self

        def timed(*args, **kwargs):
            inner = iter(fn(*args, **kwargs))
            while True:
                with timer.stage(name, device):
                    try:
                        item = next(inner)
                    except StopIteration:
                        return
                yield item

        timed.__wrapped__ = fn
        return timed

    def gpu_seconds(self) -> dict[str, float]:
        if not self.cuda:
            return {}
        import torch

        torch.cuda.synchronize()
        out: collections.Counter = collections.Counter()
        for name, (start, end), children in self._gpu_items:
            span = start.elapsed_time(end) - sum(s.elapsed_time(e) for s, e in children)
            out[name] += span / 1000
        return dict(out)


class Patches:
    """setattr with undo; attributes that do not exist are noted, not created."""

    def __init__(self) -> None:
        self._undo: list[tuple[Any, str, Any]] = []
        self.missing: list[str] = []

    def set(self, owner: Any, attr: str, make: Callable[[Any], Any]) -> None:
        if not hasattr(owner, attr):
            self.missing.append(f"{getattr(owner, '__name__', owner)}.{attr}")
            return
        original = inspect.getattr_static(owner, attr) if isinstance(owner, type) else getattr(owner, attr)
        self._undo.append((owner, attr, original))
        setattr(owner, attr, make(getattr(owner, attr)))

    def undo(self) -> None:
        for owner, attr, original in reversed(self._undo):
            setattr(owner, attr, original)
        self._undo.clear()


def instrument_engine(timer: StageTimer, forced: ForcedTokens | None, counts: ForcedTokens | None,
                      patches: Patches) -> None:
    """Wrap whisperkit_nb's stage functions where `pipeline.py` looks them up (module globals)."""
    from whisperkit_nb.audio import source as audio
    from whisperkit_nb.audio import log_mel as features
    from whisperkit_nb.run import stream as pipeline

    patches.set(audio, "_decode_blocks", lambda f: timer.wrap_generator("audio_decode", f))
    patches.set(audio, "_spans_from_blocks", lambda f: timer.wrap_generator("audio_decode", f))
    for name in ("speech_probabilities", "speech_regions", "split_long_regions", "pack_chunks"):
        patches.set(pipeline, name, lambda f: timer.wrap("vad", f))
    patches.set(features.LogMel, "__call__", lambda f: timer.wrap("features", f))
    patches.set(pipeline, "encode", lambda f: timer.wrap("encoder", f))
    for name in ("chunk_segments", "segments_to_frame"):
        patches.set(pipeline, name, lambda f: timer.wrap("assembly", f))
    essential = len(patches.missing)
    # Language detection (not run when the language is given, as here), under whichever name exists.
    for name in ("_detect_language", "_chunk_languages", "detect_file_language"):
        patches.set(pipeline, name, lambda f: timer.wrap("language", f))
    del patches.missing[essential:]

    def counted(fn):
        timed = timer.wrap("decoder", fn)

        def decoder(*args, **kwargs):
            results = timed(*args, **kwargs)
            if counts is not None:
                counts.count(r.tokens for r in results)
            return results

        return decoder

    for name in ("decode", "decode_compiled"):
        patches.set(pipeline, name, counted)


def fixed_windows_plan(window_s: float = 30.0):
    """A stand-in for `pipeline.plan_chunks`: consecutive 30 s windows, no VAD (the no-VAD ablation)."""
    from whisperkit_nb.speech.chunks import Chunk

    def plan(source, opts, *args, **kwargs):
        total = sum(len(block) for block in source.blocks())
        size = int(window_s * SAMPLE_RATE)
        chunks = [Chunk(i, ((start, min(start + size, total)),)) for i, start in enumerate(range(0, total, size))]
        return chunks, total / SAMPLE_RATE

    return plan


# --------------------------------------------------------------------------------------------------
# Memory readings


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux >= 4.0); False where it cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(torch.device(device))}"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores, CPU only"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()}, CPU only"


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


# --------------------------------------------------------------------------------------------------
# Systems


@dataclass
class Setup:
    """What every system of one run shares."""

    model: str
    model_path: Path
    device: str
    dtype: str  # option value: float16 on GPUs, float32 on CPU
    audio_path: Path
    duration: float
    input_mode: str  # "file" (ours read the file; the HF pipeline gets it decoded once) or "array"
    samples: Any  # the file decoded once (float32)
    decode_once_s: float
    forced: ForcedTokens | None
    hf_batch_size: int
    batch_size: int | None
    warmup_s: float
    compile_backend: str
    language: str | None
    cuda: bool


def run_ifw(setup: Setup, attn: str) -> dict:
    """The insanely-fast-whisper method: transformers' ASR pipeline as its cli.py drives it."""
    import torch
    from transformers import (
        AutoTokenizer,
        GenerationConfig,
        LogitsProcessorList,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        pipeline,
    )

    dtype = getattr(torch, setup.dtype)
    model = WhisperForConditionalGeneration.from_pretrained(setup.model_path, dtype=dtype,
                                                            attn_implementation=attn).to(setup.device).eval()
    tokenizer = AutoTokenizer.from_pretrained(setup.model_path)
    asr = pipeline("automatic-speech-recognition", model=model, tokenizer=tokenizer,
                   feature_extractor=WhisperFeatureExtractor(feature_size=model.config.num_mel_bins),
                   device=torch.device(setup.device), dtype=dtype)
    generation = GenerationConfig.from_pretrained(setup.model_path)
    generate_kwargs: dict = {"num_beams": 1, "do_sample": False}
    if getattr(generation, "is_multilingual", False):
        generate_kwargs.update(language=setup.language or "en", task="transcribe")
    counts = setup.forced or ForcedTokens(tokenizer, 1)
    if setup.forced is not None:
        generate_kwargs["logits_processor"] = LogitsProcessorList([setup.forced.processor()])

    def call(samples):
        return asr({"raw": samples, "sampling_rate": SAMPLE_RATE}, chunk_length_s=30, batch_size=setup.hf_batch_size,
                   return_timestamps=True, generate_kwargs=generate_kwargs, ignore_warning=True)

    warm = setup.samples[: int(setup.warmup_s * SAMPLE_RATE)]
    started = time.perf_counter()
    call(warm)
    warmup = time.perf_counter() - started

    timer = StageTimer(setup.cuda)
    patches = Patches()
    # The pipeline's features are numpy on the CPU (WhisperFeatureExtractor): host time, no CUDA events.
    patches.set(asr, "preprocess", lambda f: timer.wrap_generator("features", f, device=False))
    patches.set(asr, "_forward", lambda f: timer.wrap("decoder", f))
    patches.set(asr, "postprocess", lambda f: timer.wrap("assembly", f))
    hooks = [model.model.encoder.register_forward_pre_hook(lambda *a: timer.enter("encoder")),
             model.model.encoder.register_forward_hook(lambda *a: timer.exit())]
    original_generate = model.generate

    def generate(*args, **kwargs):
        out = original_generate(*args, **kwargs)
        sequences = out if torch.is_tensor(out) else out["sequences"]
        counts.count(sequences.tolist())
        return out

    model.generate = generate
    counts.windows.clear()
    memory = _memory_start(setup)
    try:
        started = time.perf_counter()
        result = call(setup.samples)
        wall = time.perf_counter() - started
    finally:
        patches.undo()
        for hook in hooks:
            hook.remove()
        model.generate = original_generate
    row = _row(setup, timer, wall, memory, batch_size=setup.hf_batch_size, windows=dict(counts.windows))
    row["warmup_s"] = round(warmup, 2)
    # insanely-fast-whisper decodes the whole file before the pipeline runs: charge that decode here.
    if setup.input_mode == "file":
        row["stages"]["audio_decode"] = round(setup.decode_once_s, 3)
        row["wall_s"] = round(wall + setup.decode_once_s, 3)
        row["x_real_time"] = round(setup.duration / row["wall_s"], 1)
        row["notes"].append("audio decode = the file decoded once to an array before the pipeline (PyAV)")
    row["segments"] = len(result.get("chunks", []))
    row["text"] = result.get("text", "")
    asr = model = original_generate = None  # drop every reference before freeing the GPU memory
    _release(setup)
    return row


def run_whisperkit(setup: Setup, *, chunking: str = "vad", compile: bool = True, prefetch: bool | None = True
                   ) -> dict:
    import whisperkit_nb as wk
    from whisperkit_nb.run import stream as pipeline
    from whisperkit_nb.engines.models import load_model

    has_prefetch = hasattr(pipeline, "PREFETCH")
    if prefetch is False and not has_prefetch:
        return _skipped(setup, "not available: whisperkit_nb.pipeline has no PREFETCH switch (yet)")
    # attn "auto": Flash Attention 2 when flash-attn and a GPU are there, else SDPA (the library's best).
    options = wk.TranscribeOptions(model=str(setup.model_path), device=setup.device, dtype=setup.dtype,
                                   attn_implementation="auto", language=setup.language, progress=False,
                                   batch_size=setup.batch_size, compile=compile)
    whisper = load_model(options)
    notes: list[str] = [f"attention: {whisper.attn_implementation}"]
    if compile and setup.compile_backend != "inductor":
        _precompile(whisper, setup.compile_backend, notes)
    saved_prefetch = getattr(pipeline, "PREFETCH", None)
    if prefetch is not None and has_prefetch:
        pipeline.PREFETCH = prefetch
    elif not has_prefetch:
        notes.append("prefetch: not available in this library version")
    patches = Patches()
    if chunking == "fixed-windows":
        patches.set(pipeline, "plan_chunks", lambda f: fixed_windows_plan())
    source = str(setup.audio_path) if setup.input_mode == "file" else setup.samples
    try:
        with forced_library_decoding(setup.forced):
            # Warm-up (model load, compile, first-call costs) on the head of the audio, as in a notebook where
            # the model is already loaded and warm.
            started = time.perf_counter()
            warm = wk.transcribe(setup.samples[: int(setup.warmup_s * SAMPLE_RATE)], options)
            batch = next(iter(warm.attrs["files"].values()), {}).get("batch_size", setup.batch_size)
            if compile and batch:
                # Compiled graphs are per batch shape: warm a full batch too (at most 40 minutes of audio).
                need = min(setup.duration, batch * 30.0 + 60.0, 2400.0)
                if need > setup.warmup_s:
                    wk.transcribe(setup.samples[: int(need * SAMPLE_RATE)], options)
            warmup = time.perf_counter() - started

            timer = StageTimer(setup.cuda)
            counts = setup.forced or ForcedTokens(whisper.tokenizer, 1)
            counts.windows.clear()
            instrument_engine(timer, setup.forced, counts, patches)
            memory = _memory_start(setup)
            graphs_before = _graphs_compiled()
            started = time.perf_counter()
            frame = wk.transcribe(source, options)
            wall = time.perf_counter() - started
    finally:
        patches.undo()
        if has_prefetch:
            pipeline.PREFETCH = saved_prefetch
    info = next(iter(frame.attrs["files"].values()), {})
    row = _row(setup, timer, wall, memory, batch_size=info.get("batch_size"), windows=dict(counts.windows))
    row["warmup_s"] = round(warmup, 2)
    row["notes"] += notes + [f"stage hook missing: {m}" for m in patches.missing]
    row["segments"] = len(frame)
    row["chunks"] = info.get("chunks")
    row["tails"] = info.get("tails", 0)
    for key in ("fallbacks", "dropped_chunks"):  # temperature fallback and dropped chunks (quality checks)
        if info.get(key):
            row[key] = info[key]
            if setup.forced is not None:
                row["notes"].append(f"{key}={info[key]}: forced text failed the library's quality checks")
    row["text"] = " ".join(frame.text)
    compiled = _graphs_compiled() - graphs_before
    if compile and compiled:
        row["notes"].append(f"torch.compile built {compiled} graph(s) during the timed run (new batch shapes)")
    return row


def _graphs_compiled() -> int:
    try:
        from torch._dynamo.utils import counters

        return int(counters["stats"]["unique_graphs"])
    except Exception:  # noqa: BLE001 - a diagnostic only
        return 0


def _precompile(whisper, backend: str, notes: list[str]) -> None:
    """compile=True with another torch.compile backend (the smoke test's "eager": static cache, no inductor)."""
    import torch

    from whisperkit_nb.engines import transformers_decoding as decoding

    if "_whisperkit_compiled" not in inspect.getsource(decoding):
        notes.append(f"compile backend {backend!r} ignored: decoding._compile_once changed")
        return
    if not getattr(whisper.model, "_whisperkit_compiled", False):
        whisper.model.forward = torch.compile(whisper.model.forward, backend=backend)
        whisper.model._whisperkit_compiled = True
    notes.append(f"torch.compile backend {backend!r}")


def _memory_start(setup: Setup) -> dict:
    import torch

    gc.collect()
    if setup.cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    return {"rss_reset": reset_peak_rss()}


def _row(setup: Setup, timer: StageTimer, wall: float, memory: dict, *, batch_size, windows: dict) -> dict:
    import torch

    gpu = timer.gpu_seconds()
    stages = {}
    for name in STAGES:
        stages[name] = round(gpu[name] if name in gpu else timer.host.get(name, 0.0), 3)
    if timer.host.get("language"):
        stages["decoder"] = round(stages["decoder"] + gpu.get("language", timer.host["language"]), 3)
    host_total = sum(v for k, v in timer.host.items())
    row = {
        "status": "ok",
        "wall_s": round(wall, 3),
        "x_real_time": round(setup.duration / wall, 1),
        "stages": stages,
        "stages_host_s": {k: round(v, 3) for k, v in sorted(timer.host.items())},
        "stages_gpu_s": {k: round(v, 3) for k, v in sorted(gpu.items())},
        "other_host_s": round(max(0.0, wall - host_total), 3),
        "batch_size": batch_size,
        "windows": {int(k): v for k, v in sorted(windows.items())},
        "peak_gpu_bytes": torch.cuda.max_memory_allocated() if setup.cuda else None,
        "peak_rss_bytes": peak_rss_bytes(),
        "peak_rss_scope": "this system" if memory["rss_reset"] else "process so far (peak could not be reset)",
        "notes": [],
    }
    return row


def _skipped(setup: Setup, reason: str) -> dict:
    return {"status": reason, "notes": []}


def _release(setup: Setup) -> None:
    import torch

    from whisperkit_nb.engines.models import release_models

    release_models()
    gc.collect()
    if setup.cuda:
        torch.cuda.empty_cache()


def run_system(key: str, setup: Setup) -> dict:
    from whisperkit_nb.device import flash_attn_installed

    if key == "ifw-sdpa":
        return run_ifw(setup, "sdpa")
    if key == "ifw-fa2":
        if not setup.cuda:
            return _skipped(setup, "not available: flash_attention_2 needs a CUDA GPU")
        if not flash_attn_installed():
            return _skipped(setup, "not available: flash-attn is not installed")
        return run_ifw(setup, "flash_attention_2")
    if key == "wk-best":
        return run_whisperkit(setup)
    if key == "wk-no-vad":
        return run_whisperkit(setup, chunking="fixed-windows")
    if key == "wk-no-compile":
        return run_whisperkit(setup, compile=False)
    if key == "wk-no-prefetch":
        return run_whisperkit(setup, prefetch=False)
    raise SystemExit(f"unknown system {key!r}; choose from {', '.join(SYSTEMS)}")


# --------------------------------------------------------------------------------------------------
# Throughput mode


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
        "prefetch_switch": "available" if _has_prefetch() else "not available",
        "flash_attn": "installed" if _flash() else "not installed",
    }
    log("bench:", json.dumps(header))
    deadline = time.perf_counter() + args.time_budget_s if args.time_budget_s else None
    rows: dict[str, dict] = {}
    systems = [s.strip() for s in args.systems.split(",")] if args.systems != "all" else list(SYSTEMS)
    for key in systems:
        if deadline is not None and time.perf_counter() > deadline:
            rows[key] = {"status": "skipped: --time-budget-s spent", "notes": []}
            continue
        log(f"{key}: {LABELS[key]} ...")
        try:
            rows[key] = run_system(key, setup)
        except Exception as err:  # noqa: BLE001 - one failing system must not lose the others' numbers
            import traceback

            traceback.print_exc()
            rows[key] = {"status": f"failed: {type(err).__name__}: {err}"[:300], "notes": []}
            _release(setup)
        rows[key]["label"] = LABELS[key]
        rows[key].pop("text", None)
        log(f"  {key}: " + json.dumps(rows[key]))
        if save is not None:  # every finished row is on disk, should the run be killed at its time limit
            partial = {"mode": "throughput", **header, "minutes": round(duration / 60, 2), "systems": dict(rows),
                       "complete": False}
            _check_forced(partial)
            save(partial, throughput_table(partial))
    result = {"mode": "throughput", **header, "minutes": round(duration / 60, 2), "systems": rows, "complete": True}
    _check_forced(result)
    return result


def _has_prefetch() -> bool:
    from whisperkit_nb.run import stream as pipeline

    return hasattr(pipeline, "PREFETCH")


def _flash() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def _check_forced(result: dict) -> None:
    """Every decoded window of every system got exactly the forced number of tokens."""
    n = result.get("tokens_per_window")
    if not n:
        return
    counts = {k: r.get("windows") for k, r in result["systems"].items() if r.get("status") == "ok"}
    bad = {k: w for k, w in counts.items() if not w or set(w) != {n}}
    result["forced_tokens_check"] = "ok" if not bad else f"FAILED: {bad}"


def throughput_table(result: dict) -> str:
    rows = result["systems"]
    base = rows.get("ifw-sdpa", {})
    lines = [
        f"{result['date']} · {result['device']} · torch {result['torch']} · transformers {result['transformers']}",
        f"model {result['model']} ({result['weights']}"
        + (f", {result['tokens_per_window']} tokens per 30 s window incl. timestamps, then end-of-text, "
           f"identical for every system: {result.get('forced_tokens_check')}" if result["tokens_per_window"] else "")
        + f") · {result['audio']} · input: {result['input']} · prefetch switch: {result['prefetch_switch']}"
        + f" · flash-attn: {result['flash_attn']}",
        "",
        ("| system | x real time | wall s | audio decode | VAD | features | encoder | decoder | assembly | batch "
         "| windows x tokens | peak GPU GiB | peak RSS GiB | vs IFW sdpa |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, r in rows.items():
        if r.get("status") != "ok":
            lines.append(f"| {key} | {r['status']} |" + " |" * 13)
            continue
        s = r["stages"]
        windows = ", ".join(f"{v} x {k}" for k, v in r["windows"].items())
        gpu = f"{r['peak_gpu_bytes'] / 2**30:.2f}" if r.get("peak_gpu_bytes") is not None else "-"
        ratio = f"{base['wall_s'] / r['wall_s']:.2f}x" if base.get("status") == "ok" else "-"
        lines.append(
            f"| {key} | {r['x_real_time']} | {r['wall_s']:.2f} | {s['audio_decode']:.2f} | {s['vad']:.2f} "
            f"| {s['features']:.2f} | {s['encoder']:.2f} | {s['decoder']:.2f} | {s['assembly']:.2f} "
            f"| {r['batch_size']} | {windows} | {gpu} | {r['peak_rss_bytes'] / 2**30:.2f} | {ratio} |"
        )
    best = rows.get("wk-best", {})
    if best.get("status") == "ok":
        hours = result["minutes"] / 60
        s = best["stages"]
        lines.append("")
        lines.append(f"CPU-side stages of wk-best per audio hour: audio decode {s['audio_decode'] / hours:.1f} s, "
                     f"VAD {s['vad'] / hours:.1f} s (host, single-threaded unless the library parallelises them; "
                     "they bound end-to-end speed unless they overlap the GPU work).")
    lines.append("")
    lines.append("Stage columns: seconds inside each stage (CUDA-event time for features/encoder/decoder on GPUs, "
                 "host time otherwise), exclusive of nested stages; with prefetch, stages overlap and can sum "
                 "past the wall time. Warm-up (model load, compile) is excluded from every row.")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Text check: real weights, text identical with and without each speed-up


def check_text(args) -> dict:
    import whisperkit_nb as wk
    from whisperkit_nb.run import stream as pipeline
    from whisperkit_nb.scoring.words import word_error_rate
    from whisperkit_nb.engines.models import release_models

    ensure_vad_model()
    device = resolve_device(args.device)
    fixture = audio_fixture(args.text_minutes, args.silence_s)
    samples = read_samples(fixture.path)
    variants: list[tuple[str, dict, Any]] = [
        ("baseline (vad, batch 16, compile off)", {"batch_size": 16, "compile": False}, None),
        ("compile=True (static cache + torch.compile)", {"batch_size": 16, "compile": True}, None),
        ("batch 1", {"batch_size": 1, "compile": False}, None),
        ("batch 4", {"batch_size": 4, "compile": False}, None),
        ("batch 8", {"batch_size": 8, "compile": False}, None),
        ("array input instead of the file", {"batch_size": 16, "compile": False, "_array": True}, None),
    ]
    if hasattr(pipeline, "PREFETCH"):
        variants += [("PREFETCH off", {"batch_size": 16, "compile": False}, False),
                     ("PREFETCH on", {"batch_size": 16, "compile": False}, True)]
    results: dict[str, dict] = {}
    for model in [m.strip() for m in args.text_models.split(",")]:
        rows = []
        reference = None
        for label, opts, prefetch in variants:
            opts = dict(opts)
            array = opts.pop("_array", False)
            saved = getattr(pipeline, "PREFETCH", None)
            if prefetch is not None:
                pipeline.PREFETCH = prefetch
            try:
                started = time.perf_counter()
                frame = wk.transcribe(samples if array else str(fixture.path), model=model, device=device,
                                      language="en", progress=False, **opts)
                seconds = time.perf_counter() - started
            except Exception as err:  # noqa: BLE001 - a failing variant is a finding, not the end of the check
                import traceback

                traceback.print_exc()
                rows.append({"variant": label, "seconds": None, "segments": None, "differing_segments": None,
                             "identical": f"failed: {type(err).__name__}: {err}"[:200], "first_difference": None,
                             "wer": None})
                log(f"{model} · {label}: " + json.dumps(rows[-1]))
                continue
            finally:
                if prefetch is not None:
                    pipeline.PREFETCH = saved
            segments = list(zip(frame.start.round(3), frame.end.round(3), frame.text))
            if reference is None:
                reference = segments
            diff = _segment_diff(reference, segments)
            rows.append({"variant": label, "seconds": round(seconds, 1), "segments": len(segments),
                         "identical": diff["identical"], "differing_segments": diff["differing"],
                         "first_difference": diff["first"],
                         "wer": round(word_error_rate(fixture.reference, " ".join(frame.text)), 4)})
            log(f"{model} · {label}: " + json.dumps(rows[-1]))
        results[model] = {"rows": rows}
        release_models()
    return {"mode": "check-text", "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "device": device_name(device), "audio": f"{fixture.path.name} ({fixture.duration / 60:.1f} min)",
            "models": results}


def _segment_diff(a: list, b: list) -> dict:
    if a == b:
        return {"identical": True, "differing": 0, "first": None}
    import difflib

    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    differing = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal")
    first = next(((a[i1:i2][:1], b[j1:j2][:1]) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"),
                 None)
    same_text = [t for _, _, t in a] == [t for _, _, t in b]
    return {"identical": "text only (times differ)" if same_text else False, "differing": differing,
            "first": repr(first)[:300]}


def text_table(result: dict) -> str:
    lines = [f"{result['date']} · {result['device']} · {result['audio']} · real weights, free decoding", "",
             "| model | variant | identical to baseline | differing segments | segments | WER | seconds (1st row: + model load) |",
             "|---|---|---|---|---|---|---|"]
    for model, block in result["models"].items():
        for r in block["rows"]:
            wer = f"{r['wer'] * 100:.2f}%" if r["wer"] is not None else "-"
            lines.append(f"| {model} | {r['variant']} | {r['identical']} | {r['differing_segments']} | "
                         f"{r['segments']} | {wer} | {r['seconds']} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Memory scan: one subprocess per length, so each peak is its own


def memory_scan(args) -> dict:
    device = resolve_device(args.device)
    minutes = [float(m) for m in args.minutes_list.split(",")]
    model = args.model
    model_dir(model, device)  # random weights are built once, here, not inside a measured child
    rows = []
    for m in minutes:
        fixture = audio_fixture(m, args.silence_s)  # built here, so the child's peak is transcription alone
        command = [sys.executable, str(Path(__file__).resolve()), "--memory-child", "--model", model,
                   "--device", device, "--minutes", str(m), "--silence-s", str(args.silence_s),
                   "--tokens-per-window", str(args.tokens_per_window), "--compile-backend", args.compile_backend,
                   "--threads", str(args.threads)]
        if args.batch_size:
            command += ["--batch-size", str(args.batch_size)]
        if args.scan_compile:
            command.append("--scan-compile")
        log(f"memory scan: {m:g} min ({fixture.path.name}) ...")
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-4000:])
            rows.append({"minutes": m, "status": f"failed (exit {done.returncode})"})
            continue
        child = json.loads(done.stdout.strip().splitlines()[-1])
        child["process_s"] = round(time.perf_counter() - started, 1)
        rows.append(child)
        log("  " + json.dumps(child))
    return {"mode": "memory-scan", "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "device": device_name(device), "model": model, "rows": rows}


def memory_child(args) -> None:
    """One length: load, warm up on the first 30 s (and a full batch with compile), transcribe the file
    (streamed from disk); print one JSON line. Peak RSS is reset after the warm-up."""
    import torch

    import whisperkit_nb as wk
    from whisperkit_nb.engines.models import load_model

    ensure_vad_model()
    device = resolve_device(args.device)
    cuda = device.startswith("cuda")
    fixture = audio_fixture(args.minutes, args.silence_s)
    path = model_dir(args.model, device)
    options = wk.TranscribeOptions(model=str(path), device=device, language="en", progress=False,
                                   batch_size=args.batch_size, compile=args.scan_compile)
    notes: list[str] = []
    source: Any = str(fixture.path)
    if importlib.util.find_spec("av") is None:
        source = read_samples(fixture.path)
        notes.append("av is not installed: the whole file was read into memory (RSS grows with length)")
    whisper = load_model(options)
    forced = ForcedTokens(whisper.tokenizer, args.tokens_per_window) if is_random(args.model) else None
    if args.scan_compile and args.compile_backend != "inductor":
        _precompile(whisper, args.compile_backend, notes)
    with forced_library_decoding(forced):
        warm = wk.transcribe(_wav_head(fixture.path, 30.0), options)  # load, first calls
        batch = next(iter(warm.attrs["files"].values()), {}).get("batch_size") or 1
        if args.scan_compile:  # compiled graphs are per batch shape: warm a full batch as well
            wk.transcribe(_wav_head(fixture.path, min(fixture.duration, batch * 30.0 + 60.0)), options)
        del warm
        gc.collect()
        rss_process = peak_rss_bytes()
        rss_reset = reset_peak_rss()  # the peak below is the transcription's own
        rss_before = peak_rss_bytes()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        sampler = RssSampler()
        started = time.perf_counter()
        with sampler:
            frame = wk.transcribe(source, options)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
    if not rss_reset:
        notes.append("peak RSS could not be reset: it includes loading and warm-up")
    # CPU seconds (all threads) are far less disturbed than wall time by other work on a shared machine.
    cpu_s = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    info = next(iter(frame.attrs["files"].values()), {})
    out = {
        "minutes": args.minutes, "model": args.model, "wall_s": round(wall, 2),
        "x_real_time": round(fixture.duration / wall, 1),
        "s_per_audio_hour": round(wall / (fixture.duration / 3600), 1),
        "cpu_s": round(cpu_s, 1), "cpu_s_per_audio_hour": round(cpu_s / (fixture.duration / 3600), 1),
        "peak_rss_mib": round(peak_rss_bytes() / 2**20), "rss_after_load_and_warmup_mib": round(rss_before / 2**20),
        "peak_rss_load_and_warmup_mib": round(rss_process / 2**20),
        **sampler.summary(),
        "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20) if cuda else None,
        "segments": len(frame), "chunks": info.get("chunks"), "batch_size": info.get("batch_size"),
        "forced_tokens": forced.n if forced else None, "notes": notes,
    }
    print(json.dumps(out), flush=True)


class RssSampler:
    """Samples this process's resident memory twice a second while a run lasts: a flat median with spikes
    means per-batch transients, a rising median means memory that grows with the audio."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.every_s = every_s
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.perf_counter()
        while not self._stop.is_set():
            try:
                for line in Path("/proc/self/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.samples.append((time.perf_counter() - started, int(line.split()[1]) * 1024))
            except OSError:
                return
            self._stop.wait(self.every_s)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        if len(self.samples) < 4:
            return {}
        import numpy as np

        times = np.array([t for t, _ in self.samples])
        rss = np.array([r for _, r in self.samples]) / 2**20
        halves = len(rss) // 2
        return {"rss_median_mib": round(float(np.median(rss))),
                "rss_median_first_half_mib": round(float(np.median(rss[:halves]))),
                "rss_median_second_half_mib": round(float(np.median(rss[halves:]))),
                "rss_sampled_max_at": f"{times[int(rss.argmax())] / times[-1]:.0%} of the run"}


def _wav_head(path: Path, seconds: float):
    import wave

    import numpy as np

    with wave.open(str(path), "rb") as wav:
        return np.frombuffer(wav.readframes(int(SAMPLE_RATE * seconds)), "<i2").astype(np.float32) / 32768.0


def memory_table(result: dict) -> str:
    lines = [(f"{result['date']} · {result['device']} · model {result['model']} · one process per length, "
              "file input (streamed)"), "",
             ("| minutes | wall s | x real time | wall s per audio hour | CPU s per audio hour | peak RSS MiB "
              "(transcription) | RSS median MiB (1st half / 2nd half) | RSS after load+warm-up MiB | peak GPU MiB "
              "| segments | batch |"),
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if "status" in r:
            lines.append(f"| {r['minutes']:g} | {r['status']} |" + " |" * 9)
            continue
        gpu = r["peak_gpu_mib"] if r["peak_gpu_mib"] is not None else "-"
        lines.append(f"| {r['minutes']:g} | {r['wall_s']} | {r['x_real_time']} | {r['s_per_audio_hour']} | "
                     f"{r.get('cpu_s_per_audio_hour', '-')} | {r['peak_rss_mib']} | "
                     f"{r.get('rss_median_first_half_mib', '-')} / {r.get('rss_median_second_half_mib', '-')} | "
                     f"{r['rss_after_load_and_warmup_mib']} | {gpu} | {r['segments']} | {r['batch_size']} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------


def write_result(result: dict, out: Path, name: str, table: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y-%m-%d")
    kind = "gpu" if "CPU only" not in result["device"] else "cpu"
    path = out / f"gpu-{name}-{kind}-{stamp}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({**result, "table": table}, indent=2))
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
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
    parser.add_argument("--smoke", action="store_true", help="tiny random model, 2 min, every system, CPU")
    parser.add_argument("--make-audio-pack", action="store_true")
    parser.add_argument("--check-text", action="store_true")
    parser.add_argument("--text-models", default="tiny.en,base")
    parser.add_argument("--text-minutes", type=float, default=5.0)
    parser.add_argument("--memory-scan", action="store_true")
    parser.add_argument("--minutes-list", default=None, help="memory scan lengths (default 10,60,180 CPU; 30,150 GPU)")
    parser.add_argument("--scan-compile", action="store_true", help="memory scan with compile=True (default on GPUs)")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.make_audio_pack:
        make_audio_pack()
        return 0
    import torch

    gpu = resolve_device(args.device).startswith("cuda")
    if args.smoke:
        args.model = args.model or "tiny-random"
        args.minutes = args.minutes or 2.0
        args.device = "cpu" if args.device == "auto" else args.device
        args.compile_backend = "eager" if args.compile_backend == "inductor" else args.compile_backend
        args.warmup_s = args.warmup_s or 10.0
        args.threads = args.threads or 1
        gpu = False
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args)
        return 0
    out = Path(args.out)
    if args.check_text:
        result = check_text(args)
        table = text_table(result)
        path = write_result(result, out, "check-text", table)
    elif args.memory_scan:
        args.model = args.model or ("large-v3" if gpu else "tiny.en")
        args.minutes_list = args.minutes_list or ("30,150" if gpu else "10,60,180")
        args.scan_compile = args.scan_compile or gpu
        result = memory_scan(args)
        table = memory_table(result)
        path = write_result(result, out, f"memory-{args.model}", table)
    else:
        args.model = args.model or ("large-v3" if gpu else "base")
        args.minutes = args.minutes or (150.0 if gpu else 5.0)
        torch.manual_seed(0)
        name = ("smoke-" if args.smoke else "") + args.model
        result = throughput(args, save=lambda partial, table: write_result(partial, out, name, table))
        table = throughput_table(result)
        path = write_result(result, out, name, table)
    log(f"wrote {path}")
    print(table, flush=True)
    return 0 if result.get("forced_tokens_check", "ok") == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
