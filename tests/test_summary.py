"""The end-of-call summary: one line per file, from the DataFrame and its per-file facts alone."""

from __future__ import annotations

import pandas as pd
import pytest

from whisperkit_nb.output.summary import display_name, format_duration, summary_line, summary_lines


def _frame(rows: dict[str, int], facts: dict[str, dict], **attrs) -> pd.DataFrame:
    files = [name for name, count in rows.items() for _ in range(count)]
    frame = pd.DataFrame({"file": files, "start": 0.0, "end": 1.0, "text": "hi", "speaker": None})
    frame.attrs.update({"files": facts, "failures": {}, "interrupted": False, **attrs})
    return frame


def test_one_line_per_file_says_what_a_researcher_wants_to_know():
    frame = _frame({"/data/talks/interview.m4a": 84, "<array>": 1}, {
        "/data/talks/interview.m4a": {"duration": 372.0, "language": "en", "speakers": 3, "seconds": 41.2,
                                      "engine": "ctranslate2"},
        "<array>": {"duration": 2.5, "language": None, "seconds": 0.5, "engine": "transformers"},
    })
    assert summary_lines(frame) == [
        "interview.m4a: 6:12 of audio, 84 segments, 3 speakers, en, 41.2 s (9.0x real time), ctranslate2",
        "<array>: 0:02 of audio, 1 segment, 0.5 s (5.0x real time), transformers",
    ]
    assert summary_line(frame) == "2 files, 6:14 of audio, 85 segments"


def test_failures_interruptions_and_rows_without_facts_are_said():
    frame = _frame({"a.wav": 2}, {"a.wav": {"duration": 3661.0, "interrupted": True}}, interrupted=True,
                   failures={"/x/missing.wav": "file not found"})
    frame.loc[0, "speaker"] = "SPEAKER_00"
    assert summary_lines(frame) == [
        "a.wav: 1:01:01 of audio, 2 segments, 1 speaker, interrupted",
        "missing.wav: failed: file not found",
        "Interrupted: the segments above are those finished before the interrupt.",
    ]
    assert summary_line(frame) == "2 files, 1:01:01 of audio, 2 segments, 1 failed"
    bare = pd.DataFrame({"file": ["b.wav"], "start": [0.0], "end": [1.0], "text": ["hi"]})  # read back: no facts
    assert summary_lines(bare) == ["b.wav: 1 segment"] and summary_line(bare) == "b.wav: 1 segment"
    assert summary_line(bare.iloc[:0]) == "No audio was transcribed."


@pytest.mark.parametrize(("seconds", "shown"), [(0.4, "0:00"), (59.6, "1:00"), (372, "6:12"), (3600, "1:00:00")])
def test_format_duration(seconds, shown):
    assert format_duration(seconds) == shown


def test_display_name_keeps_the_file_name_only():
    assert display_name("/data/talks/interview.m4a") == "interview.m4a"
    assert display_name("<array>") == "<array>"


def test_summary_of_a_real_run(sample):
    """The summary of a real transcription: its duration, language and engine from the run's facts."""
    import whisperkit_nb as wk

    frame = wk.transcribe(str(sample.path), model="tiny.en", progress=False)
    [line] = summary_lines(frame)
    facts = frame.attrs["files"][str(sample.path)]
    rate = facts["duration"] / facts["seconds"]
    assert line == (f"sample.wav: 0:30 of audio, {len(frame)} segments, en, {facts['seconds']:.1f} s "
                    f"({rate:.1f}x real time), ctranslate2")
