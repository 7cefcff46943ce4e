"""whisperkit_nb: fast, batched Whisper transcription that hands back pandas DataFrames.

>>> import whisperkit_nb as wk
>>> df = wk.transcribe("interview.m4a", model="base")          # doctest: +SKIP
>>> turns = wk.diarize("interview.m4a", num_speakers=3)        # doctest: +SKIP
>>> df = wk.assign_speakers(df, turns)                          # doctest: +SKIP
>>> by_turn = wk.turns(df)                                      # doctest: +SKIP

The layout follows the data, one subpackage per stage, each importing only the ones before it:

``audio/`` (open and decode inputs, log-mel features) → ``speech/`` (VAD speech regions, the chunk plan)
→ ``engines/`` (Whisper weights and the backends that run them) → ``decoding/`` (language, fallback,
hallucination control) → ``transcript/`` (segments and words on the original timeline; `turns`) → ``speakers/``
(diarization, speaker assignment) → ``output/`` (the DataFrame and its column schema; ``export`` and
``read_transcript`` with one writer module per format family in ``output/formats/``).
``run/`` composes the stages (`transcribe`, `stream_segments`) and exposes each as a public node
(`load_audio`, `plan_chunks`, `diarize`, `assign_speakers`); ``options.py`` holds every setting,
``events.py`` the progress events, ``report.py`` the typed per-file report, ``errors.py`` the errors;
``corpus/`` runs many inputs into a resumable store (`transcribe_corpus`, `open_corpus`);
``api.py`` gives the public run functions their tqdm bars (``progress_bars.py``), as a front end.
``scoring/`` (WER, DER against hand-corrected transcripts) and the notebook layer (``notebook/``: magics,
control panel, player) sit on top; nothing in the core imports them. The import contracts in pyproject.toml (``lint-imports``) keep it so.

Public names are imported on first use (``__getattr__`` below), so ``import whisperkit_nb`` loads neither
torch nor transformers, and neither does building the CLI's parser.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Each public name and the module that defines it, imported on first attribute access.
_EXPORTS: dict[str, str] = {
    "WhisperkitError": "whisperkit_nb.errors",
    "AudioError": "whisperkit_nb.errors",
    "MissingDependencyError": "whisperkit_nb.errors",
    "ModelError": "whisperkit_nb.errors",
    "OptionsError": "whisperkit_nb.errors",
    "TranscriptionFailures": "whisperkit_nb.errors",
    "TranscribeOptions": "whisperkit_nb.options",
    "ProgressEvent": "whisperkit_nb.events",
    # The public run functions: the pipeline's, with tqdm bars when ``progress`` is on (the pipeline draws nothing).
    "transcribe": "whisperkit_nb.api",
    "stream_segments": "whisperkit_nb.api",
    "diarize": "whisperkit_nb.api",
    "transcribe_corpus": "whisperkit_nb.api",
    "open_corpus": "whisperkit_nb.corpus.corpus",
    "Corpus": "whisperkit_nb.corpus.corpus",
    "StoreError": "whisperkit_nb.corpus.store",
    "load_audio": "whisperkit_nb.run.nodes",
    "plan_chunks": "whisperkit_nb.run.nodes",
    "load_model": "whisperkit_nb.run.nodes",
    "release_models": "whisperkit_nb.engines.registry",
    "loaded_models": "whisperkit_nb.engines.registry",
    "assign_speakers": "whisperkit_nb.run.nodes",
    "rename_speakers": "whisperkit_nb.speakers.assign",
    "speaker_summary": "whisperkit_nb.speakers.assign",
    "Segment": "whisperkit_nb.transcript.segments",
    "COLUMNS": "whisperkit_nb.output.dataframe",
    "words_frame": "whisperkit_nb.output.dataframe",
    "turns": "whisperkit_nb.transcript.turns",
    "export": "whisperkit_nb.output.export",
    "read_transcript": "whisperkit_nb.output.export",
    "score": "whisperkit_nb.scoring",
    # The notebook layer: not in __all__, so `from whisperkit_nb import *` never needs the widget libraries.
    "controls": "whisperkit_nb.notebook.controls",
    "player": "whisperkit_nb.notebook.player",
}

# The names above, less the notebook layer's (a literal, for type checkers and linters).
__all__ = [
    "COLUMNS",
    "AudioError",
    "Corpus",
    "MissingDependencyError",
    "ModelError",
    "OptionsError",
    "ProgressEvent",
    "Segment",
    "StoreError",
    "TranscribeOptions",
    "TranscriptionFailures",
    "WhisperkitError",
    "assign_speakers",
    "diarize",
    "export",
    "load_audio",
    "load_model",
    "loaded_models",
    "open_corpus",
    "plan_chunks",
    "read_transcript",
    "release_models",
    "rename_speakers",
    "score",
    "speaker_summary",
    "stream_segments",
    "transcribe",
    "transcribe_corpus",
    "turns",
    "words_frame",
]

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time `__getattr__` imports these on first use
    from whisperkit_nb.errors import (
        AudioError,
        MissingDependencyError,
        ModelError,
        OptionsError,
        TranscriptionFailures,
        WhisperkitError,
    )
    from whisperkit_nb.events import ProgressEvent
    from whisperkit_nb.notebook.controls import controls as controls
    from whisperkit_nb.notebook.player import player as player
    from whisperkit_nb.options import TranscribeOptions
    from whisperkit_nb.output.dataframe import COLUMNS, words_frame
    from whisperkit_nb.output.export import export, read_transcript
    from whisperkit_nb.api import diarize, stream_segments, transcribe, transcribe_corpus
    from whisperkit_nb.corpus.corpus import Corpus, open_corpus
    from whisperkit_nb.corpus.store import StoreError
    from whisperkit_nb.engines.registry import loaded_models, release_models
    from whisperkit_nb.run.nodes import assign_speakers, load_audio, load_model, plan_chunks
    from whisperkit_nb.scoring import score
    from whisperkit_nb.speakers.assign import rename_speakers, speaker_summary
    from whisperkit_nb.transcript.segments import Segment
    from whisperkit_nb.transcript.turns import turns


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups no longer come here
    return value


def __dir__() -> list[str]:
    helpers = {"annotations", "importlib", "Any", "TYPE_CHECKING"}  # this module's own imports
    return sorted((set(globals()) - helpers) | set(_EXPORTS))


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext whisperkit_nb``: the ``%transcribe``, ``%%transcribe`` and ``%whisperkit`` magics."""
    from whisperkit_nb.notebook import load_ipython_extension as load

    load(ipython)
