"""``TimedTool``: what the python and shell tools share, a spec from declared fields plus an
optional per-call ``timeout_s``.

The one rule: ``timeout_s`` is an operational knob with a safe default, so whatever a model
sends for it runs; a value that is not a positive number gets the default, one above the
ceiling gets the ceiling, and the result carries a note saying so (an error would invite the
same call again).
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, create_model

from thinkact.messages import ToolSpec
from thinkact.tools.schema import parameters_schema


class TimedTool:
    """A tool named ``name`` whose parameters are ``fields`` (pydantic field definitions, as
    ``create_model`` takes them) and ``timeout_s``: ``default_s`` unless a call asks, at most
    ``max_s`` (raised to ``default_s`` when below it)."""

    def __init__(self, name: str, description: str, default_s: float, max_s: float,
                 **fields: Any) -> None:
        self.exec_timeout_s = default_s
        self.max_timeout_s = max(max_s, default_s)
        args = create_model(
            f"{name}_args", __config__=ConfigDict(extra="forbid"), **fields,
            # no bounds in the schema: a value out of range is not an error (see _time_limit)
            timeout_s=(float | None, Field(None, description=(
                f"Time limit in seconds for this call (default {default_s:g}, "
                f"at most {self.max_timeout_s:g})."))))
        self._spec = ToolSpec(name=name, description=description,
                              parameters=parameters_schema(args))

    @property
    def spec(self) -> ToolSpec:
        return self._spec

    def _time_limit(self, asked: Any) -> tuple[float, str]:
        """The limit for a call that asked for ``asked``, and the note for its result ("" when
        it got what it asked). Weak models fill optional fields with 0 or huge numbers."""
        if asked is None:
            return self.exec_timeout_s, ""
        if isinstance(asked, bool) or not isinstance(asked, int | float) or asked <= 0:
            return self.exec_timeout_s, (f"\n[note: timeout_s={asked!r} is not a positive "
                                         f"number; the default {self.exec_timeout_s:g}s was "
                                         "used]")
        if asked > self.max_timeout_s:
            return self.max_timeout_s, (f"\n[note: timeout_s={asked:g} is above the most "
                                        f"allowed; {self.max_timeout_s:g}s was used]")
        return float(asked), ""
