"""Real-speech audio fixtures with reference transcripts, built offline from packaged assets.

Sources (see /work/shared/ASSETS.md):

- pyannote.audio's wheel: ``sample.wav``, a real 2-speaker phone call with a timed transcript.
- Debian ``pocketsphinx-testdata``: five LibriVox audiobook clips with transcriptions.
- Debian ``asterisk-core-sounds-{en,es,fr}-wav``: ~500 professionally read prompts per language
  (8 kHz, one voice per language), transcripts in ``asterisk-core-sounds-XX``.
- Debian ``flite``: synthetic voices, for conversations with exact speaker turns.

Builders concatenate these into 16 kHz mono 16-bit WAV files in :data:`FIXTURE_DIR`. Each is
deterministic (seeded), reuses an existing file, and computes its turns from WAV headers and the
seed alone, so a second call reads no audio. Silence between clips is digital zero; turn times are
exact to the sample. Files are written prompt by prompt, so multi-hour fixtures need little memory.

Bench scripts import this module by putting ``tests/`` on ``sys.path``.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import wave
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
import dataclasses
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

SAMPLE_RATE = 16_000
# Part of every file name: bump it when a builder's output changes, so stale caches are not reused.
FORMAT_VERSION = 1

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURE_DIR = Path(os.environ.get("WHISPERKIT_NB_FIXTURES") or REPO_ROOT / ".cache" / "fixtures")

LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
ASTERISK_SOUNDS_DIR = Path("/usr/share/asterisk/sounds")
ASTERISK_DOC_DIR = Path("/usr/share/doc")

PROMPT_GAP_S = (0.3, 1.2)  # natural pauses between Asterisk prompts
FLITE_GAP_S = (0.2, 0.8)  # pauses between conversation turns
LIBRIVOX_GAP_S = 0.5

__all__ = [
    "FIXTURE_DIR",
    "SAMPLE_RATE",
    "Fixture",
    "MissingAssetError",
    "Prompt",
    "Turn",
    "asterisk_language_file",
    "asterisk_long",
    "asterisk_prompts",
    "code_switched",
    "flite_conversation",
    "librivox_concat",
    "pyannote_sample",
    "read_wav",
    "write_wav",
    "resample_poly",
    "voice_conversation",
    "voice_sample",
    "with_noise_stretch",
]


class MissingAssetError(FileNotFoundError):
    """A packaged asset a fixture is built from is not installed; the message says how to get it."""


@dataclass(frozen=True)
class Turn:
    """One stretch of speech with its transcript.

    Attributes
    ----------
    start, end : float
        Seconds from the start of the file.
    text : str
        What is said, as the source's transcript writes it.
    speaker : str or None
        Speaker label (STM speaker, flite voice, ``"asterisk-<lang>"``); None when unknown.
    language : str or None
        ISO 639-1 code of the speech.
    """

    start: float
    end: float
    text: str
    speaker: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class Fixture:
    """An audio file and what is known to be in it.

    Attributes
    ----------
    path : Path
        16 kHz mono 16-bit WAV file.
    reference : str
        Every turn's text joined in time order.
    turns : list of Turn
        Sorted, non-overlapping.
    silences : list of (float, float)
        Long stretches deliberately inserted with no speech (digital silence or noise), in seconds.
        The short pauses between turns are not listed.
    language : str or None
        The file's main language; None when it mixes languages evenly.
    """

    path: Path
    reference: str
    turns: list[Turn]
    silences: list[tuple[float, float]]
    language: str | None

    @property
    def duration(self) -> float:
        """Length of the file in seconds, from its header."""
        with wave.open(str(self.path), "rb") as wav:
            return wav.getnframes() / wav.getframerate()


@dataclass(frozen=True)
class Prompt:
    """One Asterisk prompt recording.

    Attributes
    ----------
    name : str
        Name in the transcript file, possibly with a subfolder (``"digits/oclock"``).
    text : str
        Cleaned transcript.
    path : Path
        The 8 kHz WAV file.
    language : str
        ``"en"``, ``"es"`` or ``"fr"``.
    n_frames : int
        Length in samples at ``sample_rate``, from the WAV header.
    sample_rate : int
        Sample rate of the file.
    """

    name: str
    text: str
    path: Path
    language: str
    n_frames: int
    sample_rate: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.n_frames / self.sample_rate


def proc_status(key: str) -> int:
    """A /proc/self/status value in bytes (VmRSS, VmHWM, RssAnon): the memory tests' and bench/memory.py's reader."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def encode_audio(path: Path, samples: np.ndarray, container: str = "mp3", codec: str = "libmp3lame") -> Path:
    """16 kHz mono int16 ``samples`` written to ``path`` by FFmpeg's encoder ``codec`` in ``container``
    (PyAV, imported here: the fixtures that need no encoding do not need it)."""
    from fractions import Fraction

    import av

    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=SAMPLE_RATE, layout="mono")
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=SAMPLE_RATE,
                                      frame_size=stream.codec_context.frame_size or None)
        frame = av.AudioFrame.from_ndarray(samples[None].astype(np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, 0, Fraction(1, SAMPLE_RATE)
        for resampled in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(resampled):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a mono 16-bit WAV file.

    Returns
    -------
    samples : numpy.ndarray
        int16 samples.
    sample_rate : int
    """
    with wave.open(str(path), "rb") as wav:
        if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
            raise ValueError(f"{path}: expected mono 16-bit PCM")
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2"), wav.getframerate()



def corrupted_copy(source: Path, target: Path) -> Path:
    """``source`` with the middle third of its bytes overwritten by seeded random bytes (a damaged file that
    still opens: about 10-20 s of a 30 s mp3), written to ``target``."""
    garbled = bytearray(source.read_bytes())
    third = len(garbled) // 3
    garbled[third : 2 * third] = np.random.default_rng(0).integers(0, 256, third, dtype=np.uint8).tobytes()
    target.write_bytes(bytes(garbled))
    return target


def clip_of(source: str | os.PathLike[str], start_s: float, end_s: float, path: str | os.PathLike[str]) -> Path:
    """``start_s``..``end_s`` of the 16 kHz WAV ``source`` written as a WAV file at ``path``; return the path."""
    samples, rate = read_wav(source)
    if rate != SAMPLE_RATE:
        raise ValueError(f"{source}: expected {SAMPLE_RATE} Hz, got {rate}")
    return write_wav(path, samples[int(start_s * rate) : int(end_s * rate)])


def write_wav(path: str | os.PathLike[str], samples: np.ndarray) -> Path:
    """Write int16 ``samples`` as a 16 kHz mono 16-bit WAV file (through a temporary file); return the path."""
    path = Path(path)
    with _atomic_wav(path) as wav:
        wav.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
    return path


# --------------------------------------------------------------------------------------------------
# Builders


def pyannote_sample() -> Fixture:
    """pyannote.audio's 30 s sample: a real phone call between two speakers (Diane and Sheila).

    The file is used where the wheel installed it; turns come from its ``sample.stm``.
    """
    wav_path = _pyannote_sample_dir() / "sample.wav"
    turns = _read_stm(wav_path.with_suffix(".stm"), language="en")
    return Fixture(wav_path, _join(turns), turns, [], "en")


def librivox_concat() -> Fixture:
    """The five pocketsphinx LibriVox clips (26 s, one reader) with 0.5 s of silence between them."""
    if not (LIBRIVOX_DIR / "fileids").is_file():
        raise MissingAssetError(f"{LIBRIVOX_DIR} is missing: apt-get install pocketsphinx-testdata")
    ids = (LIBRIVOX_DIR / "fileids").read_text().split()
    texts = _read_sphinx_transcription(LIBRIVOX_DIR / "transcription")
    pieces, turns, pos = [], [], 0
    for index, clip_id in enumerate(ids):
        clip = LIBRIVOX_DIR / f"{clip_id}.wav"
        pos += round(LIBRIVOX_GAP_S * SAMPLE_RATE) if index else 0
        n = _n_frames_16k(clip)
        pieces.append(_Piece(pos, n, _clip_chunks(clip, n)))
        turns.append(Turn(pos / SAMPLE_RATE, (pos + n) / SAMPLE_RATE, texts[clip_id], None, "en"))
        pos += n
    path = FIXTURE_DIR / f"librivox_concat_v{FORMAT_VERSION}.wav"
    _render(path, pos, pieces)
    return Fixture(path, _join(turns), turns, [], "en")


def asterisk_prompts(lang: str) -> list[Prompt]:
    """The usable Asterisk prompts of one language, in transcript order.

    Kept: prompts whose WAV file exists and whose text has at least three words. Dropped: tone
    descriptions and annotations (``[ascending tones]``, ``<beep>``, ``(emphase)``), texts with
    keypad symbols or characters the speaker reads out as words (``*``, ``#``, ``@``, ...), and
    names listed twice. Stray quotation marks and ellipses are removed; the files use no other
    escapes.

    Parameters
    ----------
    lang : {"en", "es", "fr"}
    """
    return list(_asterisk_prompts(lang))


def asterisk_long(
    minutes: float = 18.0, silence_s: float = 90.0, lang: str = "en", *, seed: int = 0
) -> Fixture:
    """Long-form audio: shuffled Asterisk prompts with one long stretch of digital silence.

    Prompts follow one another with natural pauses (0.3-1.2 s); the prompt list is reshuffled and
    reused when it runs out. ``silence_s`` of digital silence is inserted at the prompt boundary
    nearest 60 % of the way through. The file lasts exactly ``minutes``.

    Parameters
    ----------
    minutes : float, default 18.0
        Total length, silence included.
    silence_s : float, default 90.0
        Length of the inserted silence; 0 inserts none.
    lang : {"en", "es", "fr"}, default "en"
    seed : int, default 0
        Seeds the prompt order and the pauses.
    """
    total = round(minutes * 60 * SAMPLE_RATE)
    silence = round(silence_s * SAMPLE_RATE)
    if silence >= total:
        raise ValueError(f"silence_s={silence_s} leaves no room for speech in {minutes} minutes")
    rng = np.random.default_rng(seed)
    queue = _PromptQueue(_asterisk_prompts(lang), rng)
    plan = _Plan()
    before = max(0, round(0.6 * total - silence / 2))
    silence_start = plan.fill(queue, rng, 0, before, pad=False)
    silences = [(silence_start / SAMPLE_RATE, (silence_start + silence) / SAMPLE_RATE)] if silence else []
    plan.fill(queue, rng, silence_start + silence, total)
    name = f"asterisk_long_{lang}_{minutes:g}min_silence{silence_s:g}s_seed{seed}_v{FORMAT_VERSION}.wav"
    return plan.build(FIXTURE_DIR / name, total, silences, lang)


def asterisk_language_file(
    lang: str,
    lead: Literal["english", "silence"] = "english",
    lead_s: float = 35.0,
    speech_s: float = 60.0,
    *,
    seed: int = 0,
) -> Fixture:
    """A file in ``lang`` whose first ``lead_s`` seconds are English speech or digital silence.

    Made to catch language detection that trusts only the first 30 s. The ``lang`` speech starts
    exactly at ``lead_s`` and lasts ``speech_s``; turns carry their language.

    Parameters
    ----------
    lang : {"es", "fr", "en"}
        Main language of the file.
    lead : {"english", "silence"}, default "english"
    lead_s, speech_s : float
        Seconds of lead-in and of ``lang`` speech.
    seed : int, default 0
    """
    if lead not in ("english", "silence"):
        raise ValueError(f"lead={lead!r}: use 'english' or 'silence'")
    rng = np.random.default_rng(seed)
    plan = _Plan()
    lead_n = round(lead_s * SAMPLE_RATE)
    silences = []
    if lead == "english":
        plan.fill(_PromptQueue(_asterisk_prompts("en"), rng), rng, 0, lead_n)
    elif lead_n:
        silences.append((0.0, lead_n / SAMPLE_RATE))
    total = lead_n + round(speech_s * SAMPLE_RATE)
    plan.fill(_PromptQueue(_asterisk_prompts(lang), rng), rng, lead_n, total)
    name = f"asterisk_{lang}_lead-{lead}{lead_s:g}s_speech{speech_s:g}s_seed{seed}_v{FORMAT_VERSION}.wav"
    return plan.build(FIXTURE_DIR / name, total, silences, lang)


def code_switched(
    blocks: Sequence[str] = ("en", "es", "fr", "en", "es", "fr"), block_s: float = 40.0, *, seed: int = 0
) -> Fixture:
    """Blocks of ``block_s`` seconds of Asterisk prompts, one language per block.

    Each block starts exactly at ``i * block_s``; turns carry their language and speaker
    (``"asterisk-<lang>"``, one voice per language). ``Fixture.language`` is None.
    """
    rng = np.random.default_rng(seed)
    queues = {lang: _PromptQueue(_asterisk_prompts(lang), rng) for lang in dict.fromkeys(blocks)}
    plan = _Plan()
    block_n = round(block_s * SAMPLE_RATE)
    for index, lang in enumerate(blocks):
        plan.fill(queues[lang], rng, index * block_n, (index + 1) * block_n)
    name = f"code_switched_{'-'.join(blocks)}_{block_s:g}s_seed{seed}_v{FORMAT_VERSION}.wav"
    return plan.build(FIXTURE_DIR / name, len(blocks) * block_n, [], None)


def with_noise_stretch(
    base: Fixture, noise_s: float = 60.0, at_fraction: float = 0.5, *, seed: int = 0
) -> Fixture:
    """``base`` with ``noise_s`` seconds of background noise and no speech inserted between two turns.

    The noise is seeded coloured noise between pink and brown (power falling as f^-1.5 above 20 Hz)
    at -42 dBFS RMS, about 25 dB below the speech, plus a faint 50 Hz mains hum with two harmonics.
    It goes in the middle of the pause between turns nearest ``at_fraction`` of the file, never
    inside one of ``base.silences``; later turns and silences move by ``noise_s``.
    """
    if not base.turns:
        raise ValueError("base has no turns to place the noise between")
    base_n, base_rate = _n_frames(base.path)
    if base_rate != SAMPLE_RATE:
        raise ValueError(f"{base.path}: expected {SAMPLE_RATE} Hz audio, not {base_rate} Hz")
    noise_n = round(noise_s * SAMPLE_RATE)
    at = _noise_insertion_point(base, at_fraction * base_n)
    shift = noise_n / SAMPLE_RATE
    at_s = at / SAMPLE_RATE

    def moved(start: float, end: float) -> tuple[float, float]:
        return (start + shift, end + shift) if start >= at_s else (start, end)

    turns = [Turn(*moved(t.start, t.end), t.text, t.speaker, t.language) for t in base.turns]
    silences = sorted([moved(*span) for span in base.silences] + [(at_s, at_s + shift)])
    pieces = [
        _Piece(0, at, _copy_chunks(base.path, 0, at)),
        _Piece(at, noise_n, lambda: [_noise(noise_n, np.random.default_rng(seed))]),
        _Piece(at + noise_n, base_n - at, _copy_chunks(base.path, at, base_n)),
    ]
    name = f"{base.path.stem}__noise{noise_s:g}s_at{at_fraction:g}_seed{seed}_v{FORMAT_VERSION}.wav"
    path = FIXTURE_DIR / name
    _render(path, base_n + noise_n, pieces)
    return Fixture(path, base.reference, turns, silences, base.language)


def flite_conversation(
    speakers: Sequence[str] = ("slt", "rms", "awb"), turns: int = 36, *, seed: int = 0
) -> Fixture:
    """A synthetic conversation: ``turns`` sentences spoken by flite voices, one after another.

    Each turn goes to a different speaker than the one before, chosen at random; pauses are
    0.2-0.8 s and turns never overlap. Each utterance is trimmed to its speech (to within 20 ms)
    and levelled to -20 dBFS, so turn times are those of the voice itself. About 2 minutes with
    the defaults.

    Parameters
    ----------
    speakers : sequence of str, default ("slt", "rms", "awb")
        flite voices (``flite -lv``); slt, rms, awb and kal16 are 16 kHz voices.
    turns : int, default 36
    seed : int, default 0
    """
    unknown = set(speakers) - set(_flite_voices())
    if unknown:
        raise ValueError(f"unknown flite voices {sorted(unknown)}; available: {_flite_voices()}")
    if len(speakers) < 2:
        raise ValueError("a conversation needs at least two speakers")
    rng = np.random.default_rng(seed)
    sentences: list[str] = []

    def pick(previous: str | None) -> tuple[str, Path, int, str]:
        if not sentences:
            sentences.extend(SENTENCES[i] for i in rng.permutation(len(SENTENCES)))
        text = sentences.pop()
        speaker = str(rng.choice([s for s in speakers if s != previous]))
        utterance = _flite_utterance(speaker, text)
        return speaker, utterance, _n_frames(utterance)[0], text

    path = FIXTURE_DIR / f"flite_{'-'.join(speakers)}_{turns}turns_seed{seed}_v{FORMAT_VERSION}.wav"
    result = _conversation(path, turns, rng, pick)
    return Fixture(path, _join(result), result, [], "en")


def _conversation(path: Path, turns: int, rng: np.random.Generator,
                  pick: Callable[[str | None], tuple[str, Path, int, str]]) -> list[Turn]:
    """Render ``turns`` utterances one after another from 0.3 s, each followed by a `FLITE_GAP_S` pause.

    ``pick(previous speaker)`` gives the next (speaker, clip, its frames at 16 kHz, text); it draws from ``rng``
    before the pause does, so a fixture's draws (and its cached file) depend only on its builder.
    """
    pieces, result, pos, speaker = [], [], round(0.3 * SAMPLE_RATE), None
    for _ in range(turns):
        speaker, clip, n, text = pick(speaker)
        pieces.append(_Piece(pos, n, _clip_chunks(clip, n)))
        result.append(Turn(pos / SAMPLE_RATE, (pos + n) / SAMPLE_RATE, text, speaker, "en"))
        pos += n + round(rng.uniform(*FLITE_GAP_S) * SAMPLE_RATE)
    _render(path, pos, pieces)
    return result


SENTENCES = (
    "The morning train was late again because of the heavy snow.",
    "Could you send me the report before the meeting starts?",
    "I think we should paint the kitchen a lighter color.",
    "My sister moved to a small town near the coast last spring.",
    "The library closes early on Sunday afternoons.",
    "We need more chairs for the guests who arrive tonight.",
    "Please remember to water the plants while I am away.",
    "The new bridge will open to traffic at the end of the summer.",
    "He fixed the old bicycle with parts from the garage.",
    "Nobody expected the concert to sell out so quickly.",
    "The soup needs a little more salt and some fresh pepper.",
    "Our team finished the project two weeks ahead of schedule.",
    "She reads the newspaper every morning with a cup of tea.",
    "The museum has a famous collection of ancient maps.",
    "Let me know if the printer stops working again.",
    "The children built a sand castle near the water.",
    "I left my umbrella on the bus this morning.",
    "The doctor said I should walk for half an hour every day.",
    "A strong wind knocked down several trees along the road.",
    "We watched the sunset from the top of the hill.",
    "The bakery on the corner sells the best bread in town.",
    "Can you explain how this machine works?",
    "The price of coffee has gone up again this year.",
    "They are planning a trip to the mountains in October.",
    "The meeting was moved to the large room on the third floor.",
    "My neighbor plays the piano every evening after dinner.",
    "The river was too cold for swimming.",
    "Turn left at the gas station and drive until you see the school.",
    "The garden looks beautiful after the rain.",
    "We should leave early to avoid the traffic.",
    "The cat sleeps on the kitchen window all afternoon.",
    "I forgot to charge my phone last night.",
)


# --------------------------------------------------------------------------------------------------
# Sources


def _pyannote_sample_dir() -> Path:
    # `pyannote` is a namespace package: find_spec lists its folders without importing pyannote.audio
    # (which imports torch and torchaudio). sys.path is searched too, in case the spec is not found.
    spec = importlib.util.find_spec("pyannote")
    roots = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    roots += [Path(entry) / "pyannote" for entry in sys.path if entry]
    for root in roots:
        sample_dir = root / "audio" / "sample"
        if (sample_dir / "sample.wav").is_file() and (sample_dir / "sample.stm").is_file():
            return sample_dir
    raise MissingAssetError("pyannote.audio's sample.wav not found: pip install pyannote.audio")


def _read_stm(path: Path, language: str) -> list[Turn]:
    """Turns of an STM file: ``file channel speaker start end [<labels>] transcript`` per line."""
    turns = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith(";;"):
            continue
        fields = line.split(maxsplit=5)
        if len(fields) < 5:
            raise ValueError(f"{path}: not an STM line: {line!r}")
        _, _, speaker, start, end, *rest = fields
        text = rest[0] if rest else ""
        if text.startswith("<"):  # optional "<o,f0,male>" label field
            text = text.partition(">")[2]
        text = text.strip()
        if "ignore_time_segment_in_scoring" in text.lower() or speaker == "inter_segment_gap" or not text:
            continue
        turns.append(Turn(float(start), float(end), text, speaker, language))
    return sorted(turns, key=lambda t: t.start)


def _read_sphinx_transcription(path: Path) -> dict[str, str]:
    """``<s> words </s> (utterance-id)`` lines, as a mapping of id to words."""
    texts = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"\s*(.*?)\s*\((\S+)\)\s*", line)
        if match:
            words = [w for w in match.group(1).split() if w not in ("<s>", "</s>", "<sil>")]
            texts[match.group(2)] = " ".join(words)
    return texts


# Annotations, and symbols read out as words ("press * to pause"), whose spoken form is unknown.
_UNSPEAKABLE = re.compile(r"[\[\]<>(){}*#@=+$%&/\\|_~^]")


def _clean_prompt_text(text: str) -> str | None:
    if _UNSPEAKABLE.search(text):
        return None
    text = re.sub(r"\.{2,}|…", " ", text)
    text = re.sub(r"[\"“”«»]", "", text)
    text = " ".join(text.split()).lstrip(",;: ")
    words = [word for word in text.split() if re.search(r"\w", word)]
    return text if len(words) >= 3 else None


@cache
def _asterisk_prompts(lang: str) -> tuple[Prompt, ...]:
    transcript = ASTERISK_DOC_DIR / f"asterisk-core-sounds-{lang}" / f"core-sounds-{lang}.txt.gz"
    sounds = ASTERISK_SOUNDS_DIR / lang
    if not transcript.is_file() or not sounds.is_dir():
        raise MissingAssetError(
            f"Asterisk {lang!r} prompts are missing: "
            f"apt-get install asterisk-core-sounds-{lang}-wav asterisk-core-sounds-{lang}"
        )
    entries: dict[str, list[str]] = {}
    with gzip.open(transcript, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.startswith(";") or ":" not in line:
                continue
            name, _, text = line.partition(":")
            entries.setdefault(name.strip(), []).append(text.strip())
    prompts = []
    for name, texts in entries.items():
        path = sounds / f"{name}.wav"
        text = _clean_prompt_text(texts[0]) if len(texts) == 1 else None
        if text is None or not path.is_file():
            continue
        n_frames, rate = _n_frames(path)
        prompts.append(Prompt(name, text, path, lang, n_frames, rate))
    return tuple(prompts)


@lru_cache(maxsize=1)
def _flite_voices() -> tuple[str, ...]:
    if shutil.which("flite") is None:
        raise MissingAssetError("flite is not installed: apt-get install flite")
    listing = subprocess.run(["flite", "-lv"], capture_output=True, text=True, check=True).stdout
    return tuple(listing.partition(":")[2].split())


def _flite_utterance(voice: str, text: str) -> Path:
    """A cached, trimmed, levelled 16 kHz recording of ``text`` in ``voice``."""
    key = hashlib.sha1(f"{voice}\n{text}".encode()).hexdigest()[:16]
    path = FIXTURE_DIR / "flite_utterances" / f"{voice}_{key}_v{FORMAT_VERSION}.wav"
    if path.exists():
        return path
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(
            ["flite", "-voice", voice, "-t", text, "-o", str(raw)], capture_output=True, check=True
        )
        samples, rate = read_wav(raw)
    audio = _to_16k(samples, rate)
    audio = _trim_to_speech(audio)
    audio *= 10 ** (-20 / 20) * 32768 / np.sqrt(np.mean(audio**2))
    audio *= min(1.0, 0.9 * 32768 / np.abs(audio).max())
    with _atomic_wav(path) as wav:
        wav.writeframesraw(_to_int16(audio).tobytes())
    return path


def _espeak_utterance(voice: str, text: str) -> Path:
    """A cached, trimmed, levelled 16 kHz recording of ``text`` by espeak-ng's ``voice`` (e.g. ``en-us+f3``)."""
    key = hashlib.sha1(f"{voice}\n{text}".encode()).hexdigest()[:16]
    path = FIXTURE_DIR / "espeak_utterances" / f"{voice}_{key}_v{FORMAT_VERSION}.wav"
    if path.exists():
        return path
    if shutil.which("espeak-ng") is None:
        raise MissingAssetError("espeak-ng is not installed: apt-get install espeak-ng")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], capture_output=True, check=True)
        samples, rate = read_wav(raw)
    audio = _trim_to_speech(_to_16k(samples, rate))
    audio *= 10 ** (-20 / 20) * 32768 / np.sqrt(np.mean(audio**2))
    audio *= min(1.0, 0.9 * 32768 / np.abs(audio).max())
    with _atomic_wav(path) as wav:
        wav.writeframesraw(_to_int16(audio).tobytes())
    return path


def _trim_to_speech(audio: np.ndarray, margin_s: float = 0.02) -> np.ndarray:
    """Drop leading and trailing frames more than 40 dB below the loudest 10 ms frame."""
    bounds = speech_bounds(audio, margin_s)
    if bounds is None:
        raise ValueError("no speech to trim to: the utterance is silent")
    return audio[bounds[0] : bounds[1]]


def speech_bounds(audio: np.ndarray, margin_s: float = 0.02) -> tuple[int, int] | None:
    """(first, end) sample of the speech in 16 kHz ``audio``: leading and trailing 10 ms frames more than 40 dB
    below the loudest one left out, ``margin_s`` kept on each side; None when no frame has any energy."""
    frame = SAMPLE_RATE // 100
    n_frames = len(audio) // frame
    if not n_frames:
        return None
    energy = np.sqrt(np.mean(audio[: n_frames * frame].reshape(n_frames, frame) ** 2, axis=1))
    active = np.flatnonzero(energy > energy.max() * 10 ** (-40 / 20))
    if not len(active):
        return None
    margin = round(margin_s * SAMPLE_RATE)
    return max(0, int(active[0]) * frame - margin), min(len(audio), (int(active[-1]) + 1) * frame + margin)


# --------------------------------------------------------------------------------------------------
# Planning: where each clip goes, decided from WAV headers and the seed alone


@dataclass(frozen=True)
class _Piece:
    start: int  # sample offset in the output
    n: int  # samples
    chunks: Callable[[], Iterable[np.ndarray]]  # int16 blocks totalling n samples, read on demand


class _PromptQueue:
    """Prompts in seeded shuffled order, reshuffled when used up, skipping ones that do not fit."""

    def __init__(self, prompts: Sequence[Prompt], rng: np.random.Generator) -> None:
        if not prompts:
            raise ValueError("no prompts to draw from")
        self._prompts = prompts
        self._rng = rng
        self._queue: deque[Prompt] = deque()

    def _reshuffle(self) -> None:
        self._queue.extend(self._prompts[i] for i in self._rng.permutation(len(self._prompts)))

    def take(self, max_frames: int) -> Prompt | None:
        """The next prompt no longer than ``max_frames`` at 16 kHz; None if no prompt is that short."""
        if not self._queue:
            self._reshuffle()
        for attempt in range(2):
            for _ in range(len(self._queue)):
                prompt = self._queue.popleft()
                if _prompt_frames_16k(prompt) <= max_frames:
                    return prompt
                self._queue.append(prompt)  # keep it for a later, roomier slot
            if attempt == 0 and len(self._queue) < len(self._prompts):
                self._reshuffle()  # only leftovers were tried: a fresh round may have a short one
            else:
                break
        return None


class _Plan:
    """Prompts placed at sample offsets, with their turns."""

    def __init__(self) -> None:
        self.pieces: list[_Piece] = []
        self.turns: list[Turn] = []

    def fill(
        self, queue: _PromptQueue, rng: np.random.Generator, start: int, end: int, *, pad: bool = True
    ) -> int:
        """Place prompts with pauses between ``start`` and ``end``.

        Each prompt is preceded by a pause, and the last is followed by at least the shortest
        pause. Returns ``end`` if ``pad``, else where the last prompt ends.
        """
        pos = start
        min_gap = round(PROMPT_GAP_S[0] * SAMPLE_RATE)
        while True:
            gap = round(rng.uniform(*PROMPT_GAP_S) * SAMPLE_RATE)
            room = end - pos - gap - min_gap
            prompt = queue.take(room) if room > 0 else None
            if prompt is None:
                return end if pad else pos
            n = _prompt_frames_16k(prompt)
            pos += gap
            self.pieces.append(_Piece(pos, n, _clip_chunks(prompt.path, n)))
            speaker = f"asterisk-{prompt.language}"
            self.turns.append(
                Turn(pos / SAMPLE_RATE, (pos + n) / SAMPLE_RATE, prompt.text, speaker, prompt.language)
            )
            pos += n

    def build(
        self, path: Path, total: int, silences: list[tuple[float, float]], language: str | None
    ) -> Fixture:
        _render(path, total, self.pieces)
        return Fixture(path, _join(self.turns), list(self.turns), silences, language)


def _noise_insertion_point(base: Fixture, target: float) -> int:
    """Sample index in the middle of the inter-turn pause nearest ``target``, outside any silence."""
    candidates = []
    for before, after in zip(base.turns, base.turns[1:]):
        middle = (before.end + after.start) / 2
        if not any(start < middle < end for start, end in base.silences):
            candidates.append(round(middle * SAMPLE_RATE))
    if not candidates:
        raise ValueError("base has no pause between turns outside its silences")
    return min(candidates, key=lambda at: abs(at - target))


def _join(turns: Iterable[Turn]) -> str:
    return " ".join(turn.text for turn in sorted(turns, key=lambda t: t.start))


# --------------------------------------------------------------------------------------------------
# Audio


def _n_frames(path: Path) -> tuple[int, int]:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes(), wav.getframerate()


def _n_frames_16k(path: Path) -> int:
    n, rate = _n_frames(path)
    return _resampled_length(n, rate, SAMPLE_RATE)


def _prompt_frames_16k(prompt: Prompt) -> int:
    return _resampled_length(prompt.n_frames, prompt.sample_rate, SAMPLE_RATE)


def _resampled_length(n: int, rate_in: int, rate_out: int) -> int:
    g = math.gcd(rate_in, rate_out)
    return -(-n * (rate_out // g) // (rate_in // g))


def _clip_chunks(path: Path, n: int) -> Callable[[], list[np.ndarray]]:
    def chunks() -> list[np.ndarray]:
        samples, rate = read_wav(path)
        audio = samples if rate == SAMPLE_RATE else _to_int16(_to_16k(samples, rate))
        assert len(audio) == n, (path, len(audio), n)
        return [audio]

    return chunks


def _copy_chunks(
    path: Path, start: int, stop: int, block: int = 1 << 20
) -> Callable[[], Iterator[np.ndarray]]:
    def chunks() -> Iterator[np.ndarray]:
        with wave.open(str(path), "rb") as wav:
            wav.setpos(start)
            for offset in range(start, stop, block):
                yield np.frombuffer(wav.readframes(min(block, stop - offset)), dtype="<i2")

    return chunks


def _to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    g = math.gcd(rate, SAMPLE_RATE)
    return resample_poly(samples.astype(np.float64), SAMPLE_RATE // g, rate // g)


def resample_poly(x: np.ndarray, up: int, down: int) -> np.ndarray:
    """``scipy.signal.resample_poly(x, up, down)`` with its default filter, in numpy.

    A Kaiser-windowed (beta 5) sinc low-pass with 10 zero crossings each side of the narrower band,
    applied polyphase: each output sample uses only the taps that meet non-zero input samples.
    Output length is ``ceil(len(x) * up / down)``, aligned with the input (no delay).
    """
    g = math.gcd(up, down)
    up, down = up // g, down // g
    x = np.asarray(x, dtype=np.float64)
    if up == down == 1:
        return x.copy()
    half_len = 10 * max(up, down)
    taps = np.arange(2 * half_len + 1) - half_len
    cutoff = 1 / max(up, down)
    h = cutoff * np.sinc(cutoff * taps) * np.kaiser(len(taps), 5.0)
    h *= up / h.sum()
    # On the zero-stuffed grid, output k sits at k * down + half_len (centring the filter); that
    # position's phase selects every up-th tap, convolved with the original samples.
    n_out = -(-len(x) * up // down)
    grid = np.arange(n_out) * down + half_len
    y = np.zeros(n_out)
    for phase in range(up):
        mask = grid % up == phase
        filtered = np.convolve(x, h[phase::up])
        index = grid[mask] // up
        y[mask] = np.where(index < len(filtered), filtered[np.minimum(index, len(filtered) - 1)], 0.0)
    return y


def _to_int16(audio: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(audio), -32768, 32767).astype("<i2")


def with_background_noise(base: Fixture, snr_db: float, *, seed: int = 0) -> np.ndarray:
    """``base``'s audio (float32, 16 kHz) with the room noise of `with_noise_stretch` under all of it, at
    ``snr_db`` below the RMS of the speech (measured over ``base.turns``). Turns and silences keep their
    times; the silences now hold noise only."""
    samples, rate = read_wav(base.path)
    if rate != SAMPLE_RATE:
        raise ValueError(f"{base.path}: expected {SAMPLE_RATE} Hz audio, not {rate} Hz")
    audio = samples.astype(np.float32) / 32768.0
    speech = np.concatenate([audio[int(t.start * SAMPLE_RATE) : int(t.end * SAMPLE_RATE)] for t in base.turns])
    noise = _noise(len(audio), np.random.default_rng(seed)).astype(np.float32) / 32768.0
    noise *= np.sqrt(np.mean(speech**2)) / np.sqrt(np.mean(noise**2)) / 10 ** (snr_db / 20)
    return np.clip(audio + noise, -1.0, 1.0)


#: scipy.signal.butter's (btype, edges in Hz) per filtering: a telephone line's band, and either edge of it alone.
BAND_FILTERS = {"tel": ("bandpass", (300, 3400)), "hp300": ("highpass", 300), "lp3400": ("lowpass", 3400)}


def band_filter(audio: np.ndarray, kind: str = "tel") -> np.ndarray:
    """``audio`` (16 kHz) through a 6th-order Butterworth filter of `BAND_FILTERS`, run forwards and backwards (no
    delay)."""
    from scipy.signal import butter, sosfiltfilt

    btype, edges = BAND_FILTERS[kind]
    return sosfiltfilt(butter(6, edges, btype=btype, fs=SAMPLE_RATE, output="sos"), audio)


def band_filtered(base: Fixture, kind: str = "tel") -> Fixture:
    """``base`` through `band_filter` (``"tel"``: 300-3400 Hz), written once beside the fixtures; the same turns."""
    return dataclasses.replace(base, path=band_filtered_wav(base.path, kind))


def band_filtered_wav(source: Path, kind: str = "tel") -> Path:
    """The 16 kHz WAV file ``source`` through `band_filter`, written once beside the fixtures."""
    path = FIXTURE_DIR / "band_filtered" / f"{source.stem}-{kind}.wav"
    if not path.exists():
        samples, rate = read_wav(source)
        if rate != SAMPLE_RATE:
            raise ValueError(f"{source}: expected {SAMPLE_RATE} Hz audio, not {rate} Hz")
        audio = band_filter(samples.astype(np.float32), kind)
        with _atomic_wav(path) as wav:
            wav.writeframesraw(_to_int16(audio).tobytes())
    return path


def _noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Room-like background noise: coloured noise at -42 dBFS RMS plus 50 Hz hum, faded in and out."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    frequency = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spectrum *= np.maximum(frequency, 20.0) ** -0.75  # power ~ f^-1.5: between pink and brown
    noise = np.fft.irfft(spectrum, n)
    noise *= 32768 * 10 ** (-42 / 20) / np.sqrt(np.mean(noise**2))
    t = np.arange(n) / SAMPLE_RATE
    for harmonic, level_db in ((1, -55.0), (2, -61.0), (3, -64.0)):
        amplitude = 32768 * 10 ** (level_db / 20) * np.sqrt(2)
        noise += amplitude * np.sin(2 * np.pi * 50 * harmonic * t + rng.uniform(0, 2 * np.pi))
    fade = min(n // 2, SAMPLE_RATE // 50)
    ramp = np.linspace(0.0, 1.0, fade, endpoint=False)
    noise[:fade] *= ramp
    noise[n - fade :] *= ramp[::-1]
    return _to_int16(noise)


# --------------------------------------------------------------------------------------------------
# Writing


_ZEROS = bytes(2 * SAMPLE_RATE * 10)


@contextmanager
def _atomic_wav(path: Path) -> Iterator[wave.Wave_write]:
    """A 16 kHz mono 16-bit WAV writer to a temporary file, renamed to ``path`` on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with wave.open(str(tmp), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(SAMPLE_RATE)
            yield wav
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_zeros(wav: wave.Wave_write, n: int) -> None:
    for offset in range(0, n, len(_ZEROS) // 2):
        wav.writeframesraw(_ZEROS[: 2 * min(len(_ZEROS) // 2, n - offset)])


def _render(path: Path, total: int, pieces: Sequence[_Piece]) -> None:
    """Write ``pieces`` at their offsets, digital silence elsewhere, unless ``path`` exists already."""
    if path.exists():
        return
    with _atomic_wav(path) as wav:
        pos = 0
        for piece in sorted(pieces, key=lambda p: p.start):
            if piece.start < pos:
                raise AssertionError(f"{path.name}: overlapping pieces at sample {piece.start}")
            _write_zeros(wav, piece.start - pos)
            written = 0
            for chunk in piece.chunks():
                wav.writeframesraw(np.ascontiguousarray(chunk, dtype="<i2").tobytes())
                written += len(chunk)
            if written != piece.n:
                raise AssertionError(
                    f"{path.name}: piece at {piece.start} wrote {written} of {piece.n} samples"
                )
            pos = piece.start + piece.n
        if total < pos:
            raise AssertionError(f"{path.name}: pieces run past the end")
        _write_zeros(wav, total - pos)


# --------------------------------------------------------------------------------------------------
# Known voices: conversations and enrolment samples (speaker_samples), never sharing a sentence

#: Sentences of the flite enrolment samples: none is in `SENTENCES`, which the conversations use.
ENROLMENT_SENTENCES = (
    "Every Thursday the market sells fresh fish from the harbour.",
    "The old clock in the hallway stopped at a quarter past nine.",
    "My grandfather kept his letters in a wooden box under the bed.",
    "The orchestra rehearsed the second movement three more times.",
    "Fresh snow covered the fields and the fences by the morning.",
    "She wrote the phone number on the back of an envelope.",
    "The students waited outside while the teacher found the key.",
    "A small boat drifted slowly toward the lighthouse.",
)
ENROLMENT_PROMPTS = 40  # an Asterisk voice's first prompts (in transcript order) are its enrolment sample


def voice_sample(voice: str, seconds: float = 12.0) -> Path:
    """An enrolment sample of one voice, about ``seconds`` long, of sentences no conversation uses.

    ``voice`` is ``"flite:<voice>"`` (flite's slt, rms, awb, kal16: `ENROLMENT_SENTENCES`), ``"espeak:<voice>"``
    (an espeak-ng voice, the same sentences), ``"asterisk:<lang>"`` (the Asterisk speaker of en, es or fr: its
    first `ENROLMENT_PROMPTS` prompts) or ``"librivox"`` (pocketsphinx's LibriVox reader: two of its five clips).
    Utterances follow one another with 0.4 s pauses.
    """
    clips = _voice_clips(voice, enrolment=True)
    pieces, pos, gap = [], 0, round(0.4 * SAMPLE_RATE)
    for clip in clips:
        if pos >= seconds * SAMPLE_RATE:
            break
        n = _n_frames_16k(clip)
        pieces.append(_Piece(pos, n, _clip_chunks(clip, n)))
        pos += n + gap
    path = FIXTURE_DIR / "speaker_samples" / f"{voice.replace(':', '_')}_{seconds:g}s_v{FORMAT_VERSION}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    _render(path, pos, pieces)
    return path


def voice_conversation(voices: Sequence[str], turns: int = 24, *, seed: int = 0) -> Fixture:
    """A conversation of known voices (as for `voice_sample`), each turn a different voice than the one before.

    Pauses are 0.2-0.8 s, turns never overlap; the turns' ``speaker`` is the voice string. Uses only
    sentences (flite) or prompts (Asterisk) that `voice_sample` does not.
    """
    if len(voices) < 2:
        raise ValueError("a conversation needs at least two voices")
    rng = np.random.default_rng(seed)
    pools = {v: list(_voice_clips(v, enrolment=False)) for v in voices}
    queues: dict[str, list[tuple[Path, str]]] = {v: [] for v in voices}

    def pick(previous: str | None) -> tuple[str, Path, int, str]:
        speaker = str(rng.choice([v for v in voices if v != previous]))
        if not queues[speaker]:
            queues[speaker] = [pools[speaker][i] for i in rng.permutation(len(pools[speaker]))]
        clip, text = queues[speaker].pop()
        return speaker, clip, _n_frames_16k(clip), text

    name = f"voices_{'-'.join(v.replace(':', '_') for v in voices)}_{turns}turns_seed{seed}_v{FORMAT_VERSION}.wav"
    path = FIXTURE_DIR / name
    result = _conversation(path, turns, rng, pick)
    return Fixture(path, _join(result), result, [], None)


def _voice_clips(voice: str, *, enrolment: bool) -> list:
    """Enrolment: clip paths; conversation: (clip path, text) pairs. Never the same sentence in both."""
    kind, _, name = voice.partition(":")
    if kind == "flite":
        texts = ENROLMENT_SENTENCES if enrolment else SENTENCES
        clips = [(_flite_utterance(name, text), text) for text in texts]
    elif kind == "espeak":
        texts = ENROLMENT_SENTENCES if enrolment else SENTENCES
        clips = [(_espeak_utterance(name, text), text) for text in texts]
    elif kind == "asterisk":
        prompts = [p for p in _asterisk_prompts(name) if 1.5 <= p.duration <= 8.0]
        chosen = prompts[:ENROLMENT_PROMPTS] if enrolment else prompts[ENROLMENT_PROMPTS:]
        clips = [(p.path, p.text) for p in chosen]
    elif voice == "librivox":  # the real reader of pocketsphinx's five clips: two enrol, three talk
        if not (LIBRIVOX_DIR / "fileids").is_file():
            raise MissingAssetError(f"{LIBRIVOX_DIR} is missing: apt-get install pocketsphinx-testdata")
        ids = (LIBRIVOX_DIR / "fileids").read_text().split()
        texts = _read_sphinx_transcription(LIBRIVOX_DIR / "transcription")
        clips = [(LIBRIVOX_DIR / f"{i}.wav", texts[i]) for i in (ids[:2] if enrolment else ids[2:])]
    else:
        raise ValueError(f"unknown voice {voice!r}: use 'flite:<voice>', 'espeak:<voice>', 'asterisk:<lang>' "
                         "or 'librivox'")
    return [path for path, _ in clips] if enrolment else clips
