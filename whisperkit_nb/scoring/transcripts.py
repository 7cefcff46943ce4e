"""`score`: automatic transcripts against hand-corrected ones, file by file (WER, and DER with speakers)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from whisperkit_nb.scoring.speakers import require_metrics, scored_extent, to_annotation
from whisperkit_nb.scoring.words import Normalizer, wer_details

if TYPE_CHECKING:
    from collections.abc import Hashable

TOTAL = "all"  # the index label of the row that sums every file


def score(transcript: pd.DataFrame, reference: pd.DataFrame | str, *, normalize: str | Normalizer | None = "basic",
          collar: float = 0.0) -> pd.DataFrame:
    """Word error rate (and diarization error rate) of a transcript against its hand-corrected version.

    For the usual check of an automatic corpus: correct a sample of transcripts by hand (text, and speakers
    when diarized), then score the automatic ones against them. Rows need not match one to one: a reference
    may merge, split, add or drop segments; only each file's words in time order, and its speaker turns,
    are compared.

    Parameters
    ----------
    transcript : pandas.DataFrame
        As `transcribe` returns it: ``file``, ``start``, ``end``, ``text`` (and ``speaker``).
    reference : pandas.DataFrame or str
        The corrected transcripts, with the same columns (``file`` needed when ``transcript`` holds several
        files; only the files it holds are scored); or, for a one-file transcript, the corrected text.
    normalize : {"basic", "english", "letters"}, callable or None, default "basic"
        Applied to both sides before counting words, as in `word_error_rate`: ``"basic"`` (lower case, no
        punctuation; any language written with spaces), ``"english"`` (Whisper's English normaliser, as published
        WERs use; needs the ``eval`` extra), ``"letters"`` (Chinese, Japanese, Thai and other languages written
        without spaces: every character counts as a word, so ``wer`` is a character error rate), a callable, or
        None (split on whitespace only).
    collar : float, default 0.0
        Seconds around each reference speaker change left out of the DER.

    Returns
    -------
    pandas.DataFrame
        Indexed by file, plus a last row ``"all"`` over every file: ``wer``, ``substitutions``,
        ``deletions``, ``insertions``, ``reference_words``, and ``der`` (NaN unless both sides have speakers;
        needs the ``diarization`` extra).

    Raises
    ------
    ValueError
        The reference names a file the transcript does not hold, or a reference has no words.
    MissingDependencyError
        ``normalize="english"`` without the ``eval`` extra, or speakers to score without pyannote.metrics.
    """
    pairs = _pairs(transcript, reference)
    rows: dict[Hashable, dict[str, Any]] = {}
    der_metric = None
    for name, (hyp, ref) in pairs.items():
        details = wer_details(_text(ref), _text(hyp), normalize=normalize)
        rows[name] = {"wer": details.wer, "substitutions": details.substitutions, "deletions": details.deletions,
                      "insertions": details.insertions, "reference_words": details.reference_words, "der": np.nan}
        if _has_speakers(hyp) and _has_speakers(ref):
            der_metric = der_metric or _der_metric(collar)
            rows[name]["der"] = _der(der_metric, hyp, ref, str(name))
    table = pd.DataFrame.from_dict(rows, orient="index")
    totals = table[["substitutions", "deletions", "insertions", "reference_words"]].sum()
    errors = totals["substitutions"] + totals["deletions"] + totals["insertions"]
    total_der = abs(der_metric) if der_metric is not None else np.nan  # pyannote's corpus-level DER
    table.loc[TOTAL] = {**totals.to_dict(), "wer": errors / totals["reference_words"], "der": total_der}
    table = table.astype({c: "int64" for c in ("substitutions", "deletions", "insertions", "reference_words")})
    return table.rename_axis("file")


def _pairs(transcript: pd.DataFrame, reference: pd.DataFrame | str) -> dict[Hashable, tuple[pd.DataFrame, Any]]:
    """(transcript rows, reference rows or text) per file scored."""
    files = list(dict.fromkeys(transcript["file"])) if "file" in transcript.columns else []
    if isinstance(reference, str):
        if len(files) > 1:
            raise ValueError("A reference text scores one file; this transcript holds several: pass a reference "
                             "DataFrame with a file column.")
        return {files[0] if files else "<transcript>": (transcript, reference)}
    if "file" not in reference.columns or "file" not in transcript.columns:
        if len(files) > 1:
            raise ValueError("The reference has no file column; this transcript holds several files.")
        return {files[0] if files else "<transcript>": (transcript, reference)}
    pairs = {}
    for name in dict.fromkeys(reference["file"]):
        if name not in files:
            raise ValueError(f"The reference holds {name!r}, which the transcript does not.")
        pairs[name] = (transcript[transcript["file"] == name], reference[reference["file"] == name])
    return pairs


def _text(rows: pd.DataFrame | str) -> str:
    if isinstance(rows, str):
        return rows
    ordered = rows.sort_values("start", kind="stable") if "start" in rows.columns else rows
    return " ".join(str(t).strip() for t in ordered["text"] if isinstance(t, str) and t.strip())


def _has_speakers(rows: pd.DataFrame | str) -> bool:
    return isinstance(rows, pd.DataFrame) and "speaker" in rows.columns and rows["speaker"].notna().any()


def _der_metric(collar: float) -> Any:
    require_metrics()
    from pyannote.metrics.diarization import DiarizationErrorRate

    return DiarizationErrorRate(collar=collar)


def _der(metric: Any, hyp: pd.DataFrame, ref: pd.DataFrame, uri: str) -> float:
    """This file's DER; ``metric`` also accumulates it for the corpus figure."""
    def turns(rows: pd.DataFrame) -> pd.DataFrame:
        return rows.loc[rows["speaker"].notna(), ["start", "end", "speaker"]]

    reference, hypothesis = to_annotation(turns(ref), uri), to_annotation(turns(hyp), uri)
    return float(metric(reference, hypothesis, uem=scored_extent(reference, hypothesis)))
