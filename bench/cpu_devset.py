"""CPU benchmark on the development set (issue 17): whisperkit_nb's default (a beam of 4 on a CPU), its most
accurate setting measured (a beam of 5) and faster-whisper's BatchedInferencePipeline, side by side in one run, file
by file (`make bench`).

    .venv/bin/python bench/cpu_devset.py [--parts tune,confirm] [--model base] [--longest 60] [--repeats 2]

For every file of bench/devset.py and every system: x real time, WER (Whisper's English normaliser; the
basic one for Spanish and French), inserted words, the speed ratio against faster-whisper; and, for the
files whose reference words have spans (flite), how many of our chunk cuts fall inside a word. Each
system is warmed up once on the same 26 s of speech, all systems use the same number of threads, and
the systems take turns on each file, so a slow spell of the machine hits them alike; each file is timed
``--repeats`` times per system (2 by default, the turns going round again) and the fastest run counts, as a
noisy host's slow spells otherwise move one file's ratio by a third (the words of every run are compared); the CPU
seconds of every run are kept too, and their sums printed under the table. Languages are
detected (no language passed), as a user's first call would. Also counts, per system, the segments whose
time span covers a whole pause of 2 s or more (our default never lets one chunk hold such a pause; without
that rule, or in faster-whisper's 30 s chunks, a segment can run across one). Writes a new results file per
run.

On your own recordings instead (each audio file with its reference transcript beside it as ``.txt``; see
bench/recordings.py): ``make bench RECORDINGS=folder``, or ``cpu_devset.py --recordings folder``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import whisperkit_nb as wk  # noqa: E402
from devset import dev_files, librivox_concat  # noqa: E402
from machine import cpu_seconds, cpu_with_encoder  # noqa: E402
from recordings import recordings  # noqa: E402
from result_file import new_result_path  # noqa: E402
from whisperkit_nb.audio.source import SAMPLE_RATE  # noqa: E402
from whisperkit_nb.scoring.words import normalizer_for, wer_details  # noqa: E402

SPLIT_TOLERANCE_S = 0.02  # a cut this close to a word's edge is at its edge (flite's phone ends are exact)
LONG_PAUSE_S = 2.0  # vad_max_gap_s's default: the pauses no segment should span


class WhisperKit:
    def __init__(self, model: str, **options) -> None:
        self.options = dict(model=model, progress=False, **options)

    def __call__(self, path: str) -> list[tuple[float, float, str]]:
        df = wk.transcribe(path, **self.options)
        self.report = df.attrs["files"][path]
        self.language = self.report.get("language")  # detected, when no language was given
        return list(zip(df.start, df.end, df.text))


class WhisperKitSwapped(WhisperKit):
    """The default with one attribute of the library (``swap``: module and name, a dotted name for a class's
    attribute) set to ``value`` for the call and restored after: a bench ablation of a module constant, function or
    method, not a library option."""

    swap: tuple[str, str]

    def __init__(self, model: str, value, **options) -> None:
        super().__init__(model, **options)
        self.value = value

    def swapped(self) -> tuple[object, str]:
        """The object holding the swapped attribute, and the attribute's name."""
        *owners, name = self.swap[1].split(".")
        holder = importlib.import_module(self.swap[0])
        for owner in owners:
            holder = getattr(holder, owner)
        return holder, name

    def __call__(self, path: str) -> list[tuple[float, float, str]]:
        holder, name = self.swapped()
        kept = getattr(holder, name)
        setattr(holder, name, self.value)
        try:
            return super().__call__(path)
        finally:
            setattr(holder, name, kept)


def packing_kept_open(keep_open: int):
    """`chunks.pack_chunks` (no gap limit, the fill rule as it is) where a chunk closed because the next region did not
    fit stays open for the next ``keep_open`` closes: a later region that fits whole joins the oldest such chunk it
    fits in. Spans stay in time order inside a chunk; chunks interleave (returned by first span, re-indexed).
    A bench ablation: the pipeline's ordered output assumes chunks in time order, so `WhisperKitKeptOpen` sorts."""
    from whisperkit_nb.speech import chunks as C

    def pack(regions, max_s, max_gap_s=float("inf"), *, probs=None, energy_db=None, treble_db=None,
             pause_below=0.35, fill_below=None):
        max_len = int(max_s * SAMPLE_RATE)
        fill_until = (C.FILL_BELOW if fill_below is None else fill_below) * max_len
        smooth = C._smoothed(probs)
        pauses = C.PauseFinder(smooth, energy_db, treble_db) if energy_db is not None else None
        done: list[list] = []
        kept: list[list] = []  # [spans, length] of chunks closed but still open to a region that fits whole
        current: list = [[], 0]
        pending = list(reversed(regions))
        while pending:
            region = pending.pop()
            size = region.end - region.start
            if current[0] and current[1] + size > max_len:
                cut = (C._pause_to_fill(region, max_len - current[1], smooth, pause_below, pauses)
                       if current[1] < fill_until else None)
                if cut is None:
                    home = next((chunk for chunk in kept if chunk[1] + size <= max_len), None)
                    if home is not None:
                        home[0].append((region.start, region.end))
                        home[1] += size
                        continue
                    kept.append(current)
                    current = [[], 0]
                    if len(kept) > keep_open:
                        done.append(kept.pop(0)[0])
                else:
                    pending.append(C.SpeechRegion(cut, region.end))
                    region = C.SpeechRegion(region.start, cut)
                    size = cut - region.start
            spans = current[0]
            if spans and spans[-1][1] == region.start:
                spans[-1] = (spans[-1][0], region.end)
            else:
                spans.append((region.start, region.end))
            current[1] += size
        done += [chunk[0] for chunk in kept] + ([current[0]] if current[0] else [])
        return [C.Chunk(i, tuple(spans)) for i, spans in enumerate(sorted(done, key=lambda spans: spans[0][0]))]

    return pack


class WhisperKitKeptOpen(WhisperKitSwapped):
    """The default with `packing_kept_open` (``value``: chunks kept open), segments sorted by start."""

    swap = ("whisperkit_nb.speech.plan", "pack_chunks")

    def __call__(self, path: str) -> list[tuple[float, float, str]]:
        return sorted(super().__call__(path))


class WhisperKitCt2Encoder(WhisperKitSwapped):
    """The default with CTranslate2's int8 encoder even where the CPU has AMX (`torch_encoder.USE_TORCH_ENCODER`)."""

    swap = ("whisperkit_nb.engines.torch_encoder", "USE_TORCH_ENCODER")

    def __init__(self, model: str, **options) -> None:
        super().__init__(model, False, **options)


class WhisperKitFloat32Encoder(WhisperKit):
    """The default with Whisper's encoder in float32 on torch (`torch_encoder.TorchEncoder` given float32 weights)
    instead of CTranslate2's int8 or the bfloat16 one: on a CPU without AMX or AVX-512 (AVX2 only), torch's float32
    encoder runs about as fast as CTranslate2's int8 one. Swapped into the loaded engine for the call."""

    def __call__(self, path: str) -> list[tuple[float, float, str]]:
        import torch as torch_

        from whisperkit_nb.engines.torch_encoder import TorchEncoder
        from whisperkit_nb.engines.registry import load_model
        from whisperkit_nb.options import TranscribeOptions

        engine = load_model(TranscribeOptions(model=self.options["model"]))
        if not hasattr(self, "encoder"):
            self.encoder = TorchEncoder.from_ct2(engine.resolved.path, torch_.float32)
        kept, engine.torch_encoder = engine.torch_encoder, self.encoder
        try:
            return super().__call__(path)
        finally:
            engine.torch_encoder = kept


class WhisperKitLastDraw(WhisperKitSwapped):
    """The default keeping a chunk's last draw (temperature 1.0) when every fallback temperature failed, as
    openai/whisper does and whisperkit_nb did before 2026-12-06, instead of its most likely decoding."""

    swap = ("whisperkit_nb.decoding.fallback", "most_likely")

    def __init__(self, model: str, **options) -> None:
        super().__init__(model, lambda tries, opts: tries[-1], **options)


class _NoRepeat:
    """A CTranslate2 model whose ``generate`` blocks repeated ``n``-grams; everything else is the model's."""

    def __init__(self, model, n: int) -> None:
        self.model, self.n = model, n

    def generate(self, *args, **kwargs):
        return self.model.generate(*args, no_repeat_ngram_size=self.n, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.model, name)


class WhisperKitNoRepeatFallback(WhisperKitSwapped):
    """The default with CTranslate2's ``no_repeat_ngram_size=n`` in the fallback rounds only (the sampled re-decodings
    of chunks that looped or ran to max_new_tokens): a loop cannot form, so a draw ends where the speech does
    instead of at the token budget. A bench probe of `ctranslate2_engine.Ct2Engine._sampling_model`, not a library
    option."""

    swap = ("whisperkit_nb.engines.ctranslate2_engine", "Ct2Engine._sampling_model")

    def __init__(self, model: str, n: int, **options) -> None:
        from whisperkit_nb.engines.ctranslate2_engine import Ct2Engine

        sampling = Ct2Engine._sampling_model
        super().__init__(model, lambda engine, seed: _NoRepeat(sampling(engine, seed), n), **options)


class WhisperKitLatestPause(WhisperKit):
    """The default with speech cut at the latest pause in reach instead of the surest: among the VAD frames under
    ``below`` (smoothed probability) that the energy confirms, the last one, so a window is filled as far as a real
    pause allows (faster-whisper's VAD splits long speech at its last silence); the surest pause when there is
    none. A bench ablation of `speech.pauses.PauseFinder`'s choice, not a library option."""

    def __init__(self, model: str, below: float = 0.35, **options) -> None:
        super().__init__(model, **options)
        self.below = below

    def __call__(self, path: str) -> list[tuple[float, float, str]]:
        from whisperkit_nb.speech import pauses

        surest = pauses.PauseFinder._confirmed
        below = self.below

        def latest(finder, lo, hi, pause_below, candidates):
            # The frames `PauseFinder._confirmed` weighs, with its quiet test, tried last to first.
            reach = finder.reach(lo, hi)
            if reach is not None:
                first, last, quiet_at = reach
                for k in range(last - 1, first - 1, -1):
                    if finder.smooth_probs[k] < min(below, pause_below) and quiet_at(k):
                        return k * pauses.FRAME_SAMPLES
            return surest(finder, lo, hi, pause_below, candidates)

        pauses.PauseFinder._confirmed = latest
        try:
            return super().__call__(path)
        finally:
            pauses.PauseFinder._confirmed = surest


class WhisperKitFillBelow(WhisperKitSwapped):
    """The default with another `chunks.FILL_BELOW` (``value``): how full a chunk may be and still be filled by cutting
    the next region at a pause when that region does not fit (0.0: whole regions are packed, as faster-whisper's
    batched pipeline packs its VAD segments; 1.0: every chunk is filled, the default until 2026-12-06). Regions
    longer than a chunk are cut in every case (`chunks.split_long_regions`)."""

    swap = ("whisperkit_nb.speech.chunks", "FILL_BELOW")


class WhisperKitAlignedTail(WhisperKitSwapped):
    """The default with another `tails.ALIGNED_TAIL_MIN_S` (``value``: speech after the last aligned word that is
    decoded again); ``float("inf")``: no tails in text-only decoding, as before 2026-12-05 21:15."""

    swap = ("whisperkit_nb.decoding.tails", "ALIGNED_TAIL_MIN_S")


class FasterWhisper:
    def __init__(self, model: str, batch_size: int, chunk_length: int | None = None) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        from whisperkit_nb.engines.packs import offline_pack_dir

        # The same thread count as ours: whisperkit_nb's CTranslate2 engine takes torch's.
        fw = WhisperModel(str(offline_pack_dir(model)), device="cpu", compute_type="int8",
                          cpu_threads=torch.get_num_threads())
        self.pipe, self.batch_size = BatchedInferencePipeline(fw), batch_size
        self.options = {} if chunk_length is None else {"chunk_length": chunk_length}

    def __call__(self, path: str) -> list[tuple[float, float, str]]:
        return self._transcribe(path, **self.options)

    def _transcribe(self, audio, **options) -> list[tuple[float, float, str]]:
        segments, info = self.pipe.transcribe(audio, batch_size=self.batch_size, **options)
        found = [(s.start, s.end, s.text) for s in segments]  # the generator runs the decoding
        self.language = info.language
        return found


class FasterWhisperOnOurChunks(FasterWhisper):
    """faster-whisper's decoder on whisperkit_nb's chunks: each chunk of our plan (its speech spans joined, as we
    decode it) becomes one of faster-whisper's clips. Same decoder, our windows: tells the chunking's share of a
    difference in words from the decoding's. Times are on the joined audio (the words are what count here)."""

    def __call__(self, path: str) -> list[tuple[float, float, str]]:
        from faster_whisper.audio import decode_audio

        audio = decode_audio(path, sampling_rate=SAMPLE_RATE)
        plan, _ = wk.plan_chunks(path)
        pieces = [audio[start:end] for chunk in plan for start, end in chunk.spans]
        clips, at = [], 0.0
        for chunk in plan:
            clips.append({"start": at, "end": at + chunk.duration})
            at += chunk.duration
        return self._transcribe(np.concatenate(pieces) if pieces else audio[:0], vad_filter=False,
                                clip_timestamps=clips)


class WhisperKitOnFwChunks(WhisperKit):
    """whisperkit_nb's defaults on faster-whisper's chunk plan: its own VAD (its Silero model, 160 ms shortest
    pause, 400 ms padding, segments of at most 30 s) and its packing (whole segments, a window closed when the next
    does not fit in 30 s), as `faster_whisper.vad.collect_chunks` builds them. Our decoder, its windows: the
    converse of `FasterWhisperOnOurChunks`. A bench ablation: our chunk planner is swapped for the call. Its words
    count, not its speed: each call runs our planner's pass and then faster-whisper's decode and VAD as well."""

    def __call__(self, path: str) -> list[tuple[float, float, str]]:
        from whisperkit_nb.run import prepare

        planner = prepare.plan_chunks

        def their_plan(source, opts, **kwargs):
            _, duration = planner(source, opts, **kwargs)  # our pass still reads the audio (kept samples, events)
            return faster_whisper_chunks(str(source.path)), duration

        prepare.plan_chunks = their_plan
        try:
            return super().__call__(path)
        finally:
            prepare.plan_chunks = planner


def faster_whisper_chunks(path: str, max_s: float = 30.0) -> list:
    """faster-whisper's batched chunk plan of ``path`` as our `Chunk`s (speech spans joined, pauses between them
    removed). `collect_chunks`'s loop, keeping the spans: its returned metadata drops the first VAD segment of
    every window after the first, which the audio it decodes keeps."""
    from faster_whisper.audio import decode_audio
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    from whisperkit_nb.speech.chunks import Chunk

    audio = decode_audio(path, sampling_rate=SAMPLE_RATE)
    segments = get_speech_timestamps(audio, VadOptions(max_speech_duration_s=max_s, min_silence_duration_ms=160))
    windows: list[list[tuple[int, int]]] = []
    length = 0
    for segment in segments:
        span = (segment["start"], segment["end"])
        if not windows or length + span[1] - span[0] > max_s * SAMPLE_RATE:
            windows.append([])
            length = 0
        length += span[1] - span[0]
        if windows[-1] and span[0] <= windows[-1][-1][1]:  # pads meeting: one span, as the audio joins them
            windows[-1][-1] = (windows[-1][-1][0], span[1])
        else:
            windows[-1].append(span)
    return [Chunk(index, tuple(spans)) for index, spans in enumerate(windows)]


def chunk_cuts(chunks) -> list[float]:
    """Seconds at which our default chunk plan cuts speech (one chunk ends where the next begins)."""
    cuts = []
    for before, after in zip(chunks, chunks[1:]):
        if before.spans[-1][1] == after.spans[0][0]:
            cuts.append(after.spans[0][0] / 16000)
    return cuts


def long_pauses(chunks, at_least_s: float = LONG_PAUSE_S) -> list[tuple[float, float]]:
    """Pauses of at least ``at_least_s`` between the default plan's (padded) speech spans, in seconds."""
    spans = sorted(span for chunk in chunks for span in chunk.spans)
    return [(end / 16000, start / 16000) for (_, end), (start, _) in zip(spans, spans[1:])
            if (start - end) / 16000 >= at_least_s]


def over_pauses(segments, pauses) -> int:
    """Segments whose time span covers a whole long pause (subtitles would show them across the silence)."""
    return sum(1 for start, end, _ in segments for a, b in pauses if start <= a and end >= b)


def words_cut(cuts: list[float], words) -> int:
    """Cuts falling inside a reference word (more than `SPLIT_TOLERANCE_S` from both its edges)."""
    return sum(1 for t in cuts for start, end, _ in words
               if start + SPLIT_TOLERANCE_S < t < end - SPLIT_TOLERANCE_S)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="tune,confirm")
    parser.add_argument("--model", default="base")
    parser.add_argument("--longest", type=float, default=60.0, help="minutes of the longest file")
    parser.add_argument("--fw-batch-size", type=int, default=8, help="faster-whisper's (its README's setting)")
    # The default (beam 4 since 2026-12-05 15:20) and the most accurate setting measured (beam 5).
    parser.add_argument("--systems", default="default,accurate,faster-whisper")
    parser.add_argument("--repeats", type=int, default=2,
                        help="timed runs per system and file, taking turns; the fastest counts")
    parser.add_argument("--files", default="", help="only these files (comma-separated names)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--recordings", default="",
                        help="a folder of your own recordings, each with a .txt reference beside it, instead of the "
                             "development set (bench/recordings.py)")
    parser.add_argument("--language", default="",
                        help="with --recordings: their language, for the WER normaliser only (default: a .lang "
                             "file beside each, else the language the systems detect)")
    args = parser.parse_args()

    if args.recordings:
        try:
            files = recordings(args.recordings, args.language or None)
        except (OSError, ValueError) as err:  # no such folder, no audio, a missing reference: said, no traceback
            parser.error(str(err))
        warm_path = str(librivox_concat().path)
    else:
        files = dev_files(tuple(args.parts.split(",")), longest_min=args.longest)
        warm_path = str(next(f for f in dev_files(("tune",), longest_min=args.longest)
                             if f.name.startswith("librivox")).fixture.path)
    if args.files:
        files = [f for f in files if f.name in args.files.split(",")]
    systems = {
        "default": ("whisperkit_nb defaults (ctranslate2 on CPU: segment_times='alignment', beam_size=4, "
                    "no gap limit; the encoder in bfloat16 on torch where the CPU has AMX or AVX512_BF16)",
                    lambda: WhisperKit(args.model)),
        # The most accurate setting measured (the default's beam from 2026-12-05 05:38 to 15:20).
        "accurate": ("whisperkit_nb beam_size=5", lambda: WhisperKit(args.model, beam_size=5)),
        # The default as it ran before the encoder moved to bfloat16 on AMX CPUs (2026-12-05).
        "ct2-encoder": ("whisperkit_nb defaults, CTranslate2's int8 encoder also where the CPU has bfloat16",
                        lambda: WhisperKitCt2Encoder(args.model)),
        # The encoder in float32 on torch whatever the CPU (the default's encoder without AVX-512 since 2026-12-06).
        "fp32-encoder": ("whisperkit_nb defaults, the encoder in float32 on torch",
                         lambda: WhisperKitFloat32Encoder(args.model)),
        # The default until 2026-12-03: timestamp tokens, greedy, chunks closed at pauses over 2 s.
        "tokens-greedy": ("whisperkit_nb segment_times='tokens', beam_size=1 (vad_max_gap_s 2.0)",
                          lambda: WhisperKit(args.model, segment_times="tokens", beam_size=1)),
        "tokens-beam2": ("whisperkit_nb segment_times='tokens', beam_size=2",
                         lambda: WhisperKit(args.model, segment_times="tokens", beam_size=2)),
        "align-greedy": ("whisperkit_nb beam_size=1", lambda: WhisperKit(args.model, beam_size=1)),
        # Wider beams, measured once two CTranslate2 workers made decoding cheaper (2026-12-04); beam 3 was the
        # default from then until 2026-12-05, and is the faster setting in `make bench` since.
        "beam-2": ("whisperkit_nb beam_size=2", lambda: WhisperKit(args.model, beam_size=2)),
        "beam-3": ("whisperkit_nb beam_size=3", lambda: WhisperKit(args.model, beam_size=3)),
        "beam-4": ("whisperkit_nb beam_size=4", lambda: WhisperKit(args.model, beam_size=4)),
        "gap-2": ("whisperkit_nb vad_max_gap_s=2.0", lambda: WhisperKit(args.model, vad_max_gap_s=2.0)),
        # Candidates for the chunk_s default (28 s): re-decided on the tune part, confirmed on the other.
        "chunk-24": ("whisperkit_nb chunk_s=24", lambda: WhisperKit(args.model, chunk_s=24.0)),
        "chunk-29": ("whisperkit_nb chunk_s=29", lambda: WhisperKit(args.model, chunk_s=29.0)),
        # Windows that interleave: a chunk closed for a region that did not fit stays open to later regions.
        "open-1": ("whisperkit_nb, one closed chunk kept open",
                   lambda: WhisperKitKeptOpen(args.model, packing_kept_open(1))),
        "open-4": ("whisperkit_nb, four closed chunks kept open",
                   lambda: WhisperKitKeptOpen(args.model, packing_kept_open(4))),
        "chunk-30": ("whisperkit_nb chunk_s=30", lambda: WhisperKit(args.model, chunk_s=30.0)),
        # Candidates for the vad_pad_s default (0.1 s): more of each pause kept where speech regions join.
        "pad-0.2": ("whisperkit_nb vad_pad_s=0.2", lambda: WhisperKit(args.model, vad_pad_s=0.2)),
        "pad-0.4": ("whisperkit_nb vad_pad_s=0.4", lambda: WhisperKit(args.model, vad_pad_s=0.4)),
        # How full a chunk may be and still be filled (`chunks.FILL_BELOW`, 2/3 since 2026-12-06): never (as
        # faster-whisper packs its VAD segments), alone, with its VAD settings (160 ms shortest pause, 400 ms
        # padding), and with those and its 30 s windows; while under a half, 2/3, 5/6 full; always (until 2026-12-06).
        "whole-regions": ("whisperkit_nb defaults, whole speech regions packed (none cut to fill a chunk)",
                          lambda: WhisperKitFillBelow(args.model, 0.0)),
        "whole-fw-vad": ("whisperkit_nb whole regions, vad_min_silence_s=0.16, vad_pad_s=0.4",
                         lambda: WhisperKitFillBelow(args.model, 0.0, vad_min_silence_s=0.16, vad_pad_s=0.4)),
        "whole-fw-vad-30": ("whisperkit_nb whole regions, vad_min_silence_s=0.16, vad_pad_s=0.4, chunk_s=30",
                            lambda: WhisperKitFillBelow(args.model, 0.0, vad_min_silence_s=0.16, vad_pad_s=0.4,
                                                        chunk_s=30.0)),
        "fill-half": ("whisperkit_nb defaults, a chunk filled only while it holds less than half of chunk_s",
                      lambda: WhisperKitFillBelow(args.model, 0.5)),
        "fill-two-thirds": ("whisperkit_nb defaults, a chunk filled only while it holds less than 2/3 of chunk_s",
                            lambda: WhisperKitFillBelow(args.model, 2 / 3)),
        "fill-five-sixths": ("whisperkit_nb defaults, a chunk filled only while it holds less than 5/6 of chunk_s",
                             lambda: WhisperKitFillBelow(args.model, 5 / 6)),
        "fill-always": ("whisperkit_nb defaults, every chunk filled (the default until 2026-12-06)",
                        lambda: WhisperKitFillBelow(args.model, 1.0)),
        # Fuller windows where the encoder costs most (a CPU without AVX-512, 2026-12-06): every chunk filled, 30 s.
        "fill-always-30": ("whisperkit_nb defaults, every chunk filled, chunk_s=30",
                           lambda: WhisperKitFillBelow(args.model, 1.0, chunk_s=30.0)),
        "latest-pause": ("whisperkit_nb defaults, speech cut at the latest confirmed pause in reach, not the surest",
                         lambda: WhisperKitLatestPause(args.model)),
        # faster-whisper's VAD settings in our planner (2026-12-05 19:20): its 160 ms shortest pause alone, and with
        # its 400 ms padding; its threshold is our 0.5 already.
        "silence-0.16": ("whisperkit_nb vad_min_silence_s=0.16",
                         lambda: WhisperKit(args.model, vad_min_silence_s=0.16)),
        "fw-vad": ("whisperkit_nb vad_min_silence_s=0.16, vad_pad_s=0.4",
                   lambda: WhisperKit(args.model, vad_min_silence_s=0.16, vad_pad_s=0.4)),
        # Tails in text-only decoding (2026-12-05 21:15): none, as before, and a shorter uncovered end than 3 s.
        "aligned-tail-off": ("whisperkit_nb defaults without tails after the last aligned word",
                             lambda: WhisperKitAlignedTail(args.model, float("inf"))),
        "aligned-tail-1.5": ("whisperkit_nb defaults, tails after 1.5 s of speech past the last aligned word",
                             lambda: WhisperKitAlignedTail(args.model, 1.5)),
        # What a chunk keeps when every fallback temperature fails (2026-12-06): its last draw, as before; and no
        # fallback at all, as faster-whisper's batched pipeline.
        "fallback-last": ("whisperkit_nb defaults, a chunk failing every temperature keeps its last draw",
                          lambda: WhisperKitLastDraw(args.model)),
        "no-fallback": ("whisperkit_nb temperature_step=0", lambda: WhisperKit(args.model, temperature_step=0.0)),
        # Unlikely text sent to fallback as well, openai/whisper's rule (the default until 2026-12-06 21:00; runs of
        # 19:19-20:07 that day named today's default "loops-fallback" and this one "default").
        "logprob-fallback": ("whisperkit_nb logprob_fallback=True",
                             lambda: WhisperKit(args.model, logprob_fallback=True)),
        # Loops blocked in the fallback rounds (2026-12-07): a looping chunk's draws end with its speech.
        "fallback-no-repeat-3": ("whisperkit_nb defaults, no_repeat_ngram_size=3 in the fallback rounds",
                                 lambda: WhisperKitNoRepeatFallback(args.model, 3)),
        "fallback-no-repeat-6": ("whisperkit_nb defaults, no_repeat_ngram_size=6 in the fallback rounds",
                                 lambda: WhisperKitNoRepeatFallback(args.model, 6)),
        "faster-whisper": (f"faster-whisper batched int8, batch {args.fw_batch_size}",
                           lambda: FasterWhisper(args.model, args.fw_batch_size)),
        # faster-whisper against itself: its chunks (VAD segments merged up to chunk_length, 30 s by default) fall
        # elsewhere, nothing else changes. How far one system's words move per file from where its windows fall.
        "fw-chunk-25": (f"faster-whisper batched int8, batch {args.fw_batch_size}, chunk_length=25",
                        lambda: FasterWhisper(args.model, args.fw_batch_size, chunk_length=25)),
        "fw-chunk-20": (f"faster-whisper batched int8, batch {args.fw_batch_size}, chunk_length=20",
                        lambda: FasterWhisper(args.model, args.fw_batch_size, chunk_length=20)),
        "fw-chunk-28": (f"faster-whisper batched int8, batch {args.fw_batch_size}, chunk_length=28",
                        lambda: FasterWhisper(args.model, args.fw_batch_size, chunk_length=28)),
        # Our default's decoder on faster-whisper's chunk plan: our decoder, its windows.
        "wk-fw-chunks": ("whisperkit_nb defaults on faster-whisper's chunk plan (its VAD and packing)",
                         lambda: WhisperKitOnFwChunks(args.model)),
        # faster-whisper's decoder (beam 5) on our default's chunk plan: same decoder, our windows.
        "fw-our-chunks": (f"faster-whisper batched int8, batch {args.fw_batch_size}, on whisperkit_nb's chunks",
                          lambda: FasterWhisperOnOurChunks(args.model, args.fw_batch_size)),
    }
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    keys = args.systems.split(",")
    unknown = [key for key in keys if key not in systems]
    if unknown:
        parser.error(f"unknown systems {unknown}; choose among {', '.join(systems)}")
    runners = {}
    for key in keys:
        runners[key] = systems[key][1]()
        runners[key](warm_path)  # the same warm-up for every system

    rows = []
    for f in files:
        path = str(f.fixture.path)
        duration = f.fixture.duration
        plan, _ = wk.plan_chunks(path)
        cuts, pauses = (chunk_cuts(plan) if "default" in keys else []), long_pauses(plan)
        first: dict[str, list] = {}  # each system's segments from its first run: the ones scored
        walls: dict[str, list[float]] = {key: [] for key in keys}
        cpus: dict[str, list[float]] = {key: [] for key in keys}
        same = {key: True for key in keys}
        for _ in range(args.repeats):
            for key in keys:
                started, cpu_started = time.perf_counter(), cpu_seconds()
                segments = runners[key](path)
                walls[key].append(round(time.perf_counter() - started, 2))
                cpus[key].append(round(cpu_seconds() - cpu_started, 2))
                if key in first:
                    same[key] &= [text for *_, text in segments] == [text for *_, text in first[key]]
                else:
                    first[key] = segments
        found = {key: (first[key], min(walls[key])) for key in keys}
        # The normaliser: the file's language, else the first system's detected one (none was told it).
        language = f.fixture.language or next((getattr(runners[k], "language", None) for k in keys), None)
        normalize = normalizer_for(language)  # characters, not words, for languages written without spaces
        for key in keys:
            segments, seconds = found[key]
            errors = wer_details(f.fixture.reference, " ".join(t for _, _, t in segments), normalize=normalize)
            row = {"file": f.name, "part": f.part, "minutes": round(duration / 60, 2), "system": key,
                   "language": language, "wall_s": round(seconds, 2), "x_real_time": round(duration / seconds, 1),
                   "wer": round(errors.wer, 4), "error_unit": "characters" if normalize == "letters" else "words",
                   "errors": errors.errors, "inserted_words": errors.insertions,
                   "reference_words": errors.reference_words, "long_pauses": len(pauses),
                   "segments_over_long_pause": over_pauses(segments, pauses), "wall_s_runs": walls[key],
                   "cpu_s_runs": cpus[key], "same_words_every_run": same[key]}
            report = getattr(runners[key], "report", None)  # ours: the last run's facts (the same every run)
            if report is not None:
                row["fallbacks"], row["dropped_chunks"] = report.get("fallbacks"), report.get("dropped_chunks")
            if key == "default":
                row["chunk_cuts"] = len(cuts)
                row["words_cut"] = words_cut(cuts, f.words) if f.words else None
            rows.append(row)
            print(json.dumps(row), flush=True)

    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    machine = f"{cpu_with_encoder()}, CPU only"
    source = f"your recordings ({args.recordings}) · " if args.recordings else ""
    runs = "one timed run" if args.repeats == 1 else f"the fastest of {args.repeats} timed runs"
    print(f"\n{stamp} · {machine} · model {args.model} · {source}{runs} per system and file, taking turns, after "
          f"one warm-up on the same 26 s")
    print(table(rows, keys, systems))
    print(cpu_line(rows, keys))
    print(f"\nSegments spanning a whole pause of {LONG_PAUSE_S:g} s or more (of the default plan's pauses):")
    for name in dict.fromkeys(r["file"] for r in rows):
        mine = {r["system"]: r for r in rows if r["file"] == name}
        print(f"- {name} ({next(iter(mine.values()))['long_pauses']} pauses): "
              + ", ".join(f"{k} {mine[k]['segments_over_long_pause']}" for k in keys))
    moved = [f"{r['file']} ({r['system']})" for r in rows if not r["same_words_every_run"]]
    if moved:
        print(f"\nWords differed between timed runs of: {', '.join(moved)} (the first run's are scored)")
    path = new_result_path(args.out, "cpu_devset")
    path.write_text(json.dumps({"date": stamp, "machine": machine, "model": args.model,
                                "recordings": args.recordings or None, "repeats": args.repeats,
                                "systems": {k: systems[k][0] for k in keys}, "rows": rows}, indent=2))
    print(f"\nJSON: {path}")


def cpu_line(rows: list[dict], keys: list[str]) -> str:
    """CPU seconds (all threads, the least of each system's runs per file) over all files: the work each system
    does. Not a steadier speed measure: on the bench's shared virtual machine they moved with the wall time."""
    spent = {key: sum(min(r["cpu_s_runs"]) for r in rows if r["system"] == key) for key in keys}
    parts = [f"{key} {seconds:.1f} s" for key, seconds in spent.items()]
    if "faster-whisper" in spent:
        parts += [f"faster-whisper / {key} {spent['faster-whisper'] / seconds:.2f}x" for key, seconds in spent.items()
                  if key != "faster-whisper" and seconds > 0]
    return "\nCPU seconds over all files (all threads, each system's least per file): " + ", ".join(parts)


def table(rows: list[dict], keys: list[str], systems: dict) -> str:
    """Per file: each system's x real time and WER, our speed over faster-whisper's, words cut.

    A file in a language written without spaces is scored by characters: its rate is marked "(CER)", and the
    all-files rate counts its characters as it counts other files' words."""
    peer = "faster-whisper" if "faster-whisper" in keys else None
    head = ["file", "part", "min"]
    for key in keys:
        head += [f"{key} xRT", f"{key} WER"]
    ours = [k for k in keys if k != peer]
    if peer:
        head += [f"{k} / fw speed" for k in ours]
    head += ["cuts (in a word)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by_file: dict[str, dict[str, dict]] = {}
    for r in rows:
        by_file.setdefault(r["file"], {})[r["system"]] = r
    totals = {k: [0.0, 0.0, 0, 0] for k in keys}  # audio s, wall s, errors, reference words
    for name, found in by_file.items():
        first = next(iter(found.values()))
        cells = [name, first["part"], f"{first['minutes']:g}"]
        for key in keys:
            r = found[key]
            unit = " (CER)" if r.get("error_unit") == "characters" else ""
            cells += [f"{r['x_real_time']:g}", f"{r['wer'] * 100:.2f}%{unit}"]
            t = totals[key]
            t[0] += r["minutes"] * 60
            t[1] += r["wall_s"]
            t[2] += r["errors"]
            t[3] += r["reference_words"]
        if peer:
            cells += [f"{found[peer]['wall_s'] / found[k]['wall_s']:.2f}x" for k in ours]
        d = found.get("default", {})
        cells.append(f"{d.get('chunk_cuts', '-')} ({d['words_cut'] if d.get('words_cut') is not None else '-'})")
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["all files", "", f"{totals[keys[0]][0] / 60:.0f}"]
    for key in keys:
        audio, wall, errors, words = totals[key]
        cells += [f"{audio / wall:.1f}", f"{errors / words * 100:.2f}%"]
    if peer:
        cells += [f"{totals[peer][1] / totals[k][1]:.2f}x" for k in ours]
    cells.append("")
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
