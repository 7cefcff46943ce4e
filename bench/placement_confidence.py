"""Can the decoder's confidence tell which window placement suits a file? (issue 17's per-file goal)

    .venv/bin/python bench/placement_confidence.py [--chunk-s 28,24,20] [--parts tune,confirm]
        [--recordings .cache/fixtures/unseen_v1] [--model base]

Our default's words on a hard file move with where its windows fall, as faster-whisper's do (bench/README.md,
"faster-whisper against itself"). A rule that picks the placement per file, or re-decodes only the windows the
decoder is unsure of under a second placement, needs a signal that ranks placements like their word errors do,
known before the reference is. This bench decodes every file with the default at several ``chunk_s`` values
(each a different placement of the same speech) and reports, per file and placement: word errors and the
token-weighted mean of the chunks' average log-probabilities. Then, over all pairs of placements of one file:
how often the placement with the higher mean log-probability has the fewer errors. And, for the first two
placements, the share of the speech lying in stretches where their windows differ, i.e. what a second pass
that swaps placements stretch by stretch would have to decode again (a stretch: windows of either plan linked
by overlapping in time).

Writes ``placement_confidence-<date>-<HHMM>.json`` (never an existing file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import whisperkit_nb as wk  # noqa: E402
from devset import dev_files  # noqa: E402
from machine import cpu_model  # noqa: E402
from recordings import recordings  # noqa: E402
from result_file import new_result_path  # noqa: E402
from whisperkit_nb.engines.packs import offline_pack_dir  # noqa: E402
from whisperkit_nb.scoring.words import normalizer_for, wer_details  # noqa: E402


def mean_logprob(df, count_tokens) -> float:
    """The chunks' average log-probabilities, each weighted by its token count (a chunk's rows share its value)."""
    by_chunk: dict[int, list] = defaultdict(list)
    for row in df.itertuples():
        by_chunk[int(row.chunk)].append((row.text, row.avg_logprob))
    total = weight = 0.0
    for rows in by_chunk.values():
        tokens = count_tokens(" ".join(text for text, _ in rows))
        total += tokens * rows[0][1]
        weight += tokens
    return total / weight if weight else 0.0


def differing_share(plan_a: list[tuple[float, float]], plan_b: list[tuple[float, float]]) -> float:
    """Share of plan A's time in stretches where the two plans' windows differ. A stretch links the windows of
    both plans that overlap in time; one whose windows are the same in both needs no second decoding."""
    windows = sorted([("a", w) for w in plan_a] + [("b", w) for w in plan_b], key=lambda item: item[1][0])
    stretches: list[list] = []
    end = -1.0
    for item in windows:
        if stretches and item[1][0] < end - 1e-3:
            stretches[-1].append(item)
            end = max(end, item[1][1])
        else:
            stretches.append([item])
            end = item[1][1]
    differing = 0.0
    for stretch in stretches:
        a = [w for plan, w in stretch if plan == "a"]
        if a != [w for plan, w in stretch if plan == "b"]:
            differing += sum(e - s for s, e in a)
    total = sum(e - s for s, e in plan_a)
    return differing / total if total else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk-s", default="28,24,20", help="the placements: chunk_s values, the default first")
    parser.add_argument("--parts", default="tune,confirm", help="development set parts ('' for none)")
    parser.add_argument("--recordings", default=".cache/fixtures/unseen_v1",
                        help="a folder of recordings with .txt references (bench/recordings.py); '' for none")
    parser.add_argument("--model", default="base")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(offline_pack_dir(args.model) / "tokenizer.json"))
    count_tokens = lambda text: max(1, len(tokenizer.encode(text).ids))  # noqa: E731
    lengths = [float(x) for x in args.chunk_s.split(",")]
    files = list(dev_files(tuple(args.parts.split(",")))) if args.parts else []
    if args.recordings:
        files += recordings(args.recordings)
    out = new_result_path(args.out, "placement_confidence")
    rows, agree, disagree, ties = [], 0, 0, 0
    for f in files:
        path = str(f.fixture.path)
        found = {}
        for length in lengths:
            df = wk.transcribe(path, model=args.model, progress=False, chunk_s=length)
            language = f.fixture.language or df.attrs["files"][path].get("language")
            errors = wer_details(f.fixture.reference, " ".join(df.text),
                                 normalize=normalizer_for(language)).errors
            plan, _ = wk.plan_chunks(path, chunk_s=length)
            found[length] = (errors, mean_logprob(df, count_tokens), [(c.start, c.end) for c in plan])
        for i, a in enumerate(lengths):
            for b in lengths[i + 1:]:
                (errors_a, lp_a, _), (errors_b, lp_b, _) = found[a], found[b]
                if errors_a == errors_b or lp_a == lp_b:
                    ties += 1
                elif (errors_a < errors_b) == (lp_a > lp_b):
                    agree += 1
                else:
                    disagree += 1
        row = {"file": f.name, "part": f.part,
               "placements": {f"{length:g}": {"errors": e, "mean_logprob": round(lp, 4), "chunks": len(plan)}
                              for length, (e, lp, plan) in found.items()}}
        if len(lengths) > 1:
            row["differing_share"] = round(differing_share(found[lengths[0]][2], found[lengths[1]][2]), 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
        summary = {"agree": agree, "disagree": disagree, "ties": ties}
        out.write_text(json.dumps({"date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "model": args.model,
                                   "machine": f"{cpu_model()}, {os.cpu_count()} cores", "chunk_s": lengths,
                                   "pairs": summary, "rows": rows}, indent=1))
    print("\n| file | part | " + " | ".join(f"chunk_s {x:g}: errors, mean log-prob" for x in lengths)
          + " | windows differ over |")
    print("|---|---|" + "---|" * len(lengths) + "---|")
    for row in rows:
        cells = [f"{p['errors']}, {p['mean_logprob']:.3f}" for p in row["placements"].values()]
        print(f"| {row['file']} | {row['part']} | " + " | ".join(cells)
              + f" | {row.get('differing_share', 0):.0%} |")
    print(f"\nPairs of placements of one file: the higher mean log-probability has the fewer errors in {agree}, "
          f"the more errors in {disagree}; {ties} tied. Results: {out}")


if __name__ == "__main__":
    main()
