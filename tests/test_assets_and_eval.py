"""Checks of the scoring functions and of the audio fixtures the other tests and benches rely on."""

from __future__ import annotations

import importlib.util
import sys
import tracemalloc
import wave
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # bench scripts import `assets` the same way

import assets  # noqa: E402

from whisperkit_nb.scoring import words as evaluation
from whisperkit_nb.scoring.words import (
    normalize_basic,
    normalize_english,
    normalize_letters,
    normalizer_for,
    wer_details,
    word_error_rate,
)

SR = assets.SAMPLE_RATE

# --------------------------------------------------------------------------------------------------
# Word error rate and normalisers

WER_CASES = [
    ("the cat sat on the mat", "the cat sat on the mat"),
    ("the cat sat on the mat", "the cat sit on mat"),
    ("a b c d", "a x c d e"),
    ("hello world", ""),
    ("one", "one two three four"),
    ("we went to the store yesterday", "went to a store yesterday evening"),
    ("a a a b b", "b b a a a"),
]


@pytest.mark.parametrize(("reference", "hypothesis"), WER_CASES)
def test_wer_equals_jiwer(reference: str, hypothesis: str) -> None:
    import jiwer
    assert word_error_rate(reference, hypothesis, normalize=None) == pytest.approx(
        jiwer.wer(reference, hypothesis), abs=1e-12
    )


def test_corpus_wer_equals_jiwer_on_random_word_lists() -> None:
    import jiwer
    rng = np.random.default_rng(0)
    vocabulary = np.array("a b c d e f".split())
    references = [" ".join(rng.choice(vocabulary, rng.integers(1, 15))) for _ in range(200)]
    hypotheses = [" ".join(rng.choice(vocabulary, rng.integers(0, 15))) for _ in range(200)]
    for reference, hypothesis in zip(references, hypotheses):
        details = wer_details(reference, hypothesis, normalize=None)
        expected = jiwer.process_words(reference, hypothesis)
        assert details.errors == expected.substitutions + expected.deletions + expected.insertions
    assert word_error_rate(references, hypotheses, normalize=None) == pytest.approx(
        jiwer.wer(references, hypotheses), abs=1e-12
    )


def test_wer_details_counts_each_kind_of_error() -> None:
    import jiwer
    reference, hypothesis = "the quick brown fox jumps over the dog", "the quack brown fox over the lazy dog"
    details = wer_details(reference, hypothesis, normalize=None)
    expected = jiwer.process_words(reference, hypothesis)
    assert (details.substitutions, details.deletions, details.insertions) == (1, 1, 1)
    assert (expected.substitutions, expected.deletions, expected.insertions) == (1, 1, 1)
    assert (details.hits, details.reference_words) == (6, 8)
    assert details.wer == pytest.approx(3 / 8)


def test_english_normaliser() -> None:
    assert normalize_english("colour") == "color"
    assert (
        normalize_english("The Colour of Mr. Smith's car, Mrs. Jones!")
        == "the color of mister smith is car missus jones"
    )
    assert normalize_english("Um, twenty-five dollars.") == "$25"
    # "brown's" becomes "brown is": one substitution ("browns") and one deletion in 7 words.
    details = wer_details("Mr. Brown's favourite colour is grey.", "mister browns favorite color is gray")
    assert (details.substitutions, details.deletions, details.insertions, details.reference_words) == (
        1,
        1,
        0,
        7,
    )
    assert word_error_rate("The colour, Mr. Smith!", "the color mister smith") == 0.0


def test_basic_normaliser() -> None:
    assert normalize_basic("¿Cómo está, señor?  [music]") == "cómo está señor"
    assert normalize_basic("Número", remove_diacritics=True) == "numero"
    assert (
        word_error_rate("Por favor, ingrese su número.", "por favor ingrese su numero", normalize="basic")
        == 0.2
    )


def test_languages_written_without_spaces_are_scored_by_character() -> None:
    """Split on spaces, a Chinese sentence is one word and any slip costs all of it; by character it costs one."""
    import jiwer

    reference, hypothesis = "北京是中国的首都。", "北京是中國的首都"
    assert word_error_rate(reference, hypothesis, normalize="basic") == 1.0
    assert normalize_letters(reference) == "北 京 是 中 国 的 首 都"
    assert word_error_rate(reference, hypothesis, normalize="letters") == pytest.approx(1 / 8)
    japanese = ("今日は良い天気ですね、散歩しましょう。", "今日はいい天気ですね散歩しましょう")
    expected = jiwer.cer(*(normalize_letters(text).replace(" ", "") for text in japanese))
    assert word_error_rate(*japanese, normalize="letters") == pytest.approx(expected)
    assert [normalizer_for(code) for code in ("en", "es", "zh", "ja", "th", None)] == [
        "english", "basic", "letters", "letters", "letters", "basic"]


def test_wer_rejects_what_it_cannot_score() -> None:
    with pytest.raises(ValueError, match="no words"):
        word_error_rate("", "anything", normalize=None)
    with pytest.raises(TypeError):
        word_error_rate("a b", ["a b"], normalize=None)
    with pytest.raises(ValueError):
        word_error_rate(["a"], ["a", "b"], normalize=None)
    with pytest.raises(ValueError, match="normalize"):
        word_error_rate("a", "a", normalize="french")
    assert word_error_rate("A B", "a b", normalize=str.lower) == 0.0


def test_missing_openai_whisper_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "whisper" else real_find_spec(name, *a)
    )
    evaluation._english_normalizer.cache_clear()
    try:
        with pytest.raises(ImportError, match=r'pip install "whisperkit_nb\[eval\]"'):
            normalize_english("colour")
    finally:
        evaluation._english_normalizer.cache_clear()


def test_long_transcripts_are_scored_in_bounded_memory() -> None:
    """Scoring keeps one row of the edit-distance table, not the table: 3,000 words against 3,000 peak at
    about 0.8 MiB of Python and numpy allocations (tracemalloc sees both), where the full 3,001 x 3,001 int32
    table alone is 34 MiB (`word_matches`, which keeps it for its backtrace, peaks at 35 MiB on this input)."""
    rng = np.random.default_rng(1)
    words = np.array([f"w{i}" for i in range(50)])
    reference = " ".join(rng.choice(words, 3000))
    hypothesis = reference.replace("w7 ", "w8 ")
    tracemalloc.start()
    try:
        details = wer_details(reference, hypothesis, normalize=None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert details.insertions == details.deletions == 0
    assert details.substitutions == reference.count("w7 ")
    table = (len(reference.split()) + 1) * (len(hypothesis.split()) + 1) * 4
    assert peak < table / 8, f"scoring peaked at {peak / 2**20:.1f} MiB, a full table is {table / 2**20:.0f} MiB"


# --------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory):
    """Builds fixtures into a fresh folder, once per name, failing when a packaged asset is absent (make test installs them)."""
    saved = assets.FIXTURE_DIR
    assets.FIXTURE_DIR = tmp_path_factory.mktemp("fixtures")
    built: dict[str, assets.Fixture] = {}

    def get(name: str) -> assets.Fixture:
        if name not in built:
            try:
                built[name] = BUILDERS[name]()
            except assets.MissingAssetError as error:
                pytest.fail(str(error))
        return built[name]

    yield get
    assets.FIXTURE_DIR = saved


BUILDERS = {
    "pyannote": assets.pyannote_sample,
    "librivox": assets.librivox_concat,
    "long": assets.asterisk_long,
    "spanish_after_english": lambda: assets.asterisk_language_file("es", "english"),
    "french_after_silence": lambda: assets.asterisk_language_file("fr", "silence"),
    "code_switched": assets.code_switched,
    "flite": assets.flite_conversation,
    "long_with_noise": lambda: assets.with_noise_stretch(assets.asterisk_long()),
}
CONSTRUCTED = [name for name in BUILDERS if name != "pyannote"]


def read(fixture: assets.Fixture) -> np.ndarray:
    with wave.open(str(fixture.path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, SR)
    samples, _ = assets.read_wav(fixture.path)
    return samples


def span(samples: np.ndarray, start: float, end: float) -> np.ndarray:
    return samples[round(start * SR) : round(end * SR)]


def dbfs(samples: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(samples.astype(np.float64) ** 2)) / 32768 + 1e-12)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_fixture_turns_fit_the_audio(build, name: str) -> None:
    fixture = build(name)
    samples = read(fixture)
    duration = len(samples) / SR
    assert fixture.path.is_file() and fixture.duration == duration
    assert fixture.turns and fixture.reference == " ".join(turn.text for turn in fixture.turns)
    for before, after in zip(fixture.turns, fixture.turns[1:]):
        assert before.start < before.end <= after.start + 1e-9
    assert 0 <= fixture.turns[0].start and fixture.turns[-1].end <= duration + 1e-9
    assert duration - fixture.turns[-1].end < 2.5  # the turns account for the whole file
    for turn in fixture.turns:
        assert len(turn.text.split()) >= 1
        assert dbfs(span(samples, turn.start, turn.end)) > -45, turn  # every turn holds sound
    for start, end in fixture.silences:
        assert not any(turn.start < end and start < turn.end for turn in fixture.turns)


@pytest.mark.parametrize("name", CONSTRUCTED)
def test_audio_between_turns_is_digital_silence_except_noise(build, name: str) -> None:
    fixture = build(name)
    samples = read(fixture).copy()
    for start, end in [(t.start, t.end) for t in fixture.turns] + fixture.silences:
        samples[round(start * SR) : round(end * SR)] = 0
    assert not samples.any()  # so turn times are exact to the sample


def test_turns_hold_their_source_audio_exactly(build) -> None:
    librivox = build("librivox")
    clip_id = (assets.LIBRIVOX_DIR / "fileids").read_text().split()[1]
    clip, _ = assets.read_wav(assets.LIBRIVOX_DIR / f"{clip_id}.wav")
    second = librivox.turns[1]
    assert np.array_equal(span(read(librivox), second.start, second.end), clip)
    assert second.text == "he was not an ill disposed young man"

    long = build("long")
    first = long.turns[0]
    prompt = next(p for p in assets.asterisk_prompts("en") if p.text == first.text)
    source, rate = assets.read_wav(prompt.path)
    expected = np.clip(np.rint(assets.resample_poly(source, SR // rate, 1)), -32768, 32767)
    assert np.array_equal(span(read(long), first.start, first.end), expected)


def test_resampler_matches_scipy() -> None:
    import scipy.signal as signal
    x = np.random.default_rng(0).standard_normal(4001)
    for up, down in [(2, 1), (3, 2), (160, 441)]:
        np.testing.assert_allclose(
            assets.resample_poly(x, up, down), signal.resample_poly(x, up, down), atol=1e-12
        )


def test_pyannote_sample(build) -> None:
    fixture = build("pyannote")
    assert fixture.duration == 30.0
    assert {turn.speaker for turn in fixture.turns} == {"Diane", "Sheila"}
    assert (fixture.turns[0].start, fixture.turns[0].end, fixture.turns[0].text) == (6.68, 7.16, "Hello?")
    assert fixture.reference.startswith("Hello? Hello? Oh, hello. I didn't know you were there.")


def test_librivox_concat(build) -> None:
    fixture = build("librivox")
    assert len(fixture.turns) == 5
    assert fixture.turns[-1].end == fixture.duration  # no trailing silence
    assert [round(b.start - a.end, 6) for a, b in zip(fixture.turns, fixture.turns[1:])] == [0.5] * 4
    assert fixture.reference.startswith("and mister john dashwood had then leisure")
    assert "<s>" not in fixture.reference and "(" not in fixture.reference


def test_asterisk_prompts_are_clean() -> None:
    try:
        prompts = {lang: assets.asterisk_prompts(lang) for lang in ("en", "es", "fr")}
    except assets.MissingAssetError as error:
        pytest.fail(str(error))
    for lang, found in prompts.items():
        assert len(found) > 200, lang
        for prompt in found:
            assert prompt.path.is_file() and prompt.sample_rate == 8000 and prompt.duration > 0.5
            assert len(prompt.text.split()) >= 3
            assert not set(prompt.text) & set('[]<>()*#"…'), prompt
            assert ".." not in prompt.text
    english = {p.name: p.text for p in prompts["en"]}
    assert english["agent-pass"] == "Please enter your password followed by the pound key."
    assert english["confbridge-has-joined"] == "has joined the conference."  # ellipsis removed
    assert "beep" not in english and "conf-adminmenu-162" in english


def test_asterisk_long(build) -> None:
    fixture = build("long")
    samples = read(fixture)
    assert len(samples) == 18 * 60 * SR
    ((start, end),) = fixture.silences
    assert end - start == pytest.approx(90.0)
    assert 0.5 < (start + end) / 2 / fixture.duration < 0.7
    assert not span(samples, start, end).any()  # digital zero
    assert {turn.language for turn in fixture.turns} == {"en"}
    gaps = [b.start - a.end for a, b in zip(fixture.turns, fixture.turns[1:]) if b.start - a.end < 80]
    assert 0.3 - 1e-9 <= min(gaps) and max(gaps) <= 1.2 + 1e-9


def test_noise_stretch(build) -> None:
    base, fixture = build("long"), build("long_with_noise")
    samples = read(fixture)
    assert fixture.duration == pytest.approx(base.duration + 60.0)
    ((start, end),) = [(a, b) for a, b in fixture.silences if b - a == pytest.approx(60.0)]
    assert abs(start / base.duration - 0.5) < 0.02
    shifted = [(a + 60.0, b + 60.0) if a >= start else (a, b) for a, b in base.silences]
    assert sorted(shifted + [(start, end)]) == fixture.silences
    noise = span(samples, start + 1, end - 1)
    assert -46 < dbfs(noise) < -38  # audible background, well below speech
    assert np.count_nonzero(noise) > 0.99 * len(noise)
    assert [t.text for t in fixture.turns] == [t.text for t in base.turns]
    for moved, original in zip(fixture.turns, base.turns):
        offset = 60.0 if original.start >= start else 0.0
        assert (moved.start, moved.end) == pytest.approx((original.start + offset, original.end + offset))
    assert any(t.start > end for t in fixture.turns) and any(t.end < start for t in fixture.turns)
    assert fixture.reference == base.reference


def test_language_files(build) -> None:
    spanish = build("spanish_after_english")
    assert spanish.duration == 95.0 and spanish.language == "es" and spanish.silences == []
    assert all(t.language == ("en" if t.end <= 35.0 else "es") for t in spanish.turns)
    assert {t.language for t in spanish.turns} == {"en", "es"}

    french = build("french_after_silence")
    assert french.silences == [(0.0, 35.0)] and french.turns[0].start >= 35.0
    assert not span(read(french), 0.0, 35.0).any()
    assert {t.language for t in french.turns} == {"fr"}


def test_code_switched(build) -> None:
    fixture = build("code_switched")
    assert fixture.duration == 240.0 and fixture.language is None
    for turn in fixture.turns:
        block = int(turn.start // 40.0)
        assert turn.end <= (block + 1) * 40.0 and turn.language == ("en", "es", "fr")[block % 3]
        assert turn.speaker == f"asterisk-{turn.language}"


def test_flite_conversation(build) -> None:
    fixture = build("flite")
    assert 100 < fixture.duration < 180
    assert {turn.speaker for turn in fixture.turns} == {"slt", "rms", "awb"}
    assert all(a.speaker != b.speaker for a, b in zip(fixture.turns, fixture.turns[1:]))
    gaps = [b.start - a.end for a, b in zip(fixture.turns, fixture.turns[1:])]
    assert 0.2 - 1e-9 <= min(gaps) and max(gaps) <= 0.8 + 1e-9
    assert all(turn.text in assets.SENTENCES for turn in fixture.turns)


@pytest.mark.parametrize("name", CONSTRUCTED)
def test_builders_reuse_their_file(build, name: str) -> None:
    fixture = build(name)
    written = fixture.path.stat().st_mtime_ns
    again = BUILDERS[name]()
    assert again == fixture and again.path.stat().st_mtime_ns == written
    assert not list(fixture.path.parent.glob(".*.tmp"))


def test_word_matches_marks_the_words_an_alignment_gets_wrong():
    from whisperkit_nb.scoring.words import word_matches

    flags = word_matches("Press three to rerecord your message.",
                         ["Press", "3", "to", "re-record", "your", "massage.", "now", "um"])
    # "3" normalises like "three"; "re-record" splits in two and misses; fillers normalise to nothing.
    assert flags == [True, True, True, False, True, False, False, True]
    assert word_matches("a b c", []) == [] and word_matches("", ["x"]) == [False]


@pytest.mark.parametrize("snr_db", [3.0, -5.0])
def test_background_noise_sits_at_the_asked_snr(snr_db: float) -> None:
    fixture = assets.asterisk_long(minutes=1.5, silence_s=20.0)
    clean = read(fixture).astype(np.float32) / 32768.0
    noisy = assets.with_background_noise(fixture, snr_db)
    assert noisy.dtype == np.float32 and noisy.shape == clean.shape
    noise = noisy - clean
    speech = np.concatenate([span(clean, t.start, t.end) for t in fixture.turns])
    measured = 20 * np.log10(np.sqrt(np.mean(speech**2)) / np.sqrt(np.mean(noise**2)))
    assert measured == pytest.approx(snr_db, abs=0.2)
    ((start, end),) = fixture.silences
    assert np.abs(span(noisy, start, end)).max() > 0  # the silence now holds noise
