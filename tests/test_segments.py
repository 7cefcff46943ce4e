"""Cutting decoded chunks into segments: the unfinished tail a second pass re-decodes is not kept twice;
text decoded without timestamps is cut at sentence ends and removed pauses."""

from __future__ import annotations

import numpy as np

import whisperkit_nb as wk
from whisperkit_nb.speech.chunks import Chunk
from whisperkit_nb.engines.base import DecodedChunk
from whisperkit_nb.transcript.words import WordTiming
from whisperkit_nb.decoding.tails import ALIGNED_TAIL_MIN_S, covered_until, plan_aligned_tail, plan_tail
from whisperkit_nb.transcript.segments import chunk_segments, word_segments


def test_unfinished_last_segment_is_left_to_the_tail():
    whisper = wk.load_model(model="tiny.en", engine="transformers")
    tokens, ts = whisper.tokens, whisper.tokens.timestamp_begin
    hello = whisper.tokenizer.encode(" Hello there.", add_special_tokens=False)
    again = whisper.tokenizer.encode(" Please enter a new extension", add_special_tokens=False)
    # <|0.00|> Hello there. <|1.00|><|2.00|> Please enter a new extension   (no closing timestamp)
    sequence = [ts, *hello, ts + 50, ts + 100, *again]
    decoded = DecodedChunk(tokens=sequence, logprobs=[-0.1] * len(sequence), no_speech_prob=0.0,
                           language="en", truncated=False)
    chunk = Chunk(index=0, spans=((0, 20 * 16000),))
    assert covered_until(decoded, ts) == 2.0
    silence = np.zeros(20 * 16000, np.float32)
    kept, tail_from = plan_tail(chunk, decoded, ts, silence)
    assert tail_from == 2.0
    kept = chunk_segments(kept, chunk, ts, tokens.eot, whisper.tokenizer, "f")
    assert [s.text for s in kept] == ["Hello there."]
    everything = chunk_segments(decoded, chunk, ts, tokens.eot, whisper.tokenizer, "f")
    assert [s.text for s in everything] == ["Hello there.", "Please enter a new extension"]


def test_a_segment_whose_end_timestamp_jumps_over_speech_is_decoded_again_from_its_start():
    whisper = wk.load_model(model="tiny.en", engine="transformers")
    tokens, ts = whisper.tokens, whisper.tokens.timestamp_begin
    hello = whisper.tokenizer.encode(" Hello there.", add_special_tokens=False)
    more = whisper.tokenizer.encode(" For more information.", add_special_tokens=False)
    # <|0.00|> Hello there. <|1.00|><|1.50|> For more information. <|28.50|>: 4 tokens over 27 s of speech
    sequence = [ts, *hello, ts + 50, ts + 75, *more, ts + 1425]
    decoded = DecodedChunk(tokens=sequence, logprobs=[-0.1] * len(sequence), no_speech_prob=0.0,
                           language="en", truncated=False)
    chunk = Chunk(index=0, spans=((0, 29 * 16000),))
    # Speech everywhere but a 100 ms pause at 2.6 s, where "For more information." plausibly ends.
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(29 * 16000)).astype(np.float32)
    audio[int(2.55 * 16000) : int(2.65 * 16000)] *= 0.01
    kept, tail_from = plan_tail(chunk, decoded, ts, audio)
    assert abs(tail_from - 2.6) < 0.04  # decoding goes on from the pause, not from the jump's start again
    segments = chunk_segments(kept, chunk, ts, tokens.eot, whisper.tokenizer, "f")
    assert [s.text for s in segments] == ["Hello there.", "For more information."]
    assert abs(segments[-1].end - tail_from) < 0.021
    # A long segment that carries its words is no jump; nor is anything in a tail (no second tail).
    spoken = whisper.tokenizer.encode(" one two three four five six seven eight nine ten" * 2, add_special_tokens=False)
    steady = DecodedChunk(tokens=[ts, *spoken, ts + 400], logprobs=[-0.1] * (len(spoken) + 2),
                          no_speech_prob=0.0, language="en", truncated=False)
    assert plan_tail(Chunk(index=0, spans=((0, 8 * 16000),)), steady, ts, audio[: 8 * 16000])[1] is None
    assert plan_tail(chunk.tail(1.0), decoded, ts, audio[16000:])[1] is None


def test_text_only_decoding_gets_a_tail_only_after_seconds_of_speech_past_its_last_word():
    chunk = Chunk(index=0, spans=((0, 10 * 16000), (12 * 16000, 22 * 16000)))  # 20 s of speech
    words = [WordTiming(" Hello", 0.2, 0.6, 0.9, 0), WordTiming(" there.", 0.6, 1.1, 0.9, 1)]
    assert plan_aligned_tail(chunk, words) == 1.1
    near_the_end = [*words, WordTiming(" Bye.", 20.0 - ALIGNED_TAIL_MIN_S - 0.5, 20.0 - ALIGNED_TAIL_MIN_S, 0.9, 2)]
    assert plan_aligned_tail(chunk, near_the_end) is None  # the last word may be aligned early: no tail
    assert plan_aligned_tail(chunk, []) is None  # the same samples again would give the same nothing
    assert plan_aligned_tail(chunk.tail(1.1), words) is None  # a tail gets no tail of its own


def test_text_only_chunks_are_cut_at_sentence_ends_and_removed_pauses():
    whisper = wk.load_model(model="tiny.en", engine="transformers")
    encode = lambda text: whisper.tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    pieces = [" Hello", " there.", " Please", " enter", " your", " code"]
    tokens, words, t = [], [], 0.0
    for piece in pieces:
        words.append(WordTiming(piece, t, t + 0.4, 0.9, len(tokens)))
        tokens += encode(piece)
        t += 0.5
    # Two speech spans: 0-2 s and 10-12 s of the file, joined at chunk time 2.0 ("enter" ends the first).
    chunk = Chunk(index=3, spans=((0, 2 * 16000), (10 * 16000, 12 * 16000)))
    words[-2:] = [WordTiming(w.word, w.start + 0.2, w.end + 0.2, w.probability, w.first_token) for w in words[-2:]]
    decoded = DecodedChunk(tokens=tokens, logprobs=[-0.1] * len(tokens), no_speech_prob=0.0, language="en",
                           truncated=False)
    segments = word_segments(decoded, chunk, whisper.tokens.eot, whisper.tokenizer, "f", words, keep_words=True)
    assert [s.text for s in segments] == ["Hello there.", "Please enter", "your code"]
    assert segments[1].end <= 2.0 and segments[2].start >= 10.0  # no segment spans the removed pause
    assert all(s.chunk == 3 and len(s.words) == 2 for s in segments)
    assert word_segments(decoded, chunk, whisper.tokens.eot, whisper.tokenizer, "f", words,
                         keep_words=False)[0].words is None
