"""Parameters into steps: a sandboxed Jinja2 with StrictUndefined (a typo is an error)."""

from __future__ import annotations

import re
from typing import Any

from jinja2 import StrictUndefined, meta
from jinja2.sandbox import SandboxedEnvironment

_ENV = SandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
)
_BARE = re.compile(r"^\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}$")


def render(value: Any, params: dict[str, Any]) -> Any:
    """Render strings (recursively in dicts/lists); a bare `{{ x }}` keeps x's native type."""
    if isinstance(value, str):
        bare = _BARE.match(value.strip())
        if bare and bare.group(1) in params:
            return params[bare.group(1)]
        if "{{" not in value and "{%" not in value:
            return value
        return _ENV.from_string(value).render(**params)
    if isinstance(value, dict):
        return {render(k, params): render(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, params) for v in value]
    return value


def variables(value: Any) -> set[str]:
    """Names a value's templates refer to (for validation)."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return set()
        return set(meta.find_undeclared_variables(_ENV.parse(value)))
    if isinstance(value, dict):
        return (
            set().union(*(variables(k) | variables(v) for k, v in value.items()))
            if value
            else set()
        )
    if isinstance(value, list):
        return set().union(*(variables(v) for v in value)) if value else set()
    return set()
