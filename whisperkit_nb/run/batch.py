"""One batch of chunks through the engine (encode, language, decode with fallback, words), retried in halves when the GPU runs out of memory."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from whisperkit_nb.audio.log_mel import LogMel
from whisperkit_nb.decoding.fallback import decode_with_fallback, task_for
from whisperkit_nb.decoding.language import vote
from whisperkit_nb.engines.base import Engine
from whisperkit_nb.options import TranscribeOptions
from whisperkit_nb.report import FileReport
from whisperkit_nb.speech.chunks import Chunk


@dataclass
class BatchFit:
    """The batch size a run's device can afford, shared by the files of one `transcribe` call.

    ``size`` is None until a batch runs out of GPU memory; from then on it caps every batch of the run.
    """

    size: int | None = None
    warned: bool = False


def _out_of_memory(err: BaseException) -> bool:
    """A GPU allocation failure: torch's own error, or CTranslate2's RuntimeError from CUDA."""
    import torch

    if isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and "out of memory" in str(err).lower()


@dataclass
class BatchPass:
    """The model's work on one batch (encode, detect languages, decode with fallback, align words).

    A batch that runs out of GPU memory is split in halves that run one after the other, down to single
    chunks: every chunk is still transcribed, in order, and the smaller size is kept for the rest of the run
    (`BatchFit`), with one warning per run.
    """

    engine: Engine
    mel: LogMel
    language: str | None
    per_chunk_language: bool
    opts: TranscribeOptions
    report: FileReport
    name: str
    fit: BatchFit

    def run(self, batch: list[tuple[Chunk, np.ndarray, str | None]], new_from: int) -> tuple[list, list]:
        """Decoded chunks and their words for ``batch``, whose items from ``new_from`` on are fresh chunks
        (the ones before are tails, which bring their language with them)."""
        if self.fit.size and len(batch) > self.fit.size:  # an earlier piece of this batch ran out of memory
            return self._in_pieces(batch, new_from, self.fit.size)
        counts = self.report.fallbacks, self.report.dropped_chunks
        try:
            return self._once(batch, new_from)
        except Exception as err:  # noqa: BLE001 - only out-of-memory is handled; everything else re-raised
            if not _out_of_memory(err) or len(batch) == 1:
                raise
        # Retried outside the except block, so that the failed attempt's tensors are freed first.
        self.report.fallbacks, self.report.dropped_chunks = counts  # the pieces count their own
        self._shrink(len(batch), (len(batch) + 1) // 2)
        return self._in_pieces(batch, new_from, self.fit.size)

    def _in_pieces(self, batch: list, new_from: int, size: int) -> tuple[list, list]:
        decoded: list = []
        words: list = []
        for at in range(0, len(batch), size):
            piece = batch[at : at + size]
            piece_decoded, piece_words = self.run(piece, min(max(new_from - at, 0), len(piece)))
            decoded += piece_decoded
            words += piece_words
        return decoded, words

    def _shrink(self, failed: int, half: int) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self.fit.size = min(self.fit.size or failed, half)
        self.report.oom_retries = (self.report.oom_retries or 0) + 1
        if not self.fit.warned:
            self.fit.warned = True
            warnings.warn(f"{self.name}: out of GPU memory with a batch of {failed} chunks; the same chunks are "
                          f"decoded again in batches of {half}, and batches stay at most that size for the rest "
                          "of this run (set batch_size lower to avoid the retry).", stacklevel=2)

    def _once(self, batch: list[tuple[Chunk, np.ndarray, str | None]], new_from: int) -> tuple[list, list]:
        engine, opts, report = self.engine, self.opts, self.report
        chunks = [chunk for chunk, _, _ in batch]
        encoded = engine.encode(self.mel([samples for _, samples, _ in batch]))
        languages = [lang for _, _, lang in batch]
        # A batch of tails only has nothing new to detect (their languages came with them).
        if new_from < len(batch) and (self.language is None or self.per_chunk_language):
            fresh_langs = _chunk_languages(engine, encoded[new_from:], chunks[new_from:], self.per_chunk_language,
                                           report)
            languages[new_from:] = fresh_langs
            if not self.per_chunk_language:
                self.language = fresh_langs[0]
        if not self.per_chunk_language:
            languages = [self.language] * len(batch)
        tasks = [task_for(lang, opts) for lang in languages]
        decoded = decode_with_fallback(engine, encoded, chunks, languages, tasks, opts, report)
        words = (
            engine.align(encoded, decoded, [c.duration for c in chunks])
            if opts.timestamps == "word" or not opts.decodes_timestamps
            else [None] * len(batch)
        )
        return decoded, words


def _chunk_languages(engine: Engine, encoded, batch: list[Chunk], per_chunk: bool,
                     report: FileReport) -> list[str]:
    """Each chunk's own language (code-switching), or the batch's vote for the whole file."""
    probs, codes = engine.language_probabilities(encoded)
    if per_chunk:
        return [codes[int(i)] for i in probs.argmax(dim=-1)]
    language, probability = vote(probs, codes, [c.duration for c in batch])
    report.language, report.language_probability = language, round(probability, 4)
    return [language] * len(batch)
