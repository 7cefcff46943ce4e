"""``html``: one self-contained page (audio embedded, transcript, speakers, click to seek) that opens from a
``file://`` URL with no server, no Jupyter and no network."""

from __future__ import annotations

import base64
import hashlib
import html
import mimetypes
import os
from pathlib import Path

import pandas as pd

from whisperkit_nb.output.formats._common import atomic, clean, hms, media_path, one_file, segments

# Colours of the first speakers (then they repeat); the player widget's palette.
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")

# Seeks on click (or Enter), highlights the segment being played. Reads times from data attributes only:
# no transcript text passes through JavaScript.
SCRIPT = """
const audio = document.getElementById("audio");
const segments = Array.from(document.querySelectorAll(".seg"));
function seek(seg) {
  if (!audio) return;
  audio.currentTime = parseFloat(seg.dataset.start);
  audio.play().catch(() => {});
}
for (const seg of segments) {
  seg.addEventListener("click", () => seek(seg));
  seg.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); seek(seg); }
  });
}
if (audio) {
  audio.addEventListener("timeupdate", () => {
    const t = audio.currentTime;
    for (const seg of segments) {
      const on = t >= parseFloat(seg.dataset.start) && t < parseFloat(seg.dataset.end);
      seg.classList.toggle("current", on);
    }
  });
}
"""

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }
header { position: sticky; top: 0; background: #fff; padding: .5rem 0; border-bottom: 1px solid #ddd; }
audio { width: 100%; }
.speakers span { display: inline-block; margin-right: 1rem; font-weight: 600; }
.seg { cursor: pointer; margin: .4rem 0; padding: .2rem .4rem; border-left: 4px solid transparent; }
.seg:hover { background: #f3f3f3; }
.seg.current { background: #fff3c4; }
.time { color: #666; font-variant-numeric: tabular-nums; margin-right: .5rem; }
.speaker { font-weight: 600; margin-right: .4rem; }
.facts { color: #666; font-size: .9rem; }
"""


def write_html(df: pd.DataFrame, path: str | os.PathLike, *, audio: str | os.PathLike | None = None,
               embed: bool = True, title: str | None = None) -> None:
    """A single HTML page: a player, the speakers, the transcript; clicking a segment (or Enter on it)
    plays from its start, and the segment being played is highlighted.

    Options
    -------
    audio : path, optional
        The recording. Default: the transcript's input when it is a file on disk; without one the page
        shows the transcript with no player.
    embed : bool, default True
        Embed the audio in the page (base64), so the one file works anywhere. False: link it by its path
        relative to the page (smaller; the audio must stay beside it).
    title : str, optional
        Default: the input's file name.

    Every text (transcript, speakers, title, file names) is HTML-escaped, and a Content-Security-Policy
    lets only the page's own script run and load nothing from the network.
    """
    name = one_file(df, "html page")
    media = media_path(df, audio, "html page")
    segs = segments(df)
    heading = title or (Path(name).name if name and name != "<array>" else "Transcript")
    speakers = list(dict.fromkeys(s.speaker for s in segs if s.speaker))
    color = {s: COLORS[i % len(COLORS)] for i, s in enumerate(speakers)}
    e = html.escape
    if media is None:
        player, media_src = "<p class=\"facts\">No recording attached.</p>", ""
    else:
        mime = mimetypes.guess_type(media.name)[0] or "audio/wav"
        if embed:
            src = f"data:{mime};base64," + base64.b64encode(media.read_bytes()).decode("ascii")
            media_src = " data:"
        else:
            src = os.path.relpath(media.resolve(), Path(path).resolve().parent).replace(os.sep, "/")
            media_src = " 'self' file:"
        player = f'<audio id="audio" controls preload="auto" src="{e(src)}"></audio>'
    rows = []
    for s in segs:
        style = f' style="border-left-color: {color[s.speaker]}"' if s.speaker else ""
        who = f'<span class="speaker" style="color: {color[s.speaker]}">{e(s.speaker)}</span>' if s.speaker else ""
        rows.append(
            f'<p class="seg" tabindex="0" data-start="{s.start:.3f}" data-end="{s.end:.3f}"{style}>'
            f'<span class="time">[{hms(s.start)}]</span>{who}<span class="text">{e(clean(s.text))}</span></p>'
        )
    legend = "".join(f'<span style="color: {color[s]}">{e(s)}</span>' for s in speakers)
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    policy = (f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; "
              f"media-src{media_src or ' ' + chr(39) + 'none' + chr(39)}; img-src 'none'")
    page = f"""<!DOCTYPE html>
<html lang="{e(_language(df))}">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{e(policy)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="whisperkit_nb">
<title>{e(heading)}</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<h1>{e(heading)}</h1>
{player}
<div class="speakers">{legend}</div>
</header>
<main id="transcript">
{chr(10).join(rows)}
</main>
<script>{SCRIPT}</script>
</body>
</html>
"""
    with atomic(path) as out:
        out.write(page)


def _language(df: pd.DataFrame) -> str:
    if "language" in df.columns and df["language"].notna().any():
        return str(df["language"].dropna().iloc[0])
    return "und"
