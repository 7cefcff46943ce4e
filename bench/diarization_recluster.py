"""Re-clustering `diarize`'s turns on whole-turn embeddings: DER and speaker counts per file, against today's output
(a probe for the next change to diarization; nothing in the library uses it).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/diarization_recluster.py [--thresholds 0.5,0.55,0.6,0.65]
        [--min-shares 0,0.1] [--parts new] [--jobs 2]

The offline pipeline labels speech through 10 s windows; where similar voices alternate in short turns (the
Asterisk readers, 1.5-8 s a prompt) it merges them, and `refine_turns` can move a turn between the speakers pyannote
found but never adds one. Here each of `diarize`'s own turns of at least `REFINE_MIN_S` is embedded whole (CAM++,
`turn_embeddings`), the embeddings are clustered afresh (average linkage on cosine distance, cut at 1 - threshold),
and each shorter turn takes the cluster that most of its old speaker's long turns went to; with ``--min-shares``,
a cluster holding less than that share of the embedded speech first joins the one whose centroid is nearest. DER:
pyannote.metrics' full scoring (no collar, overlap scored) of the exclusive turns, before and after. Files:
bench/diarization_step.py's (tune, confirm, fresh; the fresh part has been seen since 2026-12-07) and part "probe":
eight conversations of the Asterisk readers, LibriVox and espeak-ng voices (seeds 41-48) that the clustering
threshold was probed on by hand on 2026-12-07 (bench/README.md); part "new": ten conversations built after a rule
had been read off the others, to confirm it (``--parts new``). Each child runs every ``--jobs``-th file on one torch
thread. Writes ``diarization-recluster-<date>-<HHMM>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
os.environ.setdefault("WHISPERKIT_NB_CACHE", str(REPO / ".cache" / "whisperkit_nb"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))
warnings.filterwarnings("ignore", message="'uem' was approximated")

from machine import cpu_model  # noqa: E402
from result_file import new_result_path  # noqa: E402

PROBE = "probe"
# (voices, turns, seed): the conversations the clustering threshold was probed on (2026-12-07, bench/README.md).
PROBE_VOICES = (
    (("asterisk:en", "asterisk:es"), 24, 41), (("asterisk:en", "asterisk:fr"), 24, 42),
    (("asterisk:fr", "asterisk:en", "librivox"), 30, 43), (("asterisk:es", "librivox", "asterisk:en"), 30, 44),
    (("asterisk:es", "asterisk:fr"), 24, 45), (("espeak:en-gb-x-rp", "asterisk:en"), 24, 46),
    (("espeak:en-us", "espeak:en-gb-scotland"), 24, 47), (("asterisk:fr", "asterisk:es", "asterisk:en"), 40, 48),
)

NEW = "new"
# Built at 2026-12-07 09:35, after the rule to confirm (0.55, a 5% floor) had been read off the other parts.
NEW_VOICES = (
    (("asterisk:en", "asterisk:fr"), 30, 60), (("asterisk:es", "asterisk:en"), 30, 61),
    (("asterisk:fr", "asterisk:es"), 30, 62), (("asterisk:en", "asterisk:es", "asterisk:fr"), 48, 63),
    (("librivox", "asterisk:es"), 30, 64), (("flite:slt", "asterisk:en", "flite:rms"), 36, 65),
    (("flite:awb", "flite:kal16", "asterisk:fr"), 36, 66), (("espeak:en-gb-x-rp", "librivox", "asterisk:en"), 36, 67),
    (("flite:rms", "flite:slt"), 24, 68), (("asterisk:en", "espeak:en-us"), 24, 69),
)


def files(parts: list[str] | None = None) -> list[tuple[str, str, object, object]]:
    """(part, name, fixture, reference) for every file of ``parts`` (all by default): bench/diarization_step.py's,
    then the probe part and the new one."""
    import assets
    import diarization
    import diarization_step

    found = diarization_step.files() if parts is None or set(parts) - {PROBE, NEW} else []
    for part, voices_list in ((PROBE, PROBE_VOICES), (NEW, NEW_VOICES)):
        if parts is None or part in parts:
            found += [(part, f"s{seed} {'+'.join(voices)}, {turns} turns", fixture, diarization.turns_of(fixture))
                      for voices, turns, seed in voices_list
                      for fixture in [assets.voice_conversation(voices, turns, seed=seed)]]
    return [row for row in found if parts is None or row[0] in parts]


def recluster(turns, rows, embeddings, threshold: float, min_share: float = 0.0):
    """``turns`` relabelled by clustering the embeddings of its rows ``rows``; shorter turns follow their old
    speaker's long turns (by duration), or keep their own label where it has none. A cluster holding less than
    ``min_share`` of the embedded turns' duration joins the cluster whose centroid is nearest, smallest first."""
    import numpy as np
    import pandas as pd
    from scipy.cluster.hierarchy import fcluster, linkage

    if len(rows) < 2:
        return turns.copy()
    clusters = fcluster(linkage(embeddings, method="average", metric="cosine"), t=1 - threshold,
                        criterion="distance")
    duration = (turns.end - turns.start).to_numpy()
    weight = duration[rows]
    while len(set(clusters)) > 1:
        names = sorted(set(clusters), key=lambda k: weight[clusters == k].sum())
        smallest = names[0]
        if weight[clusters == smallest].sum() >= min_share * weight.sum():
            break
        centroids = {k: embeddings[clusters == k].mean(axis=0) for k in names}
        centroids = {k: v / (np.linalg.norm(v) + 1e-9) for k, v in centroids.items()}
        nearest = max(names[1:], key=lambda k: float(centroids[k] @ centroids[smallest]))
        clusters = np.where(clusters == smallest, nearest, clusters)
    labels = np.full(len(turns), None, dtype=object)
    labels[rows] = [f"C{k}" for k in clusters]
    old = turns.speaker.to_numpy()
    for speaker in np.unique(old):
        mine = np.flatnonzero(old == speaker)
        long = [i for i in mine if labels[i] is not None]
        fill = (pd.Series(duration[long], index=labels[long]).groupby(level=0).sum().idxmax() if long
                else f"kept-{speaker}")
        labels[[i for i in mine if labels[i] is None]] = fill
    relabelled = turns.copy()
    relabelled["speaker"] = labels
    return relabelled


def variants(thresholds: list[float], min_shares: list[float]) -> dict[str, tuple[float, float]]:
    """Column name -> (threshold, min_share); a share of 0 is named by the threshold alone."""
    return {(f"{t}" if m == 0 else f"{t}/{m}"): (t, m) for t in thresholds for m in min_shares}


def child(index: int, jobs: int, thresholds: list[float], min_shares: list[float], parts: list[str] | None) -> None:
    """Every ``jobs``-th file from ``index``, one thread: a JSON line per file on stdout."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    import assets

    from whisperkit_nb.audio.source import open_audio
    from whisperkit_nb.options import TranscribeOptions
    from whisperkit_nb.scoring.speakers import diarization_error_rate
    from whisperkit_nb.speakers import diarize as diarize_module

    options = TranscribeOptions(diarize=True, progress=False, device="cpu")
    embedder = diarize_module.speaker_embedder(diarize_module.load_pipeline(options))
    diarize_module.diarize(open_audio(str(assets.pyannote_sample().path)).in_memory(), options)  # warm-up
    for part, name, fixture, reference in files(parts)[index::jobs]:
        source = open_audio(str(fixture.path)).in_memory()
        turns = diarize_module.diarize(source, options)
        waveform = torch.from_numpy(np.ascontiguousarray(source.samples, dtype=np.float32))
        rows, embeddings = diarize_module.turn_embeddings(turns, waveform, embedder, diarize_module.REFINE_MIN_S)
        row = {"part": part, "file": name, "audio_s": round(source.duration, 1), "turns": len(turns),
               "embedded_turns": len(rows), "true_speakers": len({t.speaker for t in fixture.turns}),
               "today": [int(turns.speaker.nunique()), round(diarization_error_rate(turns, reference), 4)]}
        for key, (threshold, min_share) in variants(thresholds, min_shares).items():
            relabelled = recluster(turns, rows, embeddings, threshold, min_share)
            row[key] = [int(relabelled.speaker.nunique()), round(diarization_error_rate(relabelled, reference), 4)]
        print(json.dumps(row), flush=True)


def run_child(index: int, jobs: int, thresholds: str, min_shares: str, parts: str | None) -> list[dict]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, __file__, "--child", str(index), "--jobs", str(jobs), "--thresholds", thresholds,
               "--min-shares", min_shares, *(["--parts", parts] if parts else [])]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise SystemExit(f"child {index} failed:\n{done.stderr[-3000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def summary(rows: list[dict], key: str) -> dict:
    audio = sum(r["audio_s"] for r in rows)
    return {"files": len(rows), "der_weighted": round(sum(r[key][1] * r["audio_s"] for r in rows) / audio, 4),
            "right_speaker_counts": sum(r[key][0] == r["true_speakers"] for r in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thresholds", default="0.5,0.55,0.6,0.65",
                        help="cosine similarities at which whole-turn clusters are cut, comma-separated")
    parser.add_argument("--min-shares", default="0",
                        help="a cluster below this share of the turns' duration joins its nearest (0: none), "
                             "comma-separated")
    parser.add_argument("--parts", help="only these parts (tune, confirm, fresh, probe, new), comma-separated")
    parser.add_argument("--jobs", type=int, default=2, help="children at once, one process and one thread each")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",")]
    min_shares = [float(m) for m in args.min_shares.split(",")]
    parts = args.parts.split(",") if args.parts else None
    if args.child is not None:
        child(args.child, args.jobs, thresholds, min_shares, parts)
        return
    order = [name for _, name, _, _ in files(parts)]  # builds every fixture once, before the children race to
    started = dt.datetime.now()
    with ThreadPoolExecutor(args.jobs) as pool:
        found = pool.map(lambda i: run_child(i, args.jobs, args.thresholds, args.min_shares, args.parts),
                         range(args.jobs))
        rows = sorted((row for part in found for row in part), key=lambda r: order.index(r["file"]))

    keys = ["today", *variants(thresholds, min_shares)]
    parts = list(dict.fromkeys(r["part"] for r in rows))
    totals = {key: {part: summary([r for r in rows if r["part"] == part], key) for part in parts} for key in keys}
    machine = f"{cpu_model()}, {os.cpu_count()} cores, one torch thread per child, {args.jobs} children"
    lines = [f"{started:%Y-%m-%d %H:%M} · {machine} · offline pipeline (segmentation-3.0 + CAM++)", "",
             "| file | part | audio s | turns (embedded) | today | "
             + " | ".join(f"re-clustered at {k}" for k in keys[1:]) + " |",
             "|---|---|---|---|---|" + "---|" * (len(keys) - 1)]
    for r in rows:
        cells = [f"{r[k][0]} ({r['true_speakers']}), {r[k][1]:.3f}" for k in keys]
        lines.append(f"| {r['file']} | {r['part']} | {r['audio_s']} | {r['turns']} ({r['embedded_turns']}) | "
                     + " | ".join(cells) + " |")
    lines += ["", "| part | files | " + " | ".join(f"{k}: DER, counts right" for k in keys) + " |",
              "|---|---|" + "---|" * len(keys)]
    for part in parts:
        cells = [f"{totals[k][part]['der_weighted']:.4f}, {totals[k][part]['right_speaker_counts']}" for k in keys]
        lines.append(f"| {part} | {totals['today'][part]['files']} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    path = new_result_path(args.out, "diarization-recluster")
    path.write_text(json.dumps({"date": f"{started:%Y-%m-%d %H:%M}", "machine": machine, "thresholds": thresholds,
                                "min_shares": min_shares, "totals": totals, "files": rows}, indent=2))
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
