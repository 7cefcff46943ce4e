"""ELAN ``.eaf`` (through pympi-ling): a tier per speaker, words on their own tiers, the media linked."""

from __future__ import annotations

import mimetypes
import os

import pandas as pd

from whisperkit_nb.output.formats._common import (
    atomic_path,
    clean,
    has_speakers,
    media_path,
    no_overlap,
    one_file,
    require,
    segments,
    words_of,
)

NO_SPEAKER_TIER = "transcript"


def words_tier(tier: str) -> str:
    """The name of the words tier of speaker tier ``tier``."""
    return f"{tier} words"


def write_eaf(df: pd.DataFrame, path: str | os.PathLike, *, audio: str | os.PathLike | None = None,
              words: bool = True, relative_media: bool = True) -> None:
    """An ELAN annotation document (EAF 2.8, as pympi-ling writes it): a time-aligned tier per speaker
    (participant = the speaker) holding its segments, and per speaker a ``<speaker> words`` tier of single
    words; the recording linked as the media file, so ELAN opens it with the transcript.

    Options
    -------
    audio : path, optional
        The media file to link. Default: the transcript's input, when it is a file on disk (otherwise no
        media is linked; ELAN then asks for it).
    words : bool, default True
        Add the words tiers (when the transcript has word times).
    relative_media : bool, default True
        Also record the media path relative to the .eaf (ELAN tries it when the absolute one moved).

    Times are whole milliseconds (EAF's resolution). Annotations within a tier may not overlap: where
    Whisper's times do, the later one starts at the earlier one's end. Needs pympi-ling
    (``pip install "whisperkit_nb[exports]"``).
    """
    elan = require("pympi.Elan", "pympi-ling", "ELAN (.eaf) export")
    one_file(df, "EAF")
    media = media_path(df, audio, "EAF")
    segs = segments(df)
    eaf = elan.Eaf(author="whisperkit_nb")
    eaf.remove_tier("default")
    if media is not None:
        absolute = media.resolve()
        relative = None
        if relative_media:
            try:
                relative = "./" + os.path.relpath(absolute, os.path.dirname(os.path.abspath(path))).replace(os.sep, "/")
            except ValueError:  # another drive on Windows
                relative = None
        eaf.add_linked_file(absolute.as_uri(), relpath=relative,
                            mimetype=mimetypes.guess_type(media.name)[0] or "audio/x-wav")
    speakers = list(dict.fromkeys(s.speaker for s in segs)) if has_speakers(segs) else [None]
    all_words = words_of(segs) if words and "words" in df.columns else []
    for speaker in speakers:
        tier = speaker if speaker is not None else NO_SPEAKER_TIER
        if speaker is None and has_speakers(segs):
            tier = "no speaker"
        eaf.add_tier(tier, part=speaker or "")
        items = [(s.start, s.end, clean(s.text)) for s in segs if s.speaker == speaker]
        for start, end, text in _ms(no_overlap(items)):
            eaf.add_annotation(tier, start, end, text)
        if all_words:
            eaf.add_tier(words_tier(tier), part=speaker or "")
            items = [(w["start"], w["end"], clean(w["word"])) for w in all_words if w["speaker"] == speaker]
            for start, end, text in _ms(no_overlap(items)):
                eaf.add_annotation(words_tier(tier), start, end, text)
    with atomic_path(path) as partial:
        eaf.to_file(str(partial))


def _ms(items):
    # Whole milliseconds, still in order and never empty after rounding.
    last = 0
    for start, end, text in items:
        a = max(round(start * 1000), last)
        b = max(round(end * 1000), a + 1)
        last = b
        yield a, b, text
