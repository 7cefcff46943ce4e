"""Stage "speakers", naming: diarized speech matched to enrolment samples of known voices.

``speaker_samples={"Ana": "ana.wav", "Ben": ["ben1.m4a", "ben2.m4a"]}`` names the speakers of each file.
Each sample is embedded with the diarization pipeline's own embedding model (CAM++ offline), in windows
averaged over all of a name's files, and compared by cosine similarity with the voice of each turn of at
least `TURN_MIN_S` (its embedding, `whisperkit_nb.speakers.diarize.turn_embeddings`). A turn takes the
name of its most similar sample where the similarity reaches ``speaker_match_threshold``, and otherwise
keeps its ``SPEAKER_xx`` label; shorter turns follow the nearest named-or-not turn of their diarized
speaker. Turns are judged one by one because diarization merges similar voices into one speaker: a merged
speaker named as a whole would give one voice's name to the other, even to a voice that has no sample.
Turns that take the same name form one speaker, so no two speakers of a file share a name (and a voice
that diarization split in two is joined again). A diarized speaker with no turn long enough is matched as
a whole (its centroid), one speaker per name. Sample embeddings are cached per process, so a corpus embeds
each sample once.

Where the recording's low band is cut, as on a telephone line (`whisperkit_nb.audio.bandwidth.is_low_cut`), voices
grow alike and a sample recorded at full band no longer sounds like its voice on the line (0.6-0.76 against 0.70-0.89
on the same channel): the samples are then band-passed to a telephone's band before they are embedded
(``telephone=True``), and `match_threshold` asks more of a match.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from whisperkit_nb.audio.bandwidth import telephone_band
from whisperkit_nb.audio.source import SAMPLE_RATE
from whisperkit_nb.errors import AudioError
from whisperkit_nb.options import SPEAKER_MATCH_THRESHOLD, SPEAKER_MATCH_THRESHOLD_LOW_CUT, sample_paths
from whisperkit_nb.speakers.voices import VOICE_MIN_S, speaker_centroids

#: Shortest sample file (seconds of audio): below it one voice is not embedded reliably.
MIN_SAMPLE_S = 2.0
#: Turns at least this long are named one by one: the turns that decide a speaker's voice.
TURN_MIN_S = VOICE_MIN_S
#: Long samples are embedded in windows of this length (CAM++ saw utterances of a few seconds in training),
#: whose unit embeddings are averaged, weighted by length; a last window shorter than `MIN_WINDOW_S` is dropped.
WINDOW_S = 10.0
MIN_WINDOW_S = 1.0

_lock = threading.Lock()
_cache: dict[tuple[Any, ...], tuple[np.ndarray, float]] = {}  # (file, mtime, size, embedder, band) -> (sum, s)


def match_threshold(option: float | None, low_cut: bool) -> float:
    """The similarity a match needs: ``speaker_match_threshold`` where given, else the default for the recording's
    band (`SPEAKER_MATCH_THRESHOLD`, or `SPEAKER_MATCH_THRESHOLD_LOW_CUT` where its low band is cut)."""
    if option is not None:
        return float(option)
    return SPEAKER_MATCH_THRESHOLD_LOW_CUT if low_cut else SPEAKER_MATCH_THRESHOLD


def identify_speakers(turns: pd.DataFrame, samples: dict[str, Any], threshold: float, embedder: Any,
                      embedded: tuple[np.ndarray, np.ndarray] | None = None, *,
                      telephone: bool = False) -> pd.DataFrame:
    """Turns renamed after the samples their voices match; ``attrs["speaker_matches"]`` says how.

    Parameters
    ----------
    turns : DataFrame
        `diarize`'s turns, with ``attrs["speaker_embeddings"]`` (label -> unit centroid).
    samples : dict
        ``speaker_samples``: name -> path or list of paths.
    threshold : float
        ``speaker_match_threshold``: the least cosine similarity between a turn's voice and a sample that
        names the turn.
    embedder : Any
        The diarization pipeline's embedder (`whisperkit_nb.speakers.diarize.speaker_embedder`), which made
        the turns' embeddings.
    embedded : (rows, embeddings), optional
        `whisperkit_nb.speakers.diarize.turn_embeddings` of ``turns``; without them speakers are matched as
        wholes, by their centroids.
    telephone : bool
        The recording's low band is cut: the samples are band-passed to a telephone's band before embedding.

    Returns
    -------
    DataFrame
        A copy: ``speaker`` (and ``attrs["overlapping"]``) renamed, ``attrs["speaker_embeddings"]`` keyed by
        the new speakers, ``attrs["speaker_matches"]``: speaker -> ``{"name", "similarity", "closest",
        "diarized", "threshold"}`` (``diarized``: the diarization's labels its turns had; ``threshold``: the one
        used).

    Raises
    ------
    AudioError
        A sample is missing, unreadable or shorter than `MIN_SAMPLE_S`.
    """
    return name_speakers(turns, sample_embeddings(samples, embedder, telephone=telephone), threshold, embedded)


def name_speakers(turns: pd.DataFrame, voices: dict[str, np.ndarray], threshold: float,
                  embedded: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
    """`identify_speakers` with the samples' voices already embedded (name -> unit vector)."""
    rows, embeddings = embedded if embedded is not None else (np.zeros(0, dtype=np.int64), np.zeros((0, 0)))
    labels = name_turns(turns, rows, embeddings, voices, threshold)
    named = turns.copy()
    named["speaker"] = labels
    if isinstance(turns.attrs.get("overlapping"), list):
        named.attrs["overlapping"] = _follow(turns.attrs["overlapping"], turns, labels)
    centroids = _centroids(turns, named, rows, embeddings)
    named.attrs["speaker_embeddings"] = centroids
    named.attrs["speaker_matches"] = _describe(turns, named, centroids, voices, threshold)
    return named


def name_turns(turns: pd.DataFrame, rows: np.ndarray, embeddings: np.ndarray, voices: dict[str, np.ndarray],
               threshold: float) -> list[str]:
    """Each turn's speaker: the sample name its voice matches, else its diarized label (see the module)."""
    names = list(voices)
    speakers = turns.speaker.astype(str).to_numpy()
    duration = (turns.end - turns.start).to_numpy()
    middle = ((turns.start + turns.end) / 2).to_numpy()
    judged: dict[int, str] = {}
    if names:
        stacked = np.stack([voices[n] for n in names])
        for row, embedding in zip(rows, embeddings):
            if duration[row] >= TURN_MIN_S:
                similarity = stacked @ embedding
                best = int(similarity.argmax())
                judged[int(row)] = names[best] if similarity[best] >= threshold else speakers[row]
    judged_rows: dict[str, list[int]] = {}
    for row in judged:
        judged_rows.setdefault(speakers[row], []).append(row)
    wholes = {label: voice for label, voice in (turns.attrs.get("speaker_embeddings") or {}).items()
              if label not in judged_rows}
    as_whole = {label: m["name"] or label for label, m in match_speakers(wholes, voices, threshold).items()}
    mine = {speaker: np.array(found) for speaker, found in judged_rows.items()}
    labels = []
    for row, speaker in enumerate(speakers):
        if row in judged:
            labels.append(judged[row])
        elif speaker in mine:
            nearest = mine[speaker][np.abs(middle[mine[speaker]] - middle[row]).argmin()]
            labels.append(judged[int(nearest)])
        else:
            labels.append(as_whole.get(speaker, speaker))
    return labels


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


def sample_embeddings(samples: dict[str, Any], embedder: Any, *, telephone: bool = False) -> dict[str, np.ndarray]:
    """Each name's voice (a unit vector) from its sample files (``speaker_samples``), with ``embedder``; with
    ``telephone``, as heard through a telephone's band (`whisperkit_nb.audio.bandwidth.telephone_band`).

    Each file's embeddings are cached per process (by path, modification time, size, embedder and band).
    """
    voices = {}
    for name, paths in samples.items():
        total = sum(_embed_file(path, embedder, telephone)[0] for path in sample_paths(paths))
        voices[name] = total / (np.linalg.norm(total) + 1e-9)
    return voices


def clear_cache() -> None:
    """Forget the sample embeddings computed so far (they are kept per process)."""
    with _lock:
        _cache.clear()


def _embed_file(path: Any, embedder: Any, telephone: bool = False) -> tuple[np.ndarray, float]:
    """(length-weighted sum of unit window embeddings, seconds) of one sample file (band-passed to a telephone's
    band with ``telephone``), cached per process."""
    import torch

    from whisperkit_nb.audio.source import open_audio

    name = os.fspath(path)
    try:
        stat = Path(name).stat()
    except OSError:
        raise AudioError(name, "speaker sample not found") from None
    key = (str(Path(name).resolve()), stat.st_mtime_ns, stat.st_size, id(embedder), telephone)
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
    if telephone:
        samples = telephone_band(samples)
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


def _follow(overlapping: list[dict], turns: pd.DataFrame, labels: list[str]) -> list[dict]:
    """The overlapped-speech turns renamed as the exclusive turns of the same diarized speaker they overlap
    most (or lie nearest to)."""
    speakers = turns.speaker.astype(str).to_numpy()
    starts, ends = turns.start.to_numpy(), turns.end.to_numpy()
    renamed = []
    for turn in overlapping:
        mine = np.flatnonzero(speakers == str(turn.get("speaker")))
        if not len(mine):
            renamed.append(dict(turn))
            continue
        overlap = np.minimum(ends[mine], turn["end"]) - np.maximum(starts[mine], turn["start"])
        renamed.append({**turn, "speaker": labels[int(mine[int(overlap.argmax())])]})
    return renamed


def _centroids(turns: pd.DataFrame, named: pd.DataFrame, rows: np.ndarray,
               embeddings: np.ndarray) -> dict[str, list[float]]:
    """Each new speaker's voice from its turns' embeddings; one matched as a whole keeps its old centroid."""
    old = turns.attrs.get("speaker_embeddings") or {}
    centroids = speaker_centroids(named, rows, embeddings) if len(rows) else {}
    for label, speaker in zip(named.speaker, turns.speaker.astype(str)):
        if label not in centroids and speaker in old:
            centroids[label] = old[speaker]
    return centroids


def _describe(turns: pd.DataFrame, named: pd.DataFrame, centroids: dict[str, list[float]],
              voices: dict[str, np.ndarray], threshold: float) -> dict[str, dict[str, Any]]:
    """``speaker_matches``: for each speaker of the result, its name (None for a SPEAKER_xx), its voice's
    similarity to that sample (unnamed: to the closest one, ``closest``), its diarized labels and the ``threshold``
    its turns were judged by."""
    origin: dict[str, list[str]] = {}
    for label, speaker in zip(named.speaker, turns.speaker.astype(str)):
        origin.setdefault(label, [])
        if speaker not in origin[label]:
            origin[label].append(speaker)
    matches = {}
    for label, diarized in origin.items():
        centroid = centroids.get(label)
        name = label if label in voices else None
        similarity = closest = None
        if centroid is not None and voices:
            scores = {n: float(np.dot(centroid, v)) for n, v in voices.items()}
            closest = name or max(scores, key=scores.get)
            similarity = round(scores[closest], 4)
        matches[label] = {"name": name, "similarity": similarity, "closest": closest, "diarized": sorted(diarized),
                          "threshold": threshold}
    return matches
