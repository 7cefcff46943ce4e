"""`wk.score`: transcripts against hand-corrected ones, file by file, with a corpus row; DER with speakers."""

from __future__ import annotations

import pandas as pd
import pytest

import whisperkit_nb as wk
from whisperkit_nb.scoring import diarization_error_rate, word_error_rate


def _frame(rows):
    return pd.DataFrame(rows, columns=["file", "start", "end", "text", "speaker"])


TRANSCRIPT = _frame([("a.wav", 0.0, 2.0, "Hello there", "SPEAKER_00"), ("a.wav", 2.0, 4.0, "how are you", "SPEAKER_01"),
                     ("b.wav", 0.0, 3.0, "one two three", "SPEAKER_00")])
# Corrected by hand: a.wav's segments cut elsewhere and renamed speakers; b.wav's last word fixed.
CORRECTED = _frame([("a.wav", 0.0, 2.5, "Hello there, how", "Ana"), ("a.wav", 2.5, 4.0, "are you?", "Ben"),
                    ("b.wav", 0.0, 3.0, "one two four", "Ana")])


def test_score_per_file_and_for_the_corpus():
    table = wk.score(TRANSCRIPT, CORRECTED)
    assert list(table.index) == ["a.wav", "b.wav", "all"]
    assert table.loc["a.wav", "wer"] == 0.0  # rows need not match: only the words in time order count
    assert table.loc["b.wav", "wer"] == pytest.approx(1 / 3) == word_error_rate("one two four", "one two three",
                                                                                normalize="basic")
    assert table.loc["all", "wer"] == pytest.approx(1 / 8) and table.loc["all", "reference_words"] == 8
    turns = lambda frame: frame[frame.file == "a.wav"][["start", "end", "speaker"]]
    assert table.loc["a.wav", "der"] == pytest.approx(diarization_error_rate(turns(TRANSCRIPT), turns(CORRECTED)))
    assert table.loc["b.wav", "der"] == 0.0 and 0 < table.loc["all", "der"] < table.loc["a.wav", "der"]


def test_score_a_sample_of_files_a_text_and_no_speakers():
    only_b = wk.score(TRANSCRIPT, CORRECTED[CORRECTED.file == "b.wav"].drop(columns="speaker"))
    assert list(only_b.index) == ["b.wav", "all"] and only_b["der"].isna().all()
    one_file = TRANSCRIPT[TRANSCRIPT.file == "a.wav"]
    assert wk.score(one_file, "hello there how are you").loc["all", "wer"] == 0.0
    with pytest.raises(ValueError, match="holds several"):
        wk.score(TRANSCRIPT, "hello")
    with pytest.raises(ValueError, match="'c.wav'"):
        wk.score(TRANSCRIPT, _frame([("c.wav", 0.0, 1.0, "x", None)]))
