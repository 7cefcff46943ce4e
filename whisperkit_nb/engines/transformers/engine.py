"""`TransformersEngine`: a loaded `WhisperForConditionalGeneration` and its tokenizer behind the `Engine` protocol.

Runs on any torch device and dtype, with SDPA, eager or Flash Attention 2; greedy decoding only (beam search
is CTranslate2's), plus the compile=True decoder and transformers' ASR pipeline for chunking="fixed".
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from whisperkit_nb.engines.base import Capabilities, DecodedChunk
from whisperkit_nb.engines.registry import check_engine
from whisperkit_nb.engines.transformers.loaded import LoadedWhisper
from whisperkit_nb.engines.weights import OFFLINE_DEFAULT, ResolvedModel, resolve_model
from whisperkit_nb.errors import ModelError, OptionsError

if TYPE_CHECKING:
    import torch

    from whisperkit_nb.options import TranscribeOptions
    from whisperkit_nb.transcript.words import WordTiming


@dataclass(eq=False)
class TransformersEngine(LoadedWhisper):
    """A loaded transformers Whisper (`LoadedWhisper`) answering the `Engine` protocol."""

    name: ClassVar[str] = "transformers"
    capabilities: ClassVar[Capabilities] = Capabilities(
        beam_search=False, compile=True, chunking=("vad", "fixed"),
        dtypes=("auto", "float32", "float16", "bfloat16"),
        attention=("auto", "sdpa", "eager", "flash_attention_2"),
    )

    _asr_pipeline: Any = field(default=None, repr=False)  # built on the first chunking="fixed" run

    @classmethod
    def check(cls, options: TranscribeOptions) -> None:
        check_engine(cls.name, options)

    @classmethod
    def cache_key(cls, name: str, device: torch.device, options: TranscribeOptions) -> tuple:
        """What makes one loaded model differ from another (the registry keeps one per key)."""
        dtype, attn = _dtype_and_attention(device, options)
        return (name, str(device), dtype, attn)

    @classmethod
    def load(cls, name: str, device: torch.device, options: TranscribeOptions) -> TransformersEngine:
        dtype, attn = _dtype_and_attention(device, options)
        try:
            resolved = resolve_model(name)
        except ModelError as err:
            if options.model is not None or name == OFFLINE_DEFAULT:
                raise
            # The automatic GPU default needs the hub; without it the offline default still works.
            warnings.warn(f"{err} Falling back to {OFFLINE_DEFAULT!r}.", stacklevel=4)
            resolved = resolve_model(OFFLINE_DEFAULT)
        try:
            return _load(resolved, device, dtype, attn)
        except (OSError, ValueError) as err:
            raise ModelError(f"Cannot load model {name!r} from {resolved.path}: {err}") from err

    @property
    def model_name(self) -> str:
        return self.resolved.name

    @property
    def dtype_name(self) -> str:
        return str(self.torch_dtype).removeprefix("torch.")

    @property
    def n_mels(self) -> int:
        return self.model.config.num_mel_bins

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        import torch

        with torch.inference_mode():
            return self.model.model.encoder(features.to(self.device, self.torch_dtype)).last_hidden_state

    def language_probabilities(self, encoded: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
        """One decoder step from the start-of-transcript token, the way openai/whisper detects language."""
        import torch

        from whisperkit_nb.engines.transformers.greedy import sot_logits

        with torch.inference_mode():
            codes = list(self.tokens.language_ids)
            ids = torch.tensor([self.tokens.language_ids[c] for c in codes], device=self.device)
            logits = sot_logits(self, encoded)
            return logits[:, ids].softmax(dim=-1), codes

    def decode(self, encoded: torch.Tensor, languages: list[str | None], tasks: list[str], max_new_tokens: int, *,
               temperatures: list[float] | None = None, seeds: list[int] | None = None, beam_size: int = 1,
               timestamps: bool = True, compiled: bool = False,
               durations: list[float] | None = None) -> list[DecodedChunk]:
        if beam_size != 1:
            raise OptionsError(f"beam_size={beam_size}: engine='transformers' decodes greedily; use "
                               "engine='ctranslate2' for beam search, or beam_size=1.")
        tasks = [tasks] * len(languages) if isinstance(tasks, str) else list(tasks)
        if compiled:
            if temperatures and any(t > 0 for t in temperatures):
                raise OptionsError("the compile=True decoder is greedy; sampled fallbacks decode without it.")
            from whisperkit_nb.engines.transformers.compiled import decode_compiled

            return decode_compiled(self, encoded, languages, tasks, max_new_tokens, timestamps=timestamps)
        from whisperkit_nb.engines.transformers.greedy import decode_greedy

        return decode_greedy(self, encoded, languages, tasks, max_new_tokens, temperatures, seeds,
                             timestamps=timestamps)

    def align(self, encoded: torch.Tensor, results: list[DecodedChunk],
              durations: list[float]) -> list[list[WordTiming]]:
        from whisperkit_nb.engines.transformers.alignment import align_words

        return align_words(self, encoded, results, durations)

    def new_input(self) -> None:
        """Nothing to reset: sampled rows get a generator seeded per row and call."""

    def default_batch_size(self, max_new_tokens: int) -> int:
        """From free GPU memory and the model's size (see `device.auto_batch_size`); the CPU default elsewhere."""
        from whisperkit_nb.device import auto_batch_size

        config = self.model.config
        return auto_batch_size(self.device, config.d_model, config.decoder_layers, self.torch_dtype, max_new_tokens)

    def release(self) -> None:
        self._asr_pipeline = None

    def asr_pipeline(self) -> Any:
        """transformers' ASR pipeline over this model (chunking="fixed"), built once; `release` drops it."""
        if self._asr_pipeline is None:
            from transformers import WhisperFeatureExtractor, pipeline

            self._asr_pipeline = pipeline(
                "automatic-speech-recognition",
                model=self.model,
                tokenizer=self.tokenizer,
                feature_extractor=WhisperFeatureExtractor(feature_size=self.n_mels),
                device=self.device,
                dtype=self.torch_dtype,
            )
        return self._asr_pipeline


def _dtype_and_attention(device: torch.device, options: TranscribeOptions) -> tuple[torch.dtype, str]:
    from whisperkit_nb.device import resolve_attention, resolve_dtype

    dtype = resolve_dtype(options.dtype, device)
    return dtype, resolve_attention(options.attn_implementation, device, dtype)


def _load(resolved: ResolvedModel, device: torch.device, dtype: torch.dtype, attn: str) -> TransformersEngine:
    from transformers import AutoTokenizer, GenerationConfig, WhisperForConditionalGeneration

    from whisperkit_nb.engines.tokens import SpecialTokens


    model = WhisperForConditionalGeneration.from_pretrained(
        resolved.path, dtype=dtype, attn_implementation=attn
    )
    model.to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(resolved.path)
    try:
        generation = GenerationConfig.from_pretrained(resolved.path)
    except OSError:
        generation = model.generation_config
    multilingual = bool(getattr(generation, "is_multilingual", model.config.vocab_size >= 51865))
    tokens = SpecialTokens.from_tokenizer(tokenizer, multilingual)
    suppress = tuple(getattr(generation, "suppress_tokens", None) or ())
    begin = tuple(getattr(generation, "begin_suppress_tokens", None) or (tokenizer.convert_tokens_to_ids(" "), tokens.eot))
    return TransformersEngine(
        resolved=resolved,
        model=model,
        tokenizer=tokenizer,
        tokens=tokens,
        device=device,
        torch_dtype=dtype,
        attn_implementation=attn,
        suppress_ids=suppress,
        suppress_begin_ids=begin,
        max_initial_timestamp_index=int(getattr(generation, "max_initial_timestamp_index", None) or 50),
    )
