"""Corrections of a transcript DataFrame, in place: edit a segment's text, split it, merge it with the next,
change its speaker, rename speakers.

Every function changes the DataFrame it is given (the object the caller holds, not a copy), so views and
exports that read it see the corrections. A corrected row is marked: ``edited`` (bool) is True and
``text_original`` keeps the machine text; both columns are added on the first edit (False / None elsewhere).

Rows are named by their index label. After a split or a merge (or `replace_rows`) the frame is ordered by
file (in the order files first appear) and by start within each; a frame with the default index (0..n-1)
keeps it (the rows after are renumbered), any other index keeps its labels and a new row gets the largest
integer label plus one. Other operations change cells only.

How words follow an edited text (`edit_text`): the text is cut into whitespace-separated tokens, the old
words are grouped into the tokens of the old text (``"28.8"`` holds the words ``"28"`` and ``".8"``), and
the two token lists are aligned (`difflib.SequenceMatcher`). A token left as it was keeps its words
unchanged (times, probability, speaker); a token replaced one for one by another keeps the old token's
time span and speaker; every other new token gets an equal share of the time between the neighbouring
kept words (the segment's start and end at the edges). Words written by hand have no probability (None).
"""

from __future__ import annotations

import difflib
import warnings
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

EDITED = "edited"
TEXT_ORIGINAL = "text_original"


def locate_words(text: str, words: Sequence[Mapping[str, Any]]) -> list[tuple[int, int] | None]:
    """Where each word lies in ``text``: ``(start, end)`` character offsets, or None where it is not found.

    Each word (stripped) is searched from the end of the previous one found, so repeated words land in
    order and the text shows as written (``"28.8"``, not ``"28 .8"``). The player locates words the same
    way.
    """
    spans: list[tuple[int, int] | None] = []
    cursor = 0
    for word in words:
        token = str(word.get("word", "")).strip()
        at = text.find(token, cursor) if token else -1
        if at < 0:
            spans.append(None)
            continue
        spans.append((at, at + len(token)))
        cursor = at + len(token)
    return spans


def edit_text(df: pd.DataFrame, row: Hashable, text: str) -> None:
    """Replace the text of segment ``row`` with ``text``; its words follow (see the module's rule).

    A leading space the machine text had is kept, so the row joins the others as before.
    """
    old = str(df.at[row, "text"])
    text = str(text)
    if old[:1].isspace() and not text[:1].isspace():
        text = old[:1] + text
    _mark(df, [row])
    df.at[row, "text"] = text
    if "words" in df.columns and isinstance(df.at[row, "words"], list):
        segment = (float(df.at[row, "start"]), float(df.at[row, "end"]))
        df.at[row, "words"] = _rematch(old, df.at[row, "words"], text, segment, _speaker(df, row))


def split_segment(df: pd.DataFrame, row: Hashable, word_index: int) -> Hashable:
    """Split segment ``row`` before its word ``word_index`` (1 .. number of words - 1); returns the label of
    the second part.

    The first part ends where its last word ends, the second starts where its first word starts; the text is
    cut where that word lies in it (`locate_words`). The second part's speaker is the one most of its words
    have (the segment's when words carry none); the other columns are copied. Both parts are marked edited,
    each with the whole machine text in ``text_original``.
    """
    words = df.at[row, "words"] if "words" in df.columns else None
    if not isinstance(words, list) or not 0 < word_index < len(words):
        count = len(words) if isinstance(words, list) else 0
        raise ValueError(f"split_segment: word_index={word_index} must be between 1 and {count - 1} "
                         f"(segment {row!r} has {count} words); splitting needs word timestamps.")
    _mark(df, [row])
    text = str(df.at[row, "text"])
    spans = locate_words(text, words)
    cut = spans[word_index][0] if spans[word_index] is not None else None
    if cut is None:  # the text does not hold the words as written: rebuild both halves from the words
        first_text = " ".join(str(w["word"]).strip() for w in words[:word_index])
        second_text = " ".join(str(w["word"]).strip() for w in words[word_index:])
        lead = text[:1] if text[:1].isspace() else ""
        first_text, second_text = lead + first_text, lead + second_text
    else:
        lead = text[:1] if text[:1].isspace() else ""
        first_text, second_text = text[:cut].rstrip(), lead + text[cut:].strip()
    first, second = df.loc[[row]].copy(), df.loc[[row]].copy()
    first.at[row, "text"], second.at[row, "text"] = first_text, second_text
    first.at[row, "words"], second.at[row, "words"] = list(words[:word_index]), list(words[word_index:])
    first.at[row, "end"] = _time(words[word_index - 1].get("end"), df.at[row, "end"])
    second.at[row, "start"] = _time(words[word_index].get("start"), df.at[row, "start"])
    if "speaker" in df.columns:
        said = Counter(w["speaker"] for w in words[word_index:] if isinstance(w.get("speaker"), str))
        if said:
            second.at[row, "speaker"] = said.most_common(1)[0][0]
    labels = _replace_rows(df, [row], [first, second])
    return labels[1]


def merge_with_next(df: pd.DataFrame, row: Hashable) -> Hashable:
    """Merge segment ``row`` with the next segment of the same file; returns the merged row's label.

    The merged row spans both, its text is both texts joined by a space, its words both lists; the speaker
    and the other columns are the first row's (words keep their own speakers). ``text_original`` joins both
    machine texts.
    """
    following = _next_row(df, row)
    if following is None:
        raise ValueError(f"merge_with_next: segment {row!r} is the last of its file; there is nothing to merge.")
    _mark(df, [row, following])
    merged = df.loc[[row]].copy()
    first, second = str(df.at[row, "text"]), str(df.at[following, "text"])
    merged.at[row, "text"] = first.rstrip() + " " + second.strip()
    merged.at[row, "end"] = max(float(df.at[row, "end"]), float(df.at[following, "end"]))
    merged.at[row, TEXT_ORIGINAL] = (str(df.at[row, TEXT_ORIGINAL]).rstrip() + " "
                                     + str(df.at[following, TEXT_ORIGINAL]).strip())
    if "words" in df.columns:
        merged.at[row, "words"] = list(_words(df.at[row, "words"])) + list(_words(df.at[following, "words"]))
    labels = _replace_rows(df, [row, following], [merged])
    return labels[0]


def set_speaker(df: pd.DataFrame, row: Hashable, speaker: str | None) -> None:
    """Give segment ``row`` (and all its words) the speaker ``speaker``, an existing label or a new one."""
    if "speaker" not in df.columns:
        df["speaker"] = pd.Series([None] * len(df), index=df.index, dtype=object)
    _mark(df, [row])
    df.at[row, "speaker"] = speaker
    if "words" in df.columns and isinstance(df.at[row, "words"], list):
        df.at[row, "words"] = [{**w, "speaker": speaker} for w in df.at[row, "words"]]


def rename_speakers_in_place(df: pd.DataFrame, mapping: Mapping[str, str], rows: Sequence[Hashable] | None = None
                             ) -> None:
    """Rename speakers (``{old: new}``, all at once) in the segments and words of ``rows`` (default: every
    row). Labels missing from ``mapping`` are kept; a rename does not mark rows edited."""
    if not mapping or "speaker" not in df.columns:
        return
    rows = list(df.index if rows is None else rows)
    rename = lambda label: mapping.get(label, label) if isinstance(label, str) else label  # noqa: E731
    for label in rows:
        df.at[label, "speaker"] = rename(df.at[label, "speaker"])
        if "words" in df.columns and isinstance(df.at[label, "words"], list):
            df.at[label, "words"] = [{**w, "speaker": rename(w["speaker"])} if "speaker" in w else w
                                     for w in df.at[label, "words"]]


def replace_rows(df: pd.DataFrame, old: Sequence[Hashable], new: pd.DataFrame) -> list[Hashable]:
    """Replace rows ``old`` of ``df`` by the rows of ``new`` (same columns, in start order), in place; the
    new rows take the place of the first old one. Returns their labels. What undo restores rows with."""
    parts = [new.iloc[[i]] for i in range(len(new))]
    return _replace_rows(df, list(old), parts)


# --------------------------------------------------------------------------------------------------


def _mark(df: pd.DataFrame, rows: Sequence[Hashable]) -> None:
    if EDITED not in df.columns:
        df[EDITED] = pd.Series(False, index=df.index, dtype=bool)
    if TEXT_ORIGINAL not in df.columns:
        df[TEXT_ORIGINAL] = pd.Series([None] * len(df), index=df.index, dtype=object)
    for row in rows:
        flag = df.at[row, EDITED]
        if not (isinstance(flag, (bool, np.bool_)) and flag):  # NaN or None: not edited yet
            df.at[row, EDITED] = True
            df.at[row, TEXT_ORIGINAL] = df.at[row, "text"]


def _speaker(df: pd.DataFrame, row: Hashable) -> str | None:
    speaker = df.at[row, "speaker"] if "speaker" in df.columns else None
    return speaker if isinstance(speaker, str) else None


def _words(value: Any) -> list:
    return value if isinstance(value, list) else []


def _time(value: Any, default: Any) -> float:
    return float(value) if value is not None and not pd.isna(value) else float(default)


def _tokens(text: str) -> list[tuple[str, int, int]]:
    """Whitespace-separated tokens of ``text`` with their character spans."""
    out, start = [], None
    for i, char in enumerate(text + " "):
        if char.isspace():
            if start is not None:
                out.append((text[start:i], start, i))
                start = None
        elif start is None:
            start = i
    return out


def _old_tokens(text: str, words: list) -> list[tuple[str, list]]:
    """The old text's tokens, each with the words lying in it; every word its own token when the words
    cannot all be found in the text."""
    spans = locate_words(text, words)
    if any(span is None for span in spans):
        return [(str(w["word"]).strip(), [w]) for w in words]
    tokens = _tokens(text)
    grouped: list[tuple[str, list]] = []
    for token, start, end in tokens:
        inside = [w for w, (a, b) in zip(words, spans) if a < end and b > start]
        if inside:
            grouped.append((token, inside))
    return grouped


def _rematch(old_text: str, words: list, text: str, segment: tuple[float, float], speaker: str | None) -> list:
    old = _old_tokens(old_text, words)
    new = [token for token, _, _ in _tokens(text)]
    timed: list[list | None] = [None] * len(new)  # the words of each new token, when they have times already
    matcher = difflib.SequenceMatcher(a=[t for t, _ in old], b=new, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(b1 - b0):
                timed[b0 + k] = old[a0 + k][1]
        elif tag == "replace" and a1 - a0 == b1 - b0:
            for k in range(b1 - b0):
                pieces = old[a0 + k][1]
                timed[b0 + k] = [{"word": new[b0 + k], "start": pieces[0].get("start"), "end": pieces[-1].get("end"),
                                  "probability": None,
                                  **({"speaker": pieces[0]["speaker"]} if "speaker" in pieces[0] else {})}]
    out: list = []
    k = 0
    while k < len(new):
        if timed[k] is not None:
            out.extend(timed[k])
            k += 1
            continue
        gap_end = k
        while gap_end < len(new) and timed[gap_end] is None:
            gap_end += 1
        begin = _time(out[-1].get("end"), segment[0]) if out else segment[0]
        finish = _time(timed[gap_end][0].get("start"), segment[1]) if gap_end < len(new) else segment[1]
        finish = max(begin, finish)
        share = (finish - begin) / (gap_end - k)
        for j in range(k, gap_end):
            word = {"word": new[j], "start": round(begin + (j - k) * share, 3),
                    "end": round(begin + (j - k + 1) * share, 3), "probability": None}
            if speaker is not None or any("speaker" in w for w in words):
                word["speaker"] = speaker
            out.append(word)
        k = gap_end
    return out


def _next_row(df: pd.DataFrame, row: Hashable) -> Hashable | None:
    same = df[df["file"] == df.at[row, "file"]] if "file" in df.columns else df
    order = list(same.sort_values("start", kind="stable").index)
    at = order.index(row)
    return order[at + 1] if at + 1 < len(order) else None


def _default_index(df: pd.DataFrame) -> bool:
    return isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1


def _replace_rows(df: pd.DataFrame, old: list[Hashable], parts: list[pd.DataFrame]) -> list[Hashable]:
    """Put ``parts`` (one-row frames) where ``old`` were, in place, keeping each file's rows in start order."""
    renumber = _default_index(df)
    # Labels: the old rows' first (then the others) are reused, further rows get fresh integer labels.
    taken = set(df.index)
    fresh = (max((x for x in taken if isinstance(x, int)), default=-1) + 1)
    labels: list[Hashable] = []
    for i in range(len(parts)):
        if i < len(old):
            labels.append(old[i])
        else:
            labels.append(fresh)
            fresh += 1
    new_rows = pd.concat(parts) if parts else df.iloc[0:0]
    new_rows.index = pd.Index(labels, dtype=object if not all(isinstance(x, int) for x in labels) else None)
    for column in df.columns:
        if column not in new_rows.columns:  # a snapshot from before the first edit lacks the edit columns
            new_rows[column] = False if df[column].dtype == bool else None
    new_rows = new_rows[list(df.columns)]
    first = df.index.get_loc(old[0])
    kept = df.drop(index=old)
    before = kept.iloc[: sum(1 for label in df.index[:first] if label not in old)]
    after = kept.iloc[len(before):]
    whole = pd.concat([before, new_rows, after])
    if "file" in whole.columns:  # each file's rows by start, files in the order they came
        rank = {name: i for i, name in enumerate(dict.fromkeys(whole["file"]))}
        whole = whole.assign(_file_rank=whole["file"].map(rank)).sort_values(
            ["_file_rank", "start"], kind="stable").drop(columns="_file_rank")
    else:
        whole = whole.sort_values("start", kind="stable")
    positions = {label: i for i, label in enumerate(whole.index)}
    result = [positions[label] for label in labels]
    if renumber:
        whole.index = pd.RangeIndex(len(whole))
    _assign_in_place(df, whole)
    return [df.index[p] for p in result]


def _assign_in_place(df: pd.DataFrame, new: pd.DataFrame) -> None:
    """Make ``df`` (the same object) hold ``new``: grown by enlargement or shrunk by dropping rows, then the
    index and every column set."""
    while len(df) < len(new):
        df.loc[_unused_label(df)] = df.iloc[-1]  # a copy of a row: every column keeps its dtype
    if len(df) > len(new):
        surplus = list(df.index[len(new):])
        with warnings.catch_warnings():
            # pandas 3 deprecates inplace= (PDEP-8) but offers no other way to drop rows from this object
            warnings.simplefilter("ignore")
            df.drop(index=surplus, inplace=True)
    df.index = new.index
    for column in new.columns:
        df[column] = new[column].to_numpy(dtype=object) if new[column].dtype == object else new[column].to_numpy()
        if df[column].dtype != new[column].dtype:
            df[column] = df[column].astype(new[column].dtype)


def _unused_label(df: pd.DataFrame) -> Hashable:
    ints = [x for x in df.index if isinstance(x, int)]
    return max(ints, default=-1) + 1 if len(ints) == len(df.index) else f"_row{len(df)}"
