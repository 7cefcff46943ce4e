"""The pipeline's stages as public nodes: re-run diarization with another speaker count and re-assign the
speakers of an existing transcript, without transcribing again; `transcribe(diarize=True)` assigns through
the same code path, so both give the same speakers. Real components: tiny.en, the offline pyannote pipeline,
pyannote's 30 s two-speaker phone call."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

import whisperkit_nb as wk
from whisperkit_nb.errors import OptionsError

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py

OPTIONS = {"model": "tiny.en", "progress": False, "timestamps": "word"}


@pytest.fixture(scope="module")
def path(sample):
    return str(sample.path)


@pytest.fixture(scope="module")
def transcript(path):
    """Transcribed once; every diarization below is assigned to this frame."""
    return wk.transcribe(path, **OPTIONS)


@pytest.fixture(scope="module")
def turns(path):
    """Turns for 2 and for 3 speakers; the second run takes an in-memory `AudioSource` from `load_audio`."""
    return {2: wk.diarize(path, num_speakers=2, progress=False),
            3: wk.diarize(wk.load_audio(path).in_memory(), num_speakers=3, progress=False)}


def _words(frame: pd.DataFrame) -> list[tuple[str, float, float]]:
    return [(w["word"], w["start"], w["end"]) for ws in frame["words"] for w in ws]


def test_rediarize_and_reassign_without_transcribing_again(transcript, turns, path):
    assert list(turns[2].columns) == ["start", "end", "speaker"]
    assert turns[2].attrs["file"] == path and turns[2].attrs["overlapping"]
    assert turns[2].speaker.nunique() == 2 and turns[3].speaker.nunique() == 3
    segments = transcript.drop(columns="words")  # a segment-level transcript: rows never split
    for count, expected_labels in ((2, 2), (3, 3)):
        assigned = wk.assign_speakers(segments, turns[count])
        unchanged = ["file", "start", "end", "text"]
        pd.testing.assert_frame_equal(assigned[unchanged], segments[unchanged])
        assert assigned.speaker.notna().all()
        with_words = wk.assign_speakers(transcript, turns[count])
        assert _words(with_words) == _words(transcript)  # words and their times untouched, splits or not
        word_speakers = {w["speaker"] for ws in with_words["words"] for w in ws}
        assert len(word_speakers) == expected_labels, (count, word_speakers)
        assert with_words.attrs["files"][path]["speakers"] == count
    assert "speaker" not in transcript.columns or transcript.speaker.isna().all(), "the input frame is not modified"


def test_assigning_diarize_turns_equals_transcribe_with_diarize(transcript, turns, path):
    diarized = wk.transcribe(path, diarize=True, num_speakers=2, **OPTIONS)
    assigned = wk.assign_speakers(transcript, turns[2])
    pd.testing.assert_frame_equal(assigned, diarized)
    for fact in ("speakers", "speaker_turns"):
        assert assigned.attrs["files"][path][fact] == diarized.attrs["files"][path][fact]
    # Re-assigning over existing speakers replaces them (and speaker_names renames, as in transcribe). Segments
    # split by the first assignment stay split, so assign to the transcript without speakers to compare counts.
    again = wk.assign_speakers(diarized, turns[3], speaker_names={"SPEAKER_02": "Third"})
    assert "Third" in {w["speaker"] for ws in again["words"] for w in ws}
    assert set(again.speaker) <= {"SPEAKER_00", "SPEAKER_01", "Third"} and again.attrs["files"][path]["speakers"] == 3
    assert _words(again) == _words(transcript)


def test_plan_chunks_node(path):
    chunks, duration = wk.plan_chunks(path, chunk_s=20.0)
    assert duration == pytest.approx(30.0, abs=0.5)
    assert chunks and all(c.duration <= 20.0 + 1e-6 for c in chunks)
    assert all(a.end <= b.start for a, b in itertools.pairwise(chunks))


@pytest.mark.parametrize(("node", "kwargs", "message"), [
    ("diarize", {"model": "base"}, "diarize() does not take 'model'"),
    ("diarize", {"num_speaker": 2}, "did you mean 'num_speakers'"),
    ("diarize", {"num_speakers": 2, "min_speakers": 1}, "not both"),
    ("diarize", {"speaker_names": {"SPEAKER_00": "Ana"}}, "does not take 'speaker_names'"),
    ("plan_chunks", {"language": "en"}, "plan_chunks() does not take 'language'"),
    ("load_audio", {"vad_threshold": 0.3}, "load_audio() does not take 'vad_threshold'"),
])
def test_node_options_are_validated_before_any_work(node, kwargs, message):
    with pytest.raises(OptionsError) as caught:
        getattr(wk, node)("no/such/file.wav", **kwargs)
    assert message in str(caught.value)


def test_assign_speakers_options_and_multi_file_frames():
    frame = pd.DataFrame({"file": ["a.wav", "a.wav", "b.wav"], "start": [0.0, 2.0, 0.0], "end": [2.0, 4.0, 3.0],
                          "text": ["one", "two", "three"], "speaker": [None, None, None]})
    frame.attrs["files"] = {"a.wav": {"duration": 4.0}, "b.wav": {"duration": 3.0}}
    turns = pd.DataFrame({"start": [0.0, 1.0], "end": [1.0, 3.0], "speaker": ["SPEAKER_00", "SPEAKER_01"]})
    with pytest.raises(OptionsError, match="does not take 'num_speakers'"):
        wk.assign_speakers(frame, turns, num_speakers=2)
    with pytest.raises(ValueError, match="holds 2 files"):
        wk.assign_speakers(frame, turns)  # turns of an unnamed input: which file's?
    turns.attrs["file"] = "b.wav"
    assigned = wk.assign_speakers(frame, turns, speaker_names={"SPEAKER_01": "Ben"})
    assert assigned.speaker.tolist() == [None, None, "Ben"]
    assert assigned.attrs["files"]["b.wav"]["speakers"] == 2 and "speakers" not in assigned.attrs["files"]["a.wav"]
    assert "speakers" not in frame.attrs["files"]["b.wav"], "the input's attrs are not modified"
