"""Stage "speakers", naming: diarized speakers matched to enrolment samples of known voices.

``speaker_samples={"Ana": "ana.wav", "Ben": ["ben1.m4a", "ben2.m4a"]}`` names the speakers of each file.
Each sample is embedded with the diarization pipeline's own embedding model (CAM++ offline), in windows
averaged over all of a name's files, and compared by cosine similarity with each speaker's voice (the
centroid of its turns' embeddings, `whisperkit_nb.speakers.diarize.speaker_centroids`). Names are given
one-to-one (Hungarian assignment on the similarities), only where the similarity reaches
``speaker_match_threshold``; other speakers keep their ``SPEAKER_xx`` label. Sample embeddings are cached
per process, so a corpus embeds each sample once.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from whisperkit_nb.audio.source import SAMPLE_RATE
from whisperkit_nb.errors import AudioError

#: Shortest sample file (seconds of audio): below it one voice is not embedded reliably.
MIN_SAMPLE_S = 2.0
#: Long samples are embedded in windows of this length (CAM++ saw utterances of a few seconds in training),
#: whose unit embeddings are averaged, weighted by length; a last window shorter than `MIN_WINDOW_S` is dropped.
WINDOW_S = 10.0
MIN_WINDOW_S = 1.0

_lock = threading.Lock()
_cache: dict[tuple[Any, ...], tuple[np.ndarray, float]] = {}  # (file, mtime, size, embedder) -> (sum, seconds)


def identify_speakers(turns: pd.DataFrame, samples: dict[str, Any], threshold: float, embedder: Any) -> pd.DataFrame:
    """Turns with matched speakers renamed to their samples' names; ``attrs["speaker_matches"]`` says how.

    Parameters
    ----------
    turns : DataFrame
        `diarize`'s turns, with ``attrs["speaker_embeddings"]`` (label -> unit centroid).
    samples : dict
        ``speaker_samples``: name -> path or list of paths.
    threshold : float
        ``speaker_match_threshold``: the least cosine similarity that names a speaker.
    embedder : Any
        The diarization pipeline's embedder (`whisperkit_nb.speakers.diarize.speaker_embedder`), which made
        the turns' embeddings.

    Returns
    -------
    DataFrame
        A copy: ``speaker`` (and ``attrs["overlapping"]``) renamed, ``attrs["speaker_embeddings"]`` keyed by
        the new names, ``attrs["speaker_matches"]``: ``SPEAKER_xx`` -> ``{"name", "similarity", "closest"}``.

    Raises
    ------
    AudioError
        A sample is missing, unreadable or shorter than `MIN_SAMPLE_S`.
    """
    from whisperkit_nb.speakers.assign import rename_speakers

    voices = turns.attrs.get("speaker_embeddings") or {}
    matches = match_speakers(voices, sample_embeddings(samples, embedder), threshold)
    names = {label: m["name"] for label, m in matches.items() if m["name"] is not None}
    named = rename_speakers(turns, names)
    named.attrs["speaker_embeddings"] = {names.get(label, label): v for label, v in voices.items()}
    named.attrs["speaker_matches"] = matches
    return named


def match_speakers(voices: dict[str, list[float]], samples: dict[str, np.ndarray],
                   threshold: float) -> dict[str, dict[str, Any]]:
    """One-to-one names for voices: the assignment with the largest total similarity, pairs below
    ``threshold`` left unnamed. Every voice gets an entry, with its closest sample."""
    from scipy.optimize import linear_sum_assignment

    labels, names = list(voices), list(samples)
    if not labels or not names:
        return {label: {"name": None, "similarity": None, "closest": None} for label in labels}
    similarity = np.array([voices[label] for label in labels]) @ np.stack([samples[n] for n in names]).T
    # pairs below the threshold cost as if absent, so they never displace a pair above it
    gain = np.where(similarity >= threshold, similarity, threshold - 2.0)
    rows, cols = linear_sum_assignment(-gain)
    chosen = {r: c for r, c in zip(rows, cols) if similarity[r, c] >= threshold}
    matches = {}
    for r, label in enumerate(labels):
        c = chosen.get(r, int(similarity[r].argmax()))
        matches[label] = {"name": names[c] if r in chosen else None,
                          "similarity": round(float(similarity[r, c]), 4), "closest": names[c]}
    return matches


def sample_embeddings(samples: dict[str, Any], embedder: Any) -> dict[str, np.ndarray]:
    """Each name's voice (a unit vector) from its sample files (``speaker_samples``), with ``embedder``.

    Each file's embeddings are cached per process (by path, modification time, size and embedder).
    """
    voices = {}
    for name, paths in samples.items():
        paths = list(paths) if isinstance(paths, (list, tuple)) else [paths]
        total = sum(_embed_file(path, embedder)[0] for path in paths)
        voices[name] = total / (np.linalg.norm(total) + 1e-9)
    return voices


def clear_cache() -> None:
    """Forget the sample embeddings computed so far (they are kept per process)."""
    with _lock:
        _cache.clear()


def _embed_file(path: Any, embedder: Any) -> tuple[np.ndarray, float]:
    """(length-weighted sum of unit window embeddings, seconds) of one sample file, cached per process."""
    import torch

    from whisperkit_nb.audio.source import open_audio

    name = os.fspath(path)
    try:
        stat = Path(name).stat()
    except OSError:
        raise AudioError(name, "speaker sample not found") from None
    key = (str(Path(name).resolve()), stat.st_mtime_ns, stat.st_size, id(embedder))
    with _lock:
        if key in _cache:
            return _cache[key]
    try:
        samples = open_audio(name, "fail").in_memory().samples
    except AudioError as err:
        raise AudioError(name, f"speaker sample cannot be read: {err.reason}") from None
    seconds = len(samples) / SAMPLE_RATE
    if seconds < MIN_SAMPLE_S:
        raise AudioError(name, f"speaker sample lasts {seconds:.1f} s; a sample needs at least {MIN_SAMPLE_S:g} s "
                               "of one voice (a few seconds to a minute is best)")
    window = int(WINDOW_S * SAMPLE_RATE)
    clips = [samples[i : i + window] for i in range(0, len(samples), window)]
    clips = [c for c in clips if len(c) >= MIN_WINDOW_S * SAMPLE_RATE] or [samples]
    waveform = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    tensors = [waveform[i * window : i * window + len(c)] for i, c in enumerate(clips)]
    with torch.inference_mode():
        embeddings = embedder.embed_waveforms(tensors).float().cpu().numpy()
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True) + 1e-9
    weights = np.array([len(c) for c in clips], dtype=np.float64)[:, None] / SAMPLE_RATE
    result = ((embeddings * weights).sum(axis=0), seconds)
    with _lock:
        _cache[key] = result
    return result
