"""Transcript text with HTML and script in it shows as text on every HTML surface: the player (in a real
Chromium), the ``%whisperkit`` report, the DataFrame's notebook display, the control panel's messages and
the notebook progress bars. Text from a model, a file name or a user's speaker name is data, never markup."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from browser_support import chromium, render_player_page
from html_support import Parsed

import whisperkit_nb as wk
from whisperkit_nb.notebook.state import SESSION

IMG = '<img src=x onerror="window.__pwned=1">'
SCRIPT = "<script>window.__pwned=2</script>"
SVG = "<svg/onload=window.__pwned=3>"
ENTITIES = "Tom &amp; Jerry &lt;b&gt; &#60;i&#62;"
QUOTES = """"double" 'single' `back` </span></div>"""
HOSTILE = [IMG, SCRIPT, SVG, ENTITIES, QUOTES]
# The player titles itself with the file's base name (what follows the last / or \), so no slash here.
TITLE = '<img src=y onerror="window.__pwned=4">.wav'


def assert_shown_as_text(markup: str, expected: list[str], allowed_tags: set[str]) -> None:
    parsed = Parsed(markup)
    assert set(parsed.tags) <= allowed_tags, set(parsed.tags) - allowed_tags
    assert not [a for a in parsed.attributes if a.startswith("on")], parsed.attributes
    text = "".join(parsed.text)
    for literal in expected:
        assert literal in text, literal


# ----------------------------------------------------------------------------------------------------
# The transcript player, in Chromium


def _word(text, start, speaker):
    return {"word": text, "start": start, "end": start + 0.4, "probability": 0.9, "speaker": speaker}


@pytest.fixture(scope="module")
def hostile_transcript() -> pd.DataFrame:
    """Text, words, speaker labels and the file name all hostile; one word said by the other speaker."""
    rows = [
        {"text": f"{IMG} {SCRIPT}", "speaker": IMG,
         "words": [_word(IMG, 0.1, IMG), _word(SCRIPT, 0.6, IMG), _word(ENTITIES, 1.1, SVG)]},
        {"text": f"{ENTITIES} {QUOTES}", "speaker": SVG, "words": None},
        {"text": f"{SVG} {SCRIPT} {QUOTES}", "speaker": QUOTES, "words": None},
    ]
    for number, row in enumerate(rows):
        row.update(file=TITLE, start=2.0 * number, end=2.0 * number + 1.8)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def page(hostile_transcript):
    tone = (0.1 * np.sin(np.arange(6 * 16000) * 2 * np.pi * 220 / 16000)).astype(np.float32)
    widget = wk.player(hostile_transcript, audio=(tone, 16000))
    with chromium() as browser:
        page = render_player_page(browser, widget)
        yield page
        page.close()


def _host_is_clean(page) -> None:
    # No fixed wait: a probe image inserted after the render fails to load like any the player might have let
    # through, only later, so once its handler has run theirs would have too.
    page.evaluate("""() => {
      window.__wk_probe = 0;
      const probe = document.createElement("div");
      probe.innerHTML = "<img src=x onerror='window.__wk_probe = 1'>";
      document.body.appendChild(probe);
    }""")
    page.wait_for_function("window.__wk_probe === 1")
    page.evaluate("document.body.lastElementChild.remove()")  # the probe is not part of what is checked
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#host img, #host script, #host iframe, #host object, #host embed").count() == 0
    assert page.locator("#host svg").count() == 3, "only the three button icons"
    handlers = page.evaluate("""[...document.querySelectorAll('#host *')]
        .flatMap((e) => [...e.attributes].map((a) => a.name)).filter((n) => n.startsWith('on'))""")
    assert handlers == []
    assert not page.errors


def test_player_shows_text_words_speakers_and_title_as_text(page, hostile_transcript):
    _host_is_clean(page)
    lines = page.locator(".wk-line")
    assert lines.count() == 3
    words = hostile_transcript.words[0]
    # The line shows df.text as it is; a word that is not in the text (ENTITIES here) is shown beside it.
    assert lines.nth(0).locator(".wk-text").text_content() == hostile_transcript.text[0]
    assert lines.nth(0).locator(".wk-word").all_text_contents() == [w["word"] for w in words]
    assert lines.nth(0).locator(".wk-word-other").get_attribute("title") == SVG
    for row in (1, 2):
        assert lines.nth(row).locator(".wk-text").text_content() == hostile_transcript.text[row]
    assert lines.locator(".wk-speaker").all_text_contents() == [IMG, SVG, QUOTES]
    assert page.locator(".wk-title").text_content() == TITLE
    assert page.locator(".wk-speaker-name").evaluate_all("(inputs) => inputs.map((i) => i.value)") == [IMG, SVG, QUOTES]
    assert page.locator(".wk-speaker-filter option").all_text_contents() == ["All speakers", IMG, SVG, QUOTES]


def test_player_search_highlights_hostile_text_as_text(page):
    page.locator(".wk-search").fill("<script>")
    marks = page.locator(".wk-mark")
    assert marks.count() == 1 and marks.first.text_content() == "<script>"  # row 2 (row 0 has words)
    assert page.locator(".wk-word.wk-match").all_text_contents() == [SCRIPT]
    _host_is_clean(page)
    page.locator(".wk-search").fill("")


def test_player_renamed_speaker_shows_as_text(page):
    name = page.locator(".wk-speaker-name").nth(1)
    renamed = '<img src=z onerror="window.__pwned=5"> & Co'
    name.fill(renamed)
    name.press("Enter")
    assert page.evaluate("window.model.state.speaker_names")[SVG] == renamed
    assert page.locator(".wk-line").nth(1).locator(".wk-speaker").text_content() == renamed
    assert page.locator(".wk-speaker-filter option").nth(2).text_content() == renamed
    _host_is_clean(page)


# ----------------------------------------------------------------------------------------------------
# HTML rendered in Python


@pytest.fixture
def fresh_session():
    SESSION.reset()
    yield
    SESSION.reset()


def test_whisperkit_report_escapes_what_it_shows(fresh_session):
    from whisperkit_nb.notebook.magics import SessionReport, session_report

    SESSION.update(model=IMG, language=SCRIPT, diarize=True, diarization_model=QUOTES,
                   speaker_names={SVG: ENTITIES})
    report = session_report()
    allowed = {"div", "table", "thead", "tr", "th", "td", "code"}
    assert_shown_as_text(report._repr_html_(), [IMG, SCRIPT, QUOTES, repr({SVG: ENTITIES})], allowed)
    assert report.device["model"] == IMG
    # keys too: a row named by anything at all stays text
    crafted = SessionReport({IMG: SCRIPT, ENTITIES: QUOTES}, {SVG: TITLE})
    assert_shown_as_text(crafted._repr_html_(), [IMG, SCRIPT, ENTITIES, QUOTES, SVG, TITLE], allowed)


def test_dataframe_notebook_display_escapes_cells(hostile_transcript):
    frame = hostile_transcript[["file", "start", "end", "text", "speaker", "words"]]
    allowed = {"div", "style", "table", "thead", "tbody", "tr", "th", "td"}
    with pd.option_context("display.max_colwidth", None):
        assert_shown_as_text(frame._repr_html_(), [*HOSTILE, TITLE], allowed)
    assert_shown_as_text(frame._repr_html_(), [IMG, SVG, TITLE], allowed)  # default widths: still text
    summary = wk.speaker_summary(hostile_transcript)
    assert_shown_as_text(summary._repr_html_(), [IMG, SVG, QUOTES], allowed)


def test_control_panel_messages_escape_user_text(tmp_path, fresh_session):
    from whisperkit_nb.notebook.controls import Controls

    panel = Controls(str(tmp_path / TITLE))
    panel.widgets["model"].value = "tiny.en"
    panel.widgets["progress"].value = False
    assert panel.run() is None  # no such file: the panel says so
    assert_shown_as_text(panel.message.value, [TITLE], {"span"})
    panel.widgets["device"].value = IMG  # not a device: the panel says so while it is set
    assert_shown_as_text(panel.message.value, [IMG], {"span"})


def test_notebook_progress_bars_escape_file_names(monkeypatch):
    """In a notebook tqdm draws its bars as ipywidgets HTML; file names reach them as text."""
    import tqdm.auto
    import tqdm.notebook

    from whisperkit_nb.notebook.progress import RunProgress
    from whisperkit_nb.events import ProgressEvent

    monkeypatch.setattr(tqdm.auto, "tqdm", tqdm.notebook.tqdm)  # as tqdm.auto picks in a kernel
    progress = RunProgress(2)
    progress(ProgressEvent("transcribe", IMG, 1.0, 2.0))
    progress(ProgressEvent("transcribe", SCRIPT, 1.0, 2.0))
    left, _, right = progress._bar.container.children
    progress.close()
    for markup in (left.value, right.value):
        assert_shown_as_text(markup, [], set())
    assert SCRIPT[-24:] in Parsed(right.value).text[0].replace("\u2007", " ")  # the postfix: the file's name
