"""Session defaults: the options every `%transcribe` and control panel in this kernel starts from.

`%whisperkit --model base` and the control panel's widgets both write here, and both read from here, so
what one sets the other shows. Panels subscribe with `observe`; they are held weakly, so a panel that is
no longer displayed or referenced does not keep receiving updates.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from whisperkit_nb.options import TranscribeOptions, option_names

Listener = Callable[[TranscribeOptions, dict[str, Any]], None]


class SessionDefaults:
    """A validated `TranscribeOptions` shared by the magics and the control panels of one kernel."""

    def __init__(self) -> None:
        self._options = TranscribeOptions()
        self._listeners: list[weakref.ref] = []
        #: What the last ``%transcribe`` of this kernel ran with (the session defaults plus its flags), and
        #: its summary lines (`whisperkit_nb.output.summary.summary_lines`); None before the first one.
        self.last_options: TranscribeOptions | None = None
        self.last_summary: list[str] | None = None

    @property
    def options(self) -> TranscribeOptions:
        return self._options

    def update(self, **changes: Any) -> TranscribeOptions:
        """Change some defaults (validated together; an invalid set raises `OptionsError` and changes nothing)."""
        return self._set(self._options.replace(**changes))

    def reset(self) -> TranscribeOptions:
        """Back to the dataclass defaults."""
        return self._set(TranscribeOptions())

    def _set(self, new: TranscribeOptions) -> TranscribeOptions:
        changed = {n: getattr(new, n) for n in option_names() if getattr(self._options, n) != getattr(new, n)}
        self._options = new
        if changed:
            self._notify(changed)
        return new

    def observe(self, listener: Listener) -> None:
        """Call ``listener(options, changed)`` after every change. Bound methods are held weakly."""
        ref = weakref.WeakMethod(listener) if hasattr(listener, "__self__") else weakref.ref(listener)
        self._listeners.append(ref)

    def _notify(self, changed: dict[str, Any]) -> None:
        alive = []
        for ref in self._listeners:
            listener = ref()
            if listener is not None:
                alive.append(ref)
                listener(self._options, changed)
        self._listeners = alive


#: The kernel's one session; `%whisperkit` and `controls()` use it.
SESSION = SessionDefaults()
