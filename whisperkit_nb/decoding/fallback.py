"""Temperature fallback: decoding at temperature 0 first, then sampled re-decoding of the chunks that fail Whisper's
checks; silence and hopeless repetition dropped."""

from __future__ import annotations

from whisperkit_nb.decoding import quality
from whisperkit_nb.engines.base import DecodedChunk, Engine
from whisperkit_nb.options import TranscribeOptions
from whisperkit_nb.report import FileReport
from whisperkit_nb.speech.chunks import Chunk


def decode_with_fallback(engine: Engine, encoded, chunks: list[Chunk], languages: list[str | None],
                          tasks: list[str], opts: TranscribeOptions, reports: list[FileReport]) -> list:
    """Decoding at temperature 0, then temperature fallback for the chunks that fail Whisper's checks
    (re-batched together), silence and hopeless repetition dropped. A chunk that fails at every temperature
    keeps its most likely decoding (`most_likely`), not its last draw. ``reports`` are the rows' inputs' facts
    (a batch may hold chunks of several inputs): each counts its own fallbacks and dropped chunks."""
    timestamps = opts.decodes_timestamps
    results = engine.decode(encoded, languages, tasks, opts.max_new_tokens, beam_size=opts.beam_size,
                            timestamps=timestamps, compiled=opts.compile, durations=[c.duration for c in chunks])
    tokenizer, eot = engine.tokenizer, engine.tokens.eot
    texts = [quality.chunk_text(r, tokenizer, eot) for r in results]
    pending = [i for i, r in enumerate(results)
               if not quality.is_silence(r, opts) and quality.needs_fallback(r, texts[i], opts)]
    tries = {i: [(results[i], texts[i])] for i in pending}
    for temperature in quality.fallback_temperatures(opts):
        if not pending:
            break
        for i in pending:
            reports[i].fallbacks += 1
        retried = engine.decode(
            encoded[pending], [languages[i] for i in pending], [tasks[i] for i in pending],
            opts.max_new_tokens, temperatures=[temperature] * len(pending),
            seeds=[quality.chunk_seed(opts.seed, chunks[i].index, chunks[i].part, temperature) for i in pending],
            timestamps=timestamps, durations=[chunks[i].duration for i in pending],
        )
        still = []
        for i, result in zip(pending, retried):
            results[i], texts[i] = result, quality.chunk_text(result, tokenizer, eot)
            tries[i].append((result, texts[i]))
            if quality.needs_fallback(result, texts[i], opts):
                still.append(i)
        pending = still
    for i in pending:
        results[i], texts[i] = most_likely(tries[i], opts)
    for i, result in enumerate(results):
        if quality.is_silence(result, opts) or (i in pending and quality.too_repetitive(result, texts[i], opts)):
            results[i] = quality.dropped(result)
            reports[i].dropped_chunks += 1
    return results


def most_likely(tries: list[tuple[DecodedChunk, str]], opts: TranscribeOptions) -> tuple[DecodedChunk, str]:
    """The decoding (and its text) kept when every temperature failed: the highest average log-probability
    among the tries that are not repetition loops (among all tries when each one is), as faster-whisper's
    sequential fallback keeps. openai/whisper keeps the last draw, sampled at temperature 1.0: with every chunk
    forced through every temperature, that took base's WER on 26 s of LibriVox from 1.4% to 4.2-15.5%, seed
    by seed (`bench/fallback_keep.py`)."""
    unlooped = [(r, text) for r, text in tries if not quality.too_repetitive(r, text, opts)]
    return max(unlooped or tries, key=lambda tried: tried[0].avg_logprob)


def task_for(language: str | None, opts: TranscribeOptions) -> str:
    if opts.code_switching == "english":
        return "transcribe" if language == "en" else "translate"
    return opts.task
