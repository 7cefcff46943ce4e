"""Hallucination control for batched decoding (what faster-whisper's batched path leaves out).

Per chunk, Whisper's own criteria: a chunk whose no-speech probability is high while its text is
unlikely is silence and is dropped; a chunk whose text is too repetitive (compression ratio) or was cut at
the token budget (and, with ``logprob_fallback``, one whose text is too unlikely) is decoded again with
temperature sampling, only those chunks, re-batched together; a chunk still too repetitive after the last
temperature is dropped.
"""

from __future__ import annotations

import dataclasses
import zlib

from whisperkit_nb.engines.base import DecodedChunk
from whisperkit_nb.options import TranscribeOptions


def chunk_text(result: DecodedChunk, tokenizer, eot: int) -> str:
    return tokenizer.decode([t for t in result.tokens if t < eot])


def compression_ratio(text: str) -> float:
    """Length of the UTF-8 text over its zlib-compressed length; repetitive hallucinations score high."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def is_silence(result: DecodedChunk, opts: TranscribeOptions) -> bool:
    """openai/whisper's rule: no-speech probability above threshold and text below the log-prob floor."""
    if opts.no_speech_threshold is None:
        return False
    unlikely = opts.logprob_threshold is None or result.avg_logprob < opts.logprob_threshold
    return result.no_speech_prob > opts.no_speech_threshold and unlikely


def too_repetitive(result: DecodedChunk, text: str, opts: TranscribeOptions) -> bool:
    return opts.compression_ratio_threshold is not None and compression_ratio(text) > opts.compression_ratio_threshold


def needs_fallback(result: DecodedChunk, text: str, opts: TranscribeOptions) -> bool:
    """A repetition loop or a decoding cut at max_new_tokens; unlikely text too with ``logprob_fallback``.

    Unlikely text alone is not re-decoded by default: on hard audio (noise at 0-5 dB, languages the model took for
    others) re-decoding it took up to twice the time and the most likely try was mostly the first one anyway,
    with no fewer errors over the files (bench/README.md, "Temperature fallback for unlikely text")."""
    if not result.tokens:
        return False
    too_unlikely = (opts.logprob_fallback and opts.logprob_threshold is not None
                    and result.avg_logprob < opts.logprob_threshold)
    return too_repetitive(result, text, opts) or too_unlikely or result.truncated


def fallback_temperatures(opts: TranscribeOptions) -> list[float]:
    """0.2, 0.4, ... 1.0 for the default step; none when the step is 0."""
    if opts.temperature_step <= 0:
        return []
    steps = int(round(1.0 / opts.temperature_step))
    return [round(opts.temperature_step * k, 4) for k in range(1, steps + 1)]


def chunk_seed(seed: int, index: int, part: int, temperature: float) -> int:
    """A seed per chunk and temperature: reproducible whatever else shares the batch."""
    return (seed * 1_000_003 + index * 7_919 + part * 104_729 + int(round(temperature * 100))) % (2**63 - 1)


def dropped(result: DecodedChunk) -> DecodedChunk:
    return dataclasses.replace(result, tokens=[], logprobs=[])
