"""speaker_link_threshold chosen on a TUNE corpus, reported on a CONFIRM corpus kept apart.

    nice -n 10 .venv/bin/python bench/speaker_linking.py [--files 8] [--threads 1] [--out bench/results]

Fixtures, built here from known voices (a pool of 11): flite slt, rms, awb, kal16; the Asterisk prompt voices
en, es, fr (real, one professional reader per language, 8 kHz); the two real speakers of pyannote's sample
call (cut along its STM turns); espeak-ng en-us and en+Annie. Each file is a conversation of 2-4 voices drawn
from the pool (turns of one or two clips, 0.3-0.8 s pauses, 8-11 turns, each voice at least twice; 30-60 s), so
the same voices recur across files. The TUNE corpus is built from odd seeds, the CONFIRM corpus from even
seeds: other files, other voice mixes, the same pool.

Each file is diarized once through the public `diarize` node (offline pipeline, speaker count found by
the pipeline, as a corpus run does); its turns' ``speaker_embeddings`` are what a corpus store keeps in the
facts. Linking (`whisperkit_nb.corpus.link.link_files`, the code `link_speakers` runs) is then swept over
thresholds on those stored embeddings. Each diarized speaker is mapped to the reference voice holding most
of its turns' time.

Metrics per threshold: **same-voice pairs linked** (pairs of diarized speakers of two different files with
the same reference voice that got one corpus label; goal >= 95 %), of the pairs missed those where
diarization split that voice into two speakers of one file (only one of the two can carry the voice's label),
and **different-voice merges** (pairs of diarized speakers with different reference voices under one corpus
label; goal 0), with the clusters holding more than one voice.

Rule, fixed before the first run: on the TUNE corpus, among the thresholds with no different-voice merge,
those with the highest same-voice rate; the middle one of them (the lower of two middles) is chosen, to
keep a margin on both sides. The CONFIRM corpus only reports.

Runs: speaker-linking-2026-12-03-1725.json (5 files per part, thresholds to 0.85: the tune plateau reached
the sweep's end, so the sweep was extended to 0.95 before the next run; that run's confirm table had been
printed), speaker-linking-2026-12-03-1728.json (8 files per part, the first five the same files), and
speaker-linking-2026-12-03-1730.json (the same diarizations, the split column added: the reported run, 0.65).
Then, 2026-12-04: ``--tune-seeds 1-16 --confirm-seeds 17-32`` (speaker-linking-2026-12-04-0532.json: the old
tune and confirm files as one tune corpus, 0.65 again; on 16 fresh files 0.65 merged two voices) and
``--tune-seeds 1-32 --confirm-seeds 33-48`` (speaker-linking-2026-12-04-0539.json: 0.70 chosen, no merge on 16
fresh files): the default until ``--compositions`` (below) chose 0.76.
Diarizations are cached beside each built file (``*.diarized-<key>.json``), so a rerun only links; the key is a hash
of the speaker code (`whisperkit_nb/speakers/`, `audio/bandwidth.py`), so a change there diarizes again (a cache
without it let a run of 2026-12-07 link the diarizations of a probe's rule that never shipped).

Same-file margin (2026-12-04, `whisperkit_nb.corpus.link.SAME_FILE_MARGIN`): every pair of the tune corpus that
the threshold left unlinked was a voice diarization had split in two speakers of one file, which the old rule
(two speakers of one file never share a label) could not rejoin. Linking now lets clusters sharing a file merge
through other files' speakers at threshold + margin; the margin is swept at the default threshold (`MARGINS`) and
chosen on the tune corpus by `choose_margin` (its rule fixed before the run). Different-voice merges now count
pairs inside one file too, and each file is also linked alone (a one-file corpus must never merge its speakers).

``--compositions`` (2026-12-04 11:40, the run that set both defaults: threshold 0.76, margin 0.0): threshold and
margin judged together over many corpora drawn from each part (`compositions`), chosen by `choose_composition`.

``--band tel`` (2026-12-08): every file band-passed to a telephone's 300-3400 Hz before it is diarized (voices grow
alike there: bench/README.md, "Which edge of the telephone band"); the same rules say what would be chosen.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

import assets  # noqa: E402
from result_file import new_result_path  # noqa: E402

FLITE = ("slt", "rms", "awb", "kal16")
ASTERISK = ("en", "es", "fr")
ESPEAK = ("en-us", "en+Annie")
THRESHOLDS = tuple(round(x, 2) for x in np.arange(0.20, 0.951, 0.05))
# SAME_FILE_MARGIN values swept at the default threshold; 1.0 is the rule before it (one file's speakers never join)
MARGINS = (0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 1.0)
# The grid of --compositions (threshold and margin together, over many corpora of each part)
COMPOSITION_THRESHOLDS = tuple(round(x, 2) for x in np.arange(0.60, 0.851, 0.01))
COMPOSITION_MARGINS = (0.0, 0.02, 0.04, 0.06, 0.08)
GAP_S = (0.3, 0.8)


# The voices ----------------------------------------------------------------------------------------


def voice_pool() -> dict[str, list[np.ndarray]]:
    """Voice -> clips (int16, 16 kHz)."""
    pool: dict[str, list[np.ndarray]] = {}
    for voice in FLITE:
        pool[f"flite-{voice}"] = [assets.read_wav(assets._flite_utterance(voice, s))[0] for s in assets.SENTENCES[:24]]
    for lang in ASTERISK:
        prompts = [p for p in assets.asterisk_prompts(lang) if 1.5 <= p.duration <= 6.0][:40]
        pool[f"asterisk-{lang}"] = [_16k(*assets.read_wav(p.path)) for p in prompts]
    sample = assets.pyannote_sample()
    audio, rate = assets.read_wav(sample.path)
    audio = _16k(audio, rate)
    for turn in sample.turns:
        if turn.end - turn.start >= 1.0:
            pool.setdefault(f"pyannote-{turn.speaker}", []).append(
                audio[int(turn.start * 16000):int(turn.end * 16000)])
    for voice in ESPEAK:
        pool[f"espeak-{voice}"] = [_espeak(voice, s) for s in assets.SENTENCES[24:44]]
    return pool


def _16k(samples: np.ndarray, rate: int) -> np.ndarray:
    return samples if rate == 16000 else assets._to_int16(assets._to_16k(samples, rate))


def _espeak(voice: str, text: str) -> np.ndarray:
    key = hashlib.sha1(f"{voice}\n{text}".encode()).hexdigest()[:16]
    path = assets.FIXTURE_DIR / "espeak_utterances" / f"{voice}_{key}.wav"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True, capture_output=True)
            samples, rate = assets.read_wav(raw)
            assets.write_wav(path, _16k(samples, rate))
    return assets.read_wav(path)[0]


def conversation(pool: dict[str, list[np.ndarray]], seed: int, folder: Path) -> dict:
    """One file of 2-4 voices from the pool (seeded); its path and reference turns."""
    rng = np.random.default_rng(seed)
    names = sorted(pool)
    voices = [names[i] for i in rng.choice(len(names), size=int(rng.integers(2, 5)), replace=False)]
    order = list(voices) * 2  # every voice at least twice
    order += [voices[i] for i in rng.integers(0, len(voices), size=int(rng.integers(8, 12)) - len(order))]
    rng.shuffle(order)
    pieces, turns, pos = [], [], int(0.3 * 16000)
    for voice in order:
        clips = [pool[voice][i] for i in rng.choice(len(pool[voice]), size=int(rng.integers(1, 3)))]
        audio = np.concatenate([np.concatenate([c, np.zeros(int(0.15 * 16000), np.int16)]) for c in clips])
        pieces.append((pos, audio))
        turns.append({"start": pos / 16000, "end": (pos + len(audio)) / 16000, "voice": voice})
        pos += len(audio) + int(rng.uniform(*GAP_S) * 16000)
    samples = np.zeros(pos, np.int16)
    for start, audio in pieces:
        samples[start:start + len(audio)] = audio
    path = assets.write_wav(folder / f"link_seed{seed}_{'+'.join(voices)}.wav", samples)
    return {"file": str(path), "seed": seed, "voices": voices, "turns": turns, "duration": round(pos / 16000, 2)}


# Diarization and scoring ---------------------------------------------------------------------------


def diarize_file(item: dict) -> dict:
    import whisperkit_nb as wk

    started = time.process_time()
    turns = wk.diarize(item["file"], progress=False)
    cpu = time.process_time() - started
    embeddings = turns.attrs.get("speaker_embeddings") or {}
    voice_of = {}
    for speaker in embeddings:
        spoken: dict[str, float] = {}
        for row in turns[turns.speaker == speaker].itertuples():
            for ref in item["turns"]:
                overlap = min(row.end, ref["end"]) - max(row.start, ref["start"])
                if overlap > 0:
                    spoken[ref["voice"]] = spoken.get(ref["voice"], 0.0) + overlap
        voice_of[speaker] = max(spoken, key=spoken.get) if spoken else None
    return {**item, "turns": None, "speakers": len(embeddings), "speaker_voice": voice_of,
            "speaker_embeddings": embeddings, "cpu_s": round(cpu, 1)}


def score(files: list[dict], threshold: float, margin: float | None = None) -> dict:
    """Linking of ``files`` at ``threshold`` (``margin``: `SAME_FILE_MARGIN`, None for the default)."""
    from whisperkit_nb.corpus.link import SAME_FILE_MARGIN, link_files

    margin = SAME_FILE_MARGIN if margin is None else margin
    linking = link_files({f["file"]: {"speaker_embeddings": f["speaker_embeddings"]} for f in files}, threshold,
                         same_file_margin=margin)
    points = [(f["file"], s, f["speaker_voice"][s], linking.labels[f["file"]][s])
              for f in files for s in f["speaker_embeddings"]]
    # A voice diarization split into two speakers of one file: only one of them can share its label with
    # another file's (two speakers of one file never share one), so such pairs are counted apart too.
    split = {(f["file"], v) for f in files for v in f["speaker_voice"].values()
             if list(f["speaker_voice"].values()).count(v) > 1}
    same, linked, merged, pairs, blocked = 0, 0, 0, [], 0
    split_pairs, rejoined = 0, 0
    for a, b in itertools.combinations(points, 2):
        if a[2] is None or b[2] is None:
            continue
        if a[0] == b[0]:  # two speakers of one file: a split voice rejoined, or two voices merged
            if a[2] == b[2]:
                split_pairs += 1
                rejoined += a[3] == b[3]
            elif a[3] == b[3]:
                merged += 1
                pairs.append({"voices": [a[2], b[2]], "files": [Path(a[0]).name], "label": a[3]})
            continue
        if a[2] == b[2]:
            same += 1
            linked += a[3] == b[3]
            if a[3] != b[3]:
                pairs.append({"voice": a[2], "files": [Path(a[0]).name, Path(b[0]).name], "labels": [a[3], b[3]],
                              "diarization_split": (a[0], a[2]) in split or (b[0], b[2]) in split})
                blocked += pairs[-1]["diarization_split"]
        elif a[3] == b[3]:
            merged += 1
            pairs.append({"voices": [a[2], b[2]], "files": [Path(a[0]).name, Path(b[0]).name], "label": a[3]})
    clusters: dict[str, set] = {}
    for _, _, voice, label in points:
        clusters.setdefault(label, set()).add(voice)
    return {"threshold": threshold, "same_voice_pairs": same, "same_voice_linked": linked,
            "same_voice_rate": round(linked / same, 4) if same else None,
            "same_voice_missed_by_diarization_split": blocked, "different_voice_merges": merged,
            "split_voices_in_one_file": split_pairs, "split_voices_rejoined": rejoined, "margin": margin,
            "mixed_clusters": sorted(k for k, v in clusters.items() if len(v) > 1), "labels": len(clusters),
            "voices": len({p[2] for p in points}), "failures": pairs,
            "per_file": {Path(f).name: labels for f, labels in linking.labels.items()}}


def alone_merges(files: list[dict], threshold: float, margin: float | None = None) -> int:
    """Different-voice merges when each file is linked alone (a one-file corpus: nothing ties its speakers)."""
    return sum(score([f], threshold, margin)["different_voice_merges"] for f in files)


def choose_margin(sweep: list[dict]) -> float:
    """The margin rule, fixed before its first run: among the margins with no different-voice merge on the tune
    corpus (linked together, and each file alone), those linking the most same-voice pairs (across files, and
    split voices rejoined inside one); the middle one (the lower of two middles)."""
    clean = [r for r in sweep if r["different_voice_merges"] == 0 and r["alone_merges"] == 0]
    return middle_of_best(clean, lambda r: r["same_voice_linked"] + r["split_voices_rejoined"])["margin"]


def compositions(files: list[dict], seed: int = 0, sizes: tuple[int, ...] = (4, 8, 12),
                 count: int = 40) -> list[list[dict]]:
    """Corpora drawn from ``files``: the whole part, ``count`` seeded random sub-corpora of each size, and each
    file alone. Linking depends on what else a corpus holds (a merge of two voices can appear in a small corpus
    and not in a large one), so a threshold is judged on many compositions, not one."""
    rng = random.Random(seed)
    drawn = [rng.sample(files, k) for k in sizes if k < len(files) for _ in range(count)]
    return [files, *drawn, *[[f] for f in files]]


def sweep_compositions(files: list[dict], thresholds, margins) -> list[dict]:
    """Per (threshold, margin): corpora (of `compositions`) with any different-voice merge, merged pairs, and
    same-voice pairs linked over all of them (pooled)."""
    corpora = compositions(files)
    rows = []
    for threshold in thresholds:
        for margin in margins:
            scores = [score(corpus, threshold, margin) for corpus in corpora]
            linked = sum(r["same_voice_linked"] for r in scores)
            pairs = sum(r["same_voice_pairs"] for r in scores)
            rows.append({"threshold": threshold, "margin": margin, "corpora": len(corpora),
                         "corpora_with_a_merge": sum(r["different_voice_merges"] > 0 for r in scores),
                         "merged_pairs": sum(r["different_voice_merges"] for r in scores),
                         "same_voice_linked": linked, "same_voice_pairs": pairs,
                         "same_voice_rate": round(linked / pairs, 4) if pairs else None,
                         "whole_part": {k: scores[0][k] for k in ("same_voice_linked", "same_voice_pairs",
                                                                  "different_voice_merges", "split_voices_rejoined",
                                                                  "split_voices_in_one_file")}})
    return rows


def choose_composition(rows: list[dict]) -> dict | None:
    """The composition rule (2026-12-04 11:50, after the single-corpus rule's 0.70 was seen to merge two voices in
    18 of 121 tune corpora): among the (threshold, margin) pairs with no different-voice merge in any tune
    corpus, those linking the largest share of same-voice pairs; the middle one of them. None where every pair
    merges two voices somewhere (the telephone band, 2026-12-08)."""
    clean = [r for r in rows if r["corpora_with_a_merge"] == 0 and r["same_voice_rate"] is not None]
    return middle_of_best(clean, lambda r: r["same_voice_rate"]) if clean else None


def choose(sweep: list[dict]) -> float:
    clean = [r for r in sweep if r["different_voice_merges"] == 0 and r["same_voice_rate"] is not None]
    if not clean:
        return min(sweep, key=lambda r: (r["different_voice_merges"], -r["threshold"]))["threshold"]
    return middle_of_best(clean, lambda r: r["same_voice_rate"])["threshold"]


def middle_of_best(rows: list[dict], value) -> dict:
    """Of the rows (in sweep order) with the highest ``value(row)``, the middle one (the lower of two middles):
    the choice keeps a margin on both sides of a plateau."""
    best = max(value(r) for r in rows)
    top = [r for r in rows if value(r) == best]
    return top[(len(top) - 1) // 2]


def _seeds(text: str) -> list[int]:
    """"1-16" -> [1, ..., 16]; "" -> []."""
    if not text:
        return []
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def speaker_code_key() -> str:
    """A short hash of the speaker stage's source (`whisperkit_nb/speakers/*.py`, and the low-band measure its split
    reads, `whisperkit_nb/audio/bandwidth.py`): what a cached diarization ran."""
    digest = hashlib.sha256()
    package = HERE.parent / "whisperkit_nb"
    for source in [*sorted((package / "speakers").glob("*.py")), package / "audio" / "bandwidth.py"]:
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()[:12]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8, help="files per part (odd seeds tune, even confirm)")
    parser.add_argument("--tune-seeds", default="", help="e.g. 1-16: these seeds tune instead of the odd ones")
    parser.add_argument("--confirm-seeds", default="", help="e.g. 17-32: these seeds confirm instead of the even ones")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compositions", action="store_true",
                        help="also judge threshold and margin together over many corpora of each part (slow)")
    parser.add_argument("--band", choices=("tel",), default="",
                        help="every file band-passed to a telephone's 300-3400 Hz (`assets.band_filter`)")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from whisperkit_nb.options import TranscribeOptions

    default = TranscribeOptions.speaker_link_threshold
    out = new_result_path(args.out, "speaker-linking")

    def save() -> None:  # rewritten as each part ends; compact, the embeddings are long
        out.write_text(json.dumps(result, separators=(",", ":"), default=str))

    folder = assets.FIXTURE_DIR / "speaker_linking"
    folder.mkdir(parents=True, exist_ok=True)
    pool = voice_pool()
    parts = {"tune": _seeds(args.tune_seeds) or [2 * i + 1 for i in range(args.files)],
             "confirm": _seeds(args.confirm_seeds) or [2 * i + 2 for i in range(args.files)]}
    result: dict = {"pool": {v: len(c) for v, c in pool.items()}, "thresholds": THRESHOLDS, "parts": {},
                    "seeds": parts, "band": args.band or "full"}
    code_key = speaker_code_key()
    for part, seeds in parts.items():
        files = []
        for seed in seeds:
            item = conversation(pool, seed, folder)
            if args.band:
                item["file"] = str(assets.band_filtered_wav(Path(item["file"]), args.band))
            cached = Path(item["file"]).with_suffix(f".diarized-{code_key}.json")  # this file, this code
            if cached.is_file():
                files.append(json.loads(cached.read_text()))
            else:
                files.append(diarize_file(item))
                cached.write_text(json.dumps(files[-1]))
            print(f"{part} seed {seed}: {files[-1]['voices']} -> {files[-1]['speakers']} speakers "
                  f"{files[-1]['speaker_voice']} ({files[-1]['cpu_s']} CPU s)", flush=True)
        sweep = [score(files, t) for t in THRESHOLDS]
        margins = [{**score(files, default, m), "alone_merges": alone_merges(files, default, m)} for m in MARGINS]
        result["parts"][part] = {"files": files, "sweep": sweep, "margin_sweep": margins}
        save()
    chosen = choose(result["parts"]["tune"]["sweep"])
    result["chosen"] = chosen
    result["chosen_margin"] = choose_margin(result["parts"]["tune"]["margin_sweep"])
    save()
    if args.compositions:
        for part in parts:
            rows = sweep_compositions(result["parts"][part]["files"], COMPOSITION_THRESHOLDS, COMPOSITION_MARGINS)
            result["parts"][part]["compositions"] = rows
        pick = choose_composition(result["parts"]["tune"]["compositions"])
        result["chosen_composition"] = pick and {"threshold": pick["threshold"], "margin": pick["margin"]}
        save()
        print_compositions(result, pick, default)
    print(f"\nchosen on tune: threshold {chosen}, same-file margin {result['chosen_margin']} "
          f"(at the default threshold {default})  ({out})\n")
    print("| part | same-file margin | same-voice pairs linked (two files) | split voices rejoined (one file) "
          "| different-voice merges | merges with each file linked alone | labels / voices |")
    print("|---|---|---|---|---|---|---|")
    for part in parts:
        for r in result["parts"][part]["margin_sweep"]:
            mark = " **chosen**" if r["margin"] == result["chosen_margin"] else ""
            margin = "never (before)" if r["margin"] >= 1.0 else r["margin"]
            print(f"| {part} | {margin}{mark} | {r['same_voice_linked']}/{r['same_voice_pairs']} "
                  f"({100 * (r['same_voice_rate'] or 0):.1f} %) | {r['split_voices_rejoined']}/"
                  f"{r['split_voices_in_one_file']} | {r['different_voice_merges']} | {r['alone_merges']} | "
                  f"{r['labels']} / {r['voices']} |")
    print()
    print("| part | threshold | same-voice pairs linked | of them missed where diarization split the voice "
          "| different-voice merges | mixed clusters | labels / voices |")
    print("|---|---|---|---|---|---|---|")
    for part in parts:
        for r in result["parts"][part]["sweep"]:
            mark = " **chosen**" if r["threshold"] == chosen else ""
            print(f"| {part} | {r['threshold']}{mark} | {r['same_voice_linked']}/{r['same_voice_pairs']} "
                  f"({100 * (r['same_voice_rate'] or 0):.1f} %) | {r['same_voice_missed_by_diarization_split']} | "
                  f"{r['different_voice_merges']} | "
                  f"{len(r['mixed_clusters'])} | {r['labels']} / {r['voices']} |")


def print_compositions(result: dict, pick: dict | None, default: float) -> None:
    from whisperkit_nb.corpus.link import SAME_FILE_MARGIN

    corpora = result["parts"]["tune"]["compositions"][0]["corpora"]
    chosen = (f"threshold {pick['threshold']}, margin {pick['margin']}" if pick else
              "nothing: every threshold and margin merges two voices in some tune corpus")
    print(f"\ncompositions: each part whole, 40 random corpora of 4, 8 and 12 of its files, each file alone "
          f"({corpora} corpora of the tune part); chosen on tune: {chosen}\n")
    picked, pick = pick is not None, pick or {"threshold": default, "margin": SAME_FILE_MARGIN}  # else the defaults
    print("| part | threshold | margin | corpora with a merge | merged pairs | same-voice pairs linked (all corpora) "
          "| whole part: linked, merges, split voices rejoined |")
    print("|---|---|---|---|---|---|---|")
    show = {(default, SAME_FILE_MARGIN), (pick["threshold"], pick["margin"])}  # the defaults, and the pick
    show |= {(round(t, 2), pick["margin"]) for t in np.arange(0.66, 0.851, 0.02)}
    for part, data in result["parts"].items():
        for r in data["compositions"]:
            if (r["threshold"], r["margin"]) not in show:
                continue
            w = r["whole_part"]
            chosen_row = picked and (r["threshold"], r["margin"]) == (pick["threshold"], pick["margin"])
            mark = " **chosen**" if chosen_row else ""
            print(f"| {part} | {r['threshold']}{mark} | {r['margin']} | {r['corpora_with_a_merge']}/{r['corpora']} | "
                  f"{r['merged_pairs']} | {r['same_voice_linked']}/{r['same_voice_pairs']} "
                  f"({100 * (r['same_voice_rate'] or 0):.1f} %) | {w['same_voice_linked']}/{w['same_voice_pairs']}, "
                  f"{w['different_voice_merges']}, {w['split_voices_rejoined']}/{w['split_voices_in_one_file']} |")


if __name__ == "__main__":
    main()
