"""The quickstart notebook in JupyterLab 4, driven in Debian's Chromium: the player renders, seeks, follows
playback, sends speaker renames back to the kernel, corrects the kernel's ``df`` in place, and a notebook
saved without widget state and reopened shows the static transcript.

Screenshots go to test-artifacts/; with WHISPERKIT_NB_WRITE_DOCS=1 the screenshots for the README are
written to docs/ as well (player-jupyterlab.png, player-edited.png, panel.png, reopened-static.png; made
with WHISPERKIT_NB_DEMO_MODEL=base, the quickstart's own default, for a better transcript than the tests'
tiny.en).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import urllib.request
from pathlib import Path

import pytest
from browser_support import ARTIFACTS, REPO, chromium, jupyterlab, start_kernel_session
from playwright.sync_api import TimeoutError as PlaywrightTimeout

QUICKSTART = REPO / "notebooks" / "quickstart.ipynb"
DOCS_SCREENSHOT = REPO / "docs" / "player-jupyterlab.png"
WRITE_DOCS = os.environ.get("WHISPERKIT_NB_WRITE_DOCS") == "1"
AUDIO = "document.querySelector('.wk-player .wk-audio')"
PLAYER = "document.querySelector('.wk-player')"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The quickstart, run top to bottom in JupyterLab (Run → Run All Cells); yields the page."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(QUICKSTART, root / QUICKSTART.name)
    ARTIFACTS.mkdir(exist_ok=True)
    with jupyterlab(root) as url, chromium() as browser:
        kernel = start_kernel_session(url, QUICKSTART.name)  # the page finds it running: no kernel chooser
        page = browser.new_page(viewport={"width": 1360, "height": 980})
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(f"{url}/lab/tree/{QUICKSTART.name}?token=whisperkit-test")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
        page.wait_for_function(READY, timeout=300_000)  # a cold machine takes its time to start a kernel
        try:
            _run_all_cells(page)
            _wait_for(page, "player", timeout_s=420)
            _wait_until_idle(page)
        finally:
            page.screenshot(path=ARTIFACTS / "jupyterlab-quickstart-run.png", full_page=True)
        page.errors = errors
        page.lab = {"root": root, "url": url, "kernel": kernel}
        yield page


# The notebook is open, its kernel connected and idle, and JupyterLab's command registry is reachable.
READY = """() => Boolean(window.jupyterapp && window.jupyterapp.shell.currentWidget
  && window.jupyterapp.shell.currentWidget.sessionContext?.session?.kernel
  && document.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']"))"""

# What the page shows while the notebook runs: a kernel chooser (JupyterLab asks when a cell is run before
# the session has resolved its kernel, which a loaded machine makes likely), a traceback, the player.
PAGE_STATE = """() => {
  if (document.querySelector('.jp-Dialog')) return 'dialog';
  const outputs = [...document.querySelectorAll('.jp-OutputArea-output')];
  if (outputs.some((o) => o.textContent.includes('Traceback'))) return 'error';
  if (document.querySelector('.wk-player .wk-line')) return 'player';
  const started = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
    .some((p) => /\\[(\\*|\\d+)\\]/.test(p.textContent));
  return started ? 'started' : false;
}"""


def _wait_for(page, wanted: str, timeout_s: float) -> None:
    """Wait until the page reaches ``wanted`` ("started" or "player"), accepting JupyterLab's kernel chooser
    (its default is the notebook's python3 kernel) and failing at once, with the traceback, on an error."""
    deadline = time.monotonic() + timeout_s
    order = ["started", "player"]
    while True:
        left_ms = max(1.0, deadline - time.monotonic()) * 1000
        state = page.wait_for_function(PAGE_STATE, timeout=left_ms).json_value()
        if state == "dialog":
            _accept_dialogs(page)
            continue
        if state == "error":
            traceback = page.locator(".jp-OutputArea-output", has_text="Traceback").first.text_content()
            raise AssertionError(f"a quickstart cell failed in JupyterLab:\n{traceback[-3000:]}")
        if order.index(state) >= order.index(wanted):
            return
        page.wait_for_timeout(500)  # started, not there yet
        if time.monotonic() > deadline:
            raise PlaywrightTimeout(f"the quickstart did not reach {wanted!r} within {timeout_s:.0f} s")


def _run_all_cells(page, attempts: int = 3) -> None:
    """Run All Cells through JupyterLab's command registry (the Run menu's own command: no menu to click,
    so nothing on the page can intercept it), again if no cell started."""
    for attempt in range(attempts):
        _accept_dialogs(page)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        try:
            _wait_for(page, "started", timeout_s=60)
            return
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise


def _accept_dialogs(page) -> None:
    """Answer any JupyterLab dialog with its default (the kernel chooser's is the notebook's python3)."""
    while page.locator(".jp-Dialog").count():
        page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").first.click()
        page.wait_for_selector(".jp-Dialog", state="detached", timeout=30_000)


def _wait_until_idle(page, timeout_ms: int = 420_000) -> None:
    """Every code cell has run: no "[*]" prompt left and the kernel is idle."""
    page.wait_for_function(
        """() => {
          const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map((p) => p.textContent);
          const idle = document.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']");
          return idle && prompts.length && prompts.every((p) => /\\[\\d+\\]/.test(p));
        }""",
        timeout=timeout_ms,
    )


def test_every_cell_ran_without_error(lab):
    tracebacks = lab.locator(".jp-OutputArea-output", has_text="Traceback")
    assert tracebacks.count() == 0, tracebacks.first.text_content()
    assert lab.locator(".wk-player").count() == 1
    assert lab.locator(".widget-button", has_text="Transcribe").count() == 1, "the control panel rendered"
    assert not lab.errors


# The notebook's cells and outputs as JupyterLab holds them (nbformat JSON).
NOTEBOOK_JSON = "() => window.jupyterapp.shell.currentWidget.content.model.toJSON()"


def test_the_quickstart_printed_and_saved_what_it_says(lab):
    """What the quickstart's cells showed and wrote, run by JupyterLab's Run All (the only run of this notebook:
    tests/test_notebooks.py runs the others headless)."""
    cells = lab.evaluate(NOTEBOOK_JSON)["cells"]
    outputs = [o for cell in cells if cell["cell_type"] == "code" for o in cell["outputs"]]

    def joined(value) -> str:
        return "".join(value) if isinstance(value, list) else str(value)

    text = "".join(joined(o.get("data", {}).get("text/plain", "")) + joined(o.get("text", "")) for o in outputs)
    assert "flash-attn" in text, "%whisperkit showed the device facts"
    assert "%whisperkit --all lists every option" in text, "%whisperkit without flags gives the short report"
    player = _kernel(lab, "print(json.dumps({'segments': len(player.segments), 'url': player.audio_url[:23], "
                          "'speakers': len(player.speakers), 'words': any(s.get('w') for s in player.segments)}))")
    assert player["segments"] >= 5 and player["url"] == "data:audio/webm;base64," and player["speakers"] == 2
    assert player["words"], "word timestamps reached the player"
    # %transcribe's end-of-call summary, shown although the cell assigns its result
    summary = re.search(r"sample\.wav: 0:30 of audio, (\d+) segments, 2 speakers, en, [\d.]+ s \([\d.]+x real time\), "
                        r"ctranslate2\n\(flags apply to this call only", text)
    assert summary and int(summary[1]) == player["segments"], text[-3000:]
    html = "".join(joined(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "whisperkit-summary" in html
    # wk.turns: both speakers' turns, no more of them than segments
    [turns] = [m for o in outputs if (m := re.match(r"(\d+) segments, (\d+) turns", joined(o.get("text", ""))))]
    assert 2 <= int(turns[2]) <= int(turns[1]) == player["segments"], turns[0]
    root = lab.lab["root"]
    assert (root / "sample_transcript.csv").is_file()
    saved = json.loads((root / "sample_transcript.json").read_text())
    assert len({row["speaker"] for row in saved}) == 2


def test_player_rendered_with_coloured_speakers(lab):
    lab.wait_for_function(f"{AUDIO}.readyState >= 1 && Math.abs({AUDIO}.duration - 30) < 1", timeout=30_000)
    rows = lab.locator(".wk-player .wk-line")
    assert rows.count() >= 3
    colours = set(lab.evaluate(
        "[...document.querySelectorAll('.wk-player .wk-line')].map((r) => r.style.getPropertyValue('--wk-speaker'))"))
    assert len(colours) >= 2, f"speakers are coloured: {colours}"
    assert lab.locator(".wk-player .wk-legend .wk-speaker-name").count() >= 2
    assert lab.locator(".wk-player .wk-word").count() > rows.count(), "word timestamps are shown"


def test_clicking_the_third_segment_seeks_there(lab):
    third = lab.locator(".wk-player .wk-line").nth(2)
    third.locator(".wk-time").click()
    start = float(third.get_attribute("data-start"))
    assert lab.evaluate(f"{AUDIO}.currentTime") == pytest.approx(start, abs=0.05)
    assert "wk-current" in third.get_attribute("class")


def test_arrow_keys_move_between_segments_not_cells(lab):
    rows = lab.locator(".wk-player .wk-line")
    rows.nth(2).locator(".wk-time").click()
    active = lab.locator(".jp-Cell.jp-mod-active .jp-InputArea-editor").text_content()
    assert "wk.player(df)" in active, "clicking the player made its cell the active one"
    lab.keyboard.press("ArrowDown")
    fourth = float(rows.nth(3).get_attribute("data-start"))
    assert lab.evaluate(f"{AUDIO}.currentTime") == pytest.approx(fourth, abs=0.05)
    lab.keyboard.press("ArrowUp")
    assert "wk-current" in rows.nth(2).get_attribute("class")
    assert lab.locator(".jp-Cell.jp-mod-active .jp-InputArea-editor").text_content() == active


def test_playing_moves_the_highlight(lab):
    before = int(lab.evaluate(f"{PLAYER}.dataset.current"))
    started = lab.evaluate(f"{AUDIO}.currentTime")
    lab.evaluate(f"{AUDIO}.muted = true; {AUDIO}.playbackRate = 2; {AUDIO}.play()")
    lab.wait_for_function(f"Number({PLAYER}.dataset.current) > {before}", timeout=30_000)
    lab.wait_for_selector(".wk-player .wk-line.wk-current .wk-word-current", timeout=30_000)  # a word of it lit
    lab.evaluate(f"{AUDIO}.pause()")
    assert lab.evaluate(f"{AUDIO}.currentTime") > started
    current = lab.locator(".wk-player .wk-line.wk-current")
    assert current.count() == 1 and int(current.get_attribute("data-index")) > before
    lab.locator(".wk-player").scroll_into_view_if_needed()
    lab.screenshot(path=ARTIFACTS / "jupyterlab-player-playing.png")


def test_speaker_rename_reaches_the_kernel(lab):
    name = lab.locator(".wk-player .wk-speaker-name").first
    label = name.get_attribute("data-speaker")
    name.fill("Caller A")
    name.press("Enter")
    assert lab.locator(f".wk-player .wk-speaker[data-speaker='{label}']").first.text_content() == "Caller A"
    save_cell = lab.locator(".jp-CodeCell", has=lab.locator(".jp-InputArea-editor", has_text="transcript = player.df"))
    save_cell.locator(".jp-InputPrompt").click()
    lab.keyboard.press("Control+Enter")  # run this cell again, reading player.df in the kernel
    lab.wait_for_function(
        "(cell) => (cell.querySelector('.jp-OutputArea') || {}).textContent?.includes('Caller A')",
        arg=save_cell.element_handle(), timeout=60_000)
    lab.locator(".wk-player").scroll_into_view_if_needed()
    lab.screenshot(path=ARTIFACTS / "jupyterlab-player-renamed.png")
    if os.environ.get("WHISPERKIT_NB_WRITE_DOCS") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        lab.locator(".wk-player").scroll_into_view_if_needed()
        lab.screenshot(path=DOCS_SCREENSHOT)


def test_export_downloads_the_transcript_with_the_renames(lab):
    """The player's Export control: the kernel writes the SRT (speaker names as typed in the player),
    Chromium downloads it."""
    first = " ".join(lab.locator(".wk-player .wk-line .wk-text").first.text_content().split())
    name = lab.locator(".wk-player .wk-speaker-name").first.input_value()  # "Caller A" after the rename test
    lab.locator(".wk-player .wk-export-format").select_option("srt")
    with lab.expect_download(timeout=10_000) as download:
        lab.locator(".wk-player .wk-export").click()
    assert download.value.suggested_filename == "sample.srt"
    text = " ".join(Path(download.value.path()).read_text(encoding="utf-8").split())
    assert text.startswith("1 00:00:") and first in text and f"[{name}]: " in text
    assert lab.locator(".wk-player .wk-export-message").text_content() == "Downloaded sample.srt"


# Runs code in the notebook's kernel (as a cell would, without adding one) and returns what it printed.
KERNEL_RUN = """async (code) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = kernel.requestExecute({ code, store_history: false });
  let out = "";
  future.onIOPub = (msg) => {
    if (msg.header.msg_type === "stream") out += msg.content.text;
    if (msg.header.msg_type === "error") out += `ERROR ${msg.content.ename}: ${msg.content.evalue}`;
  };
  await future.done;
  return out;
}"""


def _kernel(page, code: str):
    """What ``code`` prints last, as JSON, run in the notebook's kernel."""
    printed = page.evaluate(KERNEL_RUN, "import json\n" + code)
    assert "ERROR" not in printed, printed
    return json.loads(printed.strip().splitlines()[-1])


def _settled(page) -> None:
    page.wait_for_function("!document.querySelector('.wk-player').dataset.pending", timeout=30_000)


def _open_editor(page, line: int):
    page.locator(".wk-player .wk-line").nth(line).locator(".wk-text").first.dblclick()
    area = page.locator(".wk-player .wk-edit-text")
    area.wait_for()
    return area


def _docs_screenshot(page, name: str, locator=None) -> None:
    target = locator if locator is not None else page
    target.screenshot(path=ARTIFACTS / name)
    if WRITE_DOCS:
        shutil.copy(ARTIFACTS / name, REPO / "docs" / name)


def test_corrections_in_the_player_change_the_kernels_df(lab):
    """Edit, split, merge, reassign a speaker and undo in the player: the kernel's own ``df`` changes."""
    state = "print(json.dumps({'n': len(df), 'text': [str(t) for t in df.text], 'speaker': list(df.speaker), " \
            "'edited': [bool(e) for e in df.get('edited', [False] * len(df))], 'same': player.df is df}))"
    before = _kernel(lab, state)
    assert before["same"]
    area = _open_editor(lab, 1)
    area.fill("Corrected in JupyterLab, in place.")
    area.press("Enter")
    _settled(lab)
    after = _kernel(lab, state)
    assert after["text"][1].strip() == "Corrected in JupyterLab, in place." and after["edited"][1]
    assert after["text"][0] == before["text"][0] and not after["edited"][0]
    assert lab.locator(".wk-player .wk-line").nth(1).locator(".wk-text").text_content() == after["text"][1]

    # Split the first later row of three words or more before its third word, then merge it back.
    row = _kernel(lab, "print(json.dumps(next(i for i in range(2, len(df)) if len(df.words[i]) >= 3)))")
    caret = _kernel(lab, f"from whisperkit_nb.transcript.edits import locate_words\nt = df.text[{row}]\n"
                         f"print(json.dumps(locate_words(t, df.words[{row}])[2][0] - (len(t) - len(t.lstrip()))))")
    area = _open_editor(lab, row)
    area.evaluate("(el, at) => el.setSelectionRange(at, at)", caret)
    lab.locator(".wk-player .wk-edit-split").click()
    _settled(lab)
    split = _kernel(lab, state + f"\nprint(json.dumps([len(df.words[{row}]), len(df.words[{row + 1}])]))")
    assert split[0] == 2 and len(_kernel(lab, state)["text"]) == before["n"] + 1

    _open_editor(lab, row)
    lab.locator(".wk-player .wk-edit-merge").click()
    _settled(lab)
    merged = _kernel(lab, state)
    assert merged["n"] == before["n"]
    assert " ".join(merged["text"][row].split()) == " ".join(before["text"][row].split())

    _open_editor(lab, row + 1)
    who = lab.locator(".wk-player .wk-edit-speaker")
    who.fill("Caller C")
    who.press("Enter")
    _settled(lab)
    assert _kernel(lab, state)["speaker"][row + 1] == "Caller C"
    lab.locator(".wk-player").focus()
    lab.keyboard.press("Control+z")
    _settled(lab)
    assert _kernel(lab, state)["speaker"][row + 1] == merged["speaker"][row + 1], "undone"
    assert not lab.errors


def test_player_text_equals_df_text_on_a_split_number(lab):
    """Whisper times "28.8" as the words "28" and ".8": the player shows df.text as it is."""
    texts = _kernel(lab, """
row = df.index[0]
a, b = float(df.start[row]), float(df.end[row])
pieces = ["We", "dialled", "in", "at", "28", ".8", "kilobyte", "and", "5", ".00", "dollars."]
step = (b - a) / len(pieces)
df.at[row, "words"] = [{"word": w, "start": a + i * step, "end": a + (i + 1) * step,
                        "probability": 0.3 if w == "kilobyte" else 0.9,
                        "speaker": df.speaker[row]} for i, w in enumerate(pieces)]
df.at[row, "text"] = "We dialled in at 28.8 kilobyte and 5.00 dollars."
player.refresh()
print(json.dumps([str(t) for t in df.text]))""")
    lab.wait_for_function("document.querySelector('.wk-player .wk-line .wk-text').textContent.includes('28.8')")
    shown = lab.evaluate("[...document.querySelectorAll('.wk-player .wk-line .wk-text')].map((t) => t.textContent)")
    assert shown == texts and "28.8 kilobyte" in shown[0] and "5.00" in shown[0]
    lab.locator(".wk-player .wk-search").fill("28.8 kilobyte")
    assert lab.locator(".wk-player .wk-word.wk-match").all_text_contents() == ["28", ".8", "kilobyte"]
    lab.locator(".wk-player .wk-search").fill("")
    lab.locator(".wk-player .wk-line").nth(1).locator(".wk-time").click()
    lab.locator(".wk-player .wk-speed").select_option("1.5")
    lab.locator(".wk-player").scroll_into_view_if_needed()
    assert lab.locator(".wk-player .wk-text.wk-edited").count() >= 1 and lab.locator(".wk-player .wk-unsure").count()
    _docs_screenshot(lab, "player-edited.png", lab.locator(".wk-player"))


def test_speed_and_next_unsure_word(lab):
    audio = AUDIO
    lab.evaluate(f"{audio}.pause(); {audio}.currentTime = 0")
    lab.locator(".wk-player .wk-speed").select_option("0.75")
    assert lab.evaluate(f"{audio}.playbackRate") == 0.75
    first = _kernel(lab, "from whisperkit_nb.notebook.player import UNSURE_PROBABILITY as U\n"
                         "print(json.dumps(min(w['start'] for ws in df.words for w in ws "
                         "if w['probability'] is not None and w['probability'] < U)))")
    lab.locator(".wk-player").focus()
    lab.keyboard.press("u")
    assert lab.evaluate(f"{audio}.currentTime") == pytest.approx(first, abs=0.01)
    assert lab.locator(".wk-player .wk-word-current.wk-unsure").count() == 1
    assert lab.locator(".wk-player .wk-audio").is_hidden() and lab.locator(".wk-player .wk-clock").count() == 1


def test_control_panel_screenshot(lab):
    panel = lab.locator(".jp-CodeCell", has=lab.locator(".jp-InputArea-editor", has_text="wk.controls(")) \
        .locator(".jp-Cell-outputArea")
    panel.scroll_into_view_if_needed()
    assert panel.locator(".widget-button", has_text="Transcribe").count() == 1
    _docs_screenshot(lab, "panel.png", panel)


def test_reopened_without_widget_state_shows_the_static_transcript(lab):
    """Saved as JupyterLab saves by default (no widget state), kernel shut down, page loaded anew: the
    transcript, corrections included, is there as static HTML."""
    root, url, kernel = lab.lab["root"], lab.lab["url"], lab.lab["kernel"]
    texts = _kernel(lab, "print(json.dumps([str(t) for t in df.text]))")
    assert lab.locator(".wk-static").count() == 1 and not lab.locator(".wk-static").is_visible(), \
        "the live player hides its static copy"
    assert not lab.locator(".wk-static-audio").is_visible(), "and the static copy's audio"
    lab.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    lab.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
    saved = json.loads((root / QUICKSTART.name).read_text(encoding="utf-8"))
    assert "widgets" not in saved["metadata"], "saved without widget state"
    request = urllib.request.Request(f"{url}/api/kernels/{kernel}?token=whisperkit-test", method="DELETE")
    urllib.request.urlopen(request, timeout=30).close()
    lab.reload()
    lab.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
    _accept_dialogs(lab)
    static = lab.locator(".wk-static")
    static.wait_for(state="visible", timeout=60_000)
    shown = static.locator(".wk-static-text").all_text_contents()
    assert shown == texts and "Corrected in JupyterLab, in place." in " ".join(shown)
    # the recording is an output of its own, before the transcript (a correction resends only the text)
    assert lab.locator(".wk-static-audio audio[controls]").get_attribute("src").startswith("data:audio/")
    assert lab.locator(".wk-player").count() == 0
    _accept_dialogs(lab)
    static.scroll_into_view_if_needed()
    lab.screenshot(path=ARTIFACTS / "reopened-static.png")
    if WRITE_DOCS:
        shutil.copy(ARTIFACTS / "reopened-static.png", REPO / "docs" / "reopened-static.png")
