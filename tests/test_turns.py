"""`wk.turns` (issue 18): consecutive segments of one speaker merged into turns, on a real diarized
transcript (the pyannote sample: two people on the phone, real speech, tiny.en and the offline pipeline) and on
small hand-made frames for each rule."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import whisperkit_nb as wk
from whisperkit_nb.transcript.turns import DEFAULT_MAX_GAP_S

pytestmark = [pytest.mark.filterwarnings("ignore:'uem' was approximated"), pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def conversation(sample):
    return wk.transcribe(str(sample.path), model="tiny.en", diarize=True, num_speakers=2, timestamps="word",
                         progress=False)


def test_a_real_turn_split_over_two_rows_is_merged(conversation):
    df = conversation
    turns = wk.turns(df)
    same_speaker_neighbours = (df.speaker == df.speaker.shift()).sum()
    assert same_speaker_neighbours >= 1, "the transcript has no split turn to merge"
    # Whisper's rows cut inside turns ("... I heard a" | "deep. This is Diane ..."): every such cut is joined
    assert len(turns) == len(df) - same_speaker_neighbours
    assert (turns.speaker != turns.speaker.shift()).all()  # neighbouring turns are other speakers
    assert turns.segments.map(len).max() >= 2
    assert [label for labels in turns.segments for label in labels] == list(df.index)  # each row once, in order
    for turn in turns.itertuples():
        rows = df.loc[turn.segments]
        assert turn.text == " ".join(t.strip() for t in rows.text) and "  " not in turn.text
        assert turn.words == [w for words in rows.words for w in words]  # words kept, with their own speakers
        assert (turn.start, turn.end) == (rows.start.iat[0], rows.end.max())
        assert set(rows.speaker) == {turn.speaker} and turn.language == "en" and turn.file == str(df.file.iat[0])
    assert sum(len(w) for w in turns.words) == sum(len(w) for w in df.words)
    # times monotonic: turns in order and apart, words in order inside each turn
    assert turns.start.is_monotonic_increasing and (turns.start < turns.end).all()
    assert (turns.end.shift().iloc[1:] <= turns.start.iloc[1:] + 1e-6).all()
    for words in turns.words:
        starts = [w["start"] for w in words]
        assert starts == sorted(starts)
    assert list(turns.columns) == ["file", "start", "end", "text", "language", "speaker", "words", "segments"]
    assert turns.attrs["files"] == df.attrs["files"]


def test_without_speakers_turns_follow_the_pauses(conversation):
    df = conversation.assign(speaker=None)
    gaps = (df.start - df.end.shift()).iloc[1:]
    cut = 0.5
    turns = wk.turns(df, max_gap_s=cut)
    assert len(turns) == 1 + (gaps > cut).sum()
    assert turns.speaker.isna().all()
    assert len(wk.turns(df, max_gap_s=math.inf)) == 1


def _frame(rows, **columns):
    frame = pd.DataFrame(rows, columns=["file", "start", "end", "text", "speaker"])
    for name, values in columns.items():
        frame[name] = values
    return frame


def test_a_long_pause_starts_a_new_turn_even_for_the_same_speaker():
    df = _frame([("a.wav", 0.0, 2.0, " one", "A"), ("a.wav", 2.5, 4.0, " two", "A"),
                 ("a.wav", 4.0 + DEFAULT_MAX_GAP_S + 0.5, 9.0, " three", "A")])
    assert wk.turns(df).text.tolist() == ["one two", "three"]
    assert wk.turns(df, max_gap_s=10).text.tolist() == ["one two three"]
    assert wk.turns(df, max_gap_s=0).text.tolist() == ["one", "two", "three"]


def test_speakers_files_and_unlabelled_rows_never_merge_with_others():
    df = _frame([("a.wav", 0.0, 1.0, "x", "A"), ("a.wav", 1.0, 2.0, "y", None), ("a.wav", 2.0, 3.0, "z", "A"),
                 ("a.wav", 3.0, 4.0, "w", "A"), ("b.wav", 0.0, 1.0, "v", "A"), ("b.wav", 1.2, 2.0, "u", "B")])
    turns = wk.turns(df)
    assert turns[["file", "text", "speaker"]].values.tolist() == [
        ["a.wav", "x", "A"], ["a.wav", "y", None], ["a.wav", "z w", "A"], ["b.wav", "v", "A"], ["b.wav", "u", "B"]]
    assert turns.segments.tolist() == [[0], [1], [2, 3], [4], [5]]


def test_rows_are_taken_in_time_order_per_file_and_overlaps_join():
    df = _frame([("b.wav", 5.0, 6.0, "later", "A"), ("a.wav", 0.0, 1.0, "first", "A"),
                 ("b.wav", 0.0, 5.5, "earlier", "A")], language=["en", "en", "fr"])
    df.index = [10, 10, 12]  # labels need not be unique
    turns = wk.turns(df)
    assert turns[["file", "start", "end", "text"]].values.tolist() == [
        ["b.wav", 0.0, 6.0, "earlier later"], ["a.wav", 0.0, 1.0, "first"]]
    assert turns.segments.tolist() == [[12, 10], [10]]
    assert turns.language.tolist() == ["fr", "en"]  # the language of most of the turn's time


def test_text_whitespace_words_metadata_and_edits():
    words = [[{"word": " a", "start": 0.0, "end": 0.5}], None, [{"word": " c", "start": 1.5, "end": 2.0}]]
    df = _frame([("a.wav", 0.0, 1.0, " a  b\n", "A"), ("a.wav", 1.0, 1.5, "   ", "A"), ("a.wav", 1.5, 2.0, "c ", "A")],
                words=words, edited=[False, False, True], text_original=[None, None, "C"], site="north",
                avg_logprob=[-0.1, -0.2, -0.3], chunk=[0, 0, 1])
    df.attrs["files"] = {"a.wav": {"duration": 2.0}}
    turns = wk.turns(df)
    assert turns.text.tolist() == ["a b c"]
    assert turns.words.iat[0] == [words[0][0], words[2][0]]
    assert turns.edited.tolist() == [True] and turns.edited.dtype == bool
    assert turns.site.tolist() == ["north"]
    assert not {"avg_logprob", "chunk", "text_original"} & set(turns.columns)
    assert turns.attrs == df.attrs
    turns.words.iat[0][0]["word"] = "changed"
    assert words[0][0]["word"] == " a"  # the input's words are not shared


def test_no_speaker_column_empty_frames_and_bad_gaps():
    plain = pd.DataFrame({"start": [0.0, 1.0], "end": [1.0, 2.0], "text": ["a", "b"]})
    assert wk.turns(plain).text.tolist() == ["a b"]
    empty = wk.turns(plain.iloc[:0])
    assert empty.empty and list(empty.columns) == ["file", "start", "end", "text", "language", "speaker", "segments"]
    for bad in (-1, float("nan"), "2", True):
        with pytest.raises(ValueError, match="max_gap_s"):
            wk.turns(plain, max_gap_s=bad)
    with pytest.raises(ValueError, match="lacks text"):
        wk.turns(plain.drop(columns="text"))
