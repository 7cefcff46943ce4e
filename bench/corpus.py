"""Corpus runs (issue 15, acceptance 2): many short clips as a corpus vs a per-file loop vs the same audio as
one file; and a corpus of longer files with 1 and 2 preparation workers. CPU, model "base", default engine.

    .venv/bin/python bench/corpus.py [--clips 24] [--files 10] [--cases a,b] [--rounds 1] [--threads 0]
                                     [--out bench/results/corpus-<date>.json]
    .venv/bin/python bench/corpus.py --quick            # smoke run: 3 short clips, 3 short files

Case (a): ``--clips`` clips of 30-45 s (``--quick``: 3 of 8-12 s) transcribed three ways in one process, the
model loaded once before any timing (a warm-up transcription of a 10 s piece) and every file read once so
the OS cache holds it:

- one file: the clips concatenated with 1 s of room tone between them, ``wk.transcribe(path, model="base")``;
- corpus: ``wk.transcribe_corpus(clips_folder, store=<fresh temporary folder>, model="base")``;
- loop: ``for clip in clips: wk.transcribe(clip, model="base")``.

Wall and CPU seconds of each (CPU: every thread of the process, and worker processes once they have
exited: on a shared machine the steadier figure), the ratios corpus / one file (the issue's goal: at most
1.25) and loop / one file, and word error rates (Whisper's English normaliser, `whisperkit_nb.scoring`) against the clips'
reference texts: summed over all clips, and per clip (for the one-file run, each segment goes to the clip
its midpoint falls in).

Case (b): ``--files`` files of 1-3 min (``--quick``: 3 of 12-20 s) as a corpus with ``num_workers=1`` and
``num_workers=2``, each into a fresh store. Where `transcribe_corpus` has no ``num_workers`` yet (detected
with `inspect.signature` and `TranscribeOptions`' fields), one run with the defaults is timed instead and
the table says "num_workers not supported".

The audio: 16 kHz mono WAV files built once into ``$WHISPERKIT_NB_FIXTURES/bench_corpus/`` (default
``.cache/fixtures``) from the offline sources of ``tests/assets.py``, deterministic for a seed. Each clip is
one of six kinds in turn: Asterisk prompts (real speech, one professional voice, 8 kHz), a flite
conversation between two of the voices slt, rms, awb and kal16 (synthetic), Asterisk prompts again,
2-4 consecutive LibriVox audiobook clips (a real reader) then prompts, prompts again, and pyannote's 30 s
phone call (two real voices) then prompts. Pauses of 0.3-1.2 s between utterances; a room tone (the seeded
coloured noise and 50 Hz hum of ``tests/assets.py``, 12 dB lower: about -54 dBFS RMS) lies under each whole
clip, so pauses are never digital zero. The reference of a clip is its utterances' texts in order.

Prints per-clip WERs, then the tables (date, machine, load average, torch threads, the engine that ran and
where ``whisperkit_nb`` was imported from) last; writes JSON. Columns "chunks (batch)": decoded chunks
summed over the inputs and the batch sizes they report. Timings on a shared machine are noisy: ``--rounds R`` repeats each timed run R times, in rotating order,
and reports the median (text and WER come from the first round).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import inspect
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
os.environ.setdefault("WHISPERKIT_NB_CACHE", str(REPO / ".cache" / "whisperkit_nb"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

import assets  # tests/ is on sys.path (above)
from machine import cpu_model, cpu_seconds, loadavg, warm_file_cache  # bench/ is on sys.path (above)

SAMPLE_RATE = assets.SAMPLE_RATE
# Part of every fixture folder's name: bump it when the builder's output changes.
BUILD_VERSION = 2  # 2: a flite clip longer than the 32 sentences starts another round of them
GAP_S = (0.3, 1.2)  # pauses between utterances (those of assets.asterisk_long)
LEAD_S = (0.3, 0.8)  # room tone before the first utterance of a clip
JOIN_S = 1.0  # room tone between clips in the one-file version
ROOM_TONE_GAIN_DB = -12.0  # relative to assets._noise (-42 dBFS RMS): about -54 dBFS
FLITE_VOICES = ("slt", "rms", "awb", "kal16")  # flite's 16 kHz voices
KINDS = ("asterisk", "flite", "asterisk", "librivox", "asterisk", "pyannote")
MODEL = "base"

# --------------------------------------------------------------------------------------------------
# The audio


@dataclasses.dataclass
class Utterance:
    samples: np.ndarray  # int16, 16 kHz
    text: str
    source: str  # "asterisk", "flite-<voice>", "librivox", "pyannote"


class _Asterisk:
    """English Asterisk prompts, in the seeded shuffled order of `assets._PromptQueue`."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.queue = assets._PromptQueue(assets._asterisk_prompts("en"), rng)

    def take(self, room: int) -> Utterance | None:
        prompt = self.queue.take(room)
        if prompt is None:
            return None
        n = assets._prompt_frames_16k(prompt)
        (samples,) = assets._clip_chunks(prompt.path, n)()
        return Utterance(samples, prompt.text, "asterisk")


class _Flite:
    """`assets.SENTENCES` in seeded order (another round when all are said), each by one of two voices chosen
    for the clip, turn by turn."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.voices = [FLITE_VOICES[i] for i in rng.choice(len(FLITE_VOICES), size=2, replace=False)]
        self.sentences = [assets.SENTENCES[i] for i in rng.permutation(len(assets.SENTENCES))]
        self.turn = int(rng.integers(2))

    def take(self, room: int) -> Utterance | None:
        voice = self.voices[self.turn % 2]
        if not self.sentences:  # all said: another round, in another order
            self.sentences = [assets.SENTENCES[i] for i in self.rng.permutation(len(assets.SENTENCES))]
        for index, text in enumerate(self.sentences):
            samples, _ = assets.read_wav(assets._flite_utterance(voice, text))
            if len(samples) <= room:
                del self.sentences[index]
                self.turn += 1
                return Utterance(samples, text, f"flite-{voice}")
        return None


class _Once:
    """Fixed utterances taken in order while they fit (LibriVox clips, pyannote's phone call)."""

    def __init__(self, utterances: list[Utterance]) -> None:
        self.utterances = list(utterances)

    def take(self, room: int) -> Utterance | None:
        if self.utterances and len(self.utterances[0].samples) <= room:
            return self.utterances.pop(0)
        self.utterances = []  # one that does not fit ends the run: the rest stay in order or not at all
        return None


def _librivox(rng: np.random.Generator) -> list[Utterance]:
    """2-4 consecutive LibriVox clips (one reader, 16 kHz) with their transcriptions."""
    folder = assets.LIBRIVOX_DIR
    if not (folder / "fileids").is_file():
        raise assets.MissingAssetError(f"{folder} is missing: apt-get install pocketsphinx-testdata")
    ids = (folder / "fileids").read_text().split()
    texts = assets._read_sphinx_transcription(folder / "transcription")
    count = int(rng.integers(2, 5))
    first = int(rng.integers(0, len(ids) - count + 1))
    chosen = []
    for clip_id in ids[first:first + count]:
        samples, rate = assets.read_wav(folder / f"{clip_id}.wav")
        if rate != SAMPLE_RATE:
            samples = assets._to_int16(assets._to_16k(samples, rate))
        chosen.append(Utterance(samples, texts[clip_id], "librivox"))
    return chosen


def _pyannote() -> list[Utterance]:
    """pyannote's 30 s phone call (two real voices) as one utterance; its reference is the STM turns."""
    sample = assets.pyannote_sample()
    samples, rate = assets.read_wav(sample.path)
    if rate != SAMPLE_RATE:
        raise ValueError(f"{sample.path}: expected {SAMPLE_RATE} Hz")
    return [Utterance(samples, sample.reference, "pyannote")]


def room_tone(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples (float) of low room tone: `assets._noise` (coloured noise + hum), 12 dB lower."""
    return assets._noise(n, rng).astype(np.float64) * 10 ** (ROOM_TONE_GAIN_DB / 20)


def build_clip(kind: str, seconds: float, rng: np.random.Generator,
               asterisk: _Asterisk) -> tuple[np.ndarray, list[dict]]:
    """One clip of ``kind``: utterances with pauses up to ``seconds``, room tone under it all.

    Returns the int16 samples and the turns (start, end, text, source).
    """
    total = round(seconds * SAMPLE_RATE)
    sources: list = {"asterisk": [asterisk], "flite": [_Flite(rng)], "librivox": [_Once(_librivox(rng)), asterisk],
                     "pyannote": [_Once(_pyannote()), asterisk]}[kind]
    audio = room_tone(total, rng)
    turns: list[dict] = []
    pos = round(rng.uniform(*LEAD_S) * SAMPLE_RATE)
    min_gap = round(GAP_S[0] * SAMPLE_RATE)
    for source in sources:
        while True:
            room = total - pos - min_gap
            piece = source.take(room) if room > 0 else None
            if piece is None:
                break
            n = len(piece.samples)
            audio[pos:pos + n] += piece.samples
            turns.append({"start": pos / SAMPLE_RATE, "end": (pos + n) / SAMPLE_RATE, "text": piece.text,
                          "source": piece.source})
            pos += n + round(rng.uniform(*GAP_S) * SAMPLE_RATE)
    if not turns:
        raise ValueError(f"a {kind} clip of {seconds:.1f} s holds no utterance")
    return assets._to_int16(audio), turns


def build_set(name: str, count: int, seconds: tuple[float, float], seed: int, *, one_file: bool) -> dict:
    """A folder of ``count`` clips (``clips/``), ``references.json``, ``warmup.wav`` and, with ``one_file``,
    ``one_file.wav`` (the clips joined by 1 s of room tone). Built once (atomically), then reused."""
    folder = assets.FIXTURE_DIR / "bench_corpus" / (
        f"{name}_{count}x{seconds[0]:g}-{seconds[1]:g}s_seed{seed}_v{BUILD_VERSION}")
    if (folder / "references.json").is_file():
        return _load_set(folder)
    started = time.perf_counter()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        (tmp / "clips").mkdir()
        rng = np.random.default_rng(seed)
        asterisk = _Asterisk(rng)
        clips, pieces = [], []
        for index in range(count):
            kind = KINDS[index % len(KINDS)]
            samples, turns = build_clip(kind, rng.uniform(*seconds), rng, asterisk)
            relative = f"clips/clip_{index:02d}.wav"
            assets.write_wav(tmp / relative, samples)
            clips.append({"file": relative, "kind": kind, "duration": len(samples) / SAMPLE_RATE, "turns": turns,
                          "reference": " ".join(t["text"] for t in turns)})
            pieces.append(samples)
        assets.write_wav(tmp / "warmup.wav", pieces[0][: 10 * SAMPLE_RATE])
        meta: dict = {"name": name, "seed": seed, "seconds": list(seconds), "clips": clips, "version": BUILD_VERSION}
        if one_file:
            meta["one_file"] = _join_clips(pieces, seed, tmp / "one_file.wav")
        (tmp / "references.json").write_text(json.dumps(meta, indent=1))
        try:
            os.rename(tmp, folder)
        except OSError:  # built meanwhile by another process: use that one
            if not (folder / "references.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"built {folder.name} in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return _load_set(folder)


def _join_clips(pieces: list[np.ndarray], seed: int, path: Path) -> dict:
    """The clips joined by `JOIN_S` of room tone (seeded by ``seed``: the same bytes each time), written to
    ``path``; returns its entry of references.json."""
    joined, offsets, pos = [], [], 0
    gap_rng = np.random.default_rng([seed, 1])
    for index, samples in enumerate(pieces):
        if index:
            joined.append(assets._to_int16(room_tone(round(JOIN_S * SAMPLE_RATE), gap_rng)))
            pos += len(joined[-1])
        joined.append(samples)
        offsets.append([pos / SAMPLE_RATE, (pos + len(samples)) / SAMPLE_RATE])
        pos += len(samples)
    assets.write_wav(path, np.concatenate(joined))
    return {"file": path.name, "duration": pos / SAMPLE_RATE, "offsets": offsets}


def _load_set(folder: Path) -> dict:
    meta = json.loads((folder / "references.json").read_text())
    meta["folder"] = str(folder)
    one_file = meta.get("one_file")
    if one_file and not (folder / one_file["file"]).is_file():
        # Left out of a device call's carry (64 MiB in all): joined again from the clips, the same bytes.
        pieces = [assets.read_wav(folder / clip["file"])[0] for clip in meta["clips"]]
        tmp = folder / f".{one_file['file']}.tmp.wav"
        rebuilt = _join_clips(pieces, meta["seed"], tmp)
        if rebuilt["offsets"] != one_file["offsets"]:
            tmp.unlink()
            raise SystemExit(f"{folder}: the clips joined again do not match references.json: rebuild the set")
        os.replace(tmp, folder / one_file["file"])
    return meta


# --------------------------------------------------------------------------------------------------
# Timed runs


def timed(fn):
    """(result, wall s, CPU s of this process and its children, load average before and after)."""
    before = loadavg()
    cpu = cpu_seconds()
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started, cpu_seconds() - cpu, {"before": before, "after": loadavg()}


def fresh_store() -> str:
    return tempfile.mkdtemp(prefix="bench-corpus-store-")


def run_corpus(folder: str, **extra) -> dict:
    import whisperkit_nb as wk

    store = fresh_store()
    try:
        corpus, wall, cpu, load = timed(lambda: wk.transcribe_corpus(folder, store=store, model=MODEL, progress=False,
                                                                     **extra))
        files = corpus.files
        frame = corpus.frame
        texts = {Path(f).name: " ".join(frame.loc[frame["file"] == f, "text"]) for f in files["file"]}
        engines = sorted({str(e) for e in files["engine"].dropna()})
        problems = {Path(r.file).name: f"{r.status}: {r.error}" for r in files.itertuples() if r.status != "done"}
        facts = list(frame.attrs.get("files", {}).values())
        return {"wall_s": wall, "cpu_s": cpu, "load": load, "texts": texts, "engines": engines,
                "segments": len(frame), **_chunks(facts), "not_done": problems,
                "store": "fresh temporary folder, deleted after"}
    finally:
        shutil.rmtree(store, ignore_errors=True)


def _chunks(facts: list[dict]) -> dict:
    """Decoded chunks (summed over inputs) and the batch sizes the inputs report."""
    return {"chunks": sum(f.get("chunks") or 0 for f in facts),
            "batch_sizes": sorted({f["batch_size"] for f in facts if f.get("batch_size") is not None})}


def _engine_of(frame) -> str:
    facts = next(iter(frame.attrs.get("files", {}).values()), {})
    engine = facts.get("engine") or "?"
    dtype = facts.get("dtype") or facts.get("compute_type")
    return f"{engine} ({dtype})" if dtype else str(engine)


def run_loop(clips: list[Path]) -> dict:
    import whisperkit_nb as wk

    frames = {}

    def loop():
        for clip in clips:
            frames[clip.name] = wk.transcribe(str(clip), model=MODEL, progress=False)

    _, wall, cpu, load = timed(loop)
    return {"wall_s": wall, "cpu_s": cpu, "load": load,
            "texts": {name: " ".join(f["text"]) for name, f in frames.items()},
            "engines": sorted({_engine_of(f) for f in frames.values()}),
            "segments": sum(len(f) for f in frames.values()),
            **_chunks([facts for f in frames.values() for facts in f.attrs.get("files", {}).values()])}


def run_one_file(path: Path, offsets: list[list[float]], names: list[str]) -> dict:
    import whisperkit_nb as wk

    frame, wall, cpu, load = timed(lambda: wk.transcribe(str(path), model=MODEL, progress=False))
    # each segment to the clip its midpoint falls in (or the nearest clip, for a midpoint in a 1 s join)
    texts: dict[str, list[str]] = {name: [] for name in names}
    starts = np.array([o[0] for o in offsets])
    ends = np.array([o[1] for o in offsets])
    for start, end, text in zip(frame["start"], frame["end"], frame["text"]):
        middle = (start + end) / 2
        distance = np.maximum(starts - middle, 0) + np.maximum(middle - ends, 0)
        texts[names[int(np.argmin(distance))]].append(text)
    return {"wall_s": wall, "cpu_s": cpu, "load": load, "texts": {k: " ".join(v) for k, v in texts.items()},
            "whole_text": " ".join(frame["text"]), "engines": [_engine_of(frame)], "segments": len(frame),
            **_chunks(list(frame.attrs.get("files", {}).values()))}


def score(clips: list[dict], texts: dict[str, str]) -> dict:
    """WER per clip and over all (errors summed), Whisper's English normaliser."""
    from whisperkit_nb.scoring import wer_details

    per_clip, errors, words = {}, 0, 0
    for clip in clips:
        name = Path(clip["file"]).name
        details = wer_details(clip["reference"], texts.get(name, ""), normalize="english")
        per_clip[name] = {"wer": round(details.wer, 4), "errors": details.errors,
                          "reference_words": details.reference_words, "insertions": details.insertions,
                          "deletions": details.deletions, "substitutions": details.substitutions}
        errors += details.errors
        words += details.reference_words
    return {"wer": round(errors / words, 4) if words else None, "errors": errors, "reference_words": words,
            "per_clip": per_clip}


def rounds_of(runners: dict, rounds: int) -> dict:
    """Each runner ``rounds`` times, in an order rotated each round; the first round's result, with every
    round's wall and CPU seconds and their medians."""
    keys = list(runners)
    results: dict[str, dict] = {}
    for round_ in range(rounds):
        order = keys[round_ % len(keys):] + keys[:round_ % len(keys)]
        for key in order:
            result = runners[key]()
            print(f"  round {round_ + 1}: {key}: {result['wall_s']:.1f} s wall, {result['cpu_s']:.1f} s CPU, "
                  f"load {result['load']['before']} -> {result['load']['after']}", file=sys.stderr, flush=True)
            if key not in results:
                results[key] = {**result, "wall_s_rounds": [], "cpu_s_rounds": [], "load_rounds": []}
            results[key]["wall_s_rounds"].append(round(result["wall_s"], 2))
            results[key]["cpu_s_rounds"].append(round(result["cpu_s"], 2))
            results[key]["load_rounds"].append(result["load"])
    for result in results.values():
        result["wall_s"] = round(statistics.median(result["wall_s_rounds"]), 2)
        result["cpu_s"] = round(statistics.median(result["cpu_s_rounds"]), 2)
        del result["load"]
    return results


def case_a(clip_set: dict, rounds: int) -> dict:
    folder = Path(clip_set["folder"])
    clips = clip_set["clips"]
    paths = [folder / c["file"] for c in clips]
    names = [p.name for p in paths]
    one = clip_set["one_file"]
    runners = {
        "one file": lambda: run_one_file(folder / one["file"], one["offsets"], names),
        "corpus": lambda: run_corpus(str(folder / "clips")),
        "loop": lambda: run_loop(paths),
    }
    results = rounds_of(runners, rounds)
    for result in results.values():
        result["score"] = score(clips, result.pop("texts"))
    whole = results["one file"].pop("whole_text")
    from whisperkit_nb.scoring import wer_details

    details = wer_details(" ".join(c["reference"] for c in clips), whole, normalize="english")
    results["one file"]["score"]["wer_whole_file"] = round(details.wer, 4)
    base = results["one file"]["wall_s"]
    audio = sum(c["duration"] for c in clips)
    return {"clips": len(clips), "audio_s": round(audio, 1), "one_file_audio_s": round(one["duration"], 1),
            "fixtures": str(folder), "kinds": {k: sum(c["kind"] == k for c in clips) for k in dict.fromkeys(KINDS)},
            "runs": results,
            "ratio_corpus_vs_one_file": round(results["corpus"]["wall_s"] / base, 3),
            "ratio_loop_vs_one_file": round(results["loop"]["wall_s"] / base, 3),
            "ratio_corpus_vs_one_file_cpu": round(results["corpus"]["cpu_s"] / results["one file"]["cpu_s"], 3),
            "ratio_loop_vs_one_file_cpu": round(results["loop"]["cpu_s"] / results["one file"]["cpu_s"], 3)}


def workers_supported() -> bool:
    import whisperkit_nb as wk
    from whisperkit_nb.options import TranscribeOptions

    return ("num_workers" in inspect.signature(wk.transcribe_corpus).parameters
            or "num_workers" in {f.name for f in dataclasses.fields(TranscribeOptions)})


def case_b(file_set: dict, rounds: int) -> dict:
    folder = Path(file_set["folder"])
    clips = file_set["clips"]
    supported = workers_supported()
    if supported:
        runners = {f"num_workers={n}": (lambda n=n: run_corpus(str(folder / "clips"), num_workers=n)) for n in (1, 2)}
    else:
        runners = {"defaults (num_workers not supported)": lambda: run_corpus(str(folder / "clips"))}
    results = rounds_of(runners, rounds)
    for result in results.values():
        result["score"] = score(clips, result.pop("texts"))
    out = {"files": len(clips), "audio_s": round(sum(c["duration"] for c in clips), 1), "fixtures": str(folder),
           "kinds": {k: sum(c["kind"] == k for c in clips) for k in dict.fromkeys(KINDS)},
           "num_workers_supported": supported, "runs": results}
    if supported:
        out["ratio_2_vs_1_workers"] = round(results["num_workers=2"]["wall_s"] / results["num_workers=1"]["wall_s"], 3)
        out["ratio_2_vs_1_workers_cpu"] = round(results["num_workers=2"]["cpu_s"] / results["num_workers=1"]["cpu_s"], 3)
    else:
        out["note"] = "num_workers not supported"
    return out


# --------------------------------------------------------------------------------------------------
# Report


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.2f}%"


def _batches(r: dict) -> str:
    return f"{r.get('chunks', '-')} ({'/'.join(map(str, r.get('batch_sizes') or [])) or '-'})"


def per_clip_table(a: dict, clips: list[dict]) -> str:
    runs = a["runs"]
    lines = ["| clip | kind | s | ref words | WER one file | WER corpus | WER loop |", "|---|---|---|---|---|---|---|"]
    for clip in clips:
        name = Path(clip["file"]).name
        cells = [runs[k]["score"]["per_clip"][name] for k in ("one file", "corpus", "loop")]
        lines.append(f"| {name} | {clip['kind']} | {clip['duration']:.1f} | {cells[0]['reference_words']} | "
                     + " | ".join(_pct(c["wer"]) for c in cells) + " |")
    return "\n".join(lines)


def table_a(a: dict) -> str:
    lines = [("| run | files | audio min | wall s | CPU s | x real time | vs one file: wall / CPU | chunks (batch) | "
              "WER | engine |"), "|---|---|---|---|---|---|---|---|---|---|"]
    base = a["runs"]["one file"]["wall_s"]
    base_cpu = a["runs"]["one file"]["cpu_s"]
    labels = {"one file": "one file (clips joined, 1 s room tone)", "corpus": "`transcribe_corpus(folder)`",
              "loop": "loop of `transcribe(clip)`"}
    for key in ("one file", "corpus", "loop"):
        r = a["runs"][key]
        files = 1 if key == "one file" else a["clips"]
        audio = a["one_file_audio_s"] if key == "one file" else a["audio_s"]
        wer = _pct(r["score"]["wer"])
        if key == "one file":
            wer += f" (whole file {_pct(r['score']['wer_whole_file'])})"
        lines.append(f"| {labels[key]} | {files} | {audio / 60:.1f} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                     f"{audio / r['wall_s']:.1f} | {r['wall_s'] / base:.2f}x / {r['cpu_s'] / base_cpu:.2f}x | {_batches(r)} | {wer} | "
                     f"{', '.join(r['engines'])} |")
    return "\n".join(lines)


def table_b(b: dict) -> str:
    lines = [("| run | files | audio min | wall s | CPU s | x real time | vs first row: wall / CPU | chunks (batch) | "
              "WER | engine |"), "|---|---|---|---|---|---|---|---|---|---|"]
    first = first_cpu = None
    for key, r in b["runs"].items():
        first, first_cpu = first or r["wall_s"], first_cpu or r["cpu_s"]
        lines.append(f"| {key} | {b['files']} | {b['audio_s'] / 60:.1f} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                     f"{b['audio_s'] / r['wall_s']:.1f} | {r['wall_s'] / first:.2f}x / {r['cpu_s'] / first_cpu:.2f}x | {_batches(r)} | {_pct(r['score']['wer'])} | "
                     f"{', '.join(r['engines'])} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=24, help="case (a): number of short clips (default 24)")
    parser.add_argument("--files", type=int, default=10, help="case (b): number of longer files (default 10)")
    parser.add_argument("--cases", default="a,b", help="which cases to run: a, b or a,b")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 3 clips of 8-12 s and 3 files of 12-20 s (well under a minute)")
    parser.add_argument("--rounds", type=int, default=1, help="timed rounds of each run, median reported")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch.set_num_threads (the CTranslate2 engine takes torch's count); 0: torch's default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="",
                        help="JSON file (or folder); default bench/results/corpus-<date>-<HHMM>.json, a new file per "
                             "run (corpus-quick-... with --quick)")
    args = parser.parse_args()
    cases = set(args.cases.split(","))
    if not cases <= {"a", "b"}:
        parser.error("--cases: a, b or a,b")

    clip_s, file_s = ((8.0, 12.0), (12.0, 20.0)) if args.quick else ((30.0, 45.0), (60.0, 180.0))
    n_clips, n_files = (min(args.clips, 3), min(args.files, 3)) if args.quick else (args.clips, args.files)
    start_time = dt.datetime.now(dt.timezone.utc)
    out = Path(args.out) if args.out else REPO / "bench" / "results"
    if out.suffix != ".json":  # a new file per run: an earlier run's results are never overwritten
        from result_file import new_result_path

        out = new_result_path(out, "corpus-quick" if args.quick else "corpus")

    clip_set = build_set("clips", n_clips, clip_s, args.seed, one_file=True) if "a" in cases else None
    file_set = build_set("files", n_files, file_s, args.seed + 1000, one_file=False) if "b" in cases else None

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    import whisperkit_nb as wk

    load_start = loadavg()
    # Model loaded and first-call costs paid before any timing; every file read once into the OS cache.
    warm_set = clip_set or file_set
    _, warm_s, _, _ = timed(lambda: wk.transcribe(str(Path(warm_set["folder"]) / "warmup.wav"), model=MODEL,
                                                  progress=False))
    files = [Path(s["folder"]) / c["file"] for s in (clip_set, file_set) if s for c in s["clips"]]
    if clip_set:
        files.append(Path(clip_set["folder"]) / clip_set["one_file"]["file"])
    warm_file_cache(files)
    print(f"warm-up (model load + 10 s clip): {warm_s:.1f} s", file=sys.stderr, flush=True)

    result: dict = {
        "date": start_time.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores, CPU only",
        "torch_threads": torch.get_num_threads(), "model": MODEL, "engine_option": "auto (default)",
        "version": wk.__version__, "package": str(Path(wk.__file__).parent), "quick": args.quick, "rounds": args.rounds, "seed": args.seed,
        "load_average_at_start": load_start, "warmup_s": round(warm_s, 1),
        "note": "2-core machine shared with other work: wall times are noisy, CPU seconds steadier",
    }
    if clip_set:
        print(f"case (a): {n_clips} clips", file=sys.stderr, flush=True)
        result["case_a"] = case_a(clip_set, args.rounds)
    if file_set:
        print(f"case (b): {n_files} files", file=sys.stderr, flush=True)
        result["case_b"] = case_b(file_set, args.rounds)
    result["load_average_at_end"] = loadavg()
    try:  # the engine and dtype that ran: the cached model `transcribe` used
        from whisperkit_nb.options import resolve_options
        from whisperkit_nb.run.nodes import load_model

        engine = load_model(resolve_options(None, {"model": MODEL}))
        result["engine_loaded"] = f"{engine.name} {engine.dtype_name}"
    except Exception as err:  # noqa: BLE001 - a report line, not the benchmark
        result["engine_loaded"] = f"unknown ({type(err).__name__}: {err})"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))

    engines = [result["engine_loaded"]]
    head = (f"{result['date']} · {result['machine']} (shared: load average {load_start[0]:g} at start, "
            f"{result['load_average_at_end'][0]:g} at end) · torch threads {result['torch_threads']} · "
            f"model {MODEL}, engine auto = {', '.join(engines)} · whisperkit_nb {result['version']} "
            f"from {result['package']} · "
            f"{f'median of {args.rounds} rounds' if args.rounds > 1 else 'one round'}"
            f"{' · QUICK (smoke run)' if args.quick else ''}")
    if clip_set:
        a = result["case_a"]
        print("\nPer clip (WER, Whisper's English normaliser; one file: segments assigned by midpoint):\n")
        print(per_clip_table(a, clip_set["clips"]))
    print(f"\n{head}")
    if clip_set:
        a = result["case_a"]
        kinds = ", ".join(f"{v} {k}" for k, v in a["kinds"].items() if v)
        print(f"\n(a) {a['clips']} clips of {clip_s[0]:g}-{clip_s[1]:g} s ({kinds}), {a['audio_s'] / 60:.1f} min:\n")
        print(table_a(a))
        print(f"\ncorpus / one file = {a['ratio_corpus_vs_one_file']:.2f}x wall, {a['ratio_corpus_vs_one_file_cpu']:.2f}x "
              f"CPU (goal <= 1.25x) · loop / one file = {a['ratio_loop_vs_one_file']:.2f}x wall, "
              f"{a['ratio_loop_vs_one_file_cpu']:.2f}x CPU")
    if file_set:
        b = result["case_b"]
        print(f"\n(b) {b['files']} files of {file_s[0]:g}-{file_s[1]:g} s, {b['audio_s'] / 60:.1f} min, "
              f"each run into a fresh store:\n")
        print(table_b(b))
        print("\n" + (f"num_workers=2 / num_workers=1 = {b['ratio_2_vs_1_workers']:.2f}x wall, "
                      f"{b['ratio_2_vs_1_workers_cpu']:.2f}x CPU" if b["num_workers_supported"]
                      else "num_workers not supported by transcribe_corpus: one run with the defaults"))
    failed = {case: {k: r["not_done"] for k, r in result[case]["runs"].items() if r.get("not_done")}
              for case in ("case_a", "case_b") if case in result}
    failed = {k: v for k, v in failed.items() if v}
    if failed:
        print(f"\nNOT DONE: {failed}")
    print(f"\nJSON: {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
