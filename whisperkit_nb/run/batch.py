"""One batch of chunks through the engine (encode, language, decode with fallback, words), retried in halves when the GPU runs out of memory."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from whisperkit_nb.audio.log_mel import LogMel
from whisperkit_nb.decoding.fallback import decode_with_fallback, task_for
from whisperkit_nb.decoding.language import vote
from whisperkit_nb.engines.base import Engine
from whisperkit_nb.options import TranscribeOptions
from whisperkit_nb.report import FileReport
from whisperkit_nb.speech.chunks import Chunk

if TYPE_CHECKING:
    import torch


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


class BatchFile(Protocol):
    """What a batch needs of the input a chunk belongs to (`whisperkit_nb.run.decode.FileRun`)."""

    name: str
    report: FileReport
    language: str | None  # None until given or detected; the vote of its first batch sets it


@dataclass
class BatchItem:
    """One row of a batch: a chunk, its samples and the input it belongs to (batches span inputs)."""

    chunk: Chunk
    samples: np.ndarray
    file: BatchFile
    tail_language: str | None = None  # a tail re-decodes in the language its chunk was decoded in
    chunk_language: str | None = None  # a fresh chunk's own language, detected in its batch (code-switching)
    encoded: torch.Tensor | None = None  # encoder output, when computed before its batch (language vote)

    @property
    def fresh(self) -> bool:
        return self.tail_language is None


@dataclass
class BatchPass:
    """The model's work on one batch (encode, detect languages, decode with fallback, align words).

    The rows may come from several inputs: each keeps its own language, facts and seeds, so an input's
    result does not depend on which others share its batches (up to floating-point effects of the batch
    size). A batch that runs out of GPU memory is split in halves that run one after the other, down to
    single chunks: every chunk is still transcribed, in order, and the smaller size is kept for the rest of
    the run (`BatchFit`), with one warning per run.
    """

    engine: Engine
    mel: LogMel
    per_chunk_language: bool
    opts: TranscribeOptions
    fit: BatchFit

    def run(self, batch: list[BatchItem]) -> tuple[list, list]:
        """Decoded chunks and their words for ``batch``, in its order."""
        if self.fit.size and len(batch) > self.fit.size:  # an earlier piece of this batch ran out of memory
            return self._in_pieces(batch, self.fit.size)
        reports = list({id(item.file.report): item.file.report for item in batch}.values())
        counts = [(r.fallbacks, r.dropped_chunks) for r in reports]
        try:
            return self._once(batch)
        except Exception as err:  # noqa: BLE001 - only out-of-memory is handled; everything else re-raised
            if not _out_of_memory(err) or len(batch) == 1:
                raise
        # Retried outside the except block, so that the failed attempt's tensors are freed first.
        for report, (fallbacks, dropped) in zip(reports, counts):  # the pieces count their own
            report.fallbacks, report.dropped_chunks = fallbacks, dropped
        self._shrink(batch, reports, (len(batch) + 1) // 2)
        return self._in_pieces(batch, self.fit.size)

    def _in_pieces(self, batch: list[BatchItem], size: int) -> tuple[list, list]:
        decoded: list = []
        words: list = []
        for at in range(0, len(batch), size):
            piece_decoded, piece_words = self.run(batch[at : at + size])
            decoded += piece_decoded
            words += piece_words
        return decoded, words

    def _shrink(self, batch: list[BatchItem], reports: list[FileReport], half: int) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        failed = len(batch)
        self.fit.size = min(self.fit.size or failed, half)
        for report in reports:
            report.oom_retries = (report.oom_retries or 0) + 1
        if not self.fit.warned:
            self.fit.warned = True
            names = list(dict.fromkeys(item.file.name for item in batch))
            where = names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} other input(s)"
            warnings.warn(f"{where}: out of GPU memory with a batch of {failed} chunks; the same chunks are "
                          f"decoded again in batches of {half}, and batches stay at most that size for the rest "
                          "of this run (set batch_size lower to avoid the retry).", stacklevel=2)

    def _once(self, batch: list[BatchItem]) -> tuple[list, list]:
        engine, opts = self.engine, self.opts
        chunks = [item.chunk for item in batch]
        encoded = self._encode(batch)
        # Tails bring their languages; fresh chunks take their input's, detected here when not known yet.
        detect = [i for i, item in enumerate(batch)
                  if item.fresh and (self.per_chunk_language or item.file.language is None)]
        if detect:
            self._detect(encoded if len(detect) == len(batch) else encoded[detect], [batch[i] for i in detect])
        if self.per_chunk_language:
            languages = [item.chunk_language if item.fresh else item.tail_language for item in batch]
        else:
            languages = [item.file.language for item in batch]
        tasks = [task_for(lang, opts) for lang in languages]
        reports = [item.file.report for item in batch]
        decoded = decode_with_fallback(engine, encoded, chunks, languages, tasks, opts, reports)
        words = (
            engine.align(encoded, decoded, [c.duration for c in chunks])
            if opts.timestamps == "word" or not opts.decodes_timestamps
            else [None] * len(batch)
        )
        return decoded, words

    def _encode(self, batch: list[BatchItem]) -> torch.Tensor:
        """The batch's encoder output; rows encoded earlier (``item.encoded``) are not encoded again."""
        import torch

        todo = [item for item in batch if item.encoded is None]
        if len(todo) == len(batch):
            return self.engine.encode(self.mel([item.samples for item in batch]))
        new = iter(self.engine.encode(self.mel([item.samples for item in todo])) if todo else ())
        return torch.stack([item.encoded if item.encoded is not None else next(new) for item in batch])

    def _detect(self, encoded, items: list[BatchItem]) -> None:
        """Each chunk's own language (code-switching), or each input's vote over its chunks in this batch."""
        probs, codes = self.engine.language_probabilities(encoded)
        if self.per_chunk_language:
            for item, index in zip(items, probs.argmax(dim=-1)):
                item.chunk_language = codes[int(index)]
            return
        rows: dict[int, list[int]] = {}
        for row, item in enumerate(items):
            rows.setdefault(id(item.file), []).append(row)
        for picked in rows.values():
            file = items[picked[0]].file
            language, probability = vote(probs[picked] if len(picked) < len(items) else probs, codes,
                                         [items[r].chunk.duration for r in picked])
            file.language = language
            file.report.language, file.report.language_probability = language, round(probability, 4)
