"""whisperkit_nb: fast, batched Whisper transcription that hands back pandas DataFrames.

>>> import whisperkit_nb as wk
>>> df = wk.transcribe("interview.m4a", model="base")          # doctest: +SKIP

The pipeline, one module per stage: `audio` → `vad` and `chunking` → `features` → `decoding` →
`segments` → `frame`; `pipeline` runs it, `models` loads weights, `options` holds every setting.
"""

from whisperkit_nb.errors import (
    AudioError,
    MissingDependencyError,
    ModelError,
    OptionsError,
    TranscriptionFailures,
    WhisperkitError,
)
from whisperkit_nb.options import TranscribeOptions
from whisperkit_nb.output.frame import COLUMNS, words_frame
from whisperkit_nb.run.stream import stream_segments
from whisperkit_nb.run.transcribe import transcribe
from whisperkit_nb.speakers.assign import rename_speakers, speaker_summary
from whisperkit_nb.transcript.segments import Segment

__version__ = "0.1.0"

__all__ = [
    "COLUMNS",
    "AudioError",
    "MissingDependencyError",
    "ModelError",
    "OptionsError",
    "Segment",
    "TranscribeOptions",
    "TranscriptionFailures",
    "WhisperkitError",
    "load_model",
    "rename_speakers",
    "speaker_summary",
    "stream_segments",
    "transcribe",
    "words_frame",
]


def load_model(**options):
    """Load (or reuse) the Whisper model for these options; see `TranscribeOptions`."""
    from whisperkit_nb.engines.models import load_model as _load

    return _load(TranscribeOptions.from_kwargs(**options))


def load_ipython_extension(ipython):
    """``%load_ext whisperkit_nb``: the ``%transcribe``, ``%%transcribe`` and ``%whisperkit`` magics."""
    from whisperkit_nb.notebook import load_ipython_extension as load

    load(ipython)


def __getattr__(name):
    # controls() and player() live in the notebook layer, imported only when first used.
    if name in ("controls", "player"):
        import importlib

        return getattr(importlib.import_module(f".notebook.{name}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
