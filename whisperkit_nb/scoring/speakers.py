"""Diarization metrics against a reference: DER and the optimal hypothesis-to-reference speaker mapping.

pyannote.metrics (installed with pyannote.audio) does the scoring; it is imported lazily. Turns come as
a DataFrame with ``start``, ``end`` and ``speaker`` columns (what `whisperkit_nb.diarize` returns),
any iterable of objects or dicts with those fields, or a path to an RTTM file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from whisperkit_nb.errors import MissingDependencyError

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")  # before pyannote.metrics pulls in pyannote

TurnsLike = pd.DataFrame | Iterable[Any] | str | os.PathLike


def diarization_error_rate(hypothesis_turns: TurnsLike, reference: TurnsLike, *, collar: float = 0.0,
                           skip_overlap: bool = False) -> float:
    """Diarization error rate: (missed speech + false alarm + speaker confusion) / reference speech.

    The standard full scoring by default: no forgiveness collar around reference boundaries and
    overlapped speech scored (``collar=0, skip_overlap=False``), hypothesis labels mapped to
    reference labels optimally.

    Parameters
    ----------
    hypothesis_turns, reference : DataFrame, iterable of turns, or RTTM path
        Turns with ``start``, ``end`` and ``speaker``; an RTTM file's first URI is used.
    collar : float, default 0.0
        Seconds around each reference boundary left unscored (pyannote's collar is the total width).
    skip_overlap : bool, default False
        Leave regions where reference speakers overlap unscored.

    Returns
    -------
    float
    """
    require_metrics()
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate(collar=collar, skip_overlap=skip_overlap)
    reference, hypothesis = to_annotation(reference), to_annotation(hypothesis_turns)
    return float(metric(reference, hypothesis, uem=scored_extent(reference, hypothesis)))


def scored_extent(reference: Any, hypothesis: Any) -> Any:
    """From the first to the last speech of either side: the region pyannote.metrics scores when given no
    UEM, stated explicitly so that it need not warn that it approximated one."""
    from pyannote.core import Timeline

    extent = reference.get_timeline().extent() | hypothesis.get_timeline().extent()
    return Timeline(segments=[extent] if extent else [], uri=reference.uri)


def speaker_mapping(hypothesis_turns: TurnsLike, reference: TurnsLike) -> dict[str, str]:
    """The hypothesis-to-reference speaker mapping that maximises matched time (Hungarian algorithm).

    Hypothesis speakers left without a reference partner are absent from the result.
    """
    require_metrics()
    from pyannote.metrics.diarization import DiarizationErrorRate

    return dict(DiarizationErrorRate().optimal_mapping(to_annotation(reference), to_annotation(hypothesis_turns)))


def require_metrics() -> None:
    """Raise `MissingDependencyError` naming the ``diarization`` extra when pyannote.metrics is missing."""
    import importlib.util

    if importlib.util.find_spec("pyannote") is None or importlib.util.find_spec("pyannote.metrics") is None:
        raise MissingDependencyError("pyannote.metrics", "diarization", "Diarization metrics")


def to_annotation(turns: TurnsLike, uri: str = "audio") -> Any:
    """A `pyannote.core.Annotation` from turns or an RTTM file."""
    try:
        from pyannote.core import Annotation, Segment
    except ImportError as err:
        raise MissingDependencyError("pyannote.audio", "diarization", "Diarization metrics") from err
    if isinstance(turns, (str, os.PathLike)):
        return _read_rttm(Path(turns))
    rows = turns.to_dict("records") if isinstance(turns, pd.DataFrame) else list(turns)
    annotation = Annotation(uri=uri)
    for i, row in enumerate(rows):
        get = row.get if isinstance(row, dict) else (lambda key, r=row: getattr(r, key))
        if get("end") > get("start"):
            annotation[Segment(float(get("start")), float(get("end"))), i] = str(get("speaker"))
    return annotation


def _read_rttm(path: Path) -> Any:
    from pyannote.core import Annotation, Segment

    annotation = None
    for i, line in enumerate(path.read_text().splitlines()):
        fields = line.split()
        if not fields or fields[0] != "SPEAKER":
            continue
        uri, start, duration, speaker = fields[1], float(fields[3]), float(fields[4]), fields[7]
        if annotation is None:
            annotation = Annotation(uri=uri)
        if uri == annotation.uri:
            annotation[Segment(start, start + duration), i] = speaker
    if annotation is None:
        raise ValueError(f"{path}: no SPEAKER lines")
    return annotation
