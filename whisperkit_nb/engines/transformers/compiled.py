"""The compile=True decoder: the same greedy decoding through transformers' `generate` with a static KV
cache and a `torch.compile`d forward.

A static cache has fixed shapes, which is what lets the compiled graph (and CUDA graphs) be reused every
step; the price is that finished rows keep their slots until the whole batch is done.

The compiling is left to `generate` itself (its `compile_config`): it runs the first step (the prompt) through
the plain forward, which allocates the static cache outside the compiled graph, and only the one-token steps
through the compiled one. Compiling `model.forward` ourselves put that allocation inside the graph, and with CUDA
graphs ("reduce-overhead") the cache then lived in the graphs' memory pool and the next replay overwrote it
(RuntimeError "accessing tensor output of CUDAGraphs that has been overwritten", H200, 2026-12-04).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from whisperkit_nb.engines.base import DecodedChunk
from whisperkit_nb.engines.transformers import rules
from whisperkit_nb.engines.transformers.greedy import sot_logits

if TYPE_CHECKING:
    from whisperkit_nb.engines.transformers.loaded import LoadedWhisper


@torch.inference_mode()
def decode_compiled(
    engine: LoadedWhisper,
    encoded: torch.Tensor,
    languages: list[str | None],
    tasks: list[str],
    max_new_tokens: int,
    timestamps: bool = True,
) -> list[DecodedChunk]:
    """Greedy decoding of a batch, each row in its language and task, as `greedy.decode_greedy` does it."""
    from transformers import GenerationMixin, LogitsProcessorList
    from transformers.modeling_outputs import BaseModelOutput

    tokens = engine.tokens
    prompts = torch.tensor([tokens.prompt(lang, task, timestamps=timestamps) for lang, task in zip(languages, tasks)],
                           device=engine.device)
    prompt_len = prompts.shape[1]
    recorder = _ChosenLogprobs()
    # The generic generate loop, not Whisper's: its long-form wrapper re-seeks rows that end on a
    # timestamp pair and then needs input_features, which we never pass (we hand it encoder outputs).
    # Our own LogitRules replace Whisper's timestamp and suppression processors, exactly as in greedy decoding.
    processors = LogitsProcessorList([_RulesProcessor(rules.LogitRules(engine, engine.device, timestamps), prompt_len),
                                      recorder])
    sequences = GenerationMixin.generate(
        engine.model,
        encoder_outputs=BaseModelOutput(last_hidden_state=encoded),
        decoder_input_ids=prompts,
        decoder_attention_mask=torch.ones_like(prompts),
        max_length=prompt_len + max_new_tokens,  # (max_new_tokens would clash with the config's max_length)
        num_beams=1,
        do_sample=False,
        cache_implementation="static",
        suppress_tokens=None,
        begin_suppress_tokens=None,
        forced_decoder_ids=None,
        eos_token_id=tokens.eot,
        pad_token_id=tokens.eot,
        logits_processor=processors,
        compile_config=compile_config(engine.device),
    )
    if not hasattr(engine.model, "_compiled_call"):  # generate decided not to compile: say so, never run slow silently
        raise RuntimeError(
            "compile=True: transformers' generate did not compile the decoder (its auto-compile criteria refused "
            "this model or cache); use compile=False, or a transformers version whose generate compiles "
            "a static cache"
        )
    if not torch.is_tensor(sequences):
        sequences = sequences["sequences"]
    if sequences.shape[1] > 0 and int(sequences[0, 0]) == tokens.sot:
        sequences = sequences[:, prompt_len:]
    steps = torch.stack(recorder.steps, dim=1) if recorder.steps else torch.empty((len(languages), 0))
    no_speech = sot_logits(engine, encoded).softmax(-1)
    results = []
    for row, seq in enumerate(sequences.tolist()):
        ended = tokens.eot in seq
        seq = seq[: seq.index(tokens.eot)] if ended else seq
        results.append(
            DecodedChunk(
                tokens=seq,
                logprobs=steps[row, : len(seq)].tolist(),
                no_speech_prob=float(no_speech[row, tokens.no_speech]) if tokens.no_speech is not None else 0.0,
                language=languages[row],
                truncated=not ended and len(seq) >= max_new_tokens,
                task=tasks[row],
            )
        )
    return results


class _RulesProcessor:
    """`LogitRules` as a transformers logits processor (it sees the prompt too, so strip it)."""

    def __init__(self, logit_rules: rules.LogitRules, prompt_len: int) -> None:
        self.rules = logit_rules
        self.prompt_len = prompt_len

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        generated = input_ids[:, self.prompt_len :]
        return self.rules.apply(scores.float(), generated, generated.shape[1])


class _ChosenLogprobs:
    """Records, each step, the log-probability of the token greedy search will pick (the arg-max)."""

    def __init__(self) -> None:
        self.steps: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.steps.append(scores.float().log_softmax(dim=-1).max(dim=-1).values)
        return scores


BACKEND = "inductor"  # torch.compile's backend; bench/gpubench sets "eager" for seconds of warm-up instead of minutes


def compile_config(device: torch.device):
    """What `generate` compiles the one-token decoder step with: CUDA graphs on a GPU, where the per-step launch
    cost dominates batched decoding; plain inductor elsewhere (compiled on every device, so the CPU tests run
    the path a GPU runs)."""
    from transformers import CompileConfig

    if BACKEND != "inductor":  # modes belong to inductor
        config = CompileConfig(backend=BACKEND, mode=None, fullgraph=False)
    else:
        config = CompileConfig(mode="reduce-overhead" if device.type == "cuda" else "default", fullgraph=False)
    config._compile_all_devices = True
    return config
