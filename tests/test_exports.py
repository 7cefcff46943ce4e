"""Exports (issue 16): every format written from a real diarized transcript with words, and from synthetic
edge cases, then read back by a library we do not write (pysubs2, webvtt-py, praatio, pympi-ling,
pyannote.database's RTTM loader, python-docx, the csv module, Chromium) and compared with the DataFrame:
same number of segments, times within the format's resolution, speakers and text equal.

The real transcript: the 3-speaker flite conversation (8 turns, ~25 s) through tiny.en with word times and
diarization, built once per session (`real_transcript`, shared with test_export_cli.py).
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import whisperkit_nb as wk
from whisperkit_nb.errors import MissingDependencyError, OptionsError
from whisperkit_nb.output.export import FORMATS, export, export_corpus, read_transcript
from whisperkit_nb.output.formats._common import clean, hms, segments, turns
from whisperkit_nb.output.formats.ours import plain

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MS = 0.0015  # 1 ms formats: rounding to the millisecond, plus float noise


REAL_OPTIONS = {"model": "tiny.en", "diarize": True, "num_speakers": 3, "timestamps": "word"}
_REAL: dict[str, pd.DataFrame] = {}  # test_export_cli.py's CLI run of the same transcription fills it first


def conversation_path() -> Path:
    from assets import flite_conversation

    return flite_conversation(turns=8, seed=3).path


def real_transcript() -> pd.DataFrame:
    """A real run, once per session: the flite 3-speaker conversation (~25 s), `REAL_OPTIONS` (~15-25 s
    on 2 cores), unless test_export_cli.py's ``whisperkit transcribe`` with these options already made it."""
    if "frame" not in _REAL:
        _REAL["frame"] = wk.transcribe(str(conversation_path()), progress=False, **REAL_OPTIONS)
    return _REAL["frame"]


@pytest.fixture(scope="session")
def real():
    frame = real_transcript()
    assert frame.speaker.nunique() == 3 and len(frame) >= 6
    assert all(len(ws) for ws in frame.words)
    return frame


def _words(*items, speaker=None):
    return [{"word": w, "start": a, "end": b, "probability": 0.875, **({"speaker": speaker} if speaker else {})}
            for w, a, b in items]


def synthetic(*, speakers=True, words=True, rows=None, name="/nonexistent/intervista.wav") -> pd.DataFrame:
    """A transcript in our schema (object columns hold None, as transcribe's do)."""
    rows = rows if rows is not None else [
        (0.0, 2.5, " Привет, как дела? Всё хорошо.", "Анна",
         _words(("Привет,", 0.0, 0.6), ("как", 0.6, 0.9), ("дела?", 0.9, 1.4), ("Всё", 1.5, 1.9),
                ("хорошо.", 1.9, 2.5))),
        (2.75, 5.125, " Perché è così? Là, caffè & <b>tè</b>", "Giò D'Amico",
         _words(("Perché", 2.75, 3.1), ("è", 3.1, 3.3), ("così?", 3.3, 3.7), ("Là,", 3.8, 4.0),
                ("caffè", 4.0, 4.5), ("&", 4.5, 4.6), ("<b>tè</b>", 4.6, 5.125))),
        (5.5, 8.0, ' a --> b "quoted" \'single\'\nsecond line\tand <script>alert(1)</script>', "Анна",
         _words(("a", 5.5, 5.7), ("-->", 5.7, 6.0), ("b", 6.0, 6.2), ('"quoted"', 6.2, 6.5), ("'single'", 6.5, 6.8),
                ("second", 6.8, 7.0), ("line", 7.0, 7.2), ("and", 7.6, 7.7), ("<script>alert(1)</script>", 7.7, 8.0))),
        (20.0, 21.5, " Dopo una lunga pausa.", "Ben <x> & Co",
         _words(("Dopo", 20.0, 20.4), ("una", 20.4, 20.6), ("lunga", 20.6, 21.0), ("pausa.", 21.0, 21.5))),
    ]
    frame = pd.DataFrame({
        "file": pd.Series([name] * len(rows), dtype=object),
        "start": pd.Series([r[0] for r in rows], dtype="float64"),
        "end": pd.Series([r[1] for r in rows], dtype="float64"),
        "text": pd.Series([r[2] for r in rows], dtype=object),
        "language": pd.Series(["it"] * len(rows), dtype=object),
        "speaker": pd.Series([r[3] if speakers else None for r in rows], dtype=object),
        "avg_logprob": pd.Series([-0.25] * len(rows), dtype="float64"),
        "no_speech_prob": pd.Series([np.nan] * len(rows), dtype="float64"),
        "compression_ratio": pd.Series([1.5] * len(rows), dtype="float64"),
        "chunk": pd.Series(range(len(rows)), dtype="int64"),
    })
    if words:
        frame["words"] = pd.Series([[{k: v for k, v in w.items() if speakers or k != "speaker"} for w in r[4]]
                                    for r in rows], dtype=object)
    frame.attrs["files"] = {name: {"name": name, "duration": 22.0, "language": "it", "gaps": [(8.0, 20.0)]}}
    return frame


CASES = {
    "multilingual": lambda: synthetic(),
    "empty": lambda: synthetic(rows=[]),
    "no_speakers": lambda: synthetic(speakers=False),
    "no_words": lambda: synthetic(words=False),
}


# --------------------------------------------------------------------------------------------------
# Independent readers: each returns what the file holds as dicts (start, end, speaker, text; where the
# format has them), for `_expected` to compare with.


def _pysubs2_times(path, fmt):
    import pysubs2

    return [(e.start / 1000, e.end / 1000) for e in pysubs2.load(str(path), format_=fmt)]


def read_srt(path):
    import webvtt

    times = _pysubs2_times(path, "srt")
    texts = [c.raw_text for c in webvtt.from_srt(str(path))] if times else []
    rows = []
    for (start, end), text in zip(times, texts, strict=True):
        speaker, said = re.match(r"(?:\[(.*?)\]: )?(.*)", text, re.DOTALL).groups()
        rows.append({"start": start, "end": end, "speaker": speaker, "text": said})
    return rows


def read_vtt(path):
    import webvtt

    captions = list(webvtt.read(str(path)))
    times = _pysubs2_times(path, "vtt") if captions else []
    return [{"start": a, "end": b, "speaker": html.unescape(c.voice) if c.voice else None,
             "text": html.unescape(c.text)} for (a, b), c in zip(times, captions, strict=True)]


def read_tsv(path):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [{"start": int(r["start"]) / 1000, "end": int(r["end"]) / 1000, "text": r["text"],
             "speaker": r["speaker"] or None} for r in rows]


def read_audacity(path):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [{"start": float(a), "end": float(b), "label": label} for a, b, label in rows]


def read_rttm(path):
    from pyannote.database.util import load_rttm

    annotations = load_rttm(str(path))
    rows = [{"start": seg.start, "end": seg.end, "speaker": label}
            for uri, annotation in annotations.items() for seg, _, label in annotation.itertracks(yield_label=True)]
    return sorted(rows, key=lambda r: r["start"])


def read_textgrid(path):
    from praatio import textgrid

    grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    return {name: [{"start": e.start, "end": e.end, "text": e.label} for e in grid.getTier(name).entries]
            for name in grid.tierNames}


def read_eaf(path):
    from pympi.Elan import Eaf

    eaf = Eaf(str(path))
    tiers = {name: [{"start": a / 1000, "end": b / 1000, "text": v}
                    for a, b, v in sorted(eaf.get_annotation_data_for_tier(name))]
             for name in eaf.get_tier_names()}
    participants = {name: eaf.tiers[name][2].get("PARTICIPANT") for name in eaf.get_tier_names()}
    return tiers, participants, eaf.get_linked_files()


def read_docx(path):
    import docx

    document = docx.Document(str(path))
    return document, [p for p in document.paragraphs]


READERS = {"srt": read_srt, "vtt": read_vtt, "tsv": read_tsv, "rttm": read_rttm}


def _expected(df, *, text=True, speaker=True):
    rows = []
    for s in segments(df):
        row = {"start": s.start, "end": s.end}
        if speaker:
            row["speaker"] = s.speaker
        if text:
            row["text"] = clean(s.text)
        rows.append(row)
    return rows


def assert_rows(got, expected, tolerance):
    assert len(got) == len(expected), (len(got), len(expected))
    for g, e in zip(got, expected):
        assert g["start"] == pytest.approx(e["start"], abs=tolerance), (g, e)
        assert g["end"] == pytest.approx(e["end"], abs=tolerance), (g, e)
        for key in set(e) - {"start", "end"}:
            assert g[key] == e[key], (key, g, e)


# --------------------------------------------------------------------------------------------------
# Each format against the real transcript and every edge case


@pytest.fixture(params=["real", *CASES])
def transcript(request):
    if request.param == "real":
        return request.getfixturevalue("real")
    return CASES[request.param]()


def test_srt(transcript, tmp_path):
    path = export(transcript, tmp_path / "t.srt")
    assert_rows(read_srt(path), _expected(transcript), MS)


def test_vtt_voices_and_escaping(transcript, tmp_path):
    path = export(transcript, tmp_path / "t.vtt")
    assert_rows(read_vtt(path), _expected(transcript), MS)
    body = path.read_text(encoding="utf-8")
    assert body.startswith("WEBVTT\n")
    # no cue text line holds an arrow: only the timing lines do
    assert all("-->" not in line for line in body.splitlines() if not re.match(r"\d\d:\d\d:\d\d\.\d{3} -->", line))


def test_tsv_in_milliseconds(transcript, tmp_path):
    path = export(transcript, tmp_path / "t.tsv")
    assert path.read_text(encoding="utf-8").splitlines()[0] == "start\tend\ttext\tspeaker"
    assert_rows(read_tsv(path), _expected(transcript), MS)


def test_audacity_labels(transcript, tmp_path):
    path = export(transcript, tmp_path / "t.audacity.txt")
    got = read_audacity(path)
    expected = [{**e, "label": f"{e['speaker']}: {e['text']}" if e["speaker"] else e["text"]}
                for e in _expected(transcript)]
    assert_rows(got, [{k: v for k, v in e.items() if k in ("start", "end", "label")} for e in expected], 1e-6)


def test_rttm_read_by_pyannote(transcript, tmp_path):
    path = export(transcript, tmp_path / "t.rttm")
    expected = [{"start": e["start"], "end": e["end"], "speaker": "_".join(e["speaker"].split())}
                for e in _expected(transcript, text=False) if e["speaker"]]
    assert_rows(read_rttm(path), expected, MS)


def test_textgrid_read_by_praatio(transcript, tmp_path):
    path = export(transcript, tmp_path / "t.TextGrid")
    tiers = read_textgrid(path)
    segs = segments(transcript)
    speakers = list(dict.fromkeys(s.speaker for s in segs)) if any(s.speaker for s in segs) else []
    has_words = "words" in transcript.columns
    assert list(tiers) == (speakers or ["transcript"]) + (["words"] if has_words else [])
    for name in speakers or ["transcript"]:
        mine = [s for s in segs if s.speaker == (name if speakers else None)]
        expected = [{"start": s.start, "end": s.end, "text": clean(s.text)} for s in mine if clean(s.text)]
        assert_rows(tiers[name], expected, 1e-6)
    if has_words:
        expected = [{"start": w["start"], "end": w["end"], "text": clean(w["word"])}
                    for s in segs for w in s.words]
        assert_rows(tiers["words"], expected, MS)


def test_eaf_read_by_pympi(transcript, tmp_path):
    path = export(transcript, tmp_path / "t.eaf")
    tiers, participants, media = read_eaf(path)
    segs = segments(transcript)
    speakers = list(dict.fromkeys(s.speaker for s in segs)) if any(s.speaker for s in segs) else [None]
    has_words = "words" in transcript.columns and any(s.words for s in segs)
    names = [s or "transcript" for s in speakers]
    assert list(tiers) == [t for n in names for t in ([n, f"{n} words"] if has_words else [n])]
    for speaker, name in zip(speakers, names):
        assert participants[name] == (speaker or "")
        expected = [{"start": s.start, "end": s.end, "text": clean(s.text)} for s in segs if s.speaker == speaker]
        assert_rows(tiers[name], expected, MS)
        if has_words:
            expected = [{"start": w["start"], "end": w["end"], "text": clean(w["word"])}
                        for s in segs for w in s.words if (w.get("speaker") or s.speaker) == speaker]
            assert_rows(tiers[f"{name} words"], expected, MS)
    _check_eaf_structure(path)
    source = transcript.file.iat[0] if len(transcript) else None
    if source and Path(source).is_file():  # the real recording is linked; a missing one is not
        assert media and media[0]["MEDIA_URL"] == Path(source).resolve().as_uri()
    else:
        assert media == []


def _check_eaf_structure(path):
    """ELAN's schema is not available offline: the structure it requires, checked with the XML parser."""
    from lxml import etree

    root = etree.parse(str(path)).getroot()
    assert root.tag == "ANNOTATION_DOCUMENT" and root.get("FORMAT")
    assert [child.tag for child in root][:2] == ["HEADER", "TIME_ORDER"]
    slots = {s.get("TIME_SLOT_ID"): int(s.get("TIME_VALUE")) for s in root.iter("TIME_SLOT")}
    ids = [a.get("ANNOTATION_ID") for a in root.iter("ALIGNABLE_ANNOTATION")]
    assert len(ids) == len(set(ids))
    types = {t.get("LINGUISTIC_TYPE_ID") for t in root.iter("LINGUISTIC_TYPE")}
    for tier in root.iter("TIER"):
        assert tier.get("LINGUISTIC_TYPE_REF") in types
        last = 0
        for a in tier.iter("ALIGNABLE_ANNOTATION"):
            start, end = slots[a.get("TIME_SLOT_REF1")], slots[a.get("TIME_SLOT_REF2")]
            assert last <= start < end, (tier.get("TIER_ID"), last, start, end)
            last = end


def test_docx_read_by_python_docx(transcript, tmp_path):
    path = export(transcript, tmp_path / "t.docx", line_numbers=True)
    document, paragraphs = read_docx(path)
    name = Path(transcript.attrs["files"] and next(iter(transcript.attrs["files"])) or "Transcript").name
    assert paragraphs[0].text == name and paragraphs[0].style.name == "Title"
    speakers = list(dict.fromkeys(s.speaker for s in segments(transcript) if s.speaker))
    assert paragraphs[1].text == "Speakers: " + (", ".join(speakers) if speakers else "not identified")
    expected = [f"[{hms(t.start)}] " + (f"{t.speaker}: " if t.speaker else "") + t.text
                for t in turns(segments(transcript))]
    assert [p.text for p in paragraphs[2:]] == expected
    bold = [r.text for p in paragraphs[2:] for r in p.runs if r.bold]
    assert bold == [f"{t.speaker}:" for t in turns(segments(transcript)) if t.speaker]
    numbering = document.sections[0]._sectPr.xpath("./w:lnNumType")
    assert len(numbering) == 1 and numbering[0].get(
        "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}countBy") == "1"
    assert zipfile.ZipFile(path).testzip() is None


def test_json_round_trip(transcript, tmp_path):
    path = export(transcript, tmp_path / "t.json")
    back = read_transcript(path)
    pd.testing.assert_frame_equal(back, transcript)
    assert back.attrs == plain(transcript.attrs)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["whisperkit_nb"] == wk.__version__ and document["files"] == plain(transcript.attrs["files"])
    speakers = [s["speaker"] for s in document["speakers"]]
    assert speakers == list(dict.fromkeys(s for s in transcript.get("speaker", []) if s))


def test_whisperx_json(transcript, tmp_path):
    path = export(transcript, tmp_path / "t.whisperx.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert set(document) == {"segments", "word_segments", "language"}
    got = [{"start": s["start"], "end": s["end"], "speaker": s.get("speaker"), "text": clean(s["text"])}
           for s in document["segments"]]
    assert_rows(got, _expected(transcript), 1e-9)
    for s, mine in zip(document["segments"], segments(transcript)):
        assert [w["word"] for w in s["words"]] == [clean(w["word"]) for w in mine.words]
        assert all(w.get("speaker") == (m.get("speaker") or mine.speaker) for w, m in zip(s["words"], mine.words))
    back = read_transcript(path)  # and WhisperX's JSON converts back
    assert_rows(_expected(back), _expected(transcript), 1e-9)


def test_ifw_json(transcript, tmp_path):
    path = export(transcript, tmp_path / "t.ifw.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert set(document) == {"speakers", "chunks", "text"}
    got = [{"start": c["timestamp"][0], "end": c["timestamp"][1], "text": clean(c["text"])} for c in document["chunks"]]
    assert_rows(got, _expected(transcript, speaker=False), 1e-9)
    assert document["text"] == "".join(c["text"] for c in document["chunks"])
    expected_turns = [t for t in turns(segments(transcript))] if any(s.speaker for s in segments(transcript)) else []
    assert [(s["speaker"], s["timestamp"]) for s in document["speakers"]] == [
        (t.speaker or "UNKNOWN", [t.start, t.end]) for t in expected_turns]
    back = read_transcript(path)
    assert_rows(_expected(back), _expected(transcript, speaker=bool(expected_turns)) if expected_turns
                else [{**e, "speaker": None} for e in _expected(transcript, speaker=False)], 1e-9)


def test_ifw_word_chunks(real, tmp_path):
    path = export(real, tmp_path / "w.ifw.json", timestamp="word")
    document = json.loads(path.read_text(encoding="utf-8"))
    words = [w for ws in real.words for w in ws]
    assert [clean(c["text"]) for c in document["chunks"]] == [clean(w["word"]) for w in words]
    assert [c["timestamp"] for c in document["chunks"]] == [[w["start"], w["end"]] for w in words]


def test_txt_plain_and_interview(transcript, tmp_path):
    plain_path = export(transcript, tmp_path / "plain.txt")
    assert plain_path.read_text(encoding="utf-8").splitlines() == [clean(s.text) for s in segments(transcript)]
    path = export(transcript, tmp_path / "interview.txt", layout="interview")
    paragraphs = [p for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    expected = [f"[{hms(t.start)}] " + (f"{t.speaker}: " if t.speaker else "") + t.text
                for t in turns(segments(transcript))]
    assert [p.strip() for p in paragraphs] == expected


def test_txt_pause_marks(tmp_path):
    text = export(synthetic(), tmp_path / "p.txt", layout="interview", pauses=0.3).read_text(encoding="utf-8")
    # Gaps of 0.375 s (before Anna's second turn) and 0.4 s (between "line" and "and") get one dot; 12 s of
    # silence the long form; 0.1 s and 0.25 s gaps none.
    assert text == (
        "[00:00:00] Анна: Привет, как дела? Всё хорошо.\n\n"
        "[00:00:03] Giò D'Amico: Perché è così? Là, caffè & <b>tè</b>\n\n"
        "[00:00:06] Анна: (.) a --> b \"quoted\" 'single' second line (.) and <script>alert(1)</script>\n\n"
        "[00:00:20] Ben <x> & Co: (12 seconds pause) Dopo una lunga pausa.\n"
    )
    with pytest.raises(OptionsError, match="pauses= needs layout='interview'"):
        export(synthetic(), tmp_path / "q.txt", pauses=1.0)


def test_qda_maxqda(transcript, tmp_path):
    path = export(transcript, tmp_path / "t.maxqda.txt")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    blocks = [b.strip() for b in raw.decode("utf-8-sig").split("\n\n") if b.strip()]
    segs = segments(transcript)
    stamps = [(m.group(1), m.group(2).strip()) for b in blocks
              for m in re.finditer(r"\[(\d\d:\d\d:\d\d)\] - (.*?)(?= \[\d\d:\d\d:\d\d\] - |\n|$)", b)]
    assert stamps == [(hms(s.start), clean(s.text)) for s in segs]
    expected_speakers = [t.speaker for t in turns(segs) if t.speaker]
    assert [b.split("\n")[0] for b in blocks if "\n" in b] == expected_speakers


def test_qda_nvivo(transcript, tmp_path):
    path = export(transcript, tmp_path / "t.nvivo.txt")
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    got = []
    for r in rows:
        a, b = r["Timespan"].split(" - ")
        seconds = lambda t: sum(float(x) * m for x, m in zip(t.split(":"), (3600, 60, 1)))
        got.append({"start": seconds(a), "end": seconds(b), "text": r["Content"], "speaker": r["Speaker"] or None})
    assert_rows(got, _expected(transcript), 0.051)


def test_qda_atlasti(transcript, tmp_path):
    path = export(transcript, tmp_path / "t.atlasti.txt")
    paragraphs = [p for p in path.read_text(encoding="utf-8-sig").split("\n\n") if p.strip()]
    segs = segments(transcript)
    assert len(paragraphs) == len(segs)
    for i, (p, s) in enumerate(zip(paragraphs, segs)):
        stamps = re.findall(r"#(\d\d):(\d\d):(\d\d)-(\d)#", p)
        times = [int(h) * 3600 + int(m) * 60 + int(sec) + int(d) / 10 for h, m, sec, d in stamps]
        assert times[-1] == pytest.approx(s.end, abs=0.051)
        if i == 0:
            assert times[0] == pytest.approx(s.start, abs=0.051)
        body = re.sub(r"\s*#\d\d:\d\d:\d\d-\d#\s*", "", p)
        assert body == (f"{s.speaker}: " if s.speaker else "") + clean(s.text)


# --------------------------------------------------------------------------------------------------
# export(), export_corpus(), the accessor, errors


def test_every_format_has_a_documented_writer():
    from whisperkit_nb.output.export import format_options

    for fmt in FORMATS.values():
        doc = fmt.writer().__doc__
        assert doc and len(doc) > 80, fmt.name
        for option in format_options(fmt):
            assert option in doc, (fmt.name, option)


def test_unknown_format_and_option_are_refused(tmp_path):
    frame = synthetic()
    with pytest.raises(OptionsError, match="json, txt, srt, vtt"):
        export(frame, tmp_path / "t.xyz")
    with pytest.raises(OptionsError, match="unknown export format 'pdf'.*eaf"):
        export(frame, tmp_path / "t.txt", format="pdf")
    with pytest.raises(OptionsError, match="takes no option 'layout'.*voices"):
        export(frame, tmp_path / "t.vtt", layout="interview")
    with pytest.raises(OptionsError, match="audio='/nope.wav'"):
        export(frame, tmp_path / "t.html", audio="/nope.wav")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_several_files_need_export_corpus(tmp_path):
    a, b = synthetic(name="/x/a.wav"), synthetic(name="/y/a.wav")
    both = pd.concat([a, b], ignore_index=True)
    both.attrs["files"] = {**a.attrs["files"], **b.attrs["files"]}
    with pytest.raises(OptionsError, match="2 files.*export_corpus"):
        export(both, tmp_path / "t.srt")
    export(both, tmp_path / "all.rttm")  # rttm and json hold many recordings
    assert len(read_rttm(tmp_path / "all.rttm")) == 2 * 4
    written = export_corpus(both, tmp_path / "out", "srt,eaf,txt", layout="interview")
    assert {k: [p.name for p in v] for k, v in written.items()} == {
        "/x/a.wav": ["a.srt", "a.eaf", "a.txt"], "/y/a.wav": ["a-2.srt", "a-2.eaf", "a-2.txt"]}
    assert_rows(read_srt(tmp_path / "out" / "a-2.srt"), _expected(b), MS)
    with pytest.raises(OptionsError, match="no chosen format.*voices"):
        export_corpus(both, tmp_path / "out2", ["srt"], voices=False)
    # a mapping, and an input with no segments still gets its (empty) files
    silent = synthetic(rows=[], name="/z/silence.wav")
    done = export_corpus({"/z/silence.wav": silent, "/x/a.wav": a}, tmp_path / "map", ["vtt", "json"])
    assert (tmp_path / "map" / "silence.vtt").read_text() == "WEBVTT\n\n"
    assert read_transcript(done["/z/silence.wav"][1]).empty


def test_accessor_and_package_names(tmp_path):
    import whisperkit_nb.notebook  # noqa: F401  (registers df.whisperkit)

    frame = synthetic()
    assert frame.whisperkit.to_srt(tmp_path / "a.srt") == tmp_path / "a.srt"
    frame.whisperkit.to_vtt(tmp_path / "a.vtt", voices=False)
    assert "<v " not in (tmp_path / "a.vtt").read_text(encoding="utf-8")
    frame.whisperkit.export(tmp_path / "a.data", format="json")
    pd.testing.assert_frame_equal(wk.read_transcript(tmp_path / "a.data"), frame)
    assert wk.export(frame, tmp_path / "b.TextGrid").exists()
    for name in ("to_txt", "to_tsv", "to_json", "to_eaf", "to_textgrid", "to_docx", "to_html", "to_rttm",
                 "to_maxqda", "to_nvivo", "to_atlasti", "to_whisperx", "to_ifw", "to_audacity"):
        assert callable(getattr(frame.whisperkit, name)), name


def test_missing_library_names_the_extra(monkeypatch, tmp_path):
    import sys

    for name in [m for m in sys.modules if m == "praatio" or m.startswith("praatio.")] or ["praatio"]:
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules: "import praatio" raises ImportError
    with pytest.raises(MissingDependencyError, match=r'praatio.*pip install "whisperkit_nb\[exports\]"'):
        export(synthetic(), tmp_path / "t.TextGrid")
    assert not (tmp_path / "t.TextGrid").exists()


# --------------------------------------------------------------------------------------------------
# The HTML page in Chromium, from file://


def _until(page, expression, timeout_s=15.0):
    """Poll ``expression`` until truthy. (Playwright's wait_for_function evaluates a string inside the page,
    which the page's Content-Security-Policy rightly forbids; page.evaluate goes through the debugger.)"""
    import time

    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.05)


AUDIO = "document.getElementById('audio')"


def test_html_page_plays_seeks_and_escapes(real, tmp_path):
    from browser_support import ARTIFACTS, REPO, chromium

    frame = real.copy()
    frame.attrs = real.attrs
    frame.loc[2, "text"] = " <script>window.injected = 1</script> & <b>bold</b>"
    path = export(frame, tmp_path / "page.html")
    assert "<script>window.injected" not in path.read_text(encoding="utf-8")
    with chromium() as browser:
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
        page.goto(path.as_uri())
        _until(page, f"{AUDIO}.readyState >= 1")
        duration = page.evaluate(f"{AUDIO}.duration")
        assert duration == pytest.approx(real.attrs["files"][real.file.iat[0]]["duration"], abs=0.05)
        segs = page.locator(".seg")
        assert segs.count() == len(real)
        assert segs.nth(2).locator(".text").inner_text() == "<script>window.injected = 1</script> & <b>bold</b>"
        assert page.evaluate("window.injected") is None and page.locator(".seg b, .seg script").count() == 0
        assert [segs.nth(i).locator(".speaker").inner_text() for i in range(len(real))] == list(real.speaker)
        target = float(real.start.iat[4])
        segs.nth(4).click()
        _until(page, f"!{AUDIO}.paused && {AUDIO}.currentTime > {target + 0.2}")  # it plays, from the segment
        assert page.evaluate(f"{AUDIO}.currentTime") < real.end.iat[4] + 2
        _until(page, "document.querySelectorAll('.seg.current').length === 1")
        assert "current" in segs.nth(4).get_attribute("class")
        page.evaluate(f"{AUDIO}.pause()")  # keyboard: Enter on a focused segment seeks there
        segs.nth(1).focus()
        page.keyboard.press("Enter")
        start, end = float(real.start.iat[1]), float(real.end.iat[1])
        _until(page, f"{AUDIO}.currentTime >= {start} && {AUDIO}.currentTime < {end}")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "export-html.png", full_page=True)
        if os.environ.get("WHISPERKIT_NB_WRITE_DOCS") == "1":  # the README's picture, on request only
            shutil.copy(ARTIFACTS / "export-html.png", REPO / "docs" / "export-html.png")
        assert errors == []
