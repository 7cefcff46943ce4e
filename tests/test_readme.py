"""README.md promises: the two setup commands come first, and the options table is the dataclass's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_opens_with_the_two_commands():
    text = (REPO / "README.md").read_text()
    block = text.split("```")[1]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make demo", "make test"]


def test_readme_options_table_matches_the_dataclass():
    table = subprocess.run([sys.executable, str(REPO / "scripts" / "options_table.py")], capture_output=True,
                           text=True, check=True).stdout.strip()
    text = (REPO / "README.md").read_text()
    start = text.index("<!-- options-table")
    section = text[text.index("\n", start) + 1 : text.index("<!-- /options-table -->")].strip()
    assert section == table
