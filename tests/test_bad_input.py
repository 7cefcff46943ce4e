"""Bad inputs and bad options: each fails with an error that names the input or option and says why.

Files are made from real audio (pyannote.audio's sample, LibriVox clips from pocketsphinx-testdata);
transcription uses the real tiny.en offline pack on CPU, on a few seconds of audio.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from assets import LIBRIVOX_DIR, corrupted_copy, encode_audio, pyannote_sample, read_wav, write_wav

import whisperkit_nb as wk
from whisperkit_nb import AudioError, OptionsError, TranscriptionFailures
from whisperkit_nb.audio.source import SAMPLE_RATE, open_audio

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py

MODEL = "tiny.en"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Good and bad files, made once."""
    folder = tmp_path_factory.mktemp("bad_input")
    sample, _ = read_wav(pyannote_sample().path)
    made = {"folder": folder, "missing": folder / "missing.wav"}
    made["mp3"] = encode_audio(folder / "sample.mp3", sample)
    data = made["mp3"].read_bytes()

    made["empty"] = folder / "empty.wav"
    made["empty"].touch()
    made["text"] = folder / "notes.mp3"
    made["text"].write_text("These are meeting notes, not audio.\n" * 40)
    made["truncated"] = folder / "truncated.mp3"
    made["truncated"].write_bytes(data[:300])
    made["corrupt"] = corrupted_copy(made["mp3"], folder / "corrupt.mp3")

    made["no_audio"] = folder / "screen_recording.mp4"
    with av.open(str(made["no_audio"]), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=5)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        black = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
        for _ in range(10):
            for packet in video.encode(black):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)

    for key, clip in (("good", "0880"), ("good2", "0930")):  # 3 s each: "he was not an ill disposed young man"
        made[key] = folder / f"{key}.wav"
        shutil.copy(LIBRIVOX_DIR / f"sense_and_sensibility_01_austen_64kb-{clip}.wav", made[key])
    made["silence"] = write_wav(folder / "silence.wav", np.zeros(10 * SAMPLE_RATE, np.int16))
    return made


def _audio_error(source, *phrases: str) -> AudioError:
    """Open (and fully decode) ``source``; it must raise AudioError whose message holds every phrase."""
    with pytest.raises(AudioError) as caught:
        list(open_audio(source).blocks())
    message = str(caught.value)
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in {message!r}"
    return caught.value


# --------------------------------------------------------------------------------------------------
# Files


def test_missing_file(files):
    err = _audio_error(str(files["missing"]), str(files["missing"]), "file not found")
    assert err.source == str(files["missing"])


def test_missing_file_as_path_object(files):
    _audio_error(files["missing"], str(files["missing"]), "file not found")


def test_directory(files):
    _audio_error(str(files["folder"]), str(files["folder"]), "is a directory", "glob")


def test_zero_byte_file(files):
    _audio_error(str(files["empty"]), "empty.wav", "empty (0 bytes)")


def test_text_file_named_mp3(files):
    _audio_error(str(files["text"]), "notes.mp3", "not a readable audio file")


def test_truncated_mp3_header(files):
    _audio_error(str(files["truncated"]), "truncated.mp3", "not a readable audio file")


def test_mp3_with_garbage_in_the_middle_fails_saying_where(files):
    """With corrupt_audio="fail", the first garbled frame FFmpeg's MP3 decoder rejects fails the file as a
    whole, with a clear reason and the position decoding reached, rather than coming back with a silent
    hole in its timeline (the default; tests/test_faults_corrupt_audio.py)."""
    source = open_audio(str(files["corrupt"]), corrupt_audio="fail")  # the header is intact: opening succeeds
    assert source.duration == pytest.approx(30.0, abs=0.1)
    with pytest.raises(AudioError, match=re.escape(str(files["corrupt"])) + ": decoding failed after") as caught:
        list(source.blocks())
    reached = float(re.search(r"after ([\d.]+) s", caught.value.reason).group(1))
    assert 8.0 <= reached <= 10.5  # the garbage starts a third of the way into the 30 s


def test_mp3_with_garbage_in_the_middle_keeps_its_timeline_by_default(files):
    """By default the garbled third is skipped: it comes back as silence of its length, with a warning."""
    source = open_audio(str(files["corrupt"]))
    warning = re.escape(str(files["corrupt"])) + r": \d+\.\d-\d+\.\d s could not be decoded"
    with pytest.warns(UserWarning, match=warning):
        decoded = np.concatenate(list(source.blocks()))
    assert abs(len(decoded) - 30 * SAMPLE_RATE) < SAMPLE_RATE // 10
    [gap] = source.gaps
    assert 8.0 <= gap["start"] <= 10.5 and 19.5 <= gap["end"] <= 21.0, gap  # the garbage: a third to two thirds
    assert not decoded[round(gap["start"] * SAMPLE_RATE) + 16 : round(gap["end"] * SAMPLE_RATE) - 16].any()


def test_video_without_audio(files):
    _audio_error(str(files["no_audio"]), "screen_recording.mp4", "no audio stream")


def test_good_mp3_of_the_same_fixture_decodes(files):
    """The bad files above are bad for the reason given, not because of how the MP3 was made."""
    decoded = np.concatenate(list(open_audio(str(files["mp3"])).blocks()))
    assert abs(len(decoded) - 30 * SAMPLE_RATE) < SAMPLE_RATE // 10
    assert 0.05 < np.abs(decoded).max() <= 1.0


# --------------------------------------------------------------------------------------------------
# In-memory inputs


@pytest.mark.parametrize("empty", [np.zeros(0, np.float32), np.zeros((2, 0), np.float32),
                                   np.zeros((0, 2), np.float32), torch.zeros(0)],
                         ids=["1d", "stereo-channels-first", "stereo-channels-last", "tensor"])
def test_zero_length_array(empty):
    err = _audio_error(empty, "<array>", "zero-length")
    assert err.source == "<array>"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_array_with_nan_or_inf(bad):
    samples = np.zeros(SAMPLE_RATE, np.float32)
    samples[1234] = bad
    _audio_error(samples, "<array>", "NaN or infinite")
    _audio_error((samples, 8000), "NaN or infinite")


def test_float_array_on_the_16_bit_scale_is_refused():
    """16-bit samples cast to float (peaks in the thousands) would decode as nonsense: refused, with the fix named.
    Float audio a little over full scale (a mastered or resampled signal) is still read."""
    rng = np.random.default_rng(0)
    speechlike = (0.1 * rng.standard_normal(SAMPLE_RATE)).astype(np.float32)
    err = _audio_error(speechlike * 32768, "<array>", "32768", "int16")
    assert err.source == "<array>"
    _audio_error(torch.from_numpy(speechlike * 32768), "32768")
    _audio_error({"array": speechlike * 32768, "sampling_rate": 8000}, "32768")
    overshoot = speechlike / np.abs(speechlike).max() * 1.3
    assert np.array_equal(np.concatenate(list(open_audio(overshoot).blocks())), overshoot)
    as_int16 = (speechlike * 32768).astype(np.int16)  # the same samples passed as int16 are scaled, not refused
    assert np.allclose(np.concatenate(list(open_audio(as_int16).blocks())), speechlike, atol=1 / 32768)


def test_three_dimensional_array():
    _audio_error(np.zeros((2, 3, 4), np.float32), "<array>", "1-D or 2-D", "(2, 3, 4)")


@pytest.mark.parametrize("value, named", [({}, "'array' and 'sampling_rate'"), ({"audio": [0.0]}, "'array'"),
                                          (5, "'int'"), (None, "'NoneType'"), (b"RIFF", "'bytes'"),
                                          (["a.wav", "b.wav"], "'list'")],
                         ids=["empty-dict", "dict-without-array", "int", "none", "bytes", "list-of-names"])
def test_wrong_type(value, named):
    _audio_error(value, named, "is not audio" if not isinstance(value, dict) else "dict input")


# --------------------------------------------------------------------------------------------------
# transcribe: failures in a list are collected, a single failure raises


def _transcribe(audio, **options):
    return wk.transcribe(audio, model=MODEL, progress=False, **options)


@pytest.mark.parametrize("bad", ["corrupt", "text"])
def test_list_keeps_good_files_and_reports_the_bad_one(files, bad):
    inputs = [str(files["good"]), str(files[bad]), str(files["good2"])]
    with pytest.warns(UserWarning, match=re.escape(str(files[bad]))) as warned:
        df = _transcribe(inputs, corrupt_audio="fail")  # the corrupt mp3 fails rather than keeping a gap
    ours = [str(w.message) for w in warned if str(files[bad]) in str(w.message)]
    assert len(ours) == 1 and "1 of 3 inputs failed" in ours[0]
    assert df["file"].unique().tolist() == [inputs[0], inputs[2]]  # input order kept
    assert df.groupby("file", sort=False)["start"].is_monotonic_increasing.all()
    text = " ".join(df["text"]).lower()
    assert "young man" in text and "amiable" in text
    reason = "decoding failed" if bad == "corrupt" else "not a readable audio file"
    assert list(df.attrs["failures"]) == [inputs[1]]
    assert reason in df.attrs["failures"][inputs[1]]
    assert set(df.attrs["files"]) == {inputs[0], inputs[2]}


def test_list_where_every_input_fails(files):
    inputs = [str(files["missing"]), str(files["corrupt"]), str(files["empty"]), "nowhere/*.wav"]
    with pytest.raises(TranscriptionFailures) as caught:
        _transcribe(inputs, corrupt_audio="fail")
    assert list(caught.value.failures) == inputs
    message = str(caught.value)
    for name, reason in zip(inputs, ["file not found", "decoding failed", "empty", "file not found"]):
        assert re.search(re.escape(name) + ".*" + reason, message), (name, reason, message)
    assert all(isinstance(err, AudioError) for err in caught.value.failures.values())


def test_list_of_names_that_are_not_files():
    with pytest.raises(TranscriptionFailures) as caught:
        _transcribe(["interview one", "interview two"])
    assert "interview one: file not found" in str(caught.value)
    assert "interview two: file not found" in str(caught.value)


@pytest.mark.parametrize("bad", ["missing", "corrupt", "no_audio"])
def test_single_bad_input_raises(files, bad):
    with pytest.raises(AudioError, match=re.escape(files[bad].name)):
        _transcribe(str(files[bad]), corrupt_audio="fail")


def test_single_bad_array_raises():
    with pytest.raises(AudioError, match="NaN"):
        _transcribe(np.full(SAMPLE_RATE, np.nan, np.float32))


def test_glob_matching_nothing_raises_naming_the_pattern(files):
    pattern = str(files["folder"] / "*.flac")
    with pytest.raises(AudioError, match=re.escape(pattern) + ": file not found"):
        _transcribe(pattern)


def test_digital_silence_gives_an_empty_frame_with_every_column(files):
    for audio in (str(files["silence"]), np.zeros(10 * SAMPLE_RATE, np.float32)):
        df = _transcribe(audio)
        assert len(df) == 0
        assert list(df.columns) == list(wk.COLUMNS)
        assert df.attrs["failures"] == {}


# --------------------------------------------------------------------------------------------------
# Options


@pytest.mark.parametrize("options, phrases", [
    ({"batch_size": 0}, ["batch_size", "range 1..512"]),
    ({"batch_size": 2.5}, ["batch_size", "whole number"]),
    ({"chunking": "bogus"}, ["chunking='bogus'", "'vad'", "'fixed'"]),
    ({"bogus_option": 1}, ["Unknown option 'bogus_option'", "batch_size", "chunking"]),
    ({"batchsize": 4}, ["'batchsize'", "did you mean 'batch_size'?"]),
    ({"vad_treshold": 0.3}, ["did you mean 'vad_threshold'?"]),
    ({"device": "gpu"}, ["device='gpu'", "cuda"]),
    ({"task": "translate"}, ["translate", "multilingual", "tiny.en"]),
], ids=["batch_size=0", "batch_size=2.5", "chunking=bogus", "bogus_option", "batchsize", "vad_treshold",
        "device=gpu", "translate-with-tiny.en"])
def test_invalid_options(files, options, phrases):
    with pytest.raises(OptionsError) as caught:
        _transcribe(str(files["good"]), **options)
    assert isinstance(caught.value, ValueError)
    for phrase in phrases:
        assert phrase in str(caught.value), f"{phrase!r} not in {str(caught.value)!r}"


@pytest.mark.parametrize("language", ["es", "spanish"])
def test_language_an_english_only_model_cannot_honour(files, language):
    with pytest.raises(OptionsError, match=f"language='{language}'.*English-only"):
        _transcribe(str(files["good"]), language=language)


def test_a_language_whisper_does_not_know_says_so(files):
    with pytest.raises(OptionsError, match="language='klingon' is not a Whisper language"):
        _transcribe(str(files["good"]), language="klingon")


def test_unknown_language_with_a_multilingual_model(files):
    with pytest.raises(OptionsError, match="language='klingon' is not a Whisper language"):
        wk.transcribe(str(files["good"]), model="base", language="klingon", progress=False)


def test_cuda_on_a_machine_without_one(files):
    if torch.cuda.is_available():  # then the request is honoured; ask for a device index that cannot exist
        device, phrase = f"cuda:{torch.cuda.device_count()}", "CUDA device(s) exist"
    else:
        device, phrase = "cuda", "no CUDA GPU"
    with pytest.raises(OptionsError, match=re.escape(f"device='{device}'") + ".*" + phrase):
        _transcribe(str(files["good"]), device=device)
