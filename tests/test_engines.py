"""Engines behind one interface: every registered engine answers the `Engine` protocol, transcribes real
speech within the WER bound with sane words and times, and refuses exactly what its capabilities say it
cannot do; the registry loads no model runtime; two bugs of the refactor's starting point stay fixed."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref

import pytest
import torch

import whisperkit_nb as wk
from whisperkit_nb.engines import registry
from whisperkit_nb.engines.base import ENGINE_OPTIONS, Engine
from whisperkit_nb.options import choices_of, option_fields
from whisperkit_nb.scoring.words import word_error_rate

ENGINES = list(registry.ENGINES)


def _values(option: str) -> list:
    """Every value of an engine-dependent option worth trying (all of a Literal's, both of a flag's)."""
    field = next(f for f in option_fields() if f.name == option)
    return list(choices_of(field) or {"compile": [False, True], "beam_size": [1, 2]}[option])


def _capability_cases() -> list[tuple[str, str, object]]:
    return [(name, option, value) for name in ENGINES for option in ENGINE_OPTIONS for value in _values(option)]


@pytest.fixture(scope="module", params=ENGINES)
def words_transcript(request, librivox):
    df = wk.transcribe(str(librivox.path), model="base", engine=request.param, language="en", timestamps="word",
                       progress=False)
    return request.param, df


def test_registry_imports_no_model_runtime():
    code = ("import sys, whisperkit_nb.engines.registry as r\n"
            "from whisperkit_nb.options import TranscribeOptions\n"
            "[r.capabilities(name) for name in r.ENGINES]\n"
            "TranscribeOptions(engine='ctranslate2', beam_size=2)\n"
            "print(sorted(m for m in ('torch', 'transformers', 'ctranslate2') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ENGINES)
def test_engine_answers_the_protocol(name):
    engine = wk.load_model(model="tiny.en", engine=name)
    assert isinstance(engine, Engine)
    assert engine.name == name and engine.model_name == "tiny.en" and engine.n_mels == 80
    assert isinstance(engine.dtype_name, str) and isinstance(engine.device, torch.device)
    assert engine.capabilities is registry.capabilities(name)
    assert registry.loaded_models() == [f"tiny.en ({name} {engine.dtype_name}, {engine.device})"]
    assert engine.default_batch_size(224) >= 1


def test_text_is_within_the_wer_bound(words_transcript, librivox):
    name, df = words_transcript
    wer = word_error_rate(librivox.reference, " ".join(df.text))
    print(f"{name}: base librivox WER {wer:.4f}")
    assert wer <= 0.03
    assert df.attrs["files"][str(librivox.path)]["engine"] == name


def test_words_and_times_are_sane(words_transcript, librivox):
    _, df = words_transcript
    duration = df.attrs["files"][str(librivox.path)]["duration"]
    assert len(df) >= 3 and df.start.is_monotonic_increasing
    assert (df.start >= 0).all() and (df.end > df.start).all() and (df.end <= duration + 0.01).all()
    previous_end = 0.0
    for row in df.itertuples():
        assert row.words, row.text
        assert "".join(w["word"] for w in row.words).replace(" ", "") == row.text.replace(" ", "")  # all of it
        for word in row.words:
            assert row.start <= word["start"] <= word["end"] <= row.end, (row.text, word)
            assert 0.0 <= word["probability"] <= 1.0
        starts = [w["start"] for w in row.words]
        assert starts == sorted(starts), row.text
        assert row.words[0]["start"] >= previous_end - 0.01  # no word goes back before the last segment's end
        previous_end = row.end


@pytest.mark.parametrize(("name", "option", "value"), _capability_cases(), ids=lambda v: str(v))
def test_check_agrees_with_the_capabilities(name, option, value):
    """Built with the engine named, the options refuse at once what the engine's capabilities rule out (and
    say what to use instead); `check` of options built for another engine refuses the same."""
    allowed = registry.capabilities(name).allows(option, value)
    if allowed:
        wk.TranscribeOptions(engine=name, **{option: value})
    else:
        with pytest.raises(wk.OptionsError, match=rf"{option}=.*engine={name!r}.*: use ") as refused:
            wk.TranscribeOptions(engine=name, **{option: value})
        assert f"{option}={ENGINE_OPTIONS[option]!r}" in str(refused.value)
    others = [other for other in ENGINES if registry.capabilities(other).allows(option, value)]
    if not others:
        return
    options = wk.TranscribeOptions(engine=others[0], **{option: value})
    if allowed:
        registry.engine_class(name).check(options)
    else:
        with pytest.raises(wk.OptionsError, match=option):
            registry.engine_class(name).check(options)


def test_automatic_decoding_values_are_settled_by_the_engine():
    """segment_times="auto", beam_size=None and vad_max_gap_s=None become what the engine runs (alignment
    and a beam of 4 on CTranslate2, timestamp tokens and greedy on transformers), the gap rule following
    the segment times; values given stay as given."""
    ct2 = registry.settle(wk.TranscribeOptions(), "ctranslate2")
    assert (ct2.segment_times, ct2.beam_size, ct2.vad_max_gap_s) == ("alignment", 4, 3600.0)
    hf = registry.settle(wk.TranscribeOptions(), "transformers")
    assert (hf.segment_times, hf.beam_size, hf.vad_max_gap_s) == ("tokens", 1, 2.0)
    fixed = registry.settle(wk.TranscribeOptions(chunking="fixed"), "transformers")
    assert fixed.segment_times == "tokens"
    given = registry.settle(wk.TranscribeOptions(segment_times="tokens", beam_size=1, vad_max_gap_s=5.0),
                            "ctranslate2")
    assert (given.segment_times, given.beam_size, given.vad_max_gap_s) == ("tokens", 1, 5.0)
    assert registry.settle(wk.TranscribeOptions(segment_times="tokens"), "ctranslate2").vad_max_gap_s == 2.0
    assert registry.settle(ct2, "ctranslate2") == ct2
    with pytest.raises(RuntimeError, match="settled"):
        _ = wk.TranscribeOptions().decodes_timestamps
    # Without an engine named, the one transcribe would load here (CTranslate2 on this CPU, base's pack).
    assert registry.settle(wk.TranscribeOptions(model="base", device="cpu")) == registry.settle(
        wk.TranscribeOptions(model="base", device="cpu"), "ctranslate2")


@pytest.mark.parametrize("name", ENGINES)
def test_an_engine_passed_in_refuses_what_it_cannot_do_before_decoding(name, librivox):
    """Options that another engine honours, given with an engine object that cannot: refused before any
    audio is decoded, for every refusal in the engine's capabilities."""
    engine = wk.load_model(model="tiny.en", engine=name)
    refusals = [(option, value) for _, option, value in _capability_cases()
                if not engine.capabilities.allows(option, value)]
    tried = 0
    for option, value in refusals:
        if not any(registry.capabilities(other).allows(option, value) for other in ENGINES):
            continue
        with pytest.raises(wk.OptionsError, match=f"engine={name!r}"):
            next(wk.stream_segments(str(librivox.path), engine=engine, progress=False, **{option: value}))
        tried += 1
    assert tried or not refusals


def test_compiled_decoding_keeps_the_task(librivox, monkeypatch):
    """compile=True decodes through generate with a static cache; its chunks must carry their task, or
    words of translated text are aligned under a <|transcribe|> prompt."""
    from assets import read_wav

    from whisperkit_nb.audio.log_mel import LogMel

    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: fn)  # the compiled path, without compile time
    registry.release_models()
    try:
        engine = wk.load_model(model="base", engine="transformers")
        audio = read_wav(librivox.path)[0] / 32768.0
        encoded = engine.encode(LogMel(engine.n_mels)([audio[: 16000 * 10]]))
        (result,) = engine.decode(encoded, ["en"], ["translate"], max_new_tokens=32, compiled=True)
        assert result.task == "translate", f"compiled decoding dropped the task: {result.task!r}"
    finally:
        registry.release_models()  # nobody else gets the model whose forward was "compiled" as itself



def test_compiled_decoding_runs_the_prompt_step_outside_the_compiled_graph(librivox, monkeypatch):
    """The static KV cache is allocated by the first forward (the prompt). Inside a compiled graph with CUDA
    graphs that allocation lands in the graphs' memory pool and the next replay overwrites it (seen on an
    H200: "accessing tensor output of CUDAGraphs that has been overwritten"). So only the one-token steps may
    go through the compiled call, and they must come after the cache exists."""
    from assets import read_wav

    from whisperkit_nb.audio.log_mel import LogMel

    through_compiled: list[tuple[int, bool]] = []

    def recording_compile(fn, **kwargs):
        def compiled(*args, **kw):
            cache = kw.get("past_key_values")
            through_compiled.append((kw["decoder_input_ids"].shape[1], cache is not None and cache.get_seq_length() > 0))
            return fn(*args, **kw)

        return compiled

    monkeypatch.setattr(torch, "compile", recording_compile)
    registry.release_models()
    try:
        engine = wk.load_model(model="tiny.en", engine="transformers")
        audio = read_wav(librivox.path)[0] / 32768.0
        encoded = engine.encode(LogMel(engine.n_mels)([audio[: 16000 * 10], audio[16000 * 10 : 16000 * 20]]))
        results = engine.decode(encoded, ["en", "en"], ["transcribe", "transcribe"], max_new_tokens=24, compiled=True)
        assert all(r.tokens for r in results)
        assert through_compiled, "compile=True decoded without ever calling the compiled forward"
        assert all(length == 1 for length, _ in through_compiled), f"prompt went through the graph: {through_compiled}"
        assert all(filled for _, filled in through_compiled), "a compiled step ran before the cache held the prompt"
    finally:
        registry.release_models()

def test_release_models_frees_the_fixed_strategys_pipeline(librivox):
    registry.release_models()
    wk.transcribe(str(librivox.path), model="tiny.en", engine="transformers", chunking="fixed", progress=False)
    engine = wk.load_model(model="tiny.en", engine="transformers")
    model = weakref.ref(engine.model)
    del engine
    registry.release_models()
    gc.collect()
    assert model() is None, "the fixed strategy's pipeline keeps the model alive after release_models()"
