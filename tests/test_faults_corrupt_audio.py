"""A corrupt stretch in the middle of a long mp3 or m4a does not lose the file.

Three minutes of real read speech (Asterisk prompts, tests/assets.py) are encoded with FFmpeg's own
encoders (libmp3lame CBR mp3, AAC in m4a); 20 KB of seeded random bytes then overwrite the middle of the
file. By default the damaged stretch becomes silence of its true length: everything after it keeps its
time (checked against the undamaged file, sample by sample and word by word), a warning names the file
and the range, and ``df.attrs["files"][name]["gaps"]`` records it. ``corrupt_audio="fail"`` fails the
file instead, and a file with nothing decodable fails either way. Transcription uses the real tiny.en
offline pack on CPU.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import av
import numpy as np
import pytest

import whisperkit_nb as wk
from assets import asterisk_long, encode_audio, read_wav
from whisperkit_nb import AudioError, OptionsError
from whisperkit_nb.audio.source import SAMPLE_RATE, open_audio

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py

MODEL = "tiny.en"
GARBAGE_BYTES = 20_000
FORMATS = {"mp3": ("mp3", "libmp3lame"), "m4a": ("ipod", "aac")}


def _audio_packets(path: Path) -> tuple[list, float]:
    """The file's audio packets as (byte position, size, start s, end s), and the stream's start time."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        origin = float((stream.start_time or 0) * stream.time_base)
        packets = [(p.pos, p.size, float(p.pts * p.time_base) - origin,
                    float((p.pts + p.duration) * p.time_base) - origin) for p in container.demux(stream) if p.size]
    return packets, origin


class Damaged:
    """An undamaged file, its copy with garbage over the middle, and the time range the garbage hit."""

    def __init__(self, good: Path, bad: Path, hit: tuple[float, float]) -> None:
        self.good, self.bad, self.hit = good, bad, hit


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Damaged]:
    folder = tmp_path_factory.mktemp("corrupt")
    samples, rate = read_wav(asterisk_long(minutes=3, silence_s=0).path)
    assert rate == SAMPLE_RATE
    made = {}
    for ext, (container, codec) in FORMATS.items():
        good = encode_audio(folder / f"talk.{ext}", samples, container, codec)
        data = bytearray(good.read_bytes())
        lo = len(data) // 2
        data[lo : lo + GARBAGE_BYTES] = np.random.default_rng(0).integers(0, 256, GARBAGE_BYTES, np.uint8).tobytes()
        bad = folder / f"talk_damaged.{ext}"
        bad.write_bytes(bytes(data))
        packets, _ = _audio_packets(good)
        hit = [(start, end) for pos, size, start, end in packets if pos < lo + GARBAGE_BYTES and pos + size > lo]
        made[ext] = Damaged(good, bad, (hit[0][0], hit[-1][1]))
    # only the header survives: garbage from the first audio packet on (the mp3's Xing header, the m4a's moov)
    for ext in FORMATS:
        packets, _ = _audio_packets(made[ext].good)
        data = bytearray(made[ext].good.read_bytes())
        lo, hi = packets[0][0], packets[-1][0] + packets[-1][1]
        data[lo:hi] = np.random.default_rng(1).integers(0, 256, hi - lo, np.uint8).tobytes()
        made[f"garbage.{ext}"] = folder / f"garbage.{ext}"
        made[f"garbage.{ext}"].write_bytes(bytes(data))
    return made


def _decode_with_warnings(path: Path, **kwargs) -> tuple[np.ndarray, object, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = open_audio(str(path), **kwargs)
        samples = np.concatenate(list(source.blocks()))
    return samples, source, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def _check_gap(gaps: list[dict], hit: tuple[float, float]) -> dict:
    """One gap, where the garbage was written: from the first damaged packet to (a few frames past) the
    last one (an mp3 frame also needs the bytes of the frames before it, its bit reservoir)."""
    assert len(gaps) == 1, gaps
    gap = gaps[0]
    assert set(gap) == {"start", "end"}
    assert abs(gap["start"] - hit[0]) < 0.1, (gap, hit)
    assert hit[1] - 0.05 < gap["end"] < hit[1] + 0.5, (gap, hit)
    assert gap["end"] - gap["start"] > 2.0  # 20 KB: 6.7 s of this 24 kbit/s mp3, 2.6 s of this m4a
    return gap


# --------------------------------------------------------------------------------------------------
# Decoding: the timeline stays exact


@pytest.mark.parametrize("ext", list(FORMATS))
def test_audio_after_the_damage_keeps_its_true_time(files, ext):
    damaged = files[ext]
    good, _, good_warnings = _decode_with_warnings(damaged.good)
    bad, source, messages = _decode_with_warnings(damaged.bad)
    assert good_warnings == [] and source.gaps and len(messages) == 1
    gap = _check_gap(source.gaps, damaged.hit)
    assert abs(len(bad) - len(good)) < 0.01 * SAMPLE_RATE  # the file keeps its length
    start, end = round(gap["start"] * SAMPLE_RATE), round(gap["end"] * SAMPLE_RATE)
    assert not bad[start + 16 : end - 16].any()  # the gap is digital silence (times are rounded to 1 ms)
    # A second on, the decoders have recovered: the samples are the undamaged file's, at the same index.
    # (The damaged mp3 ends 3 ms later: its LAME header's end trimming counts frames, and some are gone.)
    after, common = end + SAMPLE_RATE, min(len(bad), len(good))
    np.testing.assert_allclose(bad[after:common], good[after:common], atol=1e-4)
    np.testing.assert_array_equal(bad[: start - SAMPLE_RATE], good[: start - SAMPLE_RATE])


def test_second_decode_and_in_memory_copy_keep_the_gaps_without_warning_again(files):
    first, source, messages = _decode_with_warnings(files["mp3"].bad)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        second = np.concatenate(list(source.blocks()))  # the transcription pass reads the file again
        in_memory = source.in_memory()  # what diarization decodes
    assert [str(w.message) for w in caught] == []
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, in_memory.samples)
    assert in_memory.gaps == source.gaps and len(source.gaps) == 1


def test_strict_decoding_fails_saying_where(files):
    for ext in FORMATS:
        source = open_audio(str(files[ext].bad), corrupt_audio="fail")
        with pytest.raises(AudioError, match=re.escape(str(files[ext].bad)) + ": decoding failed after") as caught:
            list(source.blocks())
        reached = float(re.search(r"after ([\d.]+) s", caught.value.reason).group(1))
        assert abs(reached - files[ext].hit[0]) < 0.2, (ext, reached, files[ext].hit)


# --------------------------------------------------------------------------------------------------
# transcribe


def _transcribe(path: Path, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = wk.transcribe(str(path), model=MODEL, progress=False, **options)
    return df, [str(w.message) for w in caught if str(path) in str(w.message)]


@pytest.mark.parametrize("ext", list(FORMATS))
def test_transcript_after_the_damage_keeps_its_times(files, ext):
    damaged = files[ext]
    # Greedy timestamp tokens: a segment's start then depends on the audio, not on which words share its
    # chunk (with the CPU default, alignment, the first word after the gap starts 0.58 s apart in the m4a's
    # two transcripts, its chunk holding other words; a collapsed timeline moves every later segment by
    # seconds), and the two transcripts share enough segments word for word to compare their times.
    good, _ = _transcribe(damaged.good, segment_times="tokens", beam_size=1)
    bad, messages = _transcribe(damaged.bad, segment_times="tokens", beam_size=1)
    name = str(damaged.bad)

    gap = _check_gap(bad.attrs["files"][name]["gaps"], damaged.hit)
    assert good.attrs["files"][str(damaged.good)]["gaps"] == []
    assert messages == [f"{name}: {gap['start']:.1f}-{gap['end']:.1f} s could not be decoded and is silent in "
                        "the transcript"]  # once, although the file is decoded twice
    assert bad.attrs["files"][name]["duration"] == pytest.approx(180.0, abs=0.1)

    # The transcript goes on after the damage, to the end of the file, at the undamaged file's times.
    after = bad[bad.start >= gap["end"]]
    assert len(after) >= 10 and after.end.max() > 170
    assert not ((bad.start > gap["start"] + 0.2) & (bad.start < gap["end"] - 0.2)).any()  # nothing in the gap
    # Segments are matched by text, so only texts each transcript has once: a prompt can come back within three
    # minutes, and a short phrase can be heard twice ("Now and forevermore." at 139.5 s and 146.0 s with tiny.en
    # on an AVX-512 CPU), and a match of one with the other is a shift of seconds that is not there.
    def once(frame):
        texts = frame.text.str.strip().str.lower()
        return {text: start for text, start in zip(texts, frame.start) if (texts == text).sum() == 1}

    good_starts, bad_starts = once(good), once(bad)
    shifts = [start - good_starts[text] for text, start in bad_starts.items()
              if text in good_starts and start >= gap["end"]]
    assert len(shifts) >= 5, (after.text.tolist(), good.text.tolist())
    assert np.max(np.abs(shifts)) < 0.5 and abs(np.median(shifts)) < 0.1, shifts  # collapsed: -2.6 s or -6.7 s


def test_transcribe_strict_option_fails_the_file(files):
    with pytest.raises(AudioError, match=re.escape(str(files["mp3"].bad)) + r": decoding failed after \d"):
        wk.transcribe(str(files["mp3"].bad), model=MODEL, progress=False, corrupt_audio="fail")
    with pytest.raises(OptionsError, match="corrupt_audio='ignore'.*'skip', 'fail'"):
        wk.transcribe(str(files["mp3"].bad), model=MODEL, progress=False, corrupt_audio="ignore")


@pytest.mark.parametrize("ext", list(FORMATS))
def test_only_garbage_after_a_valid_header_still_fails(files, ext):
    path = files[f"garbage.{ext}"]
    assert open_audio(str(path)).duration == pytest.approx(180.0, abs=0.1)  # the header is intact
    with pytest.raises(AudioError, match=re.escape(str(path)) + ": contains no audio samples .*undecodable"):
        wk.transcribe(str(path), model=MODEL, progress=False)


def test_fixed_chunking_records_the_gap_too(tmp_path):
    """The fixed strategy reads the file once, whole; 40 s of the same speech keep this test short."""
    samples, _ = read_wav(asterisk_long(minutes=3, silence_s=0).path)
    path = encode_audio(tmp_path / "short.mp3", samples[70 * SAMPLE_RATE : 110 * SAMPLE_RATE])
    data = bytearray(path.read_bytes())
    lo = len(data) // 2
    data[lo : lo + GARBAGE_BYTES] = np.random.default_rng(0).integers(0, 256, GARBAGE_BYTES, np.uint8).tobytes()
    path.write_bytes(bytes(data))
    df, messages = _transcribe(path, chunking="fixed")
    gaps = df.attrs["files"][str(path)]["gaps"]
    assert len(messages) == 1 and len(gaps) == 1
    assert 17.0 < gaps[0]["start"] < 20.0 and gaps[0]["end"] - gaps[0]["start"] > 6.0, gaps  # 20 KB: 6.7 s
    assert df.end.max() > gaps[0]["end"] + 5
