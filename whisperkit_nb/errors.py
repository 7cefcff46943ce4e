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
