"""Ctrl-C for real: SIGINT at a known stage of a run (VAD, decoding, diarization on CPU and in the background
thread a GPU uses), to the `whisperkit` command and to a Jupyter kernel.

Each time what finished is kept (earlier files whole; the interrupted file up to its last decoded batch,
which is a prefix of an uninterrupted run's rows; after an interrupt during diarization the whole transcript,
without speakers), the run says it was interrupted, nothing of it is left running, and the next call in the
same process gives exactly the uninterrupted result. The runs happen in child processes whose progress
callback only prints each event; the parent sends SIGINT when the stage it wants shows up, so no wait
assumes a speed.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

import whisperkit_nb as wk

LONG_WAIT_S = 600  # generous deadlines: a loaded 2-core machine is slow, and a wait never assumes a speed
# A 5-minute file of which 150 s are digital silence: the VAD reads ten 30 s blocks (an interrupt after the first
# lands in the VAD), and its two minutes of speech decode in three batches of two chunks (an interrupt after the
# first lands in decoding), at two thirds of the cost of five minutes of speech, which each test decodes twice.
ASR = {"model": "tiny.en", "batch_size": 2, "progress": False}
# The 30 s call cut into 5 s chunks decoded one by one, with speakers: its decoding spans several batches.
DIARIZED = {"model": "tiny.en", "batch_size": 1, "chunk_s": 5.0, "diarize": True, "progress": False}

CHILD = textwrap.dedent("""
    import json, signal, sys, threading
    # A shell that starts a job in the background (CI's runner may) makes it ignore SIGINT, and Python then
    # installs no KeyboardInterrupt handler: put Ctrl-C back as an interactive user has it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import whisperkit_nb as wk
    import whisperkit_nb.speakers.diarize as diarize

    plan = json.loads(sys.argv[1])
    diarize.BACKGROUND = plan["background"]

    def say(kind, payload):
        print(kind, json.dumps(payload), flush=True)

    def stage(event):
        say("STAGE", {"stage": event.stage, "file": event.file, "done": event.done, "total": event.total})

    def rows(frame):
        return [[r.file, round(r.start, 6), round(r.end, 6), r.text, r.speaker] for r in frame.itertuples()]

    def working_threads():
        # Threads other than this one with whisperkit_nb code on their stack: work the run left behind.
        stacks = sys._current_frames()
        found = {}
        for thread in threading.enumerate():
            frame, names = stacks.get(thread.ident), []
            while frame is not None and thread is not threading.current_thread():
                if "whisperkit_nb" in frame.f_code.co_filename:
                    names.append(frame.f_code.co_name)
                frame = frame.f_back
            if names:
                found[thread.name] = names
        return found

    def summary(frame):
        files = {name: {k: v for k, v in info.items() if k != "speaker_turns"}
                 for name, info in frame.attrs["files"].items()}
        return {"rows": rows(frame), "interrupted": frame.attrs["interrupted"], "files": files}

    frame = wk.transcribe(plan["audio"], callback=stage, **plan["options"])
    say("RESULT", summary(frame) | {"working": working_threads()})
    again = wk.transcribe(plan["audio"], **plan["options"])
    say("AGAIN", summary(again))
""")


def rows(frame: pd.DataFrame) -> list[list]:
    """A frame's rows as the child prints them: file, start, end, text, speaker."""
    return [[r.file, round(r.start, 6), round(r.end, 6), r.text, r.speaker] for r in frame.itertuples()]


def of_file(table: list[list], name: str) -> list[list]:
    return [row for row in table if row[0] == name]


def without_speakers(table: list[list]) -> list[list]:
    return [row[:4] for row in table]


@pytest.fixture(scope="module")
def half_silent_long():
    """Five minutes of real English prompts with a 150 s digital-silence stretch inside."""
    from assets import asterisk_long

    return asterisk_long(minutes=5.0, silence_s=150.0)


@pytest.fixture(scope="module")
def reference(sample, half_silent_long):
    """Uninterrupted runs in this process: the call and the 5-minute file (ASR), the call with speakers."""
    asr = wk.transcribe([str(sample.path), str(half_silent_long.path)], **ASR)
    speakers = wk.transcribe(str(sample.path), **DIARIZED)
    assert not asr.attrs["interrupted"] and len(of_file(rows(asr), str(half_silent_long.path))) > 10
    assert speakers.speaker.notna().all() and speakers.speaker.nunique() == 2
    return {"asr": rows(asr), "speakers": rows(speakers)}


class Reader:
    """A child's pipe read on a thread, so that every wait on it has a deadline."""

    def __init__(self, stream) -> None:
        self.queue: queue.Queue = queue.Queue()
        self.fd = stream.fileno()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for data in iter(lambda: os.read(self.fd, 65536), b""):
            self.queue.put(data)
        self.queue.put(None)

    def chunks(self):
        """The bytes as they come, until the child closes the pipe."""
        deadline = time.monotonic() + LONG_WAIT_S
        while (data := self.queue.get(timeout=max(deadline - time.monotonic(), 0.1))) is not None:
            yield data

    def lines(self):
        """Whole lines, decoded."""
        pending = b""
        for data in self.chunks():
            *complete, pending = (pending + data).split(b"\n")
            yield from (line.decode() for line in complete)


def interrupted_child(audio, options: dict, interrupt_at, *, background: bool | None = None) -> dict:
    """Run `CHILD` on ``audio``; send SIGINT at the first progress event ``interrupt_at(event)`` accepts.

    Returns the child's RESULT and AGAIN summaries, every event before RESULT (``before``, with
    ``sent_at``: how many came before the SIGINT) and the events printed after RESULT (``after``).
    """
    plan = {"audio": audio, "options": options, "background": background}
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(plan)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    errors = Reader(child.stderr)
    out: dict = {"before": [], "after": [], "sent_at": None}
    try:
        for line in Reader(child.stdout).lines():
            kind, _, payload = line.partition(" ")
            if kind == "STAGE":
                event = json.loads(payload)
                out["after" if "RESULT" in out else "before"].append(event)
                if out["sent_at"] is None and interrupt_at(event):
                    child.send_signal(signal.SIGINT)
                    out["sent_at"] = len(out["before"])
            elif kind in ("RESULT", "AGAIN"):
                out[kind] = json.loads(payload)
        status = child.wait(timeout=LONG_WAIT_S)
        assert status == 0, b"".join(errors.chunks()).decode(errors="replace")[-4000:]
    finally:
        if child.poll() is None:
            child.kill()
    assert out["sent_at"] is not None, f"the stage to interrupt never came: {out['before']}"
    assert out["RESULT"]["interrupted"], "the SIGINT did not stop the run"
    assert not out["RESULT"]["working"], f"work left running after the interrupt: {out['RESULT']['working']}"
    return out


def test_interrupt_during_vad_keeps_nothing_and_the_next_call_matches(reference, half_silent_long):
    long = str(half_silent_long.path)
    out = interrupted_child(long, ASR, lambda e: e["stage"] == "vad" and e["done"] < e["total"])
    result, info = out["RESULT"], out["RESULT"]["files"][long]
    assert result["rows"] == [] and info["interrupted"] is True
    assert "chunks" not in info, "the VAD finished before the interrupt: it did not land during VAD"
    assert [e["stage"] for e in out["before"]] == ["vad"] * len(out["before"])
    assert out["AGAIN"]["rows"] == of_file(reference["asr"], long) and not out["AGAIN"]["interrupted"]


def test_interrupt_during_decoding_keeps_earlier_files_and_finished_batches(reference, sample, half_silent_long):
    call, long = str(sample.path), str(half_silent_long.path)
    out = interrupted_child([call, long], ASR,
                            lambda e: e["stage"] == "transcribe" and e["file"] == long and e["done"] < e["total"])
    result, expected = out["RESULT"], of_file(reference["asr"], long)
    assert of_file(result["rows"], call) == of_file(reference["asr"], call)  # the earlier file whole
    kept = of_file(result["rows"], long)
    assert 0 < len(kept) < len(expected) and kept == expected[: len(kept)]  # finished batches, nothing else
    assert result["files"][long]["interrupted"] is True and result["files"][long]["chunks"] > 0
    assert "interrupted" not in result["files"][call]
    assert out["AGAIN"]["rows"] == reference["asr"] and not out["AGAIN"]["interrupted"]


def test_interrupt_during_cpu_diarization_keeps_the_transcript_without_speakers(reference, sample):
    call = str(sample.path)
    out = interrupted_child(call, DIARIZED, lambda e: e["stage"] == "diarize" and e["done"] < 100,
                            background=False)
    result, info = out["RESULT"], out["RESULT"]["files"][call]
    assert without_speakers(result["rows"]) == without_speakers(reference["speakers"])  # the whole transcript
    assert all(row[4] is None for row in result["rows"])
    assert info["diarization"] == "interrupted" and info["interrupted"] is True and "speakers" not in info
    assert not any(e["stage"] == "diarize" and e["done"] == 100 for e in out["before"])
    assert out["AGAIN"]["rows"] == reference["speakers"]


def test_interrupt_during_decoding_cancels_background_diarization(reference, sample):
    """The GPU's layout (diarization in a background thread beside the ASR), forced on CPU: an interrupt
    during decoding stops the diarization too, before the call returns; the next call diarizes normally."""
    call = str(sample.path)
    out = interrupted_child(call, DIARIZED, lambda e: e["stage"] == "transcribe" and e["done"] < e["total"],
                            background=True)
    result, info = out["RESULT"], out["RESULT"]["files"][call]
    kept, expected = without_speakers(result["rows"]), without_speakers(reference["speakers"])
    assert 0 < len(kept) < len(expected) and kept == expected[: len(kept)]
    assert all(row[4] is None for row in result["rows"]) and info["diarization"] == "interrupted"
    diarized = [e["done"] for e in out["before"] if e["stage"] == "diarize"]
    assert 100 not in diarized, "the diarization had finished: nothing to cancel"
    assert out["after"] == [], f"the cancelled diarization still reported progress: {out['after']}"
    assert out["AGAIN"]["rows"] == reference["speakers"]


def test_cli_on_sigint_writes_what_finished_and_exits_130(reference, half_silent_long, tmp_path):
    """The installed ``whisperkit`` command: SIGINT once its progress bar shows a finished batch."""
    long, target = str(half_silent_long.path), tmp_path / "out.csv"
    command = [str(Path(sys.executable).with_name("whisperkit")), "transcribe", long, "--model", "tiny.en",
               "--batch-size", "2", "-o", str(target)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                             preexec_fn=_default_sigint)
    printed = Reader(child.stdout)
    # The file's bar names its stage; "transcribe" appears once the first batch of chunks is decoded.
    bar = re.compile(rb"\xc2\xb7 transcribe")
    shown, sent = b"", False
    try:
        for data in Reader(child.stderr).chunks():
            shown += data
            if not sent and bar.search(shown):
                child.send_signal(signal.SIGINT)
                sent = True
        status = child.wait(timeout=LONG_WAIT_S)
    finally:
        if child.poll() is None:
            child.kill()
    errors = shown.decode(errors="replace")
    assert sent, f"no finished batch on the progress bar: {errors[-2000:]}"
    assert status == 130, errors[-3000:]
    assert "whisperkit: interrupted: partial output" in errors and f"in {target}" in errors
    assert "Traceback" not in errors
    written = pd.read_csv(target, keep_default_na=False)
    kept = [[r.file, round(r.start, 6), round(r.end, 6), r.text] for r in written.itertuples()]
    expected = without_speakers(of_file(reference["asr"], long))
    assert 0 < len(kept) < len(expected) and kept == expected[: len(kept)]
    assert f"wrote {target}" in b"".join(printed.chunks()).decode()


def test_jupyter_kernel_interrupt_keeps_finished_segments_and_the_next_cell_works(reference, half_silent_long):
    """A real ipykernel: ``df = wk.transcribe(...)`` in a cell, `interrupt_kernel` once decoding is under way,
    then a second call in the same kernel."""
    from jupyter_client import KernelManager

    long = str(half_silent_long.path)
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env=dict(os.environ), cwd=str(Path(long).parent))
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=LONG_WAIT_S)
        setup, _ = run_cell(client, textwrap.dedent("""
            import json
            import whisperkit_nb as wk

            def say(event):
                print("STAGE", event.stage, event.done, event.total, flush=True)

            def show(frame):
                rows = [[r.file, round(r.start, 6), round(r.end, 6), r.text, r.speaker] for r in frame.itertuples()]
                print("DF", json.dumps({"rows": rows, "interrupted": frame.attrs["interrupted"],
                                        "files": frame.attrs["files"]}))
        """))
        assert setup["status"] == "ok", setup
        sent = []

        def interrupt_in_decoding(line: str) -> None:
            parts = line.split()
            if not sent and parts[:2] == ["STAGE", "transcribe"] and float(parts[2]) < float(parts[3]):
                manager.interrupt_kernel()
                sent.append(line)

        reply, _ = run_cell(client, f"df = wk.transcribe({long!r}, callback=say, **{ASR!r})", interrupt_in_decoding)
        assert sent, "decoding never reported progress"
        assert reply["status"] == "ok", reply  # transcribe returned what it had: the cell did not fail
        _, printed = run_cell(client, "show(df)")
        partial = json.loads(printed.split("DF ", 1)[1])
        expected = of_file(reference["asr"], long)
        assert partial["interrupted"] and partial["files"][long]["interrupted"]
        assert 0 < len(partial["rows"]) < len(expected) and partial["rows"] == expected[: len(partial["rows"])]
        reply, printed = run_cell(client, f"show(wk.transcribe({long!r}, **{ASR!r}))")
        assert reply["status"] == "ok", reply
        again = json.loads(printed.split("DF ", 1)[1])
        assert not again["interrupted"] and again["rows"] == expected
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _default_sigint() -> None:
    """In the child before it runs the command: SIGINT as an interactive user has it, whatever the test
    runner inherited (a shell's background job ignores SIGINT, and Python would then not install its
    KeyboardInterrupt handler)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_cell(client, code: str, on_line=None) -> tuple[dict, str]:
    """Execute ``code`` in the kernel; ``on_line`` sees each stdout line as it comes. Returns the execute
    reply's content and everything printed to stdout."""
    msg_id = client.execute(code)
    printed, partial = "", ""
    deadline = time.monotonic() + LONG_WAIT_S
    while True:
        message = client.get_iopub_msg(timeout=max(deadline - time.monotonic(), 1))
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream" and content["name"] == "stdout":
            printed += content["text"]
            partial += content["text"]
            *complete, partial = partial.split("\n")
            for line in complete:
                if on_line is not None:
                    on_line(line)
        elif kind == "status" and content["execution_state"] == "idle":
            break
    while True:
        reply = client.get_shell_msg(timeout=max(deadline - time.monotonic(), 1))
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"], printed
