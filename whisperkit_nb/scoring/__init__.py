"""Scoring: how close automatic transcripts are to hand-corrected ones.

A public feature for researchers who correct a sample of transcripts by hand and want to know the error
rates of the rest: `score` compares transcripts with their corrected versions file by file (word error
rate; diarization error rate when both sides have speakers), and the metrics behind it are here to use
alone:

- `word_error_rate`, `wer_details` (substitutions, deletions, insertions), `word_matches` (which words of a
  transcript are right, e.g. to check word confidences), with `normalize_basic` (any language),
  `normalize_english` (Whisper's English normaliser, as published WERs use) and `normalize_letters` (languages
  written without spaces, where the rate counts characters); `normalizer_for` picks one by language;
- `diarization_error_rate` and `speaker_mapping` (pyannote.metrics' full scoring) of speaker turns.

>>> from whisperkit_nb.scoring import score                              # doctest: +SKIP
>>> score(df, pd.read_csv("corrected.csv"))                              # doctest: +SKIP

Word error rates are computed in numpy and need nothing more. Two parts need an extra, imported only when
used, and raise `MissingDependencyError` naming it when missing: ``normalize="english"`` (openai-whisper's
spelling table: ``pip install "whisperkit_nb[eval]"``) and speaker scoring (pyannote.metrics:
``pip install "whisperkit_nb[diarization]"``). The pipeline never imports this package.
"""

from whisperkit_nb.scoring.speakers import diarization_error_rate, speaker_mapping
from whisperkit_nb.scoring.transcripts import score
from whisperkit_nb.scoring.words import (
    WERDetails,
    language_time_accuracy,
    normalize_basic,
    normalize_english,
    normalize_letters,
    normalizer_for,
    turn_edge_errors,
    wer_details,
    word_error_rate,
    word_matches,
)

__all__ = [
    "WERDetails",
    "diarization_error_rate",
    "language_time_accuracy",
    "normalize_basic",
    "normalize_english",
    "normalize_letters",
    "normalizer_for",
    "score",
    "speaker_mapping",
    "turn_edge_errors",
    "wer_details",
    "word_error_rate",
    "word_matches",
]
