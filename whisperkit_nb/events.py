"""Progress events: what the core emits to a hook as each stage advances. Front ends draw them.

One input goes through "vad" (finding speech: seconds of audio read; its first event, 0 s read, comes
when the input is opened, before a diarized input is decoded into memory), "transcribe" (seconds of
speech decoded) and, when asked, "diarize" (percent of the diarization's own work). `FileProgress` turns
one input's events into one number, seconds of its audio, for a front end's single bar per file.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    """What a progress callback receives: ``done`` of ``total`` (in ``unit``) for one stage of one file.

    ``duration`` is the input's length in seconds of audio, where the stage knows it (diarization, whose
    own ``total`` is 100 %, says it; the VAD's ``total`` is that length already).
    """

    stage: str  # "vad", "transcribe" or "diarize" (and "corpus" for a corpus run's own progress)
    file: str
    done: float
    total: float
    unit: str = "s"
    duration: float | None = None


ProgressCallback = Callable[[ProgressEvent], None]

#: How progress displays name each stage (the panel's status line and the bars say these words).
STAGE_WORDS = {"load": "load model", "vad": "find speech", "transcribe": "transcribe", "diarize": "find speakers"}

#: Wall-clock seconds each stage takes per second of audio, measured on CPU (2 cores, ctranslate2 int8, the
#: offline diarization pipeline) on the 30 s pyannote sample and a 150 s two-voice conversation:
#: VAD 0.001-0.002; transcription 0.020-0.025 with tiny.en and 0.053-0.072 with base (the CPU default);
#: diarization 0.19-0.30, so it takes 78-84 % of the two stages' time with base and 91-92 % with tiny.en.
#: `FileProgress` shares a bar among the stages by these costs, the transcription's replaced by its
#: measured time once it has finished (before diarization starts on a CPU).
STAGE_COST = {"vad": 0.002, "transcribe": 0.06, "diarize": 0.25}


def short_name(name: str, width: int = 30) -> str:
    """An input's name for progress displays: its last ``width`` characters."""
    return name if len(name) <= width else "…" + name[-(width - 1) :]


def combine(*hooks: ProgressCallback | None) -> ProgressCallback | None:
    """One callback that hands each event to every hook given, in order (None entries left out).

    Returns None when no hook is left, and the hook itself when only one is.
    """
    given = [hook for hook in hooks if hook is not None]
    if len(given) <= 1:
        return given[0] if given else None

    def each(event: ProgressEvent) -> None:
        for hook in given:
            hook(event)

    return each


class FileProgress:
    """One input's progress over all of its stages, as seconds of its audio: what a bar per file counts.

    The input's length is shared among the stages in proportion to their cost (`STAGE_COST`, per second
    of audio), so the bar moves at a roughly even pace from the first stage to the last. Once the
    transcription has finished and diarization has not started (a CPU runs them one after the other), the
    transcription's share is its measured time, and the diarization's is its cost estimate for this length.
    ``position`` never moves back; it reaches ``duration`` once every expected stage has finished.

    Parameters
    ----------
    name : str
        The input's name, as the events give it.
    stages : iterable of str
        The stages the run will go through for this input; an event of another stage adds it.
    clock : callable
        Seconds, for the rate and the measured transcription time.
    """

    def __init__(self, name: str, stages: Iterable[str] = ("vad", "transcribe"), *,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        stages = tuple(stages)
        self.name = name
        self.duration: float | None = None
        self.stage = "load"
        self.position = 0.0
        self.started: float | None = None  # the input's first event (after the model was loaded)
        self._clock = clock
        self._fraction = {stage: 0.0 for stage in stages}
        self._cost = {stage: STAGE_COST.get(stage, 0.0) for stage in stages}
        self._speech_found: float | None = None  # when the VAD finished: the transcription's start
        self._measured = False  # the transcription's cost is its measured time

    def update(self, event: ProgressEvent) -> None:
        """Take one event of this input into account."""
        now = self._clock()
        if self.started is None:
            self.started = now
        if event.duration:
            self.duration = event.duration
        if event.stage == "vad" and event.total:
            self.duration = max(self.duration or 0.0, event.total)
        if event.stage not in self._fraction:
            self._fraction[event.stage] = 0.0
            self._cost[event.stage] = STAGE_COST.get(event.stage, 0.0)
        self.stage = event.stage
        if event.total:
            fraction = min(1.0, event.done / event.total)
        else:  # nothing to do (no speech to decode), except a VAD that has not read an input of unknown length
            fraction = 1.0 if event.done or event.stage != "vad" else 0.0
        self._fraction[event.stage] = max(self._fraction[event.stage], fraction)
        if event.stage == "transcribe" and "vad" in self._fraction:
            self._fraction["vad"] = 1.0  # decoding starts after the VAD (fixed chunking reports no VAD)
        if self._fraction.get("vad") == 1.0 and self._speech_found is None:
            self._speech_found = now
        if (event.stage == "transcribe" and fraction == 1.0 and self._fraction.get("diarize") == 0.0
                and self.duration and not self._measured):
            measured = now - (self._speech_found if self._speech_found is not None else self.started)
            self._cost["transcribe"] = max(measured, 1e-3) / self.duration
            self._measured = True
        if self.duration:
            self.position = max(self.position, self.duration * self.fraction())

    def fraction(self) -> float:
        """Of the whole work on this input, the share done (0..1), by the stages' costs."""
        if self.finished:
            return 1.0
        total = sum(self._cost.values())
        if not total:
            return 0.0
        return sum(self._cost[s] * f for s, f in self._fraction.items()) / total

    @property
    def finished(self) -> bool:
        return all(f >= 1.0 for f in self._fraction.values())

    def rate(self) -> float | None:
        """Seconds of audio per second of this input's run so far ("x real time"), once there is one."""
        elapsed = self._clock() - self.started if self.started is not None else 0.0
        return self.position / elapsed if self.position > 0 and elapsed > 0 else None

    def status(self) -> str:
        """``0:12/0:30 audio · 3.1x real time · transcribe``: where the input is, for a bar's right side."""
        parts = []
        if self.duration:
            parts.append(f"{minutes(self.position)}/{minutes(self.duration)} audio")
        rate = self.rate()
        if rate:
            parts.append(f"{rate:.1f}x real time")
        parts.append(self.stage_words())
        return " · ".join(parts)

    def stage_words(self) -> str:
        """The stage in words; a VAD that has read nothing yet is still reading (decoding) the audio."""
        if self.stage == "vad" and self._fraction["vad"] == 0.0:
            return "read audio"
        return STAGE_WORDS.get(self.stage, self.stage)


def minutes(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
