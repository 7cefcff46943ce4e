"""Corrections of a transcript DataFrame, in place (whisperkit_nb.transcript.edits), on a real transcript: the
flite 3-speaker conversation transcribed by Whisper tiny.en with word timestamps and diarization, made by
``%transcribe`` in a fresh IPython kernel, where the acceptance check of the player's renames runs too."""

from __future__ import annotations

import json
import textwrap

import pandas as pd
import pytest
from browser_support import KERNEL_ENV

import whisperkit_nb as wk
from whisperkit_nb.transcript import edits


@pytest.fixture(scope="session")
def kernel_run(tmp_path_factory) -> dict:
    """In a fresh kernel: ``df = %transcribe <3 speakers> --diarize``, ``p = wk.player(df)``, a rename of
    SPEAKER_00 through ``p.speaker_names``; returns what the kernel printed and the frame it pickled
    (before the rename)."""
    import os

    from assets import flite_conversation
    from jupyter_client.manager import start_new_kernel

    path = flite_conversation(turns=8, seed=3).path
    folder = tmp_path_factory.mktemp("kernel")
    code = textwrap.dedent(f"""
        import json, whisperkit_nb as wk
        get_ipython().run_line_magic("load_ext", "whisperkit_nb")
        df = %transcribe {path} --model tiny.en --timestamps word --diarize --num-speakers 3 --no-progress
        df.to_pickle({str(folder / "machine.pkl")!r})
        p = wk.player(df)
        p.speaker_names = {{"SPEAKER_00": "Ana"}}
        print(json.dumps({{"unique": list(df.speaker.unique()), "same": p.df is df,
                           "names": p.speaker_names}}))
    """)
    env = os.environ | KERNEL_ENV
    manager, client = start_new_kernel(kernel_name="python3", env=env, cwd=str(folder))
    try:
        printed: list[str] = []
        errors: list[str] = []

        def output(message):
            content = message["content"]
            if message["msg_type"] == "stream" and content.get("name") == "stdout":
                printed.append(content["text"])
            elif message["msg_type"] == "error":
                errors.append("\n".join(content["traceback"]))

        reply = client.execute_interactive(code, timeout=300, output_hook=output)
        assert reply["content"]["status"] == "ok", "\n".join(errors)[-3000:]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    last = [line for line in "".join(printed).splitlines() if line.startswith("{")][-1]
    return {"printed": json.loads(last), "machine": pd.read_pickle(folder / "machine.pkl")}


@pytest.fixture
def real(kernel_run) -> pd.DataFrame:
    frame = kernel_run["machine"].copy()
    frame.attrs = dict(kernel_run["machine"].attrs)
    assert frame.speaker.nunique() == 3 and len(frame) >= 6 and all(len(w) for w in frame.words)
    return frame


def test_renaming_in_the_player_renames_in_the_users_frame(kernel_run):
    printed = kernel_run["printed"]
    assert "Ana" in printed["unique"] and "SPEAKER_00" not in printed["unique"]
    assert {"SPEAKER_01", "SPEAKER_02"} <= set(printed["unique"]), "the speakers not named keep their labels"
    assert printed["same"] and printed["names"]["SPEAKER_00"] == "Ana"


def test_edit_text_keeps_the_times_of_words_left_as_they_were(real):
    frame, same = real, id(real)
    row = frame.index[2]
    old_words = list(frame.at[row, "words"])
    machine_text = frame.at[row, "text"]
    tokens = frame.at[row, "text"].split()
    tokens[1] = tokens[1].upper() + "X"  # a word corrected in place
    new_text = " ".join(tokens[:-1] + ["and", "more", tokens[-1]])  # two words added before the last
    edits.edit_text(frame, row, new_text)
    assert id(frame) == same and frame.at[row, "text"].strip() == new_text
    assert frame.at[row, "edited"] and frame.at[row, "text_original"] == machine_text
    assert not frame.drop(index=row)["edited"].any(), "only the edited row is marked"
    words = frame.at[row, "words"]
    assert [w["word"] for w in words] == new_text.split()
    assert words[0] == old_words[0], "an untouched word keeps its times, probability and speaker"
    assert (words[1]["start"], words[1]["end"]) == (old_words[1]["start"], old_words[1]["end"])
    assert words[1]["probability"] is None, "a word typed by hand has no probability"
    added = words[-3:-1]
    assert old_words[-2]["end"] <= added[0]["start"] <= added[1]["start"] <= old_words[-1]["start"]
    assert words[-1] == old_words[-1]
    assert all(w["speaker"] == frame.at[row, "speaker"] for w in added)


def test_edit_text_re_finds_number_pieces(real):
    """Whisper times "28.8" as the words "28" and ".8": editing elsewhere in the text keeps both."""
    row = real.index[0]
    words = real.at[row, "words"]
    words = words[:2] + [{**words[1], "word": "28"}, {**words[1], "word": ".8"}] + words[2:]
    text = " ".join([words[0]["word"], words[1]["word"], "28.8"] + [w["word"] for w in words[4:]])
    real.at[row, "words"], real.at[row, "text"] = words, text
    assert edits.locate_words(text, words)[2:4] == [(text.index("28.8"), text.index("28.8") + 2),
                                                      (text.index("28.8") + 2, text.index("28.8") + 4)]
    edits.edit_text(real, row, text + " Indeed.")
    kept = [w["word"] for w in real.at[row, "words"]]
    assert kept[2:4] == ["28", ".8"] and kept[-1] == "Indeed."


def test_split_then_merge_gives_the_segment_back(real):
    before = real.copy()
    row = real.index[1]
    words = real.at[row, "words"]
    k = len(words) // 2
    second = edits.split_segment(real, row, k)
    assert len(real) == len(before) + 1 and list(real.index) == list(range(len(real)))
    assert second == row + 1 and real.start.is_monotonic_increasing
    assert real.at[row, "end"] == words[k - 1]["end"] and real.at[second, "start"] == words[k]["start"]
    assert real.at[row, "words"] == words[:k] and real.at[second, "words"] == words[k:]
    joined = real.at[row, "text"].strip() + " " + real.at[second, "text"].strip()
    assert " ".join(joined.split()) == " ".join(before.at[row, "text"].split())
    assert real.at[row, "edited"] and real.at[second, "edited"]
    assert real.at[second, "text_original"] == before.at[row, "text"]
    assert real.at[row + 2, "text"] == before.at[row + 1, "text"], "the rows after moved down by one"

    merged = edits.merge_with_next(real, row)
    assert merged == row and len(real) == len(before)
    assert real.at[row, "words"] == words and real.at[row, "end"] == before.at[row, "end"]
    assert " ".join(real.at[row, "text"].split()) == " ".join(before.at[row, "text"].split())
    assert list(real.columns[: len(before.columns)]) == list(before.columns)
    assert dict(real.dtypes[before.columns]) == dict(before.dtypes), "dtypes survive splits and merges"
    with pytest.raises(ValueError, match="between 1 and"):
        edits.split_segment(real, row, 0)
    with pytest.raises(ValueError, match="last of its file"):
        edits.merge_with_next(real, real.index[-1])


def test_merge_only_within_a_file_and_split_keeps_other_files(real):
    other = real.assign(file="other.wav", start=real.start + 0.001)
    both = pd.concat([real, other], ignore_index=True)
    first_file = both.file[0]
    last_of_first = both.index[both.file == first_file][-1]
    with pytest.raises(ValueError, match="last of its file"):
        edits.merge_with_next(both, last_of_first)
    edits.split_segment(both, 0, 2)
    assert list(both.file) == [first_file] * (len(real) + 1) + ["other.wav"] * len(other)
    assert both[both.file == "other.wav"].text.tolist() == other.text.tolist()


def test_set_speaker_moves_the_segment_and_its_words(real):
    row = real.index[3]
    edits.set_speaker(real, row, "Bea")
    assert real.at[row, "speaker"] == "Bea" and {w["speaker"] for w in real.at[row, "words"]} == {"Bea"}
    assert real.at[row, "edited"] and real.at[row, "text_original"] == real.at[row, "text"]
    edits.rename_speakers_in_place(real, {"Bea": "Beatrice", "SPEAKER_01": "Carl"})
    assert "Beatrice" in set(real.speaker) and "Carl" in set(real.speaker) and "Bea" not in set(real.speaker)
    assert all(w["speaker"] != "SPEAKER_01" for ws in real.words for w in ws)


def test_edited_transcript_exports_and_reads_back(real, tmp_path):
    row = real.index[0]
    edits.edit_text(real, row, "A corrected first line.")
    from whisperkit_nb.output.export import export

    path = export(real, tmp_path / "fixed.json", "json")
    back = wk.read_transcript(path)
    assert back.text[0].strip() == "A corrected first line." and bool(back.edited[0])
    assert back.text_original[0] == real.text_original[row] and not back.edited[1:].any()
    assert back.text_original[1:].isna().all()
