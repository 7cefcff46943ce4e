"""Your own recordings as a development set: `make bench RECORDINGS=folder` runs the CPU bench on them.

Every audio file in the folder (searched recursively; any format FFmpeg reads: the extensions
`whisperkit_nb.corpus.inputs.MEDIA_EXTENSIONS` lists) needs its reference transcript beside it, same name with
``.txt`` (``interview.m4a`` and ``interview.txt``): plain text, any line breaks. A file's language is that
of a ``.lang`` file beside it (``interview.lang`` holding ``es``), else the ``--language`` given, else the one
the systems detect; it only chooses how the words are normalised before counting errors (Whisper's English
normaliser for English; characters, not words, for languages written without spaces, such as Chinese, Japanese
and Thai; the basic one otherwise: `whisperkit_nb.scoring.normalizer_for`), no system is told it. These files
form the part ``"yours"``: nothing was tuned on them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from whisperkit_nb.audio.source import SAMPLE_RATE, open_audio  # noqa: E402
from whisperkit_nb.corpus.inputs import MEDIA_EXTENSIONS  # noqa: E402

PART = "yours"


@dataclass(frozen=True)
class Recording:
    """A recording of yours and its reference (the attributes the bench reads of a built fixture)."""

    path: Path
    reference: str
    duration: float
    language: str | None = None
    turns: list = field(default_factory=list)  # no reference turns or inserted silences: text only
    silences: list = field(default_factory=list)


def recordings(folder: str | Path, language: str | None = None) -> list:
    """The recordings under ``folder`` as development files of the part ``"yours"``, in name order.

    Raises FileNotFoundError naming the folder when it holds no audio, and ValueError naming every audio
    file without a reference transcript (or with an empty one) before anything runs.
    """
    from devset import DevFile

    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (RECORDINGS= names a folder of recordings, each with a "
                                ".txt reference beside it)")
    audio = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_EXTENSIONS)
    if not audio:
        raise FileNotFoundError(f"{root}: no audio files in it (looked for {', '.join(sorted(MEDIA_EXTENSIONS))})")
    missing = [p for p in audio if not p.with_suffix(".txt").is_file()
               or not p.with_suffix(".txt").read_text(encoding="utf-8").strip()]
    if missing:
        listing = "; ".join(str(p.with_suffix(".txt")) for p in missing)
        raise ValueError(f"{len(missing)} recording(s) without a reference transcript (a non-empty .txt beside "
                         f"each audio file): {listing}")
    names = _short_names(root, audio)
    files = []
    for path in audio:
        lang_file = path.with_suffix(".lang")
        lang = lang_file.read_text(encoding="utf-8").strip() if lang_file.is_file() else language
        reference = " ".join(path.with_suffix(".txt").read_text(encoding="utf-8").split())
        fixture = Recording(path, reference, _duration(path), lang or None)
        files.append(DevFile(names[path], PART, f"your recording {path.relative_to(root)}", fixture))
    return files


def _duration(path: Path) -> float:
    """Seconds of audio: the container's figure, else the samples decoded (a stream that does not announce it)."""
    source = open_audio(str(path), "fail")
    if source.duration:
        return float(source.duration)
    return sum(len(block) for block in source.blocks()) / SAMPLE_RATE


def _short_names(root: Path, paths: list[Path]) -> dict[Path, str]:
    """Each file's name in tables: its stem, or its path under ``root`` where two stems are alike."""
    stems = [p.stem for p in paths]
    return {p: p.stem if stems.count(p.stem) == 1 else str(p.relative_to(root).with_suffix("")) for p in paths}
