"""GPU out of memory: a batch that does not fit is retried in halves, down to one chunk, and the smaller size
is kept for the rest of the run; nothing is skipped.

No GPU is needed: the fault is injected through the engine interface, wrapping the loaded engine's
``encode`` or ``decode`` (the calls the pipeline hands a batch to), raising the very error torch raises on a
GPU, ``torch.cuda.OutOfMemoryError``, for any batch larger than the "card" holds. Everything else is real:
real speech, real tiny.en weights, both engines.
"""

from __future__ import annotations

import functools
import warnings

import pytest
import torch

import whisperkit_nb as wk

FITS = 2  # rows the pretend card holds


class PretendCard:
    """Wraps an engine method; raises CUDA OOM for batches above ``FITS`` rows and logs every attempt."""

    def __init__(self, real, rows_of):
        self.real, self.rows_of = real, rows_of
        self.attempts: list[tuple[int, bool]] = []  # (rows, ran out of memory)

    def __call__(self, batch, *args, **kwargs):
        rows = self.rows_of(batch)
        self.attempts.append((rows, rows > FITS))
        if rows > FITS:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {rows} chunks")
        return self.real(batch, *args, **kwargs)


def on_the_card(monkeypatch, where: str, rows_of, **options) -> PretendCard:
    """Put the engine these options load (the one `transcribe` then finds loaded) on the pretend card."""
    engine = wk.load_model(**options)
    card = PretendCard(getattr(engine, where), rows_of)
    monkeypatch.setitem(vars(engine), where, card)  # an instance attribute, deleted again after the test
    return card


def _texts(frame):
    return list(zip(frame.start.round(2), frame.end.round(2), frame.text))


def _options(engine: str) -> dict:
    # 5 s chunks: the 26 s recording makes several batches' worth of chunks
    return dict(model="tiny.en", engine=engine, device="cpu", chunk_s=5, progress=False)


@pytest.fixture(scope="module")
def fault_free(librivox):
    """What the pretend card can hold, run without any fault (batches of FITS chunks from the start), once per
    engine for both places a fault is raised."""

    @functools.cache
    def run(engine: str):
        return wk.transcribe(librivox.path, batch_size=FITS, **_options(engine))

    return run


@pytest.mark.parametrize("engine", ["transformers", "ctranslate2"])
@pytest.mark.parametrize("where", ["encode", "decode"])
def test_out_of_memory_halves_the_batch_and_skips_nothing(librivox, fault_free, monkeypatch, engine, where):
    options = _options(engine)
    expected = fault_free(engine)
    card = on_the_card(monkeypatch, where, lambda batch: batch.shape[0], **options)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = wk.transcribe(librivox.path, batch_size=6, **options)
    info = frame.attrs["files"][str(librivox.path)]

    failed = [rows for rows, oom in card.attempts if oom]
    assert failed[:2] == [6, 3], card.attempts  # halved, then halved again until it fits
    first_fit = next(i for i, (_, oom) in enumerate(card.attempts) if not oom)
    assert all(rows <= FITS for rows, _ in card.attempts[first_fit:]), "the batch size stayed lower"
    assert info["batch_size"] == FITS and info["oom_retries"] == len(failed)
    messages = [str(w.message) for w in caught if "out of GPU memory" in str(w.message)]
    assert len(messages) == 1 and "batches of 3" in messages[0], messages  # said once

    # Nothing skipped: every chunk decoded, and the transcript is the one the smaller batch gives.
    assert info["chunks"] == expected.attrs["files"][str(librivox.path)]["chunks"]
    assert info["dropped_chunks"] == expected.attrs["files"][str(librivox.path)]["dropped_chunks"]
    assert _texts(frame) == _texts(expected)


def test_out_of_memory_with_a_batch_of_one_is_raised(librivox, monkeypatch):
    # even one chunk does not fit
    card = on_the_card(monkeypatch, "encode", lambda batch: batch.shape[0] + FITS, model="tiny.en")
    with pytest.raises(torch.cuda.OutOfMemoryError), pytest.warns(UserWarning, match="out of GPU memory"):
        wk.transcribe(librivox.path, model="tiny.en", batch_size=4, chunk_s=10, progress=False)
    assert [rows for rows, _ in card.attempts][-1] == 1 + FITS  # it went down to one chunk before giving up


def test_lower_batch_size_carries_to_the_next_file_of_the_run(librivox, sample, monkeypatch):
    on_the_card(monkeypatch, "encode", lambda batch: batch.shape[0], model="tiny.en")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = wk.transcribe([librivox.path, sample.path], model="tiny.en", batch_size=6, chunk_s=5,
                              progress=False)
    files = frame.attrs["files"]
    assert files[str(librivox.path)]["batch_size"] == FITS
    assert files[str(sample.path)]["batch_size"] == FITS and "oom_retries" not in files[str(sample.path)]
    assert sum("out of GPU memory" in str(w.message) for w in caught) == 1
    assert set(frame.file) == {str(librivox.path), str(sample.path)}
