"""How a transcript DataFrame looks in a notebook: a readable HTML table, for display only.

pandas shows a transcript as it shows any frame: the text column squeezed, the full path on every row, and
the chunk-level scores looking like per-row confidences. `register` adds an IPython HTML formatter that
shows transcripts (frames with ``attrs["files"]`` and start, end and text columns) as a reader wants them:
the file once (a caption for one file, a heading row where the file changes for several), times as
``m:ss.s``, the speaker beside the text, the text whole and wrapping, ``words`` as a count, and the chunk's
scores labelled as the chunk's (``no_speech_prob`` always; ``avg_logprob`` where the engine scored whole
chunks). Long frames are cut as pandas cuts them (``display.max_rows`` and ``display.min_rows``). Every
other DataFrame keeps pandas' display. The frame itself, its columns and its values are untouched:
``df.columns`` is what `whisperkit_nb.COLUMNS` documents. Everything shown is HTML-escaped: text, speaker
labels, file names and column names are data, never markup.
"""

from __future__ import annotations

import functools
import html
import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from whisperkit_nb.output.summary import display_name, summary_line, summary_lines

# Shown first, in this order, after the index; the other columns follow in the frame's order.
LEADING = ("start", "end", "speaker", "text")
# Column headers that differ from the column's name, with what their tooltip says. ``avg_logprob`` is each
# segment's own on the transformers engine, but CTranslate2 scores whole chunks: see `chunk_logprobs`.
HEADERS: dict[str, tuple[str, str]] = {
    "avg_logprob": ("avg_logprob", "avg_logprob: the mean log-probability of the segment's tokens (on the "
                    "CTranslate2 engine, which scores whole chunks, its chunk's)."),
    "no_speech_prob": ("chunk no_speech_prob", "no_speech_prob: Whisper's no-speech probability of the whole "
                       "chunk this segment was decoded in, repeated on each of the chunk's segments."),
    "compression_ratio": ("compression_ratio", "compression_ratio: the segment text's length over its "
                          "zlib-compressed length (high: repetition)."),
    "words": ("words", "words: the list of the segment's words with their times (df.words[i]; "
              "wk.words_frame(df) for one row per word)."),
}
CHUNK_LOGPROB = ("chunk avg_logprob", "avg_logprob: the mean token log-probability of the whole chunk this "
                 "segment was decoded in (the CTranslate2 engine scores chunks, not segments), repeated on each "
                 "of the chunk's segments; not a per-segment score.")
STYLE = """<style>
.wk-frame table.wk-transcript { table-layout: auto; border-collapse: collapse; width: auto; }
.wk-frame table.wk-transcript caption { caption-side: top; text-align: left; padding: 0.3em 0; }
.wk-frame table.wk-transcript th, .wk-frame table.wk-transcript td { vertical-align: top; padding: 0.25em 0.6em; }
.wk-frame table.wk-transcript td.wk-text { text-align: left; white-space: normal; overflow-wrap: anywhere;
  min-width: 24em; max-width: 60em; }
.wk-frame table.wk-transcript td.wk-time, .wk-frame table.wk-transcript td.wk-number { text-align: right;
  white-space: nowrap; font-variant-numeric: tabular-nums; }
.wk-frame table.wk-transcript td.wk-speaker { text-align: left; white-space: nowrap; font-weight: 600; }
.wk-frame table.wk-transcript th.wk-left { text-align: left; }
.wk-frame table.wk-transcript tr.wk-file th { text-align: left; padding-top: 0.8em; }
.wk-frame .wk-path { color: #666; font-weight: normal; font-size: 90%; }
.wk-frame .wk-more td { text-align: left; font-style: italic; color: #666; }
.wk-frame .wk-shape { color: #666; font-size: 90%; }
</style>"""


def is_transcript(obj: Any) -> bool:
    """Whether ``obj`` is a whisperkit_nb transcript: a DataFrame with ``attrs["files"]`` (what `transcribe`,
    `read_transcript` and `Corpus.frame` give, and what filtering rows keeps) and start, end and text columns."""
    return (isinstance(obj, pd.DataFrame) and isinstance(obj.attrs.get("files"), dict)
            and {"start", "end", "text"} <= set(obj.columns))


def transcript_html(df: pd.DataFrame, *, max_rows: int | None = None, min_rows: int | None = None) -> str:
    """The HTML view of a transcript (see the module's docstring); ``max_rows`` and ``min_rows`` default
    to pandas' ``display.max_rows`` and ``display.min_rows``."""
    max_rows = pd.get_option("display.max_rows") if max_rows is None else max_rows
    min_rows = pd.get_option("display.min_rows") if min_rows is None else min_rows
    columns = [c for c in LEADING if c in df.columns] + [c for c in df.columns if c not in (*LEADING, "file")]
    files = list(dict.fromkeys(df["file"])) if "file" in df.columns else []
    if max_rows and len(df) > max_rows:
        shown = min(min_rows or max_rows, max_rows)
        head, tail = df.iloc[: (shown + 1) // 2], df.iloc[len(df) - shown // 2:]
    else:
        head, tail = df, df.iloc[:0]
    width = len(columns) + 1
    summaries = functools.cache(lambda name: _file_summary(df, name)) if len(files) > 1 else None
    rows = _rows(head, columns, summaries)
    if len(tail):
        rows.append(f"<tr class='wk-more'><td colspan={width}>… {len(df) - len(head) - len(tail):,} more rows "
                    "…</td></tr>")
        rows += _rows(tail, columns, summaries)  # the file's heading again after the gap
    if not len(df):
        rows.append(f"<tr class='wk-more'><td colspan={width}>no segments</td></tr>")
    headers = {**HEADERS, "avg_logprob": CHUNK_LOGPROB} if chunk_logprobs(df) else HEADERS
    header = "<th></th>" + "".join(_header(c, headers) for c in columns)
    shape = f"{len(df):,} rows × {len(df.columns)} columns"
    return (f"<div class='wk-frame'>{STYLE}<table class='wk-transcript'>{_caption(df, files)}"
            f"<thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f"<div class='wk-shape'>{_escape(shape)}</div></div>")


def chunk_logprobs(df: pd.DataFrame) -> bool:
    """Whether ``avg_logprob`` holds each chunk's score rather than each segment's: every file ran on the
    CTranslate2 engine (``attrs["files"]``), or, where the engines are not all known, the values are the same
    on all the segments of each chunk that has several."""
    if "avg_logprob" not in df.columns:
        return False
    engines = {facts.get("engine") for facts in (df.attrs.get("files") or {}).values()}
    if engines and None not in engines:
        return engines == {"ctranslate2"}
    if "chunk" not in df.columns or "file" not in df.columns:
        return False
    per_chunk = df.groupby(["file", "chunk"], dropna=False)["avg_logprob"].agg(["nunique", "size"])
    return bool((per_chunk["size"] > 1).any() and (per_chunk["nunique"] <= 1).all())


def format_time(seconds: Any) -> str:
    """``m:ss.s`` (``h:mm:ss.s`` from an hour on); empty for a missing time."""
    if _missing(seconds):
        return ""
    tenths = int(round(float(seconds) * 10))
    sign, tenths = ("-", -tenths) if tenths < 0 else ("", tenths)
    minutes, rest = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    secs = f"{rest // 10:02d}.{rest % 10}"
    return f"{sign}{hours}:{minutes:02d}:{secs}" if hours else f"{sign}{minutes}:{secs}"


# ----------------------------------------------------------------------------------------------------
# Registration with IPython


def register(ipython: Any) -> None:
    """Show transcripts with `transcript_html` in ``ipython``'s HTML display; other DataFrames as before.

    Idempotent. A formatter already registered for DataFrames (by another library) keeps handling every
    frame that is not a transcript.
    """
    formatter = ipython.display_formatter.formatters["text/html"]
    try:
        previous = formatter.lookup_by_type(pd.DataFrame)
    except KeyError:
        previous = None
    if getattr(previous, "_whisperkit", False):
        return
    formatter.for_type(pd.DataFrame, _formatter(previous))


def unregister(ipython: Any) -> None:
    """Back to the display DataFrames had before `register` (pandas' own, unless another library's)."""
    formatter = ipython.display_formatter.formatters["text/html"]
    current = formatter.type_printers.get(pd.DataFrame)
    if getattr(current, "_whisperkit", False):
        if current._previous is None:
            formatter.pop(pd.DataFrame)
        else:
            formatter.for_type(pd.DataFrame, current._previous)


def _formatter(previous: Callable[[Any], Any] | None) -> Callable[[pd.DataFrame], str | None]:
    def show(df: pd.DataFrame) -> str | None:
        if is_transcript(df) and pd.get_option("display.notebook_repr_html"):
            return transcript_html(df)
        return previous(df) if previous is not None else df._repr_html_()

    show._whisperkit = True  # type: ignore[attr-defined]
    show._previous = previous  # type: ignore[attr-defined]
    return show


# ----------------------------------------------------------------------------------------------------
# The pieces


def _caption(df: pd.DataFrame, files: list[Any]) -> str:
    if len(files) == 1:
        return (f"<caption><b>{_escape(display_name(files[0]))}</b> <span class='wk-path'>{_escape(files[0])}</span>"
                f"<br><span class='wk-path'>{_escape(_file_summary(df, files[0]))}</span></caption>")
    line = summary_line(df) if df.attrs.get("files") else ""
    return f"<caption><span class='wk-path'>{_escape(line)}</span></caption>" if line else ""


def _file_summary(df: pd.DataFrame, name: Any) -> str:
    """One file's `summary_lines` line, without the name the heading already shows."""
    rows = df[df["file"] == name]
    facts = (df.attrs.get("files") or {}).get(name)
    rows.attrs = {"files": {name: facts}} if facts is not None else {}
    return summary_lines(rows)[0].removeprefix(f"{display_name(name)}: ")


def _header(column: Any, headers: dict[str, tuple[str, str]]) -> str:
    title, tip = headers.get(column, (column, None))
    attribute = f" title='{_escape(tip)}'" if tip else ""
    if column in ("text", "speaker"):
        attribute += " class='wk-left'"
    return f"<th{attribute}>{_escape(title)}</th>"


def _rows(frame: pd.DataFrame, columns: list[Any], summaries: Callable[[Any], str] | None) -> list[str]:
    """The frame's rows; with ``summaries`` (several files), a heading row wherever the file changes."""
    rows, current = [], object()
    width = len(columns) + 1
    for index, row in zip(frame.index, frame.itertuples(index=False), strict=True):
        values = dict(zip(frame.columns, row, strict=True))
        if summaries is not None and values["file"] != current:
            current = values["file"]
            rows.append(f"<tr class='wk-file'><th colspan={width}>{_escape(display_name(current))} "
                        f"<span class='wk-path'>{_escape(current)} · {_escape(summaries(current))}</span></th></tr>")
        cells = "".join(_cell(column, values[column]) for column in columns)
        rows.append(f"<tr><th>{_escape(index)}</th>{cells}</tr>")
    return rows


def _cell(column: Any, value: Any) -> str:
    if column in ("start", "end"):
        return f"<td class='wk-time'>{_escape(format_time(value))}</td>"
    if column == "text":
        return f"<td class='wk-text'>{_escape('' if _missing(value) else str(value).strip())}</td>"
    if column == "speaker":
        return f"<td class='wk-speaker'>{_escape('' if _missing(value) else value)}</td>"
    if column == "words":
        return f"<td class='wk-number'>{_escape(_count_words(value))}</td>"
    if isinstance(value, float):
        return f"<td class='wk-number'>{'' if math.isnan(value) else f'{value:.3g}'}</td>"
    return f"<td>{_escape('' if _missing(value) else value)}</td>"


def _count_words(value: Any) -> str:
    if _missing(value) or isinstance(value, str) or not hasattr(value, "__len__"):
        return ""
    return f"{len(value)} word{'s' if len(value) != 1 else ''}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _escape(value: Any) -> str:
    return html.escape(str(value), quote=True)
