"""Command line.

``whisperkit transcribe FILE... [options] [-o OUT] [--export DIR --formats srt,vtt,...] [--store DIR [--overwrite]]``
    ``-o`` writes one file: the DataFrame as ``.json`` (records), ``.csv`` or ``.parquet`` as before, or any
    export format chosen by the file name (``out.srt``, ``out.TextGrid``, ``out.maxqda.txt``; or
    ``--output-format``). ``--export DIR --formats ...`` writes one file per input and format.
    With ``--store DIR`` the inputs (files, folders, globs, or one CSV/Parquet manifest) go into a resumable
    store (`whisperkit_nb.transcribe_corpus`): a second run skips every input already done.
``whisperkit convert IN OUT``
    Our JSON, WhisperX's JSON or insanely-fast-whisper's JSON into any export format.
``whisperkit ifw --file-name FILE ...``
    insanely-fast-whisper's command line and JSON output, running this package's engine.

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

# -o files written by pandas, as before the export formats (the DataFrame's records, CSV, Parquet); any other
# ending is an export format (whisperkit_nb.output.formats).
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


def parse_mapping(text: str) -> dict[str, str | list[str]]:
    """``"SPEAKER_00=Ana,SPEAKER_01=Ben"`` → ``{"SPEAKER_00": "Ana", "SPEAKER_01": "Ben"}``.

    A key given again collects its values in a list, in order (``"Ana=a1.wav,Ana=a2.wav"`` →
    ``{"Ana": ["a1.wav", "a2.wav"]}``: several speaker samples of one voice); options that want one value
    per key say so when validated.
    """
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if not pairs or any(len(p) != 2 or not p[0].strip() for p in pairs):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE[,KEY=VALUE...], got {text!r}")
    mapping: dict[str, str | list[str]] = {}
    for key, value in ((k.strip(), v.strip()) for k, v in pairs):
        if key not in mapping:
            mapping[key] = value
        else:
            previous = mapping[key]
            mapping[key] = [*(previous if isinstance(previous, list) else [previous]), value]
    return mapping


def format_mapping(mapping: dict, separator: str = ", ") -> str:
    """The text `parse_mapping` reads back: a key with a list of values is repeated once per value."""
    return separator.join(f"{k}={item}" for k, v in mapping.items()
                          for item in (v if isinstance(v, (list, tuple)) else [v]))


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
    run.add_argument("-o", "--output", type=Path,
                     help="Write one file: the DataFrame as OUT.json (records), OUT.csv or OUT.parquet, or an export "
                          "format chosen by the file name (OUT.srt, OUT.vtt, OUT.TextGrid, OUT.eaf, OUT.docx, "
                          "OUT.html, OUT.maxqda.txt, ...). Formats tied to one recording need a single input.")
    run.add_argument("--output-format", metavar="FORMAT",
                     help=f"The export format of -o, whatever its name ends with: {', '.join(_format_names())}.")
    run.add_argument("--export", type=Path, metavar="DIR",
                     help="Write one file per input and format into DIR (see --formats): DIR/<input stem>.srt, ...")
    run.add_argument("--formats", metavar="F1,F2,...",
                     help=f"Formats for --export (default: json): {', '.join(_format_names())}.")
    add_export_options_argument(run)
    run.add_argument("--store", type=Path, metavar="DIR",
                     help="Transcribe into a resumable store (one Parquet file per input and a manifest): inputs "
                          "already done are skipped, a killed run resumes. Inputs may be folders or a manifest.")
    run.add_argument("--overwrite", action="store_true", help="With --store: transcribe every input again.")
    run.add_argument("--num-workers", type=int, metavar="N",
                     help="With --store: threads preparing the next inputs (decode, VAD) while the model works "
                          "(default: one per core beyond the first, 1 to 4); with --backend ray: transcription "
                          "actors (default 1).")
    run.add_argument("--backend", choices=("local", "ray"), default="local",
                     help="With --store: run here (local) or on Ray Data (ray; the ray extra).")
    run.add_argument("--ray-address", metavar="ADDRESS",
                     help="With --backend ray: an existing cluster ('auto', 'ray://head:10001'); default: a local Ray.")
    add_option_arguments(run)

    convert = commands.add_parser(
        "convert", help="Convert a JSON transcript (ours, WhisperX's or insanely-fast-whisper's) into any format.",
        description="Read IN (our JSON, WhisperX's JSON or insanely-fast-whisper's JSON) and write OUT in the format "
                    "its name asks for (or --output-format); with --formats, OUT is a folder getting one file "
                    "per input and format.")
    convert.add_argument("input", type=Path, metavar="IN")
    convert.add_argument("output", type=Path, metavar="OUT")
    convert.add_argument("--output-format", metavar="FORMAT", help="The format of OUT, whatever its name ends with.")
    convert.add_argument("--formats", metavar="F1,F2,...", help="Write OUT/<input stem>.<format> for each format.")
    convert.add_argument("--audio", type=Path, help="The recording, for the formats that link or embed it (eaf, html).")
    add_export_options_argument(convert)

    from whisperkit_nb.ifw import add_ifw_arguments

    ifw = commands.add_parser(
        "ifw", help="insanely-fast-whisper's command line and JSON output, running this package's engine.",
        description="A drop-in for insanely-fast-whisper: the same flags and the same JSON "
                    "(speakers, chunks, text), transcribed by whisperkit_nb. See the README for the differences.")
    add_ifw_arguments(ifw)
    return parser


def _format_names() -> list[str]:
    from whisperkit_nb.output.formats import FORMATS

    return list(FORMATS)


def add_export_options_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--export-options", type=parse_mapping, default={}, metavar="KEY=VALUE,...",
                        help="Options of the export formats, e.g. layout=interview,pauses=2 (txt), "
                             "line_numbers=true (docx); each goes to the formats that take it.")


def export_options(mapping: dict[str, str]) -> dict:
    """``--export-options`` values as Python values: numbers, true/false, none, else the text."""
    import json

    values = {}
    for key, text in mapping.items():
        lowered = text.lower()
        if lowered in ("true", "false", "none", "null"):
            values[key] = {"true": True, "false": False}.get(lowered)
            continue
        try:
            values[key] = json.loads(text) if re.fullmatch(r"-?\d+(\.\d*)?([eE]-?\d+)?", text) else text
        except ValueError:
            values[key] = text
    return values


def check_exports(parser: argparse.ArgumentParser, formats: Sequence[str], options: dict, flag: str) -> list[str]:
    """The format names of ``formats``, refusing an unknown one, or an option none of them takes, before any
    work is done."""
    from whisperkit_nb.errors import OptionsError
    from whisperkit_nb.output.export import format_options
    from whisperkit_nb.output.formats import format_named

    try:
        chosen = [format_named(f).name for f in formats]
    except OptionsError as err:
        parser.error(f"{flag}: {err}")
    accepted = set().union(*(format_options(f) for f in chosen)) if chosen else set()
    unknown = sorted(set(options) - accepted)
    if unknown:
        parser.error(f"--export-options {', '.join(unknown)}: no chosen format ({', '.join(chosen)}) takes it.")
    return chosen


def _split(text: str | None, default: str) -> list[str]:
    return [f.strip() for f in (text or default).split(",") if f.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "convert":
            return _convert_command(parser, args)
        if args.command == "ifw":
            return _ifw_command(args)
        return _transcribe_command(parser, args)
    except KeyboardInterrupt:  # before the first segment finished (loading the model), or a second Ctrl-C
        print("whisperkit: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED


def _transcribe_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from whisperkit_nb.api import transcribe  # with progress bars on stderr unless --no-progress
    from whisperkit_nb.errors import WhisperkitError

    _check_output(parser, args)
    if args.overwrite and args.store is None:
        parser.error("--overwrite applies to --store runs.")
    for flag, given in (("--num-workers", args.num_workers is not None), ("--backend", args.backend != "local"),
                        ("--ray-address", args.ray_address is not None)):
        if given and args.store is None:
            parser.error(f"{flag} applies to --store runs.")
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
    if not options.progress:  # with progress on, the per-file lines came at the end of the bars
        from whisperkit_nb.output.summary import summary_lines

        print("\n".join(summary_lines(frame)))
    for name, message in frame.attrs.get("failures", {}).items():
        print(f"  FAILED {name}: {redact_token(message, args.hf_token)}", file=sys.stderr)
    interrupted = frame.attrs.get("interrupted", False)
    written = True
    if args.output is not None and (len(frame) or not interrupted):
        written = _write_output(frame, args, options)
    elif args.output is None and args.export is None:
        print(frame[["file", "start", "end", "text"]].to_string(index=False))
    if args.export is not None and (len(frame) or not interrupted):
        written = _write_exports(frame, args, options) and written
    if not written:
        return 1
    if interrupted:
        target = args.output if args.output is not None else args.export
        where = "printed above" if target is None else f"in {target}" if len(frame) else "nothing written"
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
        options = options_from_namespace(args)
        corpus = transcribe_corpus(inputs, args.store, options, overwrite=args.overwrite, num_workers=args.num_workers,
                                   backend=args.backend, ray_address=args.ray_address)
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
    if args.output is not None and not _write_output(corpus.frame, args, options):
        return 1
    if args.export is not None and not _write_exports(corpus.frame, args, options):
        return 1
    if corpus.interrupted:
        print(f"whisperkit: interrupted: the {counts['done']} finished file(s) are in {args.store}; run the same "
              "command again to resume.", file=sys.stderr)
        return EXIT_INTERRUPTED
    if counts["failed"]:
        return 1 if counts["done"] == 0 else 2
    return 0


def _check_output(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, before any work, an -o name or an --export format this command cannot write."""
    from whisperkit_nb.errors import OptionsError
    from whisperkit_nb.output.formats import format_for_path, format_named

    args.export_options = export_options(args.export_options)
    if args.formats is not None and args.export is None:
        parser.error("--formats applies to --export DIR.")
    if args.output_format is not None and args.output is None:
        parser.error("--output-format applies to -o OUT.")
    formats = []
    if args.output is not None:
        if args.output_format is None and args.output.suffix.lower() in WRITERS:
            args.output_kind = None  # the DataFrame, written by pandas
        else:
            try:
                fmt = format_named(args.output_format) if args.output_format else format_for_path(args.output)
            except OptionsError as err:
                parser.error(f"-o {args.output}: {err} (.csv and .parquet write the DataFrame)")
            args.output_kind = fmt.name
            formats.append(fmt.name)
            if len(args.files) > 1 and fmt.name not in ("json", "rttm"):
                parser.error(f"-o {args.output}: {fmt.name} holds one recording; for several inputs use "
                             "--export DIR --formats " + fmt.name + " (one file per input).")
    if args.export is not None:
        args.formats = check_exports(parser, _split(args.formats, "json"), {}, "--formats")
        formats += args.formats
    if args.export_options:
        if not formats:
            parser.error("--export-options applies to export formats (-o OUT.<format> or --export DIR).")
        check_exports(parser, formats, args.export_options, "--formats")


def _options_record(options) -> dict | None:
    """The run's settings for our JSON, secrets left out."""
    import dataclasses

    if options is None:
        return None
    return {f.name: getattr(options, f.name) for f in dataclasses.fields(options) if not f.metadata.get("secret")}


def _write_output(frame, args: argparse.Namespace, options) -> bool:
    """-o: the DataFrame (pandas) or one export file; False (after saying why) when it cannot be written."""
    from whisperkit_nb.errors import WhisperkitError
    from whisperkit_nb.output.export import export, format_options

    if getattr(args, "output_kind", None) is None:
        write_frame(frame, args.output)
    else:
        extra = {"options": _options_record(options)} if args.output_kind == "json" and options is not None else {}
        kwargs = {k: v for k, v in args.export_options.items() if k in format_options(args.output_kind)}
        try:
            export(frame, args.output, args.output_kind, **kwargs, **extra)
        except WhisperkitError as err:
            print(f"whisperkit: error: -o {args.output}: {err}", file=sys.stderr)
            return False
    print(f"wrote {args.output}")
    return True


def _write_exports(frame, args: argparse.Namespace, options) -> bool:
    """--export DIR: one file per input and format."""
    from whisperkit_nb.errors import WhisperkitError
    from whisperkit_nb.output.export import export_corpus

    extra = {"options": _options_record(options)} if "json" in args.formats and options is not None else {}
    try:
        written = export_corpus(frame, args.export, args.formats, **args.export_options, **extra)
    except WhisperkitError as err:
        print(f"whisperkit: error: --export {args.export}: {err}", file=sys.stderr)
        return False
    count = sum(len(paths) for paths in written.values())
    print(f"wrote {count} file(s) to {args.export} ({len(written)} input(s) x {', '.join(args.formats)})")
    return True


def _convert_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """``whisperkit convert IN OUT``: a JSON transcript into any format."""
    from whisperkit_nb.errors import WhisperkitError
    from whisperkit_nb.output.export import export, export_corpus, read_transcript
    from whisperkit_nb.output.formats import format_for_path, format_named

    options = export_options(args.export_options)
    if args.audio is not None:
        options["audio"] = args.audio
    if args.formats is not None:
        formats = check_exports(parser, _split(args.formats, ""), options, "--formats")
    else:
        try:
            fmt = format_named(args.output_format) if args.output_format else format_for_path(args.output)
        except WhisperkitError as err:
            parser.error(f"{args.output}: {err}")
        formats = check_exports(parser, [fmt.name], options, "--output-format")
    try:
        frame = read_transcript(args.input)
        if args.formats is not None:
            written = export_corpus(frame, args.output, formats, **options)
            print(f"wrote {sum(len(p) for p in written.values())} file(s) to {args.output}")
            return 0
        export(frame, args.output, formats[0], **options)
    except WhisperkitError as err:
        print(f"whisperkit: error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


def _ifw_command(args: argparse.Namespace) -> int:
    """``whisperkit ifw``: insanely-fast-whisper's flags in, its JSON out (see `whisperkit_nb.ifw`)."""
    from whisperkit_nb.api import transcribe
    from whisperkit_nb.errors import WhisperkitError
    from whisperkit_nb.ifw import ifw_options
    from whisperkit_nb.output.export import export

    try:
        options = ifw_options(args)
        frame = transcribe(args.file_name, options)
        if frame.attrs.get("interrupted"):
            print("whisperkit: interrupted: nothing written.", file=sys.stderr)
            return EXIT_INTERRUPTED
        export(frame, args.transcript_path, "ifw", timestamp=args.timestamp)
    except WhisperkitError as err:
        print(f"whisperkit: error: {redact_token(str(err), args.hf_token)}", file=sys.stderr)
        return 1
    segmented = " & speaker segmented" if options.diarize else ""
    print(f"Voila!✨ Your file has been transcribed{segmented} go check it out over here 👉 {args.transcript_path}")
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
