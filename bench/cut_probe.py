"""Would a chunk cut fall inside a word where one word runs into the next? (issue 17: no cut inside a word)

    .venv/bin/python bench/cut_probe.py [--sentences 150] [--treble-db 3,4,5,6,8] [--out bench/results]

The development set's files count the cuts our plan makes (`cpu_devset.py`, "cuts (in a word)"): a couple of
hundred, too few to choose a threshold on. This probe asks the pause finder (`speech/pauses.py`) at every word
boundary without a pause (the next word starts within 50 ms of the last one's end) where it would cut if a chunk
had to end there: the reach is the second of speech before the boundary and 250 ms after it, as when a chunk is
filled from inside a run-on stretch of speech (`chunks.pack_chunks`, which tries the VAD's surest pause in reach
only). Each answer is "no cut" (the chunk would close early), a cut at a word's edge, or a cut inside a word
(more than 20 ms from both edges of a reference word, as `cpu_devset.py` counts).

Sentences: the development set's own (`devset.prompt_texts`, even ones for --part tune, odd ones for confirm,
plus as many generated number sentences), read by flite voices awb, slt, rms and kal16 in turn, each at three
speeds and room-noise levels (normal rate at 25 dB SNR, slow at 20 dB, fast at 30 dB), with the reference word
spans flite's phone times give (`devset.flite_utterance`). Rules compared: the broadband energy alone (the rule
until 2026-12-04) and with the treble check at each ``--treble-db``. Writes ``cut_probe-<date>-<HHMM>.json``
with every boundary cut inside a word (voice, speed, sentence, words), never over an earlier run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402
from assets import _noise  # noqa: E402
from cpu_devset import words_cut  # noqa: E402
from devset import flite_utterance, number_sentence, prompt_texts  # noqa: E402
from machine import cpu_model  # noqa: E402
from result_file import new_result_path  # noqa: E402

from whisperkit_nb.audio.source import SAMPLE_RATE  # noqa: E402
from whisperkit_nb.speech import pauses  # noqa: E402
from whisperkit_nb.speech.chunks import _smoothed  # noqa: E402
from whisperkit_nb.speech.vad import quiet_below, speech_probabilities  # noqa: E402

VOICES = ("awb", "slt", "rms", "kal16")
READINGS = ((1.0, 25.0), (1.25, 20.0), (0.85, 30.0))  # (flite duration stretch, SNR dB)
TIGHT_S = 0.05  # a boundary with less than this between the words has no pause
BEFORE_S, AFTER_S = 1.0, 0.25  # reach around the boundary


def noisy(audio: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """``audio`` (int16 scale) with the development set's room noise at ``snr_db``, as float32 in [-1, 1]."""
    noise = _noise(len(audio), np.random.default_rng(seed)).astype(np.float32)
    level = np.sqrt(np.mean(audio**2)) / 10 ** (snr_db / 20)
    return ((audio + noise * level / np.sqrt(np.mean(noise**2))) / 32768).astype(np.float32)


class Reading:
    """One flite sentence under room noise, with what the pause finder needs: VAD probabilities and energies."""

    def __init__(self, utterance, snr_db: float, seed: int) -> None:
        self.words = utterance.words
        audio = noisy(utterance.audio, snr_db, seed)
        self.smooth = _smoothed(speech_probabilities([audio]))
        meter = pauses.EnergyMeter()
        meter.add(audio)
        self.energy, self.treble = meter.energy_db(), meter.treble_db()

    def tight_boundaries(self) -> list[int]:
        """Indices ``k`` of the words that start less than `TIGHT_S` after word ``k - 1`` ends."""
        return [k for k in range(1, len(self.words)) if self.words[k][0] - self.words[k - 1][1] < TIGHT_S]

    def cut_near(self, k: int, treble_max_db: float | None) -> float | None:
        """Where a chunk filled up to the boundary before word ``k`` would be cut (s), or None: no cut. With
        ``treble_max_db`` None, by the broadband energy alone."""
        lo = int(max(self.words[k - 1][1] - BEFORE_S, 0.0) * SAMPLE_RATE)
        hi = int((self.words[k][0] + AFTER_S) * SAMPLE_RATE)
        if treble_max_db is None:
            finder = pauses.PauseFinder(self.smooth, self.energy)
        else:
            finder = pauses.PauseFinder(self.smooth, self.energy, self.treble, treble_max_db)
        cut = finder.pause(lo, hi, quiet_below(0.5))
        return None if cut is None else cut / SAMPLE_RATE

    def inside_a_word(self, t: float) -> bool:
        """More than `cpu_devset.SPLIT_TOLERANCE_S` inside a reference word, as the development set counts."""
        return words_cut([t], self.words) > 0


def probe(part: str, sentences: int, treble_dbs: list[float]) -> dict:
    rng = np.random.default_rng(7 if part == "tune" else 8)
    texts = prompt_texts(part)[:sentences] + [number_sentence(rng) for _ in range(sentences)]
    rules = {"energy only": None} | {f"treble {db:g} dB": db for db in treble_dbs}
    counts = {rule: {"boundaries": 0, "no_cut": 0, "cut_inside_a_word": 0} for rule in rules}
    inside: list[dict] = []
    for i, text in enumerate(texts):
        voice = VOICES[i % len(VOICES)]
        for stretch, snr_db in READINGS:
            utterance = flite_utterance(voice, text, stretch)
            if utterance.words is None:  # flite read a number differently alone: no word spans
                continue
            reading = Reading(utterance, snr_db, seed=i)
            for k in reading.tight_boundaries():
                for rule, db in rules.items():
                    cut = reading.cut_near(k, db)
                    row = counts[rule]
                    row["boundaries"] += 1
                    if cut is None:
                        row["no_cut"] += 1
                    elif reading.inside_a_word(cut):
                        row["cut_inside_a_word"] += 1
                        inside.append({"rule": rule, "voice": voice, "stretch": stretch, "snr_db": snr_db,
                                       "seed": i, "text": text,
                                       "boundary": [reading.words[k - 1][2], reading.words[k][2]],
                                       "cut_s": round(cut, 3)})
    return {"counts": counts, "inside": inside}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=150, help="prompt sentences per part (as many numbers)")
    parser.add_argument("--treble-db", default="3,4,5,6,8")
    parser.add_argument("--parts", default="tune,confirm")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    treble_dbs = [float(x) for x in args.treble_db.split(",")]
    default_db = pauses.TREBLE_MAX_DB
    results = {part: probe(part, args.sentences, treble_dbs) for part in args.parts.split(",")}
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{cpu_model()}, {os.cpu_count()} cores"
    print(f"{stamp} · {machine} · default treble threshold {default_db:g} dB")
    print("| part | rule | boundaries without a pause | no cut (chunk closes early) | cut inside a word |")
    print("|---|---|---|---|---|")
    for part, result in results.items():
        for rule, row in result["counts"].items():
            print(f"| {part} | {rule} | {row['boundaries']} | {row['no_cut']} | {row['cut_inside_a_word']} |")
    path = new_result_path(args.out, "cut_probe")
    path.write_text(json.dumps({"date": stamp, "machine": machine, "default_treble_db": default_db,
                                "sentences_per_part": args.sentences, "readings": READINGS,
                                "voices": VOICES, "results": results}, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
