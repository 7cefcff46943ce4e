"""Errors users see. Each message names the file or option and says what to do."""

from __future__ import annotations


class WhisperkitError(Exception):
    """Base class of whisperkit_nb's own errors."""


class OptionsError(WhisperkitError, ValueError):
    """An option has a value that cannot be honoured."""


class AudioError(WhisperkitError):
    """An input could not be read as audio. `source` names the input."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class ModelError(WhisperkitError):
    """A model could not be found or loaded."""


class MissingDependencyError(WhisperkitError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{package}' package. Install it with: pip install \"whisperkit_nb[{extra}]\""
        )


class TranscriptionFailures(WhisperkitError):
    """Every input of a list failed. `failures` maps each input to its error."""

    def __init__(self, failures: dict[str, BaseException]) -> None:
        self.failures = failures
        lines = "\n".join(
            f"  {name}: {err.reason if isinstance(err, AudioError) else err}" for name, err in failures.items()
        )
        super().__init__(f"No input could be transcribed:\n{lines}")


def user_stacklevel() -> int:
    """The ``stacklevel`` for a warning raised by the calling function that points at the user's line: the
    first frame outside whisperkit_nb (and the standard library's wrappers it goes through), however many of
    our own frames (public wrappers, the run lock, the magics) lie between."""
    import sys

    frame = sys._getframe(1)  # the function about to call warnings.warn: stacklevel 1
    level = 1
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] in _OUR_FRAMES:
        frame = frame.f_back
        level += 1
    return level


_OUR_FRAMES = {"whisperkit_nb", "contextlib", "functools"}
