"""Speaker linking: one label per voice across a corpus, from each file's speaker embeddings.

Diarization labels speakers per file (``SPEAKER_00`` is whoever speaks first *in that file*). Linking puts
the same voice under one corpus-wide label, ``corpus_speaker``, beside the per-file ``speaker``:

- each file's facts hold ``speaker_embeddings`` (label -> unit-normalised centroid of that speaker's turn
  embeddings, CAM++ with the offline pipeline); every (file, speaker) is one point;
- the points are clustered bottom-up (agglomerative, **average linkage** on cosine similarity): the two
  most similar clusters merge while the mean similarity between their members is above the threshold
  (``speaker_link_threshold``);
- two speakers of one file (diarization said they are different voices) come together only through other
  files: clusters that share a file merge only when one of them also holds another file's speakers, and
  only at a mean similarity of at least the threshold plus `SAME_FILE_MARGIN`. Diarization splits a voice
  in two now and then (a pause, a change of tone); its two halves then rejoin under the label that voice has
  in the rest of the corpus, while two speakers of one file that no other file's voice ties together stay
  apart (`bench/speaker_linking.py` measured both);
- speakers named from voice samples (facts ``speaker_matches``) and through ``speaker_names`` keep their
  names: speakers of the same name start in one cluster, clusters of two different names never merge, and
  a cluster holding a name is labelled with it; the unnamed clusters are labelled ``S01``, ``S02``, ... in
  order of first appearance (the file order of the corpus, then order of first speech inside the file).

Linking reads only the stored facts, so re-linking with another threshold re-runs nothing. A file without
embeddings (no diarization, or a result stored before embeddings were kept) gets no corpus label.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from whisperkit_nb.corpus.store import Store

#: The column linking adds, right after ``speaker``.
CORPUS_SPEAKER = "corpus_speaker"
#: How much more alike (mean cosine similarity above ``speaker_link_threshold``) two clusters that hold speakers
#: of one file must be to merge. Chosen with the threshold on corpora drawn from the tune files of
#: `bench/speaker_linking.py` (``--compositions``, speaker-linking-2026-12-04-1140.json): at 0.76 no margin is
#: needed (none of 153 corpora merges two voices; a wider margin only links fewer pairs); the other-file rule
#: above is what keeps one file's speakers apart. At 0.70 a margin of 0.04 was needed (0.0 merged two voices).
SAME_FILE_MARGIN = 0.0


@dataclass(frozen=True)
class Linking:
    """The corpus labels of a set of files.

    Attributes
    ----------
    threshold : float
        The cosine-similarity threshold used.
    labels : dict
        file -> {speaker as the file's rows show it (its label, or its name) -> corpus label}.
    unlinked : dict
        file -> why it got no corpus labels (no speaker embeddings in its facts).
    """

    threshold: float
    labels: dict[str, dict[str, str]]
    unlinked: dict[str, str] = field(default_factory=dict)

    def column(self, frame: pd.DataFrame, file: str | None = None) -> pd.Series:
        """``corpus_speaker`` for the rows of ``frame`` (its ``file`` column, else ``file``); None where the
        file is not linked or the row's speaker is none of the file's diarized speakers (an edit)."""
        files = frame["file"] if "file" in frame.columns else pd.Series(file, index=frame.index)
        speakers = frame["speaker"] if "speaker" in frame.columns else pd.Series(None, index=frame.index)
        values = [self.labels.get(f, {}).get(s) if isinstance(s, str) else None for f, s in zip(files, speakers)]
        return pd.Series(values, index=frame.index, dtype=object)

    def as_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "labels": self.labels, "unlinked": self.unlinked}


def link_files(files: Mapping[str, Mapping[str, Any]], threshold: float,
               speaker_names: Mapping[str, str] | None = None, *,
               same_file_margin: float = SAME_FILE_MARGIN) -> Linking:
    """Link the speakers of ``files`` (name -> facts, in corpus order) into corpus labels.

    Parameters
    ----------
    files : mapping
        Each file's facts, as ``df.attrs["files"]`` or a store holds them: ``speaker_embeddings`` (keyed by
        label, or by the sample's name for a speaker ``speaker_samples`` named; in order of first speech)
        and ``speaker_matches`` (which keys are such names).
    threshold : float
        Two clusters merge while the mean cosine similarity between their members is above it.
    speaker_names : mapping, optional
        The run's ``speaker_names`` option (label -> name): the rows show these names, which count as names.
    same_file_margin : float
        `SAME_FILE_MARGIN` (the bench sweeps it).
    """
    points: list[tuple[str, str, str, str | None]] = []  # (file, key in the facts, as rows show it, name)
    vectors, unlinked = [], {}
    for file, facts in files.items():
        embeddings = (facts or {}).get("speaker_embeddings")
        if not embeddings:
            unlinked[file] = "no speaker embeddings (diarize=False, or a result stored before they were kept)"
            continue
        matched = _matched_names(facts)
        for key in embeddings:  # in order of first speech
            shown = (speaker_names or {}).get(key, key)  # the option renames after the samples named
            name = key if key in matched else (shown if shown != key else None)
            points.append((file, key, shown, name))
            vectors.append(np.asarray(embeddings[key], dtype=np.float64))
    cluster = cluster_speakers(np.array(vectors) if vectors else np.zeros((0, 1)), [p[0] for p in points],
                               [p[3] for p in points], threshold, same_file_margin=same_file_margin)
    corpus_labels = _cluster_labels(cluster, [p[3] for p in points])
    labels: dict[str, dict[str, str]] = {}
    for (file, _, shown, _), k in zip(points, cluster):
        labels.setdefault(file, {})[shown] = corpus_labels[k]
    return Linking(float(threshold), labels, unlinked)


def cluster_speakers(vectors: np.ndarray, groups: list[str], names: list[str | None], threshold: float, *,
                     same_file_margin: float = SAME_FILE_MARGIN) -> np.ndarray:
    """Average-linkage clustering of ``vectors`` on cosine similarity (merging above ``threshold``), under the
    rules of the module docstring; ``groups`` says each vector's file.

    Returns a cluster index per vector (0, 1, ... in order of each cluster's first vector).
    """
    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=int)
    unit = vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12)
    distance = 1.0 - unit @ unit.T
    # Start from one cluster per speaker, speakers of the same name already together.
    start: dict[Any, int] = {}
    member = np.array([start.setdefault(("name", nm) if nm else ("point", i), len(start))
                       for i, nm in enumerate(names)])
    k = len(start)
    size = np.bincount(member, minlength=k).astype(float)
    onehot = np.zeros((k, n))
    onehot[member, np.arange(n)] = 1.0
    # Average linkage between clusters: the mean of their pairwise distances (Lance-Williams keeps it exact).
    between = onehot @ distance @ onehot.T / np.outer(size, size)
    group_codes = pd.factorize(pd.Series(groups, dtype=object))[0]
    in_file = np.zeros((k, group_codes.max() + 1))
    in_file[member, group_codes] = 1.0
    shares_file = in_file @ in_file.T > 0
    one_file = in_file.sum(axis=1) == 1  # a cluster whose speakers all come from one file
    # Pairs that may never merge: two different names.
    name_code = np.full(k, -1)
    name_code[member] = pd.factorize(pd.Series(names, dtype=object))[0]  # -1 for no name
    named = name_code >= 0
    conflict = named[:, None] & named[None, :] & (name_code[:, None] != name_code[None, :])
    np.fill_diagonal(conflict, True)
    alive = np.ones(k, dtype=bool)
    while True:
        # A merge needs a distance below its limit: 1 - threshold, or 1 - (threshold + margin) for clusters that
        # share a file; the pair furthest below its own limit merges first. Two clusters of the same single file
        # never merge: no other file's speaker ties them together.
        limit = np.where(shares_file, 1.0 - threshold - same_file_margin, 1.0 - threshold)
        blocked = conflict | (shares_file & one_file[:, None] & one_file[None, :])
        blocked |= ~alive[:, None] | ~alive[None, :]
        candidates = np.where(blocked, np.inf, between - limit)
        a, b = np.unravel_index(np.argmin(candidates), candidates.shape)
        if not candidates[a, b] < 0.0:
            break
        a, b = min(a, b), max(a, b)
        merged = (size[a] * between[a] + size[b] * between[b]) / (size[a] + size[b])
        between[a], between[:, a] = merged, merged
        conflict[a] |= conflict[b]
        conflict[:, a] |= conflict[:, b]
        shares_file[a] |= shares_file[b]
        shares_file[:, a] |= shares_file[:, b]
        one_file[a] = False  # it spans two files, or a file and a cluster of several
        size[a] += size[b]
        alive[b] = False
        member[member == b] = a
    return pd.factorize(pd.Series(member))[0]


def link_store(store: Store, entries: list[dict[str, Any]], threshold: float,
               speaker_names: Mapping[str, str] | None = None) -> Linking:
    """Link the done inputs of a store from their results' stored facts, and record it in the store
    (`whisperkit_nb.corpus.store.LINKS`). The caller holds the store's lock."""
    done = [e for e in entries if e.get("status") == "done" and e.get("result")]
    facts = {e["file"]: store.read_facts(store.root / e["result"]).get("facts", {}) for e in done}
    linking = link_files(facts, threshold, speaker_names)
    store.write_links({
        "threshold": linking.threshold, "speaker_names": dict(speaker_names or {}),
        "files": {e["file"]: {"result": e["result"], "speakers": linking.labels[e["file"]]}
                  for e in done if e["file"] in linking.labels},
        "unlinked": linking.unlinked,
    })
    return linking


def stored_linking(store: Store, entries: list[dict[str, Any]]) -> Linking | None:
    """The store's linking, for the inputs whose result is still the one linked (None: never linked).
    An input whose result changed since (speaker options changed in a run without linking) is unlinked."""
    links = store.read_links()
    if links is None:
        return None
    current = {e["file"]: e.get("result") for e in entries if e.get("status") == "done"}
    labels, unlinked = {}, dict(links.get("unlinked", {}))
    for file, linked in links.get("files", {}).items():
        if current.get(file) == linked["result"]:
            labels[file] = linked["speakers"]
        elif file in current:
            unlinked[file] = "its result changed since the corpus was linked: link again"
    for file in current.keys() - labels.keys() - unlinked.keys():
        unlinked[file] = "done after the corpus was linked: link again"
    return Linking(float(links["threshold"]), labels, unlinked)


def link_frame(df: pd.DataFrame, threshold: float | None = None,
               speaker_names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The transcript with ``corpus_speaker``: its files' speakers linked (see the module docstring).

    Parameters
    ----------
    df : DataFrame
        A diarized transcript of several files (`transcribe` with ``diarize=True``, or a corpus frame); its
        ``attrs["files"]`` hold each file's ``speaker_embeddings``.
    threshold : float, optional
        ``speaker_link_threshold`` (default: the option's default).
    speaker_names : mapping, optional
        The ``speaker_names`` the transcript was made with, if any.

    Returns
    -------
    DataFrame
        A copy with ``corpus_speaker`` after ``speaker``; ``attrs["speaker_links"]`` is the `Linking` as a dict.
    """
    threshold = default_threshold() if threshold is None else float(threshold)
    return with_corpus_speaker(df, link_files(df.attrs.get("files", {}), threshold, speaker_names))


def with_corpus_speaker(df: pd.DataFrame, linking: Linking) -> pd.DataFrame:
    """A copy of ``df`` with ``corpus_speaker`` (after ``speaker``) and ``attrs["speaker_links"]``."""
    single = next(iter(df.attrs.get("files", {})), None)
    column = linking.column(df, single)
    out = df.drop(columns=[CORPUS_SPEAKER], errors="ignore")
    at = out.columns.get_loc("speaker") + 1 if "speaker" in out.columns else len(out.columns)
    out.insert(at, CORPUS_SPEAKER, column)
    out.attrs = {**df.attrs, "speaker_links": linking.as_dict()}
    return out


def default_threshold() -> float:
    from whisperkit_nb.options import TranscribeOptions

    return float(TranscribeOptions.speaker_link_threshold)


def _matched_names(facts: Mapping[str, Any]) -> set[str]:
    """The names given from voice samples (facts ``speaker_matches``: speaker -> ``{"name", ...}``); the
    speaker's embedding is keyed by that name."""
    matches = facts.get("speaker_matches") or {}
    return {m["name"] for m in matches.values() if isinstance(m, Mapping) and isinstance(m.get("name"), str)}


def _cluster_labels(cluster: np.ndarray, names: list[str | None]) -> dict[int, str]:
    """A cluster's name when it holds one, else S01, S02, ... in order of first appearance."""
    named = {k: nm for k, nm in zip(cluster, names) if nm}
    labels, count = {}, 0
    for k in dict.fromkeys(cluster.tolist()):
        if k in named:
            labels[k] = named[k]
        else:
            count += 1
            labels[k] = f"S{count:02d}"
    return labels
