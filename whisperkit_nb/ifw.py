"""insanely-fast-whisper's command line on this package's engine (``whisperkit ifw``).

The same flags, spelt as insanely-fast-whisper spells them (``--diarization_model`` included), and the same
JSON (``speakers``, ``chunks``, ``text``, written by the ``ifw`` export format), so a script switches by
changing the command name. What differs, and why, is listed in `DIFFERENCES` (and the README).
"""

from __future__ import annotations

import argparse

from whisperkit_nb.errors import OptionsError
from whisperkit_nb.options import TranscribeOptions

IFW_DEFAULT_MODEL = "openai/whisper-large-v3"
NO_TOKEN = "no_token"  # insanely-fast-whisper's "no token given", which turns its diarization off

DIFFERENCES = """\
- Diarization also runs without a token: --hf-token (as in insanely-fast-whisper), a speaker count, a
  --diarization_model or --diarize turn it on; without --diarization_model it is the offline pipeline.
- --device-id: not given, the first GPU when there is one, else the CPU (insanely-fast-whisper has no CPU
  mode); "cpu" is accepted; a GPU number on a machine without that GPU is an error.
- --batch-size: not given, chosen from free memory (insanely-fast-whisper: 24).
- --flash true|false is read as written (insanely-fast-whisper's --flash False turns it on).
- Long files are cut at pauses (VAD), not in fixed 30 s windows, and each chunk's speaker is the one
  talking longest in it, not the one whose turn ends nearest.
- Local files only (no URLs)."""


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def add_ifw_arguments(parser: argparse.ArgumentParser) -> None:
    """insanely-fast-whisper's flags (and defaults), plus ``--diarize`` and ``--progress``."""
    parser.epilog = "differences from insanely-fast-whisper:\n" + DIFFERENCES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--file-name", required=True, help="Path of the audio file to transcribe.")
    parser.add_argument("--device-id", default=None,
                        help='GPU number ("0"), "mps" or "cpu". Default: the first GPU, else the CPU.')
    parser.add_argument("--transcript-path", default="output.json", help="Where to write the JSON (output.json).")
    parser.add_argument("--model-name", default=IFW_DEFAULT_MODEL,
                        help=f"Whisper model: a hub id or a short name such as base ({IFW_DEFAULT_MODEL}).")
    parser.add_argument("--task", default="transcribe", choices=["transcribe", "translate"])
    parser.add_argument("--language", default=None, help="Spoken language (default: detected).")
    parser.add_argument("--batch-size", type=int, default=None, help="Chunks decoded together (default: auto).")
    parser.add_argument("--flash", type=_flag, default=False, help="Flash Attention 2 (True/False; needs flash-attn).")
    parser.add_argument("--timestamp", default="chunk", choices=["chunk", "word"],
                        help="chunk: one JSON chunk per segment; word: one per word.")
    parser.add_argument("--hf-token", default=NO_TOKEN, help="Hugging Face token; turns diarization on.")
    parser.add_argument("--diarization_model", default=None,
                        help="pyannote pipeline (hub id or folder). Default: the offline pipeline, no token needed.")
    parser.add_argument("--num-speakers", type=int, default=None, help="Exact number of speakers.")
    parser.add_argument("--min-speakers", type=int, default=None, help="Fewest speakers.")
    parser.add_argument("--max-speakers", type=int, default=None, help="Most speakers.")
    parser.add_argument("--diarize", action="store_true",
                        help="Diarize without a token (not in insanely-fast-whisper).")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="Progress bars.")


def ifw_options(args: argparse.Namespace) -> TranscribeOptions:
    """`TranscribeOptions` for insanely-fast-whisper's flags (see `DIFFERENCES`)."""
    device = args.device_id
    if device is None:
        device = "auto"
    elif device.isdigit():
        device = f"cuda:{device}"
    elif device not in ("mps", "cpu"):
        raise OptionsError(f"--device-id {device!r}: use a GPU number, mps or cpu.")
    token = None if args.hf_token in (None, "", NO_TOKEN) else args.hf_token
    counts = (args.num_speakers, args.min_speakers, args.max_speakers)
    diarize = (args.diarize or token is not None or args.diarization_model is not None
               or any(c is not None for c in counts))
    language = None if args.language in (None, "None", "none", "") else args.language
    return TranscribeOptions(
        model=args.model_name, task=args.task, language=language, batch_size=args.batch_size, device=device,
        attn_implementation="flash_attention_2" if args.flash else "auto",
        timestamps="word" if args.timestamp == "word" else "segment",
        diarize=diarize, hf_token=token, diarization_model=args.diarization_model,
        num_speakers=args.num_speakers, min_speakers=args.min_speakers, max_speakers=args.max_speakers,
        progress=args.progress,
    )
