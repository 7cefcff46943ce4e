"""The peers: the insanely-fast-whisper method, run the way its cli.py does (transformers' ASR pipeline)."""

from __future__ import annotations

import contextlib
import threading
import time

from gpubench.attach import wrapped
from gpubench.common import SAMPLE_RATE
from gpubench.forcing import ForcedTokens
from gpubench.systems import Setup, full_batch_s, memory_start, release, timed_row
from gpubench.timing import StageTimer


def run_ifw(setup: Setup, attn: str) -> dict:
    """transformers' `pipeline("automatic-speech-recognition")`, 30 s chunks (5 s strides), greedy."""
    import torch
    from transformers import (
        AutoTokenizer,
        GenerationConfig,
        LogitsProcessorList,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        pipeline,
    )

    dtype = getattr(torch, setup.dtype)
    model = WhisperForConditionalGeneration.from_pretrained(setup.model_path, dtype=dtype,
                                                            attn_implementation=attn).to(setup.device).eval()
    tokenizer = AutoTokenizer.from_pretrained(setup.model_path)
    asr = pipeline("automatic-speech-recognition", model=model, tokenizer=tokenizer,
                   feature_extractor=WhisperFeatureExtractor(feature_size=model.config.num_mel_bins),
                   device=torch.device(setup.device), dtype=dtype)
    generation = GenerationConfig.from_pretrained(setup.model_path)
    generate_kwargs: dict = {"num_beams": 1, "do_sample": False}
    if getattr(generation, "is_multilingual", False):
        generate_kwargs.update(language=setup.language or "en", task="transcribe")
    counts = setup.forced or ForcedTokens(tokenizer, 1)
    if setup.forced is not None:
        generate_kwargs["logits_processor"] = LogitsProcessorList([setup.forced.processor()])

    def call(samples):
        return asr({"raw": samples, "sampling_rate": SAMPLE_RATE}, chunk_length_s=30, batch_size=setup.hf_batch_size,
                   return_timestamps=True, generate_kwargs=generate_kwargs, ignore_warning=True)

    started = time.perf_counter()
    call(setup.samples[: int(setup.warmup_s * SAMPLE_RATE)])
    # The same warm-up as ours (gpubench/ours.py): the head of the audio, then a full batch, so neither
    # system pays first-call or per-shape costs in the timed run.
    call(setup.samples[: int(full_batch_s(setup, setup.hf_batch_size) * SAMPLE_RATE)])
    warmup = time.perf_counter() - started

    timer = StageTimer(sync=torch.cuda.synchronize if setup.cuda else None)

    def generate(original):
        def counted(*args, **kwargs):
            out = original(*args, **kwargs)
            counts.count((out if torch.is_tensor(out) else out["sequences"]).tolist())
            return out

        return counted

    encoder = model.model.encoder
    hooks = [encoder.register_forward_pre_hook(lambda *a: timer.enter("encoder", device=True)),
             encoder.register_forward_hook(lambda *a: timer.exit(device=True))]
    counts.windows.clear()
    try:
        with contextlib.ExitStack() as attached:
            # The pipeline's features are numpy on the CPU (WhisperFeatureExtractor): host time.
            attached.enter_context(wrapped(asr, "preprocess", lambda f: timer.wrap_generator("features", f)))
            attached.enter_context(wrapped(asr, "_forward", lambda f: timer.wrap("decoder", f, device=True)))
            attached.enter_context(wrapped(asr, "postprocess", lambda f: timer.wrap("assembly", f)))
            attached.enter_context(wrapped(model, "generate", generate))
            memory = memory_start(setup)
            started = time.perf_counter()
            result = call(setup.samples)
            wall = time.perf_counter() - started
    finally:
        for hook in hooks:
            hook.remove()
    timer.require("features", "encoder", "decoder", "assembly", what=f"ifw ({attn})")
    row = timed_row(setup, timer, wall, memory, vad_s=0.0, main_thread=threading.get_ident(),
                    batch_size=setup.hf_batch_size, windows=dict(counts.windows))
    row["warmup_s"] = round(warmup, 2)
    # insanely-fast-whisper decodes the whole file before the pipeline runs: charge that decode here.
    if setup.input_mode == "file":
        row["stages"]["audio_decode"] = round(setup.decode_once_s, 3)
        row["wall_s"] = round(wall + setup.decode_once_s, 3)
        row["x_real_time"] = round(setup.duration / row["wall_s"], 1)
        row["notes"].append("audio decode = the file decoded once to an array before the pipeline (PyAV)")
    row["segments"] = len(result.get("chunks", []))
    row["text"] = result.get("text", "")
    asr = model = encoder = None  # drop every reference before freeing the GPU memory
    release(setup)
    return row

