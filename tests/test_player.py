"""The transcript player: text always rendered as text, compact audio, speaker renames flowing back to the
DataFrame, and the front end's behaviour (seek, keyboard, search, word highlight) in a real Chromium."""

from __future__ import annotations

import base64
import io
import re

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
