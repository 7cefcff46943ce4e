"""`Ct2Engine` (``engine="ctranslate2"``): Whisper on CTranslate2, int8 on CPU, float16 on GPU; on a CPU with
bfloat16 instructions (AMX or AVX512_BF16) the encoder runs in bfloat16 on torch, on one without AVX-512 in float32
(`whisperkit_nb.engines.torch_encoder`).

Only the model runs in CTranslate2; VAD batching, tail re-decoding, language detection, code-switching
and hallucination control stay in whisperkit_nb, so both engines behave alike. Weights: the offline
packs and local CTranslate2 directories as they are; hub names map to the Systran conversions.
Importing this module loads neither torch nor ctranslate2.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from whisperkit_nb.engines.base import Capabilities, DecodedChunk
from whisperkit_nb.engines.registry import check_engine
from whisperkit_nb.engines.weights import ResolvedModel, hub_offline
from whisperkit_nb.errors import MissingDependencyError, ModelError, OptionsError
from whisperkit_nb.transcript.words import FRAMES_PER_SECOND, text_and_probabilities, words_on_path

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    import torch

    from whisperkit_nb.engines.tokens import SpecialTokens
    from whisperkit_nb.options import TranscribeOptions
    from whisperkit_nb.transcript.words import WordTiming

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")

CPU_ENCODE_ROWS = 1  # rows per CTranslate2 encoder call on a CPU (see `Ct2Engine.encode`)
# Calls run at once on a CPU, each on its share of the threads (see `cpu_workers`).
CPU_WORKERS = 2

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
    """Whether the ctranslate2 package is installed (the faster-whisper extra)."""
    import importlib.util

    return importlib.util.find_spec("ctranslate2") is not None


@dataclass(eq=False)
class Ct2Engine:
    """A CTranslate2 Whisper with what the pipeline needs beside it."""

    name: ClassVar[str] = "ctranslate2"
    capabilities: ClassVar[Capabilities] = Capabilities(
        beam_search=True, compile=False, chunking=("vad",),
        dtypes=("auto", "float32", "float16", "bfloat16"),  # passed on as CTranslate2 compute types
        attention=("auto",),
        # Text-only decoding (fewer tokens) with a beam of 4, segments cut from aligned words: on the CPU
        # development set's tune part the fewest word errors among the settings at least 1.2x faster-whisper's
        # speed on every file (beam 4: 431 errors, beam 5: 432, 2026-12-05 13:52), with the widest speed margin
        # of the two (beam 3 from 2026-12-04, beam 5 from 2026-12-05 05:38 until 15:20; bench/README.md).
        auto_segment_times="alignment", auto_beam_size=4,
    )

    resolved: ResolvedModel
    ct2: Any  # ctranslate2.models.Whisper
    tokenizer: Any
    tokens: SpecialTokens
    device: torch.device
    compute_type: str
    n_mels: int
    # A second instance for temperature fallback, fresh for each input (see `_sampling_model`).
    sampler: Any = field(default=None, repr=False)
    # A third for calls a single worker would run alone, kept (see `_lone`).
    all_threads: Any = field(default=None, repr=False)
    # Both are one worker with every thread.
    one_worker_args: dict | None = field(default=None, repr=False)
    # On a CPU with bfloat16 instructions or without AVX-512: the encoder on torch, decoding still on CTranslate2
    # (`torch_encoder`).
    torch_encoder: Any = field(default=None, repr=False)
    attn_implementation: ClassVar[str] = "ctranslate2"

    @classmethod
    def check(cls, options: TranscribeOptions) -> None:
        check_engine(cls.name, options)

    @classmethod
    def can_load(cls, name: str) -> bool:
        """ctranslate2 is installed and CTranslate2 weights for ``name`` are at hand (locally, in an offline
        pack, or on a reachable hub): what engine="auto" asks before choosing this engine."""
        from whisperkit_nb.engines import packs
        from whisperkit_nb.engines.ct2_weights import is_ct2_whisper_dir

        if not available():
            return False
        local = Path(os.path.expanduser(name))
        if local.exists():
            return is_ct2_whisper_dir(local)
        return name in HUB_REPOS and (not hub_offline() or packs.offline_pack_dir(name) is not None)

    @classmethod
    def cache_key(cls, name: str, device: torch.device, options: TranscribeOptions) -> tuple:
        from whisperkit_nb.device import resolve_dtype

        resolve_dtype(options.dtype, device)  # the same refusals as transformers (float16 on a CPU)
        return (name, str(device), options.dtype)

    @classmethod
    def load(cls, name: str, device: torch.device, options: TranscribeOptions) -> Ct2Engine:
        try:
            import ctranslate2  # noqa: F401 - fails here, with the extra to install, rather than mid-load
        except ImportError as err:
            raise MissingDependencyError("ctranslate2", "faster-whisper", "engine='ctranslate2'") from err
        import torch

        from whisperkit_nb.engines import torch_encoder
        from whisperkit_nb.engines.torch_encoder import TorchEncoder
        from whisperkit_nb.engines.ct2_weights import _tokenizer, is_ct2_whisper_dir
        from whisperkit_nb.engines.tokens import SpecialTokens

        directory = _ct2_directory(name, is_ct2_whisper_dir)
        compute_type = {"auto": "int8" if device.type == "cpu" else "float16"}.get(options.dtype, options.dtype)
        # As many threads as torch uses, so torch.set_num_threads and OMP_NUM_THREADS cap both engines.
        threads = torch.get_num_threads()
        workers = cpu_workers(threads) if device.type == "cpu" else 1
        args = dict(model_path=str(directory), device="cuda" if device.type == "cuda" else "cpu",
                    device_index=device.index or 0, compute_type=compute_type)
        model = _new_model(dict(args, intra_threads=threads // workers, inter_threads=workers))
        tokenizer = _tokenizer(directory / "tokenizer.json")
        tokens = SpecialTokens.from_tokenizer(tokenizer, bool(model.is_multilingual))
        encoder_dtype = torch_encoder.encoder_dtype(device.type, options.dtype)
        encoder = TorchEncoder.from_ct2(directory, encoder_dtype) if encoder_dtype is not None else None
        # The sampler keeps one worker with every thread: which worker takes a call is not fixed, and a
        # seeded input must draw from one generator in one order (see `_sampling_model`).
        return cls(ResolvedModel(name, directory, "ctranslate2"), model, tokenizer, tokens, device,
                   compute_type, int(model.n_mels), one_worker_args=dict(args, intra_threads=threads, inter_threads=1),
                   torch_encoder=encoder)

    @property
    def workers(self) -> int:
        """CTranslate2 calls the model runs at once (`cpu_workers` on a CPU, 1 on a GPU)."""
        return int(self.ct2.num_workers)

    @property
    def model_name(self) -> str:
        return self.resolved.name

    @property
    def dtype_name(self) -> str:
        """The compute type, and the encoder's where it differs (``"int8, encoder bfloat16"`` with AMX or
        AVX512_BF16, ``"int8, encoder float32"`` without AVX-512)."""
        if self.torch_encoder is None:
            return self.compute_type
        return f"{self.compute_type}, encoder {str(self.torch_encoder.dtype).removeprefix('torch.')}"

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """Encoder output as a torch tensor (so the pipeline slices batches the same way for every engine).

        On a CPU the rows are encoded one at a time: CTranslate2's int8 encoder costs more per row the
        more rows a call holds (base, 2 threads: 0.34 s a row alone, 0.44 s in calls of 8, 0.55 s in
        calls of 16; bench/README.md), while decoding gains from large batches; the `workers` take rows
        in turn. A GPU takes the batch whole. On a CPU with AMX or AVX512_BF16, torch encodes instead, in bfloat16,
        and on one without AVX-512 in float32 (`whisperkit_nb.engines.torch_encoder`), on torch's threads.
        """
        import ctranslate2
        import numpy as np
        import torch

        from whisperkit_nb.engines import torch_encoder

        if self.torch_encoder is not None and torch_encoder.USE_TORCH_ENCODER:
            return self.torch_encoder(features)

        rows = features.float().cpu().numpy()
        step = CPU_ENCODE_ROWS if self.device.type == "cpu" else max(1, len(rows))

        def encoded(model: Any, at: int):
            view = ctranslate2.StorageView.from_array(np.ascontiguousarray(rows[at : at + step]))
            return np.array(model.encode(view, to_cpu=True))

        pieces = self._at_once(encoded, range(0, len(rows), step), self.ct2)
        return torch.from_numpy(np.concatenate(pieces) if len(pieces) != 1 else pieces[0])

    def language_probabilities(self, encoded: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
        import torch

        codes = list(self.tokens.language_ids)
        probs = torch.zeros((encoded.shape[0], len(codes)))
        if encoded.shape[0] == 0:
            return probs, codes  # CTranslate2 given no rows dies of SIGFPE (a division by zero in its worker)
        index = {f"<|{code}|>": i for i, code in enumerate(codes)}
        for row, pairs in enumerate(self._lone(self.ct2).detect_language(_view(encoded))):
            for token, p in pairs:
                if token in index:
                    probs[row, index[token]] = p
        return probs, codes

    def decode(self, encoded: torch.Tensor, languages: list[str | None], tasks: list[str], max_new_tokens: int, *,
               temperatures: list[float] | None = None, seeds: list[int] | None = None, beam_size: int = 1,
               timestamps: bool = True, compiled: bool = False,
               durations: list[float] | None = None) -> list[DecodedChunk]:
        if compiled:
            raise OptionsError("compile=True is not available with engine='ctranslate2': use "
                               "engine='transformers', or compile=False.")
        tasks = [tasks] * len(languages) if isinstance(tasks, str) else list(tasks)
        temperature = (temperatures or [0.0])[0]
        if temperatures and len(set(temperatures)) > 1:
            raise OptionsError("engine='ctranslate2' samples one temperature per call.")
        # Fallback batches are fixed by the input and options, so the per-input sampler repeats exactly.
        model = self._sampling_model(seeds[0] if seeds else 0) if temperature > 0 else self.ct2
        # With <|notimestamps|> in the prompt CTranslate2 leaves the timestamp rules out, as Whisper does.
        prompts = [self.tokens.prompt(lang, task, timestamps=timestamps) for lang, task in zip(languages, tasks)]

        def generated(model: Any, part: list[int]) -> list:
            return model.generate(
                # CTranslate2's Whisper generates at most max_length // 2 tokens (measured with 4.8: 20 -> 10,
                # 448 -> 224), so twice the budget gives the decoder the tokens the option promises.
                _view(_rows(encoded, part)), [prompts[i] for i in part],
                beam_size=beam_size if temperature == 0 else 1,
                max_length=2 * max_new_tokens, return_scores=True,
                return_no_speech_prob=True, suppress_blank=True, suppress_tokens=[-1], max_initial_timestamp_index=50,
                sampling_topk=0 if temperature > 0 else 1, sampling_temperature=temperature or 1.0,
            )

        # Rows decode independently (the same tokens whichever call holds them); the sampler has one worker.
        # A row's decoding takes about as long as its speech: the parts are balanced on its seconds.
        results = self._in_parts(generated, len(prompts), model, durations)
        decoded = []
        for result, lang, task in zip(results, languages, tasks):
            seq = [t for t in result.sequences_ids[0] if t != self.tokens.eot]
            # CTranslate2 returns the cumulative log-probability normalised by length (length_penalty 1):
            # spread it evenly so segment and chunk averages match openai's definition.
            cumulative = result.scores[0] * len(seq)
            decoded.append(DecodedChunk(
                tokens=seq, logprobs=[cumulative / len(seq)] * len(seq) if seq else [],
                no_speech_prob=float(result.no_speech_prob), language=lang,
                truncated=len(seq) >= max_new_tokens, temperature=temperature, task=task,
            ))
        return decoded

    def align(self, encoded: torch.Tensor, results: list[DecodedChunk],
              durations: list[float]) -> list[list[WordTiming]]:
        """openai/whisper's recipe on CTranslate2: its ``align`` runs the teacher-forced pass over the model's
        alignment heads, normalisation, median filter and DTW in one call and returns the path, and the
        pass's per-token probabilities (decoding on CTranslate2 scores only whole sequences)."""
        import numpy as np

        eot = self.tokens.eot
        texts = [text_and_probabilities(r, eot)[0] for r in results]
        timings: list[list[WordTiming]] = [[] for _ in results]
        # align takes one start sequence per call: group the rows by language and task.
        by_prompt: dict[tuple, list[int]] = {}
        for i, text in enumerate(texts):
            if text:
                by_prompt.setdefault((results[i].language, results[i].task), []).append(i)
        for (language, task), rows in by_prompt.items():
            prompt = self.tokens.prompt(language, task)  # CTranslate2 appends <|notimestamps|> itself
            frames = [max(2, min(3000, int(np.ceil(durations[i] * 2 * FRAMES_PER_SECOND)))) for i in rows]
            # The teacher-forced pass costs about its text's tokens: the parts are balanced on them.
            paths = self._in_parts(
                lambda model, p: self._paths(model, _rows(encoded, [rows[k] for k in p]), prompt,
                                             [texts[rows[k]] for k in p], [frames[k] for k in p]),
                len(rows), self.ct2, [len(texts[i]) for i in rows])
            for i, (token_index, frame_index, probs) in zip(rows, paths):
                timings[i] = words_on_path(self.tokenizer, eot, texts[i], probs, token_index, frame_index,
                                           results[i].language)
        return timings

    def _at_once(self, call: Callable[[Any, _Item], _Result], items: Iterable[_Item], model: Any) -> list[_Result]:
        """``call(model, item)`` on each of ``items``, up to ``model``'s workers at a time, results in order; a
        lone item runs on the `_lone` instance instead, so no core idles.

        CTranslate2 releases the GIL and runs each call on its own worker (``inter_threads``), so the
        calls overlap. Two single-thread workers decode 13-16 rows in 0.21-0.22 s a row where one worker
        with both threads takes 0.33-0.43 s, with the same tokens (base, int8, beam 2, 2 cores;
        bench/ct2_workers.py): the decoder's per-step products are too small for two threads to share well.
        """
        items = list(items)
        workers = int(model.num_workers)
        if len(items) == 1:
            model = self._lone(model)
        if workers == 1 or len(items) < 2:
            return [call(model, item) for item in items]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(workers, len(items)), thread_name_prefix="whisperkit-ct2") as pool:
            return list(pool.map(lambda item: call(model, item), items))

    def _in_parts(self, call: Callable[[Any, list[int]], list[_Result]], rows: int, model: Any,
                  weights: Sequence[float] | None = None) -> list[_Result]:
        """``call`` on ``rows`` rows cut into up to ``model``'s workers parts (`_parts`), run at once (`_at_once`),
        results in row order.

        ``call`` takes the instance and a part's row indices (ascending) and returns one result per row."""
        parts = _parts(rows, int(model.num_workers), weights)
        found: list[Any] = [None] * rows
        for part, results in zip(parts, self._at_once(call, parts, model)):
            for row, result in zip(part, results):
                found[row] = result
        return found

    def new_input(self) -> None:
        """Forget the sampling instance: the next input's fallback draws start from its seed again."""
        self.sampler = None

    def default_batch_size(self, max_new_tokens: int) -> int:
        """16 on CPU and on GPU: CTranslate2 manages its own memory. On a CPU, decoding 16 rows together
        costs 0.32 s a row against 0.37 s in eights (base, greedy, 2 threads; bench/README.md); split
        between two workers, 16 rows cost 0.25 s a row against 0.27 s for 32 (text only, beam 2)."""
        return 16

    def release(self) -> None:
        self.sampler = None
        self.all_threads = None

    def _lone(self, model: Any) -> Any:
        """The instance for a call that one of ``model``'s workers would run alone (a batch of one row, language
        detection, a lone window for CTranslate2's encoder): on a CPU with several workers, one worker with every
        thread, created at the first such call and kept; else ``model`` itself.

        A lone call on a worker leaves the other cores idle. On a 30 s call recording (one window) with both
        threads, decoding took 1.22 s against 1.89 s, alignment 0.13 s against 0.23 s, the whole file 2.14 s
        against 2.91 s (base, int8, beam 4, 2 cores; bench/README.md, "Where the time goes, and lone calls on
        every thread"). The results are the same to the bit as on a worker (tokens, scores, alignments, language
        probabilities, encoder output; measured and tested), so which instance runs a row never changes its
        words. Costs a second model load (0.34 s for base) and its memory.
        """
        if model is not self.ct2 or self.workers == 1:
            return model
        if self.all_threads is None:
            self.all_threads = _new_model(self.one_worker_args)
        return self.all_threads

    def _paths(self, model: Any, encoded: torch.Tensor, prompt: list[int], texts: list[list[int]],
               mel_frames: list[int]):
        """Token-to-frame paths (text tokens then end-of-text, against 20 ms encoder frames) for word timings,
        with each text token's probability under the same teacher-forced pass.

        ``mel_frames`` is each row's length in 10 ms mel frames (CTranslate2 halves it for the encoder).
        The probabilities are per token, where `decode` only has the sequence's score (CTranslate2 returns
        one per sequence), so word probabilities come from here, as in faster-whisper.
        """
        import numpy as np

        results = model.align(_view(encoded), prompt, texts, mel_frames)
        paths = []
        for result in results:
            pairs = np.array(result.alignments, dtype=np.int64).reshape(-1, 2)
            paths.append((pairs[:, 0], pairs[:, 1], [float(p) for p in result.text_token_probs]))
        return paths

    def _sampling_model(self, seed: int):
        """The instance that samples fallback chunks, created on the input's first fallback.

        CTranslate2 seeds a worker thread's generator from ``set_random_seed`` at its first draw only;
        later calls continue that stream. A fresh instance per input (fresh worker threads) seeded here
        makes the input's sequence of draws, and so its DataFrame, repeat exactly run to run. The greedy
        instance never samples, so it is left alone. Costs one model load on inputs that need a fallback.
        """
        import ctranslate2

        if self.sampler is None:
            ctranslate2.set_random_seed(int(seed))
            self.sampler = _new_model(self.one_worker_args)
        return self.sampler


def cpu_workers(threads: int) -> int:
    """CTranslate2 calls to run at once on a CPU with ``threads`` threads: `CPU_WORKERS`, each with
    ``threads // workers`` threads, when there are threads for each (measured on 2 cores only)."""
    return max(1, min(CPU_WORKERS, threads))


def _parts(rows: int, workers: int, weights: Sequence[float] | None = None) -> list[list[int]]:
    """``rows`` row indices in up to ``workers`` parts, each in ascending order.

    Without ``weights``: contiguous parts of nearly equal size. With them (each row's expected work, e.g. its
    seconds of speech): the heaviest row first, each to the part with the least work so far, so that the
    workers finish together. A part that finishes early leaves its core idle while the other decodes on:
    balanced parts took 4-8% less time in these calls than contiguous halves, with the same DataFrames
    (base, 2 cores; bench/README.md, "Decoding and alignment parts balanced between the two workers").
    """
    count = max(1, min(workers, rows))
    if weights is None or count == 1:
        bounds = [round(k * rows / count) for k in range(count + 1)]
        return [list(range(a, b)) for a, b in zip(bounds, bounds[1:])]
    parts: list[list[int]] = [[] for _ in range(count)]
    loads = [0.0] * count
    for row in sorted(range(rows), key=lambda r: (-weights[r], r)):
        lightest = min(range(count), key=lambda k: (loads[k], len(parts[k])))
        parts[lightest].append(row)
        loads[lightest] += weights[row]
    return [sorted(part) for part in parts]


def _rows(tensor: torch.Tensor, rows: list[int]) -> torch.Tensor:
    """``tensor``'s rows ``rows`` (a view when they are contiguous, as without weights)."""
    if not rows:
        return tensor[:0]
    if rows == list(range(rows[0], rows[0] + len(rows))):
        return tensor[rows[0] : rows[0] + len(rows)]
    return tensor[rows]


def _new_model(args: dict):
    """A CTranslate2 Whisper, leaving the process's torch thread count as it was.

    Loading one sets OpenMP's thread count for the calling thread to ``intra_threads``, which torch
    reads as its own: a user's ``torch.set_num_threads(1)`` would silently become the engine's count.
    """
    import ctranslate2
    import torch

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
    import numpy as np

    return ctranslate2.StorageView.from_array(np.ascontiguousarray(encoded.cpu().numpy()))
