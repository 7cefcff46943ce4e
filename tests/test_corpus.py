"""Resumable corpus runs (`wk.transcribe_corpus`, `wk.open_corpus`, ``whisperkit transcribe --store``).

Real weights (tiny.en) and real speech: the five LibriVox clips and one clip joined from two of them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import wave
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import whisperkit_nb as wk
from whisperkit_nb.corpus.store import LOCK, StoreError

OPTIONS = {"model": "tiny.en", "progress": False, "timestamps": "word"}
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


def _clips() -> list[Path]:
    ids = (LIBRIVOX / "fileids").read_text().split()
    return [LIBRIVOX / f"{clip_id}.wav" for clip_id in ids]


def _write_joined(path: Path, parts: list[Path]) -> Path:
    from assets import read_wav

    samples = [read_wav(p) for p in parts]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(samples[0][1])
        out.writeframes(np.concatenate([s for s, _ in samples]).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Six files of 3-10 s, one in a subfolder (folders are searched recursively)."""
    root = tmp_path_factory.mktemp("corpus") / "audio"
    (root / "sub").mkdir(parents=True)
    clips = _clips()
    for index, clip in enumerate(clips):
        shutil.copy(clip, root / ("sub" if index == 4 else "") / f"clip{index}.wav")
    _write_joined(root / "joined.wav", clips[1:3])
    return root


@pytest.fixture(scope="module")
def clean(folder, tmp_path_factory):
    store = tmp_path_factory.mktemp("clean") / "store"
    corpus = wk.transcribe_corpus(folder, store, **OPTIONS)
    return store, corpus, corpus.frame.copy()


def _results(store: Path) -> dict[str, tuple[int, int]]:
    """Each finished result file and its (inode, mtime_ns)."""
    files = store / "files"
    if not files.is_dir():
        return {}
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files.glob("*.parquet")}


def _transcribed(events) -> set[str]:
    return {e.file for e in events if e.stage == "transcribe"}


def test_clean_run_has_every_file(folder, clean):
    store, corpus, frame = clean
    assert corpus.counts() == {"done": 6, "failed": 0, "pending": 0}
    assert list(corpus.files.columns[:9]) == ["file", "status", "error", "duration", "language", "speakers",
                                              "engine", "model", "seconds"]
    assert corpus.files.model.eq("tiny.en").all() and corpus.files.duration.gt(2).all()
    assert frame.file.nunique() == 6 and frame.text.str.len().sum() > 100
    assert isinstance(frame.words.iat[0], list) and isinstance(frame.words.iat[0][0], dict)
    assert len(corpus.words) == sum(len(w) for w in frame.words)
    assert len(_results(store)) == 6
    reopened = wk.open_corpus(store)  # as another kernel would
    pd.testing.assert_frame_equal(reopened.frame, frame)
    assert reopened.frame.attrs["files"].keys() == set(frame.file)


def test_sigkill_then_rerun_gives_the_clean_rows(folder, tmp_path):
    # One chunk per batch, so the six short inputs finish (and are stored) one after another, not all in the
    # one shared batch of a default run: the kill can then fall between two of them.
    options = {**OPTIONS, "batch_size": 1}
    clean = wk.transcribe_corpus(folder, tmp_path / "clean", **options).frame
    store = tmp_path / "killed"
    script = textwrap.dedent(f"""
        import whisperkit_nb as wk
        wk.transcribe_corpus({str(folder)!r}, {str(store)!r}, **{options!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while len(_results(store)) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    finished = _results(store)
    assert 2 <= len(finished) < 6, "the kill came too late to test a resume"
    assert (store / LOCK).is_file()  # left by the killed run: its pid is dead, so it is taken over

    events = []
    resumed = wk.transcribe_corpus(folder, store, callback=events.append, **options)
    assert resumed.skipped == len(finished)
    assert resumed.counts()["done"] == 6
    pd.testing.assert_frame_equal(resumed.frame, clean)  # none missing, none twice
    after = _results(store)
    assert {name: after[name] for name in finished} == finished  # finished results untouched
    assert len(_transcribed(events)) == 6 - len(finished)  # and none of them recomputed
    assert not (store / LOCK).exists()
    assert not list((store / "files").glob(".tmp-*"))


def test_manifest_metadata_is_carried(folder, clean, tmp_path):
    store = clean[0]
    manifest = tmp_path / "manifest.csv"
    rel = os.path.relpath(folder, tmp_path)
    pd.DataFrame({"path": [f"{rel}/clip0.wav", f"{rel}/joined.wav"], "interviewee": ["Ana", "Ben"],
                  "site": ["north", "south"]}).to_csv(manifest, index=False)
    corpus = wk.transcribe_corpus(manifest, store, **OPTIONS)
    assert corpus.skipped == 2  # already in the store: metadata come from the manifest, not the results
    by_file = corpus.frame.groupby("file").first()
    assert sorted(by_file.interviewee) == ["Ana", "Ben"] and set(corpus.frame.site) == {"north", "south"}
    assert list(corpus.files.interviewee) == ["Ana", "Ben"]
    assert set(corpus.words.interviewee) == {"Ana", "Ben"}


def test_new_file_in_folder_is_picked_up(folder, clean, tmp_path):
    store = clean[0]
    small = tmp_path / "small"
    small.mkdir()
    shutil.copy(folder / "clip0.wav", small / "a.wav")  # same audio as a stored result: found by content
    first = wk.transcribe_corpus(small, store, **OPTIONS)
    assert first.skipped == 1
    _write_joined(small / "new.wav", _clips()[3:5])
    events = []
    second = wk.transcribe_corpus(small, store, callback=events.append, **OPTIONS)
    assert second.skipped == 1 and second.counts()["done"] == 2
    assert _transcribed(events) == {str(small / "new.wav")}


def test_failed_inputs_are_rows_and_the_others_finish(folder, clean, tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all\n")
    missing = tmp_path / "missing.wav"
    corpus = wk.transcribe_corpus([str(folder / "clip1.wav"), str(text), str(missing)], clean[0], **OPTIONS)
    files = corpus.files.set_index("file")
    assert files.loc[str(folder / "clip1.wav"), "status"] == "done"
    assert files.loc[str(text), "status"] == "failed" and "not a readable audio file" in files.loc[str(text), "error"]
    assert files.loc[str(missing), "error"] == "file not found"
    assert set(corpus.failures) == {str(text), str(missing)}
    assert corpus.frame.file.unique().tolist() == [str(folder / "clip1.wav")]


def test_transcription_option_change_recomputes_and_keeps_the_old_result(folder, clean, tmp_path):
    store = tmp_path / "options"
    one = [str(folder / "clip0.wav")]
    wk.transcribe_corpus(one, store, **OPTIONS)
    before = _results(store)
    events = []
    changed = wk.transcribe_corpus(one, store, callback=events.append, **{**OPTIONS, "vad_pad_s": 0.3})
    assert changed.skipped == 0 and _transcribed(events) == set(one)
    assert len(_results(store)) == 2 and all(_results(store)[k] == v for k, v in before.items())
    back = wk.transcribe_corpus(one, store, **OPTIONS)  # the old options' result is still there
    assert back.skipped == 1
    # options that change nothing stored are in no key
    assert wk.transcribe_corpus(one, store, **{**OPTIONS, "progress": True}).skipped == 1


def test_speaker_change_reruns_only_diarization(sample, tmp_path):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        store = tmp_path / "speakers"
        path = [str(sample.path)]
        first = wk.transcribe_corpus(path, store, diarize=True, num_speakers=2, **OPTIONS)
        assert first.files.speakers.iat[0] == 2
        transcript = {k: v for k, v in _results(store).items() if k.count(".") == 1}
        assert len(transcript) == 1  # the transcript without speakers, beside the result with them
        events = []
        second = wk.transcribe_corpus(path, store, diarize=True, num_speakers=3, callback=events.append, **OPTIONS)
    finally:
        torch.set_num_threads(threads)
    assert not _transcribed(events) and any(e.stage == "diarize" for e in events)
    assert {k: _results(store)[k] for k in transcript} == transcript
    assert second.files.speakers.iat[0] == 3
    assert second.frame.speaker.nunique() <= 3 and second.frame.speaker.notna().all()
    assert list(first.words.word) == list(second.words.word)  # the same transcript, words kept (split anew)
    assert list(first.words.start) == list(second.words.start)


def test_unwritable_store_fails_before_any_work(folder, tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    from whisperkit_nb.corpus import runner

    monkeypatch.setattr(runner, "model_identity", lambda *a: pytest.fail("work started"))
    with pytest.raises(StoreError, match="not writable"):
        wk.transcribe_corpus(folder, blocker / "store", **OPTIONS)


def test_a_held_store_is_refused_naming_the_run_and_a_dead_ones_lock_taken_over(folder, clean, tmp_path):
    store = clean[0]
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (store / LOCK).write_text(f'{{"pid": {sleeper.pid}, "host": "{socket.gethostname()}", '
                                  '"started": "2026-12-01T10:00:00+00:00", "what": "transcribe_corpus"}')
        with pytest.raises(StoreError, match=f"pid {sleeper.pid} on {socket.gethostname()}, started 2026-12-01"):
            wk.transcribe_corpus(folder, store, **OPTIONS)
    finally:
        sleeper.kill()
        sleeper.wait()
    corpus = wk.transcribe_corpus(folder, store, **OPTIONS)  # its pid is gone now: the lock is taken over
    assert corpus.skipped == 6 and not (store / LOCK).exists()


def test_cli_store_twice(folder, tmp_path, capsys):
    from whisperkit_nb.cli import main

    store = tmp_path / "cli"
    files = [str(folder / "clip2.wav"), str(folder / "clip3.wav")]
    flags = ["--store", str(store), "--model", "tiny.en", "--no-progress"]
    argv = ["transcribe", *files, *flags]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(argv) == 0
    assert "all 2 file(s) were already done" in capsys.readouterr().out
    assert main(["transcribe", *files, str(tmp_path / "missing.wav"), *flags]) == 2
    assert "FAILED" in capsys.readouterr().err


def test_keyboard_interrupt_keeps_finished_inputs_and_the_rerun_resumes(folder, clean, tmp_path):
    """A real SIGINT (what Ctrl-C or a notebook's interrupt sends) once two inputs are stored."""
    store = tmp_path / "interrupted"
    sent = []

    def interrupt_after_two(event):
        if event.stage == "corpus" and event.done >= 2 and not sent:
            sent.append(event.done)
            os.kill(os.getpid(), signal.SIGINT)  # raised in this (the main) thread at its next instruction

    # Python's own SIGINT handler, as in a terminal or a kernel: a process started in the background by a shell
    # without job control (a CI runner) inherits SIGINT ignored, and Python then leaves it ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        corpus = wk.transcribe_corpus(folder, store, callback=interrupt_after_two, **OPTIONS)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert sent and corpus.interrupted
    counts = corpus.counts()
    assert counts["done"] >= 2 and counts["pending"] == 6 - counts["done"] and counts["failed"] == 0
    finished = _results(store)
    assert len(finished) == counts["done"]  # every finished input is stored, no partial one
    assert not (store / LOCK).exists()
    events = []
    resumed = wk.transcribe_corpus(folder, store, callback=events.append, **OPTIONS)
    assert resumed.skipped == counts["done"] and resumed.counts()["done"] == 6
    assert len(_transcribed(events)) == 6 - counts["done"]
    pd.testing.assert_frame_equal(resumed.frame, clean[2])


def test_workers_and_shared_batches_give_the_frame_of_one_file_at_a_time(folder, clean, tmp_path):
    """Inputs prepared on 2 threads and decoded in batches that span them give each file what it gets alone."""
    corpus = wk.transcribe_corpus(folder, tmp_path / "two", num_workers=2, **OPTIONS)
    pd.testing.assert_frame_equal(corpus.frame, clean[2])
    each = [wk.transcribe(f, **OPTIONS) for f in corpus.files.file]
    alone = pd.concat(each, ignore_index=True)
    assert list(alone.text) == list(clean[2].text)
    assert np.allclose(alone.start, clean[2].start) and np.allclose(alone.end, clean[2].end)
    stored_facts = corpus.frame.attrs["files"]
    alone_facts = {name: facts for frame in each for name, facts in frame.attrs["files"].items()}
    assert stored_facts.keys() == alone_facts.keys()
    for name, file_facts in alone_facts.items():  # per-file facts are that file's, not the batch's
        stored = stored_facts[name]
        assert (stored["chunks"], stored["speech_seconds"], stored["language"]) == (
            file_facts["chunks"], file_facts["speech_seconds"], file_facts["language"])
    with pytest.raises(wk.OptionsError, match="num_workers"):
        wk.transcribe_corpus(folder, tmp_path / "bad", num_workers=-1, **OPTIONS)


def test_ray_backend_gives_the_local_frame_and_resumes_a_local_store(folder, clean, tmp_path, monkeypatch):
    """A real local Ray (2 CPUs, loopback only): the same rows as the local backend, the same store layout."""
    import ray  # the ray extra is in the test requirements: a missing one fails, it is not skipped

    from whisperkit_nb.corpus.ray_backend import start_local_ray

    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")  # as transcribe_corpus sets it when it starts Ray itself
    start_local_ray(ray, num_cpus=2)  # how transcribe_corpus starts one, 2 CPUs
    try:
        store = tmp_path / "ray"
        on_ray = wk.transcribe_corpus(folder, store, backend="ray", **OPTIONS)
        assert on_ray.counts() == {"done": 6, "failed": 0, "pending": 0}
        pd.testing.assert_frame_equal(on_ray.frame, clean[2])
        # the same keys as the local run's results: either backend resumes the other's store
        assert [e["result"] for e in on_ray.entries] == [e["result"] for e in clean[1].entries]
        again = wk.transcribe_corpus(folder, clean[0], backend="ray", **OPTIONS)  # the local run's store
        assert again.skipped == 6
        (folder / "not-audio.wav").write_text("not audio")
        try:
            mixed = wk.transcribe_corpus(folder, store, backend="ray", **OPTIONS)
        finally:
            (folder / "not-audio.wav").unlink()
        assert mixed.skipped == 6 and list(mixed.failures) == [str(folder / "not-audio.wav")]
        # the speakers stage (a new store: transcription and diarization both on Ray)
        two = sorted(str(p) for p in folder.glob("clip[01].wav"))
        speakers = wk.transcribe_corpus(two, tmp_path / "ray-speakers", backend="ray", diarize=True, num_speakers=1,
                                        **OPTIONS)
    finally:
        ray.shutdown()
    assert speakers.counts()["done"] == 2 and speakers.files.speakers.tolist() == [1, 1]
    assert speakers.frame.speaker.eq("SPEAKER_00").all()
    with pytest.raises(wk.OptionsError, match="ray_address applies to backend='ray'"):
        wk.transcribe_corpus(folder, tmp_path / "x", ray_address="auto", **OPTIONS)


def test_frames_name_their_store_and_the_files_say_which_inputs_have_edits(clean):
    store, corpus, frame = clean
    assert frame.attrs["store"] == str(Path(store).absolute())  # where the player saves edits
    assert list(corpus.files.columns[9:11]) == ["edited", "edits_on_older_result"]
    assert not corpus.files.edited.any() and corpus.edited == [] and "edited" not in frame.columns
    turns = wk.turns(frame)  # no speakers: turns by pauses, never across inputs
    assert list(dict.fromkeys(turns.file)) == list(dict.fromkeys(frame.file)) and len(turns) <= len(frame)
    assert sorted(i for labels in turns.segments for i in labels) == list(frame.index)
