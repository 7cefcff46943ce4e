"""The audio: the Asterisk English prompts (Debian packages), or the pack built from them for machines without."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import importlib.util
import json
import lzma
import shutil
import sys
import wave
from pathlib import Path

from gpubench.common import BUILD_DIR, PACK_DIR, REPO, SAMPLE_RATE, log

VAD_ONNX = "silero_vad_16k_sequence.onnx"

def make_audio_pack() -> dict:
    """Write the English prompts (8 kHz int16, lossless, lzma) and Silero's ONNX file under .cache/bench-audio/.

    The GPU machine has no Debian prompts; from this pack it rebuilds the same prompt files and then the very
    same `asterisk_long` fixture as this machine (checked here by building one both ways).
    """
    import assets
    import numpy as np

    prompts = assets.asterisk_prompts("en")
    raw_texts = _raw_prompt_texts(assets.ASTERISK_DOC_DIR / "asterisk-core-sounds-en" / "core-sounds-en.txt.gz")
    samples, index = [], []
    for prompt in prompts:
        data, rate = assets.read_wav(prompt.path)
        samples.append(data)
        index.append({"name": prompt.name, "text": raw_texts[prompt.name], "n": len(data), "rate": rate})
    PACK_DIR.mkdir(parents=True, exist_ok=True)
    joined = np.concatenate(samples).astype(np.int16)
    # Sample differences split into high and low byte planes compress best (speech is smooth).
    diff = np.diff(joined.astype(np.int32), prepend=0).astype(np.int16).view(np.uint16)
    planes = np.concatenate([(diff >> 8).astype(np.uint8), (diff & 0xFF).astype(np.uint8)])
    (PACK_DIR / "samples.xz").write_bytes(lzma.compress(planes.tobytes(), preset=9))
    (PACK_DIR / "prompts.json").write_text(json.dumps({"format": 1, "prompts": index}, indent=0))
    shutil.copy(_vad_onnx_source(), PACK_DIR / VAD_ONNX)
    sizes = {p.name: p.stat().st_size for p in sorted(PACK_DIR.iterdir()) if p.is_file()}
    # Check: a fixture built from the pack is byte-identical to the one built from the Debian files.
    check_dir = BUILD_DIR / "pack-check"
    shutil.rmtree(check_dir, ignore_errors=True)
    debian = assets.asterisk_long(minutes=2.0, silence_s=0.0)
    with _prompts_from_pack(fixture_dir=check_dir):
        packed = assets.asterisk_long(minutes=2.0, silence_s=0.0)
    same = _sha256(debian.path) == _sha256(packed.path)
    shutil.rmtree(check_dir, ignore_errors=True)
    if not same:
        raise SystemExit("audio pack check failed: the fixture rebuilt from the pack differs from the Debian one")
    total = sum(sizes.values())
    log(f"audio pack in {PACK_DIR}: {len(index)} prompts, {joined.size / 8000 / 60:.1f} min at 8 kHz, "
        f"{total / 2**20:.1f} MiB ({', '.join(f'{k} {v / 2**20:.1f}' for k, v in sizes.items())}); "
        "a fixture rebuilt from it is byte-identical")
    return {"prompts": len(index), "bytes": total, "files": sizes}


def _raw_prompt_texts(transcript: Path) -> dict[str, str]:
    entries: dict[str, str] = {}
    with gzip.open(transcript, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.startswith(";") or ":" not in line:
                continue
            name, _, text = line.partition(":")
            entries.setdefault(name.strip(), text.strip())
    return entries


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _vad_onnx_source() -> Path:
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("silero-vad is not installed here: cannot copy its ONNX file into the pack")
    return Path(spec.submodule_search_locations[0]) / "data" / VAD_ONNX


@contextlib.contextmanager
def _prompts_from_pack(fixture_dir: Path | None = None):
    """Point tests/assets.py at prompt files rebuilt from the pack (Debian's layout, under .cache/bench-build)."""
    import assets
    import numpy as np

    meta = json.loads((PACK_DIR / "prompts.json").read_text())
    root = BUILD_DIR / "asterisk"
    sounds, doc = root / "sounds", root / "doc"
    marker = root / "complete"
    if not marker.is_file() or marker.read_text() != _sha256(PACK_DIR / "samples.xz"):
        shutil.rmtree(root, ignore_errors=True)
        planes = np.frombuffer(lzma.decompress((PACK_DIR / "samples.xz").read_bytes()), np.uint8)
        half = planes.size // 2
        diff = ((planes[:half].astype(np.uint16) << 8) | planes[half:]).view(np.int16)
        joined = np.cumsum(diff, dtype=np.int64).astype(np.int16)  # wraps exactly like the int16 diff did
        offset = 0
        for p in meta["prompts"]:
            path = sounds / "en" / f"{p['name']}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            with wave.open(str(path), "wb") as wav:
                wav.setnchannels(1)
                wav.setsampwidth(2)
                wav.setframerate(p["rate"])
                wav.writeframes(joined[offset : offset + p["n"]].astype("<i2").tobytes())
            offset += p["n"]
        transcript = doc / "asterisk-core-sounds-en" / "core-sounds-en.txt.gz"
        transcript.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(transcript, "wt", encoding="utf-8") as out:
            out.writelines(f"{p['name']}: {p['text']}\n" for p in meta["prompts"])
        marker.write_text(_sha256(PACK_DIR / "samples.xz"))
    saved = (assets.ASTERISK_SOUNDS_DIR, assets.ASTERISK_DOC_DIR, assets.FIXTURE_DIR)
    assets.ASTERISK_SOUNDS_DIR, assets.ASTERISK_DOC_DIR = sounds, doc
    if fixture_dir is not None:
        assets.FIXTURE_DIR = fixture_dir
    assets._asterisk_prompts.cache_clear()
    try:
        yield
    finally:
        assets.ASTERISK_SOUNDS_DIR, assets.ASTERISK_DOC_DIR, assets.FIXTURE_DIR = saved
        assets._asterisk_prompts.cache_clear()


def audio_fixture(minutes: float, silence_s: float):
    """`asterisk_long(minutes, silence_s)`: from the Debian prompts when installed, else from the pack."""
    import assets

    try:
        assets.asterisk_prompts("en")
        return assets.asterisk_long(minutes=minutes, silence_s=silence_s)
    except assets.MissingAssetError:
        if not (PACK_DIR / "prompts.json").is_file():
            raise SystemExit(
                "No audio: the Debian Asterisk prompts are not installed and there is no pack in "
                f"{PACK_DIR}. Run `bench/gpu.py --make-audio-pack` where they are, and carry .cache/bench-audio."
            ) from None
        with _prompts_from_pack():
            return assets.asterisk_long(minutes=minutes, silence_s=silence_s)


def ensure_vad_model() -> str:
    """Make `silero_vad` importable: the installed package, or a stub holding the pack's ONNX file."""
    if importlib.util.find_spec("silero_vad") is not None:
        return "silero-vad package"
    onnx = PACK_DIR / VAD_ONNX
    if not onnx.is_file():
        raise SystemExit(f"silero-vad is not installed and {onnx} is missing (run --make-audio-pack, carry it)")
    site = BUILD_DIR / "site"
    data = site / "silero_vad" / "data"
    data.mkdir(parents=True, exist_ok=True)
    (site / "silero_vad" / "__init__.py").write_text("")
    shutil.copy(onnx, data / VAD_ONNX)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    return f"stub package around {onnx.relative_to(REPO)}"


def read_samples(path: Path):
    """The whole file as 16 kHz float32, decoded by the library's own PyAV decoder when av is installed."""
    import numpy as np

    if importlib.util.find_spec("av") is not None:
        from whisperkit_nb.audio.source import open_audio

        return np.concatenate(list(open_audio(path).blocks()))
    import assets

    samples, rate = assets.read_wav(path)
    assert rate == SAMPLE_RATE
    return samples.astype(np.float32) / 32768.0


def wav_head(path: Path, seconds: float):
    """The first ``seconds`` of a 16 kHz int16 wav, as float32."""
    import numpy as np

    with wave.open(str(path), "rb") as wav:
        return np.frombuffer(wav.readframes(int(SAMPLE_RATE * seconds)), "<i2").astype(np.float32) / 32768.0
