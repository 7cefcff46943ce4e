"""Whisper's encoder in bfloat16 on torch, for the CTranslate2 engine on CPUs with Intel AMX.

CTranslate2 has no bfloat16 on a CPU; its int8 encoder runs on AVX-512 VNNI. On a CPU with AMX tiles, torch's
oneDNN multiplies bfloat16 matrices on them: base's encoder on 2 threads, 0.136 s a 30 s window in bfloat16
against 0.344 s through CTranslate2's int8 (and 0.417 s for bfloat16 with AMX switched off, so the rule is AMX,
not bfloat16 support; bench/encoder_precision.py). Its output is also nearer float32's (2.23% relative error
against 5.94% for int8 on real speech). The decoder stays in CTranslate2, which takes encoder output as it takes
features.

The weights are the CTranslate2 directory's own (float16 or float32 ``model.bin``, read without copying,
then cast once); a quantized model.bin cannot be read losslessly, and then CTranslate2 encodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

USE_AMX_ENCODER = True  # False: CTranslate2 encodes on every CPU (bench ablation; read at each encoder call)


def has_amx() -> bool:
    """Whether this CPU has AMX tiles that torch can use (torch's own check; False where torch lacks it)."""
    import torch

    check = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


def wanted(device_type: str, dtype_option: str) -> bool:
    """The rule: a CPU with AMX tiles, and the precision left to the engine (``dtype="auto"``); an explicit
    dtype is CTranslate2's compute type for the whole model, as asked."""
    return device_type == "cpu" and dtype_option == "auto" and has_amx()


class Bf16Encoder:
    """transformers' `WhisperEncoder` holding a CTranslate2 directory's encoder weights in bfloat16."""

    def __init__(self, encoder) -> None:
        self.encoder = encoder

    @classmethod
    def from_ct2(cls, directory: str | Path, tokenizer=None) -> Bf16Encoder | None:
        """The encoder of ``directory``'s ``model.bin``, or None when its weights are quantized (int8 or int16
        cannot be read back losslessly; CTranslate2 then encodes). ``tokenizer``: the directory's, when the
        caller has loaded it already (the model's config checks its size against the vocabulary)."""
        import json

        import torch
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        from whisperkit_nb.engines.ct2_weights import _configs, _state_dict, _tokenizer, read_ct2_model_bin

        directory = Path(directory)
        try:
            _, variables, aliases = read_ct2_model_bin(directory / "model.bin")
        except ValueError:
            return None
        ct2_config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        config, _ = _configs(variables, ct2_config, tokenizer or _tokenizer(directory / "tokenizer.json"))
        prefix = "model.encoder."
        state = {name[len(prefix):]: torch.from_numpy(array)
                 for name, array in _state_dict(variables, aliases).items() if name.startswith(prefix)}
        with torch.device("meta"):  # no random init: every tensor is replaced below
            encoder = WhisperEncoder(config)
        encoder.load_state_dict(state, strict=True, assign=True)
        return cls(encoder.to(torch.bfloat16).eval())

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        """Encoder output in float32, shaped as CTranslate2's (rows, frames / 2, d_model).

        One row at a time: a row's output is then the same in any batch (it is also in whole batches, measured,
        but nothing promises it), and rows alone run faster (base, 2 threads: 16 rows in 2.25 s, against 2.85 s
        in one call).
        """
        import torch

        config = self.encoder.config
        if len(features) == 0:
            return torch.zeros((0, config.max_source_positions, config.d_model))
        with torch.inference_mode():
            rows = [self.encoder(row[None].to(torch.bfloat16)).last_hidden_state.float() for row in features]
        return torch.cat(rows)
