"""Folding a small speaker back into the voice it repeats, for the offline pipeline (stage "speakers").

pyannote's clustering sometimes keeps a few turns of one voice apart as a speaker of its own: a file of three
people comes back with four, the fourth holding a few seconds of someone already there. Whole-turn CAM++ embeddings
tell such a speaker from a real one: its voice (the duration-weighted centroid of its turns, as
`whisperkit_nb.speakers.voices.speaker_centroids` gives it) is nearly that of another speaker.

Only a small speaker is folded, less than `FOLD_MAX_SHARE` of the file's speech, and only into a speaker whose voice
is at least `FOLD_MIN_SIMILARITY` alike. Two established speakers are never merged: the voices that come closest
to each other in the bench (two Asterisk readers, 0.69-0.77 alike) each held 18% of their file or more, while the
speakers under 15% with a voice of their own stayed 0.59 or less alike to any other (bench/README.md, "Folding a small
speaker"). Measured in bench/speaker_fold.py on the same files as the speaker split (`regroup`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from whisperkit_nb.speakers.voices import VOICE_MIN_S, speaker_centroids

#: A speaker with less than this share of the file's speech (its exclusive turns) may be folded into another...
FOLD_MAX_SHARE = 0.15
#: ... whose voice is at least this alike (cosine similarity of the speakers' centroids).
FOLD_MIN_SIMILARITY = 0.70


def fold_small_speakers(turns: pd.DataFrame, embedded: tuple[np.ndarray, np.ndarray], *, min_s: float = VOICE_MIN_S,
                        max_share: float = FOLD_MAX_SHARE,
                        min_similarity: float = FOLD_MIN_SIMILARITY) -> pd.DataFrame:
    """``turns`` with each small speaker whose voice is another speaker's relabelled as that speaker.

    Parameters
    ----------
    turns, embedded
        As for `whisperkit_nb.speakers.regroup.regroup_turns`: exclusive turns and some of their embeddings.
    min_s : float
        A speaker's voice is taken from its turns at least this long, where it has any.
    max_share, min_similarity
        Which speakers count as small, and how alike two voices must be (see the module's constants).

    Returns
    -------
    DataFrame
        A copy of ``turns``. The smallest speaker is looked at first; once folded, the voices are taken again, so
        a speaker that grew is compared as it now is. A speaker with no embedded turn is left as it is.
    """
    rows, embeddings = embedded
    duration = (turns.end - turns.start).to_numpy()
    labels = turns.speaker.to_numpy().astype(object)
    limit = max_share * duration.sum()
    kept: set = set()  # small speakers already found to be voices of their own
    folded = turns.copy()
    while True:
        folded["speaker"] = labels
        voices = {k: np.asarray(v) for k, v in speaker_centroids(folded, rows, embeddings, min_s).items()}
        speech = pd.Series(duration, index=labels).groupby(level=0).sum().sort_values(kind="stable")
        small = [s for s in speech.index if speech[s] < limit and s in voices and s not in kept]
        if not small or len(voices) < 2:
            return folded
        speaker = small[0]
        similarity, nearest = max((float(voices[speaker] @ voices[other]), other)
                                  for other in voices if other != speaker)
        if similarity < min_similarity:
            kept.add(speaker)
            continue
        labels = np.where(labels == speaker, nearest, labels).astype(object)
