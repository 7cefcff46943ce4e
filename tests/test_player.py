"""The transcript player: text always rendered as text, compact audio, speaker renames flowing back to the
DataFrame, and the front end's behaviour (seek, keyboard, search, word highlight) in a real Chromium."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from browser_support import chromium, render_player_page

import whisperkit_nb as wk
from whisperkit_nb.notebook.player import HERE, PEAKS, Player, encode_audio, player

HOSTILE = "<script>window.__wk_pwned = 1</script><img src=x onerror='window.__wk_pwned = 2'>"


@pytest.fixture(scope="module")
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


@pytest.fixture(scope="module")
def widget(transcript) -> Player:
    return player(transcript)


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


def test_speaker_rename_flows_back_to_the_dataframe(transcript):
    other = transcript.assign(file="other.wav")
    both = pd.concat([transcript, other], ignore_index=True)
    heard = []
    widget = player(both, file=0, on_rename=lambda names, df: heard.append((names, df)))
    assert widget.speakers[0] == "SPEAKER_00" and set(widget.colors) == set(widget.speakers)
    widget.speaker_names = {**widget.speaker_names, "SPEAKER_00": "Diane"}
    renamed = widget.df
    mine = renamed[renamed.file == transcript.file[0]]
    assert "Diane" in set(mine.speaker) and "SPEAKER_00" not in set(mine.speaker)
    assert all(w["speaker"] != "SPEAKER_00" for words in mine.words.dropna() for w in words)
    assert "SPEAKER_00" in set(renamed[renamed.file == "other.wav"].speaker), "another file's labels are its own"
    assert "SPEAKER_00" in set(both.speaker), "the caller's DataFrame is not modified"
    assert heard and heard[-1][0]["SPEAKER_00"] == "Diane" and heard[-1][1].equals(renamed)


def test_renaming_in_the_widget_sets_speaker_names(browser, transcript):
    widget = player(transcript)
    page = render_player_page(browser, widget)
    name = page.locator(".wk-speaker-name[data-speaker='SPEAKER_00']")
    name.fill("Diane <i>")
    name.press("Enter")
    state = page.evaluate("[window.model.state.speaker_names, window.model.saved]")
    assert state[0]["SPEAKER_00"] == "Diane <i>" and state[1] >= 1
    assert page.locator(".wk-line .wk-speaker[data-speaker='SPEAKER_00']").first.text_content() == "Diane <i>"
    widget.speaker_names = state[0]  # what the comm delivers to the kernel
    assert "Diane <i>" in set(widget.df.speaker)


def test_click_keys_search_and_word_highlight(browser, widget, transcript):
    page = render_player_page(browser, widget)
    audio = "document.querySelector('.wk-audio')"
    rows = page.locator(".wk-line")
    rows.nth(2).locator(".wk-time").click()
    assert page.evaluate(f"{audio}.currentTime") == pytest.approx(transcript.start[2], abs=0.01)
    assert "wk-current" in rows.nth(2).get_attribute("class")

    assert rows.nth(3).locator(".wk-text").text_content() == " ".join(transcript.text[3].split())
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
