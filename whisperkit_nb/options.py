"""The single source of truth for every transcription setting.

`TranscribeOptions` is a frozen dataclass. The Python API (`transcribe(**options)`), the CLI and,
later, the notebook magics and control panel are all generated from its fields and their metadata
(help text, allowed values, ranges), so a new option is added here and nowhere else.
An option that cannot be honoured raises `OptionsError`: nothing is accepted and silently ignored.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from whisperkit_nb.errors import OptionsError

# The engine option's values come from the engine registry (`engine_choices`), so a new engine is one module
# and one registry line; `str` here.
Chunking = Literal["vad", "fixed"]
Task = Literal["transcribe", "translate"]
DType = Literal["auto", "float32", "float16", "bfloat16"]
Attention = Literal["auto", "sdpa", "eager", "flash_attention_2"]
Timestamps = Literal["segment", "word"]
SegmentTimes = Literal["auto", "tokens", "alignment"]
CodeSwitching = Literal["off", "hybrid", "english"]
CorruptAudio = Literal["skip", "fail"]

# Cosine similarities between CAM++ voices. speaker_match_threshold: a turn's voice against a sample's, chosen
# on the tune part of bench/speaker_samples.py (no voice without a sample named, and within 0.5 s of the most talk
# time named right: 0.7 alone since its h files joined; 0.637 before, which named the Asterisk es speaker, who had
# no sample, after the Asterisk en speaker's sample: their samples score 0.64 against each other), see
# bench/README.md. speaker_link_threshold: speakers' centroids across files.
SPEAKER_MATCH_THRESHOLD = 0.7
# The same where the recording's low band is cut, as on a telephone line (whisperkit_nb.audio.bandwidth), with the
# samples band-passed to match: voices grow alike there, and at 0.7 a voice without a sample took a name; the same
# rule on the same tune files band-passed gives 0.75-0.775 (bench/README.md, "Which edge of the telephone band").
SPEAKER_MATCH_THRESHOLD_LOW_CUT = 0.76
# Chosen with SAME_FILE_MARGIN (whisperkit_nb.corpus.link) on 153 corpora drawn from 32 tune files of
# bench/speaker_linking.py: the most same-voice pairs linked with no two voices merged in any of them (0.70 merged
# two voices in 18); no merge in 137 corpora of 16 held-aside files either (bench/README.md).
SPEAKER_LINK_THRESHOLD = 0.76


# vad_max_gap_s=None: with timestamp tokens a chunk never holds a pause over 2 s; with alignment, whose
# segments end at every removed pause, speech across long pauses shares chunks (fewer, fuller windows).
AUTO_GAP_S = 2.0
NO_GAP_LIMIT_S = 3600.0


def _option(default: Any, help: str, *, low: float | None = None, high: float | None = None,
            group: str = "basic", nullable: bool = False, secret: bool = False,
            choices: Callable[[], tuple[Any, ...]] | None = None, label: str | None = None,
            choice_labels: dict[Any, str] | None = None) -> Any:
    """A dataclass field carrying the metadata the CLI, magics and widgets are built from.

    ``nullable`` marks options whose None means "off" although their default is a value; ``secret``
    options never appear in reprs, logs or tables; ``choices`` gives the allowed values of a ``str`` option
    whose values are not a fixed Literal (the engines, from their registry). ``label`` is the option's name
    for people (the control panel's "Find speakers" for ``diarize``); ``choice_labels`` words some of its
    values the same way (the values themselves are unchanged).
    """
    return field(default=default, repr=not secret,
                 metadata={"help": help, "low": low, "high": high, "group": group, "nullable": nullable,
                           "secret": secret, "choices": choices, "label": label, "choice_labels": choice_labels})


def engine_choices() -> tuple[str, ...]:
    """``auto`` and every registered engine (`whisperkit_nb.engines.registry.ENGINES`; loads no engine)."""
    from whisperkit_nb.engines.registry import ENGINES

    return ("auto", *ENGINES)


@dataclass(frozen=True)
class TranscribeOptions:
    """Every setting of a transcription run, validated on construction.

    Defaults are chosen for the machine at run time where they say "auto" (see each field).
    """

    model: str | None = _option(
        None,
        "Whisper model: a short name (tiny.en, base, small, medium, large-v3, large-v3-turbo), a hub id "
        "(openai/whisper-large-v3), a local transformers directory or a local CTranslate2 Whisper directory. "
        "Default: large-v3-turbo on a GPU with the hub, else base.",
        label="Model",
    )
    language: str | None = _option(
        None, "Spoken language code (en, es, fr, ...). Default: detected from the audio.", label="Language",
    )
    task: Task = _option("transcribe", "transcribe, or translate into English.", label="Task")
    code_switching: CodeSwitching = _option(
        "off",
        "off: one language per file; hybrid: each chunk detected and transcribed in its own language; "
        "english: each chunk detected, non-English chunks translated to English. A switch inside a chunk "
        "takes effect at the next chunk (chunks are at most 30 s).",
        label="Mixed languages",
    )
    code_switching_chunk_s: float = _option(
        10.0,
        "Longest chunk when code_switching is on: a switch inside a chunk takes effect at the next chunk, "
        "so shorter chunks follow switches sooner, at some cost in speed.",
        low=5.0, high=30.0, group="advanced",
        label="Mixed-language chunk (s)",
    )
    language_detection_segments: int = _option(
        4, "Voiced windows, spread over the file, that vote on its language.", low=1, high=64,
        group="advanced",
        label="Language detection windows",
    )
    timestamps: Timestamps = _option(
        "segment",
        "segment: times from Whisper's timestamp tokens; word: also a words column (word, start, end, "
        "probability) from cross-attention alignment, and segment times taken from their words.",
        label="Word timestamps", choice_labels={"segment": "off (segment times only)", "word": "on (words column)"},
    )
    segment_times: SegmentTimes = _option(
        "auto",
        "tokens: Whisper decodes timestamp tokens and its own phrases are the segments. alignment: Whisper "
        "decodes text only (fewer tokens, as faster-whisper's batched mode), the words are aligned by "
        "cross-attention and segments are cut at sentence ends and pauses (vad chunking only). auto: "
        "alignment on the ctranslate2 engine (the CPU default), tokens on transformers.",
        label="Segment boundaries",
    )
    engine: str = _option(
        "auto",
        "transformers (PyTorch; GPUs, compile) or ctranslate2 (int8 on CPU, with the encoder in bfloat16 on torch "
        "where the CPU has AMX or AVX512_BF16 and dtype is auto; float16 on GPU; "
        "pip install 'whisperkit_nb[faster-whisper]'). auto: ctranslate2 on a CPU when installed and the "
        "other options allow it (vad chunking, no compile, dtype and attention auto), else transformers.",
        choices=engine_choices,
        label="Engine",
    )
    chunking: Chunking = _option(
        "vad",
        "vad: speech regions from Silero VAD packed into <=30 s chunks (silence never decoded); "
        "fixed: the insanely-fast-whisper method (30 s windows with 5 s strides, stitched).",
        label="Chunking",
    )
    batch_size: int | None = _option(
        None, "Chunks decoded together. Default: from free GPU memory, 16 on CPU.", low=1, high=512,
        label="Batch size",
    )
    device: str = _option("auto", "auto, cpu, cuda, cuda:N or mps.", label="Device")
    dtype: DType = _option(
        "auto", "Weights dtype. auto: float16 on GPU, float32 on CPU (ctranslate2: int8, its encoder bfloat16 on "
        "CPUs with AMX or AVX512_BF16 and float32 on CPUs without AVX-512).", label="Precision",
    )
    attn_implementation: Attention = _option(
        "auto", "Attention kernel. auto: flash_attention_2 when flash-attn and a GPU are present, else sdpa.",
        group="advanced",
        label="Attention kernel",
    )
    compile: bool = _option(
        False,
        "Static KV cache + torch.compile of the decoder (transformers generate). Pays off on GPUs after a "
        "warm-up of a minute or so; only with chunking='vad'.",
        group="advanced",
        label="Compile the decoder",
    )
    beam_size: int | None = _option(
        None, "Beam search width at temperature 0 (1: greedy, the fastest). Above 1 runs on the ctranslate2 "
        "engine, which auto then picks (faster-whisper's batched pipeline uses 5). None: 4 on the "
        "ctranslate2 engine, 1 on transformers (which decodes greedily).",
        low=1, high=16, group="advanced",
        label="Beam size",
    )
    max_new_tokens: int = _option(
        224, "Most tokens decoded per 30 s chunk (Whisper's own limit is 224).", low=1, high=444,
        group="advanced",
        label="Most tokens per chunk",
    )
    compression_ratio_threshold: float | None = _option(
        2.4, "A chunk whose text compresses better than this is a repetition loop: re-decoded, then dropped.",
        low=1.0, high=100.0, group="advanced", nullable=True,
        label="Repetition threshold",
    )
    logprob_threshold: float | None = _option(
        -1.0, "Average token log-probability under which a chunk's text is unlikely: with no_speech_threshold "
        "it marks silence; with logprob_fallback the chunk is re-decoded with temperature.",
        low=-100.0, high=0.0, group="advanced", nullable=True,
        label="Log-probability threshold",
    )
    logprob_fallback: bool = _option(
        False, "Also re-decode with temperature a chunk whose text is unlikely (under logprob_threshold), as "
        "openai/whisper does. Off: only repetition loops and decodings cut at max_new_tokens are re-decoded; "
        "on hard audio the unlikely ones took up to twice the time for no fewer errors (bench/README.md).",
        group="advanced",
        label="Re-decode unlikely chunks",
    )
    no_speech_threshold: float | None = _option(
        0.6, "A chunk above this no-speech probability (and below logprob_threshold) is silence: dropped.",
        low=0.0, high=1.0, group="advanced", nullable=True,
        label="No-speech threshold",
    )
    temperature_step: float = _option(
        0.2, "Fallback temperatures for failing chunks (loops, cut decodings; unlikely text with "
        "logprob_fallback): step, 2*step, ... up to 1.0; 0 turns fallback off.",
        low=0.0, high=1.0, group="advanced",
        label="Fallback temperature step",
    )
    seed: int = _option(0, "Seed of the sampling fallback: same input and options, same DataFrame.",
                        low=0, high=2**31 - 1, group="advanced", label="Random seed")
    vad_threshold: float = _option(
        0.5, "Speech probability above which a 32 ms frame is speech.", low=0.01, high=0.99, group="advanced",
        label="Speech detection threshold",
    )
    vad_min_silence_s: float = _option(
        0.5, "Pauses shorter than this stay inside a speech region.", low=0.0, high=10.0, group="advanced",
        label="Shortest pause (s)",
    )
    vad_min_speech_s: float = _option(
        0.25, "Speech regions shorter than this are dropped.", low=0.0, high=10.0, group="advanced",
        label="Shortest speech (s)",
    )
    vad_pad_s: float = _option(
        0.1, "Audio kept before and after each speech region.", low=0.0, high=2.0, group="advanced",
        label="Padding around speech (s)",
    )
    vad_max_gap_s: float | None = _option(
        None,
        "Speech regions further apart than this never share a chunk, so no segment can span a long "
        "silence (Whisper's timestamp tokens would otherwise join sentences across the removed pause). "
        "None: 2.0 with segment_times='tokens'; no limit with 'alignment', whose segments end at every "
        "removed pause anyway.",
        low=0.0, high=3600.0, group="advanced",
        label="Longest gap in a chunk (s)",
    )
    chunk_s: float = _option(
        28.0,
        "Most seconds of speech packed into one 30 s Whisper window. The last 2 s stay silent by default: "
        "Whisper tends to drop an utterance that runs to the very end of its window.",
        low=5.0, high=30.0, group="advanced",
        label="Speech per chunk (s)",
    )
    diarize: bool = _option(False, "Fill the speaker column with pyannote.audio speaker diarization.",
                            group="speakers", label="Find speakers")
    num_speakers: int | None = _option(None, "Exact number of speakers, when known. With no count "
                                       "(num, min or max_speakers), the offline pipeline also splits a speaker "
                                       "whose whole turns hold several voices (similar voices in short turns).",
                                       low=1, high=100, group="speakers", label="Number of speakers")
    min_speakers: int | None = _option(None, "Fewest speakers to consider.", low=1, high=100, group="speakers",
                                       label="Fewest speakers")
    max_speakers: int | None = _option(None, "Most speakers to consider.", low=1, high=100, group="speakers",
                                       label="Most speakers")
    diarization_model: str | None = _option(
        None,
        "pyannote pipeline: a hub id (pyannote/speaker-diarization-community-1 needs hf_token) or a local "
        "directory. Default: the offline pipeline (segmentation-3.0 + CAM++ embeddings), no token needed.",
        group="speakers",
        label="Diarization model",
    )
    hf_token: str | None = _option(
        None, "Hugging Face token for gated hub pipelines (default: $HF_TOKEN).", group="speakers", secret=True,
        label="Hugging Face token",
    )
    speaker_split_min_s: float = _option(
        1.0,
        "A segment whose words change speaker is split at that word only if both sides last at least this "
        "long; 0 splits at every change.",
        low=0.0, high=60.0, group="speakers",
        label="Shortest speaker split (s)",
    )
    speaker_names: dict | None = _option(
        None, "Rename speakers in the result, e.g. {'SPEAKER_00': 'Interviewer'} (CLI: SPEAKER_00=Interviewer,...).",
        group="speakers",
        label="Speaker names",
    )
    speaker_samples: dict | None = _option(
        None,
        "Enrolment samples naming the speakers: {'Interviewer': 'interviewer.wav', 'Ana': ['ana1.m4a', "
        "'ana2.m4a']}, a few seconds to a minute of one voice each (CLI: NAME=PATH,..., a name repeated for "
        "several paths). Each turn of 1 s or more takes the name of the sample its voice matches (the turns of "
        "one name form one speaker; shorter turns follow their diarized speaker's nearest turn); a turn "
        "matching none keeps its SPEAKER_xx label. Needs diarize=True.",
        group="speakers",
        label="Speaker samples",
    )
    speaker_match_threshold: float | None = _option(
        None,
        "Cosine similarity between a turn's voice and a sample's above which the turn takes the sample's "
        "name. Lower names more turns, and more of them wrongly. None: 0.7, or 0.76 where the recording's low "
        "band is cut as on a telephone line (where it is, the samples are compared band-passed like it).",
        low=-1.0, high=1.0, group="speakers",
        label="Sample match threshold",
    )
    link_speakers: bool = _option(
        False, "In a corpus, link speakers across files by voice.", group="speakers",
        label="Link speakers across files",
    )
    speaker_link_threshold: float = _option(
        SPEAKER_LINK_THRESHOLD,
        "Cosine similarity between two files' speakers (their voices' centroids) above which link_speakers "
        "takes them for one person.",
        low=-1.0, high=1.0, group="speakers",
        label="Speaker link threshold",
    )
    corrupt_audio: CorruptAudio = _option(
        "skip",
        "skip: a stretch of a file that cannot be decoded becomes silence of its true length, so everything "
        "after it keeps its times; a warning names the file and the range, and df.attrs['files'][file]['gaps'] "
        "lists them. fail: any decoding error fails the file.",
        group="advanced",
        label="Undecodable audio",
    )
    progress: bool = _option(True, "Show progress bars.", label="Show progress")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _validate(f, getattr(self, f.name))
        if self.task == "translate" and self.model and self.model.endswith(".en"):
            raise OptionsError(f"task='translate' needs a multilingual model; {self.model!r} is English-only.")
        from whisperkit_nb.engines.registry import check_options

        check_options(self)  # what the engine cannot honour (beam search, compile, chunking, ...): no torch needed
        _validate_device(self.device)
        _validate_speakers(self)
        if self.code_switching != "off" and self.language is not None:
            raise OptionsError(
                f"code_switching={self.code_switching!r} detects each chunk's language; it cannot be combined "
                f"with language={self.language!r}."
            )
        if self.logprob_fallback and (self.logprob_threshold is None or self.temperature_step <= 0):
            raise OptionsError("logprob_fallback=True re-decodes chunks under logprob_threshold with temperature: it "
                               "needs a logprob_threshold and a temperature_step above 0.")
        if self.code_switching != "off" and self.chunking != "vad":
            raise OptionsError("code_switching needs chunking='vad'.")
        if self.code_switching == "english" and self.task == "translate":
            raise OptionsError("code_switching='english' already translates; leave task='transcribe'.")
        if self.compile and self.code_switching == "english":
            raise OptionsError("compile=True decodes one task per batch; use it without code_switching='english'.")
        if self.segment_times == "alignment" and self.chunking != "vad":
            raise OptionsError("segment_times='alignment' needs chunking='vad' (the fixed strategy stitches "
                               "windows at their timestamp tokens).")
        if self.timestamps == "word" and self.chunking != "vad":
            raise OptionsError("timestamps='word' needs chunking='vad'.")
        if self.compile and self.chunking != "vad":
            raise OptionsError("compile=True applies to chunking='vad'; the fixed strategy is the peer's method as is.")

    @property
    def decodes_timestamps(self) -> bool:
        """Whether Whisper decodes timestamp tokens (segment_times='tokens') or text only. Asked of options
        settled for their engine (`whisperkit_nb.engines.registry.settle`)."""
        if self.segment_times == "auto":
            raise RuntimeError("segment_times='auto' is settled for the engine first (engines.registry.settle).")
        return self.segment_times == "tokens"

    @property
    def max_gap_s(self) -> float:
        """The longest pause one chunk may hold: ``vad_max_gap_s``, or what None means for the segment times."""
        if self.vad_max_gap_s is not None:
            return self.vad_max_gap_s
        return AUTO_GAP_S if self.decodes_timestamps else NO_GAP_LIMIT_S

    def replace(self, **changes: Any) -> TranscribeOptions:
        """A copy with some options changed (validated again)."""
        unknown = set(changes) - set(option_names())
        if unknown:
            raise OptionsError(_unknown_message(unknown))
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> TranscribeOptions:
        """Build options from keyword arguments, naming any that do not exist."""
        unknown = set(kwargs) - set(option_names())
        if unknown:
            raise OptionsError(_unknown_message(unknown))
        return cls(**kwargs)


def resolve_options(options: TranscribeOptions | None, kwargs: dict[str, Any]) -> TranscribeOptions:
    """``options`` with keyword arguments overriding its fields (the public functions' convention)."""
    if options is None:
        return TranscribeOptions.from_kwargs(**kwargs)
    return options.replace(**kwargs) if kwargs else options


_VAD = ("vad_threshold", "vad_min_silence_s", "vad_min_speech_s", "vad_pad_s", "vad_max_gap_s")
_SPEAKER_COUNTS = ("num_speakers", "min_speakers", "max_speakers")

#: The options each public stage node (`whisperkit_nb.run.nodes`) takes; `transcribe` takes them all.
NODE_OPTIONS: dict[str, tuple[str, ...]] = {
    "load_audio": ("corrupt_audio",),
    "plan_chunks": ("corrupt_audio", *_VAD, "chunk_s", "code_switching", "code_switching_chunk_s"),
    "load_model": tuple(f.name for f in dataclasses.fields(TranscribeOptions)
                        if f.metadata["group"] != "speakers"),
    "diarize": ("corrupt_audio", *_SPEAKER_COUNTS, "diarization_model", "hf_token", "device", "progress",
                "speaker_samples", "speaker_match_threshold"),
    "assign_speakers": ("speaker_split_min_s", "speaker_names"),
}
# Nodes whose options are only valid with diarize=True (the speaker options say so).
_SPEAKER_NODES = ("diarize", "assign_speakers")


def node_options(node: str, options: TranscribeOptions | None, kwargs: dict[str, Any]) -> TranscribeOptions:
    """Options for one public stage node: ``options`` with ``kwargs`` applied, validated as for `transcribe`.

    A keyword that is no option, or one that the node cannot honour (``diarize(path, model="base")``),
    raises `OptionsError` naming the options it takes.
    """
    unknown = set(kwargs) - set(option_names())
    if unknown:
        raise OptionsError(_unknown_message(unknown))
    allowed = NODE_OPTIONS[node]
    inapplicable = sorted(set(kwargs) - set(allowed))
    if inapplicable:
        raise OptionsError(f"{node}() does not take {', '.join(map(repr, inapplicable))}; "
                           f"its options are: {', '.join(allowed)}.")
    changes = {"diarize": True, **kwargs} if node in _SPEAKER_NODES else kwargs
    return resolve_options(options, changes)


def option_names() -> list[str]:
    """Names of all options, in declaration order."""
    return [f.name for f in dataclasses.fields(TranscribeOptions)]


def option_fields() -> list[dataclasses.Field]:
    """The dataclass fields, for front ends that generate their controls from them."""
    return list(dataclasses.fields(TranscribeOptions))


@functools.cache
def _type_hints() -> dict[str, Any]:
    # Evaluated once: the CLI, magics and panel ask for every field's, and each evaluation reads them all.
    return typing.get_type_hints(TranscribeOptions)


def choices_of(f: dataclasses.Field) -> tuple[Any, ...] | None:
    """Allowed values of a Literal-typed option (or one with ``choices`` metadata), else None."""
    if f.metadata.get("choices") is not None:
        return tuple(f.metadata["choices"]())
    hint = _type_hints()[f.name]
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    return None


def base_type_of(f: dataclasses.Field) -> type:
    """The Python type of an option's values (str, int, float or bool), Optional stripped."""
    hint = _type_hints()[f.name]
    if typing.get_origin(hint) is Literal:
        return type(typing.get_args(hint)[0])
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def _unknown_message(unknown: set[str]) -> str:
    import difflib

    parts = []
    for name in sorted(unknown):
        close = difflib.get_close_matches(name, option_names(), n=1)
        parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return f"Unknown option {', '.join(parts)}. Options are: {', '.join(option_names())}."


def _validate(f: dataclasses.Field, value: Any) -> None:
    if value is None:
        if f.default is not None and not f.metadata.get("nullable"):
            raise OptionsError(f"Option {f.name!r} cannot be None.")
        return
    allowed = choices_of(f)
    if allowed is not None and value not in allowed:
        raise OptionsError(f"Option {f.name}={value!r} is not one of {', '.join(map(repr, allowed))}.")
    kind = base_type_of(f)
    if kind is bool and not isinstance(value, bool):
        raise OptionsError(f"Option {f.name} must be True or False, got {value!r}.")
    if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise OptionsError(f"Option {f.name} must be a number, got {value!r}.")
    if kind is int and not float(value).is_integer():
        raise OptionsError(f"Option {f.name} must be a whole number, got {value!r}.")
    if kind is dict and not isinstance(value, dict):
        raise OptionsError(f"Option {f.name} must be a dict, got {type(value).__name__}.")
    if kind is str and not isinstance(value, str):
        raise OptionsError(f"Option {f.name} must be a string, got {type(value).__name__}.")
    low, high = f.metadata.get("low"), f.metadata.get("high")
    if low is not None and value < low or high is not None and value > high:
        raise OptionsError(f"Option {f.name}={value!r} is outside the range {low}..{high}.")


def _validate_speakers(o: TranscribeOptions) -> None:
    if o.num_speakers is not None and (o.min_speakers is not None or o.max_speakers is not None):
        raise OptionsError("Give num_speakers, or min_speakers/max_speakers, not both.")
    if o.min_speakers is not None and o.max_speakers is not None and o.min_speakers > o.max_speakers:
        raise OptionsError(f"min_speakers={o.min_speakers} is larger than max_speakers={o.max_speakers}.")
    speaker_options = (o.num_speakers, o.min_speakers, o.max_speakers, o.diarization_model, o.speaker_names)
    if not o.diarize and any(v is not None for v in speaker_options):
        raise OptionsError(
            "Speaker options (num/min/max_speakers, diarization_model, speaker_names) need diarize=True."
        )
    if not o.diarize and o.speaker_samples is not None:
        raise OptionsError("speaker_samples names the speakers that diarization finds: add diarize=True.")
    if not o.diarize and o.link_speakers:
        raise OptionsError("link_speakers links the speakers that diarization finds: add diarize=True.")
    if o.speaker_samples is not None:
        _validate_samples(o.speaker_samples)
    if o.speaker_names is not None and not all(
        isinstance(k, str) and isinstance(v, str) for k, v in o.speaker_names.items()
    ):
        raise OptionsError("speaker_names must map speaker labels to names, e.g. {'SPEAKER_00': 'Ana'}.")


def sample_paths(paths: Any) -> list[Any]:
    """One name's ``speaker_samples`` value as a list: a path, or a list or tuple of paths."""
    return list(paths) if isinstance(paths, (list, tuple)) else [paths]


def _validate_samples(samples: dict) -> None:
    """Names to a path or a non-empty list of paths (the files themselves are checked when embedded)."""
    import os

    example = "e.g. {'Ana': 'ana.wav', 'Ben': ['ben1.m4a', 'ben2.m4a']}"
    if not samples:
        raise OptionsError(f"speaker_samples is empty: give one or more names with their samples, {example}.")
    for name, paths in samples.items():
        if not isinstance(name, str) or not name.strip():
            raise OptionsError(f"speaker_samples: {name!r} is not a speaker name; {example}.")
        listed = sample_paths(paths)
        if not listed or not all(isinstance(p, (str, os.PathLike)) and str(p).strip() for p in listed):
            raise OptionsError(f"speaker_samples[{name!r}] must be a path or a list of paths, got {paths!r}; "
                               f"{example}.")


def _validate_device(device: str) -> None:
    if device in ("auto", "cpu", "cuda", "mps"):
        return
    if device.startswith("cuda:") and device[5:].isdigit():
        return
    raise OptionsError(f"device={device!r}: use auto, cpu, cuda, cuda:N or mps.")
