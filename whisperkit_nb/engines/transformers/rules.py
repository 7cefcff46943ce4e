"""Whisper's logit rules (openai/whisper `ApplyTimestampRules`, `SuppressTokens`, `SuppressBlank`), vectorised
over the batch; both transformers decoders (`greedy`, `compiled`) apply them each step."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from whisperkit_nb.engines.transformers.loaded import LoadedWhisper


class LogitRules:
    """Token suppression always, the timestamp rules when decoding with timestamps (without them, every
    timestamp token is suppressed instead)."""

    def __init__(self, engine: LoadedWhisper, device: torch.device, timestamps: bool = True) -> None:
        t = engine.tokens
        vocab = engine.model.config.vocab_size
        self.eot = t.eot
        self.ts_begin = t.timestamp_begin
        self.max_initial = t.timestamp_begin + engine.max_initial_timestamp_index
        self.ids = torch.arange(vocab, device=device)
        suppress = torch.zeros(vocab, dtype=torch.bool, device=device)
        suppress[[i for i in engine.suppress_ids if 0 <= i < vocab]] = True
        # Every special token except end-of-text and timestamps: SOT, languages, tasks, no-speech, ...
        suppress[t.eot + 1 : t.timestamp_begin] = True
        if not timestamps:
            suppress[t.timestamp_begin :] = True
        self.timestamps = timestamps
        self.suppress = suppress
        begin = torch.zeros(vocab, dtype=torch.bool, device=device)
        begin[[i for i in engine.suppress_begin_ids if 0 <= i < vocab]] = True
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
