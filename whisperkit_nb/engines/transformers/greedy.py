"""Tokens: batched greedy (and sampled) decoding of Whisper, with timestamp tokens or text only.

We drive `WhisperForConditionalGeneration`'s encoder and decoder directly instead of `generate()`:
transformers routes every Whisper call through its long-form fallback machinery with per-sample Python
bookkeeping, and hides what we need per chunk: the no-speech probability and language distribution at
the start-of-transcript position, and each token's log-probability. The loop below applies Whisper's
own decoding rules (`rules.LogitRules`) to the whole batch at once, and drops finished rows from the KV
cache so short chunks stop costing compute.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from whisperkit_nb.engines.base import DecodedChunk
from whisperkit_nb.engines.transformers import rules

if TYPE_CHECKING:
    from whisperkit_nb.engines.transformers.loaded import LoadedWhisper


def sot_logits(engine: LoadedWhisper, encoded: torch.Tensor) -> torch.Tensor:
    """The decoder's logits at the start-of-transcript position (language and no-speech come from here)."""
    sot = torch.full((encoded.shape[0], 1), engine.tokens.sot, device=engine.device)
    hidden = engine.model.model.decoder(input_ids=sot, encoder_hidden_states=encoded, use_cache=False)
    return engine.model.proj_out(hidden.last_hidden_state[:, 0]).float()


@torch.inference_mode()
def decode_greedy(
    engine: LoadedWhisper,
    encoded: torch.Tensor,
    languages: list[str | None],
    tasks: list[str],
    max_new_tokens: int,
    temperatures: list[float] | None = None,
    seeds: list[int] | None = None,
    timestamps: bool = True,
) -> list[DecodedChunk]:
    """Decode a batch of encoded chunks, each in its own language (None for English-only models) and task.

    Rows with temperature 0 (the default) are greedy; others sample from softmax(logits / temperature) with
    their own generator seeded from ``seeds``, so a row's result never depends on its batch mates.
    ``timestamps=False`` decodes text only (``<|notimestamps|>``), as Whisper does when asked for no timestamps.
    """
    tokens = engine.tokens
    batch = encoded.shape[0]
    device = engine.device
    prompts = torch.tensor([tokens.prompt(lang, t, timestamps=timestamps) for lang, t in zip(languages, tasks)],
                           device=device)
    temps = torch.tensor(temperatures or [0.0] * batch, device=device)
    generators = [
        torch.Generator(device=device).manual_seed(int(seed)) if t > 0 else None
        for seed, t in zip(seeds or [0] * batch, temps.tolist())
    ]
    logit_rules = rules.LogitRules(engine, device, timestamps)

    out = engine.model.model.decoder(input_ids=prompts, encoder_hidden_states=encoded, use_cache=True)
    cache = out.past_key_values
    hidden = out.last_hidden_state
    all_logits = engine.model.proj_out(hidden[:, [0, -1]]).float()
    no_speech = (
        all_logits[:, 0].softmax(-1)[:, tokens.no_speech].tolist() if tokens.no_speech is not None else [0.0] * batch
    )
    logits = all_logits[:, 1]

    generated = torch.empty((batch, 0), dtype=torch.long, device=device)
    logprob_rows = torch.empty((batch, 0), dtype=torch.float32, device=device)
    active = torch.arange(batch, device=device)  # original row of each row still decoding
    results_tokens: list[torch.Tensor | None] = [None] * batch
    results_logprobs: list[torch.Tensor | None] = [None] * batch
    truncated = [False] * batch

    for step in range(max_new_tokens):
        logits = logit_rules.apply(logits, generated, step)
        logprobs = logits.log_softmax(dim=-1)
        next_tokens = logprobs.argmax(dim=-1)
        sampling = (temps[active] > 0).nonzero().flatten().tolist()
        for i in sampling:
            row = int(active[i])
            probs = (logits[i] / temps[row]).softmax(dim=-1)
            next_tokens[i] = torch.multinomial(probs, 1, generator=generators[row])[0]
        generated = torch.cat([generated, next_tokens[:, None]], dim=1)
        logprob_rows = torch.cat([logprob_rows, logprobs.gather(1, next_tokens[:, None])], dim=1)
        done = next_tokens == tokens.eot
        if step == max_new_tokens - 1:
            for i in (~done).nonzero().flatten().tolist():
                truncated[active[i]] = True
            done = torch.ones_like(done)
        if done.any():
            for i in done.nonzero().flatten().tolist():
                row = int(active[i])
                keep = generated[i] != tokens.eot
                results_tokens[row] = generated[i][keep]
                results_logprobs[row] = logprob_rows[i][keep]
            still = (~done).nonzero().flatten()
            if still.numel() == 0:
                break
            active, generated, logprob_rows = active[still], generated[still], logprob_rows[still]
            encoded = encoded[still]
            cache.self_attention_cache.batch_select_indices(still)
            cache.cross_attention_cache.batch_select_indices(still)
            next_tokens = next_tokens[still]
        out = engine.model.model.decoder(
            input_ids=next_tokens[:, None], encoder_hidden_states=encoded, past_key_values=cache, use_cache=True
        )
        cache = out.past_key_values
        logits = engine.model.proj_out(out.last_hidden_state[:, -1]).float()

    return [
        DecodedChunk(
            tokens=results_tokens[i].tolist(),
            logprobs=results_logprobs[i].tolist(),
            no_speech_prob=float(no_speech[i]),
            language=languages[i],
            truncated=truncated[i],
            temperature=float(temps[i]),
            task=tasks[i],
        )
        for i in range(batch)
    ]
