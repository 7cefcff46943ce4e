"""The GPU benchmark harness: its stage timers attach or fail loudly, and it runs end to end on CPU
(`bench/gpu.py --smoke`: tiny random model, 1 minute).

A benchmark is not a timed test: the smoke run only checks that every system runs, reports a positive speed,
that every stage timer fired, and that forcing gives every decoded window of every system the same number of
tokens. The unit tests check the timers on their own, with a fake engine.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from gpubench.attach import ProgressClock, replaced, stream_segments_with_engine
from gpubench.common import AttachError
from gpubench.forcing import rules_class
from gpubench.timed_engine import TIMED, TimedEngine
from gpubench.timing import StageTimer

# The one row that may be missing, with the reason it must give: flash-attention needs a CUDA GPU (and the
# flash-attn package), and --smoke runs on the CPU even where a GPU is there. Every other row toggles
# something the library has (wk-no-prefetch: `whisperkit_nb.run.prefetch.PREFETCH`), so it must run.
MAY_BE_UNAVAILABLE = {"ifw-fa2": "not available: flash_attention_2 needs a CUDA GPU"}
SYSTEMS = ("ifw-sdpa", "ifw-fa2", "wk-best", "wk-no-vad", "wk-no-compile", "wk-no-prefetch")
WINDOWS_COLUMN = 11  # "windows x tokens" in the throughput table


class FakeEngine:
    """The engine protocol's methods, recording their calls; plus attributes the pipeline reads."""

    name = "fake"
    n_mels = 80

    def __init__(self) -> None:
        self.called: list[tuple[str, tuple, dict]] = []

    def _record(self, method, args, kwargs):
        self.called.append((method, args, kwargs))

    def encode(self, features):
        self._record("encode", (features,), {})
        return [f * 2 for f in features]

    def language_probabilities(self, encoded):
        self._record("language_probabilities", (encoded,), {})
        return [[1.0]] * len(encoded), ["en"]

    def decode(self, encoded, languages, tasks, max_new_tokens, **kwargs):
        self._record("decode", (encoded, languages, tasks, max_new_tokens), kwargs)
        return [types.SimpleNamespace(tokens=[1, 2, 3]) for _ in encoded]

    def align(self, encoded, results, durations):
        self._record("align", (encoded, results, durations), {})
        return [[] for _ in results]

    def new_input(self):
        self._record("new_input", (), {})

    def default_batch_size(self, max_new_tokens):
        return 4


def test_timed_engine_times_each_protocol_method_and_forwards_the_rest():
    timer = StageTimer()
    decoded = []
    engine = FakeEngine()
    timed = TimedEngine(engine, timer, on_decode=decoded.append)

    encoded = timed.encode([1, 2])
    timed.language_probabilities(encoded)
    results = timed.decode(encoded, ["en", "en"], ["transcribe"] * 2, 10, timestamps=False, compiled=True)
    timed.align(encoded, results, [30.0, 30.0])
    timed.new_input()

    assert encoded == [2, 4]
    assert [m for m, _, _ in engine.called] == list(TIMED)
    assert engine.called[2][2] == {"timestamps": False, "compiled": True}  # keywords reach the engine
    assert {TIMED[m] for m in TIMED} == {name for name, n in timer.calls.items() if n == 1}
    assert decoded == [results]
    # Everything else is the engine's: attributes, other methods, and attribute writes.
    assert (timed.name, timed.n_mels, timed.default_batch_size(100)) == ("fake", 80, 4)
    timed.n_mels = 128
    assert engine.n_mels == 128
    with pytest.raises(AttributeError):
        timed.no_such_attribute  # noqa: B018


def test_timed_engine_refuses_an_engine_it_cannot_time():
    class NoDecode(FakeEngine):
        decode = None  # present but not callable counts as missing

    with pytest.raises(AttachError, match=r"no decode method"):
        TimedEngine(NoDecode(), StageTimer())
    with pytest.raises(AttachError, match=r"no encode, language_probabilities, decode, align, new_input method"):
        TimedEngine(object(), StageTimer())


def test_every_registered_engine_answers_what_the_timer_times():
    from whisperkit_nb.engines import registry

    for name in registry.ENGINES:
        TimedEngine(registry.engine_class(name), StageTimer())  # the class: its methods, no model loaded


def test_stage_timer_counts_each_stage_once_exclusive_of_nested_ones():
    timer = StageTimer()
    with timer.stage("outer"), timer.stage("inner"):
        pass
    assert timer.calls == {"outer": 1, "inner": 1}
    assert timer.seconds["outer"] + timer.seconds["inner"] == pytest.approx(timer.thread_seconds())
    with pytest.raises(AttachError, match="never ran"):
        timer.require("outer", "decoder", what="test")


def test_switches_the_ablations_flip_exist_and_missing_ones_raise():
    from whisperkit_nb.audio.log_mel import LogMel
    from whisperkit_nb.run import prefetch, prepare

    stream_segments_with_engine()  # takes engine=
    _, rules = rules_class()  # the logit rules forcing subclasses
    assert callable(rules.apply)
    assert callable(LogMel.__call__) and callable(prepare.plan_chunks)
    before = prefetch.PREFETCH
    with replaced(prefetch, "PREFETCH", not before):
        assert prefetch.PREFETCH is (not before)
    assert prefetch.PREFETCH is before
    with pytest.raises(AttachError, match="no attribute 'PREFETCH_NOT_HERE'"), replaced(prefetch, "PREFETCH_NOT_HERE", 0):
        pass
    assert not hasattr(prefetch, "PREFETCH_NOT_HERE")


def test_progress_clock_times_the_vad_pass_without_the_audio_decode_inside_it():
    timer = StageTimer()
    clock = ProgressClock(timer)
    with pytest.raises(RuntimeError):
        clock.vad_seconds()
    clock.start()
    event = types.SimpleNamespace
    clock(event(stage="vad", done=1.0, total=2.0))
    with timer.stage("audio_decode"):
        threading.Event().wait(0.05)
    clock(event(stage="vad", done=2.0, total=2.0))
    clock(event(stage="transcribe", done=1.5, total=1.5))
    staged = timer.seconds["audio_decode"]
    total = clock.events[1][0] - clock._start[0]
    assert clock.vad_seconds() == pytest.approx(total - staged)
    clock.check_transcribed()
    with pytest.raises(AttachError, match="no 'vad' ProgressEvent"):
        silent = ProgressClock(timer)
        silent.start()
        silent.vad_seconds()


@pytest.mark.timeout(300)
def test_gpu_bench_smoke(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    done = subprocess.run([sys.executable, str(REPO / "bench" / "gpu.py"), "--smoke", "--out", str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=280, check=False)
    assert done.returncode == 0, done.stderr[-3000:]

    table = done.stdout[done.stdout.index("| system |"):]
    rows = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("| "):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells
    assert set(rows) == set(SYSTEMS)
    problems = []  # every row's, so one run shows them all
    for key, cells in rows.items():
        if key in MAY_BE_UNAVAILABLE and cells[1].startswith("not available"):
            if cells[1] != MAY_BE_UNAVAILABLE[key]:
                problems.append((key, cells[1]))
            continue
        if not all(re.fullmatch(r"\d+(\.\d+)?", c) and float(c) > 0 for c in cells[1:3]):  # x real time, wall s
            problems.append((key, cells[1:3]))
        if not re.fullmatch(r"\d+ x \d+", cells[WINDOWS_COLUMN]):  # one token count for all its windows
            problems.append((key, cells[WINDOWS_COLUMN]))
    assert problems == []

    (result_file,) = tmp_path.glob("gpu-smoke-*.json")
    result = json.loads(result_file.read_text())
    assert result["forced_tokens_check"] == "ok"
    n = result["tokens_per_window"]
    counts = {k: r["windows"] for k, r in result["systems"].items() if r["status"] == "ok"}
    assert set(SYSTEMS) - set(MAY_BE_UNAVAILABLE) <= set(counts)
    assert all(set(map(int, w)) == {n} for w in counts.values()), counts
    assert "forced" in result["weights"] and f"{n} tokens per 30 s window" in done.stdout
    # Every stage of ours was timed where it happens: the engine's methods, the audio reads, the features.
    for key in ("wk-best", "wk-no-vad", "wk-no-compile", "wk-no-prefetch"):
        calls = result["systems"][key]["stage_calls"]
        assert all(calls.get(s, 0) > 0 for s in ("audio_decode", "audio_read", "features", "encoder", "decoder",
                                                 "assembly")), (key, calls)
    assert result["systems"]["wk-best"]["stages"]["vad"] > 0



def test_cpu_bench_runs_on_your_own_recordings(tmp_path, sample, librivox):
    """`make bench RECORDINGS=folder` (`cpu_devset.py --recordings`): every audio file in the folder, whatever its
    format, scored against the .txt beside it, ours and faster-whisper's side by side, each timed twice; a
    recording without a reference is refused by name before anything runs. Real speech: pyannote's call and the
    LibriVox reader."""
    from assets import encode_audio, read_wav

    from whisperkit_nb.scoring.words import wer_details

    folder = tmp_path / "recordings"
    (folder / "books").mkdir(parents=True)
    (folder / "call.wav").write_bytes(sample.path.read_bytes())
    (folder / "call.txt").write_text(sample.reference)
    encode_audio(folder / "books" / "reader.mp3", read_wav(librivox.path)[0])
    (folder / "books" / "reader.txt").write_text(librivox.reference)
    (folder / "books" / "reader.lang").write_text("en\n")
    command = [sys.executable, str(REPO / "bench" / "cpu_devset.py"), "--recordings", str(folder), "--model",
               "tiny.en", "--systems", "default,faster-whisper", "--out", str(tmp_path / "out")]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=280, check=False)
    assert done.returncode == 0, done.stderr[-3000:]

    (result_file,) = (tmp_path / "out").glob("cpu_devset-*.json")
    result = json.loads(result_file.read_text())
    assert result["recordings"] == str(folder)
    assert ", AMX," in result["machine"] or ", no AMX," in result["machine"]  # it decides the default's encoder
    rows = {(r["file"], r["system"]): r for r in result["rows"]}
    assert set(rows) == {(name, system) for name in ("call", "reader") for system in ("default", "faster-whisper")}
    for (name, system), row in rows.items():
        assert row["part"] == "yours" and row["language"] == "en" and row["x_real_time"] > 0, row
        assert row["error_unit"] == "words", row
        reference = (sample if name == "call" else librivox).reference
        assert row["reference_words"] == wer_details(reference, reference).reference_words, row  # the whole .txt
        assert row["wer"] < (0.35 if name == "call" else 0.10), row  # tiny.en: a phone call, a clean reading
        # Timed twice by default, taking turns; the faster run counts, and decoding is deterministic.
        assert len(row["wall_s_runs"]) == 2 and row["wall_s"] == min(row["wall_s_runs"]), row
        assert row["same_words_every_run"] is True, row
        assert len(row["cpu_s_runs"]) == 2 and min(row["cpu_s_runs"]) > 0, row  # the work, beside the wall time
        if system == "default":  # our run's facts: how many chunk decodings went to temperature fallback
            assert isinstance(row["fallbacks"], int) and isinstance(row["dropped_chunks"], int), row
    assert "| call | yours |" in done.stdout and "| reader | yours |" in done.stdout
    assert "CPU seconds over all files" in done.stdout and "faster-whisper / default" in done.stdout

    (folder / "call.txt").unlink()
    refused = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode != 0 and "without a reference transcript" in refused.stderr
    assert str(folder / "call.txt") in refused.stderr and "Traceback" not in refused.stderr


def test_cpu_bench_table_marks_rates_counted_in_characters():
    """A recording in a language written without spaces is scored by character (`normalizer_for`): its cells
    say "(CER)" so no one reads them as word error rates; the others stay plain."""
    from cpu_devset import table

    def row(name: str, system: str, unit: str, wer: float) -> dict:
        return {"file": name, "part": "yours", "minutes": 1.0, "system": system, "x_real_time": 10.0,
                "wall_s": 6.0, "wer": wer, "errors": int(wer * 100), "reference_words": 100, "error_unit": unit}

    rows = [row("interview-ja", key, "characters", 0.12) for key in ("default", "faster-whisper")]
    rows += [row("interview-de", key, "words", 0.2) for key in ("default", "faster-whisper")]
    lines = {line.split(" | ")[0].strip("| "): line for line in table(rows, ["default", "faster-whisper"], {})
             .splitlines()}
    assert lines["interview-ja"].count("12.00% (CER)") == 2, lines
    assert "(CER)" not in lines["interview-de"] and lines["interview-de"].count("20.00%") == 2, lines
