"""Parameter validation: typed values with specific messages."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from bot.i18n import parse_yes_no
from runbooks.model import Parameter, Runbook
from runbooks.steps.base import parse_duration

Translate = Callable[..., str]


def _identity(msgid: str, **kwargs: Any) -> str:
    return msgid.format(**kwargs)


def coerce(p: Parameter, raw: Any, t: Translate | None = None) -> Any:
    """The typed value of `raw` for `p`; raises ValueError with a specific, translated message."""
    t = t or _identity
    value: Any
    if p.type == "int":
        try:
            value = int(str(raw).strip()) if not isinstance(raw, bool) else None
        except ValueError:
            value = None
        if value is None:
            raise ValueError(t("{name} must be a whole number, got {raw!r}", name=p.name, raw=raw))
    elif p.type == "bool":
        if isinstance(raw, bool):
            value = raw
        elif parse_yes_no(raw) is not None:  # yes/no, да/нет, true/false, on/off
            value = parse_yes_no(raw)
        else:
            raise ValueError(t("{name} must be true or false, got {raw!r}", name=p.name, raw=raw))
    elif p.type == "duration":
        try:
            seconds = parse_duration(raw)
        except ValueError:
            raise ValueError(
                t(
                    "{name} must be a duration like 30s, 5m or 1h, got {raw!r}",
                    name=p.name,
                    raw=raw,
                )
            ) from None
        value = str(raw).strip()
        if p.min is not None and seconds < p.min:
            raise ValueError(t("{name} must be at least {min:g}s", name=p.name, min=p.min))
        if p.max is not None and seconds > p.max:
            raise ValueError(t("{name} must be at most {max:g}s", name=p.name, max=p.max))
        return value
    else:
        value = str(raw)
    if p.enum is not None and value not in p.enum:
        raise ValueError(
            t(
                "{name} must be one of {choices}, got {raw!r}",
                name=p.name,
                choices=", ".join(map(str, p.enum)),
                raw=raw,
            )
        )
    if p.pattern and p.type == "string" and not re.fullmatch(p.pattern, value):
        raise ValueError(
            t(
                "{name}={raw!r} does not match the pattern {pattern}",
                name=p.name,
                raw=raw,
                pattern=p.pattern,
            )
        )
    if p.type == "int":
        if p.min is not None and value < p.min:
            raise ValueError(
                t("{name} must be at least {min:g}, got {raw}", name=p.name, min=p.min, raw=value)
            )
        if p.max is not None and value > p.max:
            raise ValueError(
                t("{name} must be at most {max:g}, got {raw}", name=p.name, max=p.max, raw=value)
            )
    return value


def validate_params(
    runbook: Runbook, raw: Mapping[str, Any], t: Translate | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Typed values for every parameter (defaults filled) and the list of error messages."""
    t = t or _identity
    values: dict[str, Any] = {}
    errors: list[str] = []
    known = {p.name for p in runbook.parameters}
    for name in raw:
        if name not in known:
            errors.append(
                t(
                    "Unknown parameter {name}; {runbook} takes: {known}",
                    name=name,
                    runbook=runbook.name,
                    known=", ".join(sorted(known)) or "-",
                )
            )
    for p in runbook.parameters:
        if p.name in raw and raw[p.name] not in (None, ""):
            try:
                values[p.name] = coerce(p, raw[p.name], t)
            except ValueError as exc:
                errors.append(str(exc))
        elif p.default is not None:
            values[p.name] = coerce(p, p.default, t)
        elif p.required:
            hint = f" ({p.description})" if p.description else ""
            errors.append(t("Missing parameter {name}{hint}", name=p.name, hint=hint))
        else:
            values[p.name] = None
    return values, errors
