"""The pipeline's stages as public functions (nodes), so that a notebook can run or re-run one stage alone.

Each node takes what a user has at hand (a path or an array, a transcript DataFrame) and the options of
`TranscribeOptions` that apply to it (`whisperkit_nb.options.NODE_OPTIONS`); any other option raises
`OptionsError`. `transcribe` composes the same stages and gives segments their speakers through
`label_speakers` here, so ``assign_speakers(transcribe(path), diarize(path))`` has the speakers of
``transcribe(path, diarize=True)``.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from whisperkit_nb.audio.source import AudioSource, is_array_pair, open_audio
from whisperkit_nb.options import TranscribeOptions, node_options
from whisperkit_nb.run.lock import one_run_at_a_time

if TYPE_CHECKING:
    import pandas as pd

    from whisperkit_nb.events import ProgressCallback
    from whisperkit_nb.speech.chunks import Chunk

__all__ = ["assign_speakers", "diarize", "label_speakers", "load_audio", "load_model", "plan_chunks",
           "speaker_facts"]


def load_audio(audio: Any, options: TranscribeOptions | None = None, **kwargs: Any) -> AudioSource:
    """Open one input for the other nodes: checked now, decoded when a stage reads it.

    Parameters
    ----------
    audio : path, array, tensor or (array, sample_rate)
        Files are anything FFmpeg reads; arrays and tensors are 16 kHz samples (or ``(array, rate)``).
        An `AudioSource` is returned as it is.
    options : TranscribeOptions, optional
        Only ``corrupt_audio`` applies; keyword arguments override it.

    Returns
    -------
    AudioSource
        ``name``, ``duration`` (when the container says), ``blocks()`` to read it and ``in_memory()`` to
        decode it once for several stages.

    Raises
    ------
    AudioError
        The input is missing or is not audio.
    """
    return _source(audio, node_options("load_audio", options, kwargs))


def plan_chunks(audio: Any, options: TranscribeOptions | None = None, *, callback: ProgressCallback | None = None,
                **kwargs: Any) -> tuple[list[Chunk], float]:
    """Find the speech in one input (Silero VAD) and pack it into the chunks Whisper will decode.

    Parameters
    ----------
    audio : path, array, AudioSource, ...
        One input, as for `load_audio`.
    options : TranscribeOptions, optional
        ``vad_*``, ``chunk_s``, ``code_switching``, ``code_switching_chunk_s`` and ``corrupt_audio`` apply.
    callback : callable, optional
        Receives a ``"vad"`` `ProgressEvent` as the audio goes through the VAD.

    Returns
    -------
    chunks : list of Chunk
        Each with ``start``, ``end`` (seconds on the original timeline), ``duration`` (of speech) and
        ``spans`` (the speech sample ranges it joins, silence between them removed).
    duration : float
        Seconds of audio read.
    """
    from whisperkit_nb.speech.plan import plan_chunks as plan

    from whisperkit_nb.engines.registry import settle

    opts = node_options("plan_chunks", options, kwargs)
    opts = settle(opts)  # vad_max_gap_s=None means what transcribe's engine and segment times need
    return plan(_source(audio, opts), opts, callback=callback)


def load_model(options: TranscribeOptions | None = None, **kwargs: Any) -> Any:
    """Load (or reuse) the Whisper model these options ask for; `transcribe` then finds it loaded.

    Takes every option but the speaker ones (``model``, ``engine``, ``device``, ``dtype``, ...).
    """
    from whisperkit_nb.engines.registry import load_model as load

    return load(node_options("load_model", options, kwargs))


@one_run_at_a_time
def diarize(audio: Any, options: TranscribeOptions | None = None, *, callback: ProgressCallback | None = None,
            **kwargs: Any) -> pd.DataFrame:
    """Who speaks when in one input: its speaker turns, for `assign_speakers`.

    The same diarization ``transcribe(..., diarize=True)`` runs, alone: re-run it with other speaker counts
    and assign the new turns to a transcript without transcribing again.

    Parameters
    ----------
    audio : path, array, AudioSource, ...
        One input, as for `load_audio`.
    options : TranscribeOptions, optional
        ``num_speakers`` or ``min_speakers``/``max_speakers``, ``diarization_model``, ``hf_token``,
        ``device``, ``progress``, ``corrupt_audio``, ``speaker_samples`` and ``speaker_match_threshold``
        apply; keyword arguments override them.
    callback : callable, optional
        Receives ``ProgressEvent("diarize", name, done, 100, "%")`` as the pipeline advances.

    Returns
    -------
    pandas.DataFrame
        One row per turn: ``start``, ``end`` (seconds, float64), ``speaker`` (``SPEAKER_00``, ... in order of
        first speech), sorted by start, one speaker at a time. ``attrs["overlapping"]`` lists the turns with
        overlapped speech kept (``{"start", "end", "speaker"}`` dicts); ``attrs["file"]`` names the input;
        ``attrs["speaker_embeddings"]`` holds each speaker's voice (see `whisperkit_nb.report.FileReport`).
        With ``speaker_samples``, turns whose voice matches a sample have its name and
        ``attrs["speaker_matches"]`` describes each speaker (name or None, similarity, diarized labels).

    Raises
    ------
    OptionsError
        An option that is not a speaker option, or speaker counts that contradict each other.
    MissingDependencyError
        pyannote.audio is not installed (the ``diarization`` extra).
    ModelError
        A hub pipeline cannot be loaded (no or refused token, hub unreachable, unknown id).

    Examples
    --------
    >>> turns = wk.diarize("interview.m4a", num_speakers=3)      # doctest: +SKIP
    >>> df = wk.assign_speakers(df, turns)                        # doctest: +SKIP
    """
    from whisperkit_nb.speakers.diarize import check_samples
    from whisperkit_nb.speakers.diarize import diarize as run_diarization

    opts = node_options("diarize", options, kwargs)
    source = _source(audio, opts)
    check_samples(opts)  # a bad speaker sample fails before the diarization, not after it
    turns = run_diarization(source, opts, callback=callback)
    turns.attrs["file"] = source.name
    return turns


def assign_speakers(transcript: pd.DataFrame, turns: pd.DataFrame, options: TranscribeOptions | None = None,
                    **kwargs: Any) -> pd.DataFrame:
    """Give each segment (and word) of a transcript its speaker from speaker turns; nothing is transcribed.

    Parameters
    ----------
    transcript : pandas.DataFrame
        A frame from `transcribe` (with or without a ``words`` column, with or without speakers: an existing
        ``speaker`` column is replaced), or any frame with ``start``, ``end`` and ``text``.
    turns : pandas.DataFrame
        ``start``, ``end``, ``speaker``, as `diarize` returns them.
    options : TranscribeOptions, optional
        ``speaker_split_min_s`` (with words: a segment whose words change speaker is split there when both
        sides last at least this long) and ``speaker_names`` (``{"SPEAKER_00": "Ana"}``) apply.

    Returns
    -------
    pandas.DataFrame
        A new frame, same columns and ``attrs``: ``speaker`` filled, each word dict given its own
        ``speaker``, segments split where their words change speaker (with words). The per-file facts in
        ``attrs["files"]`` get ``speakers`` and ``speaker_turns``, as ``transcribe(diarize=True)`` gives them.
        A segment split by an earlier assignment stays split.

    Raises
    ------
    OptionsError
        An option other than the two above.
    ValueError
        The transcript holds several files and ``turns.attrs["file"]`` names none of them (turns belong to
        one input: assign them to that input's rows).
    """
    import pandas as pd

    opts = node_options("assign_speakers", options, kwargs)
    attrs = copy.deepcopy(transcript.attrs)
    name = _file_of(transcript, turns)
    if name is None:
        frame = label_speakers(transcript, turns, opts)
    else:  # only this file's rows, in place among the others
        runs = (transcript["file"] != transcript["file"].shift()).cumsum()
        parts = [label_speakers(rows, turns, opts) if rows["file"].iat[0] == name else rows
                 for _, rows in transcript.groupby(runs, sort=False)]
        frame = pd.concat(parts, ignore_index=True)
    frame.attrs = attrs
    files = attrs.get("files")
    key = name if name is not None else turns.attrs.get("file")
    if isinstance(files, dict) and key not in files and len(files) == 1:
        key = next(iter(files))
    if isinstance(files, dict) and isinstance(files.get(key), dict):
        files[key] = {**files[key], **speaker_facts(turns)}
    return frame


def label_speakers(frame: pd.DataFrame, turns: pd.DataFrame, opts: TranscribeOptions) -> pd.DataFrame:
    """Speakers from turns, then ``speaker_names``: the one code path of `transcribe` and `assign_speakers`."""
    from whisperkit_nb.speakers.assign import assign_speakers as assign
    from whisperkit_nb.speakers.assign import rename_speakers

    frame = assign(frame, turns, split_min_s=opts.speaker_split_min_s)
    return rename_speakers(frame, opts.speaker_names) if opts.speaker_names else frame


def speaker_facts(turns: pd.DataFrame) -> dict[str, Any]:
    """What a file's facts (``df.attrs["files"][name]``) say about its diarization (see `FileReport`)."""
    facts = {
        "speakers": int(turns.speaker.nunique()) if len(turns) else 0,
        "speaker_turns": turns.attrs.get("overlapping", []),  # for DER against a reference
    }
    for name in ("speaker_embeddings", "speaker_matches"):  # absent from turns made by hand
        if name in turns.attrs:
            facts[name] = turns.attrs[name]
    return facts


def _source(audio: Any, opts: TranscribeOptions) -> AudioSource:
    if isinstance(audio, AudioSource):
        return audio
    if isinstance(audio, (list, tuple)) and not is_array_pair(audio):
        raise TypeError("This node takes one input; call it once per input (transcribe takes lists).")
    return open_audio(audio, opts.corrupt_audio)


def _file_of(transcript: pd.DataFrame, turns: pd.DataFrame) -> str | None:
    """The file whose rows get the turns, when the transcript holds several; None when it holds one."""
    if "file" not in transcript.columns or transcript["file"].nunique() <= 1:
        return None
    name = turns.attrs.get("file")
    files = list(dict.fromkeys(transcript["file"]))
    if name not in files:
        raise ValueError(
            f"This transcript holds {len(files)} files ({', '.join(map(str, files[:5]))}"
            f"{', ...' if len(files) > 5 else ''}) and the turns are for "
            f"{repr(name) if name else 'an unnamed input'}: assign them to one file's rows, "
            "e.g. wk.assign_speakers(df[df.file == name], turns)."
        )
    return name
