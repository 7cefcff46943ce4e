"""Lossless conversion of CTranslate2 (faster-whisper) Whisper directories into transformers models.

The offline weight packs (:mod:`whisperkit_nb.packs`) are CTranslate2 float16 directories. Their tensors are
OpenAI's, only renamed and fused, so this module reads ``model.bin`` itself (neither ``ctranslate2`` nor
``faster-whisper`` is needed), undoes the fusing and writes a directory that
``WhisperForConditionalGeneration.from_pretrained`` and ``WhisperProcessor.from_pretrained`` load.

``model.bin`` layout (CTranslate2 ``specs/model_spec.py``, binary version 6; little-endian, no padding)::

    u32 version | string spec_name | u32 revision | u32 n_variables
    n_variables x (string name | u8 rank | rank x u32 dim | u8 dtype_id | u32 n_bytes | n_bytes raw data)
    u32 n_aliases | n_aliases x (string alias | string target)

where ``string`` is a u16 length counting a trailing NUL, then the UTF-8 bytes and the NUL, and ``dtype_id``
indexes (float32, int8, int16, int32, float16, bfloat16). Scalars (rank 0) hold spec settings such as
``encoder/num_heads``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from whisperkit_nb.cache import cache_dir

__all__ = ["convert_ct2_whisper", "converted_dir_for", "is_ct2_whisper_dir", "read_ct2_model_bin"]

_DTYPES: dict[int, str] = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}
_LOSSLESS = {"float32", "float16"}
_WHISPER_SPEC = "WhisperSpec"
_N_TIMESTAMPS = 1501  # <|0.00|> .. <|30.00|> in 0.02 s steps
_HEAD_DIM = 64  # every Whisper size uses 64-dim heads; the fallback when a spec lacks num_heads
# Decoder settings CTranslate2 stores as scalars, and the values that match transformers' Whisper.
_EXPECTED_SETTINGS = {
    "decoder/activation": 3,  # GELU (erf), transformers' "gelu"
    "decoder/pre_norm": 1,
    "decoder/scale_embeddings": 0,
    "decoder/alibi": 0,
    "decoder/start_from_zero_embedding": 0,
}
# Runtime defaults of CTranslate2's own alignment; the real heads come from config.json.
_IGNORED_SETTINGS = {"decoder/alignment_layer", "decoder/alignment_heads", "encoder/num_heads", "decoder/num_heads"}
# Bump when the output of the conversion changes, so cached conversions are redone.
_CONVERTER_VERSION = 2


def is_ct2_whisper_dir(path: str | os.PathLike[str]) -> bool:
    """Tell whether `path` is a CTranslate2 Whisper directory, reading only the head of ``model.bin``.

    Parameters
    ----------
    path : str or os.PathLike
        A directory.

    Returns
    -------
    bool
        True when the directory has ``model.bin`` and ``config.json`` and the model's spec is Whisper's.
    """
    path = Path(path)
    if not (path / "model.bin").is_file() or not (path / "config.json").is_file():
        return False
    try:
        with open(path / "model.bin", "rb") as f:
            head = f.read(4 + 2 + 256)
        (version,) = struct.unpack_from("<I", head, 0)
        spec, _ = _unpack_string(head, 4)
    except (OSError, struct.error, UnicodeDecodeError):
        return False
    return version >= 2 and spec == _WHISPER_SPEC


def read_ct2_model_bin(
    path: str | os.PathLike[str],
) -> tuple[str, dict[str, np.ndarray], dict[str, str]]:
    """Read a CTranslate2 ``model.bin`` without copying its tensors.

    Parameters
    ----------
    path : str or os.PathLike
        The ``model.bin`` file, or the directory holding it.

    Returns
    -------
    spec_name : str
        The model specification, e.g. ``"WhisperSpec"``.
    variables : dict of str to numpy.ndarray
        Every variable by name: copy-on-write views into a memory map of the file (writing to one never
        touches the file). Rank-0 entries are spec settings.
    aliases : dict of str to str
        Variables stored once under another name (alias to target).

    Raises
    ------
    ValueError
        For a file that is not a CTranslate2 model of a supported format version, or whose weights are
        quantized (int8/int16) or bfloat16: only float16/float32 models convert losslessly.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model.bin"
    # mode "c": writable views (torch.from_numpy refuses read-only arrays) that never write back to the file.
    raw = np.memmap(path, dtype=np.uint8, mode="c")
    try:
        spec_name, variables, aliases, end = _parse_model_bin(raw, path)
    except (struct.error, IndexError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a complete CTranslate2 model.bin ({err})") from err
    if end != raw.size:
        raise ValueError(f"{path}: the model ends at byte {end} but the file has {raw.size} (truncated or corrupt?)")
    return spec_name, variables, aliases


def convert_ct2_whisper(ct2_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Convert a CTranslate2 Whisper directory into a transformers one, bit for bit.

    Parameters
    ----------
    ct2_dir : str or os.PathLike
        Directory with ``model.bin``, ``config.json`` and ``tokenizer.json`` (faster-whisper layout).
    out_dir : str or os.PathLike
        Where to write; must not exist. The directory appears complete or not at all.

    Returns
    -------
    pathlib.Path
        `out_dir`, holding model (safetensors, in the CTranslate2 dtype), configs and processor files.

    Raises
    ------
    ValueError
        When the model is not Whisper, is quantized, or has tensors transformers' Whisper cannot hold.
    FileExistsError
        When `out_dir` exists.
    """
    import torch
    from transformers import WhisperForConditionalGeneration

    ct2_dir, out_dir = Path(ct2_dir), Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} already exists; not overwriting it.")
    spec_name, variables, aliases = read_ct2_model_bin(ct2_dir / "model.bin")
    if spec_name != _WHISPER_SPEC:
        raise ValueError(f"{ct2_dir}: the model is a CTranslate2 {spec_name}, not a Whisper model.")
    ct2_config = json.loads((ct2_dir / "config.json").read_text(encoding="utf-8"))
    tokenizer = _tokenizer(ct2_dir / "tokenizer.json")
    config, generation_config = _configs(variables, ct2_config, tokenizer)

    state = _state_dict(variables, aliases)
    with torch.device("meta"):  # no random init: every tensor is replaced by a file-backed one below
        model = WhisperForConditionalGeneration(config)
    tensors = {name: torch.from_numpy(array) for name, array in state.items()}
    tensors["proj_out.weight"] = tensors["model.decoder.embed_tokens.weight"]
    model.load_state_dict(tensors, strict=True, assign=True)
    model.tie_weights()
    left_on_meta = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left_on_meta or model.proj_out.weight.data_ptr() != model.model.decoder.embed_tokens.weight.data_ptr():
        raise ValueError(f"{ct2_dir}: conversion left tensors unset ({left_on_meta}) or the output projection untied.")
    model.generation_config = generation_config
    tokenizer.model_max_length = config.max_target_positions

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
    try:
        with _no_progress_bars():  # a one-off sub-second write; a bar would only clutter notebook output
            model.save_pretrained(tmp)
        _processor(tokenizer, config.num_mel_bins).save_pretrained(tmp)
        # mkdtemp and the safetensors writer make private files; the cache holds public weights.
        tmp.chmod(0o755)
        for file in tmp.iterdir():
            file.chmod(0o644)
        try:
            os.rename(tmp, out_dir)
        except OSError as err:  # another process finished first
            raise FileExistsError(f"{out_dir} appeared while converting") from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def converted_dir_for(ct2_dir: str | os.PathLike[str], *, name: str | None = None) -> Path:
    """Return the transformers conversion of `ct2_dir` from the cache, converting it the first time.

    Parameters
    ----------
    ct2_dir : str or os.PathLike
        A CTranslate2 Whisper directory.
    name : str, optional
        Readable prefix of the cache entry; defaults to the directory's name (or its parent's, when the
        directory has a generic name such as ``model``).

    Returns
    -------
    pathlib.Path
        ``cache_dir()/converted/<name>-<key>``, where the key hashes the absolute ``model.bin`` path, size and
        modification time, so a changed or moved model is converted anew.
    """
    ct2_dir = Path(ct2_dir).absolute()
    stat = (ct2_dir / "model.bin").stat()
    identity = f"{ct2_dir / 'model.bin'}\0{stat.st_size}\0{stat.st_mtime_ns}\0{_CONVERTER_VERSION}"
    key = hashlib.sha256(identity.encode()).hexdigest()[:12]
    if name is None:
        name = ct2_dir.parent.name if ct2_dir.name in {"model", "data", "ct2"} else ct2_dir.name
    out = cache_dir() / "converted" / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', name)}-{key}"
    if out.is_dir():  # complete by construction: conversions appear by an atomic rename
        return out
    try:
        return convert_ct2_whisper(ct2_dir, out)
    except FileExistsError:
        if out.is_dir():
            return out
        raise


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _parse_model_bin(raw: np.ndarray, path: Path) -> tuple[str, dict[str, np.ndarray], dict[str, str], int]:
    """Walk the layout described in the module docstring; also return where the model ends."""
    (version,) = struct.unpack_from("<I", raw, 0)
    # Version 4 introduced dtype ids (earlier files store item sizes); no Whisper model predates it.
    if not 4 <= version <= 6:
        raise ValueError(f"{path}: CTranslate2 model.bin format version {version} is not supported (4 to 6 are).")
    spec_name, pos = _unpack_string(raw, 4)
    _revision, n_variables = struct.unpack_from("<II", raw, pos)
    pos += 8
    variables: dict[str, np.ndarray] = {}
    for _ in range(n_variables):
        name, pos = _unpack_string(raw, pos)
        rank = int(raw[pos])
        shape = struct.unpack_from(f"<{rank}I", raw, pos + 1)
        pos += 1 + 4 * rank
        dtype_id, n_bytes = struct.unpack_from("<BI", raw, pos)
        pos += 5
        dtype = _DTYPES.get(dtype_id)
        # Integer scalars are spec settings; integer or bfloat16 tensors are quantized weights.
        if dtype in (None, "bfloat16") or (rank > 0 and dtype not in _LOSSLESS):
            raise ValueError(
                f"{path}: variable {name!r} is stored as {dtype or f'dtype id {dtype_id}'}; only float16/float32 "
                "CTranslate2 models can be converted losslessly (this one is quantized or bfloat16)."
            )
        if pos + n_bytes > raw.size:
            raise ValueError(f"{path}: the file ends inside variable {name!r} (truncated download?)")
        # Tensors sit at arbitrary byte offsets (often odd); numpy and torch both accept unaligned views.
        variables[name] = raw[pos : pos + n_bytes].view(np.dtype(dtype)).reshape(shape)
        pos += n_bytes
    (n_aliases,) = struct.unpack_from("<I", raw, pos)
    pos += 4
    aliases: dict[str, str] = {}
    for _ in range(n_aliases):
        alias, pos = _unpack_string(raw, pos)
        aliases[alias], pos = _unpack_string(raw, pos)
    return spec_name, variables, aliases, pos


def _unpack_string(buffer, pos: int) -> tuple[str, int]:
    (length,) = struct.unpack_from("<H", buffer, pos)
    start = pos + 2
    return bytes(buffer[start : start + length - 1]).decode("utf-8"), start + length


def _state_dict(variables: dict[str, np.ndarray], aliases: dict[str, str]) -> dict[str, np.ndarray]:
    """Map CTranslate2 names onto transformers' Whisper names, splitting fused projections (no copies)."""
    pending = dict(variables)
    state: dict[str, np.ndarray] = {}

    def take(name: str) -> np.ndarray:
        if name not in pending:
            raise ValueError(f"the CTranslate2 model has no variable {name!r}; is it a Whisper model?")
        return pending.pop(name)

    def linear(hf: str, ct2: str) -> None:
        state[f"{hf}.weight"], state[f"{hf}.bias"] = take(f"{ct2}/weight"), take(f"{ct2}/bias")

    def norm(hf: str, ct2: str) -> None:
        state[f"{hf}.weight"], state[f"{hf}.bias"] = take(f"{ct2}/gamma"), take(f"{ct2}/beta")

    def fused(hf: str, ct2: str, parts: tuple[str, ...]) -> None:
        weights = np.split(take(f"{ct2}/weight"), len(parts))
        biases = np.split(take(f"{ct2}/bias"), len(parts))
        for part, weight, bias in zip(parts, weights, biases):
            state[f"{hf}.{part}.weight"] = weight
            if part != "k_proj":
                state[f"{hf}.{part}.bias"] = bias
            # CTranslate2 fills the bias Whisper's key projection lacks with zeros; anything else would be lost.
            elif np.any(bias):
                raise ValueError(f"{ct2}: the key projection has a non-zero bias, which transformers' Whisper lacks.")

    def block(hf: str, ct2: str, *, cross: bool) -> None:
        fused(f"{hf}.self_attn", f"{ct2}/self_attention/linear_0", ("q_proj", "k_proj", "v_proj"))
        linear(f"{hf}.self_attn.out_proj", f"{ct2}/self_attention/linear_1")
        norm(f"{hf}.self_attn_layer_norm", f"{ct2}/self_attention/layer_norm")
        if cross:
            linear(f"{hf}.encoder_attn.q_proj", f"{ct2}/attention/linear_0")
            fused(f"{hf}.encoder_attn", f"{ct2}/attention/linear_1", ("k_proj", "v_proj"))
            linear(f"{hf}.encoder_attn.out_proj", f"{ct2}/attention/linear_2")
            norm(f"{hf}.encoder_attn_layer_norm", f"{ct2}/attention/layer_norm")
        linear(f"{hf}.fc1", f"{ct2}/ffn/linear_0")
        linear(f"{hf}.fc2", f"{ct2}/ffn/linear_1")
        norm(f"{hf}.final_layer_norm", f"{ct2}/ffn/layer_norm")

    linear("model.encoder.conv1", "encoder/conv1")
    linear("model.encoder.conv2", "encoder/conv2")
    state["model.encoder.embed_positions.weight"] = take("encoder/position_encodings/encodings")
    for i in range(count_layers(variables, "encoder")):
        block(f"model.encoder.layers.{i}", f"encoder/layer_{i}", cross=False)
    norm("model.encoder.layer_norm", "encoder/layer_norm")

    state["model.decoder.embed_tokens.weight"] = take("decoder/embeddings/weight")
    state["model.decoder.embed_positions.weight"] = take("decoder/position_encodings/encodings")
    for i in range(count_layers(variables, "decoder")):
        block(f"model.decoder.layers.{i}", f"decoder/layer_{i}", cross=True)
    norm("model.decoder.layer_norm", "decoder/layer_norm")

    # transformers ties proj_out to embed_tokens; CTranslate2 normally stores it as an alias.
    projection = pending.pop("decoder/projection/weight", None)
    if aliases.get("decoder/projection/weight") != "decoder/embeddings/weight" and not (
        projection is not None and np.array_equal(projection, state["model.decoder.embed_tokens.weight"])
    ):
        raise ValueError("the output projection differs from the token embedding; transformers' Whisper ties them.")

    for name in list(pending):
        if name in _EXPECTED_SETTINGS and int(pending[name]) != _EXPECTED_SETTINGS[name]:
            expected = _EXPECTED_SETTINGS[name]
            raise ValueError(f"{name} = {int(pending[name])}, but transformers' Whisper needs {expected}.")
        if name in _EXPECTED_SETTINGS or name in _IGNORED_SETTINGS:
            del pending[name]
    if pending:
        raise ValueError(f"CTranslate2 variables with no place in transformers' Whisper: {sorted(pending)}")
    return state


def count_layers(variables: dict[str, np.ndarray], stack: str) -> int:
    """How many layers the ``stack`` ("encoder" or "decoder") of a CTranslate2 Whisper model.bin holds."""
    pattern = re.compile(rf"{stack}/layer_(\d+)/")
    return len({m.group(1) for name in variables if (m := pattern.match(name))})


def num_heads(variables: dict[str, np.ndarray], stack: str, d_model: int) -> int:
    """Attention heads of ``stack``: CTranslate2 >= 3 stores them; older Whisper specs did not, and Whisper heads
    are always `_HEAD_DIM` wide."""
    return int(variables.get(f"{stack}/num_heads", d_model // _HEAD_DIM))


def _tokenizer(tokenizer_json: Path):
    """Load the CTranslate2 ``tokenizer.json`` as transformers' Whisper tokenizer, completed for generation."""
    from tokenizers import AddedToken
    from transformers import WhisperTokenizerFast

    added = json.loads(tokenizer_json.read_text(encoding="utf-8"))["added_tokens"]
    specials = [t["content"] for t in sorted(added, key=lambda t: t["id"]) if t["special"]]
    # Registering <|endoftext|> .. <|notimestamps|> as special tokens matters beyond skip_special_tokens:
    # the tokenizer takes "last special id + 1" as the first timestamp token when decoding offsets.
    # The pad token lets the ASR pipeline batch; Whisper pads with <|endoftext|>.
    tokenizer = WhisperTokenizerFast(
        tokenizer_file=str(tokenizer_json), pad_token="<|endoftext|>", extra_special_tokens=specials
    )
    first = tokenizer.convert_tokens_to_ids("<|notimestamps|>") + 1
    if "<|0.00|>" not in tokenizer.get_vocab():
        # faster-whisper's tokenizer.json stops at <|notimestamps|>; timestamps follow it, as in OpenAI's vocab.
        timestamps = [f"<|{i * 0.02:.2f}|>" for i in range(_N_TIMESTAMPS)]
        tokenizer.add_tokens([AddedToken(t, lstrip=False, rstrip=False, normalized=False) for t in timestamps])
    ids = tokenizer.convert_tokens_to_ids(["<|0.00|>", "<|30.00|>"])
    if ids != [first, first + _N_TIMESTAMPS - 1]:
        raise ValueError(f"{tokenizer_json}: timestamp tokens have ids {ids}, expected {first} and {first + 1500}.")
    return tokenizer


def _configs(variables: dict[str, np.ndarray], ct2_config: dict, tokenizer):
    """Build ``WhisperConfig`` from tensor shapes and ``GenerationConfig`` from CTranslate2's config.json."""
    from transformers import GenerationConfig, WhisperConfig

    vocab_size, d_model = variables["decoder/embeddings/weight"].shape
    if vocab_size != len(tokenizer):
        raise ValueError(f"the model has {vocab_size} token embeddings but the tokenizer {len(tokenizer)} tokens.")
    token = tokenizer.convert_tokens_to_ids
    eot, sot = token("<|endoftext|>"), token("<|startoftranscript|>")
    n_layers = {stack: count_layers(variables, stack) for stack in ("encoder", "decoder")}
    heads = {s: num_heads(variables, s, d_model) for s in ("encoder", "decoder")}
    config = WhisperConfig(
        vocab_size=vocab_size,
        num_mel_bins=variables["encoder/conv1/weight"].shape[1],
        d_model=d_model,
        encoder_layers=n_layers["encoder"],
        decoder_layers=n_layers["decoder"],
        encoder_attention_heads=heads["encoder"],
        decoder_attention_heads=heads["decoder"],
        encoder_ffn_dim=variables["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        decoder_ffn_dim=variables["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        max_source_positions=variables["encoder/position_encodings/encodings"].shape[0],
        max_target_positions=variables["decoder/position_encodings/encodings"].shape[0],
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=sot,
        # Generation settings live in the GenerationConfig only; transformers warns when both carry them.
        begin_suppress_tokens=None,
        suppress_tokens=None,
        dtype=str(variables["decoder/embeddings/weight"].dtype),
    )
    # OpenAI's rule: English-only vocabularies have 51864 tokens. CTranslate2's lang_ids cannot tell:
    # tiny.en's config.json lists 98 language tokens.
    multilingual = vocab_size >= 51865
    # Older conversions lack alignment heads; CTranslate2 then uses every head of the last half of the layers.
    n_decoder = n_layers["decoder"]
    alignment_heads = ct2_config.get("alignment_heads") or [
        [layer, head] for layer in range(n_decoder // 2, n_decoder) for head in range(heads["decoder"])
    ]
    generation = GenerationConfig(
        alignment_heads=[list(pair) for pair in alignment_heads],
        begin_suppress_tokens=ct2_config.get("suppress_ids_begin"),
        suppress_tokens=ct2_config.get("suppress_ids"),
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        decoder_start_token_id=sot,
        no_timestamps_token_id=token("<|notimestamps|>"),
        prev_sot_token_id=token("<|startofprev|>"),
        is_multilingual=multilingual,
        max_initial_timestamp_index=50,
        max_length=config.max_target_positions,
        return_timestamps=False,
        forced_decoder_ids=None,
    )
    # transformers' Whisper generate() treats the mere presence of lang_to_id/task_to_id as "multilingual"
    # (language detection, task tokens), so English-only models must not have them.
    if multilingual:
        generation.lang_to_id = {tokenizer.convert_ids_to_tokens(i): i for i in ct2_config["lang_ids"]}
        generation.task_to_id = {"transcribe": token("<|transcribe|>"), "translate": token("<|translate|>")}
        # Hub checkpoints get <|transcribe|> from the deprecated forced_decoder_ids; without either, a call
        # that detects the language leaves the task token out and the model rambles or stops early.
        generation.task = "transcribe"
    return config, generation


def _processor(tokenizer, num_mel_bins: int):
    from transformers import WhisperFeatureExtractor, WhisperProcessor

    return WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=num_mel_bins), tokenizer=tokenizer)
