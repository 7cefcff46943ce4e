"""The CTranslate2 engine's encoder on torch: bfloat16 (CPUs with AMX) and float32 (CPUs without AVX-512), the
pack's own weights, output nearer float32's than CTranslate2's int8, the pipeline's words under the same bounds,
and the rule that picks the dtype.

Which encoder the default runs depends on the CI machine's CPU; the tests that need one build it (or tell the
rule what the CPU has), which torch runs on any CPU, only more slowly without AMX for bfloat16.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import whisperkit_nb as wk
from whisperkit_nb.audio.log_mel import LogMel
from whisperkit_nb.audio.source import SAMPLE_RATE, open_audio
from whisperkit_nb.engines import torch_encoder
from whisperkit_nb.engines.torch_encoder import TorchEncoder
from whisperkit_nb.engines.packs import offline_pack_dir
from whisperkit_nb.engines.registry import load_model, release_models
from whisperkit_nb.options import TranscribeOptions
from whisperkit_nb.scoring.words import word_error_rate

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


def _relative_error(found: torch.Tensor, reference: torch.Tensor) -> float:
    return float((found - reference).norm() / reference.norm())


@pytest.mark.parametrize(("amx", "bf16", "capability", "expected"), [
    (True, True, "AVX512", torch.bfloat16), (False, True, "AVX512", torch.bfloat16), (False, False, "AVX512", None),
    (False, False, "AVX2", torch.float32), (False, False, "DEFAULT", torch.float32),
])
def test_the_rule_is_the_cpu_and_the_automatic_dtype(amx, bf16, capability, expected, monkeypatch):
    monkeypatch.setattr(torch_encoder, "has_amx", lambda: amx)
    monkeypatch.setattr(torch_encoder, "has_avx512_bf16", lambda: bf16)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    assert torch_encoder.encoder_dtype("cpu", "auto") == expected
    assert torch_encoder.encoder_dtype("cpu", "float32") is None, "an explicit dtype is CTranslate2's for the model"
    assert torch_encoder.encoder_dtype("cuda", "auto") is None


def test_encoder_is_nearer_float32_than_int8_on_real_speech(librivox):
    """Same features, three encoders: transformers in float32 (the reference), ours in bfloat16, CTranslate2's
    int8. Ours must be close to the reference, and closer than int8 is (2.2% against 5.9% on base, measured),
    and equal to transformers' own encoder cast to bfloat16."""
    from transformers import WhisperForConditionalGeneration

    from whisperkit_nb.engines.ct2_weights import converted_dir_for

    pack = offline_pack_dir("base")
    samples = np.concatenate(list(open_audio(str(librivox.path), "error").blocks()))[: 30 * SAMPLE_RATE]
    features = LogMel(80, torch.device("cpu"))([samples])
    reference_model = WhisperForConditionalGeneration.from_pretrained(converted_dir_for(pack), dtype=torch.float32)
    with torch.inference_mode():
        reference = reference_model.model.encoder(features).last_hidden_state
    ours = TorchEncoder.from_ct2(pack)(features)
    # Our encoder is transformers' in bfloat16 written out in torch's ops (without importing transformers'
    # modelling): the same output bit for bit.
    transformers_bf16 = reference_model.model.encoder.to(torch.bfloat16)
    with torch.inference_mode():
        expected = transformers_bf16(features.to(torch.bfloat16)).last_hidden_state.float()
    assert torch.equal(ours, expected)
    release_models()
    int8 = load_model(TranscribeOptions(model="base", engine="ctranslate2", dtype="auto"))
    int8.torch_encoder = None  # CTranslate2's own encoder, whatever this CPU has
    from_int8 = int8.encode(features)
    release_models()
    assert ours.dtype == torch.float32 and ours.shape == reference.shape == from_int8.shape
    assert _relative_error(ours, reference) < 0.04
    assert _relative_error(ours, reference) < _relative_error(from_int8, reference)
    # In float32 (CPUs without AVX-512) the same ops give transformers' float32 encoder.
    ours_float32 = TorchEncoder.from_ct2(pack, torch.float32)(features)
    assert torch.allclose(ours_float32, reference, rtol=1e-4, atol=1e-4)


def test_quantized_weights_leave_the_encoder_to_ctranslate2(tmp_path):
    from test_ct2 import _write_model_bin

    _write_model_bin(tmp_path / "model.bin", [("encoder/conv1/weight", np.ones((2, 3), np.int8), 1)], {})
    assert TorchEncoder.from_ct2(tmp_path) is None


def test_a_model_bin_without_a_whole_encoder_is_refused_naming_it(tmp_path):
    from test_ct2 import _write_model_bin

    _write_model_bin(tmp_path / "model.bin", [("decoder/layer_0/ffn/linear_0/weight", np.ones((2, 3), np.float32), 0)],
                     {})
    with pytest.raises(ValueError, match=f"{tmp_path}: model.bin has no Whisper encoder"):
        TorchEncoder.from_ct2(tmp_path)
    positions = ("encoder/position_encodings/encodings", np.ones((4, 2), np.float32), 0)
    layer = ("encoder/layer_0/ffn/linear_0/weight", np.ones((2, 2), np.float32), 0)
    _write_model_bin(tmp_path / "model.bin", [positions, layer], {})
    with pytest.raises(ValueError, match="model.bin has no encoder variable 'encoder/conv1/weight'"):
        TorchEncoder.from_ct2(tmp_path)


@pytest.fixture(scope="module")
def two_minutes():
    """Two minutes of real English prompts with 30 s of digital silence inside: several windows in a batch."""
    from assets import asterisk_long

    return asterisk_long(minutes=2.0, silence_s=30.0)


# Each dtype on real speech: one window (LibriVox) in bfloat16, a batch of windows and a silence in float32. Longer
# files test nothing more here (the encoder sees 30 s windows whatever the file's length) at several times the
# cost: the 5-minute file in bfloat16 took 97 s of a 2-core CI machine without AMX, where torch emulates bfloat16,
# and in float32 it repeated test_transcribe_e2e's run on CPUs without AVX-512, whose default is this encoder.
@pytest.mark.parametrize(("fixture", "dtype"), [("librivox", "bfloat16"), ("two_minutes", "float32")])
def test_pipeline_words_with_the_torch_encoder(fixture, dtype, request, monkeypatch):
    """The whole default pipeline on real speech with the torch encoder, as an AMX CPU (bfloat16) or one without
    AVX-512 (float32) runs it: the bounds the int8 encoder is held to (test_ct2_engine), and the engine says which
    encoder it runs."""
    audio = request.getfixturevalue(fixture)
    monkeypatch.setattr(torch_encoder, "encoder_dtype", lambda *_: getattr(torch, dtype))
    release_models()
    try:
        engine = load_model(TranscribeOptions(model="base", engine="ctranslate2"))
        assert engine.torch_encoder is not None and engine.dtype_name == f"int8, encoder {dtype}"
        df = wk.transcribe(str(audio.path), model="base", engine="ctranslate2", language="en", progress=False)
        assert word_error_rate(audio.reference, " ".join(df.text)) <= (0.03 if fixture == "librivox" else 0.05)
        assert df.start.is_monotonic_increasing and (df.end > df.start).all()
    finally:
        release_models()
