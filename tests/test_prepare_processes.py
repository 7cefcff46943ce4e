"""Preparation in worker processes (`prepare_ahead(..., processes=True)`): what comes back is what a thread
gives, errors keep their type and name the file, a dying worker fails only its input, and neither an early
stop, a KeyboardInterrupt in a corpus run nor Ctrl-C in a script leaves a worker process behind.

Real files: pyannote.audio's 30 s sample (as wav, mp3 and m4a), a LibriVox clip, the sample's mp3 with its
middle third overwritten (a gap and its warning), and a missing, an empty and a text file.
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from assets import LIBRIVOX_DIR, corrupted_copy, encode_audio, pyannote_sample, read_wav, write_wav

import whisperkit_nb as wk
from whisperkit_nb.errors import AudioError, MissingDependencyError, OptionsError
from whisperkit_nb.options import TranscribeOptions
from whisperkit_nb.run.prepare import WorkerTraceback, _Failure, prepare_ahead, use_processes

REPO = Path(__file__).resolve().parents[1]
OPTS = TranscribeOptions()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("prepare_processes")
    sample, _ = read_wav(pyannote_sample().path)
    made = {"wav": write_wav(folder / "sample.wav", sample),
            "mp3": encode_audio(folder / "sample.mp3", sample),
            "m4a": encode_audio(folder / "sample.m4a", sample, "mp4", "aac")}
    made["clip"] = folder / "clip.wav"  # 3 s: its samples come back in the pickle, not through a file
    shutil.copy(LIBRIVOX_DIR / "sense_and_sensibility_01_austen_64kb-0880.wav", made["clip"])
    made["corrupt"] = corrupted_copy(made["mp3"], folder / "corrupt.mp3")
    made["missing"] = folder / "missing.wav"
    made["empty"] = folder / "empty.wav"
    made["empty"].touch()
    made["text"] = folder / "notes.mp3"
    made["text"].write_text("These are meeting notes, not audio.\n" * 40)
    return made


def _prepare(items, processes: bool, **kwargs) -> tuple[list, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prepared = list(prepare_ahead(items, OPTS, workers=2, processes=processes, **kwargs))
    return prepared, [str(w.message) for w in caught]


def _items(files) -> list[tuple[int, str]]:
    names = ["wav", "missing", "mp3", "clip", "corrupt", "empty", "m4a", "text"]
    return [(index, str(files[name])) for index, name in enumerate(names)]


@pytest.mark.parametrize("in_memory", [None, False])
def test_processes_give_what_threads_give(files, in_memory):
    """Same order, plans, durations, facts, samples, gaps, warnings and errors (type and message)."""
    items = _items(files)
    threads, thread_warnings = _prepare(items, False, in_memory=in_memory)
    processes, process_warnings = _prepare(items, True, in_memory=in_memory)
    assert [p.key for p in processes] == [key for key, _ in items]
    assert thread_warnings == process_warnings and len(process_warnings) == 1  # the corrupt mp3's gap
    assert str(files["corrupt"]) in process_warnings[0]
    failed = 0
    for thread, process in zip(threads, processes):
        assert process.name == thread.name
        assert process.report.as_dict() == thread.report.as_dict()
        if thread.error is not None:
            failed += 1
            assert type(process.error) is type(thread.error) is AudioError
            assert str(process.error) == str(thread.error) and process.error.source == thread.error.source
            assert process.error.reason == thread.error.reason and process.source is None
            continue
        assert process.error is None
        assert process.chunks == thread.chunks and process.chunks
        assert process.duration == thread.duration
        a, b = thread.source, process.source
        assert (b.name, b.path, b.duration, b.corrupt_audio, b.gaps) == (a.name, a.path, a.duration, a.corrupt_audio,
                                                                        a.gaps)
        if in_memory is False:
            assert a.samples is None and b.samples is None
        else:
            assert b.samples.dtype == np.float32 and b.samples.flags.writeable
            assert np.array_equal(a.samples, b.samples)
    assert failed == 3
    assert next(p for p in processes if p.name == str(files["corrupt"])).source.gaps


def test_errors_come_back_with_their_type_the_file_and_the_workers_traceback(files):
    (prepared,), _ = _prepare([("k", str(files["text"]))], True)
    err = prepared.error
    assert isinstance(err, AudioError) and err.source == str(files["text"])
    assert str(err).startswith(f"{files['text']}: is not a readable audio file")
    assert isinstance(err.__cause__, WorkerTraceback) and "_open_file" in str(err.__cause__)


def test_exceptions_that_pickle_cannot_rebuild_cross_with_their_type():
    """AudioError and MissingDependencyError take other arguments than their message: pickling fails them."""
    for err in (AudioError("a.wav", "file not found"), MissingDependencyError("onnxruntime", "vad", "Silero VAD"),
                OptionsError("bad"), KeyError("x")):
        back = pickle.loads(pickle.dumps(_Failure.of(err))).rebuild()
        assert type(back) is type(err) and str(back) == str(err) and back.args == err.args
        assert vars(back) == vars(err)
    odd = ValueError("odd")
    odd.hook = lambda: None  # an attribute pickle cannot carry
    back = pickle.loads(pickle.dumps(_Failure.of(odd))).rebuild()
    assert type(back) is RuntimeError and str(back) == "ValueError: odd"


class _Crash:
    """An input whose unpickling kills the worker process that receives it (as FFmpeg crashing would)."""

    def __reduce__(self):
        return os._exit, (3,)


def test_a_dying_worker_fails_only_its_input(files):
    items = [(0, str(files["wav"])), (1, _Crash()), (2, str(files["mp3"])), (3, str(files["clip"]))]
    prepared = list(prepare_ahead(items, OPTS, workers=2, processes=True))
    assert [p.key for p in prepared] == [0, 1, 2, 3]
    assert [p.error is None for p in prepared] == [True, False, True, True]
    assert isinstance(prepared[1].error, AudioError) and "preparation process died" in str(prepared[1].error)
    alone = list(prepare_ahead([(0, str(files["mp3"]))], OPTS, workers=1, processes=False))[0]
    assert prepared[2].chunks == alone.chunks and np.array_equal(prepared[2].source.samples, alone.source.samples)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to read its exit status does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _workers() -> set[int]:
    import multiprocessing

    return {p.pid for p in multiprocessing.active_children()}


def test_stopping_early_terminates_the_workers(files):
    before = _workers()
    items = [(i, str(files["wav"])) for i in range(6)]
    prepared = prepare_ahead(items, OPTS, workers=2, processes=True)
    first = next(prepared)
    assert first.error is None
    workers = _workers() - before
    assert len(workers) == 2
    started = time.perf_counter()
    prepared.close()
    assert time.perf_counter() - started < 5  # terminated, not waited for
    assert not any(_alive(pid) for pid in workers)
    assert not list(Path("/dev/shm").glob(f"whisperkit-prepare-{os.getpid()}-*"))  # the spilled samples too


def test_the_spill_folder_of_a_killed_run_is_removed(files):
    from whisperkit_nb.run.prepare import _spill_folder

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    mine = Path(_spill_folder())
    mine.rmdir()
    stale = mine.with_name(f"whisperkit-prepare-{int(dead.stdout)}-abc")
    stale.mkdir()
    (stale / "samples.f32").write_bytes(b"0" * 64)
    list(prepare_ahead([(0, str(files["wav"]))], OPTS, workers=1, processes=True))
    assert not stale.exists()


def test_options():
    assert use_processes(2) and use_processes(4) and not use_processes(1) and not use_processes(0)
    assert use_processes(1, True) and not use_processes(4, False)
    with pytest.raises(OptionsError, match="num_workers"):
        list(prepare_ahead([(0, "a.wav")], OPTS, workers=0, processes=True))


SCRIPT = """
import os, sys, time
from whisperkit_nb.options import TranscribeOptions
from whisperkit_nb.run.prepare import prepare_ahead

def main():
    items = [(i, sys.argv[1]) for i in range(8)]
    for prepared in prepare_ahead(items, TranscribeOptions(), workers=2, processes=True):
        import multiprocessing
        print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
        time.sleep(120)

if __name__ == "__main__":
    main()
"""


def test_ctrl_c_in_a_script_leaves_no_worker_process(files, tmp_path):
    """SIGINT to the script's whole process group, as Ctrl-C in a terminal sends it."""
    script = tmp_path / "prepare_script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    child = subprocess.Popen([sys.executable, str(script), str(files["wav"])], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=REPO,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        workers = {int(pid) for pid in child.stdout.readline().split()}
        assert len(workers) == 2, child.stderr.read()
        os.killpg(child.pid, signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    assert child.returncode != 0 and "KeyboardInterrupt" in err
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)


UNGUARDED = """
import sys
from whisperkit_nb.options import TranscribeOptions
from whisperkit_nb.run.prepare import prepare_ahead

prepared = list(prepare_ahead([(0, sys.argv[1])], TranscribeOptions(), workers=2, processes=PROCESSES))
print("prepared", prepared[0].error is None and prepared[0].duration > 0)
"""


@pytest.mark.parametrize("processes", [None, True])
def test_a_script_without_the_main_guard_is_told(files, tmp_path, processes):
    """Its workers re-run it and die; the default falls back to threads with a warning, processes=True raises."""
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent(UNGUARDED).replace("PROCESSES", str(processes)))
    done = subprocess.run([sys.executable, str(script), str(files["wav"])], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert 'if __name__ == "__main__":' in done.stderr
    if processes is None:
        assert done.returncode == 0 and "prepared True" in done.stdout and "RuntimeWarning" in done.stderr
    else:
        assert done.returncode != 0 and "RuntimeError: Worker processes to prepare the inputs" in done.stderr


def test_an_interrupted_corpus_run_leaves_no_worker_process(files, tmp_path):
    """A KeyboardInterrupt inside `transcribe_corpus` (2 workers: processes) ends with its workers gone."""
    folder = tmp_path / "audio"
    folder.mkdir()
    for index in range(12):  # more than the first batch takes: workers are still preparing when it ends
        shutil.copy(files["wav"], folder / f"sample{index:02}.wav")
    before, seen = _workers(), set()

    def interrupt(event):
        if event.stage == "corpus" and event.done >= 1:
            seen.update(_workers() - before)
            raise KeyboardInterrupt

    # Batches of 4 chunks: the first batch does not take every file's chunks.
    corpus = wk.transcribe_corpus(folder, tmp_path / "store", num_workers=2, model="tiny.en", progress=False,
                                  batch_size=4, callback=interrupt)
    assert corpus.interrupted and corpus.counts()["done"] >= 1
    assert seen and not any(_alive(pid) for pid in seen)


def test_closing_prepare_ahead_stops_a_thread_still_preparing(files, monkeypatch):
    """An input a preparation thread is still planning when the caller stops asking (end of a corpus run, an
    error, Ctrl-C) stops at its VAD pass's next block instead of decoding the rest of the file unwanted."""
    import threading

    import whisperkit_nb.run.prepare as prepare
    from whisperkit_nb.speech.plan import PlanStopped

    entered, go, outcomes = threading.Event(), threading.Event(), []
    real_plan_input = prepare.plan_input

    def held(source, *args, **kwargs):  # the real plan; the second input's starts once the caller has moved on
        if source.name == str(files["mp3"]):
            entered.set()
            go.wait(30)
        try:
            planned = real_plan_input(source, *args, **kwargs)
        except BaseException as err:
            outcomes.append((source.name, type(err)))
            raise
        outcomes.append((source.name, "planned"))
        return planned

    monkeypatch.setattr(prepare, "plan_input", held)
    ahead = prepare_ahead([(0, str(files["wav"])), (1, str(files["mp3"]))], OPTS, workers=2, processes=False)
    first = next(ahead)
    assert first.error is None and first.chunks
    assert entered.wait(30), "the second input was not being prepared"
    ahead.close()
    go.set()
    deadline = time.monotonic() + 30
    while any(t.name.startswith(("whisperkit-prepare", "whisperkit-decode")) for t in threading.enumerate()):
        assert time.monotonic() < deadline, "a preparation thread is still running"
        time.sleep(0.05)
    assert outcomes == [(str(files["wav"]), "planned"), (str(files["mp3"]), PlanStopped)]
