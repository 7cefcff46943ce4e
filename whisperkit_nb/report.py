"""`FileReport`: the facts a run records about one input, shown as ``df.attrs["files"][name]``.

The run stages fill it in as they go (``report.fallbacks += 1``); `FileReport.as_dict` is what the
DataFrame carries. A fact a run never recorded (a file without diarization has no speaker count, an
interrupted one may stop before its VAD) is left out of that dict rather than shown as a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FileReport:
    """What happened to one input. Every field is None until the run records it.

    Attributes
    ----------
    name : str
        The input's name: its path as given, or ``"<array>"`` for samples.
    engine : str
        The engine that decoded it (what ``engine="auto"`` chose).
    duration : float
        Seconds of audio.
    speech_seconds : float
        Seconds of speech the VAD found (VAD chunking only).
    chunks : int
        Chunks decoded: VAD chunks, or the 30 s windows of ``chunking="fixed"``.
    batch_size : int
        Chunks per batch at the end of the file (lower than asked after a GPU out-of-memory retry).
    tails : int
        Chunks whose words after their last timestamp were decoded again as a tail (VAD chunking only).
    fallbacks : int
        Chunk decodings retried at a higher temperature (VAD chunking only).
    dropped_chunks : int
        Chunks dropped as silence or as hopeless repetition (VAD chunking only).
    gaps : list of dict
        Stretches that could not be decoded (``{"start", "end"}`` in seconds), transcribed as silence.
    language : str or None
        The language, given or detected; with code-switching the one spoken longest. None when there was
        no speech to tell it from.
    language_probability : float
        The detected language's probability (only when it was detected for the whole file).
    languages : dict of str to float
        Seconds of speech per language, most spoken first (code-switching only).
    oom_retries : int
        Batches decoded again in halves after the GPU ran out of memory.
    speakers : int
        Speakers found by diarization.
    speaker_turns : list of dict
        The diarization's turns, overlapped speech kept (``{"start", "end", "speaker"}``), for DER.
    speaker_embeddings : dict of str to list of float
        Each speaker's voice: the unit-normalised, duration-weighted centroid of the embeddings of its turns,
        from the diarization pipeline's own embedding model (CAM++, 192 values, for the offline pipeline).
        Keyed by the speakers of ``speaker_turns`` (a sample's name where ``speaker_samples`` named one; before
        ``speaker_names``). Recorded whenever diarization runs; corpus linking compares them across files.
    speaker_matches : dict of str to dict
        With ``speaker_samples``: for each speaker of the result (a sample's name, or a ``SPEAKER_xx`` whose
        turns matched no sample), ``{"name", "similarity", "closest", "diarized", "threshold"}``: the name
        (None when unnamed), the cosine similarity of its voice (the centroid of its turns) to that sample
        (unnamed: to the closest sample, ``closest``), the diarization's labels its turns had, and the
        similarity a match needed (``speaker_match_threshold``, or its default for the recording's band), so
        doubtful matches can be checked.
    seconds : float
        Wall-clock seconds the input took, diarization included. In a corpus run, where inputs share
        batches, from its first batch to its stored result (so the inputs' seconds overlap).
    interrupted : bool
        True when a KeyboardInterrupt stopped the run during this input.
    diarization : str
        ``"interrupted"`` when the interrupt came before the speakers were assigned.
    """

    name: str | None = None
    engine: str | None = None
    duration: float | None = None
    speech_seconds: float | None = None
    chunks: int | None = None
    batch_size: int | None = None
    tails: int | None = None
    fallbacks: int | None = None
    dropped_chunks: int | None = None
    gaps: list[dict] | None = None
    language: str | None = None
    language_probability: float | None = None
    languages: dict[str, float] | None = None
    oom_retries: int | None = None
    speakers: int | None = None
    speaker_turns: list[dict] | None = None
    speaker_embeddings: dict[str, list[float]] | None = None
    speaker_matches: dict[str, dict] | None = None
    seconds: float | None = None
    interrupted: bool | None = None
    diarization: str | None = None
    _recorded: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._recorded.update(f.name for f in _facts() if getattr(self, f.name) is not None)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name != "_recorded" and "_recorded" in self.__dict__:  # after __init__: recorded, None included
            self._recorded.add(name)

    def record(self, **facts: Any) -> None:
        """Set several fields at once; a name that is not a field raises AttributeError."""
        for name, value in facts.items():
            if name not in self.__dataclass_fields__ or name == "_recorded":
                raise AttributeError(f"FileReport has no field {name!r}")
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        """The recorded facts, in field order: the per-file dict of ``df.attrs["files"]``."""
        return {f.name: getattr(self, f.name) for f in _facts() if f.name in self._recorded}


def _facts() -> tuple[dataclasses.Field, ...]:
    return tuple(f for f in dataclasses.fields(FileReport) if f.init)
