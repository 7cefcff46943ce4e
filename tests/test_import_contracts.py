"""The import contracts of pyproject.toml ([tool.importlinter]) hold: the stages import only earlier ones,
nothing imports in a cycle, the core never imports the notebook layer, engines never import the run layer
and speakers never import transcription. `lint-imports` reads the source only; it imports nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept():
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--no-cache", "--no-logo", "pyproject.toml"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, f"lint-imports failed:\n{done.stdout}\n{done.stderr}"
