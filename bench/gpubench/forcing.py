"""Forced decoding: the same number of tokens in every window of every system, so random weights do the
decoding work real speech would give them."""

from __future__ import annotations

import collections
import contextlib
import importlib
import threading

from gpubench.common import AttachError

# Ordinary prose, so a window's text passes Whisper's quality checks (compression ratio about 1.6, far under
# 2.4): a repeated sentence would send every chunk to temperature fallback and then drop it.
FORCED_TEXT = (
    " Early in the morning the harbour was quiet, and only a few fishing boats moved between the grey stone"
    " walls. An old man sold coffee from a cart near the ferry office, while two students argued about a"
    " football match they had watched the night before. Later the wind turned cold, clouds gathered over the"
    " hills behind the town, and the first drops of rain began to fall on the market square, where traders"
    " were packing their vegetables into wooden crates. By noon the streets were empty except for a delivery"
    " van, a dog sheltering under a bench, and a woman in a yellow coat who seemed to be searching for an"
    " address she had written on the back of an envelope."
)


class ForcedTokens:
    """Forces each decoded window to the same N tokens: <|t0|> 20 text tokens <|t1|> ..., then end-of-text.

    Whisper's own rules (ours, or transformers' logits processors) still run first, so their cost stays in the
    timings; the forced token then replaces whatever they chose. Segment timestamps span 0-30 s, so no chunk
    has an uncovered tail for the engine to re-decode, and the text is prose, so no chunk needs fallback.
    """

    SEGMENT_TEXT = 20

    def __init__(self, tokenizer, n: int) -> None:
        vocab = tokenizer.get_vocab()
        self.eot = vocab["<|endoftext|>"]
        self.ts_begin = vocab["<|notimestamps|>"] + 1
        text = tokenizer(FORCED_TEXT, add_special_tokens=False).input_ids
        text = [t for t in text if t < self.eot]
        text = text * (n // len(text) + 1)
        segments = max(1, round(n / (self.SEGMENT_TEXT + 2)))
        seq: list[int] = []
        cursor = 0
        for i in range(segments):
            start = round(1500 * i / segments)
            end = round(1500 * (i + 1) / segments)
            room = n - len(seq) - 2 if i == segments - 1 else min(self.SEGMENT_TEXT, n - len(seq) - 2)
            if room < 1:
                break
            seq += [self.ts_begin + start] + text[cursor : cursor + room] + [self.ts_begin + end]
            cursor += room
        self.n = len(seq)
        self.sequence = seq
        self._lock = threading.Lock()
        self.windows: collections.Counter = collections.Counter()  # tokens per window -> windows
        self.applied = 0  # decoding steps our engine's rules forced (checked after each run of ours)

    def force(self, logits, step: int):
        import torch

        token = self.sequence[step] if step < self.n else self.eot
        forced = torch.full_like(logits, float("-inf"))
        forced[:, token] = 0.0
        return forced

    def count(self, token_lists) -> None:
        with self._lock:
            for tokens in token_lists:
                self.windows[sum(1 for t in tokens if t < self.eot or t >= self.ts_begin)] += 1

    def processor(self):
        """A transformers LogitsProcessor (after Whisper's own processors in `generate`)."""
        forcer = self
        special = (self.eot, self.ts_begin)

        class ForceProcessor:
            def __call__(self, input_ids, scores):
                row = input_ids[0].tolist()
                # The step is the number of tokens after the prompt's last special token (SOT/language/task).
                last = max((i for i, t in enumerate(row) if special[0] < t < special[1]), default=-1)
                return forcer.force(scores, len(row) - last - 1)

        return ForceProcessor()

    def count_results(self, results) -> None:
        """Count the windows of what our engine's `decode` returned (objects with ``.tokens``)."""
        self.count(r.tokens for r in results)


# Whisper's logit rules in the transformers engine: both of its decoders (the greedy loop and the compile=True
# `generate` path) build them by this module attribute on every call and apply them each step.
RULES = ("whisperkit_nb.engines.transformers.rules", "LogitRules")


def rules_class() -> tuple[object, type]:
    """The module holding the engine's logit rules, and the class; AttachError naming what is missing."""
    module_name, class_name = RULES
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise AttachError(f"cannot force tokens: {module_name} does not import ({err}); forcing needs the "
                          "transformers engine's logit rules, see bench/README.md (\"Random weights and forced "
                          "decoding\")") from err
    rules = getattr(module, class_name, None)
    if not isinstance(rules, type) or not callable(getattr(rules, "apply", None)):
        raise AttachError(f"cannot force tokens: {module_name} has no class {class_name} with an apply(logits, "
                          "generated, step) method; see bench/README.md (\"Random weights and forced decoding\")")
    return module, rules


@contextlib.contextmanager
def forced_library_decoding(forced: ForcedTokens | None):
    """Force our engine's decoders: a subclass of its `LogitRules` whose ``apply`` forces after the real rules.

    If the class is gone this raises (`rules_class`); if the engine stops building its rules from it,
    ``forced.applied`` stays put and the runner raises after its timed run (`check_applied`).
    (A public logit hook would be sturdier: see bench/README.md.)
    """
    if forced is None:
        yield
        return
    module, original = rules_class()

    class ForcedRules(original):
        def apply(self, logits, generated, step):
            forced.applied += 1
            return forced.force(super().apply(logits, generated, step), step)

    setattr(module, RULES[1], ForcedRules)
    try:
        yield
    finally:
        setattr(module, RULES[1], original)


def check_applied(forced: ForcedTokens | None, before: int) -> None:
    """Raise unless our engine's rules forced at least one step since ``before`` (``forced.applied``)."""
    if forced is not None and forced.applied == before:
        raise AttachError(f"forcing replaced {'.'.join(RULES)}, but no decoding step called it: the engine that "
                          "ran no longer builds its rules from that class (or is not the transformers engine)")
