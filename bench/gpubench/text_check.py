"""Text check: real weights, free decoding; the segments are identical with and without each speed-up."""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import json
import time
import traceback
from typing import Any

from gpubench.attach import replaced
from gpubench.audio import audio_fixture, ensure_vad_model, read_samples
from gpubench.common import device_name, log, resolve_device

# (label, transcribe options, PREFETCH value or None to leave it); "_array" passes the decoded samples.
VARIANTS: list[tuple[str, dict, Any]] = [
    ("baseline (vad, batch 16, compile off)", {"batch_size": 16, "compile": False}, None),
    ("compile=True (static cache + torch.compile)", {"batch_size": 16, "compile": True}, None),
    ("batch 1", {"batch_size": 1, "compile": False}, None),
    ("batch 4", {"batch_size": 4, "compile": False}, None),
    ("batch 8", {"batch_size": 8, "compile": False}, None),
    ("array input instead of the file", {"batch_size": 16, "compile": False, "_array": True}, None),
    ("PREFETCH off", {"batch_size": 16, "compile": False}, False),
    ("PREFETCH on", {"batch_size": 16, "compile": False}, True),
]


def check_text(args) -> dict:
    import whisperkit_nb as wk
    from whisperkit_nb.engines.registry import release_models
    from whisperkit_nb.run import prefetch as reading_ahead
    from whisperkit_nb.scoring.words import word_error_rate

    ensure_vad_model()
    device = resolve_device(args.device)
    fixture = audio_fixture(args.text_minutes, args.silence_s)
    samples = read_samples(fixture.path)
    results: dict[str, dict] = {}
    for model in [m.strip() for m in args.text_models.split(",")]:
        rows = []
        reference = None
        for label, opts, prefetch in VARIANTS:
            opts = dict(opts)
            array = opts.pop("_array", False)
            try:
                with replaced(reading_ahead, "PREFETCH", prefetch) if prefetch is not None else contextlib.nullcontext():
                    started = time.perf_counter()
                    # The transformers engine throughout: compile=True runs on it alone, and on a CPU the
                    # automatic engine would otherwise give the other rows CTranslate2.
                    frame = wk.transcribe(samples if array else str(fixture.path), model=model, device=device,
                                          engine="transformers", language="en", progress=False, **opts)
                    seconds = time.perf_counter() - started
            except Exception as err:  # noqa: BLE001 - a failing variant is a finding, not the end of the check
                traceback.print_exc()
                rows.append({"variant": label, "seconds": None, "segments": None, "differing_segments": None,
                             "identical": f"failed: {type(err).__name__}: {err}"[:200], "first_difference": None,
                             "wer": None})
                log(f"{model} · {label}: " + json.dumps(rows[-1]))
                continue
            segments = list(zip(frame.start.round(3), frame.end.round(3), frame.text))
            if reference is None:
                reference = segments
            diff = segment_diff(reference, segments)
            rows.append({"variant": label, "seconds": round(seconds, 1), "segments": len(segments),
                         "identical": diff["identical"], "differing_segments": diff["differing"],
                         "first_difference": diff["first"],
                         "wer": round(word_error_rate(fixture.reference, " ".join(frame.text)), 4)})
            log(f"{model} · {label}: " + json.dumps(rows[-1]))
        results[model] = {"rows": rows}
        release_models()
    return {"mode": "check-text", "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "device": device_name(device), "audio": f"{fixture.path.name} ({fixture.duration / 60:.1f} min)",
            "models": results}


def segment_diff(a: list, b: list) -> dict:
    """Whether two segment lists (start, end, text) are identical, how many segments differ, the first one."""
    if a == b:
        return {"identical": True, "differing": 0, "first": None}
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    differing = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal")
    first = next(((a[i1:i2][:1], b[j1:j2][:1]) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"),
                 None)
    same_text = [t for _, _, t in a] == [t for _, _, t in b]
    return {"identical": "text only (times differ)" if same_text else False, "differing": differing,
            "first": repr(first)[:300]}
