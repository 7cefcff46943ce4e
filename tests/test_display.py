"""The notebook display of transcript DataFrames (`whisperkit_nb.notebook.display`), in a real IPython shell
and a real kernel, on real transcripts from the tiny Whisper model: the file once, the text whole, times as
m:ss.s, the chunk scores labelled as the chunk's, long frames cut like pandas', everything escaped, and
every other DataFrame shown by pandas as before."""

from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from assets import clip_of
from browser_support import KERNEL_ENV, chromium
from html_support import Parsed
from nbclient import NotebookClient

import whisperkit_nb as wk
from whisperkit_nb.notebook import display
from whisperkit_nb.notebook.display import format_time, is_transcript, transcript_html

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ALLOWED_TAGS = {"div", "style", "table", "caption", "b", "span", "br", "thead", "tbody", "tr", "th", "td"}
IMG = '<img src=x onerror="window.__pwned=1">'
SCRIPT = "<script>window.__pwned=2</script>"
ENTITIES = "Tom &amp; Jerry &lt;b&gt; &#60;i&#62;"
QUOTES = """"double" 'single' `back` </span></div></td></table>"""
HOSTILE = [IMG, SCRIPT, ENTITIES, QUOTES]


def shown(shell, obj) -> str | None:
    """The HTML IPython would send to the notebook for ``obj``."""
    data, _metadata = shell.display_formatter.format(obj)
    return data.get("text/html")


@pytest.fixture(scope="module")
def clips(sample, tmp_path_factory):
    folder = tmp_path_factory.mktemp("display")
    return [clip_of(sample.path, start, end, folder / name)
            for name, (start, end) in {"call_start.wav": (6.5, 19.0), "call_end.wav": (19.0, 30.0)}.items()]


@pytest.fixture(scope="module")
def transcript(sample):
    """The sample call with word timestamps: one file."""
    return wk.transcribe(sample.path, model="tiny.en", timestamps="word", progress=False)


@pytest.fixture(scope="module")
def two_files(clips):
    return wk.transcribe([str(p) for p in clips], model="tiny.en", progress=False)


def test_one_file_is_named_once_and_its_text_shown_whole(shell, transcript):
    columns = list(transcript.columns)
    markup = shown(shell, transcript)
    assert markup is not None and "wk-transcript" in markup
    path = transcript.file.iloc[0]
    assert markup.count(html.escape(path)) == 1, "the path once, in the caption, not on every row"
    parsed = Parsed(markup)
    text = " ".join(" ".join(parsed.text).split())
    for segment in transcript.text:
        assert " ".join(segment.split()) in text, "the whole text, never cut"
    for start in transcript.start:
        assert format_time(start) in text
    assert re.search(r"\b0:0\d\.\d\b", text), "m:ss.s"
    assert "chunk avg_logprob" in text and "chunk no_speech_prob" in text
    n = len(transcript.words.iloc[0])
    assert f"{n} word{'s' if n != 1 else ''}" in text
    assert "0:30 of audio" in text and f"{len(transcript)} segments" in text
    assert f"{len(transcript)} rows × {len(columns)} columns" in text
    assert list(transcript.columns) == columns, "display only"
    assert set(parsed.tags) <= ALLOWED_TAGS


def test_times_read_as_minutes_seconds_and_tenths():
    assert [format_time(t) for t in (0.0, 6.944, 59.96, 65.04, 3725.36, float("nan"), None)] == [
        "0:00.0", "0:06.9", "1:00.0", "1:05.0", "1:02:05.4", "", ""]


def test_avg_logprob_is_labelled_the_chunks_only_where_the_engine_scored_chunks(shell, transcript, clips):
    """CTranslate2 scores whole chunks (its avg_logprob repeats on a chunk's segments); transformers scores each
    segment. The header says which, from the engine facts, or from the values where those are missing."""
    per_segment = wk.transcribe(str(clips[0]), model="tiny.en", engine="transformers", progress=False)
    assert per_segment.groupby("chunk").avg_logprob.nunique().max() > 1, "the fixture: per-segment scores"
    assert transcript.groupby("chunk").avg_logprob.nunique().max() == 1, "the fixture: per-chunk scores"
    for frame, chunk_scores in ((transcript, True), (per_segment, False)):
        for facts in (frame.attrs["files"], {name: {} for name in frame.attrs["files"]}):  # engines unknown
            view = frame.copy()
            view.attrs = {"files": facts}
            header = re.findall(r"<th[^>]*>([^<]*)</th>", shown(shell, view).split("<tbody>")[0])
            assert ("chunk avg_logprob" in header) is chunk_scores and ("avg_logprob" in header) is not chunk_scores
            assert "chunk no_speech_prob" in header, "always the chunk's"


def test_several_files_get_one_heading_each(shell, two_files, clips):
    markup = shown(shell, two_files)
    assert set(two_files.file) == {str(p) for p in clips}
    for path in clips:
        assert markup.count(html.escape(str(path))) == 1
        heading = f"<tr class='wk-file'><th colspan=\\d+>{path.name} <span class='wk-path'>{re.escape(str(path))} · "
        assert len(re.findall(heading + r"0:1\d of audio, \d+ segments?, en, ", markup)) == 1, "its own summary"
    assert "2 files, 0:24 of audio" in " ".join(Parsed(markup).text)


def test_speakers_are_shown_beside_the_text(shell, transcript):
    turns = pd.DataFrame({"start": [0.0, 15.0], "end": [15.0, 30.0], "speaker": ["SPEAKER_00", "SPEAKER_01"]})
    turns.attrs["file"] = transcript.file.iloc[0]
    with_speakers = wk.assign_speakers(transcript, turns)
    assert is_transcript(with_speakers)
    markup = shown(shell, with_speakers)
    header = [h for h in re.findall(r"<th[^>]*>([^<]*)</th>", markup.split("<tbody>")[0])]
    assert header[:5] == ["", "start", "end", "speaker", "text"]
    assert "<td class='wk-speaker'>SPEAKER_00</td>" in markup and "<td class='wk-speaker'>SPEAKER_01</td>" in markup


def test_long_transcripts_are_cut_like_pandas(shell, transcript):
    long = pd.concat([transcript] * 10, ignore_index=True)
    long.attrs = transcript.attrs
    rows = len(long)
    with pd.option_context("display.max_rows", 20, "display.min_rows", 6):
        markup = shown(shell, long)
    body = markup.split("<tbody>")[1]
    assert body.count("<tr><th>") == 6
    assert [int(i) for i in re.findall(r"<tr><th>(\d+)</th>", body)] == [0, 1, 2, rows - 3, rows - 2, rows - 1]
    assert f"… {rows - 6:,} more rows …" in markup and f"{rows} rows × 11 columns" in markup
    with pd.option_context("display.max_rows", rows, "display.min_rows", 6):
        assert shown(shell, long).split("<tbody>")[1].count("<tr><th>") == rows


def test_other_dataframes_keep_pandas_display(shell, transcript):
    plain = pd.DataFrame({"a": [1, 2], "text": ["x", "y"]})
    assert shown(shell, plain) == plain._repr_html_()
    no_times = transcript[["file", "text"]]  # attrs kept, but no longer a transcript
    assert not is_transcript(no_times) and shown(shell, no_times) == no_times._repr_html_()
    no_facts = pd.DataFrame(transcript)  # same columns, no attrs["files"]: a frame the user built
    no_facts.attrs = {}
    assert shown(shell, no_facts) == no_facts._repr_html_()
    assert shown(shell, wk.words_frame(transcript)) == wk.words_frame(transcript)._repr_html_()
    kept = transcript[transcript.start > 10]  # filtering rows keeps attrs: still a transcript
    assert "wk-transcript" in shown(shell, kept)


def test_unregister_gives_pandas_display_back(shell, transcript):
    display.unregister(shell)
    try:
        assert shown(shell, transcript) == transcript._repr_html_()
    finally:
        display.register(shell)
    display.register(shell)  # twice: still one formatter, not a chain of ours
    printer = shell.display_formatter.formatters["text/html"].lookup_by_type(pd.DataFrame)
    assert printer._previous is None and "wk-transcript" in shown(shell, transcript)


def test_hostile_text_file_names_speakers_and_columns_stay_text(shell, transcript):
    hostile = transcript.head(4).copy()
    hostile["text"] = HOSTILE
    hostile["speaker"] = [QUOTES, IMG, SCRIPT, ENTITIES]
    hostile["file"] = [IMG + ".wav"] * 2 + [SCRIPT + ".wav"] * 2
    hostile[SCRIPT] = IMG  # a column the user added, named and filled with markup
    hostile.index = [IMG, SCRIPT, QUOTES, ENTITIES]
    hostile.attrs = {"files": {IMG + ".wav": {"duration": 5.0, "language": SCRIPT},
                               SCRIPT + ".wav": {"duration": 5.0}}}
    for frame in (hostile, hostile.iloc[:2]):  # several files (headings) and one (caption)
        for limits in ((60, 10), (3, 2)):  # whole, and cut
            with pd.option_context("display.max_rows", limits[0], "display.min_rows", limits[1]):
                markup = shown(shell, frame)
            parsed = Parsed(markup)
            assert set(parsed.tags) <= ALLOWED_TAGS, set(parsed.tags) - ALLOWED_TAGS
            assert not [a for a in parsed.attributes if a.startswith("on")]
            text = "".join(parsed.text)
            for literal in (IMG + ".wav", SCRIPT, IMG):
                assert literal in text, literal
    with pd.option_context("display.max_rows", 60):
        text = "".join(Parsed(shown(shell, hostile)).text)
    for literal in HOSTILE:
        assert literal in text, literal


def test_registered_in_a_real_kernel_on_import(transcript, tmp_path, monkeypatch):
    """In a kernel, importing whisperkit_nb.notebook (what controls() and player() do) is enough."""
    for name, value in KERNEL_ENV.items():
        monkeypatch.setenv(name, value)
    saved = wk.export(transcript, tmp_path / "call.json")
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(f"import whisperkit_nb as wk\ndf = wk.read_transcript({str(saved)!r})\ndf"),
        nbformat.v4.new_code_cell("import whisperkit_nb.notebook\ndf"),
        nbformat.v4.new_code_cell("import pandas as pd\npd.DataFrame({'a': [1]})"),
    ])
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    before, after, plain = (cell.outputs[0]["data"]["text/html"] for cell in notebook.cells)
    assert "wk-transcript" not in before, "the core alone changes no display"
    assert "wk-transcript" in after and after.count(html.escape(transcript.file.iloc[0])) == 1
    assert "wk-transcript" not in plain and "dataframe" in plain


def jupyterlab_table_css() -> str:
    """The table rules of the installed JupyterLab's rendered-HTML stylesheet (``table-layout: fixed``, right
    alignment, ...), read from its bundle, so the page below styles the view as JupyterLab does."""
    import jupyterlab

    [bundle] = (Path(jupyterlab.__file__).parent / "static").glob("jlab_core.*.js")
    rules = re.findall(r"(?<=\n)(\.jp-RenderedHTMLCommon (?:table|thead|tbody|tr|th|td)[^{]*\{[^}]*\})",
                       bundle.read_text())
    assert any("table-layout: fixed" in rule for rule in rules), "JupyterLab's table rules not found"
    return "\n".join(rules)


def test_text_column_is_wide_and_whole_under_jupyterlab_css(transcript):
    """In Chromium, under JupyterLab's own table CSS, the text column keeps a readable width and shows each
    segment's whole text, wrapped, at a notebook's width and at a narrow one."""
    long_text = transcript.copy()
    long_text.loc[0, "text"] = " ".join(transcript.text)  # a very long segment (the whole call) wraps
    with chromium() as browser:
        for width in (1000, 600):
            page = browser.new_page(viewport={"width": width, "height": 800})
            page.set_content(f"<html><head><style>{jupyterlab_table_css()}</style></head><body>"
                             f"<div class='jp-RenderedHTMLCommon' style='font-size:13px'>{transcript_html(long_text)}"
                             "</div></body></html>")
            cells = page.locator("td.wk-text")
            assert cells.count() == len(long_text)
            for row in range(cells.count()):
                box = cells.nth(row).bounding_box()
                assert box["width"] >= 300, (width, box)
                assert cells.nth(row).text_content() == long_text.text.iloc[row].strip()
                assert cells.nth(row).evaluate("(td) => td.scrollWidth <= td.clientWidth")
            assert cells.nth(0).bounding_box()["height"] > 2 * cells.nth(1).bounding_box()["height"], "wrapped"
            assert cells.nth(0).evaluate("(td) => getComputedStyle(td).textAlign") == "left"
            page.close()
