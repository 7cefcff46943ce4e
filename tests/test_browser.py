"""The quickstart notebook in JupyterLab 4, driven in Debian's Chromium: the player renders, seeks, follows
playback and sends speaker renames back to the kernel.

Screenshots go to test-artifacts/; with WHISPERKIT_NB_WRITE_DOCS=1 the player screenshot for the README is
written to docs/player-jupyterlab.png as well (made with WHISPERKIT_NB_DEMO_MODEL=base, the quickstart's
own default, for a better transcript than the tests' tiny.en).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from browser_support import ARTIFACTS, REPO, chromium, jupyterlab, start_kernel_session
from playwright.sync_api import TimeoutError as PlaywrightTimeout

QUICKSTART = REPO / "notebooks" / "quickstart.ipynb"
DOCS_SCREENSHOT = REPO / "docs" / "player-jupyterlab.png"
AUDIO = "document.querySelector('.wk-player .wk-audio')"
PLAYER = "document.querySelector('.wk-player')"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The quickstart, run top to bottom in JupyterLab (Run → Run All Cells); yields the page."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(QUICKSTART, root / QUICKSTART.name)
    ARTIFACTS.mkdir(exist_ok=True)
    with jupyterlab(root) as url, chromium() as browser:
        start_kernel_session(url, QUICKSTART.name)  # the page finds it running: no kernel chooser
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
