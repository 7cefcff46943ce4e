"""Splitting speakers that hold several voices, from whole turns (`whisperkit_nb.speakers.regroup`): DER and speaker
counts per file with the rule and without it (pyannote's own count, after `refine_turns`), clean, noisy, band-passed.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/diarization_recluster.py [--rules 0.55/0.05/4,0.6/0.05/4]
        [--parts noisy,single] [--jobs 2]

The offline pipeline labels speech through 10 s windows; where similar voices alternate in short turns (the
Asterisk readers, 1.5-8 s a prompt) it merges them, and `refine_turns` can move a turn between the speakers pyannote
found but never adds one. `regroup_turns` clusters each of `diarize`'s speakers' turns of at least `REFINE_MIN_S`
afresh on whole-turn CAM++ embeddings (average linkage on cosine distance, cut at 1 - threshold); a group with less
than a share of the file's embedded speech or less than some seconds of it joins the one whose centroid is nearest;
a speaker left with several groups is split, and each shorter turn of it takes the group most of its long turns
went to. Each file is diarized once with
``diarize_module.REGROUP`` off, then scored as it is ("pyannote") and after each rule ``threshold/share/seconds``.
DER: pyannote.metrics' full scoring (no collar, overlap scored) of the exclusive turns.

Parts: bench/diarization_step.py's (tune, confirm, fresh); "probe", eight conversations of the Asterisk readers,
LibriVox and espeak-ng voices (seeds 41-48) the clustering threshold was probed on by hand (2026-12-07); "new", ten
conversations built after the first rule (0.55, a 5% share) had been read off those, to confirm it; "noisy-15dB",
"noisy-5dB", "noisy-tel": pyannote's real call, bench/diarization.py's flite 3-voice and Asterisk 3-reader files and
the "new" part with `assets.with_background_noise` at 15 and 5 dB SNR, and band-passed to 300-3400 Hz; "single",
"single-15dB", "single-5dB": one reader (Asterisk en, es, fr: 3 minutes each; LibriVox: 26 s), clean and in noise;
"confirm2", "confirm2-15dB": ten conversations (seeds 70-79) fixed before the seconds floor was chosen on the others
and not looked at until it had been, clean and at 15 dB; "short": bench/speaker_linking.py's 48 files (30-60 s, 2-4
of 11 voices, two or three turns a voice; seeds 1-48), which showed that clustering all turns afresh merges voices
pyannote keeps apart, hence a rule that only splits; "short-tel": those band-passed to 300-3400 Hz (held aside
while the telephone threshold was chosen); "band": the noisy part's bases high-passed at 300 Hz ("band-hp300") and
low-passed at 3400 Hz ("band-lp3400"), which showed that the low edge is the one that makes voices alike. A rule's
threshold "auto" is the library's: `split_threshold` of the file's `low_band_share`, which is in each row. Each
child runs every ``--jobs``-th file on one torch thread. Writes ``diarization-recluster-<date>-<HHMM>.json``.
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


CONFIRM2 = "confirm2"
# Fixed at 2026-12-07 11:10, before the seconds floor was chosen; first scored once it had been.
CONFIRM2_VOICES = (
    (("asterisk:en", "asterisk:es"), 40, 70), (("asterisk:fr", "asterisk:en"), 40, 71),
    (("asterisk:es", "asterisk:fr", "asterisk:en"), 60, 72), (("flite:awb", "asterisk:es"), 30, 73),
    (("espeak:en-gb-x-rp", "espeak:en-us"), 24, 74), (("librivox", "asterisk:fr"), 30, 75),
    (("flite:kal16", "flite:awb", "flite:slt", "flite:rms"), 40, 76), (("asterisk:en", "flite:slt"), 24, 77),
    (("espeak:en-gb-scotland", "asterisk:en"), 30, 78), (("asterisk:en", "asterisk:es"), 100, 79),
)
NOISY, SINGLE, SHORT, SHORT_TEL, BAND = "noisy", "single", "short", "short-tel", "band"
ALL_PARTS = ("tune", "confirm", "fresh", PROBE, NEW, NOISY, SINGLE, CONFIRM2, SHORT, SHORT_TEL, BAND)


def files(parts: list[str] | None = None) -> list[tuple[str, str, object, object]]:
    """(part, name, fixture, reference) for every file of ``parts`` (`ALL_PARTS` by default; "noisy", "single",
    "confirm2" and "band" bring their degraded copies, and one copy alone can be named: "noisy-tel")."""
    import dataclasses

    import assets
    import diarization
    import diarization_step

    requested = list(parts or ALL_PARTS)
    parts = requested + [part.split("-")[0] for part in requested]  # a copy is built with its family
    found = [row for row in diarization_step.files() if row[0] in parts]
    conversations = lambda part, table: [  # noqa: E731
        (part, f"s{seed} {'+'.join(voices)}, {turns} turns", fixture, diarization.turns_of(fixture))
        for voices, turns, seed in table for fixture in [assets.voice_conversation(voices, turns, seed=seed)]]
    if PROBE in parts:
        found += conversations(PROBE, PROBE_VOICES)
    if NEW in parts:
        found += conversations(NEW, NEW_VOICES)
    if NOISY in parts or BAND in parts:
        sample = assets.pyannote_sample()
        bases = [("pyannote call", sample, sample.path.with_suffix(".rttm"))]
        bases += [(name, fixture, ref) for name, (fixture, ref) in diarization.fixtures().items()
                  if name in ("flite 3 voices", "asterisk 3 real voices")]
        bases += [(name, fixture, ref) for _, name, fixture, ref in conversations(NEW, NEW_VOICES)]
        kinds = [("15dB", "5dB", "tel") if NOISY in parts else (), ("hp300", "lp3400") if BAND in parts else ()]
        for kind in kinds[0] + kinds[1]:
            found += [(f"{NOISY if kind in kinds[0] else BAND}-{kind}", f"{name} [{kind}]", degraded(fixture, kind),
                       ref) for name, fixture, ref in bases]
    if SINGLE in parts:
        singles = [(f"asterisk {lang} 3 min, one reader", assets.asterisk_long(3.0, 0.0, lang, seed=5))
                   for lang in ("en", "es", "fr")] + [("librivox one reader", assets.librivox_concat())]
        for kind in ("", "15dB", "5dB", "tel"):
            for name, fixture in singles:
                turns = [dataclasses.replace(t, speaker="reader") for t in fixture.turns]
                one = dataclasses.replace(fixture, turns=turns)
                found.append((f"{SINGLE}-{kind}" if kind else SINGLE, f"{name} [{kind}]" if kind else name,
                              degraded(one, kind) if kind else one, diarization.turns_of(one)))
    if CONFIRM2 in parts:
        for part, name, fixture, ref in conversations(CONFIRM2, CONFIRM2_VOICES):
            seed = int(name[1:].split()[0])
            found += [(part, name, fixture, ref), (f"{CONFIRM2}-15dB", f"{name} [15dB]",
                                                   degraded(fixture, "15dB", seed=seed), ref),
                      (f"{CONFIRM2}-tel", f"{name} [tel]", degraded(fixture, "tel", seed=seed), ref)]
    if SHORT in parts or SHORT_TEL in parts:
        import speaker_linking

        pool, folder = speaker_linking.voice_pool(), assets.FIXTURE_DIR / "speaker_linking"
        folder.mkdir(parents=True, exist_ok=True)
        for seed in range(1, 49):
            item = speaker_linking.conversation(pool, seed, folder)
            turns = [assets.Turn(t["start"], t["end"], "", speaker=t["voice"]) for t in item["turns"]]
            fixture = assets.Fixture(Path(item["file"]), "", turns, [], None)
            name, reference = f"seed {seed} {'+'.join(item['voices'])}", diarization.turns_of(fixture)
            if SHORT in parts:
                found.append((SHORT, name, fixture, reference))
            if SHORT_TEL in parts:
                found.append((SHORT_TEL, f"{name} [tel]", degraded(fixture, "tel"), reference))
    return [row for row in found if row[0] in requested or row[0].split("-")[0] in requested]


def degraded(fixture, kind: str, *, seed: int = 0):
    """``fixture`` with room noise at 15 or 5 dB SNR (``"15dB"``, ``"5dB"``) or filtered as `assets.BAND_FILTERS`
    says (``"tel"``: 300-3400 Hz; ``"hp300"``, ``"lp3400"``: one edge of it), written once beside the fixtures; the
    same turns."""
    import dataclasses

    import assets
    import numpy as np

    if kind in assets.BAND_FILTERS:  # a filter has no seed
        return assets.band_filtered(fixture, kind)
    path = assets.FIXTURE_DIR / "degraded" / f"{fixture.path.stem}-{kind}-seed{seed}.wav"
    if not path.exists():
        audio = assets.with_background_noise(fixture, float(kind.removesuffix("dB")), seed=seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        assets.write_wav(path, np.clip(np.rint(audio * 32768), -32768, 32767).astype("<i2"))
    return dataclasses.replace(fixture, path=path)


def rules(text: str) -> dict[str, tuple[float | None, float, float]]:
    """``"auto/0.05/4,0.55/0.05/4,..."`` -> {name: (threshold, min_share, min_speech_s)}; threshold ``auto``
    (``None``) is the library's, `split_threshold` of the file's `low_band_share`."""
    found = {}
    for rule in text.split(","):
        threshold, share, seconds = rule.split("/")
        found[rule] = (None if threshold == "auto" else float(threshold), float(share), float(seconds))
    return found


def diarized(parts: list[str] | None, index: int, jobs: int, **switches):
    """Every ``jobs``-th file of ``parts`` from ``index``, diarized on one torch thread with the ``diarize`` module's
    ``switches`` set (``REGROUP=False``, ``FOLD=False``): (part, name, fixture, reference, source, turns, embedded),
    ``embedded`` as `diarize` embeds the turns."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    import assets

    from whisperkit_nb.audio.source import open_audio
    from whisperkit_nb.options import TranscribeOptions
    from whisperkit_nb.speakers import diarize as diarize_module

    for key, value in switches.items():
        setattr(diarize_module, key, value)
    options = TranscribeOptions(diarize=True, progress=False, device="cpu")
    embedder = diarize_module.speaker_embedder(diarize_module.load_pipeline(options))
    diarize_module.diarize(open_audio(str(assets.pyannote_sample().path)).in_memory(), options)  # warm-up
    for part, name, fixture, reference in files(parts)[index::jobs]:
        source = open_audio(str(fixture.path)).in_memory()
        turns = diarize_module.diarize(source, options)
        waveform = torch.from_numpy(np.ascontiguousarray(source.samples, dtype=np.float32))
        embedded = diarize_module.turn_embeddings(turns, waveform, embedder)
        yield part, name, fixture, reference, source, turns, embedded


def child(index: int, jobs: int, rule_text: str, parts: list[str] | None) -> None:
    """Every ``jobs``-th file from ``index``, one thread: a JSON line per file on stdout."""
    from whisperkit_nb.scoring.speakers import diarization_error_rate
    from whisperkit_nb.speakers import diarize as diarize_module
    from whisperkit_nb.speakers.regroup import regroup_turns, split_threshold

    # pyannote's own count; each rule below is applied to the same turns
    for part, name, fixture, reference, source, turns, embedded in diarized(parts, index, jobs, REGROUP=False):
        low_share = turns.attrs["low_band_share"]  # diarize measures it whether or not it splits
        row = {"part": part, "file": name, "audio_s": round(source.duration, 1), "turns": len(turns),
               "low_band_share": round(low_share, 6),
               "clustered_turns": int(((turns.end - turns.start).to_numpy()[embedded[0]]
                                       >= diarize_module.REFINE_MIN_S).sum()),
               "true_speakers": len({t.speaker for t in fixture.turns}),
               "pyannote": [int(turns.speaker.nunique()), round(diarization_error_rate(turns, reference), 4)]}
        for key, (threshold, share, seconds) in rules(rule_text).items():
            regrouped = regroup_turns(turns, embedded, min_s=diarize_module.REFINE_MIN_S,
                                      threshold=split_threshold(low_share) if threshold is None else threshold,
                                      min_share=share, min_speech_s=seconds)
            row[key] = [int(regrouped.speaker.nunique()), round(diarization_error_rate(regrouped, reference), 4)]
        print(json.dumps(row), flush=True)


def run_child(index: int, jobs: int, rule_text: str, parts: str | None, script: str = __file__) -> list[dict]:
    """``script --child index`` in a process of its own (one torch thread), its JSON lines parsed."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, script, "--child", str(index), "--jobs", str(jobs), "--rules", rule_text,
               *(["--parts", parts] if parts else [])]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise SystemExit(f"child {index} failed:\n{done.stderr[-3000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def parsed_with_parts(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """``parser``'s arguments with the ones every bench over these files takes: --parts, --jobs, --out, --child."""
    parser.add_argument("--parts", help=f"only these parts ({', '.join(ALL_PARTS)}) or copies of one (noisy-tel), "
                                        "comma-separated")
    parser.add_argument("--jobs", type=int, default=2, help="children at once, one process and one thread each")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def rows_from_children(args: argparse.Namespace, script: str = __file__) -> list[dict]:
    """Every file's row from ``args.jobs`` children of ``script``, in the files' order; the fixtures are built here
    first, before the children race to."""
    order = [name for _, name, _, _ in files(args.parts and args.parts.split(","))]
    with ThreadPoolExecutor(args.jobs) as pool:
        found = pool.map(lambda i: run_child(i, args.jobs, args.rules, args.parts, script), range(args.jobs))
        return sorted((row for part in found for row in part), key=lambda r: order.index(r["file"]))


def summary(rows: list[dict], key: str) -> dict:
    """The files, their duration-weighted DER and how many have the right number of speakers, under ``key``."""
    audio = sum(r["audio_s"] for r in rows)
    return {"files": len(rows), "der_weighted": round(sum(r[key][1] * r["audio_s"] for r in rows) / audio, 4),
            "right_speaker_counts": sum(r[key][0] == r["true_speakers"] for r in rows)}


def machine_line(jobs: int) -> str:
    return f"{cpu_model()}, {os.cpu_count()} cores, one torch thread per child, {jobs} children"


def report(lines: list[str], out: str, name: str, started: dt.datetime, machine: str, rule_names: list[str],
           totals: dict, rows: list[dict], *, indent: int = 2) -> None:
    """Print ``lines`` and write the run (``name``-<date>-<HHMM>.json under ``out``, never an existing file)."""
    print("\n".join(lines))
    path = new_result_path(out, name)
    path.write_text(json.dumps({"date": f"{started:%Y-%m-%d %H:%M}", "machine": machine,
                                "rules": rule_names, "totals": totals, "files": rows}, indent=indent))
    print(f"\nJSON: {path}")


def main() -> None:
    from whisperkit_nb.speakers import regroup

    floors = f"{regroup.REGROUP_MIN_SHARE}/{regroup.REGROUP_MIN_SPEECH_S:g}"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default=f"auto/{floors},{regroup.REGROUP_THRESHOLD}/{floors},"
                                           f"{regroup.LOW_CUT_REGROUP_THRESHOLD}/{floors}",
                        help="threshold/min_share/min_speech_s, comma-separated; threshold 'auto' is the library's "
                             "split_threshold of the file's low_band_share (default: the library's rule first, then "
                             "its two thresholds on every file)")
    args = parsed_with_parts(parser)
    if args.child is not None:
        child(args.child, args.jobs, args.rules, args.parts and args.parts.split(","))
        return
    started = dt.datetime.now()
    rows = rows_from_children(args)

    keys = ["pyannote", *rules(args.rules)]
    parts = list(dict.fromkeys(r["part"] for r in rows))
    totals = {key: {part: summary([r for r in rows if r["part"] == part], key) for part in parts} for key in keys}
    machine = machine_line(args.jobs)
    lines = [f"{started:%Y-%m-%d %H:%M} · {machine} · offline pipeline (segmentation-3.0 + CAM++)", "",
             "speakers found (true), DER; rules are threshold/share/seconds", "",
             "| file | part | audio s | turns (clustered) | pyannote | " + " | ".join(keys[1:]) + " |",
             "|---|---|---|---|---|" + "---|" * (len(keys) - 1)]
    for r in rows:
        cells = [f"{r[k][0]} ({r['true_speakers']}), {r[k][1]:.3f}" for k in keys]
        lines.append(f"| {r['file']} | {r['part']} | {r['audio_s']} | {r['turns']} ({r['clustered_turns']}) | "
                     + " | ".join(cells) + " |")
    lines += ["", "| part | files | " + " | ".join(f"{k}: DER, counts right" for k in keys) + " |",
              "|---|---|" + "---|" * len(keys)]
    for part in parts:
        cells = [f"{totals[k][part]['der_weighted']:.4f}, {totals[k][part]['right_speaker_counts']}" for k in keys]
        lines.append(f"| {part} | {totals['pyannote'][part]['files']} | " + " | ".join(cells) + " |")
    report(lines, args.out, "diarization-recluster", started, machine, list(rules(args.rules)), totals, rows)


if __name__ == "__main__":
    main()
