"""Edits of a corpus kept in its store (issue 18): `save_edits` writes an overlay beside the machine results,
frames read from the store show it, re-runs keep it (flagged when the machine result changed under it),
exports use it, and a torn overlay is named instead of hiding anything. Also: our JSON keeps the edit
columns (``edited`` stays bool).

Real weights (tiny.en) and real speech: two LibriVox clips, transcribed once; each test works on a copy of
that store.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

import whisperkit_nb as wk
from whisperkit_nb.corpus.edits import EDITS, overlay_path, save_edits
from whisperkit_nb.corpus.store import Store, StoreError
from whisperkit_nb.output.dataframe import EDIT_COLUMNS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

OPTIONS = {"model": "tiny.en", "progress": False, "timestamps": "word"}
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
CORRECTED = "A sentence the researcher typed."


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Two clips and a store that holds their transcripts."""
    root = tmp_path_factory.mktemp("edits")
    audio = root / "audio"
    audio.mkdir()
    ids = (LIBRIVOX / "fileids").read_text().split()[:2]
    for index, clip_id in enumerate(ids):
        shutil.copy(LIBRIVOX / f"{clip_id}.wav", audio / f"clip{index}.wav")
    wk.transcribe_corpus(audio, root / "store", **OPTIONS)
    return audio, root / "store"


@pytest.fixture
def store(base, tmp_path):
    copy = tmp_path / "store"
    shutil.copytree(base[1], copy)
    return copy


@pytest.fixture
def inputs(base):
    return sorted(str(p) for p in base[0].glob("*.wav"))


def _edit(frame: pd.DataFrame, file: str) -> pd.DataFrame:
    """What the player hands `save_edits`: the file's rows, the first one's text corrected and marked, every
    speaker renamed."""
    rows = frame[frame.file == file].copy()
    rows["edited"] = False
    rows["text_original"] = pd.Series([None] * len(rows), index=rows.index, dtype=object)
    first = rows.index[0]
    rows.at[first, "text_original"] = rows.at[first, "text"]
    rows.at[first, "text"] = CORRECTED
    rows.at[first, "edited"] = True
    rows["speaker"] = "Ana"
    return rows


def _stamp(path: Path) -> tuple[int, int]:
    return path.stat().st_ino, path.stat().st_mtime_ns


def test_saved_edits_show_when_the_corpus_is_reopened(store, inputs):
    corpus = wk.open_corpus(store)
    machine = corpus.frame
    assert machine.attrs["store"] == str(store.absolute())
    assert "edited" not in machine.columns and corpus.edited == [] and not corpus.files.edited.any()
    results = {p: _stamp(p) for p in (store / "files").glob("*.parquet")}
    manifest = (store / "manifest.json").read_text()

    rows = _edit(machine, inputs[0])
    path = save_edits(machine.attrs["store"], inputs[0], rows)
    assert path == overlay_path(store, inputs[0]) and path.parent == store / EDITS and path.is_file()
    assert {p: _stamp(p) for p in (store / "files").glob("*.parquet")} == results  # machine results untouched
    assert (store / "manifest.json").read_text() == manifest

    reopened = wk.open_corpus(store)
    frame = reopened.frame
    mine, other = frame[frame.file == inputs[0]], frame[frame.file == inputs[1]]
    assert mine.text.iat[0] == CORRECTED and mine.text_original.iat[0] == machine.text.iat[0]
    assert mine.text.iloc[1:].tolist() == machine[machine.file == inputs[0]].text.iloc[1:].tolist()
    assert set(mine.speaker) == {"Ana"}
    assert other.text.tolist() == machine[machine.file == inputs[1]].text.tolist()  # the other input as it was
    assert frame.edited.dtype == bool and frame.edited.tolist() == [True] + [False] * (len(frame) - 1)
    assert other.text_original.isna().all()
    assert list(frame.columns[:len(machine.columns)]) == list(machine.columns)
    assert frame.words.map(lambda w: isinstance(w, list)).all()
    assert len(reopened.words) == sum(len(w) for w in frame.words)
    assert reopened.edited == [inputs[0]]
    assert reopened.files.edited.tolist() == [True, False]
    assert reopened.files.edits_on_older_result.tolist() == [False, False]
    facts = frame.attrs["files"][inputs[0]]
    assert facts["edited"] is True and facts["edits_on_older_result"] is False and facts["edits_saved"]
    assert "edited" not in frame.attrs["files"][inputs[1]]
    assert frame.attrs["store"] == str(store.absolute())


def test_a_rerun_keeps_the_edits(store, inputs):
    save_edits(store, inputs[0], _edit(wk.open_corpus(store).frame, inputs[0]))
    overlay = overlay_path(store, inputs[0])
    before = _stamp(overlay)
    again = wk.transcribe_corpus(inputs, store, **OPTIONS)
    assert again.skipped == 2
    assert again.frame.text.iat[0] == CORRECTED and again.files.edited.tolist() == [True, False]
    assert _stamp(overlay) == before
    # transcribed again from scratch: the same machine rows come back, so the edits are not flagged
    fresh = wk.transcribe_corpus(inputs, store, overwrite=True, **OPTIONS)
    assert fresh.skipped == 0 and fresh.frame.text.iat[0] == CORRECTED and _stamp(overlay) == before
    assert fresh.frame.attrs["files"][inputs[0]]["edits_on_older_result"] is False


def test_a_rerun_with_other_results_keeps_the_edits_and_flags_them(store, inputs):
    save_edits(store, inputs[0], _edit(wk.open_corpus(store).frame, inputs[0]))
    short = {**OPTIONS, "max_new_tokens": 6}  # another transcript: each chunk cut after six tokens
    changed = wk.transcribe_corpus(inputs, store, **short)
    assert changed.skipped == 0
    frame = changed.frame
    assert frame.text.iat[0] == CORRECTED  # the researcher's text wins over the new machine text
    assert frame.attrs["files"][inputs[0]]["edits_on_older_result"] is True
    assert changed.files.edits_on_older_result.tolist() == [True, False]
    assert frame[frame.file == inputs[1]].text.str.split().map(len).max() <= 6  # the other input is the new result

    # saving again (after more corrections) keeps the flag: the rows still come from the older result
    more = _edit(frame, inputs[0])
    more.at[more.index[-1], "text"] = "And the last row too."
    changed.save_edits(inputs[0], more)
    assert changed.frame.attrs["files"][inputs[0]]["edits_on_older_result"] is True
    assert changed.frame[changed.frame.file == inputs[0]].text.iat[-1] == "And the last row too."
    # back to the options the edits were made on: not flagged there
    assert wk.transcribe_corpus(inputs, store, **OPTIONS).files.edits_on_older_result.tolist() == [False, False]
    # reviewed against the new result: flagged no more there
    again = wk.transcribe_corpus(inputs, store, **short)
    assert again.skipped == 2 and again.files.edits_on_older_result.tolist() == [True, False]
    again.save_edits(inputs[0], again.frame[again.frame.file == inputs[0]], reviewed=True)
    assert again.files.edits_on_older_result.tolist() == [False, False]
    assert wk.open_corpus(store).frame.text.iat[0] == CORRECTED


def test_a_frame_read_before_another_run_records_the_result_it_showed(store, inputs):
    seen = wk.open_corpus(store).frame  # read, then the store gets another result before the first save
    wk.transcribe_corpus(inputs, store, **{**OPTIONS, "max_new_tokens": 6})
    save_edits(store, inputs[0], _edit(seen, inputs[0]))
    assert wk.open_corpus(store).files.edits_on_older_result.tolist() == [True, False]


def test_exports_use_the_edited_text(store, inputs, tmp_path):
    corpus = wk.open_corpus(store)
    corpus.save_edits(inputs[0], _edit(corpus.frame, inputs[0]))
    written = corpus.export(tmp_path / "out", formats=("txt", "json"))
    txt = next(p for p in written[inputs[0]] if p.suffix == ".txt")
    assert CORRECTED in txt.read_text()
    back = wk.read_transcript(next(p for p in written[inputs[0]] if p.suffix == ".json"))
    assert back.text.iat[0] == CORRECTED and back.edited.dtype == bool and back.edited.iat[0]
    other = next(p for p in written[inputs[1]] if p.suffix == ".txt")
    assert CORRECTED not in other.read_text()


@pytest.mark.parametrize("damage", ["torn", "garbage"])
def test_a_corrupt_overlay_is_named_and_the_machine_result_is_kept(store, inputs, damage):
    machine = wk.open_corpus(store).frame
    path = save_edits(store, inputs[0], _edit(machine, inputs[0]))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "torn" else b"not a parquet file\n")
    corpus = wk.open_corpus(store)
    with pytest.raises(StoreError, match="cannot be read") as caught:
        corpus.frame
    assert str(path) in str(caught.value) and "discard_edits" in str(caught.value)
    files = corpus.files  # still readable: says which input has edits, and that they cannot be compared
    assert files.edited.tolist() == [True, False] and files.edits_on_older_result.tolist() == [None, False]
    assert corpus.discard_edits(inputs[0]) == [path] and not path.exists()
    pd.testing.assert_frame_equal(corpus.frame, machine)  # the machine result, whole
    assert corpus.edited == [] and corpus.discard_edits(inputs[0]) == []


def test_discarded_edits_give_the_machine_rows_back(store, inputs):
    corpus = wk.open_corpus(store)
    machine = corpus.frame
    corpus.save_edits(inputs[1], _edit(machine, inputs[1]))
    assert corpus.edited == [inputs[1]] and corpus.frame.edited.sum() == 1
    corpus.discard_edits(inputs[1])
    pd.testing.assert_frame_equal(wk.open_corpus(store).frame, machine)


def test_a_moved_folder_finds_its_edits_by_the_audio(store, base, inputs, tmp_path):
    save_edits(store, inputs[0], _edit(wk.open_corpus(store).frame, inputs[0]))
    moved = tmp_path / "moved"
    shutil.copytree(base[0], moved)
    corpus = wk.transcribe_corpus(moved, store, **OPTIONS)
    assert corpus.skipped == 2  # results are found by content
    frame = corpus.frame
    name = str(moved / "clip0.wav")
    assert frame[frame.file == name].text.iat[0] == CORRECTED and set(frame[frame.file == name].file) == {name}
    assert corpus.edited == [name]
    # saved again under the new name: its own overlay from now on, on the result the first edits were made on
    rows = frame[frame.file == name].copy()
    rows.at[rows.index[0], "text"] = "Corrected after the move."
    corpus.save_edits(name, rows)
    assert overlay_path(store, name).is_file()
    again = wk.open_corpus(store)
    assert again.frame.text.iat[0] == "Corrected after the move." and again.files.edits_on_older_result.iat[0] is False


def test_edits_are_saved_while_a_run_holds_the_store(store, inputs):
    rows = _edit(wk.open_corpus(store).frame, inputs[0])
    with Store(store).lock("another run"):
        save_edits(store, inputs[0], rows)
    assert wk.open_corpus(store).frame.text.iat[0] == CORRECTED


def test_save_edits_refuses_what_it_cannot_place(store, inputs, tmp_path):
    frame = wk.open_corpus(store).frame
    with pytest.raises(StoreError, match="has no input 'elsewhere.wav'"):
        save_edits(store, "elsewhere.wav", frame[frame.file == inputs[0]])
    with pytest.raises(ValueError, match="rows of other inputs"):
        save_edits(store, inputs[0], frame)
    with pytest.raises(ValueError, match="lack the column"):
        save_edits(store, inputs[0], frame[["file", "start"]])
    with pytest.raises(StoreError, match="holds no corpus"):
        save_edits(tmp_path / "nothing", inputs[0], frame)
    assert not (store / EDITS).exists()


def test_our_json_keeps_the_edit_columns(tmp_path):
    assert set(EDIT_COLUMNS) == {"edited", "text_original"}
    df = pd.DataFrame({"file": pd.Series(["a.wav"] * 3, dtype=object), "start": [0.0, 1.0, 2.0], "end": [1.0, 2.0, 3.0],
                       "text": pd.Series(["fixed", "b", "c"], dtype=object), "speaker": pd.Series(["Ana", None, "Ben"], dtype=object),
                       "words": [[{"word": " a", "start": 0.0, "end": 1.0, "probability": 0.5}], [], []],
                       "edited": [True, False, False],
                       "text_original": pd.Series(["a", None, None], dtype=object)})  # None, not NaN
    df.attrs["files"] = {"a.wav": {"duration": 3.0, "edited": True}}
    wk.export(df, tmp_path / "t.json")
    back = wk.read_transcript(tmp_path / "t.json")
    assert back.edited.dtype == bool and back.edited.tolist() == [True, False, False]
    assert back.text_original.tolist() == ["a", None, None]
    pd.testing.assert_frame_equal(back[df.columns], df)
    assert back.attrs["files"]["a.wav"]["edited"] is True
