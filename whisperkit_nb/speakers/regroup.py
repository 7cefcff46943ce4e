"""Splitting a speaker that holds several voices, from whole turns, for the offline pipeline (stage "speakers").

pyannote's clustering compares voices through 10 s windows. Where similar voices alternate in short turns (two
readers of 1.5-8 s prompts), one window holds both, its embedding is of neither, and the two come out as one
speaker; `whisperkit_nb.speakers.diarize.refine_turns` moves turns between the speakers found but never adds one.
Here each speaker's turns of at least a second, each embedded whole, are clustered afresh (average linkage on cosine
distance), which tells such voices apart, and a speaker whose turns fall into groups far enough apart is split.

Speakers are only ever split here, never merged: clustering all turns afresh also merged voices that pyannote had
kept apart in short files of 3-4 voices with two or three turns each (bench/README.md). The one merge the pipeline
makes comes after, and is narrow: a small speaker whose voice another speaker already has (`fold`). And a turn of a
second or two can sit far from its own voice (a cough, a laugh, a noisy moment), so a group too small to be trusted
rejoins the nearest group: less than `REGROUP_MIN_SHARE` of the file's embedded speech, or less than
`REGROUP_MIN_SPEECH_S` seconds.
Where the low band of the audio is cut (a telephone line passes 300-3400 Hz), the fundamental of most voices is gone
and two people's turns come out more alike: such audio, told by `whisperkit_nb.audio.bandwidth.low_band_share`, is
split at a higher similarity (`split_threshold`). The upper edge alone changes nothing (bench/README.md).
Measured in bench/diarization_recluster.py on flite, espeak-ng, the Asterisk and LibriVox readers and pyannote's real
call, clean, with room noise at 15 and 5 dB SNR and band-passed to a telephone's 300-3400 Hz (or to either edge of
it), one-speaker files and short files of 2-4 voices.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from whisperkit_nb.audio.bandwidth import is_low_cut
from whisperkit_nb.speakers.voices import VOICE_MIN_S

#: Two groups of turns whose average cosine similarity is below this are two voices.
REGROUP_THRESHOLD = 0.55
#: Where the low band is cut (`whisperkit_nb.audio.bandwidth.is_low_cut`), groups less alike than this are two voices.
LOW_CUT_REGROUP_THRESHOLD = 0.7
#: A group with less than this share of the file's embedded turns' duration rejoins the nearest group...
REGROUP_MIN_SHARE = 0.05
#: ... and so does one with less than this many seconds of them: one noisy turn of a short call is not a voice.
REGROUP_MIN_SPEECH_S = 4.0
#: At most this many turns of one speaker (the longest) are clustered; the linkage keeps every pair's distance,
#: 8 bytes each (64 MB for 4,000 turns, some hours of talk). The speaker's other long turns join their nearest group.
MAX_CLUSTERED_TURNS = 4000


def regroup_turns(turns: pd.DataFrame, embedded: tuple[np.ndarray, np.ndarray], *, min_s: float = VOICE_MIN_S,
                  threshold: float = REGROUP_THRESHOLD, min_share: float = REGROUP_MIN_SHARE,
                  min_speech_s: float = REGROUP_MIN_SPEECH_S) -> pd.DataFrame:
    """``turns`` with each speaker that holds several voices split into one speaker per voice.

    Parameters
    ----------
    turns : DataFrame
        Exclusive turns (``start``, ``end``, ``speaker``).
    embedded : (rows, embeddings)
        Unit-normalised embeddings of some of the turns (their row positions), as
        `whisperkit_nb.speakers.diarize.turn_embeddings` returns them.
    min_s : float
        Only turns at least this long are clustered; a shorter turn of a split speaker goes to the group that most
        of that speaker's clustered speech went to.
    threshold, min_share, min_speech_s
        Where groups are cut, and how small a group may be (see the module's constants).

    Returns
    -------
    DataFrame
        A copy of ``turns``; the turns of a split speaker get new labels (``"<speaker>/1"``, ...).
    """
    rows, embeddings = embedded
    duration = (turns.end - turns.start).to_numpy()
    keep = duration[rows] >= min_s
    rows, embeddings = rows[keep], embeddings[keep]
    floor = max(min_share * duration[rows].sum(), min_speech_s)
    old = turns.speaker.to_numpy()
    labels = old.astype(object)
    for speaker in pd.unique(old[rows]):
        mine = np.flatnonzero(old[rows] == speaker)
        groups = _voices(embeddings[mine], duration[rows[mine]], threshold, floor)
        if len(np.unique(groups)) < 2:
            continue
        new = np.array([f"{speaker}/{k}" for k in groups], dtype=object)
        labels[rows[mine]] = new
        short = np.setdiff1d(np.flatnonzero(old == speaker), rows[mine])
        labels[short] = label_with_most_speech(new, duration[rows[mine]])
    regrouped = turns.copy()
    regrouped["speaker"] = labels
    return regrouped


def split_threshold(low_share: float) -> float:
    """The similarity below which `regroup_turns` tells two groups of turns apart, for audio whose speech holds
    ``low_share`` of its energy in the low band (`whisperkit_nb.audio.bandwidth.low_band_share`; ``nan``: unknown,
    taken as full band)."""
    return LOW_CUT_REGROUP_THRESHOLD if is_low_cut(low_share) else REGROUP_THRESHOLD


def label_with_most_speech(labels: np.ndarray, seconds: np.ndarray) -> object:
    """The label whose turns (``seconds`` long each) hold the most speech."""
    return pd.Series(seconds, index=labels).groupby(level=0).sum().idxmax()


def _voices(embeddings: np.ndarray, weights: np.ndarray, threshold: float, floor: float) -> np.ndarray:
    """A group number per turn: average-linkage clusters cut at ``threshold``, each holding ``floor`` seconds."""
    from scipy.cluster.hierarchy import fcluster, linkage

    if len(embeddings) < 2:
        return np.ones(len(embeddings), dtype=int)
    clustered = np.sort(np.argsort(-weights, kind="stable")[:MAX_CLUSTERED_TURNS])
    groups = fcluster(linkage(embeddings[clustered], method="average", metric="cosine"), t=1 - threshold,
                      criterion="distance")
    groups = _fold_small_groups(groups, embeddings[clustered], weights[clustered], floor)
    if len(clustered) == len(embeddings):
        return groups
    centroids = _centroids(groups, embeddings[clustered])
    names = np.array(list(centroids))
    nearest = names[(embeddings @ np.stack(list(centroids.values())).T).argmax(axis=1)]
    nearest[clustered] = groups
    return nearest


def _centroids(groups: np.ndarray, embeddings: np.ndarray) -> dict[int, np.ndarray]:
    """Each group's unit-normalised mean embedding, by group number."""
    means = {k: embeddings[groups == k].mean(axis=0) for k in np.unique(groups)}
    return {k: v / (np.linalg.norm(v) + 1e-9) for k, v in means.items()}


def _fold_small_groups(groups: np.ndarray, embeddings: np.ndarray, weights: np.ndarray, floor: float) -> np.ndarray:
    """Merge the smallest group into the one whose centroid is nearest, while the smallest is under ``floor``."""
    while len(set(groups)) > 1:
        names = sorted(set(groups), key=lambda k: weights[groups == k].sum())
        smallest = names[0]
        if weights[groups == smallest].sum() >= floor:
            break
        centroids = _centroids(groups, embeddings)
        nearest = max(names[1:], key=lambda k: float(centroids[k] @ centroids[smallest]))
        groups = np.where(groups == smallest, nearest, groups)
    return groups
