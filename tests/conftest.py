"""Test-wide setup: everything offline, caches inside the repo, fixtures built once per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Set before anything imports huggingface_hub or pyannote: tests never touch the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["PYANNOTE_METRICS_ENABLED"] = "0"
os.environ.setdefault("WHISPERKIT_NB_CACHE", str(REPO / ".cache" / "whisperkit_nb"))
os.environ.setdefault("WHISPERKIT_NB_FIXTURES", str(REPO / ".cache" / "fixtures"))
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def librivox():
    from assets import librivox_concat

    return librivox_concat()


@pytest.fixture(scope="session")
def sample():
    from assets import pyannote_sample

    return pyannote_sample()


@pytest.fixture(scope="session")
def long_english():
    """Five minutes of real English prompts with a 60 s digital-silence stretch inside."""
    from assets import asterisk_long

    return asterisk_long(minutes=5.0, silence_s=60.0)
