"""Command line: ``whisperkit transcribe FILE... [options] [-o OUT.{json,csv,parquet}] [--store DIR [--overwrite]]``.

With ``--store DIR`` the inputs (files, folders, globs, or one CSV/Parquet manifest) go into a resumable
store (`whisperkit_nb.transcribe_corpus`): a second run skips every input already done.

Every option flag is generated from `TranscribeOptions`, so the CLI never drifts from the Python API.

Exit status: 0 all transcribed; 2 some files failed (the others are still written); 1 nothing could be
transcribed; 130 interrupted (Ctrl-C, SIGINT): the segments finished before the interrupt (earlier files
whole, the current one up to its last decoded batch) are still printed or written, and a message on stderr
says the output is partial.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from whisperkit_nb.options import TranscribeOptions, base_type_of, choices_of, option_fields

WRITERS = {".json": "to_json", ".csv": "to_csv", ".parquet": "to_parquet"}
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shell's convention for a command stopped by Ctrl-C
EPILOG = ("exit status: 0 done; 2 some files failed (the others are written); 1 nothing transcribed; "
          "130 interrupted (Ctrl-C): what finished before the interrupt is still printed or written.")

# Hugging Face tokens look like this (hf_ then 34 letters and digits); whatever does is masked when printed.
TOKEN_SHAPE = re.compile(r"\bhf_[A-Za-z0-9]{8,}")


def redact_token(text: str, *tokens: str | None) -> str:
    """``text`` with the Hugging Face token masked: ``tokens``, ``$HF_TOKEN`` and anything shaped like a token.

    For messages that may quote what the user typed: an unrecognised ``--hf-tokn hf_...`` is listed,
    value included, by argparse and by IPython's magic parser alike.
    """
    for token in (*tokens, os.environ.get("HF_TOKEN")):
        if token:
            text = text.replace(token, "***")
    return TOKEN_SHAPE.sub("hf_***", text)


class _Parser(argparse.ArgumentParser):
    """argparse, except that its usage errors never repeat a token (see `redact_token`)."""

    def error(self, message: str):
        super().error(redact_token(message))


def add_option_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per `TranscribeOptions` field (``--batch-size``, ``--no-progress``, ...)."""
    for f in option_fields():
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata["help"] + (f" (default: {f.default})" if f.default is not None else "")
        kind = base_type_of(f)
        if kind is dict:
            parser.add_argument(flag, dest=f.name, type=parse_mapping, default=None, metavar="KEY=VALUE,...",
                                help=help_text)
        elif kind is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                help=help_text)
        else:
            parser.add_argument(flag, dest=f.name, type=kind, choices=choices_of(f), default=None,
                                metavar=None if choices_of(f) else f.name.upper(), help=help_text)


def parse_mapping(text: str) -> dict[str, str]:
    """``"SPEAKER_00=Ana,SPEAKER_01=Ben"`` → ``{"SPEAKER_00": "Ana", "SPEAKER_01": "Ben"}``."""
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if not pairs or any(len(p) != 2 or not p[0].strip() for p in pairs):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE[,KEY=VALUE...], got {text!r}")
    return {k.strip(): v.strip() for k, v in pairs}


def given_options(ns: argparse.Namespace) -> dict:
    """The option flags that were given (``None`` means "not given": the default applies)."""
    return {f.name: getattr(ns, f.name) for f in option_fields() if getattr(ns, f.name, None) is not None}


def options_from_namespace(ns: argparse.Namespace) -> TranscribeOptions:
    """Options from parsed flags: flags not given keep the dataclass defaults."""
    return TranscribeOptions(**given_options(ns))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="whisperkit", description="Batched Whisper transcription to DataFrames.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("transcribe", help="Transcribe audio files (paths or glob patterns).", epilog=EPILOG)
    run.add_argument("files", nargs="+", help="Audio or video files, or glob patterns such as 'talks/*.m4a'.")
    run.add_argument("-o", "--output", type=Path, help="Write the DataFrame to OUT.json, OUT.csv or OUT.parquet.")
    run.add_argument("--store", type=Path, metavar="DIR",
                     help="Transcribe into a resumable store (one Parquet file per input and a manifest): inputs "
                          "already done are skipped, a killed run resumes. Inputs may be folders or a manifest.")
    run.add_argument("--overwrite", action="store_true", help="With --store: transcribe every input again.")
    add_option_arguments(run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _transcribe_command(parser, args)
    except KeyboardInterrupt:  # before the first segment finished (loading the model), or a second Ctrl-C
        print("whisperkit: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED


def _transcribe_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from whisperkit_nb.api import transcribe  # with progress bars on stderr unless --no-progress
    from whisperkit_nb.errors import WhisperkitError

    if args.output is not None and args.output.suffix.lower() not in WRITERS:
        parser.error(f"-o {args.output}: use a .json, .csv or .parquet file name.")
    if args.overwrite and args.store is None:
        parser.error("--overwrite applies to --store runs.")
    if args.store is not None:
        return _corpus_command(args)
    try:
        options = options_from_namespace(args)
        started = time.perf_counter()
        frame = transcribe(list(args.files), options)
    except WhisperkitError as err:
        print(f"whisperkit: error: {redact_token(str(err), args.hf_token)}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - started
    files = frame.attrs.get("files", {})
    audio = sum(info.get("duration", 0.0) or 0.0 for info in files.values())
    print(f"{len(files)} file(s), {audio:.1f} s of audio, {len(frame)} segments in {seconds:.1f} s "
          f"({audio / seconds if seconds else 0:.1f}x real time)")
    for name, info in files.items():
        print(f"  {name}: {info.get('duration', 0):.1f} s, language {info.get('language')}")
    for name, message in frame.attrs.get("failures", {}).items():
        print(f"  FAILED {name}: {redact_token(message, args.hf_token)}", file=sys.stderr)
    interrupted = frame.attrs.get("interrupted", False)
    if args.output is not None and (len(frame) or not interrupted):
        write_frame(frame, args.output)
        print(f"wrote {args.output}")
    elif args.output is None:
        print(frame[["file", "start", "end", "text"]].to_string(index=False))
    if interrupted:
        where = "printed above" if args.output is None else f"in {args.output}" if len(frame) else "nothing written"
        print(f"whisperkit: interrupted: partial output, only the {len(frame)} segments finished before the "
              f"interrupt ({where}).", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 2 if frame.attrs.get("failures") else 0


def _corpus_command(args: argparse.Namespace) -> int:
    """``--store DIR``: the inputs into a resumable store; same exit statuses as a plain run."""
    from whisperkit_nb.api import transcribe_corpus
    from whisperkit_nb.errors import WhisperkitError

    inputs = args.files[0] if len(args.files) == 1 else list(args.files)  # one argument may be a manifest
    try:
        started = time.perf_counter()
        corpus = transcribe_corpus(inputs, args.store, options_from_namespace(args), overwrite=args.overwrite)
    except WhisperkitError as err:
        print(f"whisperkit: error: {redact_token(str(err), args.hf_token)}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - started
    counts = corpus.counts()
    total = len(corpus.entries)
    if total and corpus.skipped == total:
        print(f"all {total} file(s) were already done in {args.store}: nothing to transcribe ({seconds:.1f} s)")
    else:
        print(f"{total} file(s) in {args.store}: {counts['done']} done ({corpus.skipped} already done before this "
              f"run), {counts['failed']} failed, {counts['pending']} pending, in {seconds:.1f} s")
    for name, message in corpus.failures.items():
        print(f"  FAILED {name}: {redact_token(message, args.hf_token)}", file=sys.stderr)
    if args.output is not None:
        write_frame(corpus.frame, args.output)
        print(f"wrote {args.output}")
    if corpus.interrupted:
        print(f"whisperkit: interrupted: the {counts['done']} finished file(s) are in {args.store}; run the same "
              "command again to resume.", file=sys.stderr)
        return EXIT_INTERRUPTED
    if counts["failed"]:
        return 1 if counts["done"] == 0 else 2
    return 0


def write_frame(frame, path: Path) -> None:
    """Write ``frame`` to a .json, .csv or .parquet file, in full or not at all (a temporary file renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = WRITERS[path.suffix.lower()]
    kwargs = {"orient": "records", "indent": 2, "force_ascii": False} if writer == "to_json" else {"index": False}
    partial = path.with_name(f".{path.name}.partial")
    try:
        getattr(frame, writer)(partial, **kwargs)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


if __name__ == "__main__":
    raise SystemExit(main())
