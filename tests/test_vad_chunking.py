"""Speech regions and chunks on real audio, and the exact time map back to the original timeline."""

from __future__ import annotations

import numpy as np
import pytest

from whisperkit_nb.audio.source import SAMPLE_RATE, open_audio
from whisperkit_nb.speech import chunks as chunks_module
from whisperkit_nb.speech.chunks import Chunk, pack_chunks, split_long_regions
from whisperkit_nb.engines.registry import settle
from whisperkit_nb.options import TranscribeOptions
from whisperkit_nb.speech.plan import plan_chunks
from whisperkit_nb.speech.vad import FRAME_SAMPLES, SpeechRegion, speech_probabilities, speech_regions


def covered(turn, spans) -> float:
    total = 0.0
    for s, e in spans:
        total += max(0.0, min(e / SAMPLE_RATE, turn.end) - max(s / SAMPLE_RATE, turn.start))
    return total / (turn.end - turn.start)


def test_chunks_cover_speech_skip_silence_and_fit_the_window(long_english):
    options = settle(TranscribeOptions())  # the stage takes options settled for their engine, as runs pass them
    chunks, duration = plan_chunks(open_audio(str(long_english.path)), options)
    assert abs(duration - long_english.turns[-1].end) < 3.0
    spans = [span for c in chunks for span in c.spans]
    assert all(c.duration <= options.chunk_s <= 30.0 for c in chunks)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # sorted, disjoint
    recall = [covered(t, spans) for t in long_english.turns]
    assert np.mean(recall) > 0.97 and min(recall) > 0.8
    lo, hi = long_english.silences[0]
    assert all(e / SAMPLE_RATE <= lo + 0.2 or s / SAMPLE_RATE >= hi - 0.2 for s, e in spans)
    speech = sum(t.end - t.start for t in long_english.turns)
    assert sum(c.duration for c in chunks) < speech + 0.25 * len(spans) + 1  # only pads added
    # Packing is dense: few chunks for the speech there is.
    assert len(chunks) <= np.ceil(speech / options.chunk_s) + 3


def test_vad_probabilities_stream_equals_one_block(librivox):
    from assets import read_wav

    samples, _ = read_wav(librivox.path)
    whole = speech_probabilities([samples])
    streamed = speech_probabilities(np.array_split(samples, 7))
    assert len(whole) == int(np.ceil(len(samples) / FRAME_SAMPLES))
    np.testing.assert_allclose(whole, streamed, atol=1e-5)
    regions = speech_regions(whole, len(samples))
    assert 4 <= len(regions) <= 8  # five clips separated by 0.5 s pauses


def test_long_region_cut_at_lowest_probability():
    frames = int(70 * SAMPLE_RATE / FRAME_SAMPLES)
    probs = np.full(frames, 0.95, np.float32)
    dip = int(22 * SAMPLE_RATE / FRAME_SAMPLES)
    probs[dip - 2 : dip + 3] = 0.1
    regions = split_long_regions([SpeechRegion(0, frames * FRAME_SAMPLES)], probs, 30.0)
    assert all(r.duration <= 30.0 for r in regions)
    assert abs(regions[0].end / SAMPLE_RATE - 22.0) < 0.2
    assert regions[0].start == 0 and regions[-1].end == frames * FRAME_SAMPLES
    assert all(a.end == b.start for a, b in zip(regions, regions[1:]))


def test_pack_chunks_greedy_merge():
    sec = SAMPLE_RATE
    regions = [SpeechRegion(i * 12 * sec, i * 12 * sec + 10 * sec) for i in range(5)]
    chunks = pack_chunks(regions, 30.0)
    assert [len(c.spans) for c in chunks] == [3, 2]
    assert chunks[0].duration == 30.0
    # A pause longer than max_gap_s always ends a chunk.
    far = regions[:2] + [SpeechRegion(200 * sec, 205 * sec)]
    assert [len(c.spans) for c in pack_chunks(far, 30.0, max_gap_s=2.0)] == [2, 1]


def test_pack_chunks_fills_a_short_chunk_by_cutting_the_next_region_at_its_surest_pause_in_reach():
    sec = SAMPLE_RATE
    frames = int(45 * sec / FRAME_SAMPLES)
    probs = np.full(frames, 0.95, np.float32)
    # Pauses inside the second region; the one at 30 s is the quietest but out of reach (15 s + 13 s of room).
    for pause_s, level in ((24.0, 0.2), (26.0, 0.05), (30.0, 0.01)):
        at = int(pause_s * sec / FRAME_SAMPLES)
        probs[at - 3 : at + 4] = level
    regions = [SpeechRegion(0, 15 * sec), SpeechRegion(16 * sec, 41 * sec)]
    chunks = pack_chunks(regions, 28.0, probs=probs, pause_below=0.35)
    assert len(chunks) == 2
    cut = chunks[0].spans[-1][1] / sec
    assert abs(cut - 26.0) < 0.1  # the quietest pause that fits
    assert chunks[1].spans[0][0] == chunks[0].spans[-1][1]  # no sample lost or repeated
    assert sum(c.duration for c in chunks) == 40.0
    # Continuous speech (no pause in reach): the region starts the next chunk whole, as without probs.
    steady = np.full(frames, 0.95, np.float32)
    assert [c.spans for c in pack_chunks(regions, 28.0, probs=steady)] == [c.spans for c in pack_chunks(regions, 28.0)]


def test_pack_chunks_closes_a_chunk_two_thirds_full_instead_of_cutting_speech_to_fill_it():
    sec = SAMPLE_RATE
    frames = int(45 * sec / FRAME_SAMPLES)
    probs = np.full(frames, 0.95, np.float32)
    at = int(26.0 * sec / FRAME_SAMPLES)
    probs[at - 3 : at + 4] = 0.05  # a sure pause in reach
    regions = [SpeechRegion(0, 19 * sec), SpeechRegion(20 * sec, 41 * sec)]  # 19 s: over 2/3 of 28 s
    assert chunks_module.FILL_BELOW == pytest.approx(2 / 3)
    closed = pack_chunks(regions, 28.0, probs=probs, pause_below=0.35)
    assert [c.spans for c in closed] == [((0, 19 * sec),), ((20 * sec, 41 * sec),)]
    # Asked to fill always (the rule before 2026-12-06), the same chunk is filled up to the pause.
    filled = pack_chunks(regions, 28.0, probs=probs, pause_below=0.35, fill_below=1.0)
    assert abs(filled[0].spans[-1][1] / sec - 26.0) < 0.1
    assert filled[1].spans[0][0] == filled[0].spans[-1][1]


def test_filled_chunks_on_real_speech_keep_every_sample_and_cut_in_pauses(long_english):
    from assets import read_wav

    samples, _ = read_wav(long_english.path)
    probs = speech_probabilities([samples])
    regions = speech_regions(probs, len(samples))
    plain = pack_chunks(regions, 28.0, 2.0)
    # Every chunk filled (fill_below=1.0): the cutting itself, wherever it happens. The default fills only chunks
    # under two thirds full, which the short prompts of this file never leave.
    filled = pack_chunks(regions, 28.0, 2.0, probs=probs, pause_below=0.35, fill_below=1.0)

    def merged_spans(chunks):
        out = []
        for chunk in chunks:
            for start, end in chunk.spans:
                if out and out[-1][1] == start:
                    out[-1] = (out[-1][0], end)
                else:
                    out.append((start, end))
        return out

    assert merged_spans(filled) == merged_spans(plain)
    assert len(filled) < len(plain)
    assert all(c.duration <= 28.0 for c in filled)
    cuts = [a.spans[-1][1] for a, b in zip(filled, filled[1:]) if a.spans[-1][1] == b.spans[0][0]]
    assert cuts, "no region was cut to fill a chunk"
    for cut in cuts:  # every cut inside a region sits in a pause
        frame = cut // FRAME_SAMPLES
        assert probs[frame - 2 : frame + 3].mean() < 0.35


def test_chunk_time_maps_exactly_to_original():
    sec = SAMPLE_RATE
    chunk = Chunk(0, ((2 * sec, 5 * sec), (100 * sec, 104 * sec), (200 * sec, 201 * sec)))
    assert chunk.duration == 8.0
    assert chunk.to_original(0.0) == 2.0
    assert chunk.to_original(2.5) == 4.5
    assert chunk.to_original(3.0) == 100.0  # a start on the joint belongs to the next span
    assert chunk.to_original(3.0, side="end") == 5.0  # an end on the joint to the previous one
    assert chunk.to_original(7.5) == 200.5
    assert chunk.to_original(50.0, side="end") == 201.0
    # Whisper stamps a little early or late near joints: edges snap onto the joint.
    assert chunk.snap(2.8, 6.0, 0.4) == (3.0, 6.0)
    assert chunk.snap(1.0, 3.2, 0.4) == (1.0, 3.0)
    tail = chunk.tail(6.5)
    assert tail.spans == ((103 * sec + sec // 2, 104 * sec), (200 * sec, 201 * sec)) and tail.part == 1


def test_a_cut_inside_speech_needs_the_energy_to_agree_with_the_vad():
    from whisperkit_nb.speech.pauses import EnergyMeter

    sec = SAMPLE_RATE
    t = np.arange(40 * sec) / sec
    audio = (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)  # a voice sounding throughout...
    audio[int(19.9 * sec) : int(20.1 * sec)] = 0.0003  # ...but for a 200 ms pause at 20 s
    frames = int(np.ceil(len(audio) / FRAME_SAMPLES))
    probs = np.full(frames, 0.95, np.float32)
    for at_s, level in ((12.0, 0.02), (20.0, 0.2)):  # the VAD's surest dip at 12 s is not quiet at all
        at = int(at_s * sec / FRAME_SAMPLES)
        probs[at - 3 : at + 4] = level
    meter = EnergyMeter()
    for block in np.array_split(audio, 7):  # energy measured as blocks stream by, as in plan_chunks
        meter.add(block)
    energy = meter.energy_db()
    region = [SpeechRegion(0, len(audio))]
    vad_only = split_long_regions(region, probs, 28.0)
    both = split_long_regions(region, probs, 28.0, energy_db=energy, pause_below=0.35)
    assert abs(vad_only[0].end / sec - 12.0) < 0.2
    assert abs(both[0].end / sec - 20.0) < 0.15 and both[-1].end == len(audio)
    # Filling a chunk: only the VAD's surest pause is tried; sound there closes the chunk instead.
    regions = [SpeechRegion(0, 5 * sec), SpeechRegion(6 * sec, len(audio))]
    filled = pack_chunks(regions, 28.0, probs=probs, energy_db=energy, pause_below=0.35)
    assert filled[0].spans == ((0, 5 * sec),)


def test_decoding_beside_the_vad_gives_the_same_plan_and_samples(long_english, tmp_path, monkeypatch):
    """A file is decoded on a thread a few blocks ahead of the VAD, and an input wanted in memory is kept
    during that pass instead of decoded first: the chunk plan and the samples must not change."""
    import threading

    from assets import encode_audio, read_wav

    from whisperkit_nb.run.prepare import prepare_input
    from whisperkit_nb.speech import plan

    m4a = encode_audio(tmp_path / "long.m4a", read_wav(long_english.path)[0], container="mp4", codec="aac")
    options = settle(TranscribeOptions())
    decoders: set[str] = set()
    decode = open_audio(str(m4a)).blocks.__func__

    def recorded(self):
        decoders.add(threading.current_thread().name)
        yield from decode(self)

    monkeypatch.setattr(type(open_audio(str(m4a))), "blocks", recorded)
    monkeypatch.setattr(plan, "DECODE_AHEAD", False)
    one_after_the_other = plan_chunks(open_audio(str(m4a)), options)
    decoded_first = open_audio(str(m4a)).in_memory()
    monkeypatch.setattr(plan, "DECODE_AHEAD", True)
    decoders.clear()
    beside = plan_chunks(open_audio(str(m4a)), options)
    assert decoders == {"whisperkit-decode"}, f"the file was not decoded beside the VAD: {decoders}"
    assert beside == one_after_the_other and len(beside[0]) > 3
    kept = prepare_input("long", str(m4a), options, in_memory=True)
    assert kept.error is None and kept.source.samples is not None
    assert np.array_equal(kept.source.samples, decoded_first.samples)
    assert kept.chunks == one_after_the_other[0] and kept.duration == decoded_first.duration


def test_a_vad_pass_that_fails_stops_the_decoding_thread(long_english, monkeypatch):
    """The failed input's row keeps its error, traceback and all; the thread decoding ahead of the VAD must
    not live on with it (polling, the file open)."""
    import threading
    import time

    from whisperkit_nb.run.prepare import prepare_input
    from whisperkit_nb.speech import plan

    def failing(blocks):
        next(iter(blocks))
        raise RuntimeError("the VAD broke")

    monkeypatch.setattr(plan, "speech_probabilities", failing)
    failed = prepare_input("long", str(long_english.path), settle(TranscribeOptions()), in_memory=False)
    assert isinstance(failed.error, RuntimeError) and "the VAD broke" in str(failed.error)
    deadline = time.monotonic() + 5.0
    while any(t.name == "whisperkit-decode" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "whisperkit-decode" for t in threading.enumerate()), "the decoding thread outlived the pass"


def test_no_cut_in_a_soft_consonant_that_runs_on_from_the_last_word():
    """Slow flite speech under 20 dB of room noise: "5" runs straight into "3" (no pause), whose "th" is as quiet
    as the noise by energy and heard as a pause by the VAD. Filling a chunk up to that boundary, the energy alone
    cut inside "three" (the development set's slow 18-minute file had two such cuts); the treble check (its hiss
    stands out of the noise's treble) leaves the word whole. Every other run-on boundary of the sentence too."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from cut_probe import Reading
    from devset import flite_utterance

    from whisperkit_nb.speech.pauses import TREBLE_MAX_DB

    utterance = flite_utterance("awb", "Your confirmation code is 6 3 5 3.", 1.25)
    reading = Reading(utterance, snr_db=20.0, seed=160)
    k = [w for _, _, w in reading.words].index("3.")
    assert k in reading.tight_boundaries()
    energy_only = reading.cut_near(k, None)
    assert energy_only is not None and reading.words[k][0] + 0.02 < energy_only < reading.words[k][1]
    for b in reading.tight_boundaries():
        cut = reading.cut_near(b, TREBLE_MAX_DB)
        assert cut is None or not reading.inside_a_word(cut), (reading.words[b - 1 : b + 1], cut)
