"""IPython magics: ``%transcribe``, ``%%transcribe`` and ``%whisperkit`` (``%load_ext whisperkit_nb``).

Their option flags come from `TranscribeOptions` through the same code as the CLI's
(`cli.add_option_arguments`), so ``%transcribe?`` documents every option. Flags given to ``%transcribe``
apply to that call only; flags not given take the session defaults, which ``%whisperkit`` and the control
panel set (`state.SESSION`). When ``%transcribe`` ends it shows one line per file
(`whisperkit_nb.output.summary.summary_lines`) and records what it ran with in ``SESSION.last_options`` and
``SESSION.last_summary``. With ``--store DIR`` the inputs go into a resumable store
(`whisperkit_nb.transcribe_corpus`) and the magic returns the store's segments (`Corpus.frame`), printing
one line on what the run did.
"""

from __future__ import annotations

import html
import os
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from whisperkit_nb.cli import add_option_arguments, given_options, redact_token
from whisperkit_nb.corpus.store import StoreError
from whisperkit_nb.errors import MissingDependencyError, OptionsError
from whisperkit_nb.notebook.progress import corpus_summary, transcribe_corpus_with_progress, transcribe_with_progress
from whisperkit_nb.notebook.state import SESSION
from whisperkit_nb.options import TranscribeOptions, option_fields
from whisperkit_nb.output.summary import summary_line, summary_lines

try:
    from IPython.core.error import UsageError
    from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
    from IPython.core.magic_arguments import ArgDecorator, argument, magic_arguments, parse_argstring
    from IPython.display import display
except ImportError as err:
    raise MissingDependencyError("ipython", "notebook", "%load_ext whisperkit_nb") from err


class _option_arguments(ArgDecorator):
    """Adds one flag per `TranscribeOptions` field, exactly as the CLI does."""

    def add_to_parser(self, parser, group):
        add_option_arguments(group if group is not None else parser)


class _store_arguments(ArgDecorator):
    """``--store DIR`` and ``--overwrite``, as the CLI's ``whisperkit transcribe`` has them."""

    def add_to_parser(self, parser, group):
        target = group if group is not None else parser
        target.add_argument("--store", metavar="DIR",
                            help="Transcribe into this folder, a resumable store (one Parquet file per input and a "
                                 "manifest): inputs already done are skipped, an interrupted run resumes where it "
                                 "stopped. Inputs may also be folders or one CSV/Parquet manifest with a 'path' "
                                 "column. Returns all the store's segments (wk.open_corpus(DIR) reopens it).")
        target.add_argument("--overwrite", action="store_true", help="With --store: transcribe every input again.")


def _parse(magic: Any, line: str) -> Any:
    """``parse_argstring``, except that a usage error never repeats a token: a misspelt ``--hf-tokn $token``
    is listed, expanded value included, among the arguments the parser did not recognise."""
    try:
        return parse_argstring(magic, line)
    except UsageError as err:
        raise UsageError(redact_token(str(err))) from None


def _options_with(args: Any) -> TranscribeOptions:
    try:
        return SESSION.options.replace(**given_options(args))
    except OptionsError as err:
        raise UsageError(str(err)) from None


@magics_class
class WhisperkitMagics(Magics):
    """The whisperkit_nb magics; registered by ``%load_ext whisperkit_nb``."""

    @magic_arguments()
    @argument("audio", nargs="+", metavar="FILE_OR_GLOB",
              help="Audio/video files, glob patterns ('talks/*.m4a'), or names of variables holding a path, "
                   "a list of paths, a 16 kHz array/tensor or an (array, sample_rate) pair. {python} "
                   "expressions in braces are expanded.")
    @argument("-o", "--out", metavar="NAME", help="Also store the DataFrame in this variable.")
    @_store_arguments()
    @_option_arguments()
    @line_magic
    def transcribe(self, line: str) -> pd.DataFrame:
        """Transcribe audio into a DataFrame (one row per segment): ``df = %transcribe talk.m4a --model base``.

        Option flags apply to this call only; those not given take the session defaults, which
        ``%whisperkit --OPTION VALUE`` sets. When the call ends, one line per file says its audio length,
        segments, speakers, language, time taken ("x real time") and engine. ``df = %transcribe interviews/
        --store out/`` transcribes into a resumable store: running the same line again skips every input
        already done.
        """
        args = _parse(self.transcribe, line)
        options = _options_with(args)
        items = [self._resolve(token) for token in args.audio]
        audio = items[0] if len(items) == 1 else _flatten(items)
        if _store_of(args) is not None:
            frame = _run_corpus(audio, args, options)
            _record(frame, options)
        else:
            frame = _run(audio, options)
            _say_if_interrupted(frame, args.out)
            _show_summary(frame, options, args)
        if args.out and frame is not None:
            self.shell.user_ns[args.out] = frame
        return frame

    @magic_arguments()
    @argument("name", nargs="?", metavar="NAME", help="Variable to store the DataFrame in.")
    @_store_arguments()
    @_option_arguments()
    @cell_magic("transcribe")
    def transcribe_cell(self, line: str, cell: str) -> pd.DataFrame | None:
        """Transcribe a corpus into one DataFrame: one path, glob or variable name per line of the cell.

        ``%%transcribe corpus --language en`` stores the DataFrame in ``corpus`` (without NAME it is
        the cell's output). Blank lines and lines starting with ``#`` are skipped; ``{python}``
        expressions in braces are expanded. Option flags apply to this call only; those not given take the
        session defaults (``%whisperkit``). When the call ends, one line per file sums it up. With
        ``--store DIR`` the inputs (a line may also be a folder, or the cell one manifest) go into a resumable
        store, and the DataFrame holds all of its segments.
        """
        args = _parse(self.transcribe_cell, line)
        if args.name is not None and not args.name.isidentifier():
            raise UsageError(f"%%transcribe NAME: {args.name!r} is not a valid variable name.")
        options = _options_with(args)
        lines = [raw.strip() for raw in cell.splitlines()]
        items = [self._resolve(self.shell.var_expand(text)) for text in lines if text and not text.startswith("#")]
        if not items:
            raise UsageError("%%transcribe: the cell names no audio (one path or glob per line).")
        if _store_of(args) is not None:
            frame = _run_corpus(items[0] if len(items) == 1 else _flatten(items), args, options)
            _record(frame, options)
            if frame is None:
                return None
        else:
            frame = _run(_flatten(items), options)
            _say_if_interrupted(frame, args.name)
            _show_summary(frame, options, args)
        if args.name is None:
            return frame
        self.shell.user_ns[args.name] = frame
        files = frame.attrs.get("files", {})
        print(f"{args.name}: {len(frame)} segments from {len(files)} file(s)")
        return None

    @magic_arguments()
    @argument("--reset", action="store_true", help="Put every session default back to the built-in one.")
    @argument("--all", action="store_true", help="List every option's session default, not only the common "
                                                  "ones and those changed.")
    @argument("--help", action="store_true", help="Show this help.")
    @_option_arguments()
    @line_magic
    def whisperkit(self, line: str) -> SessionReport | None:
        """Show the session defaults and the device facts, or set defaults: ``%whisperkit --model large-v3``.

        The defaults apply to every later ``%transcribe`` and to the control panel (``whisperkit_nb.controls()``);
        flags given to ``%transcribe`` itself apply to that call only. Without flags the report is short: the
        common options (model, language, timestamps, diarization and speakers, device), those changed from the
        built-in defaults, and the machine; ``%whisperkit --all`` lists every option.
        """
        args = _parse(self.whisperkit, line)
        if args.help:
            print(self.whisperkit.parser.format_help())
            return None
        if args.reset:
            SESSION.reset()
        try:
            SESSION.update(**given_options(args))
        except OptionsError as err:
            raise UsageError(str(err)) from None
        return session_report(every_option=args.all)

    def _resolve(self, token: str) -> Any:
        """A variable's value when ``token`` names one in the user namespace and no such file exists."""
        if token.isidentifier() and token in self.shell.user_ns and not os.path.exists(token):
            return self.shell.user_ns[token]
        return token


def _run(audio: Any, options: TranscribeOptions) -> pd.DataFrame:
    try:
        return transcribe_with_progress(audio, options)
    except OptionsError as err:
        raise UsageError(str(err)) from None


def _store_of(args: Any) -> str | None:
    """The ``--store`` folder, or None; ``--overwrite`` alone is a usage error (it only means something there)."""
    if args.overwrite and args.store is None:
        raise UsageError("--overwrite applies to --store runs: add --store DIR, or leave --overwrite out.")
    return args.store


def _run_corpus(inputs: Any, args: Any, options: TranscribeOptions) -> pd.DataFrame | None:
    """The inputs into the ``--store`` folder; the store's segments, or None when interrupted before it started.

    A store or inputs that cannot be used (not writable, in use by another run, a manifest without a path
    column) are usage errors: their message, no traceback. An interrupt keeps every finished input in the
    store, and the message says so: running the same line again resumes.
    """
    started = time.perf_counter()
    resume = f"run the same line again to resume (wk.open_corpus({args.store!r}) reads what is there)."
    try:
        corpus = transcribe_corpus_with_progress(inputs, args.store, options, overwrite=args.overwrite)
    except (StoreError, OptionsError) as err:
        raise UsageError(redact_token(str(err), options.hf_token)) from None
    except KeyboardInterrupt:  # before the first input started (finding and hashing the inputs)
        print(f"Interrupted: every input finished before the interrupt is in {args.store}; {resume}")
        return None
    print(corpus_summary(corpus, args.store, time.perf_counter() - started))
    frame = corpus.frame
    if corpus.interrupted:
        frame.attrs["interrupted"] = True  # as a plain run's frame says it
        print(f"Interrupted: the {corpus.counts()['done']} finished file(s) are in {args.store}; {resume}")
    return frame


def _flatten(items: list[Any]) -> list[Any]:
    """Variables holding lists of paths join the other inputs as their items."""
    flat: list[Any] = []
    for item in items:
        flat.extend(item if isinstance(item, list) else [item])
    return flat


def _record(frame: pd.DataFrame | None, options: TranscribeOptions) -> None:
    """What the call ran with and its summary, for the control panel (`SESSION.last_options`, `last_summary`)."""
    SESSION.last_options = options
    SESSION.last_summary = summary_lines(frame) if frame is not None else None


def _show_summary(frame: pd.DataFrame, options: TranscribeOptions, args: Any) -> None:
    """Record the call (`_record`) and show its summary below the cell."""
    _record(frame, options)
    display(RunSummary.of(frame, given=bool(given_options(args))))


# Most lines a summary shows; the rest are in SESSION.last_summary (and the facts in df.attrs["files"]).
SHOWN_LINES = 20
FLAGS_NOTE = "flags apply to this call only; %whisperkit --OPTION VALUE sets session defaults"


@dataclass(frozen=True)
class RunSummary:
    """What ``%transcribe`` shows when it ends: one line per file (`summary_lines`), a total for several,
    and, when the call had option flags, that they applied to it only."""

    lines: tuple[str, ...]
    total: str | None = None
    note: str | None = None

    @classmethod
    def of(cls, frame: pd.DataFrame, *, given: bool = False) -> RunSummary:
        lines = [line for line in summary_lines(frame) if not line.startswith("Interrupted")]  # said already
        total = summary_line(frame) if len(lines) > 1 else None
        if len(lines) > SHOWN_LINES:
            more = len(lines) - SHOWN_LINES
            lines = [*lines[:SHOWN_LINES], f"… and {more} more (SESSION.last_summary has every line)"]
        return cls(tuple(lines), total, FLAGS_NOTE if given else None)

    def text_lines(self) -> list[str]:
        return [*self.lines, *([self.total] if self.total else []), *([f"({self.note})"] if self.note else [])]

    def __repr__(self) -> str:
        return "\n".join(self.text_lines())

    def _repr_html_(self) -> str:
        rows = "".join(f"<div>{html.escape(line)}</div>" for line in self.lines)
        if self.total:
            rows += f"<div><b>{html.escape(self.total)}</b></div>"
        if self.note:
            rows += f"<div style='opacity:0.7'>{html.escape(self.note)}</div>"
        return f"<div class='whisperkit-summary' style='font-family:monospace;font-size:0.9em'>{rows}</div>"


def _say_if_interrupted(frame: pd.DataFrame, name: str | None) -> None:
    if frame.attrs.get("interrupted"):
        where = f" (stored in {name})" if name else ""
        print(f"Interrupted: kept the {len(frame)} segments finished before the interrupt{where}.")


# ----------------------------------------------------------------------------------------------------
# %whisperkit's report


# The options a short ``%whisperkit`` report always shows (others only when changed from their default).
COMMON = ("model", "language", "timestamps", "diarize", "num_speakers", "min_speakers", "max_speakers", "device")
HINT = ("%whisperkit --OPTION VALUE sets a session default (--reset restores them all); "
        "%whisperkit --all lists every option, %whisperkit --help documents them. "
        "Flags given to %transcribe apply to that call only.")


@dataclass(frozen=True)
class SessionReport:
    """What ``%whisperkit`` shows: the session defaults and what they resolve to on this machine.

    ``defaults`` holds every option (a token shown only as set or not); the report shows the common ones
    and those that differ from the built-in defaults (``changed``), or all of them with ``every_option``.
    """

    defaults: dict[str, Any]
    device: dict[str, Any]
    changed: tuple[str, ...] = ()
    every_option: bool = True

    def shown(self) -> dict[str, Any]:
        """The options the report lists."""
        if self.every_option:
            return dict(self.defaults)
        speakers = self.defaults.get("diarize")
        common = [name for name in COMMON if name in self.defaults
                  and (not name.endswith("_speakers") or (speakers and self.defaults[name] is not None))]
        # a token in use is worth a line (shown only as set, and from where), one not in use is not
        tokens = [n for n, v in self.defaults.items() if isinstance(v, str) and v.startswith("set")]
        extra = [n for n in [*self.changed, *tokens] if n not in common]
        return {name: self.defaults[name] for name in [*common, *dict.fromkeys(extra)]}

    def rows(self) -> list[tuple[str, str]]:
        return [(k, str(v)) for k, v in self.defaults.items()] + [(k, str(v)) for k, v in self.device.items()]

    def __repr__(self) -> str:
        shown = self.shown()
        width = max(len(k) for k in [*shown, *self.device])
        changed = " (* changed)" if self.changed else ""
        lines = [f"session defaults{changed}:" if not self.every_option else
                 "session defaults (%whisperkit --OPTION VALUE to change):"]
        lines += [f"  {k:<{width}}  {self._value(k)}" for k in shown]
        if self.every_option:
            lines += ["device:"] + [f"  {k:<{width}}  {v}" for k, v in self.device.items()]
        else:
            machine = {k: v for k, v in self.device.items() if k not in ("model", "device")}  # shown above
            lines += ["machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()), HINT]
        return "\n".join(lines)

    def _value(self, name: str) -> str:
        value = self.defaults[name]
        if name == "model" and value is None:
            value = self.device.get("model", value)
        elif name == "language" and value is None:
            value = "detected per file"
        elif name == "device" and value == "auto" and "device" in self.device:
            value = f"auto ({self.device['device']})"
        return f"{value}{' *' if name in self.changed else ''}"

    def _repr_html_(self) -> str:
        def table(title: str, items: dict[str, Any]) -> str:
            cell = "<td style='text-align:left'>"
            body = "".join(f"<tr>{cell}<code>{html.escape(k)}</code></td>{cell}{html.escape(str(v))}</td></tr>"
                           for k, v in items.items())
            return f"<table><thead><tr><th colspan=2 style='text-align:left'>{title}</th></tr></thead>{body}</table>"

        title = "session defaults" + (" (* changed)" if self.changed and not self.every_option else "")
        shown = {k: (self._value(k) if not self.every_option else v) for k, v in self.shown().items()}
        tables = ("<div style='display:flex;gap:2em;align-items:flex-start'>"
                  + table(title, shown) + table("device", self.device) + "</div>")
        return tables if self.every_option else tables + f"<div style='opacity:0.7'>{html.escape(HINT)}</div>"


def session_report(every_option: bool = False) -> SessionReport:
    options, builtin = SESSION.options, TranscribeOptions()
    defaults = {}
    for f in option_fields():
        value = getattr(options, f.name)
        if f.metadata.get("secret"):
            value = "set" if value else "set by $HF_TOKEN" if os.environ.get("HF_TOKEN") else "not set (uses $HF_TOKEN)"
        defaults[f.name] = value
    changed = tuple(f.name for f in option_fields() if getattr(options, f.name) != getattr(builtin, f.name))
    return SessionReport(defaults, device_facts(options), changed, every_option)


def device_facts(options: TranscribeOptions) -> dict[str, Any]:
    """The device, GPU, dtype, attention kernel and model these options resolve to here."""
    import torch

    from whisperkit_nb.device import flash_attn_installed, resolve_attention, resolve_device, resolve_dtype
    from whisperkit_nb.engines import registry
    from whisperkit_nb.engines.weights import default_model_name

    facts: dict[str, Any] = {"torch": torch.__version__}
    try:
        device = resolve_device(options.device)
        dtype = resolve_dtype(options.dtype, device)
    except OptionsError as err:
        return facts | {"error": str(err)}
    facts["device"] = str(device)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        free, total = torch.cuda.mem_get_info(device)
        facts["gpu"] = props.name
        facts["gpu memory"] = f"{free / 2**30:.1f} GiB free of {total / 2**30:.1f} GiB"
    else:
        facts["gpu"] = "none visible to torch"
    facts["dtype"] = str(dtype).removeprefix("torch.")
    try:
        facts["attention"] = resolve_attention(options.attn_implementation, device, dtype)
    except Exception as err:  # noqa: BLE001 - shown, not raised: the report must always render
        facts["attention"] = f"unavailable: {err}"
    facts["flash-attn"] = "installed" if flash_attn_installed() else "not installed"
    name = options.model or default_model_name(device)
    facts["model"] = options.model or f"{name} (default)"
    try:  # on a CPU, engine="auto" runs CTranslate2 int8, whatever torch dtype is shown above
        facts["engine"] = registry.resolve_engine(options, device, name)
    except OptionsError as err:
        facts["engine"] = f"unavailable: {err}"
    facts["loaded"] = ", ".join(registry.loaded_models()) or "none yet"
    return facts
