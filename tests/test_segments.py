"""Cutting decoded chunks into segments: the unfinished tail a second pass re-decodes is not kept twice."""

from __future__ import annotations

import whisperkit_nb as wk
from whisperkit_nb.chunking import Chunk
from whisperkit_nb.decoding import DecodedChunk
from whisperkit_nb.segments import chunk_segments, covered_until, up_to_last_timestamp


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
    kept = chunk_segments(up_to_last_timestamp(decoded, ts), chunk, ts, tokens.eot, whisper.tokenizer, "f")
    assert [s.text for s in kept] == ["Hello there."]
    everything = chunk_segments(decoded, chunk, ts, tokens.eot, whisper.tokenizer, "f")
    assert [s.text for s in everything] == ["Hello there.", "Please enter a new extension"]
