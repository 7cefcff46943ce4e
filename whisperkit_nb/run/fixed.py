"""The "fixed" chunking strategy: the insanely-fast-whisper method, kept for choice and comparison.

transformers' ASR pipeline cuts the whole file into 30 s windows with 5 s strides on each side, decodes
them in batches and stitches the overlaps by longest common token sequence. Greedy decoding, as
insanely-fast-whisper used (transformers 5's pipeline would otherwise default to 5 beams). The pipeline
needs the whole waveform in memory, unlike the VAD strategy.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from whisperkit_nb.audio.source import SAMPLE_RATE, AudioSource
from whisperkit_nb.decoding.quality import compression_ratio
from whisperkit_nb.engines.base import Engine
from whisperkit_nb.options import TranscribeOptions
from whisperkit_nb.report import FileReport
from whisperkit_nb.transcript.segments import Segment

WINDOW_S = 30.0
STRIDE_S = 5.0


def fixed_segments(source: AudioSource, opts: TranscribeOptions, engine: Engine,
                   language: str | None, report: FileReport) -> Iterator[Segment]:
    """Segments of one input by transformers' ASR pipeline, which engines with chunking="fixed" in their
    capabilities provide (``engine.asr_pipeline()``, dropped by `release_models`)."""
    from whisperkit_nb.audio.log_mel import LogMel

    samples = np.concatenate(list(source.blocks()))
    duration = len(samples) / SAMPLE_RATE
    batch_size = opts.batch_size or engine.default_batch_size(opts.max_new_tokens)
    if language is None:
        if engine.tokens.multilingual:
            # Detected once, from the first window (what the pipeline itself would do per window).
            first = LogMel(engine.n_mels, engine.device)([samples[: 30 * SAMPLE_RATE]])
            probs, codes = engine.language_probabilities(engine.encode(first))
            language = codes[int(probs[0].argmax())]
        else:
            language = "en"
    report.duration, report.batch_size, report.language = duration, batch_size, language
    report.chunks = math.ceil(duration / 20)
    report.gaps = list(source.gaps)  # stretches that could not be decoded (silent)
    generate = {"num_beams": 1, "do_sample": False}
    if engine.tokens.multilingual:  # English-only models refuse language/task arguments
        generate.update(language=language, task=opts.task)
    result = engine.asr_pipeline()(
        {"raw": samples, "sampling_rate": SAMPLE_RATE},
        chunk_length_s=WINDOW_S,
        stride_length_s=STRIDE_S,
        batch_size=batch_size,
        return_timestamps=True,
        generate_kwargs=generate,
        ignore_warning=True,  # the chunked-seq2seq caveat is what this strategy reproduces
    )
    for piece in result.get("chunks", []):
        text = piece["text"].strip()
        if not text:
            continue
        start, end = piece["timestamp"]
        start = 0.0 if start is None else float(start)
        end = duration if end is None else float(end)
        yield Segment(
            file=source.name,
            start=round(start, 3),
            end=round(max(end, start), 3),
            text=text,
            language=language,
            speaker=None,
            avg_logprob=math.nan,
            no_speech_prob=math.nan,
            compression_ratio=compression_ratio(text),
            chunk=int(start // (WINDOW_S - 2 * STRIDE_S)),
        )
