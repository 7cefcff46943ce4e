"""Whisper's encoder on torch, for the CTranslate2 engine on CPUs where it beats CTranslate2's int8 encoder.

CTranslate2 has no bfloat16 on a CPU; its int8 encoder runs on AVX-512 VNNI. The rule (`encoder_dtype`), for
``dtype="auto"`` on a CPU:

- **bfloat16 instructions (AMX tiles or AVX512_BF16): bfloat16.** torch's oneDNN multiplies bfloat16 matrices
  with them. Intel Xeon with AMX, base's encoder on 2 threads: 0.136 s a 30 s window in bfloat16 against 0.344 s
  through CTranslate2's int8 (bench/encoder_precision.py). AMD EPYC with AVX-512 and AVX512_BF16 but no AMX:
  0.369 s against int8's 0.489 s and float32's 0.528 s (`encoder_precision-2026-12-07-1433.json`). Its output is
  also nearer float32's (2.2% relative error against 5.9% for int8 on real speech). Only a CPU with AVX512_BF16
  and no AMX tiles from Intel (Cooper Lake) would be slower than int8, going by the Intel machine with AMX switched
  off (0.417 s against 0.344 s); it too gets the nearer output.
- **No AVX-512 (AVX2 and older): float32.** There CTranslate2's int8 encoder is no faster than torch's float32
  one (AMD EPYC, AVX2, 2 threads: 0.63 s a window against 0.64-0.68 s, `encoder_precision-2026-12-06-1316.json`)
  and further from float32 (7.3%); the whole pipeline with it makes fewer word errors at the same speed
  (tune part 6.72% against 6.92%, `cpu_devset-2026-12-06-1413.json`; hard recordings 478 errors against 493,
  `-1757.json`; bench/README.md).
- **AVX-512 without bfloat16 instructions: CTranslate2's int8** (VNNI), as before; float32 there is not measured.

The decoder stays in CTranslate2, which takes encoder output as it takes features.

The weights are the CTranslate2 directory's own (float16 or float32 ``model.bin``, read without copying,
then cast once); a quantized model.bin cannot be read losslessly, and then CTranslate2 encodes.

The encoder is written out here in torch's functional ops rather than built from transformers' `WhisperEncoder`:
importing transformers' Whisper modelling costs 3-4 s in every process that loads a model, for about forty
lines of arithmetic. The ops and their order are transformers' (its SDPA path: the query scaled after its
projection, the key projection without a bias), so the output is the same bit for bit; the tests compare the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

USE_TORCH_ENCODER = True  # False: CTranslate2 encodes on every CPU (bench ablation; read at each encoder call)

_EPS = 1e-5  # Whisper's layer norms


def _cpu_has(check_name: str) -> bool:
    """torch's own CPU feature check ``torch.cpu.<check_name>``; False where this torch lacks it or it fails."""
    import torch

    check = getattr(torch.cpu, check_name, None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


def has_amx() -> bool:
    """Whether this CPU has AMX tiles that torch can use."""
    return _cpu_has("_is_amx_tile_supported")


def has_avx512_bf16() -> bool:
    """Whether this CPU has AVX-512's bfloat16 dot products (AVX512_BF16: AMD Zen 4 and later, Intel Cooper Lake
    and the Xeons with AMX)."""
    return _cpu_has("_is_avx512_bf16_supported")


def encoder_dtype(device_type: str, dtype_option: str) -> torch.dtype | None:
    """The rule (module docstring): the dtype torch encodes in, or None where CTranslate2's int8 encoder stays.

    Only on a CPU with the precision left to the engine (``dtype="auto"``); an explicit dtype is CTranslate2's
    compute type for the whole model, as asked. bfloat16 with AMX tiles or AVX512_BF16, float32 without AVX-512."""
    import torch

    if device_type != "cpu" or dtype_option != "auto":
        return None
    if has_amx() or has_avx512_bf16():
        return torch.bfloat16
    return None if torch.backends.cpu.get_cpu_capability().startswith("AVX512") else torch.float32


@dataclass(frozen=True)
class _Layer:
    """One encoder block's weights (the encoder's dtype): pre-norm self-attention, then a pre-norm GELU feed-forward."""

    attn_norm: tuple[torch.Tensor, torch.Tensor]
    q: tuple[torch.Tensor, torch.Tensor]
    k: torch.Tensor  # Whisper's key projection has no bias
    v: tuple[torch.Tensor, torch.Tensor]
    out: tuple[torch.Tensor, torch.Tensor]
    ffn_norm: tuple[torch.Tensor, torch.Tensor]
    fc1: tuple[torch.Tensor, torch.Tensor]
    fc2: tuple[torch.Tensor, torch.Tensor]


class TorchEncoder:
    """Whisper's encoder with a CTranslate2 directory's weights in bfloat16 or float32, on torch."""

    def __init__(self, variables: dict[str, torch.Tensor], n_layers: int, n_heads: int) -> None:
        self.dtype = next(iter(variables.values())).dtype  # the weights' (bfloat16 unless asked otherwise)
        def pair(name: str, first: str = "weight", second: str = "bias") -> tuple[torch.Tensor, torch.Tensor]:
            return variables[f"{name}/{first}"], variables[f"{name}/{second}"]

        self.conv1, self.conv2 = pair("encoder/conv1"), pair("encoder/conv2")
        self.positions = variables["encoder/position_encodings/encodings"]
        self.final_norm = pair("encoder/layer_norm", "gamma", "beta")
        self.d_model = int(self.positions.shape[1])
        self.n_heads = n_heads
        self.layers: list[_Layer] = []
        for i in range(n_layers):
            block = f"encoder/layer_{i}"
            # CTranslate2 fuses the query, key and value projections into one matrix, in that order.
            q, k, v = variables[f"{block}/self_attention/linear_0/weight"].chunk(3)
            q_bias, k_bias, v_bias = variables[f"{block}/self_attention/linear_0/bias"].chunk(3)
            if k_bias.any():  # CTranslate2 fills the bias Whisper's key projection lacks with zeros
                raise ValueError(f"{block}: the key projection has a non-zero bias; this is not Whisper's encoder")
            self.layers.append(_Layer(
                attn_norm=pair(f"{block}/self_attention/layer_norm", "gamma", "beta"),
                q=(q, q_bias), k=k, v=(v, v_bias),
                out=pair(f"{block}/self_attention/linear_1"),
                ffn_norm=pair(f"{block}/ffn/layer_norm", "gamma", "beta"),
                fc1=pair(f"{block}/ffn/linear_0"), fc2=pair(f"{block}/ffn/linear_1"),
            ))

    @classmethod
    def from_ct2(cls, directory: str | Path, dtype: torch.dtype | None = None) -> TorchEncoder | None:
        """The encoder of ``directory``'s ``model.bin``, or None when its weights are quantized (int8 or int16
        cannot be read back losslessly; CTranslate2 then encodes). ``dtype``: bfloat16 unless given."""
        import torch

        from whisperkit_nb.engines.ct2_weights import count_layers, num_heads, read_ct2_model_bin

        try:
            _, variables, _ = read_ct2_model_bin(Path(directory) / "model.bin")
        except ValueError:
            return None
        encoder = {name: torch.from_numpy(array).to(dtype or torch.bfloat16)
                   for name, array in variables.items() if name.startswith("encoder/") and array.ndim > 0}
        n_layers = count_layers(variables, "encoder")
        positions = encoder.get("encoder/position_encodings/encodings")
        if positions is None or n_layers == 0:
            raise ValueError(f"{directory}: model.bin has no Whisper encoder (no positions or layers under encoder/)")
        try:
            return cls(encoder, n_layers, num_heads(variables, "encoder", positions.shape[1]))
        except KeyError as err:
            raise ValueError(f"{directory}: model.bin has no encoder variable {err}; is it a Whisper model?") from err

    @property
    def frames(self) -> int:
        """Encoder frames per 30 s window (1500)."""
        return int(self.positions.shape[0])

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        """Encoder output in float32, shaped as CTranslate2's (rows, frames / 2, d_model).

        One row at a time: a row's output is then the same in any batch (it is also in whole batches, measured,
        but nothing promises it), and rows alone run faster (base, 2 threads: 16 rows in 2.25 s, against 2.85 s
        in one call).
        """
        import torch

        if len(features) == 0:
            return torch.zeros((0, self.frames, self.d_model))
        with torch.inference_mode():
            return torch.cat([self._encode(row[None].to(self.dtype)).float() for row in features])

    def _encode(self, mel: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        if mel.shape[-1] != 2 * self.frames:
            raise ValueError(f"Whisper's encoder takes {2 * self.frames} feature frames, got {mel.shape[-1]}")
        x = F.gelu(F.conv1d(mel, *self.conv1, padding=1))
        x = F.gelu(F.conv1d(x, *self.conv2, stride=2, padding=1))
        x = x.permute(0, 2, 1) + self.positions
        heads = (1, self.frames, self.n_heads, self.d_model // self.n_heads)
        scaling = heads[-1] ** -0.5
        for layer in self.layers:
            h = F.layer_norm(x, (self.d_model,), *layer.attn_norm, eps=_EPS)
            # transformers' order: the query scaled after its projection, attention itself unscaled.
            q = (F.linear(h, *layer.q) * scaling).view(heads).transpose(1, 2).contiguous()
            k = F.linear(h, layer.k).view(heads).transpose(1, 2).contiguous()
            v = F.linear(h, *layer.v).view(heads).transpose(1, 2).contiguous()
            a = F.scaled_dot_product_attention(q, k, v, scale=1.0).transpose(1, 2).contiguous()
            x = x + F.linear(a.reshape(1, self.frames, -1).contiguous(), *layer.out)
            h = F.layer_norm(x, (self.d_model,), *layer.ffn_norm, eps=_EPS)
            x = x + F.linear(F.gelu(F.linear(h, *layer.fc1)), *layer.fc2)
        return F.layer_norm(x, (self.d_model,), *self.final_norm, eps=_EPS)
