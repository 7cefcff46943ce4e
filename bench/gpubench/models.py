"""Models: random weights built from bench/configs (the public architectures), or real ones (offline packs)."""

from __future__ import annotations

import gc
import gzip
import hashlib
import json
import shutil
import time
from pathlib import Path

from gpubench.common import BUILD_DIR, CONFIGS, log

RANDOM_MODELS = ("large-v3", "large-v3-turbo", "distil-large-v3", "medium")
# The smoke model: medium's vocabulary and mel bins, shrunk to a few MB.
SMOKE_CONFIG = {"d_model": 64, "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 128,
                "decoder_ffn_dim": 128, "encoder_layers": 2, "decoder_layers": 2, "num_hidden_layers": 2}


def is_random(name: str) -> bool:
    return name in RANDOM_MODELS or name == "tiny-random"


def model_dir(name: str, device: str) -> Path:
    """A transformers directory for `name`: a random-weight model built from bench/configs, or a real model."""
    if name not in RANDOM_MODELS and name != "tiny-random":
        from whisperkit_nb.engines.weights import resolve_model

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
        dtype = torch.float16 if init_device == "cuda" else torch.float32
        model = WhisperForConditionalGeneration._from_config(whisper_config, dtype=dtype)
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
