"""Batched log-mel features against transformers, and Whisper's decoding rules on a real model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import WhisperFeatureExtractor

import whisperkit_nb as wk
from whisperkit_nb.audio.log_mel import LogMel


@pytest.mark.parametrize("n_mels", [80, 128])
def test_log_mel_matches_whisper_feature_extractor(sample, n_mels):
    from assets import read_wav

    audio = read_wav(sample.path)[0] / 32768.0
    pieces = [audio[: 16000 * 30], audio[16000 * 3 : 16000 * 15], audio[: 16000 * 2] * 0.01]
    ours = LogMel(n_mels)(pieces).numpy()
    reference = WhisperFeatureExtractor(feature_size=n_mels)(
        pieces, sampling_rate=16000, return_tensors="np"
    ).input_features
    assert ours.shape == reference.shape == (3, n_mels, 3000)
    assert np.abs(ours - reference).max() < 2e-3
    assert np.abs(ours - reference).mean() < 1e-5


def test_decoding_obeys_timestamp_rules_on_real_audio(librivox):
    from assets import read_wav

    whisper = wk.load_model(model="base")
    audio = read_wav(librivox.path)[0] / 32768.0
    encoded = whisper.encode(LogMel(whisper.n_mels)([audio[:16000 * 26], audio[16000 * 8 : 16000 * 20]]))
    probs, codes = whisper.language_probabilities(encoded)
    assert codes[int(probs[0].argmax())] == "en" and probs[0].max() > 0.8
    results = whisper.decode(encoded, ["en", "en"], ["transcribe"] * 2, max_new_tokens=224)
    ts = whisper.tokens.timestamp_begin
    for result in results:
        stamps = [t for t in result.tokens if t >= ts]
        assert result.tokens[0] >= ts and result.tokens[0] - ts <= 50  # opens with an early timestamp
        assert stamps == sorted(stamps)  # never decreasing
        assert len(result.tokens) == len(result.logprobs) and all(lp <= 0 for lp in result.logprobs)
        assert 0.0 <= result.no_speech_prob < 0.2 and not result.truncated
        assert whisper.tokens.eot not in result.tokens and whisper.tokens.sot not in result.tokens
    text = whisper.tokenizer.decode([t for t in results[1].tokens if t < whisper.tokens.eot])
    assert "disposed" in text.lower()


@pytest.mark.parametrize("engine", ["transformers", "ctranslate2"])
def test_text_only_decoding_has_no_timestamps_and_the_same_words(librivox, engine):
    """``<|notimestamps|>`` decoding (segment_times='alignment'): no timestamp token anywhere, every word
    of timestamped decoding of the same audio. (Timestamped decoding of the 26 s window
    drops its last sentence, Whisper's end-of-window skip; the text-only pass keeps it, so extra words
    are allowed.)"""
    from assets import read_wav

    from whisperkit_nb.scoring.words import wer_details

    whisper = wk.load_model(model="base", engine=engine)
    audio = read_wav(librivox.path)[0] / 32768.0
    encoded = whisper.encode(LogMel(whisper.n_mels)([audio[: 16000 * 26], audio[16000 * 8 : 16000 * 20]]))
    timed = whisper.decode(encoded, ["en", "en"], ["transcribe"] * 2, max_new_tokens=224)
    plain = whisper.decode(encoded, ["en", "en"], ["transcribe"] * 2, max_new_tokens=224, timestamps=False)
    ts = whisper.tokens.timestamp_begin
    for with_ts, without in zip(timed, plain):
        assert without.tokens and all(t < whisper.tokens.eot for t in without.tokens)
        assert not without.truncated
        words = [whisper.tokenizer.decode([t for t in r.tokens if t < ts]) for r in (with_ts, without)]
        diff = wer_details(words[0], words[1])
        assert diff.substitutions + diff.deletions <= 0.05 * diff.reference_words, words


def test_max_new_tokens_truncates_and_flags(librivox):
    from assets import read_wav

    whisper = wk.load_model(model="tiny.en")
    audio = read_wav(librivox.path)[0] / 32768.0
    encoded = whisper.encode(LogMel(whisper.n_mels)([audio[: 16000 * 20]]))
    (result,) = whisper.decode(encoded, [None], ["transcribe"], max_new_tokens=5)
    assert result.truncated and len(result.tokens) == 5


@pytest.mark.parametrize("engine", ["transformers", "ctranslate2"])
def test_model_cache_reuses_and_releases(engine):
    """One model per process: the same options give the same object; loading another model drops the first
    (nothing keeps it alive: its weights can be freed), and so does `release_models`, after which a load
    builds a new object."""
    import gc
    import weakref

    from whisperkit_nb.engines.registry import loaded_models, release_models

    release_models()  # start from an empty cache: no object an earlier test loaded (or compiled) takes part
    assert loaded_models() == []
    weights = "model" if engine == "transformers" else "ct2"  # the object that holds the weights

    first = wk.load_model(model="tiny.en", engine=engine)
    assert wk.load_model(model="tiny.en", engine=engine) is first
    assert [m.split(" ")[0] for m in loaded_models()] == ["tiny.en"]
    first_refs = weakref.ref(first), weakref.ref(getattr(first, weights))

    other = wk.load_model(model="base", engine=engine)
    assert other is not first and wk.load_model(model="base", engine=engine) is other
    assert [m.split(" ")[0] for m in loaded_models()] == ["base"]  # loading base dropped tiny.en
    del first
    gc.collect()
    assert all(ref() is None for ref in first_refs), "tiny.en is still referenced after base replaced it"

    other_refs = weakref.ref(other), weakref.ref(getattr(other, weights))
    del other
    release_models()
    assert loaded_models() == []
    gc.collect()
    assert all(ref() is None for ref in other_refs), "base is still referenced after release_models()"
    again = wk.load_model(model="base", engine=engine)
    assert other_refs[0]() is None and loaded_models() and again.name == engine  # a new object, not the old one
    assert torch.get_num_threads() > 1 or torch.get_num_interop_threads() >= 1  # silero didn't pin threads


@pytest.mark.parametrize("segment_times", ["tokens", "alignment"])
def test_static_cache_and_compile_keep_the_text_identical(librivox, segment_times):
    # chunk_s=10 gives a batch of several rows, some ending on a timestamp pair (the case Whisper's own
    # long-form generate mishandles when given encoder outputs).
    options = dict(model="tiny.en", engine="transformers", progress=False, chunk_s=10.0, batch_size=4,
                   segment_times=segment_times)
    eager = wk.transcribe(str(librivox.path), **options)
    compiled = wk.transcribe(str(librivox.path), **options, compile=True)
    assert len(eager) >= 3
    assert list(compiled.text) == list(eager.text)
    assert list(compiled.start) == list(eager.start) and list(compiled.end) == list(eager.end)
    assert (compiled.avg_logprob - eager.avg_logprob).abs().max() < 1e-3
