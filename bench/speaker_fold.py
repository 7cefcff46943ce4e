"""Folding a small speaker into the voice it repeats (`whisperkit_nb.speakers.fold`): speaker counts, DER and every
fold checked against the reference voices, per file, with the rule and without it.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/speaker_fold.py [--rules 0.15/0.7,0.1/0.7] [--parts short,new] [--jobs 2]

Each file of bench/diarization_recluster.py's parts (all of them by default: 159 files, clean, in noise, band-passed,
one reader, short files of 2-4 voices) is diarized as the library does, the speaker split included, with the fold
turned off (``diarize.FOLD = False``); its turns are embedded as `diarize` embeds them, and each rule
``share/similarity`` (`fold_small_speakers`' ``max_share`` and ``min_similarity``) is applied to the same turns. A fold
is right when the two speakers' turns overlap the same reference voice most, wrong otherwise (two people made one).
The first rule is the library's; the others are its neighbours, one step away in each direction. Parts "tune" and
"confirm" as the README section says: the short files of seeds 1-32 and the parts not named confirm are "tune".
Each child runs every ``--jobs``-th file on one torch thread. Writes ``speaker-fold-<date>-<HHMM>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
os.environ.setdefault("WHISPERKIT_NB_CACHE", str(REPO / ".cache" / "whisperkit_nb"))
sys.path.insert(0, str(REPO / "bench"))

import diarization_recluster  # noqa: E402
from diarization_recluster import diarized, machine_line, parsed_with_parts, report, rows_from_children  # noqa: E402


def split_of(part: str, name: str) -> str:
    """"tune" or "confirm": the short files of seeds 33-48 (clean or band-passed) and the parts named confirm or
    single are held aside."""
    if part.startswith("short"):
        return "tune" if int(name.split()[1]) <= 32 else "confirm"
    return "confirm" if part.startswith(("confirm", "single")) else "tune"


def rules(text: str) -> dict[str, tuple[float, float]]:
    """``"0.15/0.7,..."`` -> {name: (max_share, min_similarity)}."""
    return {rule: tuple(float(x) for x in rule.split("/")) for rule in text.split(",")}


def voice_of_each(turns, reference) -> dict[str, str | None]:
    """Each speaker of ``turns``: the reference voice its turns overlap most."""
    from whisperkit_nb.scoring.speakers import to_annotation

    ref = to_annotation(reference)
    found: dict[str, dict[str, float]] = {}
    for start, end, speaker in zip(turns.start, turns.end, turns.speaker):
        for segment, _, voice in ref.itertracks(yield_label=True):
            overlap = min(end, segment.end) - max(start, segment.start)
            if overlap > 0:
                found.setdefault(speaker, {}).setdefault(voice, 0.0)
                found[speaker][voice] += overlap
    return {s: max(v, key=v.get) if v else None for s, v in found.items()}


def child(index: int, jobs: int, rule_text: str, parts: list[str] | None) -> None:
    """Every ``jobs``-th file from ``index``, one thread: a JSON line per file on stdout."""
    from whisperkit_nb.scoring.speakers import diarization_error_rate
    from whisperkit_nb.speakers import diarize as diarize_module
    from whisperkit_nb.speakers.fold import fold_small_speakers

    # the split as the library makes it, the fold left to the rules below (applied to the same turns)
    for part, name, fixture, reference, source, turns, embedded in diarized(parts, index, jobs, FOLD=False):
        voices = voice_of_each(turns, reference)
        row = {"part": part, "split": split_of(part, name), "file": name, "audio_s": round(source.duration, 1),
               "true_speakers": len({t.speaker for t in fixture.turns}),
               "without": [int(turns.speaker.nunique()), round(diarization_error_rate(turns, reference), 4)]}
        for key, (share, similarity) in rules(rule_text).items():
            folded = fold_small_speakers(turns, embedded, min_s=diarize_module.REFINE_MIN_S, max_share=share,
                                         min_similarity=similarity)
            moves = sorted({(a, b) for a, b in zip(turns.speaker, folded.speaker) if a != b})
            right = sum(voices.get(a) == voices.get(b) for a, b in moves)
            der = diarization_error_rate(folded, reference) if moves else row["without"][1]
            row[key] = [int(folded.speaker.nunique()), round(der, 4), right, len(moves) - right]
        print(json.dumps(row), flush=True)


def summary(rows: list[dict], key: str) -> dict:
    base = lambda r: r["without"][1]  # noqa: E731
    return {**diarization_recluster.summary(rows, key),
            "right_folds": sum(r[key][2] for r in rows) if key != "without" else 0,
            "wrong_folds": sum(r[key][3] for r in rows) if key != "without" else 0,
            "files_better": sum(r[key][1] < base(r) - 1e-4 for r in rows),
            "files_worse": sum(r[key][1] > base(r) + 1e-4 for r in rows)}


def main() -> None:
    from whisperkit_nb.speakers import fold

    default = f"{fold.FOLD_MAX_SHARE}/{fold.FOLD_MIN_SIMILARITY}"
    neighbours = "0.1/0.7,0.2/0.7,0.15/0.65,0.15/0.75"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default=f"{default},{neighbours}",
                        help="max_share/min_similarity, comma-separated (default: the library's rule first)")
    args = parsed_with_parts(parser)
    if args.child is not None:
        child(args.child, args.jobs, args.rules, args.parts and args.parts.split(","))
        return
    started = dt.datetime.now()
    rows = rows_from_children(args, __file__)

    keys = ["without", *rules(args.rules)]
    splits = [split for split in ("tune", "confirm") if any(r["split"] == split for r in rows)]
    totals = {key: {split: summary([r for r in rows if r["split"] == split], key) for split in splits} for key in keys}
    machine = machine_line(args.jobs)
    lines = [f"{started:%Y-%m-%d %H:%M} · {machine} · offline pipeline (segmentation-3.0 + CAM++), speaker split on",
             "", "Files a rule changes: speakers found (true), DER; folds right / wrong", "",
             "| file | part | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for r in rows:
        if all(r[k][:2] == r["without"] for k in keys[1:]):
            continue
        cells = [f"{r['without'][0]} ({r['true_speakers']}), {r['without'][1]:.3f}"]
        cells += [f"{r[k][0]}, {r[k][1]:.3f}; {r[k][2]}/{r[k][3]}" for k in keys[1:]]
        lines.append(f"| {r['file']} | {r['part']} | " + " | ".join(cells) + " |")
    lines += ["", "| rule | split | files | DER | counts right | folds right / wrong | files better / worse |",
              "|---|---|---|---|---|---|---|"]
    for key in keys:
        for split, s in totals[key].items():
            lines.append(f"| {key} | {split} | {s['files']} | {s['der_weighted']:.4f} | {s['right_speaker_counts']} | "
                         f"{s['right_folds']} / {s['wrong_folds']} | {s['files_better']} / {s['files_worse']} |")
    report(lines, args.out, "speaker-fold", started, machine, list(rules(args.rules)), totals, rows, indent=1)


if __name__ == "__main__":
    main()
