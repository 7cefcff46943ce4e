"""Whisper's special tokens, read from the tokenizer so every model (English-only or not) works."""

from __future__ import annotations

from dataclasses import dataclass

from whisperkit_nb.errors import OptionsError

SECONDS_PER_TIMESTAMP = 0.02


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of the control tokens a decoding loop needs."""

    sot: int
    eot: int
    transcribe: int | None
    translate: int | None
    no_timestamps: int
    no_speech: int | None
    timestamp_begin: int
    language_ids: dict[str, int]  # "en" -> id of <|en|>; empty for English-only models
    multilingual: bool

    @classmethod
    def from_tokenizer(cls, tokenizer, multilingual: bool) -> SpecialTokens:
        vocab = tokenizer.get_vocab()

        def tid(token: str) -> int | None:
            return vocab.get(token)

        no_timestamps = tid("<|notimestamps|>")
        from transformers.models.whisper.tokenization_whisper import LANGUAGES

        languages = {code: vocab[f"<|{code}|>"] for code in LANGUAGES if f"<|{code}|>" in vocab}
        return cls(
            sot=tid("<|startoftranscript|>"),
            eot=tid("<|endoftext|>"),
            transcribe=tid("<|transcribe|>"),
            translate=tid("<|translate|>"),
            no_timestamps=no_timestamps,
            no_speech=tid("<|nospeech|>") or tid("<|nocaptions|>"),
            timestamp_begin=no_timestamps + 1,
            language_ids=languages if multilingual else {},
            multilingual=multilingual,
        )

    def prompt(self, language: str | None, task: str, *, timestamps: bool = True) -> list[int]:
        """The decoder prompt: SOT, then (multilingual models) language and task tokens, then
        ``<|notimestamps|>`` when the text is to be decoded without timestamp tokens."""
        tail = [] if timestamps else [self.no_timestamps]
        if not self.multilingual:
            return [self.sot] + tail
        if language is None:
            raise ValueError("a multilingual prompt needs a language")
        task_id = self.translate if task == "translate" else self.transcribe
        return [self.sot, self.language_ids[language], task_id] + tail


def normalize_language(language: str | None, tokens: SpecialTokens) -> str | None:
    """Accept codes ("es") and names ("spanish"); English-only models accept only English."""
    if language is None:
        return None
    code = language.lower().strip()
    # transformers' language tables, imported here so that reading segments and times never loads transformers
    from transformers.models.whisper.tokenization_whisper import LANGUAGES, TO_LANGUAGE_CODE

    code = TO_LANGUAGE_CODE.get(code, code)
    if code not in LANGUAGES:
        raise OptionsError(
            f"language={language!r} is not a Whisper language. Use a code such as en, es, fr, de, ja."
        )
    if not tokens.multilingual:
        if code != "en":
            raise OptionsError(f"language={language!r}: this model is English-only; use a multilingual model.")
        return "en"
    if code not in tokens.language_ids:
        raise OptionsError(
            f"language={language!r} is not a Whisper language. Use a code such as en, es, fr, de, ja."
        )
    return code
