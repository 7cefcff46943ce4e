"""Speakers linked across a corpus's files (``link_speakers=True``, `Corpus.link_speakers`).

Real diarization (the offline pipeline, CAM++ embeddings) and real tiny.en Whisper on four short flite
conversations, each of two voices, the voices recurring across files: slt in three files, rms, awb and kal16
in one or two.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import whisperkit_nb as wk
from whisperkit_nb.corpus.link import cluster_speakers, link_files

OPTIONS = {"model": "tiny.en", "progress": False, "diarize": True, "num_speakers": 2}
PAIRS = [("slt", "rms"), ("slt", "awb"), ("rms", "kal16"), ("slt", "kal16")]


@pytest.fixture(scope="module")
def conversations(tmp_path_factory) -> tuple[Path, dict[str, list]]:
    """Four files (8 turns, about 20 s each) and their reference turns by file name."""
    from assets import flite_conversation

    folder = tmp_path_factory.mktemp("linking")
    turns = {}
    for index, pair in enumerate(PAIRS):
        fixture = flite_conversation(pair, turns=8, seed=40 + index)
        name = folder / f"{index}_{'-'.join(pair)}.wav"
        shutil.copy(fixture.path, name)
        turns[str(name)] = fixture.turns
    return folder, turns


@pytest.fixture(scope="module")
def linked(conversations, tmp_path_factory):
    """A linked run over the first three files, then one over all four (the first three found done)."""
    folder, _ = conversations
    store = tmp_path_factory.mktemp("store")
    files = sorted(map(str, folder.glob("*.wav")))
    first = wk.transcribe_corpus(files[:3], store, link_speakers=True, **OPTIONS)
    corpus = wk.transcribe_corpus(files, store, link_speakers=True, **OPTIONS)
    return store, first, corpus


def _voices(frame: pd.DataFrame, turns: dict[str, list]) -> dict[tuple[str, str], str]:
    """(file, speaker) -> the reference voice most of its segments' time belongs to."""
    spoken: dict[tuple[str, str], dict[str, float]] = {}
    for row in frame.itertuples():
        for turn in turns[row.file]:
            overlap = min(row.end, turn.end) - max(row.start, turn.start)
            if overlap > 0:
                votes = spoken.setdefault((row.file, row.speaker), {})
                votes[turn.speaker] = votes.get(turn.speaker, 0.0) + overlap
    return {key: max(votes, key=votes.get) for key, votes in spoken.items()}


def test_same_voice_one_label_different_voices_apart(linked, conversations) -> None:
    store, first, corpus = linked
    _, turns = conversations
    frame = corpus.frame
    assert list(frame.columns[frame.columns.get_loc("speaker"):][:2]) == ["speaker", "corpus_speaker"]
    assert frame["corpus_speaker"].notna().all()
    voices = _voices(frame, turns)
    assert len(voices) == 8  # two speakers found in each file
    labels = {key: frame.loc[(frame.file == key[0]) & (frame.speaker == key[1]), "corpus_speaker"].iat[0]
              for key in voices}
    by_voice: dict[str, set] = {}
    for key, voice in voices.items():
        by_voice.setdefault(voice, set()).add(labels[key])
    assert all(len(found) == 1 for found in by_voice.values()), by_voice  # one label per voice
    assert len({next(iter(found)) for found in by_voice.values()}) == 4, by_voice  # four voices, four labels
    assert sorted(set(labels.values())) == ["S01", "S02", "S03", "S04"]
    # Numbered by first appearance: the first file's first speaker is S01.
    first_rows = frame[frame.file == frame.file.iat[0]].sort_values("start")
    assert first_rows["corpus_speaker"].iat[0] == "S01"
    # The first run linked its three files; the second linked the new file with them.
    assert first.frame["corpus_speaker"].notna().all()
    assert set(corpus.speaker_links.file) == set(frame.file)
    # Talk time per voice over the corpus: four voices, each the sum of its per-file speakers.
    summary = wk.speaker_summary(frame, by="corpus_speaker")
    assert sorted(summary.index) == ["S01", "S02", "S03", "S04"] and summary.index.name == "corpus_speaker"
    per_file = wk.speaker_summary(frame)
    assert summary["talk_time_s"].sum() == pytest.approx(per_file["talk_time_s"].sum())
    assert summary["segments"].sum() == len(frame)


def test_relink_with_another_threshold_runs_nothing(linked) -> None:
    store, _, _ = linked
    results = {p: p.stat().st_mtime_ns for p in (Path(store) / "files").iterdir()}
    manifest = (Path(store) / "manifest.json").stat().st_mtime_ns
    corpus = wk.open_corpus(store)
    before = corpus.frame["corpus_speaker"]
    table = corpus.link_speakers(threshold=0.999)  # nothing is that alike: every speaker alone
    assert set(table.columns) == {"file", "speaker", "corpus_speaker"}
    assert table["corpus_speaker"].nunique() == len(table) == 8
    assert corpus.frame["corpus_speaker"].nunique() == 8
    assert {p: p.stat().st_mtime_ns for p in (Path(store) / "files").iterdir()} == results
    assert (Path(store) / "manifest.json").stat().st_mtime_ns == manifest
    # Stored: another process sees the new linking; linking back gives the first labels again.
    assert wk.open_corpus(store).frame["corpus_speaker"].nunique() == 8
    wk.open_corpus(store).link_speakers()
    reopened = wk.open_corpus(store).frame
    assert reopened.attrs["speaker_links"]["threshold"] == wk.TranscribeOptions().speaker_link_threshold
    assert reopened["corpus_speaker"].tolist() == before.tolist()


def test_unlinked_corpus_has_no_corpus_speaker(linked, conversations, tmp_path) -> None:
    """A run without link_speakers neither links nor shows the column (here over the linked run's results,
    found done, with the linking removed); `Corpus.link_speakers` links it afterwards from the stored facts."""
    store, _, _ = linked
    folder, _ = conversations
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    (copy / "speaker_links.json").unlink()
    files = sorted(map(str, folder.glob("*.wav")))[:2]
    corpus = wk.transcribe_corpus(files, copy, **OPTIONS)
    assert corpus.skipped == 2
    assert "corpus_speaker" not in corpus.frame.columns
    assert corpus.speaker_links.empty
    corpus.link_speakers()
    assert wk.open_corpus(copy).frame["corpus_speaker"].notna().all()
    assert corpus.frame["corpus_speaker"].nunique() == 3  # slt, rms, awb


def test_a_voice_split_in_one_file_rejoins_through_other_files(linked, conversations) -> None:
    """Diarization now and then splits one voice into two speakers of a file. Here slt's turns of the first file
    are given two labels (real CAM++ embeddings of each half, as `diarize` embeds turns): linked with the
    corpus, both halves take slt's corpus label; the same file linked alone keeps them apart."""
    import torch

    from whisperkit_nb.audio.source import open_audio
    from whisperkit_nb.speakers.diarize import sample_embedder, turn_embeddings
    from whisperkit_nb.speakers.voices import speaker_centroids

    _, _, corpus = linked
    _, turns = conversations
    facts = {file: dict(f) for file, f in corpus.frame.attrs["files"].items()}
    first = sorted(turns)[0]  # slt and rms
    labels, slt_turns = [], 0
    for turn in turns[first]:
        if turn.speaker == "slt":
            labels.append(("SPEAKER_00", "SPEAKER_02")[slt_turns % 2])
            slt_turns += 1
        else:
            labels.append("SPEAKER_01")
    split = pd.DataFrame({"start": [t.start for t in turns[first]], "end": [t.end for t in turns[first]],
                          "speaker": labels})
    audio = torch.from_numpy(np.ascontiguousarray(open_audio(first).in_memory().samples, dtype=np.float32))
    rows, embeddings = turn_embeddings(split, audio, sample_embedder(wk.TranscribeOptions(diarize=True)))
    facts[first] = {"speaker_embeddings": speaker_centroids(split, rows, embeddings)}
    assert sorted(facts[first]["speaker_embeddings"]) == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_02"]

    linking = link_files(facts, wk.TranscribeOptions().speaker_link_threshold)
    voices = _voices(corpus.frame, turns)
    slt_elsewhere = {linking.labels[file][speaker] for (file, speaker), voice in voices.items()
                     if voice == "slt" and file != first}
    rms_elsewhere = {linking.labels[file][speaker] for (file, speaker), voice in voices.items()
                     if voice == "rms" and file != first}
    assert len(slt_elsewhere) == 1 and len(rms_elsewhere) == 1, linking.labels
    mine = linking.labels[first]
    assert mine["SPEAKER_00"] == mine["SPEAKER_02"] == next(iter(slt_elsewhere)), linking.labels
    assert mine["SPEAKER_01"] == next(iter(rms_elsewhere)) != mine["SPEAKER_00"]
    # Alone, nothing ties the two halves together: diarization's word (two speakers) stands.
    alone = link_files({first: facts[first]}, wk.TranscribeOptions().speaker_link_threshold).labels[first]
    assert len(set(alone.values())) == 3, alone


def test_clustering_rules() -> None:
    """Speakers of one file join only through another file's speaker, at the threshold plus SAME_FILE_MARGIN;
    names from samples are kept, and two names never merge."""
    rng = np.random.default_rng(0)
    voice = rng.normal(size=(2, 16))
    near = np.array([voice[0], voice[0] + 0.01, voice[0] + 0.02, voice[1]])
    assert cluster_speakers(near, ["a", "a", "b", "b"], [None] * 4, 0.5).tolist() == [0, 0, 0, 1]  # via b
    assert cluster_speakers(near[:2], ["a", "a"], [None] * 2, 0.5).tolist() == [0, 1]  # nothing between them
    # Two speakers of file a, the second one identical to file b's: a's first joins them only at a mean
    # similarity of at least threshold + margin.
    for similarity, joined in ((0.52, False), (0.56, True)):
        other = [similarity, np.sqrt(1 - similarity**2)]
        points = np.array([other, [1.0, 0.0], [1.0, 0.0]])
        clusters = cluster_speakers(points, ["a", "a", "b"], [None] * 3, 0.5, same_file_margin=0.04).tolist()
        assert clusters == ([0, 0, 0] if joined else [0, 1, 1]), (similarity, clusters)
    assert cluster_speakers(near, ["a", "b", "c", "c"], ["Ana", "Bo", None, None], 0.5).tolist() == [0, 1, 1, 2]
    files = {
        "one": {"speaker_embeddings": {"SPEAKER_00": list(voice[1]), "Ana": list(voice[0])},
                "speaker_matches": {"SPEAKER_01": {"name": "Ana", "similarity": 0.8, "closest": "Ana"}}},
        "two": {"speaker_embeddings": {"SPEAKER_00": list(voice[0] + 0.01), "SPEAKER_01": list(voice[1])}},
        "three": {"speakers": 0},
    }
    linking = link_files(files, 0.5, speaker_names={"SPEAKER_01": "Host"})
    # "Host" (speaker_names) is a name too: the other file's same voice is labelled with it.
    assert linking.labels == {"one": {"SPEAKER_00": "Host", "Ana": "Ana"},
                              "two": {"SPEAKER_00": "Ana", "Host": "Host"}}
    assert list(linking.unlinked) == ["three"]
