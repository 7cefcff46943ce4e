"""The transcript player: text always rendered as text (and exactly as df.text), compact audio, corrections
and speaker renames made in the DataFrame itself, a static fallback for reopened notebooks, and the front
end's behaviour (seek, keyboard, search, word highlight, editing, review aids) in a real Chromium, talking
to the real `Player` in this process."""

from __future__ import annotations

import base64
import io
import re
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from browser_support import chromium, render_player_page

import whisperkit_nb as wk
from whisperkit_nb.notebook.player import HERE, PEAKS, Player, encode_audio, player

HOSTILE = "<script>window.__wk_pwned = 1</script><img src=x onerror='window.__wk_pwned = 2'>"


@pytest.fixture
def transcript(sample) -> pd.DataFrame:
    """The sample call's reference turns as a transcript frame, with words, and one hostile segment."""
    labels = {}
    rows = []
    for turn in sample.turns:
        label = labels.setdefault(turn.speaker, f"SPEAKER_{len(labels):02d}")
        tokens = turn.text.split()
        step = (turn.end - turn.start) / len(tokens)
        words = [{"word": token, "start": round(turn.start + i * step, 3),
                  "end": round(turn.start + (i + 1) * step, 3), "probability": 0.9, "speaker": label}
                 for i, token in enumerate(tokens)]
        rows.append({"file": str(sample.path), "start": turn.start, "end": turn.end, "text": turn.text,
                     "speaker": label, "words": words})
    rows[1] = rows[1] | {"text": HOSTILE, "words": None, "speaker": "<b>SPEAKER_01</b>"}
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def widget(transcript) -> Player:
    return player(transcript, copy=True)


def test_player_js_never_parses_model_text_as_html():
    source = (HERE / "player.js").read_text()
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("//"))
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in code, sink
    assert "export default { render }" in source


def test_script_in_a_transcript_renders_as_text(browser, widget):
    page = render_player_page(browser, widget)
    second = page.locator(".wk-line").nth(1)
    assert second.locator(".wk-text").text_content() == HOSTILE
    assert second.locator(".wk-speaker").text_content() == "<b>SPEAKER_01</b>"
    assert page.locator("#host script, #host img, #host b").count() == 0
    # Instead of a fixed wait, a probe: the same markup parsed as HTML outside the player. Its image fails
    # to load like any the player might have let through, only later (inserted after the render), so once
    # its handler has run, theirs would have too.
    page.evaluate("""() => {
      const probe = document.createElement("div");
      probe.innerHTML = "<img src=x onerror='window.__wk_probe = 1'>";
      document.body.appendChild(probe);
    }""")
    page.wait_for_function("window.__wk_probe === 1")
    assert page.evaluate("window.__wk_pwned") is None
    assert not page.errors


def test_ten_minutes_of_audio_is_a_data_url_under_5_mb(sample):
    from assets import read_wav

    samples, rate = read_wav(sample.path)
    ten_minutes = np.tile(samples.astype(np.float32) / 32768, int(np.ceil(600 * rate / len(samples))))[: 600 * rate]
    url, peaks, duration = encode_audio((ten_minutes, rate))
    assert url.startswith("data:audio/webm;base64,")
    assert len(url) < 5_000_000, f"{len(url) / 1e6:.1f} MB"
    assert duration == pytest.approx(600.0) and 0 < len(peaks) <= PEAKS and max(peaks) == 255
    with av.open(io.BytesIO(base64.b64decode(url.partition(",")[2]))) as encoded:
        stream = encoded.streams.audio[0]
        assert stream.codec_context.name == "opus"
        played = sum(frame.samples for frame in encoded.decode(stream)) / stream.rate
    assert played == pytest.approx(600.0, abs=0.1)
    mp3, _, _ = encode_audio((ten_minutes[: 60 * rate], rate), "mp3")
    assert mp3.startswith("data:audio/mpeg;base64,") and len(mp3) < 400_000


def test_speaker_rename_is_made_in_the_dataframe_given(transcript):
    other = transcript.assign(file="other.wav")
    both = pd.concat([transcript, other], ignore_index=True)
    heard, edited = [], []
    widget = player(both, file=0, on_rename=lambda names, df: heard.append((names, df)))
    widget.on_edit(edited.append)
    assert widget.speakers[0] == "SPEAKER_00" and set(widget.colors) == set(widget.speakers)
    widget.speaker_names = {"SPEAKER_00": "Diane"}  # a partial mapping: the others keep their names
    assert widget.df is both and widget.speaker_names["SPEAKER_01"] == "SPEAKER_01"
    mine = both[both.file == transcript.file[0]]
    assert "Diane" in set(mine.speaker) and "SPEAKER_00" not in set(mine.speaker)
    assert all(w["speaker"] != "SPEAKER_00" for words in mine.words.dropna() for w in words)
    assert "SPEAKER_00" in set(both[both.file == "other.wav"].speaker), "another file's labels are its own"
    assert heard and heard[-1][0]["SPEAKER_00"] == "Diane" and heard[-1][1] is both
    assert len(edited) == 1 and edited[0].equals(mine), "on_edit hears renames, with this file's rows"
    widget.speaker_names = {**widget.speaker_names, "SPEAKER_00": "Diane K."}
    assert "Diane K." in set(both.speaker) and "Diane" not in set(both.speaker)
    assert widget.segments[0]["k"] == "SPEAKER_00", "the front end keeps knowing the speaker by its label"

    kept = transcript.copy()
    copied = player(transcript, copy=True)
    copied.speaker_names = {"SPEAKER_00": "Diane"}
    copied.edit_text(0, "Changed.")
    assert transcript.equals(kept), "copy=True leaves the caller's DataFrame alone"
    assert "Diane" in set(copied.df.speaker) and copied.df.text[0] == "Changed."


def test_renaming_in_the_widget_renames_in_the_dataframe(browser, transcript):
    transcript.at[3, "words"] = [{**w, "speaker": "SPEAKER_01"} if i == 1 else w
                                 for i, w in enumerate(transcript.words[3])]
    widget = player(transcript)
    page = render_player_page(browser, widget, kernel=True)
    name = page.locator(".wk-speaker-name[data-speaker='SPEAKER_00']")
    name.fill("Diane <i>")
    name.press("Enter")
    page.wait_for_function("window.model.saved >= 1")
    assert page.locator(".wk-line .wk-speaker[data-speaker='SPEAKER_00']").first.text_content() == "Diane <i>"
    page.wait_for_function("document.querySelector('.wk-speaker-name[data-speaker=\"SPEAKER_00\"]')")
    assert "Diane <i>" in set(transcript.speaker) and "SPEAKER_00" not in set(transcript.speaker)
    other = page.locator(".wk-speaker-name[data-speaker='SPEAKER_01']")
    other.fill("Sheila")
    other.press("Enter")
    page.wait_for_function("window.model.saved >= 2")
    tooltip = page.locator(".wk-line").nth(3).locator(".wk-word-other").first.get_attribute("title")
    assert tooltip == "Sheila", "a word's tooltip shows the speaker's new name"
    assert "Sheila" in set(transcript.speaker)
    assert not page.errors


def test_click_keys_search_and_word_highlight(browser, widget, transcript):
    page = render_player_page(browser, widget)
    audio = "document.querySelector('.wk-audio')"
    rows = page.locator(".wk-line")
    rows.nth(2).locator(".wk-time").click()
    assert page.evaluate(f"{audio}.currentTime") == pytest.approx(transcript.start[2], abs=0.01)
    assert "wk-current" in rows.nth(2).get_attribute("class")

    assert rows.nth(3).locator(".wk-text").text_content() == transcript.text[3]
    word = rows.nth(3).locator(".wk-word").nth(2)
    word.click()
    assert page.evaluate(f"{audio}.currentTime") == pytest.approx(transcript.words[3][2]["start"], abs=0.01)
    assert "wk-word-current" in word.get_attribute("class")

    page.keyboard.press("ArrowDown")
    assert page.evaluate(f"{audio}.currentTime") == pytest.approx(transcript.start[4], abs=0.01)
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    assert page.evaluate(f"{audio}.currentTime") == pytest.approx(transcript.start[2], abs=0.01)

    page.evaluate(f"{audio}.muted = true")
    icon = "document.querySelector('.wk-play').dataset.icon"
    page.keyboard.press(" ")
    assert page.evaluate(f"!{audio}.paused")  # play() unpauses at once; the rest follows the media's events
    page.wait_for_function(f"{icon} === 'pause' && {audio}.currentTime > {transcript.start[2] + 0.3}")
    page.keyboard.press(" ")
    assert page.evaluate(f"{audio}.paused")
    page.wait_for_function(f"{icon} === 'play'")

    page.locator(".wk-search").fill("chicago")
    visible = [i for i in range(rows.count()) if rows.nth(i).is_visible()]
    expected = [i for i, text in enumerate(transcript.text) if "chicago" in text.lower()]
    assert visible == expected and expected
    assert page.locator(".wk-match").count() >= len(expected)
    page.locator(".wk-search").fill("")
    page.locator(".wk-speaker-filter").select_option("SPEAKER_00")
    visible = [i for i in range(rows.count()) if rows.nth(i).is_visible()]
    assert visible == [i for i, s in enumerate(transcript.speaker) if s == "SPEAKER_00"]
    assert re.fullmatch(r"\d+ of \d+ segments", page.locator(".wk-count").text_content())
    assert not page.errors


def test_one_file_per_player(transcript):
    corpus = pd.concat([transcript, transcript.assign(file="second.wav")], ignore_index=True)
    with pytest.raises(ValueError, match="file="):
        player(corpus)
    with pytest.raises(ValueError, match="not in this transcript"):
        player(corpus, file="missing.wav")
    with pytest.raises(ValueError, match="in-memory audio"):
        player(transcript.assign(file="<array>"))
    assert isinstance(corpus.whisperkit.player(file=transcript.file[0]), Player)
    assert isinstance(wk.player(transcript, audio=transcript.file[0]), Player)


def test_plain_transcript_without_words_or_speakers(browser, transcript):
    plain = transcript.drop(columns=["words"]).assign(speaker=None)
    widget = player(plain)
    assert widget.speakers == [] and all("w" not in s and s["k"] is None for s in widget.segments)
    page = render_player_page(browser, widget)
    assert page.locator(".wk-line").count() == len(plain)
    assert page.locator(".wk-speaker, .wk-word").count() == 0
    assert not page.locator(".wk-legend").is_visible() and not page.locator(".wk-speaker-filter").is_visible()
    assert not page.errors


def _export_replies(widget: Player) -> list[tuple[dict, list]]:
    """What the widget sends to the front end (the comm needs a kernel: the replies are recorded instead)."""
    replies: list[tuple[dict, list]] = []
    widget.send = lambda content, buffers=None: replies.append((content, buffers or []))
    return replies


def test_export_message_sends_the_file_with_renames_applied(transcript, tmp_path):
    import pysubs2

    widget = player(transcript)
    assert {"srt", "vtt", "json", "eaf", "docx", "html"} <= set(widget.export_formats)
    widget.speaker_names = {**widget.speaker_names, "SPEAKER_00": "Diane"}
    replies = _export_replies(widget)
    widget._message(widget, {"export": "srt", "request": "r1"}, [])
    (content, buffers), = replies
    stem = Path(transcript.file[0]).stem
    assert content == {"request": "r1", "name": f"{stem}.srt"} and len(buffers) == 1
    text = bytes(buffers[0]).decode("utf-8")
    subs = pysubs2.SSAFile.from_string(text, format_="srt")
    assert len(subs) == len(transcript)
    assert subs[0].start == round(transcript.start[0] * 1000) and subs[0].plaintext.startswith("[Diane]: ")
    assert subs[0].plaintext.endswith(" ".join(transcript.text[0].split()))
    assert HOSTILE in text, "SRT has no escaping: the text is written as it was"

    widget._message(widget, {"export": "json", "request": "r2"}, [])
    content, buffers = replies[-1]
    assert content["name"] == f"{stem}.json"
    (tmp_path / content["name"]).write_bytes(bytes(buffers[0]))
    back = wk.read_transcript(tmp_path / content["name"])
    assert list(back.text) == list(transcript.text) and "Diane" in set(back.speaker)
    assert "SPEAKER_00" not in set(back.speaker)


def test_export_errors_come_back_as_messages(transcript, monkeypatch):
    import sys

    widget = player(transcript)
    replies = _export_replies(widget)
    widget._message(widget, {"export": "bogus", "request": 7}, [])
    widget._message(widget, {"something": "else"}, [])  # not an export request: no answer
    monkeypatch.setitem(sys.modules, "docx", None)  # as if python-docx were not installed
    widget._message(widget, {"export": "docx", "request": 8}, [])
    assert [content["request"] for content, _ in replies] == [7, 8]
    assert "unknown export format 'bogus'" in replies[0][0]["error"] and replies[0][1] == []
    assert "python-docx" in replies[1][0]["error"] and 'whisperkit_nb[exports]' in replies[1][0]["error"]
    assert "name" not in replies[1][0]


def test_export_control_downloads_what_the_kernel_sends(browser, transcript):
    """The front end's half in Chromium: the stand-in model hands each request to the widget's real handler
    in Python and delivers its reply; the click ends in a download, an error in a message shown as text."""
    widget = player(transcript)
    replies = _export_replies(widget)
    page = render_player_page(browser, widget)

    def answer(content):
        widget._message(widget, content, [])
        reply, buffers = replies.pop()
        return [reply, [base64.b64encode(bytes(b)).decode("ascii") for b in buffers]]

    page.expose_function("kernel", answer)
    # Render again with a model that also has the comm's half: send() to the kernel, "msg:custom" back.
    page.evaluate("""async ([source, formats]) => {
      window.model.state.export_formats = formats; // not among the harness's traits
      const module = await import(URL.createObjectURL(new Blob([source], { type: "text/javascript" })));
      const custom = [];
      const model = Object.assign(Object.create(window.model), {
        on(event, handler) { if (event === "msg:custom") custom.push(handler); else window.model.on(event, handler); },
        off() {},
        async send(content) {
          const [reply, buffers] = await window.kernel(content);
          const views = buffers.map((b) => new DataView(Uint8Array.from(atob(b), (c) => c.charCodeAt(0)).buffer));
          custom.forEach((handler) => handler(reply, views));
        },
      });
      const host = document.getElementById("host");
      host.replaceChildren();
      module.default.render({ model, el: host });
    }""", [(HERE / "player.js").read_text(), widget.export_formats])
    choices = page.locator(".wk-export-format option")
    assert choices.count() == len(widget.export_formats) and choices.nth(0).text_content() == "json"
    page.locator(".wk-export-format").select_option("srt")
    with page.expect_download() as download:
        page.locator(".wk-export").click()
    stem = Path(transcript.file[0]).stem
    assert download.value.suggested_filename == f"{stem}.srt"
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.startswith("1\n") and " ".join(transcript.text[0].split()) in text and HOSTILE in text
    assert page.locator(".wk-export-message").text_content() == f"Downloaded {stem}.srt"

    page.evaluate("""() => {
      const select = document.querySelector(".wk-export-format");
      select.appendChild(new Option("<img src=x onerror='window.__wk_pwned = 3'>"));
      select.selectedIndex = select.options.length - 1;
    }""")
    page.locator(".wk-export").click()
    message = page.locator(".wk-export-message.wk-error")
    message.wait_for()
    assert message.text_content().startswith("Export failed: unknown export format \"<img src=x onerror=")
    assert page.locator("#host img").count() == 0 and page.evaluate("window.__wk_pwned") is None
    assert not page.errors


# --------------------------------------------------------------------------------------------------
# Corrections, review aids, reopening


@pytest.fixture(scope="module")
def whisper(sample) -> pd.DataFrame:
    """Whisper tiny.en's transcript of the sample call, with word timestamps and their probabilities."""
    return wk.transcribe(str(sample.path), model="tiny.en", timestamps="word", progress=False)


def _bare(word: str) -> str:
    """A word as search compares it: lower case, without the punctuation around it."""
    return word.strip(".,;:!?\"'").lower()


def _settled(page) -> None:
    """The kernel answered the last correction and the view shows its result."""
    page.wait_for_function("!document.querySelector('.wk-player').dataset.pending")


def _open_editor(page, line: int):
    page.locator(".wk-line").nth(line).locator(".wk-text").first.dblclick()
    area = page.locator(".wk-edit-text")
    area.wait_for()
    return area


def test_correcting_in_the_browser_changes_the_dataframe(browser, transcript):
    machine = transcript.copy()
    widget = player(transcript)
    heard = []
    widget.on_edit(heard.append)
    page = render_player_page(browser, widget, kernel=True)
    lines = page.locator(".wk-line")

    area = _open_editor(page, 2)
    assert area.input_value() == machine.text[2].lstrip()
    area.fill("A corrected line, typed by hand.")
    area.press("Enter")
    _settled(page)
    assert transcript.text[2] == "A corrected line, typed by hand." and bool(transcript.edited[2])
    assert transcript.text_original[2] == machine.text[2] and not transcript.edited.drop(2).any()
    assert lines.nth(2).locator(".wk-text").text_content() == transcript.text[2]
    assert "wk-edited" in lines.nth(2).locator(".wk-text").get_attribute("class")
    assert len(heard) == 1 and heard[0].text[2] == transcript.text[2]

    area = _open_editor(page, 3)
    area.fill("thrown away")
    area.press("Escape")
    assert page.locator(".wk-editor").count() == 0 and transcript.text[3] == machine.text[3]

    text = machine.text[3].lstrip()
    third_word = text.index(machine.words[3][2]["word"], len(machine.words[3][0]["word"]) + 1)
    area = _open_editor(page, 3)
    area.evaluate("(el, at) => el.setSelectionRange(at, at)", third_word)
    page.locator(".wk-edit-split").click()
    _settled(page)
    assert len(transcript) == len(machine) + 1 and lines.count() == len(machine) + 1
    assert transcript.words[3] == machine.words[3][:2] and transcript.words[4] == machine.words[3][2:]
    assert transcript.text[4].strip() == text[third_word:].strip()
    assert transcript.start[4] == machine.words[3][2]["start"] and transcript.text[5] == machine.text[4]

    _open_editor(page, 3)
    page.locator(".wk-edit-merge").click()
    _settled(page)
    assert len(transcript) == len(machine) and " ".join(transcript.text[3].split()) == " ".join(text.split())

    _open_editor(page, 4)
    who = page.locator(".wk-edit-speaker")
    who.fill("Carol")
    who.press("Enter")
    _settled(page)
    assert transcript.speaker[4] == "Carol" and {w["speaker"] for w in transcript.words[4]} == {"Carol"}
    assert page.locator(".wk-speaker-name[data-speaker='Carol']").count() == 1
    assert lines.nth(4).locator(".wk-speaker").text_content() == "Carol"

    page.locator(".wk-review-filter").select_option("edited")
    shown = [i for i in range(lines.count()) if lines.nth(i).is_visible()]
    assert shown == [i for i in range(len(transcript)) if transcript.edited[i]] == [2, 3, 4]
    page.locator(".wk-review-filter").select_option("")

    page.locator(".wk-player").focus()
    page.keyboard.press("Control+z")
    _settled(page)
    assert transcript.speaker[4] == machine.speaker[4]
    page.locator(".wk-redo").click()
    _settled(page)
    assert transcript.speaker[4] == "Carol"
    for _ in range(4):
        widget.undo()
    assert transcript.drop(columns=["edited", "text_original"]).equals(machine)
    assert not transcript.edited.any() and not widget.can_undo
    assert not page.errors


def test_correcting_with_the_keyboard_only(browser, transcript):
    page = render_player_page(browser, player(transcript), kernel=True)
    page.locator(".wk-line").nth(5).locator(".wk-time").click()  # seeks there and focuses the player
    page.keyboard.press("Enter")  # edits the current segment
    assert page.evaluate("document.querySelector('.wk-player').dataset.editing") == "5"
    assert page.evaluate("document.activeElement.className") == "wk-edit-text"
    page.keyboard.press("Control+a")
    page.keyboard.type("Typed without a mouse.")
    page.keyboard.press("Enter")
    _settled(page)
    assert transcript.text[5] == "Typed without a mouse." and page.locator(".wk-editor").count() == 0
    page.locator(".wk-player").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('wk-previous')"), "controls are tab stops"
    assert not page.errors


def test_player_text_is_df_text_and_search_finds_words(browser, whisper):
    """Whisper times "28.8" as "28" and ".8": the player shows df.text as it is, each word where it lies."""
    frame = whisper.copy()
    start, end = frame.start[1], frame.end[1]
    pieces = ["I", "dial", "5", ".00", "at", "28", ".8", "kilobyte", "tonight."]
    step = (end - start) / len(pieces)
    frame.at[1, "words"] = [{"word": w, "start": round(start + i * step, 3), "end": round(start + (i + 1) * step, 3),
                             "probability": 0.9} for i, w in enumerate(pieces)]
    frame.at[1, "text"] = "I dial 5.00 at 28.8 kilobyte tonight."
    heard = {**frame.words[2][-1], "word": "um", "start": frame.words[2][-1]["end"]}
    frame.at[2, "words"] = [*frame.words[2], heard]  # a word the text does not hold (say, edited apart)
    page = render_player_page(browser, player(frame), kernel=True)
    texts = page.locator(".wk-line .wk-text")
    assert [texts.nth(i).text_content() for i in range(texts.count())] == list(frame.text)
    assert page.locator(".wk-line").nth(1).locator(".wk-word").count() == len(pieces)
    beside = page.locator(".wk-line").nth(2).locator(".wk-unplaced .wk-word")
    assert beside.all_text_contents() == ["um"], "a word not in the text is shown beside it"
    beside.click()
    assert page.evaluate("document.querySelector('.wk-audio').currentTime") == pytest.approx(heard["start"], abs=0.01)

    page.locator(".wk-search").fill("28.8 kilo")
    matched = page.locator(".wk-line").nth(1).locator(".wk-word.wk-match")
    assert [matched.nth(i).text_content() for i in range(matched.count())] == ["28", ".8", "kilobyte"]
    page.locator(".wk-line").nth(1).locator(".wk-word", has_text="kilobyte").click()
    assert page.evaluate("document.querySelector('.wk-audio').currentTime") == pytest.approx(start + 7 * step, abs=0.01)

    # A phrase over the border of two later segments, of words said nowhere else in the call.
    said = Counter(_bare(w["word"]) for ws in frame.words for w in ws)
    k = next(k for k in range(3, len(frame) - 1)
             if said[_bare(frame.words[k][-1]["word"])] == said[_bare(frame.words[k + 1][0]["word"])] == 1)
    last, first = frame.words[k][-1]["word"], frame.words[k + 1][0]["word"]
    page.locator(".wk-search").fill(f"{last} {first}")
    shown = [i for i in range(page.locator(".wk-line").count()) if page.locator(".wk-line").nth(i).is_visible()]
    assert shown == [k, k + 1]
    assert page.locator(".wk-line").nth(k).locator(".wk-word.wk-match").last.text_content() == last
    assert page.locator(".wk-line").nth(k + 1).locator(".wk-word.wk-match").first.text_content() == first
    assert not page.errors


def test_review_aids(browser, whisper):
    from whisperkit_nb.notebook.player import UNSURE_PROBABILITY

    frame = whisper.copy()
    page = render_player_page(browser, player(frame), kernel=True)
    audio = "document.querySelector('.wk-audio')"
    unsure = [w for ws in frame.words for w in ws if w["probability"] < UNSURE_PROBABILITY]
    assert unsure, "tiny.en is unsure of some words of the sample call"
    assert page.locator(".wk-word.wk-unsure").count() == len(unsure)
    assert page.evaluate(f"{audio}.controls") is False and not page.locator(".wk-audio").is_visible()
    assert page.locator(".wk-play").count() == 1 and page.locator(".wk-clock").count() == 1

    page.locator(".wk-player").focus()
    page.keyboard.press("u")
    assert page.evaluate(f"{audio}.currentTime") == pytest.approx(unsure[0]["start"], abs=0.01)
    page.keyboard.press("u")
    later = next(w["start"] for w in unsure if w["start"] > unsure[0]["start"] + 0.05)
    assert page.evaluate(f"{audio}.currentTime") == pytest.approx(later, abs=0.01)
    assert "wk-unsure" in page.locator(".wk-word-current").get_attribute("class")

    page.locator(".wk-review-filter").select_option("unsure")
    shown = [i for i in range(page.locator(".wk-line").count()) if page.locator(".wk-line").nth(i).is_visible()]
    assert shown == [i for i, ws in enumerate(frame.words) if any(w["probability"] < UNSURE_PROBABILITY for w in ws)]
    page.locator(".wk-review-filter").select_option("")

    page.locator(".wk-speed").select_option("1.5")
    assert page.evaluate(f"{audio}.playbackRate") == 1.5
    search = page.locator(".wk-search")
    search.focus()
    search.type("hel")  # shortcuts with Ctrl work while typing
    at = page.evaluate(f"{audio}.currentTime")
    page.keyboard.press("Control+.")
    page.keyboard.press("Control+]")
    assert page.evaluate(f"{audio}.playbackRate") == 1.75
    assert page.evaluate(f"{audio}.currentTime") == pytest.approx(at + 5, abs=0.01)
    page.locator(".wk-back").click()
    assert page.evaluate(f"{audio}.currentTime") == pytest.approx(at, abs=0.01)
    assert search.input_value() == "hel"
    search.fill("")

    page.evaluate(f"{audio}.muted = true")
    search.focus()
    page.keyboard.press("Control+Space")
    page.wait_for_function(f"!{audio}.paused && {audio}.currentTime > {at + 0.3}")
    page.locator(".wk-play").click()
    paused = page.evaluate(f"{audio}.currentTime")
    page.locator(".wk-play").click()  # resume replays the last 2 s
    assert page.evaluate(f"{audio}.currentTime") == pytest.approx(max(0, paused - 2), abs=0.05)
    page.locator(".wk-play").click()

    row = next(i for i in range(1, len(frame)) if frame.end.iloc[i] - frame.start.iloc[i] >= 2.0)  # room to loop
    segment = frame.iloc[row]
    page.locator(".wk-line").nth(row).locator(".wk-time").click()
    page.locator(".wk-loop").click()
    assert page.locator(".wk-loop").get_attribute("aria-pressed") == "true"
    page.evaluate(f"{audio}.currentTime = {segment.end - 0.4}; {audio}.play()")
    page.wait_for_function(f"{audio}.currentTime < {segment.end - 1}", timeout=10_000)  # looped back
    page.evaluate(f"{audio}.pause()")
    assert page.evaluate(f"{audio}.currentTime") >= segment.start - 0.01

    page.locator(".wk-player").focus()
    page.keyboard.press("?")
    assert page.locator(".wk-help").is_visible() and "Ctrl+Space" in page.locator(".wk-help").text_content()
    page.keyboard.press("Escape")
    assert not page.locator(".wk-help").is_visible()
    assert not page.errors


def test_a_long_silence_is_a_row_and_highlights_no_segment(browser, sample, transcript):
    from assets import read_wav

    samples, rate = read_wav(sample.path)
    cut = next(i for i in range(len(transcript) - 1) if transcript.end[i] + 0.3 < transcript.start[i + 1])
    at = int(transcript.end[cut] * rate)
    padded = np.concatenate([samples[:at], np.zeros(60 * rate, samples.dtype), samples[at:]]).astype(np.float32) / 32768
    later = transcript.index > cut
    transcript.loc[later, "start"] += 60
    transcript.loc[later, "end"] += 60
    transcript["words"] = [[{**w, "start": w["start"] + 60, "end": w["end"] + 60} for w in ws] if isinstance(ws, list)
                           and i > cut else ws for i, ws in enumerate(transcript.words)]
    page = render_player_page(browser, player(transcript, audio=(padded, rate)))
    assert page.locator(".wk-silence").count() == 2, "the 6.7 s before the first words, and the minute"
    silence = page.locator(".wk-silence").nth(1)
    seconds = int(re.fullmatch(r"— (\d+) s silence —", silence.text_content()).group(1))
    assert 60 <= seconds <= 61
    assert silence.evaluate("(row) => row.previousElementSibling.dataset.index") == str(cut)
    page.locator(".wk-line").nth(cut).locator(".wk-time").click()
    page.evaluate(f"document.querySelector('.wk-audio').currentTime = {transcript.end[cut] + 20}")
    page.wait_for_function("document.querySelector('.wk-player').dataset.current === '-1'")
    assert page.locator(".wk-line.wk-current").count() == 0 and "wk-current" in silence.get_attribute("class")
    assert not page.errors


def test_turns_view_joins_a_speakers_segments(browser, transcript):
    assert transcript.speaker[2] == transcript.speaker[3] != transcript.speaker[1]  # one turn, two segments
    page = render_player_page(browser, player(transcript))
    assert page.locator(".wk-line").count() == len(transcript)
    page.locator(".wk-view").click()
    assert page.locator(".wk-line").count() < len(transcript)
    turn = page.locator(".wk-line").nth(2)
    assert turn.locator(".wk-text").count() == 2 and turn.locator(".wk-speaker").count() == 1
    words = transcript.words
    phrase = f"{words[2][-1]['word']} {words[3][0]['word']}"
    page.locator(".wk-search").fill(phrase)
    assert turn.locator(".wk-match").count() == 2 and turn.is_visible()
    turn.locator(".wk-text").nth(1).dblclick()  # each segment of a turn is corrected on its own
    assert page.evaluate("document.querySelector('.wk-player').dataset.editing") == "3"
    assert not page.errors


def test_static_fallback_for_a_reopened_notebook(browser, transcript):
    import html

    widget = player(transcript, copy=True)
    widget.speaker_names = {"SPEAKER_00": "Diane & <co>"}
    data, _ = widget._repr_mimebundle_()
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == widget.model_id
    static = data["text/html"]
    assert HOSTILE not in static and html.escape(HOSTILE) in static
    assert "Diane &amp; &lt;co&gt;" in static and f'src="{widget.audio_url}"' in static
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.set_content(f"<html><body>{static}</body></html>")
    lines = page.locator(".wk-static-line")
    assert lines.count() == len(transcript)
    assert lines.nth(1).locator(".wk-static-text").text_content() == HOSTILE
    assert "Diane & <co>" in lines.nth(0).text_content() and "0:0" in lines.nth(0).text_content()
    assert page.locator("audio[controls]").get_attribute("src").startswith("data:audio/webm;base64,")
    assert page.locator("body script, body img").count() == 0 and page.evaluate("window.__wk_pwned") is None
    assert not errors


def test_save_writes_the_corrected_transcript(transcript, tmp_path):
    widget = player(transcript)
    widget.edit_text(2, "Saved, as corrected.")
    widget.speaker_names = {"SPEAKER_01": "Sheila"}
    back = wk.read_transcript(widget.save(tmp_path / "call.json"))
    assert back.text[2] == "Saved, as corrected." and bool(back.edited[2]) and not back.edited.drop(2).any()
    assert back.text_original[2] == transcript.text_original[2] and "Sheila" in set(back.speaker)
    assert list(back.text) == list(transcript.text)


def test_frames_from_a_store_save_each_correction_there(transcript, tmp_path):
    from whisperkit_nb.corpus.store import StoreError

    transcript.attrs["store"] = str(tmp_path)  # no corpus there: the save is tried, and says why it failed
    widget = player(transcript)
    with pytest.raises(StoreError, match="holds no corpus"):
        widget.edit_text(2, "Corrected.")
    replies = _export_replies(widget)
    widget._message(widget, {"edit": "text", "segment": 2, "text": "Again."}, [])
    assert replies and "holds no corpus" in replies[0][0]["edit_error"]


def test_corrections_of_a_corpus_frame_are_saved_in_its_store(tmp_path):
    """A frame from a corpus store: each correction in the player is saved as the input's overlay, and the
    corpus opened again shows it."""
    import shutil

    librivox = Path("/usr/share/pocketsphinx/test/data/librivox")
    audio = tmp_path / "audio"
    audio.mkdir()
    clip = (librivox / "fileids").read_text().split()[0]
    shutil.copy(librivox / f"{clip}.wav", audio / "clip.wav")
    wk.transcribe_corpus(audio, tmp_path / "store", model="tiny.en", progress=False, timestamps="word")
    frame = wk.open_corpus(tmp_path / "store").frame
    widget = player(frame, file=0)
    widget.edit_text(0, "A sentence corrected in the player.")
    widget.speaker_names = {}  # no speakers here: a rename of nothing saves nothing new, and fails nothing
    again = wk.open_corpus(tmp_path / "store").frame
    assert again.text[0].strip() == "A sentence corrected in the player." and bool(again.edited[0])
    assert again.text_original[0] == frame.text_original[0] != again.text[0]
    widget.undo()
    assert wk.open_corpus(tmp_path / "store").frame.text[0] == frame.text[0], "undo is saved too"
