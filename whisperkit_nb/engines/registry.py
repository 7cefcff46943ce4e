"""Engines by name, the model cache, and the rule ``engine="auto"`` follows.

`ENGINES` maps each engine name to its class, imported on first use: importing this module loads no torch,
transformers or ctranslate2. A new engine is one module (a class answering `base.Engine`) and one line here.
The cache keeps one loaded model per process: loading another releases the previous one first, so
switching models never holds two in GPU memory, and `release_models` frees everything engines hold.
"""

from __future__ import annotations

import gc
import importlib
import sys
import threading
from typing import TYPE_CHECKING

from whisperkit_nb.errors import OptionsError

if TYPE_CHECKING:
    import torch

    from whisperkit_nb.engines.base import Capabilities, Engine
    from whisperkit_nb.options import TranscribeOptions

ENGINES: dict[str, str] = {
    "transformers": "whisperkit_nb.engines.transformers.engine:TransformersEngine",
    "ctranslate2": "whisperkit_nb.engines.ctranslate2_engine:Ct2Engine",
}


def engine_class(name: str) -> type[Engine]:
    """The class of engine ``name`` (its module imported now, which imports no model runtime)."""
    if name not in ENGINES:
        raise OptionsError(f"Unknown engine {name!r}; engines are: {', '.join(ENGINES)}.")
    module, _, attribute = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def capabilities(name: str) -> Capabilities:
    """What engine ``name`` can do."""
    return engine_class(name).capabilities


def check_engine(name: str, options: TranscribeOptions) -> None:
    """Raise `OptionsError` for the first option engine ``name`` cannot honour (from its capabilities),
    saying which engines can and which value every engine runs."""
    refused = capabilities(name).refused(options)
    if refused is None:
        return
    option, value, everywhere = refused
    others = [other for other in ENGINES if other != name and capabilities(other).allows(option, value)]
    instead = "".join(f"engine={other!r}, or " for other in others)
    raise OptionsError(f"{option}={value!r} is not available with engine={name!r}: use {instead}{option}={everywhere!r}.")


def check_options(options: TranscribeOptions) -> None:
    """Refuse options the chosen engine cannot honour; with engine="auto", options no engine honours.

    Needs no torch and no model: `TranscribeOptions` calls it when it is built.
    """
    if options.engine != "auto":
        engine_class(options.engine).check(options)
        return
    refusals = []
    for name in ENGINES:
        try:
            engine_class(name).check(options)
            return
        except OptionsError as err:
            refusals.append(f"{name}: {err}")
    raise OptionsError("No engine runs these options together. " + " ".join(refusals))


def resolve_engine(options: TranscribeOptions, device: torch.device, name: str) -> str:
    """The engine ``engine="auto"`` means: CTranslate2 (int8) on a CPU when it is installed, the options
    are ones it runs (VAD chunking, no compile, automatic dtype and attention) and CTranslate2 weights
    for ``name`` are at hand; transformers otherwise. ``beam_size > 1`` needs CTranslate2 on any device."""
    if options.engine != "auto":
        return options.engine
    beams = (options.beam_size or 1) > 1  # only CTranslate2 searches beams here, on any device
    runs_on_ct2 = (
        device.type == "cpu" and options.chunking == "vad"
        and not options.compile and options.dtype == "auto" and options.attn_implementation == "auto"
    )
    if not (beams or runs_on_ct2):
        return "transformers"  # no need to look for CTranslate2 weights (an offline pack may be joined)
    if engine_class("ctranslate2").can_load(name):
        return "ctranslate2"
    if beams:
        raise OptionsError(f"beam_size={options.beam_size} needs the ctranslate2 engine: install it with "
                           "pip install \"whisperkit_nb[faster-whisper]\" and use a model with CTranslate2 "
                           f"weights (a short name or a CTranslate2 directory, not {name!r}), or beam_size=1.")
    return "transformers"


def settle(options: TranscribeOptions, engine: str | None = None) -> TranscribeOptions:
    """``options`` with their automatic decoding values made concrete for ``engine`` (by default the one
    `load_model` would pick for them): ``segment_times="auto"`` and ``beam_size=None`` take the engine's
    choice (`base.Capabilities`), and ``vad_max_gap_s=None`` what the segment times need
    (`TranscribeOptions.max_gap_s`). Every run settles its options once, before planning chunks, so the
    plan, the decoding and the per-file facts agree. Loads nothing."""
    if engine is None:
        from whisperkit_nb.device import resolve_device
        from whisperkit_nb.engines.weights import default_model_name

        device = resolve_device(options.device)
        engine = resolve_engine(options, device, options.model or default_model_name(device))
    caps = capabilities(engine)
    changes: dict = {}
    if options.segment_times == "auto":
        # The fixed strategy stitches windows at their timestamp tokens: it always decodes them.
        changes["segment_times"] = caps.auto_segment_times if options.chunking == "vad" else "tokens"
    if options.beam_size is None:
        changes["beam_size"] = caps.auto_beam_size
    settled = options.replace(**changes) if changes else options
    if settled.vad_max_gap_s is None:
        settled = settled.replace(vad_max_gap_s=settled.max_gap_s)
    return settled


_cache_lock = threading.Lock()
_loaded: dict[tuple, Engine] = {}


def load_model(options: TranscribeOptions) -> Engine:
    """Load (or reuse) the engine and model the options ask for (see `TranscribeOptions`)."""
    from whisperkit_nb.device import resolve_device
    from whisperkit_nb.engines.weights import default_model_name

    device = resolve_device(options.device)
    name = options.model or default_model_name(device)
    engine = resolve_engine(options, device, name)
    cls = engine_class(engine)
    cls.check(options)
    key = (engine, *cls.cache_key(name, device, options))
    with _cache_lock:
        if key not in _loaded:
            release_models()
            _loaded[key] = cls.load(name, device, options)
        return _loaded[key]


def loaded_models() -> list[str]:
    """The models loaded in this process, as ``"base (ctranslate2 int8, cpu)"``."""
    with _cache_lock:
        return [f"{e.model_name} ({e.name} {e.dtype_name}, {e.device})" for e in _loaded.values()]


def release_models() -> None:
    """Drop cached models, and what their engines hold beside them, and return their GPU memory to the driver."""
    for engine in list(_loaded.values()):
        engine.release()
    _loaded.clear()
    gc.collect()
    torch = sys.modules.get("torch")  # no model was ever loaded without it
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
