"""The VAD on several threads: Silero's model cut at its LSTM, frame features computed ahead on threads.

The promise is the whole model's numbers to the bit, so every chunk plan is unchanged: checked on real speech
(LibriVox readings, a real phone call, five minutes of prompts around a minute of silence), streamed in uneven
blocks as files are, against the whole model run on one thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from whisperkit_nb.audio.source import open_audio
from whisperkit_nb.engines.registry import settle
from whisperkit_nb.options import TranscribeOptions
from whisperkit_nb.speech import vad
from whisperkit_nb.speech.plan import plan_chunks

REPO = Path(__file__).resolve().parents[1]


def _blocks(path) -> list[np.ndarray]:
    """The file's samples in the blocks a file streams in, each cut again unevenly (no block a whole frame)."""
    pieces = []
    for block in open_audio(str(path)).blocks():
        pieces += np.array_split(block, 3)  # 30 s blocks into pieces of 10 s plus a few samples
    return pieces


@pytest.mark.parametrize("fixture", ["librivox", "sample", "long_english"])
def test_vad_on_threads_gives_the_whole_models_probabilities_to_the_bit(fixture, request):
    path = request.getfixturevalue(fixture).path
    assert vad._load_parts() is not None, "the model was not cut: the threads would not be used"
    blocks = _blocks(path)
    whole = vad.speech_probabilities(blocks, threads=1)  # the uncut model, as before the cut existed
    assert len(whole) == int(np.ceil(sum(map(len, blocks)) / vad.FRAME_SAMPLES))
    assert 0.0 < whole.mean() < 1.0
    for threads in (2, 3, 8):
        np.testing.assert_array_equal(vad.speech_probabilities(blocks, threads=threads), whole)


def test_the_chunk_plan_is_the_same_whatever_the_vad_threads(long_english, monkeypatch):
    opts = settle(TranscribeOptions())
    monkeypatch.setattr(vad, "THREADS", 1)
    one = plan_chunks(open_audio(str(long_english.path)), opts)
    monkeypatch.setattr(vad, "THREADS", 4)
    four = plan_chunks(open_audio(str(long_english.path)), opts)
    assert one == four and len(one[0]) > 5


def test_a_vad_pass_that_stops_leaves_no_feature_thread(librivox):
    blocks = _blocks(librivox.path)

    def stopping():
        yield from blocks[:2]
        raise KeyboardInterrupt  # a Ctrl-C (or PlanStopped) from the block stream, features still in flight

    with pytest.raises(KeyboardInterrupt):
        vad.speech_probabilities(stopping(), threads=4)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("whisperkit-vad")]


def test_a_graph_not_cut_as_expected_is_left_whole():
    """Silero's streaming export (one state tensor and the rate as inputs) is not the graph the cut knows:
    no parts, so such a model would run whole, on one thread."""
    streaming = vad._model_path().with_name("silero_vad.onnx")
    assert streaming.is_file()
    assert vad.vad_graphs(streaming) is None


def test_a_new_process_loads_the_cut_model_from_the_cache_without_importing_onnx(tmp_path, librivox):
    """The cut is made once (with the onnx package, 0.7 s to import) and kept in the cache; the next process
    reads it from there, onnx never imported, with the same probabilities."""
    script = tmp_path / "probs.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys
        import numpy as np
        from whisperkit_nb.audio.source import open_audio
        from whisperkit_nb.speech import vad
        probs = vad.speech_probabilities(open_audio({str(librivox.path)!r}).blocks(), threads=2)
        np.save(sys.argv[1], probs)
        print(json.dumps({{"onnx": "onnx" in sys.modules, "cut": vad._load_parts() is not None}}))
    """))
    env = dict(os.environ, WHISPERKIT_NB_CACHE=str(tmp_path / "cache"))
    runs = []
    for k in range(2):
        done = subprocess.run([sys.executable, str(script), str(tmp_path / f"probs{k}.npy")], capture_output=True,
                              text=True, env=env, cwd=REPO, timeout=120)
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert runs == [{"onnx": True, "cut": True}, {"onnx": False, "cut": True}]
    assert sorted(p.name.split("-")[-1] for p in (tmp_path / "cache" / "vad").iterdir()) == ["features.onnx",
                                                                                            "recurrent.onnx"]
    first, second = (np.load(tmp_path / f"probs{k}.npy") for k in range(2))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, vad.speech_probabilities(open_audio(str(librivox.path)).blocks(), threads=1))


def test_preparation_worker_processes_run_their_vad_on_one_thread(monkeypatch):
    """Worker processes are the parallel part there (one input each); threads inside each would only contend."""
    import signal

    from whisperkit_nb.run import prepare

    monkeypatch.setattr(vad, "THREADS", None)
    handler = signal.getsignal(signal.SIGINT)
    try:
        prepare._worker_started()  # what each new worker process runs first
        assert vad.vad_threads() == 1
    finally:
        signal.signal(signal.SIGINT, handler)


def test_vad_threads_follow_torchs_thread_count(monkeypatch):
    """As both engines do: torch.set_num_threads(n) (or OMP_NUM_THREADS=n before torch starts) caps them."""
    import torch

    monkeypatch.setattr(vad, "THREADS", None)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert vad.vad_threads() == 1
        torch.set_num_threads(2)
        assert vad.vad_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_without_torch_the_vad_threads_follow_the_cores_and_omp_num_threads():
    """Preparation alone (a worker, a script that only plans chunks) does not import torch for this."""
    script = ("import os, sys; from whisperkit_nb.speech import vad; "
              "print(vad.vad_threads(), min(len(os.sched_getaffinity(0)), vad.MAX_THREADS), 'torch' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    free = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    capped = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=dict(env, OMP_NUM_THREADS="1"), cwd=REPO, timeout=60)
    threads, cores, torch_loaded = free.stdout.split()
    assert (threads, torch_loaded) == (cores, "False"), free.stderr
    assert capped.stdout.split()[0] == "1", capped.stderr
