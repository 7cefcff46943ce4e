"""The options dataclass as single source of truth, and the CLI generated from it."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from whisperkit_nb.cli import build_parser
from whisperkit_nb.errors import OptionsError
from whisperkit_nb.options import TranscribeOptions, option_names


def test_defaults_validate_and_are_documented():
    options = TranscribeOptions()
    assert options.chunking == "vad" and options.task == "transcribe" and options.device == "auto"
    import dataclasses

    for f in dataclasses.fields(TranscribeOptions):
        assert f.metadata["help"], f.name


@pytest.mark.parametrize(
    "kwargs, phrase",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"chunking": "bogus"}, "chunking"),
        ({"task": "summarise"}, "task"),
        ({"vad_threshold": 2.0}, "vad_threshold"),
        ({"progress": "yes"}, "progress"),
        ({"batch_size": 2.5}, "whole number"),
        ({"device": "gpu"}, "device"),
        ({"model": "tiny.en", "task": "translate"}, "English-only"),
        ({"compile": True, "chunking": "fixed"}, "compile"),
        ({"segment_times": "alignment", "chunking": "fixed"}, "segment_times"),
        ({"segment_times": "words"}, "segment_times"),
    ],
)
def test_bad_options_raise_with_the_option_named(kwargs, phrase):
    with pytest.raises(OptionsError, match=phrase):
        TranscribeOptions(**kwargs)


def test_unknown_option_suggests_the_close_name():
    with pytest.raises(OptionsError, match="did you mean 'batch_size'"):
        TranscribeOptions.from_kwargs(batchsize=4)
    with pytest.raises(OptionsError, match="Unknown option"):
        TranscribeOptions().replace(flash=True)


def test_cli_has_a_flag_for_every_option():
    parser = build_parser()
    run = parser._subparsers._group_actions[0].choices["transcribe"]
    dests = {a.dest for a in run._actions}
    assert set(option_names()) <= dests
    ns = parser.parse_args(["transcribe", "a.wav", "--batch-size", "4", "--no-progress", "--chunking", "fixed"])
    assert (ns.batch_size, ns.progress, ns.chunking) == (4, False, "fixed")


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "whisperkit_nb.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def test_cli_writes_the_dataframe(librivox, tmp_path):
    out = tmp_path / "out.csv"
    done = _cli("transcribe", str(librivox.path), "--model", "tiny.en", "--no-progress", "-o", str(out),
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 file(s)" in done.stdout and "segments" in done.stdout and f"wrote {out}" in done.stdout
    frame = pd.read_csv(out)
    assert {"file", "start", "end", "text", "language"} <= set(frame.columns) and len(frame) >= 3
    as_json = tmp_path / "out.json"
    assert _cli("transcribe", str(librivox.path), "--model", "tiny.en", "--no-progress", "-o", str(as_json),
                cwd=tmp_path).returncode == 0
    assert json.loads(as_json.read_text())[0]["text"]


def test_cli_reports_failures_and_keeps_good_files(librivox, tmp_path):
    out = tmp_path / "out.parquet"
    done = _cli("transcribe", str(librivox.path), str(tmp_path / "missing.wav"), "--model", "tiny.en",
                "--no-progress", "-o", str(out), cwd=tmp_path)
    assert done.returncode == 2
    assert "missing.wav: file not found" in done.stderr
    assert len(pd.read_parquet(out)) >= 3
    everything_bad = _cli("transcribe", str(tmp_path / "nope.wav"), "--model", "tiny.en", cwd=tmp_path)
    assert everything_bad.returncode == 1 and "file not found" in everything_bad.stderr
    bad_flag = _cli("transcribe", "x.wav", "--chunking", "nope", cwd=tmp_path)
    assert bad_flag.returncode == 2 and "invalid choice" in bad_flag.stderr
