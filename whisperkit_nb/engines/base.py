"""The engine interface: what the pipeline asks of a Whisper runtime, and what each one can do.

An engine wraps one loaded model (transformers, CTranslate2, ...) behind the `Engine` protocol; the run
(VAD batching, tails, language, fallback, segments) only calls these members, so it never needs to know
which engine it holds. `Capabilities` says which options an engine honours; the engine's ``check`` turns that
into an `OptionsError` before any audio is read. Nothing here imports torch: the registry and the options read
capabilities without loading a model runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch

    from whisperkit_nb.engines.tokens import SpecialTokens
    from whisperkit_nb.options import TranscribeOptions
    from whisperkit_nb.transcript.words import WordTiming


@dataclass(frozen=True)
class DecodedChunk:
    """What the decoder produced for one chunk."""

    tokens: list[int]  # sampled tokens, prompt and end-of-text excluded
    logprobs: list[float]  # log-probability of each sampled token
    no_speech_prob: float
    language: str | None
    truncated: bool  # hit max_new_tokens before end-of-text
    temperature: float = 0.0
    task: str = "transcribe"

    @property
    def avg_logprob(self) -> float:
        """openai/whisper's chunk score: summed token log-probability over (length + 1)."""
        return sum(self.logprobs) / (len(self.logprobs) + 1)


#: The options whose honouring depends on the engine, each with the value every engine runs.
ENGINE_OPTIONS: dict[str, Any] = {
    "compile": False,
    "chunking": "vad",
    "attn_implementation": "auto",
    "dtype": "auto",
    "beam_size": 1,
}


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do; the engine's `check` refuses the options it cannot honour."""

    beam_search: bool  # beam_size > 1
    compile: bool  # compile=True (a torch.compile'd static-cache decoder)
    chunking: tuple[str, ...]  # "vad" (whisperkit_nb's batching), "fixed" (transformers' ASR pipeline)
    dtypes: tuple[str, ...]  # values of the dtype option
    attention: tuple[str, ...]  # values of the attn_implementation option
    # What the automatic values mean on this engine (segment_times="auto", beam_size=None), see
    # `registry.settle`: the decoding that measured best for the engine's usual device.
    auto_segment_times: str = "tokens"
    auto_beam_size: int = 1

    def allows(self, option: str, value: Any) -> bool:
        """Whether this engine honours ``option=value`` (options not in `ENGINE_OPTIONS`: always)."""
        if option == "beam_size":
            return value in (None, 1) or self.beam_search
        if option == "compile":
            return not value or self.compile
        if option == "chunking":
            return value in self.chunking
        if option == "dtype":
            return value in self.dtypes
        if option == "attn_implementation":
            return value in self.attention
        return True

    def refused(self, options: TranscribeOptions) -> tuple[str, Any, Any] | None:
        """The first option of `ENGINE_OPTIONS` this engine cannot honour, as (option, value, the value every
        engine runs); None when it honours them all (`registry.check_engine` words the error)."""
        for option, everywhere in ENGINE_OPTIONS.items():
            value = getattr(options, option)
            if not self.allows(option, value):
                return option, value, everywhere
        return None


@runtime_checkable
class Engine(Protocol):
    """A loaded Whisper model behind the calls the pipeline makes.

    Tensors in and out are torch tensors on any device (``encode`` returns what ``decode`` and ``align``
    take back); batches are rows of 30 s windows.
    """

    name: str  # the engine: "transformers", "ctranslate2"
    capabilities: ClassVar[Capabilities]
    model_name: str  # the model as asked for ("base", a hub id, a directory)
    tokens: SpecialTokens
    tokenizer: Any  # a transformers tokenizer (decode, get_vocab, convert_tokens_to_ids)
    device: torch.device
    dtype_name: str  # "float32", "float16", "int8", ...
    n_mels: int

    @classmethod
    def check(cls, options: TranscribeOptions) -> None:
        """Raise `OptionsError` for options this engine cannot honour (needs no model, no torch)."""

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """Encoder states for log-mel features (batch, n_mels, 3000)."""

    def language_probabilities(self, encoded: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
        """Per-row probabilities over Whisper's languages (batch, n_languages), and the language codes."""

    def decode(self, encoded: torch.Tensor, languages: list[str | None], tasks: list[str], max_new_tokens: int, *,
               temperatures: list[float] | None = None, seeds: list[int] | None = None, beam_size: int = 1,
               timestamps: bool = True, compiled: bool = False,
               durations: list[float] | None = None) -> list[DecodedChunk]:
        """Decode each row in its language and task: greedy (or a beam search) where its temperature is 0,
        sampled with its own seed otherwise; text only when ``timestamps`` is False. ``compiled`` asks for
        the compile=True decoder (engines whose capabilities allow it). ``durations`` (the rows' seconds of
        audio) are a hint: an engine that splits a batch among workers balances the parts on them; the
        tokens do not depend on it."""

    def align(self, encoded: torch.Tensor, results: list[DecodedChunk],
              durations: list[float]) -> list[list[WordTiming]]:
        """Word timings (chunk time) of each decoded row; ``durations`` are the rows' seconds of audio."""

    def new_input(self) -> None:
        """Called before each input, so that its sampled fallbacks depend on that input alone."""

    def default_batch_size(self, max_new_tokens: int) -> int:
        """The batch size used when the ``batch_size`` option is not given."""

    def release(self) -> None:
        """Drop the caches this engine holds beside its weights (the registry calls it on release)."""
