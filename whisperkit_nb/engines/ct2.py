"""The CTranslate2 engine (``engine="ctranslate2"``): int8 on CPU, float16 on GPU.

Only the model runs in CTranslate2; VAD batching, tail re-decoding, language detection, code-switching
and hallucination control stay in whisperkit_nb, so both engines behave alike. Weights: the offline
packs and local CTranslate2 directories as they are; hub names map to the Systran conversions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from whisperkit_nb.errors import MissingDependencyError, ModelError, OptionsError
from whisperkit_nb.engines.models import ResolvedModel, hub_offline
from whisperkit_nb.engines.tokens import SpecialTokens

HUB_REPOS = {
    "tiny": "Systran/faster-whisper-tiny", "tiny.en": "Systran/faster-whisper-tiny.en",
    "base": "Systran/faster-whisper-base", "base.en": "Systran/faster-whisper-base.en",
    "small": "Systran/faster-whisper-small", "small.en": "Systran/faster-whisper-small.en",
    "medium": "Systran/faster-whisper-medium", "medium.en": "Systran/faster-whisper-medium.en",
    "large-v2": "Systran/faster-whisper-large-v2", "large-v3": "Systran/faster-whisper-large-v3",
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "distil-large-v3": "Systran/faster-distil-whisper-large-v3",
}


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ctranslate2") is not None


@dataclass
class Ct2Whisper:
    """A CTranslate2 Whisper with what the pipeline needs beside it (same fields it reads elsewhere)."""

    resolved: ResolvedModel
    ct2: object
    tokenizer: object
    tokens: SpecialTokens
    device: torch.device
    compute_type: str
    n_mels: int
    engine: str = "ctranslate2"
    attn_implementation: str = "ctranslate2"
    # A second instance for temperature fallback, fresh for each input (see `sampling_model`).
    sampler: object | None = None
    sampler_args: dict | None = None

    @property
    def name(self) -> str:
        return self.resolved.name

    @property
    def dtype(self) -> str:
        return self.compute_type


def load(name: str, device: torch.device, dtype: str) -> Ct2Whisper:
    try:
        import ctranslate2
    except ImportError as err:
        raise MissingDependencyError("ctranslate2", "faster-whisper", "engine='ctranslate2'") from err
    from whisperkit_nb.engines.ct2_weights import _tokenizer, is_ct2_whisper_dir

    directory = _ct2_directory(name, is_ct2_whisper_dir)
    compute_type = {"auto": "int8" if device.type == "cpu" else "float16"}.get(dtype, dtype)
    # As many threads as torch uses, so torch.set_num_threads and OMP_NUM_THREADS cap both engines.
    args = dict(model_path=str(directory), device="cuda" if device.type == "cuda" else "cpu",
                device_index=device.index or 0, compute_type=compute_type, intra_threads=torch.get_num_threads())
    model = _new_model(args)
    tokenizer = _tokenizer(directory / "tokenizer.json")
    tokens = SpecialTokens.from_tokenizer(tokenizer, bool(model.is_multilingual))
    return Ct2Whisper(ResolvedModel(name, directory, "ctranslate2"), model, tokenizer, tokens, device,
                      compute_type, int(model.n_mels), sampler_args=args)


def new_input(whisper: Ct2Whisper) -> None:
    """Forget the sampling instance: the next input's fallback draws start from its seed again."""
    whisper.sampler = None


def sampling_model(whisper: Ct2Whisper, seed: int):
    """The instance that samples fallback chunks, created on the input's first fallback.

    CTranslate2 seeds a worker thread's generator from ``set_random_seed`` at its first draw only;
    later calls continue that stream. A fresh instance per input (fresh worker threads) seeded here
    makes the input's sequence of draws, and so its DataFrame, repeat exactly run to run. The greedy
    instance never samples, so it is left alone. Costs one model load on inputs that need a fallback.
    """
    import ctranslate2

    if whisper.sampler is None:
        ctranslate2.set_random_seed(int(seed))
        whisper.sampler = _new_model(whisper.sampler_args)
    return whisper.sampler


def _new_model(args: dict):
    """A CTranslate2 Whisper, leaving the process's torch thread count as it was.

    Loading one sets OpenMP's thread count for the calling thread to ``intra_threads``, which torch
    reads as its own: a user's ``torch.set_num_threads(1)`` would silently become the engine's count.
    """
    import ctranslate2

    threads = torch.get_num_threads()
    try:
        return ctranslate2.models.Whisper(**args)
    finally:
        torch.set_num_threads(threads)


def _ct2_directory(name: str, is_ct2_dir) -> Path:
    from whisperkit_nb.engines import packs

    local = Path(os.path.expanduser(name))
    if local.exists():
        if not is_ct2_dir(local):
            raise ModelError(f"{name}: engine='ctranslate2' needs a CTranslate2 Whisper directory (model.bin); "
                             "use engine='transformers' for transformers weights.")
        return local
    if name in HUB_REPOS and not hub_offline():
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(HUB_REPOS[name]))
        except Exception:  # noqa: BLE001 - unreachable hub: the offline pack below, if there is one
            pass
    pack = packs.offline_pack_dir(name)
    if pack is not None:
        return Path(pack)
    raise ModelError(f"No CTranslate2 weights for {name!r} offline. Known hub names: {', '.join(HUB_REPOS)}.")


def _view(encoded: torch.Tensor):
    import ctranslate2

    return ctranslate2.StorageView.from_array(np.ascontiguousarray(encoded.cpu().numpy()))


def encode(whisper: Ct2Whisper, features: torch.Tensor) -> torch.Tensor:
    """Encoder output as a torch tensor (so the pipeline can slice batches the same way for both engines)."""
    import ctranslate2

    out = whisper.ct2.encode(ctranslate2.StorageView.from_array(features.float().cpu().numpy()), to_cpu=True)
    return torch.from_numpy(np.array(out))


def language_probabilities(whisper: Ct2Whisper, encoded: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
    codes = list(whisper.tokens.language_ids)
    probs = torch.zeros((encoded.shape[0], len(codes)))
    if encoded.shape[0] == 0:
        return probs, codes  # CTranslate2 given no rows dies of SIGFPE (a division by zero in its worker)
    index = {f"<|{code}|>": i for i, code in enumerate(codes)}
    for row, pairs in enumerate(whisper.ct2.detect_language(_view(encoded))):
        for token, p in pairs:
            if token in index:
                probs[row, index[token]] = p
    return probs, codes


def decode(whisper: Ct2Whisper, encoded: torch.Tensor, languages, tasks, max_new_tokens: int,
           temperatures=None, seeds=None, beam_size: int = 1, timestamps: bool = True):
    from whisperkit_nb.engines.transformers_decoding import DecodedChunk

    tasks = [tasks] * len(languages) if isinstance(tasks, str) else list(tasks)
    temperature = (temperatures or [0.0])[0]
    if temperatures and len(set(temperatures)) > 1:
        raise OptionsError("engine='ctranslate2' samples one temperature per call.")
    # Fallback batches are fixed by the input and options, so the per-input sampler repeats exactly.
    model = sampling_model(whisper, seeds[0] if seeds else 0) if temperature > 0 else whisper.ct2
    # With <|notimestamps|> in the prompt CTranslate2 leaves the timestamp rules out, as Whisper does.
    prompts = [whisper.tokens.prompt(lang, task, timestamps=timestamps) for lang, task in zip(languages, tasks)]
    results = model.generate(
        # CTranslate2's Whisper generates at most max_length // 2 tokens (measured with 4.8: 20 -> 10,
        # 448 -> 224), so twice the budget gives the decoder the tokens the option promises.
        _view(encoded), prompts, beam_size=beam_size if temperature == 0 else 1, max_length=2 * max_new_tokens,
        return_scores=True,
        return_no_speech_prob=True, suppress_blank=True, suppress_tokens=[-1], max_initial_timestamp_index=50,
        sampling_topk=0 if temperature > 0 else 1, sampling_temperature=temperature or 1.0,
    )
    decoded = []
    for result, lang, task in zip(results, languages, tasks):
        seq = [t for t in result.sequences_ids[0] if t != whisper.tokens.eot]
        # CTranslate2 returns the cumulative log-probability normalised by length (length_penalty 1):
        # spread it evenly so segment and chunk averages match openai's definition.
        cumulative = result.scores[0] * len(seq)
        decoded.append(DecodedChunk(
            tokens=seq, logprobs=[cumulative / len(seq)] * len(seq) if seq else [],
            no_speech_prob=float(result.no_speech_prob), language=lang,
            truncated=len(seq) >= max_new_tokens, temperature=temperature, task=task,
        ))
    return decoded


def align(whisper: Ct2Whisper, encoded: torch.Tensor, prompt: list[int], texts: list[list[int]],
          mel_frames: list[int]) -> list[tuple[np.ndarray, np.ndarray, list[float]]]:
    """Token-to-frame paths (text tokens then end-of-text, against 20 ms encoder frames) for word timings,
    with each text token's probability under the same teacher-forced pass.

    ``mel_frames`` is each row's length in 10 ms mel frames (CTranslate2 halves it for the encoder).
    The probabilities are per token, where `decode` only has the sequence's score (CTranslate2 returns
    one per sequence), so word probabilities come from here, as in faster-whisper.
    """
    results = whisper.ct2.align(_view(encoded), prompt, texts, mel_frames)
    paths = []
    for result in results:
        pairs = np.array(result.alignments, dtype=np.int64).reshape(-1, 2)
        paths.append((pairs[:, 0], pairs[:, 1], [float(p) for p in result.text_token_probs]))
    return paths
