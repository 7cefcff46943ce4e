"""Speakers named from voice samples (issue 19, acceptance 2): a 3-voice conversation, two voices enrolled.

    .venv/bin/python scripts/speaker_samples_demo.py [--model tiny.en]

Builds (tests/assets.py) a conversation of three known voices, flite slt, flite rms and the Asterisk English
reader (a real voice), and 12 s enrolment samples of slt ("Interviewer") and the Asterisk reader ("Ana") made of
other sentences and prompts than the conversation's; rms has no sample. Runs
``wk.transcribe(path, diarize=True, speaker_samples={...})`` and prints each speaker's name, the similarity of
its voice to the sample it matched (or the closest one, when none reached the threshold), its talk time, and
the share of each reference voice's talk under each name.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from assets import voice_conversation, voice_sample  # noqa: E402

import whisperkit_nb as wk  # noqa: E402

VOICES = {"flite:slt": "Interviewer", "asterisk:en": "Ana", "flite:rms": None}  # rms: no sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    fixture = voice_conversation(list(VOICES), 14, seed=args.seed)
    samples = {name: str(voice_sample(voice)) for voice, name in VOICES.items() if name}
    print(f"conversation: {fixture.path.name} ({fixture.duration:.0f} s, voices {', '.join(VOICES)})")
    print("samples:", ", ".join(f"{name} = {Path(path).name}" for name, path in samples.items()))

    df = wk.transcribe(str(fixture.path), model=args.model, diarize=True, speaker_samples=samples, progress=False)
    matches = df.attrs["files"][str(fixture.path)]["speaker_matches"]
    print("\nspeaker_matches (per-file facts):")
    for label, match in matches.items():
        print(f"  {label}: name={match['name']!r} similarity={match['similarity']:.2f} closest={match['closest']!r}")

    talk = df.groupby("speaker").apply(lambda g: (g.end - g.start).sum(), include_groups=False)
    print("\ntalk time by speaker (s):", {k: round(float(v), 1) for k, v in talk.items()})
    # Each reference voice's talk time, by the speaker of the segments that overlap it.
    shares: dict[str, dict[str, float]] = {}
    for turn in fixture.turns:
        overlap = (df.end.clip(upper=turn.end) - df.start.clip(lower=turn.start)).clip(lower=0)
        for speaker, seconds in zip(df.speaker, overlap):
            if seconds > 0:
                row = shares.setdefault(turn.speaker, {})
                row[speaker] = row.get(speaker, 0.0) + float(seconds)
    table = pd.DataFrame(shares).T.fillna(0.0)
    print("\nreference voice -> seconds under each speaker name:")
    print(table.round(1).to_string())
    print("\nfirst segments:")
    print(df[["start", "end", "speaker", "text"]].head(8).to_string(index=False))


if __name__ == "__main__":
    main()
