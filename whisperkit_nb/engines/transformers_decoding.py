"""Tokens: batched greedy decoding of Whisper, with timestamp tokens or text only.

We drive `WhisperForConditionalGeneration`'s encoder and decoder directly instead of `generate()`:
transformers routes every Whisper call through its long-form fallback machinery with per-sample Python
bookkeeping, and hides what we need per chunk: the no-speech probability and language distribution at
the start-of-transcript position, and each token's log-probability. The loop below applies Whisper's
own decoding rules (openai/whisper `ApplyTimestampRules`, `SuppressTokens`, `SuppressBlank`) to the
whole batch at once, and drops finished rows from the KV cache so short chunks stop costing compute.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from whisperkit_nb.errors import OptionsError
from whisperkit_nb.engines.models import WhisperModel


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


def _ct2(whisper) -> bool:
    return whisper.engine == "ctranslate2"


@torch.inference_mode()
def encode(whisper: WhisperModel, features: torch.Tensor) -> torch.Tensor:
    """Encoder hidden states for a batch of log-mel features (batch, n_mels, 3000)."""
    if _ct2(whisper):
        from whisperkit_nb.engines import ct2 as ct2_engine

        return ct2_engine.encode(whisper, features)
    return whisper.model.model.encoder(features.to(whisper.device, whisper.dtype)).last_hidden_state


@torch.inference_mode()
def language_probabilities(whisper: WhisperModel, encoded: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
    """Per-chunk probabilities over Whisper's languages (batch, n_languages), and the language codes.

    One decoder step from the start-of-transcript token, the way openai/whisper detects language.
    """
    if _ct2(whisper):
        from whisperkit_nb.engines import ct2 as ct2_engine

        return ct2_engine.language_probabilities(whisper, encoded)
    codes = list(whisper.tokens.language_ids)
    ids = torch.tensor([whisper.tokens.language_ids[c] for c in codes], device=whisper.device)
    logits = _sot_logits(whisper, encoded)
    return logits[:, ids].softmax(dim=-1), codes


def _sot_logits(whisper: WhisperModel, encoded: torch.Tensor) -> torch.Tensor:
    sot = torch.full((encoded.shape[0], 1), whisper.tokens.sot, device=whisper.device)
    hidden = whisper.model.model.decoder(input_ids=sot, encoder_hidden_states=encoded, use_cache=False)
    return whisper.model.proj_out(hidden.last_hidden_state[:, 0]).float()


def new_input(whisper: WhisperModel) -> None:
    """Called before each input, so that its sampled fallbacks depend on it alone (CTranslate2 keeps
    sampling state between calls; the transformers engine seeds a generator per row and needs nothing)."""
    if _ct2(whisper):
        from whisperkit_nb.engines import ct2 as ct2_engine

        ct2_engine.new_input(whisper)


@torch.inference_mode()
def decode(
    whisper: WhisperModel,
    encoded: torch.Tensor,
    languages: list[str | None],
    task: str | list[str],
    max_new_tokens: int,
    temperatures: list[float] | None = None,
    seeds: list[int] | None = None,
    beam_size: int = 1,
    timestamps: bool = True,
) -> list[DecodedChunk]:
    """Decode a batch of encoded chunks, each in its own language (None for English-only models) and task.

    Rows with temperature 0 (the default) are greedy (or, on CTranslate2, a beam search of
    ``beam_size``); others sample from softmax(logits / temperature) with their own generator seeded
    from ``seeds``, so a row's result never depends on its batch mates. ``timestamps=False`` decodes
    text only (``<|notimestamps|>``), as Whisper does when asked for no timestamps.
    """
    if _ct2(whisper):
        from whisperkit_nb.engines import ct2 as ct2_engine

        return ct2_engine.decode(whisper, encoded, languages, task, max_new_tokens, temperatures, seeds, beam_size,
                                 timestamps=timestamps)
    if beam_size != 1:
        raise OptionsError("beam search runs on engine='ctranslate2'; this decoder is greedy.")
    tokens = whisper.tokens
    batch = encoded.shape[0]
    device = whisper.device
    tasks = [task] * batch if isinstance(task, str) else list(task)
    prompts = torch.tensor([tokens.prompt(lang, t, timestamps=timestamps) for lang, t in zip(languages, tasks)],
                           device=device)
    temps = torch.tensor(temperatures or [0.0] * batch, device=device)
    generators = [
        torch.Generator(device=device).manual_seed(int(seed)) if t > 0 else None
        for seed, t in zip(seeds or [0] * batch, temps.tolist())
    ]
    rules = _Rules(whisper, device, timestamps)

    out = whisper.model.model.decoder(input_ids=prompts, encoder_hidden_states=encoded, use_cache=True)
    cache = out.past_key_values
    hidden = out.last_hidden_state
    all_logits = whisper.model.proj_out(hidden[:, [0, -1]]).float()
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
        logits = rules.apply(logits, generated, step)
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
        out = whisper.model.model.decoder(
            input_ids=next_tokens[:, None], encoder_hidden_states=encoded, past_key_values=cache, use_cache=True
        )
        cache = out.past_key_values
        logits = whisper.model.proj_out(out.last_hidden_state[:, -1]).float()

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


class _Rules:
    """Whisper's logit rules, vectorised over the batch: token suppression always, the timestamp rules
    when decoding with timestamps (without them, every timestamp token is suppressed instead)."""

    def __init__(self, whisper: WhisperModel, device: torch.device, timestamps: bool = True) -> None:
        t = whisper.tokens
        vocab = whisper.model.config.vocab_size
        self.eot = t.eot
        self.ts_begin = t.timestamp_begin
        self.max_initial = t.timestamp_begin + whisper.max_initial_timestamp_index
        self.ids = torch.arange(vocab, device=device)
        suppress = torch.zeros(vocab, dtype=torch.bool, device=device)
        suppress[[i for i in whisper.suppress_ids if 0 <= i < vocab]] = True
        # Every special token except end-of-text and timestamps: SOT, languages, tasks, no-speech, ...
        suppress[t.eot + 1 : t.timestamp_begin] = True
        if not timestamps:
            suppress[t.timestamp_begin :] = True
        self.timestamps = timestamps
        self.suppress = suppress
        begin = torch.zeros(vocab, dtype=torch.bool, device=device)
        begin[[i for i in whisper.suppress_begin_ids if 0 <= i < vocab]] = True
        self.suppress_begin = begin

    def apply(self, logits: torch.Tensor, generated: torch.Tensor, step: int) -> torch.Tensor:
        neg = float("-inf")
        logits = logits.masked_fill(self.suppress, neg)
        is_ts = self.ids >= self.ts_begin
        if step == 0:
            logits = logits.masked_fill(self.suppress_begin, neg)
            if not self.timestamps:
                return logits
            # The first token is a timestamp, no later than max_initial_timestamp.
            return logits.masked_fill(~is_ts | (self.ids > self.max_initial), neg)

        if not self.timestamps:
            return logits
        last_ts = generated[:, -1] >= self.ts_begin
        penult_ts = generated[:, -2] >= self.ts_begin if step >= 2 else torch.ones_like(last_ts)
        # Timestamps come in pairs, except directly before end-of-text.
        logits = logits.masked_fill((last_ts & penult_ts)[:, None] & is_ts, neg)
        logits = logits.masked_fill((last_ts & ~penult_ts)[:, None] & (self.ids < self.eot), neg)
        # Timestamps never decrease, and a segment has non-zero length.
        ts_seen = torch.where(generated >= self.ts_begin, generated, torch.zeros_like(generated))
        last_value = ts_seen.max(dim=1).values
        floor = torch.where(last_ts & ~penult_ts, last_value, last_value + 1)
        floor = torch.where(last_value > 0, floor, torch.zeros_like(floor))
        logits = logits.masked_fill(is_ts & (self.ids < floor[:, None]), neg)
        # If all timestamps together are likelier than any single text token, emit a timestamp.
        logprobs = logits.log_softmax(dim=-1)
        ts_mass = logprobs[:, self.ts_begin :].logsumexp(dim=-1)
        best_text = logprobs[:, : self.ts_begin].max(dim=-1).values
        return logits.masked_fill((ts_mass > best_text)[:, None] & ~is_ts, neg)


@torch.inference_mode()
def decode_compiled(
    whisper: WhisperModel,
    encoded: torch.Tensor,
    languages: list[str | None],
    task: str,
    max_new_tokens: int,
    timestamps: bool = True,
) -> list[DecodedChunk]:
    """The same greedy decoding through transformers' `generate` with a static KV cache and a
    `torch.compile`d forward (the ``compile=True`` option).

    A static cache has fixed shapes, which is what lets the compiled graph (and CUDA graphs) be reused
    every step; the price is that finished rows keep their slots until the whole batch is done.
    """
    from transformers import GenerationMixin, LogitsProcessorList
    from transformers.modeling_outputs import BaseModelOutput

    _compile_once(whisper)
    tokens = whisper.tokens
    prompts = torch.tensor([tokens.prompt(lang, task, timestamps=timestamps) for lang in languages],
                           device=whisper.device)
    prompt_len = prompts.shape[1]
    recorder = _ChosenLogprobs()
    # The generic generate loop, not Whisper's: its long-form wrapper re-seeks rows that end on a
    # timestamp pair and then needs input_features, which we never pass (we hand it encoder outputs).
    # Our own _Rules replace Whisper's timestamp and suppression processors, exactly as in `decode`.
    sequences = GenerationMixin.generate(
        whisper.model,
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
        logits_processor=LogitsProcessorList([_RulesProcessor(_Rules(whisper, whisper.device, timestamps), prompt_len),
                                              recorder]),
    )
    if not torch.is_tensor(sequences):
        sequences = sequences["sequences"]
    if sequences.shape[1] > 0 and int(sequences[0, 0]) == tokens.sot:
        sequences = sequences[:, prompt_len:]
    steps = torch.stack(recorder.steps, dim=1) if recorder.steps else torch.empty((len(languages), 0))
    no_speech = _sot_logits(whisper, encoded).softmax(-1)
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
            )
        )
    return results


class _RulesProcessor:
    """`_Rules` as a transformers logits processor (it sees the prompt too, so strip it)."""

    def __init__(self, rules: _Rules, prompt_len: int) -> None:
        self.rules = rules
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


def _compile_once(whisper: WhisperModel) -> None:
    if getattr(whisper.model, "_whisperkit_compiled", False):
        return
    # CUDA graphs ("reduce-overhead") remove the per-step launch cost that dominates batched decoding.
    mode = "reduce-overhead" if whisper.device.type == "cuda" else "default"
    whisper.model.forward = torch.compile(whisper.model.forward, mode=mode, fullgraph=False)
    whisper.model._whisperkit_compiled = True
