"""Audio in: files FFmpeg reads (through PyAV), numpy arrays and torch tensors, as 16 kHz mono float32.

Files are decoded as a stream of blocks, never as one whole-file array, so memory stays bounded for
multi-hour recordings: the VAD pass reads the blocks once, and the transcription pass reads them again
keeping only the speech spans it needs (decoding is far cheaper than either pass's model).

A damaged stretch of a file (packets the decoder rejects, or a jump in the timestamps where the demuxer
skipped unreadable bytes) does not lose the file by default (``corrupt_audio="skip"``): the stretch becomes
silence of its true length, so everything after it keeps its time; a warning names the file and the
range, and `AudioSource.gaps` records it. ``corrupt_audio="fail"`` raises `AudioError` instead.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from whisperkit_nb.errors import AudioError

SAMPLE_RATE = 16_000
BLOCK_SAMPLES = SAMPLE_RATE * 30  # decode granularity: small enough to bound memory, large enough to be fast

ARRAY_NAME = "<array>"

GAP_TOLERANCE_S = 0.02  # timestamp jitter below this is not a gap (codec frames are 20-70 ms)
# Raw elementary streams store no timestamps: FFmpeg counts the frames it parses, so a damaged stretch
# collapses to the few frames the garbage parsed as, and everything after it would come out early. For
# these the byte position tells the time (exact for constant bitrate, the average bitrate otherwise).
COUNTED_TIMESTAMPS = frozenset({"mp3", "aac", "ac3", "eac3", "dts"})
RESYNC_PACKETS = 4  # packets in a row that must decode before frames after damage count again
# FFmpeg's wav demuxer hands out packets of about 64 ms (1,024 samples at 16 kHz), and the Python work per frame
# (resample, convert, place on the timeline) cost several times the decoding itself. Packets of 16 KiB (8,192
# samples of 16-bit mono) decode a 16 kHz wav 3-4x faster, sample for sample the same (bench/README, "Larger wav
# packets"); 64 KiB and more were slower again on 6-18 min files. Only the wav demuxers know `max_size`.
DEMUX_OPTIONS = {"max_size": str(1 << 14)}
DEMUX_RETRIES = 1000  # a demuxer that keeps failing gives up; the rest of the file is then a gap


@dataclass(frozen=True)
class AudioSource:
    """One input, opened and checked, ready to be read in blocks.

    Attributes
    ----------
    name : str
        The path as given, or ``"<array>"`` for in-memory audio.
    path : Path | None
        The file, for file inputs.
    samples : numpy.ndarray | None
        16 kHz mono float32 samples, for in-memory inputs.
    duration : float | None
        Length in seconds when known before decoding (containers may not say).
    corrupt_audio : {"skip", "fail"}
        What a damaged stretch of a file does: "skip" makes it silence of its true length (with a
        warning, and the range in ``gaps``); "fail" raises `AudioError` saying where decoding failed.
    gaps : list of dict
        ``{"start": s, "end": s}`` for each stretch that could not be decoded, filled by the first
        complete decode (one warning per file, however often the file is read).
    """

    name: str
    path: Path | None = None
    samples: np.ndarray | None = None
    duration: float | None = None
    corrupt_audio: str = "skip"
    gaps: list[dict] = field(default_factory=list, compare=False, repr=False)

    def blocks(self) -> Iterator[np.ndarray]:
        """Yield consecutive 16 kHz mono float32 blocks covering the whole input."""
        if self.samples is not None:
            for start in range(0, len(self.samples), BLOCK_SAMPLES):
                yield self.samples[start : start + BLOCK_SAMPLES]
            return
        yield from _decode_blocks(self)

    def in_memory(self) -> AudioSource:
        """The same input with all its samples decoded once into memory (for stages that need them all)."""
        if self.samples is not None:
            return self
        buffer = SampleBuffer(self.duration)
        for block in self.blocks():
            buffer.add(block)
        return self.with_samples(buffer.samples())

    def with_samples(self, samples: np.ndarray) -> AudioSource:
        """The same input (name, path, gaps shared) holding ``samples``, its whole 16 kHz audio."""
        return dataclasses.replace(self, samples=samples, duration=len(samples) / SAMPLE_RATE)

    def read_spans(self, spans: Sequence[tuple[int, int]]) -> Iterator[np.ndarray]:
        """Yield the samples of each (start, end) span, in order; spans must be sorted and disjoint."""
        if self.samples is not None:
            for start, end in spans:
                yield self.samples[start:end]
            return
        yield from _spans_from_blocks(self.blocks(), spans)


class SampleBuffer:
    """An input's blocks gathered, as they are decoded, into one buffer that is never held twice.

    The buffer is sized from the container's duration and grown or trimmed in place (realloc, which moves pages
    rather than copying them): concatenating a list of blocks would hold the blocks and their concatenation at
    once. No view of it exists until `samples` returns it.
    """

    def __init__(self, duration: float | None) -> None:
        self._samples = np.empty(round((duration or 0.0) * SAMPLE_RATE) + BLOCK_SAMPLES, np.float32)
        self._filled = 0

    def add(self, block: np.ndarray) -> None:
        end = self._filled + len(block)
        if end > len(self._samples):
            self._samples.resize(max(2 * len(self._samples), end), refcheck=False)
        self._samples[self._filled : end] = block
        self._filled = end

    def samples(self) -> np.ndarray:
        """The samples added so far, trimmed (the buffer is handed over: add nothing after this)."""
        self._samples.resize(self._filled, refcheck=False)
        return self._samples


def expand_inputs(audio: Any) -> list[Any]:
    """Turn one input, a list of inputs, or a glob pattern into a list of inputs, in order.

    A string with glob characters that matches nothing is kept, so that it fails later with a clear
    "file not found" naming the pattern.
    """
    items = list(audio) if isinstance(audio, (list, tuple)) and not is_array_pair(audio) else [audio]
    expanded: list[Any] = []
    for item in items:
        if isinstance(item, (str, os.PathLike)) and any(ch in str(item) for ch in "*?["):
            matches = sorted(glob.glob(os.path.expanduser(str(item)), recursive=True))
            expanded.extend(matches or [str(item)])
        else:
            expanded.append(item)
    return expanded


def open_audio(source: Any, corrupt_audio: str = "skip") -> AudioSource:
    """Check one input and return an `AudioSource`; raise `AudioError` naming it if it is unusable.

    Accepts a path (str or PathLike), a 1-D or (channels, samples) numpy array or torch tensor at 16 kHz,
    an ``(array, sample_rate)`` pair, or a dict with ``array``/``sampling_rate`` (Hugging Face datasets)
    or ``waveform``/``sample_rate`` (pyannote) keys. ``corrupt_audio`` ("skip" or "fail") says what a
    damaged stretch of a file does when it is decoded (see `AudioSource`).
    """
    if isinstance(source, (str, os.PathLike)):
        opened = _open_file(Path(os.path.expanduser(str(source))), str(source))
        return dataclasses.replace(opened, corrupt_audio=corrupt_audio)
    array, rate = _array_and_rate(source)
    return AudioSource(name=ARRAY_NAME, samples=_to_mono_16k(array, rate), duration=None)


def is_array_pair(value: Any) -> bool:
    return (
        len(value) == 2
        and isinstance(value[1], (int, float, np.number))
        and not isinstance(value[1], bool)
        and not isinstance(value[0], (str, os.PathLike))
    )


# Float samples beyond this are not audio on the -1..1 scale: Whisper's log-mel features are not gain-free (their
# +4 offset assumes that scale), and 16-bit samples cast to float (peaks in the hundreds or thousands) came back as
# one wrong-language word for 27 s of clear speech (base, 2026-12-05). Mastered or resampled audio overshoots 1
# a little; white noise of unit variance peaks near 5.
MAX_FLOAT_PEAK = 16.0


def _array_and_rate(source: Any) -> tuple[np.ndarray, int]:
    rate = SAMPLE_RATE
    if isinstance(source, dict):
        if "array" in source:
            source, rate = source["array"], source.get("sampling_rate", SAMPLE_RATE)
        elif "waveform" in source:
            source, rate = source["waveform"], source.get("sample_rate", SAMPLE_RATE)
        else:
            raise AudioError(ARRAY_NAME, "a dict input needs 'array' and 'sampling_rate' keys")
    elif isinstance(source, tuple) and len(source) == 2 and is_array_pair(source):
        source, rate = source
    if hasattr(source, "detach") and hasattr(source, "cpu"):  # a torch tensor, without importing torch
        source = (source.detach().cpu().float() if source.is_floating_point() else source.detach().cpu()).numpy()
    if not isinstance(source, np.ndarray):
        raise AudioError(
            repr(type(source).__name__),
            "is not audio: pass a file path, a numpy array or torch tensor of samples, or (array, sample_rate)",
        )
    return source, int(rate)


def _to_mono_16k(array: np.ndarray, rate: int) -> np.ndarray:
    if array.size == 0:
        raise AudioError(ARRAY_NAME, "contains no samples (zero-length audio)")
    if array.ndim == 2:
        # (channels, samples) as torch/pyannote lay it out; (samples, channels) as soundfile does
        array = array.mean(axis=0 if array.shape[0] <= array.shape[1] else 1)
    if array.ndim != 1:
        raise AudioError(ARRAY_NAME, f"expected 1-D or 2-D samples, got shape {array.shape}")
    if np.issubdtype(array.dtype, np.unsignedinteger):  # unsigned PCM is centred on half scale
        half = float(np.iinfo(array.dtype).max) / 2 + 0.5
        array = (array.astype(np.float32) - half) / half
    elif not np.issubdtype(array.dtype, np.floating):
        scale = float(np.iinfo(array.dtype).max) + 1 if np.issubdtype(array.dtype, np.integer) else 1.0
        array = array.astype(np.float32) / scale
    if not np.isfinite(array).all():
        raise AudioError(ARRAY_NAME, "contains NaN or infinite samples")
    peak = max(float(array.max()), -float(array.min()))  # np.abs would copy an hour of samples to find one number
    if peak > MAX_FLOAT_PEAK:
        raise AudioError(
            ARRAY_NAME,
            f"its float samples reach {peak:g}, but float audio runs from -1 to 1: 16-bit samples stored as floats "
            "(e.g. int16 data cast with astype) need dividing by 32768, or pass the int16 array itself",
        )
    array = np.ascontiguousarray(array, dtype=np.float32)
    if rate != SAMPLE_RATE:
        array = _resample(array, rate)
    return array


def _resample(array: np.ndarray, rate: int) -> np.ndarray:
    """Resample an in-memory array with FFmpeg's resampler, the same one files go through."""
    import av

    frame = av.AudioFrame.from_ndarray(array[None, :], format="flt", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    pieces = [f.to_ndarray()[0] for f in resampler.resample(frame)]
    pieces += [f.to_ndarray()[0] for f in resampler.resample(None)]
    return np.concatenate(pieces).astype(np.float32, copy=False)


def _open_file(path: Path, name: str) -> AudioSource:
    import av

    if not path.exists():
        raise AudioError(name, "file not found")
    if path.is_dir():
        raise AudioError(name, "is a directory, not an audio file (pass a glob such as 'folder/*.wav')")
    if path.stat().st_size == 0:
        raise AudioError(name, "is empty (0 bytes)")
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(name, "contains no audio stream")
            duration = _container_duration(container)
    except AudioError:
        raise
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as err:
        raise AudioError(name, f"is not a readable audio file ({_ffmpeg_reason(err)})") from err
    return AudioSource(name=name, path=path, duration=duration)


def _container_duration(container: Any) -> float | None:
    stream = container.streams.audio[0]
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def _ffmpeg_reason(err: BaseException) -> str:
    return getattr(err, "strerror", None) or str(err) or type(err).__name__


def _decode_blocks(source: AudioSource) -> Iterator[np.ndarray]:
    pending: list[np.ndarray] = []
    pending_len = 0
    gaps: list[dict] = []
    for samples in _decoded_samples(source, gaps):
        pending.append(samples)
        pending_len += len(samples)
        if pending_len >= BLOCK_SAMPLES:
            yield np.concatenate(pending)
            pending, pending_len = [], 0
    if pending:
        yield np.concatenate(pending)
    if gaps and not source.gaps:  # the first complete decode records and warns; later ones find the same
        source.gaps.extend(gaps)
        ranges = ", ".join(f"{g['start']:.1f}-{g['end']:.1f} s" for g in gaps)
        warnings.warn(f"{source.name}: {ranges} could not be decoded and "
                      f"{'is' if len(gaps) == 1 else 'are'} silent in the transcript", stacklevel=2)


def _decoded_samples(source: AudioSource, gaps: list[dict]) -> Iterator[np.ndarray]:
    """16 kHz mono pieces of the whole file in order; damaged stretches come as zeros, listed in ``gaps``."""
    import av

    # Keep the channels and average them ourselves: FFmpeg's own downmix scales by 1/sqrt(2), so a
    # stereo file would come out louder than the same audio passed as an array (and exceed [-1, 1]).
    resampler = av.AudioResampler(format="fltp", layout=None, rate=SAMPLE_RATE)
    first_error: BaseException | None = None

    def skip(err: BaseException) -> None:  # with corrupt_audio="fail", the first error fails the file
        nonlocal first_error
        if source.corrupt_audio == "fail":
            reason = f"decoding failed after {timeline.end:.1f} s ({_ffmpeg_reason(err)})"
            raise AudioError(source.name, reason) from err
        first_error = first_error or err

    def emit(placed: list[tuple[tuple[float, float] | None, Any]]) -> Iterator[np.ndarray]:
        for gap, frame in placed:
            yield from _silence(gap, gaps, source)
            for out in resampler.resample(frame):
                yield _mono(out)

    with av.open(str(source.path), metadata_errors="ignore", options=DEMUX_OPTIONS) as container:
        stream = container.streams.audio[0]
        stream.thread_type = "AUTO"
        timeline = _Timeline(stream, container)
        packets, retries = container.demux(stream), 0  # the last, empty packet drains the decoder
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.FFmpegError as err:  # damaged container data: asked again, the demuxer resyncs
                skip(err)
                retries += 1
                if retries > DEMUX_RETRIES:
                    timeline.unreadable_rest(source.duration)
                    break
                packets = container.demux(stream)
                continue
            try:
                frames = timeline.checked(stream.codec_context.decode(packet))
            except (av.error.FFmpegError, _GarbledFrame) as err:
                skip(err)
                timeline.rejected(packet)
                continue
            yield from emit(timeline.decoded(packet, frames))
        yield from emit(timeline.last_frames())
    if timeline.end == 0:
        reason = f": {_ffmpeg_reason(first_error)}" if first_error else ""
        raise AudioError(source.name, f"contains no audio samples (zero-length or undecodable audio{reason})")
    for out in resampler.resample(None):  # the resampler's buffered tail
        yield _mono(out)
    yield from _silence(timeline.tail_gap(), gaps, source)  # a damaged end keeps the file's length


def _mono(frame: Any) -> np.ndarray:
    """The channels' mean of one planar float32 frame, read from its planes: `to_ndarray` stacks them first, and
    that and numpy's reduction cost more per frame than decoding a wav or an AAC frame does. One channel is
    returned as it is; two as (a + b) / 2, the very numbers `mean(axis=0, dtype=float32)` gives."""
    planes = [np.frombuffer(plane, np.float32, count=frame.samples) for plane in frame.planes]
    if len(planes) == 1:
        return planes[0]
    if len(planes) == 2:
        return (planes[0] + planes[1]) / np.float32(2)
    return np.stack(planes).mean(axis=0, dtype=np.float32)


def _silence(gap: tuple[float, float] | None, gaps: list[dict], source: AudioSource) -> Iterator[np.ndarray]:
    """Zeros filling one gap of the timeline (None: no gap), which ``gaps`` records."""
    if gap is None:
        return
    start, end = gap
    if source.corrupt_audio == "fail":  # the demuxer skipped the damage itself, so no decoder error was seen
        raise AudioError(source.name, f"decoding failed after {start:.1f} s (no audio could be read from "
                                      f"{start:.1f} s to {end:.1f} s)")
    gaps.append({"start": round(start, 3), "end": round(end, 3)})
    # Zeros go in after the resampler: its delay (under a millisecond) is far below the gap tolerance.
    yield np.zeros(round((end - start) * SAMPLE_RATE), np.float32)


class _GarbledFrame(Exception):
    """The decoder accepted damaged data and returned a frame unlike the stream's others."""


class _Timeline:
    """Places decoded frames on the file's timeline and finds the stretches where nothing decoded.

    Times are seconds from the stream's start. Frames follow one another by their sample counts; a frame
    whose timestamp lies more than `GAP_TOLERANCE_S` past the end of the previous one leaves a gap (packets
    the decoder rejected, or bytes the demuxer dropped while resyncing). Random bytes sometimes decode
    (an MP3 header is only 4 bytes), so frames count only once `RESYNC_PACKETS` packets in a row decoded:
    shorter runs between rejected packets are part of the damage.
    """

    def __init__(self, stream: Any, container: Any) -> None:
        self.time_base = float(stream.time_base)  # float arithmetic: Fractions cost more than the decoding
        self.origin = None if stream.start_time is None else stream.start_time * self.time_base
        self.counted = container.format.name in COUNTED_TIMESTAMPS
        self.header_rate = (stream.bit_rate or container.bit_rate or 0) / 8  # bytes per second
        self.end = 0.0  # seconds decoded or filled so far: where the next frame goes
        self.shift = 0.0  # counted timestamps: the time the damaged stretches so far collapsed
        self.good_bytes, self.good_seconds = 0, 0.0
        self.damage: tuple[float, int | None] | None = None  # (time, byte position) of the first rejected packet
        self.damage_end: float | None = None  # how far the rejected packets reach, as far as known
        self.any_rejected = False
        self.held: list[tuple[Any, list[Any]]] = []  # decoded packets not yet trusted, with their frames
        self.trusted = False
        self.shape: tuple | None = None  # (format, channels, rate) of the stream's frames

    def checked(self, frames: list[Any]) -> list[Any]:
        """The frames, unless damaged data decoded into another format, channel count or rate (random bytes
        can pass as an AAC frame of 20 channels, which PyAV then cannot even convert)."""
        for frame in frames:
            shape = (frame.format.name, frame.layout.nb_channels, frame.sample_rate)
            if self.shape is None and len(frame.planes) == (shape[1] if frame.format.is_planar else 1):
                self.shape = shape
            if shape != self.shape:
                raise _GarbledFrame(f"a frame decoded as {shape[1]} channels at {shape[2]} Hz ({shape[0]}), "
                                    f"unlike the stream's {self.shape or 'frames'}")
        return frames

    def rejected(self, packet: Any) -> None:
        """A packet the decoder rejected: it, and the untrusted ones decoded just before it, are damage."""
        for bad in [p for p, _ in self.held] + [packet]:
            self._damaged(bad)
        self.held, self.trusted, self.any_rejected = [], False, True
        if not self.end:
            self.shape = None  # the shape came from damaged data: the next frames that decode say it

    def decoded(self, packet: Any, frames: list[Any]) -> list[tuple[tuple[float, float] | None, Any]]:
        """The frames ready to go out, each with the gap before it (or None)."""
        self.held.append((packet, frames))
        if not self.trusted and len(self.held) < RESYNC_PACKETS:
            return []
        self.trusted = True
        return self._release()

    def last_frames(self) -> list[tuple[tuple[float, float] | None, Any]]:
        """At the end: the frames still held count if nothing was ever rejected (a very short file)."""
        if self.any_rejected:
            for packet, _ in self.held:
                self._damaged(packet)
            self.held = []
        return self._release()

    def unreadable_rest(self, duration: float | None) -> None:
        if duration is not None:
            self.damage = self.damage or (self.end, None)
            self.damage_end = duration

    def tail_gap(self) -> tuple[float, float] | None:
        """The gap at the end of the file, when its last packets could not be decoded."""
        if self.damage_end is None or self.damage_end - self.end <= GAP_TOLERANCE_S:
            return None
        return self.end, self.damage_end

    def _time(self, pts: int) -> float:
        seconds = pts * self.time_base
        if self.origin is None:
            self.origin = seconds
        return seconds - self.origin + self.shift

    def _after_damage(self, pos: int | None) -> float | None:
        """Counted timestamps: the time at byte ``pos`` past the damage, at the stream's byte rate."""
        rate = self.good_bytes / self.good_seconds if self.good_seconds >= 1.0 else self.header_rate
        if not self.counted or self.damage is None or rate <= 0:
            return None
        start, start_pos = self.damage
        if start_pos is None or pos is None or pos < 0 or start_pos < 0:
            return None
        return start + (pos - start_pos) / rate

    def _damaged(self, packet: Any) -> None:
        if not packet.size:  # the empty packet that drains the decoder
            return
        start = self.end if packet.pts is None else max(self.end, self._time(packet.pts))
        if self.damage is None:
            self.damage = (start, packet.pos)
        reach = None if packet.pos is None else self._after_damage(packet.pos + packet.size)
        self.damage_end = reach if reach is not None else start + (packet.duration or 0) * self.time_base

    def _release(self) -> list[tuple[tuple[float, float] | None, Any]]:
        placed = []
        for packet, frames in self.held:
            if packet.size:
                if self.damage is not None and packet.pts is not None:
                    resync = self._after_damage(packet.pos)  # counted timestamps catch up with the bytes
                    if resync is not None and resync > self._time(packet.pts):
                        self.shift += resync - self._time(packet.pts)
                self.damage = self.damage_end = None
                if packet.duration:
                    self.good_bytes += packet.size
                    self.good_seconds += packet.duration * self.time_base
            placed += [(self._place(frame), frame) for frame in frames]
        self.held = []
        return placed

    def _place(self, frame: Any) -> tuple[float, float] | None:
        start = self.end if frame.pts is None else self._time(frame.pts)
        gap = (self.end, start) if start - self.end > GAP_TOLERANCE_S else None
        self.end = (start if gap else self.end) + frame.samples / frame.sample_rate
        return gap


def _spans_from_blocks(blocks: Iterable[np.ndarray], spans: Sequence[tuple[int, int]]) -> Iterator[np.ndarray]:
    """Cut sorted, disjoint sample spans out of a block stream, holding at most one span in memory."""
    span_iter = iter(spans)
    current = next(span_iter, None)
    pieces: list[np.ndarray] = []
    offset = 0
    for block in blocks:
        block_end = offset + len(block)
        while current is not None:
            start, end = current
            if start >= block_end:
                break
            lo, hi = max(start, offset), min(end, block_end)
            if hi > lo:
                pieces.append(block[lo - offset : hi - offset].copy())
            if end > block_end:
                break
            yield np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
            pieces = []
            current = next(span_iter, None)
        offset = block_end
        if current is None:
            return
    if current is not None:  # spans past the end (rounding at the file's tail): return what exists
        yield np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        for _ in span_iter:
            yield np.zeros(0, np.float32)
