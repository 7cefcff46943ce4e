"""Speakers' voices: the unit-normalised centroids of their turns' speaker embeddings, as diarization records
them (``speaker_embeddings``) and as naming from samples recomputes them for the speakers it forms."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Turns at least this long decide a speaker's voice: shorter ones embed a voice less surely.
VOICE_MIN_S = 1.0


def speaker_centroids(turns: pd.DataFrame, rows: np.ndarray, embeddings: np.ndarray,
                      min_s: float = VOICE_MIN_S) -> dict[str, list[float]]:
    """Each speaker's voice: the unit-normalised, duration-weighted mean of its turns' embeddings.

    Turns of at least ``min_s`` only, where the speaker has any (short turns embed a voice less surely);
    a speaker with no embedded turn at all is left out.
    """
    duration = (turns.end - turns.start).to_numpy()[rows]
    speakers = turns.speaker.to_numpy()[rows]
    centroids = {}
    for speaker in dict.fromkeys(turns.speaker):
        mine = speakers == speaker
        if (mine & (duration >= min_s)).any():
            mine &= duration >= min_s
        if not mine.any():
            continue
        centroid = (embeddings[mine] * duration[mine, None]).sum(axis=0)
        centroid /= np.linalg.norm(centroid) + 1e-9
        centroids[str(speaker)] = [round(float(v), 6) for v in centroid]
    return centroids
