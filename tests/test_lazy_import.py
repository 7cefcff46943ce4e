"""`import whisperkit_nb` and the CLI's --help load neither torch nor transformers: the public names are
imported on first use (whisperX's layout), and the CLI imports the pipeline only when it runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

HEAVY = ("torch", "transformers", "pandas", "numpy")


def _run(script: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_import_loads_no_torch_nor_transformers():
    lines = _run("""
        import sys, whisperkit_nb
        print('torch' in sys.modules, 'transformers' in sys.modules)
        print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))
    """.replace("{HEAVY!r}", repr(set(HEAVY))))
    assert lines == ["False False", "[]"]


def test_cli_help_loads_no_torch_nor_transformers():
    lines = _run("""
        import contextlib, io, sys
        import whisperkit_nb.cli as cli
        text = cli.build_parser().format_help()
        with contextlib.redirect_stdout(io.StringIO()) as shown:
            for argv in (["--help"], ["transcribe", "--help"]):
                try:
                    cli.main(argv)
                except SystemExit as stop:
                    assert stop.code == 0, stop.code
        assert "transcribe" in text and "--num-speakers" in shown.getvalue()
        print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))
    """.replace("{HEAVY!r}", repr(set(HEAVY))))
    assert lines == ["[]"]


def test_public_names_are_listed_and_resolve_on_first_use():
    import whisperkit_nb as wk

    names = dir(wk)
    for name in ("transcribe", "diarize", "assign_speakers", "load_audio", "plan_chunks", "TranscribeOptions",
                 "OptionsError", "words_frame", "controls", "player", "score"):
        assert name in names
    assert set(wk.__all__) == set(wk._EXPORTS) - {"controls", "player"}  # the notebook layer is not starred
    assert set(wk.__all__) <= set(names)
    assert "torch" not in wk.__all__ and "annotations" not in names
    assert all(callable(getattr(wk, name)) or name == "COLUMNS" for name in wk.__all__)
    with pytest.raises(AttributeError, match="no_such_name"):
        wk.no_such_name  # noqa: B018 - the attribute access is what is tested


def test_reading_results_needs_no_torch():
    """Speaker assignment and the words view are pandas work: touching them loads no Whisper."""
    lines = _run("""
        import sys
        import whisperkit_nb as wk
        wk.assign_speakers, wk.rename_speakers, wk.speaker_summary, wk.words_frame, wk.COLUMNS, wk.load_audio
        print('torch' in sys.modules, 'transformers' in sys.modules)
    """)
    assert lines == ["False False"]
