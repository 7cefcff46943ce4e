"""Who said what: speaker turns joined onto transcript segments and words, renaming, and a summary.

Pure pandas/numpy. `assign_speakers` gives each word the speaker whose turns overlap it most (the
nearest turn when none does), each segment its majority speaker by word time, and splits a segment
where its words change speaker, but only where both sides are long enough to be trusted: a short run of
words voted to another speaker is more often a diarization boundary error than a real interjection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["assign_speakers", "rename_speakers", "speaker_summary"]


def assign_speakers(segments: pd.DataFrame, turns: pd.DataFrame, *, split_min_s: float = 1.0) -> pd.DataFrame:
    """Fill the ``speaker`` column of a transcript (and each word's ``speaker``) from speaker turns.

    Parameters
    ----------
    segments : DataFrame
        A transcript as `transcribe` returns it: ``start``, ``end``, ``text``, and optionally ``words``
        (per segment, a list of dicts with ``word``, ``start``, ``end``, ``probability``).
    turns : DataFrame
        ``start``, ``end``, ``speaker``, e.g. from `whisperkit_nb.diarize`. Exclusive turns are
        best; overlapping ones work (the speaker with the most overlap wins).
    split_min_s : float, default 1.0
        A segment whose words change speaker is split at the change only when both sides last at least
        this long; runs of words shorter than this are absorbed by their longer neighbour first.
        0 splits at every change, ``inf`` never splits.

    Returns
    -------
    DataFrame
        A new frame, same columns, dtypes and ``attrs``. Without words, each segment takes the speaker
        with the largest overlap (nearest turn when none overlaps). With words, each word dict gains a
        ``speaker`` key (new dicts: the input is not modified), each segment takes the majority speaker by
        word duration, and split segments become several rows whose start/end come from their words and
        whose text joins their words; other columns are copied. No turns at all: speakers are None.
    """
    frame = segments.copy()
    if "speaker" not in frame.columns:
        frame["speaker"] = pd.Series([None] * len(frame), index=frame.index, dtype="object")
    if len(frame) == 0:
        return frame
    table = _TurnTable(turns)
    starts, ends = frame["start"].to_numpy(float), frame["end"].to_numpy(float)
    by_overlap = table.speakers_of(starts, ends)
    if "words" not in frame.columns:
        frame["speaker"] = pd.Series(by_overlap, index=frame.index, dtype="object")
        return frame
    return _assign_with_words(frame, table, by_overlap, split_min_s)


def rename_speakers(df: pd.DataFrame, mapping: Mapping[str, str] | None) -> pd.DataFrame:
    """Rename speakers in a transcript or a turns frame (segments, words and ``attrs["overlapping"]``).

    Labels missing from ``mapping`` are kept. Returns a new frame; the input is not modified.
    """
    result = df.copy()
    if not mapping:
        return result
    rename = lambda label: mapping.get(label, label) if isinstance(label, str) else label  # noqa: E731
    if "speaker" in result.columns:
        result["speaker"] = result["speaker"].map(rename).astype(df["speaker"].dtype)
    if "words" in result.columns:
        result["words"] = [
            [{**w, "speaker": rename(w["speaker"])} if isinstance(w, dict) and "speaker" in w else w for w in ws]
            if isinstance(ws, list) else ws
            for ws in result["words"]
        ]
    if isinstance(result.attrs.get("overlapping"), list):
        result.attrs["overlapping"] = [{**t, "speaker": rename(t.get("speaker"))} for t in result.attrs["overlapping"]]
    return result


def speaker_summary(df: pd.DataFrame, by: str = "speaker") -> pd.DataFrame:
    """Per speaker: talk time, turns, segments, words and share of talk time, in order of first speech.

    Parameters
    ----------
    df : DataFrame
        A transcript with ``start``, ``end``, ``speaker`` (and ``file``, ``words``, ``text`` when present).
    by : str
        The column that names speakers: ``"speaker"`` (per file), or ``"corpus_speaker"`` for the voices of a
        corpus linked with ``link_speakers=True``.

    Returns
    -------
    DataFrame
        Indexed by speaker (segments without one are grouped under a missing label), columns
        ``talk_time_s`` (sum of segment durations), ``turns`` (runs of consecutive segments of that
        speaker, per file), ``segments``, ``words`` (from ``words`` when present, else whitespace-split
        ``text``) and ``share`` (of all talk time, summing to 1).
    """
    columns = ["talk_time_s", "turns", "segments", "words", "share"]
    if len(df) == 0:
        return pd.DataFrame(columns=columns).rename_axis(by)
    order = df.sort_values([c for c in ("file", "start") if c in df.columns], kind="stable")
    if by not in order.columns:
        raise ValueError(f"speaker_summary(by={by!r}): this transcript has no {by!r} column"
                         + (" (link the corpus: link_speakers=True)" if by == "corpus_speaker" else "") + ".")
    speaker = order[by].astype("object")
    duration = (order["end"] - order["start"]).clip(lower=0)
    new_file = order["file"].ne(order["file"].shift()) if "file" in order.columns else False
    changed = speaker.ne(speaker.shift()) & ~(speaker.isna() & speaker.shift().isna())
    turn_start = changed | new_file
    words = _word_counts(order)
    stats = pd.DataFrame({by: speaker, "talk_time_s": duration, "turns": turn_start.astype(int),
                          "segments": 1, "words": words})
    summary = stats.groupby(by, dropna=False, sort=False).sum()
    total = summary["talk_time_s"].sum()
    summary["share"] = summary["talk_time_s"] / total if total > 0 else 0.0
    return summary[columns].astype({"turns": "int64", "segments": "int64", "words": "int64"})


# --------------------------------------------------------------------------------------------------


class _TurnTable:
    """Turns sorted by start, with what interval look-ups need (works for overlapping turns too)."""

    def __init__(self, turns: pd.DataFrame) -> None:
        ordered = turns.sort_values(["start", "end"], kind="stable")
        ordered = ordered[ordered["end"] > ordered["start"]]
        self.starts = ordered["start"].to_numpy(float)
        self.ends = ordered["end"].to_numpy(float)
        self.codes, self.labels = pd.factorize(ordered["speaker"].astype("object"))
        # Running maximum of ends, and which turn reaches it: lets a binary search find the first turn that
        # can reach a time, and the turn ending last before it, even when turns overlap.
        self.reach = np.maximum.accumulate(self.ends) if len(self.ends) else self.ends
        self.reach_index = _running_argmax(self.ends)

    def speakers_of(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """The speaker with most overlap with each [start, end) (nearest turn when none), as labels."""
        codes = self.codes_of(starts, ends)
        out = np.full(len(starts), None, dtype=object)
        known = codes >= 0
        out[known] = np.asarray(self.labels, dtype=object)[codes[known]]
        return out

    def codes_of(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Speaker codes (index into ``labels``) for each interval; -1 when there are no turns."""
        n = len(starts)
        if len(self.starts) == 0:
            return np.full(n, -1)
        lo = np.searchsorted(self.reach, starts, side="right")  # first turn that may end after `start`
        hi = np.searchsorted(self.starts, ends, side="left")  # turns from here on start at/after `end`
        count = np.maximum(hi - lo, 0)
        item = np.repeat(np.arange(n), count)
        turn = np.repeat(lo - np.cumsum(count) + count, count) + np.arange(count.sum())
        overlap = np.minimum(self.ends[turn], ends[item]) - np.maximum(self.starts[turn], starts[item])
        keep = overlap > 0
        best = np.full(n, -1)
        if keep.any():
            # total overlap per (interval, speaker); the largest wins
            pairs = pd.DataFrame({"item": item[keep], "speaker": self.codes[turn[keep]], "overlap": overlap[keep]})
            totals = pairs.groupby(["item", "speaker"], sort=False)["overlap"].sum().reset_index()
            winners = totals.sort_values("overlap", ascending=False, kind="stable").drop_duplicates("item")
            best[winners["item"].to_numpy()] = winners["speaker"].to_numpy()
        missing = np.flatnonzero(best < 0)
        if len(missing):
            best[missing] = self._nearest(starts[missing], ends[missing])
        return best

    def _nearest(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Codes of the nearest turn to intervals that overlap none: the turn ending last before each
        (every turn starting before it ends before it) or the first starting after, whichever gap is shorter."""
        after = np.searchsorted(self.starts, ends, side="left")
        last = len(self.starts) - 1
        before = self.reach_index[np.maximum(after - 1, 0)]
        gap_before = np.where(after > 0, starts - self.ends[before], np.inf)
        gap_after = np.where(after <= last, self.starts[np.minimum(after, last)] - ends, np.inf)
        return self.codes[np.where(gap_after < gap_before, np.minimum(after, last), before)]


def _running_argmax(values: np.ndarray) -> np.ndarray:
    if len(values) == 0:
        return np.zeros(0, dtype=int)
    index = np.arange(len(values))
    is_new_max = values >= np.maximum.accumulate(values)
    return np.maximum.accumulate(np.where(is_new_max, index, 0))


def _assign_with_words(frame: pd.DataFrame, table: _TurnTable, by_overlap: np.ndarray,
                       split_min_s: float) -> pd.DataFrame:
    seg_starts, seg_ends = frame["start"].to_numpy(float), frame["end"].to_numpy(float)
    lists = [ws if isinstance(ws, list) else [] for ws in frame["words"]]
    counts = np.array([len(ws) for ws in lists])
    owner = np.repeat(np.arange(len(frame)), counts)
    flat = [w for ws in lists for w in ws]
    w_start = np.array([_number(w.get("start")) for w in flat], dtype=float)
    w_end = np.array([_number(w.get("end")) for w in flat], dtype=float)
    # a word without times is placed on its segment's span
    w_start = np.where(np.isnan(w_start), seg_starts[owner], w_start)
    w_end = np.where(np.isnan(w_end), seg_ends[owner], np.maximum(w_end, w_start))
    w_speaker = table.speakers_of(w_start, w_end)
    new_words = [{**w, "speaker": s} for w, s in zip(flat, w_speaker)]

    speakers = by_overlap.copy()
    has_words = counts > 0
    if has_words.any():
        # majority by word time; a tiny floor lets zero-length words still vote
        votes = pd.DataFrame({"seg": owner, "speaker": pd.array(w_speaker, dtype="object"),
                              "time": (w_end - w_start) + 1e-6})
        totals = votes.groupby(["seg", "speaker"], sort=False, dropna=False)["time"].sum().reset_index()
        winners = totals.sort_values("time", ascending=False, kind="stable").drop_duplicates("seg")
        speakers[winners["seg"].to_numpy()] = winners["speaker"].to_numpy()
    frame["speaker"] = pd.Series(speakers, index=frame.index, dtype="object")
    offsets = np.concatenate([[0], np.cumsum(counts)])
    frame["words"] = [new_words[offsets[i] : offsets[i + 1]] if isinstance(ws, list) else ws
                      for i, ws in enumerate(frame["words"])]

    mixed = [i for i in np.flatnonzero(counts > 1)
             if len(set(w_speaker[offsets[i] : offsets[i + 1]])) > 1]
    if not mixed:
        return frame
    return _split_segments(frame, mixed, offsets, w_start, w_end, w_speaker, split_min_s)


def _split_segments(frame: pd.DataFrame, mixed: list[int], offsets: np.ndarray, w_start: np.ndarray,
                    w_end: np.ndarray, w_speaker: np.ndarray, split_min_s: float) -> pd.DataFrame:
    """Replace each mixed segment by its pieces (one row each, in place), keeping dtypes and attrs."""
    dtypes, attrs = frame.dtypes, frame.attrs
    rows: list[int] = []
    patches: list[dict[str, Any] | None] = []  # per output row: the values that differ from its source row
    mixed_set = set(mixed)
    for i in range(len(frame)):
        if i not in mixed_set:
            rows.append(i)
            patches.append(None)
            continue
        lo, hi = offsets[i], offsets[i + 1]
        pieces = _pieces(w_start[lo:hi], w_end[lo:hi], w_speaker[lo:hi], split_min_s)
        words = frame["words"].iat[i]
        for k, (a, b) in enumerate(pieces):
            time = pd.Series(w_end[lo + a : lo + b] - w_start[lo + a : lo + b] + 1e-6,
                             index=pd.Index(w_speaker[lo + a : lo + b], dtype="object"))
            patch: dict[str, Any] = {"speaker": time.groupby(level=0).sum().idxmax(), "words": words[a:b]}
            if len(pieces) > 1:
                patch["text"] = _join_words(words[a:b])
                if k > 0:  # outer edges stay the segment's, inner cuts fall on word boundaries
                    patch["start"] = float(w_start[lo + a])
                if k < len(pieces) - 1:
                    patch["end"] = float(w_end[lo + b - 1])
            rows.append(i)
            patches.append(patch)
    result = frame.iloc[rows].reset_index(drop=True)
    for column in ("speaker", "words", "text", "start", "end"):
        if column not in result.columns:
            continue
        values = result[column].tolist()
        for row, patch in enumerate(patches):
            if patch is not None and column in patch:
                values[row] = patch[column]
        result[column] = pd.Series(values, dtype="object").astype(dtypes[column])
    result.attrs = attrs
    return result


def _pieces(starts: np.ndarray, ends: np.ndarray, speakers: np.ndarray, min_s: float) -> list[tuple[int, int]]:
    """Word index ranges of the pieces a segment splits into.

    Runs of words with one speaker are merged, shortest first, into their longer neighbour while
    shorter than ``min_s``; neighbouring pieces that end up with the same speaker are joined.
    """
    change = np.flatnonzero(speakers[1:] != speakers[:-1]) + 1
    bounds = [0, *change.tolist(), len(speakers)]
    runs = [[a, b, speakers[a]] for a, b in zip(bounds[:-1], bounds[1:])]
    length = lambda run: ends[run[1] - 1] - starts[run[0]]  # noqa: E731
    while len(runs) > 1:
        shortest = min(range(len(runs)), key=lambda k: length(runs[k]))
        if length(runs[shortest]) >= min_s:
            break
        left = runs[shortest - 1] if shortest > 0 else None
        right = runs[shortest + 1] if shortest + 1 < len(runs) else None
        target = shortest - 1 if right is None or (left is not None and length(left) >= length(right)) else shortest + 1
        a, b = sorted((shortest, target))
        runs[a:b + 1] = [[runs[a][0], runs[b][1], runs[target][2]]]
        # a merge can leave two same-speaker neighbours: join them so they count as one run
        runs = _join_same(runs)
    return [(a, b) for a, b, _ in runs]


def _join_same(runs: list[list]) -> list[list]:
    joined = [runs[0]]
    for run in runs[1:]:
        if run[2] == joined[-1][2]:
            joined[-1] = [joined[-1][0], run[1], run[2]]
        else:
            joined.append(run)
    return joined


def _join_words(words: list[dict]) -> str:
    """Text of a run of words: Whisper's words carry their leading space, plain tokens do not."""
    texts = [str(w.get("word", "")) for w in words]
    if any(t[:1].isspace() for t in texts[1:]):
        return "".join(texts).strip()
    return " ".join(t.strip() for t in texts).strip()


def _number(value: Any) -> float:
    try:
        return float(value) if value is not None else np.nan
    except (TypeError, ValueError):
        return np.nan


def _word_counts(frame: pd.DataFrame) -> pd.Series:
    text_counts = frame["text"].fillna("").astype(str).str.split().str.len() if "text" in frame else 0
    if "words" not in frame.columns:
        return pd.Series(text_counts, index=frame.index)
    from_words = frame["words"].map(lambda ws: len(ws) if isinstance(ws, list) else np.nan)
    return from_words.fillna(pd.Series(text_counts, index=frame.index)).astype(int)
