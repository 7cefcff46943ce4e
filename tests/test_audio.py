"""Audio in: real files in every common format, in-memory arrays, bounded-memory streaming, span reads.

No model is needed. Files are encoded with PyAV (the same FFmpeg build `whisperkit_nb.audio` decodes with)
from pyannote.audio's real 30 s phone call, so every decoded file can be compared with the original samples.
"""

from __future__ import annotations

import os
import tracemalloc
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from assets import pyannote_sample, read_wav
from whisperkit_nb.audio.source import BLOCK_SAMPLES, SAMPLE_RATE, expand_inputs, open_audio

MAX_LAG = SAMPLE_RATE // 20  # 50 ms: lossy codecs' priming delay, when a container does not trim it
MAX_FRAME = 4096  # samples: larger than any decoder's output frame here (PCM 1024-ish, AAC 1024, Opus 960)


@pytest.fixture(scope="session")
def reference() -> np.ndarray:
    """The 30 s sample as float32 in [-1, 1)."""
    samples, rate = read_wav(pyannote_sample().path)
    assert rate == SAMPLE_RATE and len(samples) == 30 * SAMPLE_RATE
    return samples.astype(np.float32) / 32768


def _encode(path: Path, reference: np.ndarray, container: str, codec: str, rate: int, *,
            stereo_gain: float | None = None, video: str | None = None, options: dict | None = None) -> Path:
    """Write ``reference`` (16 kHz) to ``path`` with FFmpeg's own encoders, resampled to ``rate``.

    ``stereo_gain`` writes a stereo file whose right channel is the left one times that gain; ``video``
    puts a black video stream of that codec first, so the audio is not stream 0.
    """
    layout = "mono" if stereo_gain is None else "stereo"
    channels = reference[None] if stereo_gain is None else np.stack([reference, stereo_gain * reference])
    with av.open(str(path), "w", format=container) as out:
        if video:
            picture = out.add_stream(video, rate=1)
            picture.width, picture.height, picture.pix_fmt = 64, 64, "yuv420p"
        sound = out.add_stream(codec, rate=rate, layout=layout)
        if options:
            sound.options = options
        resampler = av.AudioResampler(format=sound.format.name, layout=layout, rate=rate)

        def encode(frame: av.AudioFrame | None) -> None:
            for resampled in resampler.resample(frame):
                for packet in sound.encode(resampled):
                    out.mux(packet)

        step = 8192
        for start in range(0, channels.shape[1], step):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(channels[:, start : start + step]),
                                               format="fltp", layout=layout)
            # timestamps let the encoder mark its priming samples, which containers then trim
            frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, start, Fraction(1, SAMPLE_RATE)
            encode(frame)
        encode(None)
        for packet in sound.encode(None):
            out.mux(packet)
        if video:
            black = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            for _ in range(5):
                for packet in picture.encode(black):
                    out.mux(packet)
            for packet in picture.encode(None):
                out.mux(packet)
    return path


FORMATS = {
    # name: (container, codec, rate, extra) — extra: stereo_gain / video / options
    "sample.mp3": ("mp3", "libmp3lame", 16_000, {}),
    "sample.m4a": ("ipod", "aac", 16_000, {}),
    "sample.ogg": ("ogg", "vorbis", 44_100, {"stereo_gain": 1.0, "options": {"strict": "experimental"}}),
    "sample.opus": ("opus", "libopus", 48_000, {}),
    "sample.flac": ("flac", "flac", 16_000, {}),
    "sample_44k_stereo.wav": ("wav", "pcm_s16le", 44_100, {"stereo_gain": 0.5}),
    "video.mp4": ("mp4", "aac", 16_000, {"video": "libx264"}),
    "video.mkv": ("matroska", "aac", 16_000, {"video": "mpeg4"}),
}


@pytest.fixture(scope="session")
def encoded(tmp_path_factory, reference) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("formats")
    return {
        name: _encode(folder / name, reference, container, codec, rate, **extra)
        for name, (container, codec, rate, extra) in FORMATS.items()
    }


def _decode(source) -> np.ndarray:
    return np.concatenate(list(open_audio(source).blocks()))


def _best_alignment(decoded: np.ndarray, reference: np.ndarray) -> tuple[float, int, float]:
    """Normalised cross-correlation at the best lag within ±MAX_LAG, that lag, and the least-squares gain."""
    size = 1 << int(np.ceil(np.log2(len(decoded) + len(reference))))
    corr = np.fft.irfft(np.fft.rfft(decoded, size) * np.conj(np.fft.rfft(reference, size)), size)
    lags = np.r_[0 : MAX_LAG + 1, -MAX_LAG:0]
    lag = int(lags[np.argmax(corr[lags])])
    ref = reference[max(0, -lag) :]
    dec = decoded[max(0, lag) :]
    n = min(len(ref), len(dec))
    ref, dec = ref[:n].astype(np.float64), dec[:n].astype(np.float64)
    ncc = float(ref @ dec / np.sqrt((ref @ ref) * (dec @ dec)))
    return ncc, lag, float(ref @ dec / (ref @ ref))


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_decodes_to_the_original_16k_mono(encoded, reference, name):
    source = open_audio(encoded[name])
    assert source.name == str(encoded[name]) and source.samples is None
    blocks = list(source.blocks())
    assert all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
    decoded = np.concatenate(blocks)
    assert abs(len(decoded) / SAMPLE_RATE - 30.0) < 0.1
    assert source.duration is not None and abs(source.duration - 30.0) < 0.1
    ncc, lag, gain = _best_alignment(decoded, reference)
    assert ncc > 0.95, f"{name}: decoded audio does not match the original (ncc {ncc:.3f} at lag {lag})"
    if "stereo_gain" not in FORMATS[name][3]:
        # level kept (MP3's low-pass at 16 kHz removes a few % of the energy); stereo files are not checked
        # here: FFmpeg's downmix is (L + R) / sqrt(2), not the (L + R) / 2 of arrays (reported upstream)
        assert gain == pytest.approx(1.0, abs=0.1)


def test_lossless_files_decode_sample_exact(encoded, reference):
    np.testing.assert_array_equal(_decode(encoded["sample.flac"]), reference)
    # the 16 kHz -> 44.1 kHz -> 16 kHz round trip through FFmpeg's resampler loses nothing audible
    decoded = _decode(encoded["sample_44k_stereo.wav"])
    assert len(decoded) == len(reference)
    _, lag, gain = _best_alignment(decoded, reference)
    assert lag == 0
    assert np.abs(decoded - gain * reference).max() < 0.01 * np.abs(reference).max()


@pytest.mark.parametrize("name", ["16k_mono.wav", "sample_44k_stereo.wav"])
def test_larger_wav_packets_decode_the_same_samples(encoded, reference, name, monkeypatch):
    """The library reads wav in 16 KiB packets, larger than FFmpeg's own (about 64 ms; fewer frames through Python,
    a 16 kHz wav decodes 3-4x faster): the samples must be those of FFmpeg's packets, sample for sample."""
    from whisperkit_nb.audio import source

    path = pyannote_sample().path if name == "16k_mono.wav" else encoded[name]
    if name == "16k_mono.wav":  # (at 44.1 kHz stereo FFmpeg's own packets are already 16 KiB)
        with av.open(str(path), options=source.DEMUX_OPTIONS) as container:
            frames = sum(1 for packet in container.demux(container.streams.audio[0]) for _ in packet.decode())
        assert frames * 4096 < len(reference), "the larger packets are not in effect"
    larger = _decode(path)
    monkeypatch.setattr(source, "DEMUX_OPTIONS", {})
    np.testing.assert_array_equal(larger, _decode(path))
    if name == "16k_mono.wav":
        np.testing.assert_array_equal(larger, reference)


def test_extension_does_not_matter(encoded, reference, tmp_path):
    disguised = tmp_path / "really_flac.mp3"
    disguised.write_bytes(encoded["sample.flac"].read_bytes())
    np.testing.assert_array_equal(_decode(disguised), reference)


# --------------------------------------------------------------------------------------------------
# In-memory inputs


def _tone(frequency: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def _peak_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * SAMPLE_RATE / len(samples))


def _in_memory(source) -> np.ndarray:
    opened = open_audio(source)
    assert opened.name == "<array>" and opened.path is None
    assert opened.samples.dtype == np.float32 and opened.samples.ndim == 1
    assert opened.samples.flags.c_contiguous
    return opened.samples


def test_float32_array_is_used_as_is():
    tone = _tone(440, 1.0, SAMPLE_RATE)
    np.testing.assert_array_equal(_in_memory(tone), tone)


def test_float64_array_becomes_float32():
    tone = _tone(440, 1.0, SAMPLE_RATE).astype(np.float64)
    np.testing.assert_allclose(_in_memory(tone), tone, atol=1e-7)


def test_int16_array_is_scaled_to_unit_range():
    pcm = np.array([-32768, -16384, 0, 16384, 32767], dtype=np.int16)
    np.testing.assert_allclose(_in_memory(pcm), [-1.0, -0.5, 0.0, 0.5, 32767 / 32768])


def test_int16_tensor_is_scaled_like_the_array():
    pcm = (_tone(440, 0.5, SAMPLE_RATE) * 32767).astype(np.int16)
    np.testing.assert_array_equal(_in_memory(torch.from_numpy(pcm)), _in_memory(pcm))
    assert np.abs(_in_memory(torch.from_numpy(pcm))).max() == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
def test_stereo_array_is_averaged_to_mono(layout):
    left, right = _tone(440, 1.0, SAMPLE_RATE), _tone(1000, 1.0, SAMPLE_RATE)
    stereo = np.stack([left, right]) if layout == "channels_first" else np.stack([left, right], axis=1)
    np.testing.assert_allclose(_in_memory(stereo), (left + right) / 2, atol=1e-7)


def test_torch_tensor_including_autograd_and_float16():
    tone = _tone(440, 1.0, SAMPLE_RATE)
    np.testing.assert_array_equal(_in_memory(torch.from_numpy(tone).requires_grad_()), tone)
    np.testing.assert_allclose(_in_memory(torch.from_numpy(tone).half()), tone, atol=1e-3)
    np.testing.assert_array_equal(_in_memory(torch.from_numpy(np.stack([tone, tone]))), tone)


def test_array_rate_pair_is_resampled():
    samples = _in_memory((_tone(1000, 2.0, 8000), 8000))
    assert len(samples) == 2 * SAMPLE_RATE
    assert _peak_hz(samples) == pytest.approx(1000, abs=2)
    assert np.abs(samples[SAMPLE_RATE // 2 : -SAMPLE_RATE // 2]).max() == pytest.approx(0.5, abs=0.02)


def test_hugging_face_dict_is_resampled():
    samples = _in_memory({"array": _tone(3000, 2.0, 44_100), "sampling_rate": 44_100})
    assert abs(len(samples) - 2 * SAMPLE_RATE) <= 1
    assert _peak_hz(samples) == pytest.approx(3000, abs=2)


def test_pyannote_dict():
    tone = _tone(440, 1.0, SAMPLE_RATE)
    samples = _in_memory({"waveform": torch.from_numpy(tone)[None], "sample_rate": SAMPLE_RATE})
    np.testing.assert_array_equal(samples, tone)


def test_in_memory_blocks_cover_the_array():
    samples = np.random.default_rng(0).uniform(-1, 1, 2 * BLOCK_SAMPLES + 123).astype(np.float32)
    blocks = list(open_audio(samples).blocks())
    assert [len(b) for b in blocks] == [BLOCK_SAMPLES, BLOCK_SAMPLES, 123]
    np.testing.assert_array_equal(np.concatenate(blocks), samples)


# --------------------------------------------------------------------------------------------------
# Streaming long files


def _repeat_wav(path: Path, samples: np.ndarray, times: int) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        for _ in range(times):
            out.writeframes(samples.tobytes())
    return path


@pytest.fixture(scope="session")
def long_files(tmp_path_factory) -> dict[int, Path]:
    """The sample repeated 4 and 20 times: 2 and 10 minutes of 16-bit WAV."""
    samples, _ = read_wav(pyannote_sample().path)
    folder = tmp_path_factory.mktemp("long")
    return {times: _repeat_wav(folder / f"x{times}.wav", samples, times) for times in (4, 20)}


def _iterate_and_trace(path: Path) -> tuple[list[int], int]:
    """Block lengths and the peak of traced allocations while iterating the blocks."""
    source = open_audio(path)
    tracemalloc.start()
    try:
        lengths = [len(block) for block in source.blocks()]  # each block is dropped before the next
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return lengths, peak


def test_long_file_streams_in_bounded_blocks(long_files):
    ten_minutes = 20 * 30 * SAMPLE_RATE
    lengths, peak_10 = _iterate_and_trace(long_files[20])
    assert sum(lengths) == ten_minutes
    assert len(lengths) >= 19
    assert max(lengths) <= BLOCK_SAMPLES + MAX_FRAME
    assert all(length >= BLOCK_SAMPLES for length in lengths[:-1])

    _, peak_2 = _iterate_and_trace(long_files[4])
    full_copy = ten_minutes * 4  # float32 bytes of the whole 10 minutes
    assert peak_10 < full_copy / 2, f"peak {peak_10 / 1e6:.1f} MB: the whole file seems to be held"
    assert peak_10 < 2 * peak_2, f"peak grows with length: {peak_2 / 1e6:.1f} MB -> {peak_10 / 1e6:.1f} MB"


def test_tracemalloc_sees_decoded_samples(long_files):
    """Guards the test above: holding all blocks of 2 minutes must show up in the traced peak."""
    source = open_audio(long_files[4])
    tracemalloc.start()
    try:
        held = list(source.blocks())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak >= sum(b.nbytes for b in held) >= 4 * 30 * SAMPLE_RATE * 4


# --------------------------------------------------------------------------------------------------
# read_spans


def _random_spans(rng: np.random.Generator, total: int, count: int) -> list[tuple[int, int]]:
    cuts = np.sort(rng.choice(total, size=2 * count, replace=False))
    return [(int(a), int(b)) for a, b in cuts.reshape(-1, 2)]


def test_read_spans_matches_slicing_the_whole_file(long_files):
    source = open_audio(long_files[4])
    blocks = list(source.blocks())
    whole = np.concatenate(blocks)
    total = len(whole)
    edges = np.cumsum([len(b) for b in blocks])[:-1]
    rng = np.random.default_rng(1234)
    spans = _random_spans(rng, total, 40)
    # spans across every block edge, one spanning a whole block and more, and one past the end
    spans += [(int(e) - 1000, int(e) + 700) for e in edges]
    spans += [(int(edges[0]) - 5, int(edges[2]) + 5)]
    spans = [s for s in sorted(spans) if s[0] < s[1]]
    kept, last_end = [], -1
    for start, end in spans:  # keep them disjoint
        if start >= last_end:
            kept.append((start, end))
            last_end = end
    kept.append((total - 300, total + 5000))
    assert sum(1 for s, e in kept if any(s < edge < e for edge in edges)) >= len(edges)

    pieces = list(source.read_spans(kept))
    assert len(pieces) == len(kept)
    for (start, end), piece in zip(kept, pieces):
        np.testing.assert_array_equal(piece, whole[start:end])
    assert len(pieces[-1]) == 300


def test_read_spans_past_the_end_returns_what_exists(long_files):
    source = open_audio(long_files[4])
    total = 4 * 30 * SAMPLE_RATE
    pieces = list(source.read_spans([(10, 20), (total - 50, total + 50), (total + 100, total + 200)]))
    assert [len(p) for p in pieces] == [10, 50, 0]


def test_read_spans_of_an_array_matches_slicing():
    samples = np.random.default_rng(7).uniform(-1, 1, 3 * BLOCK_SAMPLES).astype(np.float32)
    spans = _random_spans(np.random.default_rng(8), len(samples), 25) + [(len(samples) - 5, len(samples) + 5)]
    pieces = list(open_audio(samples).read_spans(spans))
    for (start, end), piece in zip(spans, pieces, strict=True):
        np.testing.assert_array_equal(piece, samples[start:end])


# --------------------------------------------------------------------------------------------------
# expand_inputs


@pytest.fixture
def folder(tmp_path) -> Path:
    for name in ("b.wav", "a.wav", "c.wav", "notes.txt", "sub/d.wav"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).touch()
    return tmp_path


def test_glob_expands_sorted(folder):
    assert expand_inputs(str(folder / "*.wav")) == [str(folder / n) for n in ("a.wav", "b.wav", "c.wav")]
    assert expand_inputs(folder / "?.wav") == [str(folder / n) for n in ("a.wav", "b.wav", "c.wav")]
    assert expand_inputs(str(folder / "**" / "d.wav")) == [str(folder / "sub" / "d.wav")]


def test_list_keeps_order_and_expands_globs_in_place(folder):
    c, a = str(folder / "c.wav"), str(folder / "a.wav")
    assert expand_inputs([c, a]) == [c, a]
    assert expand_inputs([c, str(folder / "[ab].wav"), c]) == [c, a, str(folder / "b.wav"), c]


def test_non_matching_glob_is_kept_for_a_clear_error_later(folder):
    pattern = str(folder / "*.flac")
    assert expand_inputs(pattern) == [pattern]
    assert expand_inputs([str(folder / "a.wav"), pattern]) == [str(folder / "a.wav"), pattern]


def test_plain_inputs_are_one_item_each():
    tone = _tone(440, 0.1, 8000)
    assert expand_inputs("no_glob_here.wav") == ["no_glob_here.wav"]
    assert expand_inputs(Path("x.wav")) == [Path("x.wav")]
    pair = expand_inputs((tone, 8000))
    assert len(pair) == 1 and pair[0][1] == 8000
    arrays = expand_inputs([tone, tone])
    assert len(arrays) == 2 and all(a is tone for a in arrays)


def test_home_is_expanded_in_globs(folder, monkeypatch):
    monkeypatch.setenv("HOME", str(folder))
    assert expand_inputs(os.path.join("~", "a.*")) == [str(folder / "a.wav")]
