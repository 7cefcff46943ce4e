"""What identifies a stored result: the audio's content, the options that change it, the model, the version.

A result is found again by its key, never by its path: a renamed or moved file is not transcribed again, and
an edited one is. Two keys, so that speakers can change without transcribing again:

- the transcript key: the audio (sha256 of its bytes, and its size), every option that changes the
  transcript (`TRANSCRIPT_EXCLUDED` lists the others and why), the model's identity (`model_identity`) and
  ``whisperkit_nb.__version__``;
- the speaker key: the speaker options (`SPEAKER_OPTIONS`; enrolment samples by the sha256 of their bytes,
  not their paths), the diarization device type and the version; ``"none"`` without diarization.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from whisperkit_nb.options import TranscribeOptions, option_fields, sample_paths

BLOCK = 1 << 20

# Options that change the speakers only: a change re-runs `diarize` and `assign_speakers` on the stored
# transcript (words kept), never the transcription.
SPEAKER_OPTIONS = ("diarize", "num_speakers", "min_speakers", "max_speakers", "diarization_model",
                   "speaker_split_min_s", "speaker_names", "speaker_samples", "speaker_match_threshold")
# Options in no key, and why.
TRANSCRIPT_EXCLUDED = {
    "progress": "draws bars, changes nothing stored",
    "hf_token": "a secret: never stored, not even hashed; which pipeline it opens is diarization_model",
    "device": "only its type counts, through the model identity (cuda:0 and cuda:1 give the same results)",
    "engine": "the resolved engine counts, through the model identity (auto is not a result)",
    "model": "the resolved model name counts, through the model identity (None means a machine's default)",
    "dtype": "counted through the model identity, with the device type that resolves auto",
    "link_speakers": "links speakers across a corpus's stored per-file results; changes none of them",
    "speaker_link_threshold": "as link_speakers",
}


def audio_hash(path: str | os.PathLike) -> str:
    """sha256 of the file's bytes, read in 1 MiB blocks, joined with its size: ``"<hex>-<size>"``."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as file:
        while block := file.read(BLOCK):
            digest.update(block)
            size += len(block)
    return f"{digest.hexdigest()}-{size}"


def model_identity(options: TranscribeOptions) -> dict[str, str]:
    """The model a run with these options uses, resolved without loading it.

    ``model`` (the resolved name: a short name, a hub id or a local directory as given), ``engine`` (what
    ``engine="auto"`` picks here), ``dtype`` (the option) and ``device`` (the device type, which resolves
    ``dtype="auto"``). Imports torch (to see the devices), loads no weights.
    """
    from whisperkit_nb.device import resolve_device
    from whisperkit_nb.engines.registry import resolve_engine
    from whisperkit_nb.engines.weights import default_model_name

    device = resolve_device(options.device)
    name = options.model or default_model_name(device)
    return {"model": name, "engine": resolve_engine(options, device, name), "dtype": options.dtype,
            "device": device.type}


def transcript_options(options: TranscribeOptions) -> dict[str, Any]:
    """The options that change a transcript, by name (JSON values)."""
    skipped = set(SPEAKER_OPTIONS) | set(TRANSCRIPT_EXCLUDED)
    return {f.name: _jsonable(getattr(options, f.name)) for f in option_fields() if f.name not in skipped}


def speaker_options(options: TranscribeOptions) -> dict[str, Any]:
    """The options that change the speakers, by name (JSON values; samples as content hashes)."""
    values = {name: _jsonable(getattr(options, name)) for name in SPEAKER_OPTIONS}
    if options.speaker_samples is not None:
        # by content: a sample re-recorded under the same name re-assigns speakers, a renamed one does not
        values["speaker_samples"] = {name: sorted(_sample_hash(p) for p in sample_paths(paths))
                                     for name, paths in sorted(options.speaker_samples.items())}
    return values


def _sample_hash(path: Any) -> str:
    """A sample's content hash; its path when it cannot be read (the run then fails, naming the sample)."""
    try:
        return audio_hash(path)
    except OSError:
        return f"unreadable:{os.fspath(path)}"


def transcript_key(audio: str, options: TranscribeOptions, identity: dict[str, str], version: str) -> str:
    return _digest({"audio": audio, "options": transcript_options(options), "model": identity, "version": version})


def speaker_key(options: TranscribeOptions, identity: dict[str, str], version: str) -> str:
    if not options.diarize:
        return "none"
    return _digest({"options": speaker_options(options), "device": identity["device"], "version": version})[:16]


def _digest(value: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:32]


def _jsonable(value: Any) -> Any:
    return dict(sorted(value.items())) if isinstance(value, dict) else value
