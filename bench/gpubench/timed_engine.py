"""`TimedEngine`: the engine protocol's methods timed, everything else forwarded to the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gpubench.common import AttachError
from gpubench.timing import StageTimer

# Each timed method of the engine protocol (whisperkit_nb/engines/base.py) and the stage it is charged to.
TIMED = {
    "encode": "encoder",
    "language_probabilities": "language",
    "decode": "decoder",
    "align": "align",
    "new_input": "new_input",
}
HOST_ONLY = {"new_input"}  # resets per-input state; no device work to wait for


class TimedEngine:
    """Wraps an engine for `stream_segments(..., engine=)`: each protocol method runs inside its stage of
    ``timer`` (synchronising CUDA at entry and exit when the timer has a ``sync``), attribute reads and
    writes go to the engine.

    Construction checks that the engine has every timed method and raises `AttachError` naming the missing
    ones: a stage that cannot be timed fails the run, it is never left out of the table. ``on_decode`` sees
    each list that ``decode`` returns (outside the timed span), e.g. to count the tokens of every window.
    """

    def __init__(self, engine: Any, timer: StageTimer, *, on_decode: Callable[[list], None] | None = None) -> None:
        missing = [name for name in TIMED if not callable(getattr(engine, name, None))]
        if missing:
            raise AttachError(f"TimedEngine cannot time {type(engine).__module__}.{type(engine).__qualname__}: it has "
                              f"no {', '.join(missing)} method (the engine protocol of whisperkit_nb/engines/base.py "
                              f"is {', '.join(TIMED)})")
        object.__setattr__(self, "engine", engine)
        object.__setattr__(self, "timer", timer)
        object.__setattr__(self, "on_decode", on_decode)

    def _timed(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with self.timer.stage(TIMED[method], device=method not in HOST_ONLY):
            return getattr(self.engine, method)(*args, **kwargs)

    def encode(self, *args: Any, **kwargs: Any) -> Any:
        return self._timed("encode", *args, **kwargs)

    def language_probabilities(self, *args: Any, **kwargs: Any) -> Any:
        return self._timed("language_probabilities", *args, **kwargs)

    def decode(self, *args: Any, **kwargs: Any) -> Any:
        results = self._timed("decode", *args, **kwargs)
        if self.on_decode is not None:
            self.on_decode(results)
        return results

    def align(self, *args: Any, **kwargs: Any) -> Any:
        return self._timed("align", *args, **kwargs)

    def new_input(self, *args: Any, **kwargs: Any) -> Any:
        return self._timed("new_input", *args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # only for names not found on the proxy itself
        return getattr(object.__getattribute__(self, "engine"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.engine, name, value)

    def __repr__(self) -> str:
        return f"TimedEngine({self.engine!r})"
