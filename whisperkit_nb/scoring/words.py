"""Scoring transcripts: Whisper's text normalisers and word error rate.

The English normaliser is the one OpenAI used to report Whisper's WER (lower case, no punctuation,
numbers as digits, contractions expanded, British spellings made American), so scores are comparable
with published ones. Word error rate is computed here, in numpy, so scoring needs no extra package.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from whisperkit_nb.errors import MissingDependencyError

Normalizer = Callable[[str], str]

__all__ = [
    "WERDetails",
    "language_time_accuracy",
    "normalize_basic",
    "normalize_english",
    "normalize_letters",
    "normalizer_for",
    "turn_edge_errors",
    "wer_details",
    "word_error_rate",
    "word_matches",
]


def _english_spelling_table() -> dict[str, str]:
    # transformers ships the normaliser but not its spelling table; openai-whisper ships the table as
    # package data. find_spec on a top-level package locates it without running its __init__, which
    # would import whisper's heavy dependencies.
    spec = importlib.util.find_spec("whisper")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        table = Path(location) / "normalizers" / "english.json"
        if table.is_file():
            return json.loads(table.read_text(encoding="utf-8"))
    # Absent, or another distribution named `whisper` (Graphite's is a single module) took the name.
    raise MissingDependencyError(
        "openai-whisper", "eval", "Whisper's English normaliser (its British-to-American spelling table)"
    )


@functools.lru_cache(maxsize=1)
def _english_normalizer() -> Normalizer:
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    return EnglishTextNormalizer(_english_spelling_table())


@functools.lru_cache(maxsize=3)
def _basic_normalizer(remove_diacritics: bool, split_letters: bool = False) -> Normalizer:
    from transformers.models.whisper.english_normalizer import BasicTextNormalizer

    return BasicTextNormalizer(remove_diacritics=remove_diacritics, split_letters=split_letters)


def normalize_english(text: str) -> str:
    """Normalise English text the way Whisper's published WERs were computed.

    Parameters
    ----------
    text : str
        Any English text, such as a reference or a transcript.

    Returns
    -------
    str
        Lower-case words separated by single spaces: punctuation and bracketed annotations removed,
        fillers ("um", "hmm") dropped, titles and contractions expanded ("Mr." -> "mister",
        "won't" -> "will not"), spelled-out numbers turned into digits and British spellings made
        American ("colour" -> "color").

    Raises
    ------
    whisperkit_nb.errors.MissingDependencyError
        An ``ImportError`` raised when openai-whisper, which ships the spelling table, is not
        installed: ``pip install "whisperkit_nb[eval]"``.
    """
    return _english_normalizer()(text).strip()


def normalize_basic(text: str, *, remove_diacritics: bool = False) -> str:
    """Normalise text in any language: lower case, no punctuation, symbols or bracketed annotations.

    Parameters
    ----------
    text : str
        Text in any language.
    remove_diacritics : bool, default False
        Also fold accented letters to their base letters ("número" -> "numero"); useful when the
        reference was written without accents, as the Spanish Asterisk transcripts mostly are.

    Returns
    -------
    str
        Lower-case words separated by single spaces.
    """
    return _basic_normalizer(remove_diacritics)(text).strip()


def normalize_letters(text: str) -> str:
    """Normalise text written without spaces between words (Chinese, Japanese, Thai, ...) into its characters.

    :func:`normalize_basic` with every character (grapheme cluster) made a "word" of its own, as Whisper's
    ``BasicTextNormalizer(split_letters=True)`` does: a word error rate over the result is a character error
    rate. Splitting on spaces would make each sentence of such a text one word, and any slip in it an error
    of the whole sentence.

    Parameters
    ----------
    text : str
        Text in any language.

    Returns
    -------
    str
        Lower-case characters separated by single spaces, without punctuation, symbols or combining marks.
    """
    return _basic_normalizer(False, True)(text).strip()


_NAMED_NORMALIZERS: dict[str, Normalizer] = {"english": normalize_english, "basic": normalize_basic,
                                             "letters": normalize_letters}


def normalizer_for(language: str | None) -> str:
    """The named normaliser that suits ``language`` (a Whisper language code, or None when unknown).

    ``"english"`` for English (as published WERs), ``"letters"`` (character errors) for the languages written
    without spaces between words, whose words the transcript layer also splits by character
    (`whisperkit_nb.transcript.words.UNICODE_SPLIT_LANGUAGES`), ``"basic"`` for every other.
    """
    from whisperkit_nb.transcript.words import UNICODE_SPLIT_LANGUAGES

    if language == "en":
        return "english"
    return "letters" if language in UNICODE_SPLIT_LANGUAGES else "basic"


@dataclass(frozen=True)
class WERDetails:
    """Counts of one word-level alignment of hypotheses against references.

    Attributes
    ----------
    substitutions : int
        Reference words replaced by a different hypothesis word.
    deletions : int
        Reference words missing from the hypothesis.
    insertions : int
        Hypothesis words with no reference word.
    reference_words : int
        Number of words in the (normalised) references.
    """

    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def hits(self) -> int:
        """Reference words matched exactly."""
        return self.reference_words - self.substitutions - self.deletions

    @property
    def errors(self) -> int:
        """Substitutions, deletions and insertions together: the edit distance."""
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """Word error rate: errors divided by reference words."""
        return self.errors / self.reference_words


def word_error_rate(
    reference: str | Sequence[str],
    hypothesis: str | Sequence[str],
    *,
    normalize: str | Normalizer | None = "english",
) -> float:
    """Word error rate of a hypothesis against a reference.

    Parameters
    ----------
    reference : str or sequence of str
        The correct transcript, or a list of them. With lists, errors and reference words are summed
        over all pairs before dividing (corpus-level WER), as jiwer and published benchmarks do.
    hypothesis : str or sequence of str
        The transcript to score; a list must pair one to one with ``reference``.
    normalize : {"english", "basic", "letters"}, callable or None, default "english"
        Applied to both sides before splitting into words: ``"english"`` is
        :func:`normalize_english`, ``"basic"`` is :func:`normalize_basic` (for other languages),
        ``"letters"`` is :func:`normalize_letters` (languages written without spaces: the rate is then
        one of characters; :func:`normalizer_for` picks by language), a callable is used as given, and
        ``None`` only splits on whitespace.

    Returns
    -------
    float
        (substitutions + deletions + insertions) / reference words; may exceed 1.

    Raises
    ------
    ValueError
        The references hold no words after normalisation, the lists differ in length, or
        ``normalize`` names no known normaliser.
    TypeError
        One side is a string and the other a list.
    """
    return wer_details(reference, hypothesis, normalize=normalize).wer


def wer_details(
    reference: str | Sequence[str],
    hypothesis: str | Sequence[str],
    *,
    normalize: str | Normalizer | None = "english",
) -> WERDetails:
    """Substitution, deletion and insertion counts behind :func:`word_error_rate`.

    Parameters are those of :func:`word_error_rate`. Among alignments of equal cost, the one with
    the most substitutions and the fewest insertions is counted.

    Returns
    -------
    WERDetails
        Counts summed over all reference/hypothesis pairs.
    """
    references, hypotheses = _as_pairs(reference, hypothesis)
    normalizer = _resolve_normalizer(normalize)
    totals = np.zeros(4, dtype=np.int64)
    for ref_text, hyp_text in zip(references, hypotheses):
        ref_words = (normalizer(ref_text) if normalizer else ref_text).split()
        hyp_words = (normalizer(hyp_text) if normalizer else hyp_text).split()
        totals += (*_align_counts(ref_words, hyp_words), len(ref_words))
    substitutions, deletions, insertions, reference_words = (int(n) for n in totals)
    if reference_words == 0:
        raise ValueError("the reference has no words (after normalisation): WER is undefined")
    return WERDetails(substitutions, deletions, insertions, reference_words)


def word_matches(
    reference: str, words: Sequence[str], *, normalize: str | Normalizer | None = "english"
) -> list[bool]:
    """Which hypothesis words a minimum-edit alignment matches to the same reference word.

    For checking word confidences against the truth: a word is matched when every piece it normalises
    to ("re-record" -> "re record") lines up with an identical reference word; a word that normalises
    to nothing (a filler, a lone punctuation mark) counts as matched.

    Parameters
    ----------
    reference : str
        The correct transcript.
    words : sequence of str
        The hypothesis, one word per item (e.g. ``wk.words_frame(df).word``).
    normalize : {"english", "basic"}, callable or None, default "english"
        As for :func:`word_error_rate`; applied to the reference and to each word on its own.

    Returns
    -------
    list of bool
        One flag per item of ``words``.
    """
    normalizer = _resolve_normalizer(normalize) or (lambda text: text)
    ref = normalizer(reference).split()
    pieces = [normalizer(w).split() for w in words]
    hyp = [piece for group in pieces for piece in group]
    owner = [k for k, group in enumerate(pieces) for _ in group]
    n, m = len(ref), len(hyp)
    # Full cost table (memory n*m), then one backtrace: meant for a file's transcript, not a corpus.
    cost = np.zeros((n + 1, m + 1), dtype=np.int32)
    cost[0] = np.arange(m + 1)
    vocabulary = {w: i for i, w in enumerate(dict.fromkeys(ref + hyp))}
    hyp_ids = np.array([vocabulary[w] for w in hyp], dtype=np.int64)
    for i in range(1, n + 1):
        diag = cost[i - 1, :-1] + (hyp_ids != vocabulary[ref[i - 1]])
        row = np.concatenate(([i], np.minimum(diag, cost[i - 1, 1:] + 1)))
        # Insertions along the row: row[j] = min over k <= j of row[k] + (j - k).
        cost[i] = np.minimum.accumulate(row - np.arange(m + 1)) + np.arange(m + 1)
    matched = [True] * m
    i, j = n, m
    while j > 0:
        if i > 0 and cost[i, j] == cost[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]):
            matched[j - 1] = ref[i - 1] == hyp[j - 1]
            i, j = i - 1, j - 1
        elif i > 0 and cost[i, j] == cost[i - 1, j] + 1:
            i -= 1
        else:
            matched[j - 1] = False
            j -= 1
    flags = [True] * len(words)
    for piece, ok in zip(owner, matched):
        flags[piece] = flags[piece] and ok
    return flags


def _as_pairs(
    reference: str | Sequence[str], hypothesis: str | Sequence[str]
) -> tuple[Sequence[str], Sequence[str]]:
    if isinstance(reference, str) and isinstance(hypothesis, str):
        return [reference], [hypothesis]
    if isinstance(reference, str) or isinstance(hypothesis, str):
        raise TypeError("reference and hypothesis must both be strings or both be lists of strings")
    if len(reference) != len(hypothesis):
        raise ValueError(f"{len(reference)} references but {len(hypothesis)} hypotheses")
    return reference, hypothesis


def _resolve_normalizer(normalize: str | Normalizer | None) -> Normalizer | None:
    if normalize is None or callable(normalize):
        return normalize
    try:
        return _NAMED_NORMALIZERS[normalize]
    except KeyError:
        raise ValueError(f"normalize={normalize!r}: use 'english', 'basic', 'letters', a callable or None") from None


def _align_counts(ref: list[str], hyp: list[str]) -> tuple[int, int, int]:
    """(substitutions, deletions, insertions) of a minimum-edit word alignment.

    Row-by-row Levenshtein dynamic programme over the hypothesis, vectorised within each row, that
    carries the edit counts along with the cost: memory grows with the hypothesis length only, so
    hour-long transcripts can be scored as one string.
    """
    vocabulary: dict[str, int] = {}
    ref_ids = np.array([vocabulary.setdefault(w, len(vocabulary)) for w in ref], dtype=np.int64)
    hyp_ids = np.array([vocabulary.setdefault(w, len(vocabulary)) for w in hyp], dtype=np.int64)
    m = len(hyp_ids)
    columns = np.arange(m + 1)
    # Row 0: the empty reference prefix against each hypothesis prefix costs insertions only.
    cost = columns.copy()
    subs = np.zeros(m + 1, dtype=np.int64)
    dels = np.zeros(m + 1, dtype=np.int64)
    ins = columns.copy()
    for i, word in enumerate(ref_ids, start=1):
        mismatch = (hyp_ids != word).astype(np.int64)
        # Column 0 deletes every reference word so far; columns 1.. choose the diagonal (match or
        # substitution) over a deletion when they cost the same.
        diag_cost = cost[:-1] + mismatch
        up_cost = cost[1:] + 1
        take_diag = diag_cost <= up_cost
        new_cost = np.concatenate(([i], np.where(take_diag, diag_cost, up_cost)))
        new_subs = np.concatenate(([0], np.where(take_diag, subs[:-1] + mismatch, subs[1:])))
        new_dels = np.concatenate(([i], np.where(take_diag, dels[:-1], dels[1:] + 1)))
        new_ins = np.concatenate(([0], np.where(take_diag, ins[:-1], ins[1:])))
        # Insertions run along the row: cost[j] = min over k <= j of cost[k] + (j - k). A running
        # minimum of cost[k] - k finds it; the latest k attaining it gives the fewest insertions.
        shifted = new_cost - columns
        running_min = np.minimum.accumulate(shifted)
        source = np.maximum.accumulate(np.where(shifted == running_min, columns, 0))
        cost = running_min + columns
        subs = new_subs[source]
        dels = new_dels[source]
        ins = new_ins[source] + (columns - source)
    return int(subs[-1]), int(dels[-1]), int(ins[-1])


def turn_edge_errors(words, turns) -> tuple[np.ndarray, np.ndarray]:
    """Word-timestamp error at reference turn edges.

    For each reference turn (objects with ``start`` and ``end``), the distance in seconds from its start
    to the nearest word start and from its end to the nearest word end of ``words`` (a word DataFrame,
    see `whisperkit_nb.words_frame`). Returns (start errors, end errors).
    """
    starts, ends = words.start.to_numpy(), words.end.to_numpy()
    start_errors = np.array([np.min(np.abs(starts - t.start)) for t in turns])
    end_errors = np.array([np.min(np.abs(ends - t.end)) for t in turns])
    return start_errors, end_errors


def language_time_accuracy(frame, turns) -> float:
    """Share of speech time whose segment ``language`` matches the reference turn's (``start``, ``end``,
    ``language`` attributes): each segment/turn overlap counts for its duration."""
    right = total = 0.0
    for turn in turns:
        for start, end, language in zip(frame.start, frame.end, frame.language):
            overlap = min(end, turn.end) - max(start, turn.start)
            if overlap > 0:
                total += overlap
                right += overlap * (language == turn.language)
    return right / total
