"""Where our extra word errors sit (issue 17): near chunk edges, or anywhere? One flite file of the devset.

    .venv/bin/python bench/error_sites.py [--file flite-awb-slow-18m] [--edge-s 1.5] [--out bench/results]

Transcribes the file with whisperkit_nb's defaults and with faster-whisper's BatchedInferencePipeline (as
`bench/cpu_devset.py` runs it), aligns each transcript to the reference (Whisper's English normaliser, word
by word, difflib), and lists the differences one system makes and the other does not. Each is placed in time
through the flite reference's word spans and measured against the nearest edge of our chunk plan (the first
and last sample of each chunk). If chunking caused our extra errors, they would crowd near edges: compare the
share within ``--edge-s`` of an edge with the share of the file's time that lies that close to one.

Only flite files carry word spans (`DevFile.words`). Placing a normalised token through the spans is
approximate where the normaliser splits or joins words (numbers, currency): the token counts are printed.
Writes ``error_sites-<date>-<HHMM>.json`` (never an existing file).
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import difflib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import whisperkit_nb as wk  # noqa: E402
from cpu_devset import FasterWhisper  # noqa: E402
from devset import dev_files  # noqa: E402
from machine import cpu_model  # noqa: E402
from result_file import new_result_path  # noqa: E402
from whisperkit_nb.scoring.words import normalize_english  # noqa: E402


def token_times(words: list[tuple[float, float, str]], reference: list[str]) -> list[float | None]:
    """The time (middle of its word) of each normalised reference token, through the reference's word spans."""
    tokens, times = [], []
    for start, end, word in words:
        for token in normalize_english(word).split():
            tokens.append(token)
            times.append((start + end) / 2)
    placed: list[float | None] = [None] * len(reference)
    for _, i1, i2, j1, j2 in difflib.SequenceMatcher(a=reference, b=tokens, autojunk=False).get_opcodes():
        for k in range(i2 - i1):
            if j2 > j1:
                placed[i1 + k] = times[j1 + min(k, j2 - j1 - 1)]
    return placed


def differences(reference: list[str], text: str) -> set[tuple[int, str, str]]:
    """(reference index, reference words, hypothesis words) of every non-matching stretch."""
    hyp = normalize_english(text).split()
    return {(i1, " ".join(reference[i1:i2]), " ".join(hyp[j1:j2]))
            for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=reference, b=hyp, autojunk=False).get_opcodes()
            if tag != "equal"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default="flite-awb-slow-18m", help="a flite file of bench/devset.py")
    parser.add_argument("--edge-s", type=float, default=1.5, help="'near an edge': within this many seconds")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = parser.parse_args()
    files = {f.name: f for f in dev_files(("tune", "confirm"), longest_min=60)}
    f = files.get(args.file)
    if f is None or not f.words:
        raise SystemExit(f"{args.file}: not a devset file with word spans (flite): {sorted(n for n in files if files[n].words)}")
    path = str(f.fixture.path)
    plan, _ = wk.plan_chunks(path)
    edges = sorted({c.spans[0][0] / 16000 for c in plan} | {c.spans[-1][1] / 16000 for c in plan})
    ours = " ".join(wk.transcribe(path, model="base", progress=False).text)
    theirs = " ".join(t for _, _, t in FasterWhisper("base", 8)(path))
    reference = normalize_english(f.fixture.reference).split()
    times = token_times(f.words, reference)

    def edge_distance(index: int) -> float | None:
        t = times[min(index, len(times) - 1)]
        if t is None:
            return None
        k = bisect.bisect_left(edges, t)
        return min(abs(t - edges[j]) for j in (k - 1, k) if 0 <= j < len(edges))

    ours_d, theirs_d = differences(reference, ours), differences(reference, theirs)
    chance = min(1.0, sum(min(b, f.fixture.duration) - max(a, 0.0) for a, b in
                          _merged([(e - args.edge_s, e + args.edge_s) for e in edges])) / f.fixture.duration)
    result = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": f"{cpu_model()}, {os.cpu_count()} cores", "file": f.name, "edge_s": args.edge_s,
              "chunk_edges": len(edges), "share_of_time_near_an_edge": round(chance, 3),
              "reference_tokens": len(reference), "tokens_placed": sum(t is not None for t in times)}
    lines = [f"{result['date']} · {result['machine']} · {f.name} · {len(edges)} chunk edges; "
             f"{chance:.0%} of the file's time lies within {args.edge_s:g} s of one"]
    for label, only in (("ours only", ours_d - theirs_d), ("faster-whisper only", theirs_d - ours_d)):
        rows = [{"time_s": times[min(i, len(times) - 1)], "edge_distance_s": edge_distance(i), "reference": r,
                 "hypothesis": h} for i, r, h in sorted(only)]
        near = sum(1 for r in rows if r["edge_distance_s"] is not None and r["edge_distance_s"] < args.edge_s)
        result[label.replace(" ", "_").replace("-", "_")] = {"differences": len(rows), "near_an_edge": near, "rows": rows}
        lines.append(f"{label}: {len(rows)} differences, {near} within {args.edge_s:g} s of a chunk edge")
        lines += [f"  {r['time_s'] or -1:8.1f} s  edge {'-' if r['edge_distance_s'] is None else round(r['edge_distance_s'], 1)}"
                  f"  {r['reference']!r} -> {r['hypothesis']!r}" for r in rows]
    print("\n".join(lines))
    out = new_result_path(args.out, "error_sites")
    out.write_text(json.dumps(result, indent=1))
    print(f"\nJSON: {out}")
    return 0


def _merged(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


if __name__ == "__main__":
    sys.exit(main())
