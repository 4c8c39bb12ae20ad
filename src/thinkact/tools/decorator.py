"""``@tool``: turn a typed Python function (sync or async) into a ``Tool``.

The JSON Schema comes from the signature (``tools/schema.py``), the description from the
docstring. Arguments are validated by the same pydantic model before the function runs, so a
schema violation becomes a readable error for the model, never a crash. A sync function runs
on a daemon thread of its own, or with ``isolate=True`` in a child process that a timeout kills
(see ``thinkact.tools.sync_call``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from thinkact.messages import ToolSpec
from thinkact.tools.base import ToolContext, ToolError
from thinkact.tools.schema import parameters_schema
from thinkact.tools.sync_call import in_child_process, in_daemon_thread


class FunctionTool:
    """A tool backed by a plain function. ``ctx`` parameters receive the ``ToolContext``.
    ``isolate``: run each call of a sync function in a child process, killed on timeout."""

    def __init__(
        self, fn: Callable[..., Any], *, name: str | None = None,
        description: str | None = None, isolate: bool = False,
    ) -> None:
        self.fn = fn
        self._is_async = inspect.iscoroutinefunction(fn)
        if isolate and self._is_async:
            raise ValueError(f"isolate=True runs sync functions; {fn.__name__} is async")
        self.isolate = isolate
        hints = get_type_hints(fn)
        fields: dict[str, Any] = {}
        self._ctx_param: str | None = None
        for pname, param in inspect.signature(fn).parameters.items():
            annotation = hints.get(pname, Any)
            if annotation is ToolContext:
                self._ctx_param = pname
                continue
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[pname] = (annotation, default)
        self.args_model: type[BaseModel] = create_model(
            f"{fn.__name__}_args", __config__=ConfigDict(extra="forbid"), **fields
        )
        doc = inspect.cleandoc(description or fn.__doc__ or "").strip()
        self._spec = ToolSpec(name=name or fn.__name__, description=doc,
                              parameters=parameters_schema(self.args_model))

    @property
    def spec(self) -> ToolSpec:
        return self._spec

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Validate and coerce arguments; raises ``ToolError`` listing every problem."""
        try:
            model = self.args_model.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(arguments)'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ToolError(f"invalid arguments for {self.spec.name}: {problems}") from None
        return {k: getattr(model, k) for k in type(model).model_fields}

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> str:
        kwargs = self.validate(arguments)
        if self._ctx_param is not None:
            kwargs[self._ctx_param] = ctx
        if self._is_async:
            result = await self.fn(**kwargs)
        elif self.isolate:
            result = await in_child_process(self.fn, kwargs, self.spec.name)
        else:
            result = await in_daemon_thread(self.fn, kwargs, self.spec.name)
        return result if isinstance(result, str) else str(result)

    async def aclose(self) -> None:
        return None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The decorated function stays callable as itself."""
        return self.fn(*args, **kwargs)


def tool(
    fn: Callable[..., Any] | None = None, *, name: str | None = None,
    description: str | None = None, isolate: bool = False,
) -> Any:
    """Decorator: ``@tool`` or ``@tool(name=..., description=..., isolate=...)``."""
    if fn is not None:
        return FunctionTool(fn, name=name, description=description, isolate=isolate)

    def wrap(f: Callable[..., Any]) -> FunctionTool:
        return FunctionTool(f, name=name, description=description, isolate=isolate)

    return wrap
