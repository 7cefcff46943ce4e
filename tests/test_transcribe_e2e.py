"""End to end with real weights (offline packs) on real speech with references."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

import whisperkit_nb as wk
from whisperkit_nb.scoring.words import word_error_rate
from whisperkit_nb.engines.weights import resolve_model
from whisperkit_nb.engines.packs import offline_pack_dir


def words_inside(df, span, margin=0.5) -> int:
    lo, hi = span[0] + margin, span[1] - margin
    inside = df[(df.start < hi) & (df.end > lo)]
    return int(sum(len(t.split()) for t in inside.text))


def test_librivox_base_wer_and_timestamps(librivox):
    df = wk.transcribe(str(librivox.path), model="base", language="en", progress=False)
    wer = word_error_rate(librivox.reference, " ".join(df.text))
    print(f"base librivox WER {wer:.4f}")
    assert wer <= 0.03
    assert list(df.columns)[: len(wk.COLUMNS)] == list(wk.COLUMNS)
    assert (df.start < df.end).all() and df.start.is_monotonic_increasing
    assert df.speaker.isna().all() and (df.language == "en").all()
    assert df.avg_logprob.between(-1.5, 0).all() and df.no_speech_prob.between(0, 0.5).all()
    # Segments start and end with the speech, and none is centred in a pause between clips.
    assert abs(df.start.iloc[0] - librivox.turns[0].start) < 0.5
    assert abs(df.end.iloc[-1] - librivox.turns[-1].end) < 0.7
    for mid in (df.start + df.end) / 2:
        assert any(t.start - 0.1 <= mid <= t.end + 0.1 for t in librivox.turns), mid


def test_english_only_model_on_real_conversation(sample):
    df = wk.transcribe(str(sample.path), model="tiny.en", progress=False)
    wer = word_error_rate(sample.reference, " ".join(df.text))
    print(f"tiny.en pyannote sample WER {wer:.4f}")
    assert wer < 0.35  # telephone speech, two speakers, overlap: tiny.en is weak but must be on topic
    first_speech = min(t.start for t in sample.turns)
    assert df.start.min() >= first_speech - 0.5  # nothing before the first words (6 s of silence)
    assert (df.file == str(sample.path)).all()


def test_long_file_silence_is_empty_and_times_map_back(long_english):
    df = wk.transcribe(str(long_english.path), model="base", language="en", progress=False, batch_size=8)
    wer = word_error_rate(long_english.reference, " ".join(df.text))
    print(f"base 5-min Asterisk WER {wer:.4f}, {len(df)} segments")
    assert wer <= 0.05
    assert words_inside(df, long_english.silences[0]) == 0
    assert df.start.is_monotonic_increasing and (df.end <= long_english.turns[-1].end + 1.0).all()
    # Segment boundaries land near real prompt boundaries on the original timeline (not chunk time).
    bounds = np.array([t.start for t in long_english.turns])
    errors = [np.min(np.abs(bounds - s)) for s in df.start]
    assert np.median(errors) < 0.5


# 15 dB only: the 30 dB case (measured 2.46%, bound 4%) was the milder form of this one; the VAD's work in
# noise is tested here, the text of clean speech above.
@pytest.mark.parametrize(("snr_db", "bound"), [(15.0, 0.06)])
def test_room_noise_in_the_pauses_keeps_the_text_and_the_silence_empty(long_english, snr_db, bound):
    """The same 5 minutes with room noise (coloured noise and mains hum) under everything, pauses included:
    no pause is digital zero, so the VAD must find them in noise (measured: 4.71% at 15 dB)."""
    from assets import with_background_noise

    noisy = with_background_noise(long_english, snr_db)
    df = wk.transcribe(noisy, model="base", language="en", progress=False, batch_size=8)
    wer = word_error_rate(long_english.reference, " ".join(df.text))
    print(f"base 5-min Asterisk, room noise at {snr_db:g} dB SNR: WER {wer:.4f}, {len(df)} segments")
    assert wer <= bound
    assert words_inside(df, long_english.silences[0]) == 0  # 60 s of noise alone: no words
    bounds = np.array([t.start for t in long_english.turns])
    assert np.median([np.min(np.abs(bounds - s)) for s in df.start]) < 0.5


def test_fixed_strategy_runs_the_pipeline_method(librivox):
    df = wk.transcribe(str(librivox.path), model="tiny.en", chunking="fixed", progress=False)
    assert word_error_rate(librivox.reference, " ".join(df.text)) <= 0.05
    assert df.avg_logprob.isna().all()  # the HF pipeline does not expose token log-probabilities
    assert df.start.is_monotonic_increasing


def test_multilingual_detection_and_forced_language():
    from assets import asterisk_language_file

    spanish = asterisk_language_file("es", lead="silence", lead_s=5.0, speech_s=25.0)
    detected = wk.transcribe(str(spanish.path), model="base", progress=False)
    assert set(detected.language) == {"es"}
    assert detected.attrs["files"][str(spanish.path)]["language"] == "es"
    forced = wk.transcribe(str(spanish.path), model="base", language="spanish", progress=False)
    assert set(forced.language) == {"es"}
    assert word_error_rate(spanish.reference, " ".join(forced.text), normalize="basic") < 0.35


def test_silence_gives_empty_frame_with_columns():
    df = wk.transcribe(np.zeros(16000 * 20, np.float32), model="tiny.en", progress=False)
    assert df.empty and list(df.columns) == list(wk.COLUMNS)


def test_stream_segments_is_a_generator_in_time_order(librivox):
    stream = wk.stream_segments(str(librivox.path), model="tiny.en", progress=False)
    assert inspect.isgenerator(stream)
    first = next(stream)
    assert isinstance(first, wk.Segment) and first.text
    rest = list(stream)
    starts = [first.start] + [s.start for s in rest]
    assert starts == sorted(starts) and len(rest) >= 3


def test_list_of_inputs_keeps_order_and_arrays(librivox):
    from assets import read_wav

    samples, rate = read_wav(librivox.path)
    df = wk.transcribe([(samples, rate), str(librivox.path)], model="tiny.en", progress=False)
    assert list(dict.fromkeys(df.file)) == ["<array>", str(librivox.path)]
    texts = df.groupby("file", sort=False).text.apply(" ".join)
    assert texts.iloc[0] == texts.iloc[1]  # same audio, same options: identical text


def test_a_lists_next_input_is_planned_while_one_is_transcribed(librivox, sample, monkeypatch):
    """transcribe([...]) decodes and plans input k+1 on a thread while input k is transcribed: the next input's VAD
    pass starts before the one before has finished decoding, and the frame is the one taking turns gives."""
    import threading
    import time

    import whisperkit_nb.run.prepare as prepare
    import whisperkit_nb.run.transcribe as run_transcribe

    inputs = [str(librivox.path), str(sample.path), str(librivox.path)]
    options = dict(model="tiny.en", progress=False)
    monkeypatch.setattr(run_transcribe, "PREPARE_NEXT", False)
    in_turn = wk.transcribe(inputs, **options)
    monkeypatch.setattr(run_transcribe, "PREPARE_NEXT", True)

    planned: list[tuple[str, str, float]] = []  # (input, thread, when its VAD pass began)
    real_plan_input = prepare.plan_input

    def observed(source, *args, **kwargs):  # the real plan, only noted
        planned.append((source.name, threading.current_thread().name, time.perf_counter()))
        return real_plan_input(source, *args, **kwargs)

    monkeypatch.setattr(prepare, "plan_input", observed)
    monkeypatch.setattr("whisperkit_nb.run.stream.plan_input", observed)
    decoded: list[tuple[str, float]] = []
    ahead = wk.transcribe(inputs, callback=lambda e: e.stage == "transcribe" and decoded.append(
        (e.file, time.perf_counter())), **options)

    assert ahead[["file", "start", "end", "text"]].equals(in_turn[["file", "start", "end", "text"]])
    assert ahead.attrs["files"].keys() == in_turn.attrs["files"].keys()
    assert [(name, thread) for name, thread, _ in planned] == [
        (inputs[0], threading.main_thread().name), (inputs[1], "whisperkit-prepare-next"),
        (inputs[2], "whisperkit-prepare-next")]
    first_done = max(t for name, t in decoded if name == inputs[0])
    assert planned[1][2] < first_done, "the second input was planned only after the first was decoded"
    assert not [t.name for t in threading.enumerate() if t.name == "whisperkit-prepare-next"]


def test_a_list_whose_next_input_fails_keeps_the_others(librivox, tmp_path):
    """An input prepared ahead that cannot be read fails alone, by name, as it would in turn."""
    missing = str(tmp_path / "gone.wav")
    with pytest.warns(UserWarning, match="1 of 3 inputs failed"):
        df = wk.transcribe([str(librivox.path), missing, str(librivox.path)], model="tiny.en", progress=False)
    assert list(dict.fromkeys(df.file)) == [str(librivox.path)] and len(df.attrs["files"]) == 1
    assert missing in df.attrs["failures"] and "not found" in df.attrs["failures"][missing]


def test_model_sources_offline(tmp_path):
    pack = resolve_model("tiny.en")
    assert pack.source == "offline-pack" and (pack.path / "config.json").exists()
    local_ct2 = resolve_model(str(offline_pack_dir("tiny.en")))
    assert local_ct2.source == "ctranslate2" and local_ct2.path == pack.path  # converted once, cached
    local_hf = resolve_model(str(pack.path))
    assert local_hf.source == "local"
    with pytest.raises(wk.ModelError, match="Unknown model"):
        resolve_model("tiny-ish")
    with pytest.raises(wk.ModelError, match="hub is unreachable"):
        resolve_model("large-v3")
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(wk.ModelError, match="not a Whisper model"):
        resolve_model(str(tmp_path))


def test_default_model_on_cpu_without_hub():
    from whisperkit_nb.engines.weights import default_model_name

    import torch

    assert default_model_name(torch.device("cpu")) == "base"


def test_options_that_cannot_be_honoured_raise(librivox):
    with pytest.raises(wk.MissingDependencyError, match=r"whisperkit_nb\[flash\]"):
        wk.transcribe(str(librivox.path), model="tiny.en", attn_implementation="flash_attention_2")
    with pytest.raises(wk.OptionsError, match="float16"):
        wk.transcribe(str(librivox.path), model="tiny.en", dtype="float16", device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wk.transcribe(str(librivox.path), model="tiny.en", attn_implementation="eager", progress=False)
