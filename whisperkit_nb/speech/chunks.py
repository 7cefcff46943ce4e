"""Semantic batching: speech regions packed into chunks of at most 30 s (the Mobius Labs design).

A chunk is a list of speech spans from the original file, concatenated with the silence between them
removed (so silence is never decoded and cannot produce text). `Chunk.to_original` maps a time inside
the chunk back to the original timeline exactly, span by span.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from whisperkit_nb.audio.source import SAMPLE_RATE
from whisperkit_nb.speech.pauses import PauseFinder
from whisperkit_nb.speech.vad import FRAME_SAMPLES, SpeechRegion

SMOOTH_FRAMES = 5  # ~160 ms: cut at a low stretch of speech probability, not one noisy frame
MIN_PIECE_SAMPLES = SAMPLE_RATE  # pieces of a region cut to fill a chunk keep at least 1 s of speech
# A chunk holding this share of its speech or more closes when the next region does not fit, rather than cut that
# region at a pause to fill up: a window two thirds full carries the context Whisper needs, and the speech on
# both sides of a cut loses it. Chosen on the tuning recordings (bench/README.md, "Filling a chunk only while it is
# short"): 911 word errors against 940 always filling, 951 never; the held-aside sets agree (fewer errors on both).
FILL_BELOW = 2 / 3


@dataclass(frozen=True)
class Chunk:
    """Speech spans (sample ranges on the original timeline) decoded together as one Whisper window."""

    index: int
    spans: tuple[tuple[int, int], ...]
    part: int = 0  # 0 for a packed chunk, 1 for the re-decoded tail of chunk `index`
    _offsets: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        offsets = [0]
        for start, end in self.spans:
            offsets.append(offsets[-1] + (end - start))
        object.__setattr__(self, "_offsets", tuple(offsets))

    @property
    def num_samples(self) -> int:
        return self._offsets[-1]

    @property
    def duration(self) -> float:
        return self.num_samples / SAMPLE_RATE

    @property
    def start(self) -> float:
        """Original-timeline start of the chunk, seconds."""
        return self.spans[0][0] / SAMPLE_RATE

    @property
    def end(self) -> float:
        """Original-timeline end of the chunk, seconds."""
        return self.spans[-1][1] / SAMPLE_RATE

    def to_original(self, t: float, *, side: str = "start") -> float:
        """Map seconds inside the chunk to seconds on the original timeline.

        A time exactly on the joint of two spans belongs to the next span for a segment start and to the
        previous one for a segment end (``side="end"``), so a segment never covers removed silence.
        """
        sample = min(max(t, 0.0) * SAMPLE_RATE, self.num_samples)
        if side == "end":
            k = max(bisect.bisect_left(self._offsets, sample) - 1, 0)
        else:
            k = self.span_of(t)
        span_start = self.spans[k][0]
        return (span_start + (sample - self._offsets[k])) / SAMPLE_RATE

    def span_of(self, t: float) -> int:
        """Index of the speech span that chunk time ``t`` falls in."""
        sample = min(max(t, 0.0) * SAMPLE_RATE, self.num_samples)
        return min(bisect.bisect_right(self._offsets, sample) - 1, len(self.spans) - 1)

    def tail(self, t: float) -> Chunk:
        """The part of this chunk after chunk time ``t``, as its own chunk (same index, part + 1)."""
        sample = int(min(max(t, 0.0), self.duration) * SAMPLE_RATE)
        spans = []
        for (start, end), offset in zip(self.spans, self._offsets):
            lo = start + max(0, sample - offset)
            if lo < end:
                spans.append((lo, end))
        return Chunk(self.index, tuple(spans), self.part + 1)

    def snap(self, start: float, end: float, tolerance: float) -> tuple[float, float]:
        """Move segment edges that fall just beside a span joint onto the joint.

        Whisper's timestamps are coarse (20 ms steps, often early or late by a few hundred ms), so a
        segment that starts right after a joint can be stamped just before it and, mapped naively,
        would begin before the removed silence; the same holds for ends.
        """
        for offset in self._offsets[1:-1]:
            joint = offset / SAMPLE_RATE
            if joint - tolerance <= start < joint and end > joint + tolerance:
                start = joint
            if joint < end <= joint + tolerance and start < joint - tolerance:
                end = joint
        return start, end


def split_long_regions(
    regions: list[SpeechRegion],
    probs: np.ndarray,
    max_s: float,
    *,
    energy_db: np.ndarray | None = None,
    treble_db: np.ndarray | None = None,
    pause_below: float = 0.35,
) -> list[SpeechRegion]:
    """Cut regions longer than ``max_s``, recursively: with ``energy_db`` (8 ms energy, see
    `whisperkit_nb.speech.pauses`) in the longest pause the VAD and the energy agree on, else at the lowest
    (smoothed) speech probability."""
    max_len = int(max_s * SAMPLE_RATE)
    smooth = _smoothed(probs)
    pauses = PauseFinder(smooth, energy_db, treble_db) if energy_db is not None else None
    out: list[SpeechRegion] = []
    pending = list(reversed(regions))
    while pending:
        region = pending.pop()
        if region.end - region.start <= max_len:
            out.append(region)
            continue
        # Search the last two thirds of the allowed window: pieces stay long enough to carry context.
        lo_frame = (region.start + max_len // 3) // FRAME_SAMPLES
        hi_frame = max((region.start + max_len) // FRAME_SAMPLES - 1, lo_frame + 1)
        cut = pauses.cut(region.start + max_len // 3, region.start + max_len) if pauses else None
        if cut is None:
            window = smooth[lo_frame:hi_frame]
            cut = (lo_frame + int(np.argmin(window)) if len(window) else hi_frame) * FRAME_SAMPLES
        cut = min(max(cut, region.start + 1), region.start + max_len)
        out.append(SpeechRegion(region.start, cut))
        pending.append(SpeechRegion(cut, region.end))
    return out


def _smoothed(probs: np.ndarray) -> np.ndarray:
    return np.convolve(probs, np.ones(SMOOTH_FRAMES) / SMOOTH_FRAMES, mode="same") if len(probs) else probs


def pack_chunks(
    regions: list[SpeechRegion],
    max_s: float,
    max_gap_s: float = float("inf"),
    *,
    probs: np.ndarray | None = None,
    energy_db: np.ndarray | None = None,
    treble_db: np.ndarray | None = None,
    pause_below: float = 0.35,
    fill_below: float | None = None,
) -> list[Chunk]:
    """Merge neighbouring regions greedily while their speech fits in ``max_s`` seconds.

    Chunk boundaries fall in pauses: between regions, or inside the region that does not fit when ``probs``
    (the VAD's frame probabilities) are given and the chunk holds less than ``fill_below`` of ``max_s``
    (None: `FILL_BELOW`; 1.0: always fill, 0.0: never): at the quietest pause in reach (smoothed probability below
    ``pause_below``), so a short chunk is filled instead of closed with many seconds to spare. With
    ``energy_db`` (and ``treble_db``) the signal must be quiet there too (`pauses.PauseFinder`). A region that
    is not cut starts the next chunk. A pause longer than ``max_gap_s`` always ends a chunk: Whisper happily
    writes one sentence across a removed pause, and that segment would then span the whole silence on the
    original timeline.
    """
    max_len = int(max_s * SAMPLE_RATE)
    max_gap = max_gap_s * SAMPLE_RATE
    fill_until = (FILL_BELOW if fill_below is None else fill_below) * max_len
    smooth = _smoothed(probs) if probs is not None else None
    pauses = PauseFinder(smooth, energy_db, treble_db) if smooth is not None and energy_db is not None else None
    chunks: list[Chunk] = []
    spans: list[tuple[int, int]] = []
    length = 0
    pending = list(reversed(regions))
    while pending:
        region = pending.pop()
        if spans and region.start - spans[-1][1] > max_gap:
            chunks.append(Chunk(len(chunks), tuple(spans)))
            spans, length = [], 0
        if spans and length + (region.end - region.start) > max_len:
            cut = (_pause_to_fill(region, max_len - length, smooth, pause_below, pauses)
                   if smooth is not None and length < fill_until else None)
            if cut is None:
                chunks.append(Chunk(len(chunks), tuple(spans)))
                spans, length = [], 0
            else:
                pending.append(SpeechRegion(cut, region.end))
                region = SpeechRegion(region.start, cut)
        if spans and spans[-1][1] == region.start:  # contiguous pieces of a split region: one span
            spans[-1] = (spans[-1][0], region.end)
        else:
            spans.append((region.start, region.end))
        length += region.end - region.start
    if spans:
        chunks.append(Chunk(len(chunks), tuple(spans)))
    return chunks


def _pause_to_fill(region: SpeechRegion, room: int, smooth: np.ndarray, pause_below: float,
                   pauses: PauseFinder | None = None) -> int | None:
    """Sample at which to cut ``region`` so its first piece fits in ``room`` samples, or None.

    The cut goes at the quietest point in reach (the surest pause), and only if that is a real pause,
    never inside a word; both pieces keep at least a second of speech, as a shorter piece carries too
    little context to be transcribed well.
    """
    if pauses is not None:
        hi_sample = min(region.start + room, region.end - MIN_PIECE_SAMPLES)
        return pauses.pause(region.start + MIN_PIECE_SAMPLES, hi_sample, pause_below)
    lo = (region.start + MIN_PIECE_SAMPLES) // FRAME_SAMPLES
    hi = min(region.start + room, region.end - MIN_PIECE_SAMPLES) // FRAME_SAMPLES
    hi = min(hi, len(smooth))
    if hi <= lo:
        return None
    k = lo + int(np.argmin(smooth[lo:hi]))
    if smooth[k] >= pause_below:
        return None
    return int(k) * FRAME_SAMPLES
