"""The export command line (issue 16): ``transcribe -o OUT.<format>``, ``--export DIR --formats ...`` (plain
and ``--store`` runs), ``convert`` (our JSON, WhisperX's, insanely-fast-whisper's) and the ``ifw`` drop-in.

Real runs, in this process (the models stay loaded between them): the 3-speaker flite conversation of
test_exports.py (~25 s) through tiny.en; what the CLI writes is read back by independent libraries.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import test_exports
from test_exports import MS, REAL_OPTIONS, _expected, assert_rows, read_eaf, read_srt, read_textgrid, read_vtt

from whisperkit_nb.cli import main
from whisperkit_nb.output.export import read_transcript
from whisperkit_nb.output.formats._common import clean

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FORMATS = "srt,vtt,eaf,TextGrid,rttm,docx,html,json"


@pytest.fixture(scope="module")
def conversation():
    return test_exports.conversation_path()


@pytest.fixture(scope="module")
def exported(conversation, tmp_path_factory):
    """``whisperkit transcribe <conversation> --diarize --timestamps word --formats ... --export DIR -o x.vtt``.

    The DataFrame the CLI got from `transcribe` is observed (nothing replaced) and handed to test_exports.py,
    whose real transcript is this same run (`test_exports.REAL_OPTIONS`): one diarized run for both files.
    """
    from whisperkit_nb import api

    folder = tmp_path_factory.mktemp("export")
    frames = []
    real = api.transcribe

    def observed(*args, **kwargs):
        frame = real(*args, **kwargs)
        frames.append(frame)
        return frame

    assert REAL_OPTIONS == {"model": "tiny.en", "diarize": True, "num_speakers": 3, "timestamps": "word"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(api, "transcribe", observed)
        status = main(["transcribe", str(conversation), "--model", "tiny.en", "--diarize", "--num-speakers", "3",
                       "--timestamps", "word", "--no-progress", "--formats", FORMATS, "--export",
                       str(folder / "out"), "-o", str(folder / "one.vtt"), "--export-options", "line_numbers=true"])
    if status == 0 and frames:
        test_exports._REAL.setdefault("frame", frames[0])
    return status, folder


def test_transcribe_export_writes_one_file_per_format(exported, conversation, capsys):
    status, folder = exported
    assert status == 0
    stem = conversation.stem
    assert sorted(p.name for p in (folder / "out").iterdir()) == sorted(
        f"{stem}{suffix}" for suffix in (".srt", ".vtt", ".eaf", ".TextGrid", ".rttm", ".docx", ".html", ".json"))
    frame = read_transcript(folder / "out" / f"{stem}.json")
    assert frame.speaker.nunique() == 3 and all(len(w) for w in frame.words)
    document = json.loads((folder / "out" / f"{stem}.json").read_text(encoding="utf-8"))
    assert document["options"]["model"] == "tiny.en" and document["options"]["num_speakers"] == 3
    assert "hf_token" not in document["options"]
    assert_rows(read_srt(folder / "out" / f"{stem}.srt"), _expected(frame), MS)
    assert_rows(read_vtt(folder / "one.vtt"), _expected(frame), MS)  # -o by extension, same run
    tiers, _, media = read_eaf(folder / "out" / f"{stem}.eaf")
    assert set(frame.speaker) <= set(tiers) and media[0]["MEDIA_URL"] == conversation.resolve().as_uri()
    assert set(frame.speaker) < set(read_textgrid(folder / "out" / f"{stem}.TextGrid"))
    import docx

    section = docx.Document(str(folder / "out" / f"{stem}.docx")).sections[0]._sectPr
    assert section.xpath("./w:lnNumType")  # --export-options reached the docx writer
    html = (folder / "out" / f"{stem}.html").read_text(encoding="utf-8")
    assert 'src="data:audio/x-wav;base64,' in html or 'src="data:audio/wav;base64,' in html


def test_store_run_exports_from_the_corpus(conversation, tmp_path, capsys):
    inputs = []
    for name in ("a.wav", "b.wav"):
        shutil.copy(conversation, tmp_path / name)
        inputs.append(str(tmp_path / name))
    store, out = tmp_path / "store", tmp_path / "out"
    assert main(["transcribe", *inputs, "--model", "tiny.en", "--no-progress", "--store", str(store),
                 "--export", str(out), "--formats", "srt,json"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a.srt", "b.json", "b.srt"]
    first = read_transcript(out / "a.json")
    assert len(first) >= 6 and set(first.file) == {inputs[0]}
    assert_rows(read_srt(out / "b.srt"), _expected(read_transcript(out / "b.json")), MS)
    # a second run finds everything done and still exports, from the store
    again = tmp_path / "again"
    assert main(["transcribe", *inputs, "--model", "tiny.en", "--no-progress", "--store", str(store),
                 "--export", str(again), "--formats", "vtt", "--export-options", "voices=false"]) == 0
    assert "already done" in capsys.readouterr().out
    assert sorted(p.name for p in again.iterdir()) == ["a.vtt", "b.vtt"]
    assert_rows(read_vtt(again / "a.vtt"), _expected(first, speaker=False), MS)


def test_convert_ours_whisperx_and_ifw(exported, conversation, tmp_path, capsys):
    _, folder = exported
    ours = folder / "out" / f"{conversation.stem}.json"
    frame = read_transcript(ours)
    wx, ifw = tmp_path / "t.whisperx.json", tmp_path / "t.ifw.json"
    assert main(["convert", str(ours), str(wx)]) == 0 and main(["convert", str(ours), str(ifw)]) == 0
    assert set(json.loads(wx.read_text())) == {"segments", "word_segments", "language"}
    # WhisperX's JSON into srt and TextGrid; insanely-fast-whisper's into EAF with the audio linked
    assert main(["convert", str(wx), str(tmp_path / "from_wx.srt")]) == 0
    assert_rows(read_srt(tmp_path / "from_wx.srt"), _expected(frame), MS)
    assert main(["convert", str(ifw), str(tmp_path / "from_ifw.eaf"), "--audio", str(conversation)]) == 0
    tiers, _, media = read_eaf(tmp_path / "from_ifw.eaf")
    assert media[0]["MEDIA_URL"] == conversation.resolve().as_uri()
    got = sorted((a for name, rows in tiers.items() for a in rows), key=lambda r: r["start"])
    assert_rows(got, _expected(frame, speaker=False), MS)
    # into a folder, several formats at once, with format options
    assert main(["convert", str(wx), str(tmp_path / "many"), "--formats", "txt,tsv",
                 "--export-options", "layout=interview,pauses=1.5"]) == 0
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == ["t.tsv", "t.txt"]
    paragraphs = (tmp_path / "many" / "t.txt").read_text(encoding="utf-8").strip().split("\n\n")
    assert len(paragraphs) == (frame.speaker != frame.speaker.shift()).sum()
    capsys.readouterr()
    assert main(["convert", str(tmp_path / "many" / "t.tsv"), str(tmp_path / "x.srt")]) == 1
    assert "not a readable JSON transcript" in capsys.readouterr().err


def test_ifw_drop_in(conversation, tmp_path, capsys):
    out = tmp_path / "out.json"
    status = main(["ifw", "--file-name", str(conversation), "--transcript-path", str(out), "--model-name", "tiny.en",
                   "--device-id", "cpu", "--num-speakers", "3", "--timestamp", "word", "--batch-size", "4",
                   "--no-progress"])
    assert status == 0
    assert "speaker segmented go check it out over here" in capsys.readouterr().out
    document = json.loads(out.read_text(encoding="utf-8"))
    assert list(document) == ["speakers", "chunks", "text"]
    assert len({s["speaker"] for s in document["speakers"]}) == 3
    assert all(len(clean(c["text"]).split()) == 1 for c in document["chunks"])  # --timestamp word: words
    assert document["text"] == "".join(c["text"] for c in document["chunks"])
    spans = [s["timestamp"] for s in document["speakers"]]
    assert spans == sorted(spans) and all(a <= b for a, b in spans)
    back = read_transcript(out)  # and it converts back
    assert len(back) == len(document["chunks"]) and back.speaker.notna().all()


@pytest.mark.parametrize("args, message", [
    (["ifw", "--file-name", "x.wav", "--device-id", "tpu"], "--device-id 'tpu'"),
    (["ifw", "--file-name", "x.wav", "--device-id", "cpu", "--num-speakers", "2", "--min-speakers", "1"],
     "not both"),
])
def test_ifw_refuses_what_it_cannot_honour(args, message, capsys):
    assert main(args) == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["transcribe", "x.wav", "-o", "x.pdf"], "json, txt, srt, vtt"),
    (["transcribe", "x.wav", "--export", "d", "--formats", "srt,pdf"], "unknown export format 'pdf'"),
    (["transcribe", "a.wav", "b.wav", "-o", "x.srt"], "--export DIR --formats srt"),
    (["transcribe", "x.wav", "--export", "d", "--formats", "srt", "--export-options", "layout=interview"],
     "layout: no chosen format (srt)"),
    (["transcribe", "x.wav", "--formats", "srt"], "--formats applies to --export"),
    (["convert", "in.json", "out.xyz"], "cannot tell the export format"),
])
def test_usage_errors_before_any_work(args, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_dataframe_outputs_unchanged(exported, tmp_path):
    """-o .json/.csv/.parquet still write the DataFrame itself (records, CSV, Parquet)."""
    _, folder = exported
    frame = read_transcript(next((folder / "out").glob("*.json")))
    from whisperkit_nb.cli import write_frame

    write_frame(frame, tmp_path / "r.json")
    records = json.loads((tmp_path / "r.json").read_text())
    assert isinstance(records, list) and records[0]["text"] == frame.text.iat[0]
    write_frame(frame.drop(columns=["words"]), tmp_path / "r.csv")
    assert len(pd.read_csv(tmp_path / "r.csv")) == len(frame)
