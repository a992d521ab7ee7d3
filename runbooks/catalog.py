"""Load runbooks from YAML, reporting every problem with its file and line.

YAML is composed into nodes first (`yaml.compose`) so each value keeps its line; the JSON
Schema (`schema.json`) and the semantic checks (step arguments, template variables, defaults)
point back at those lines.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jinja2 import TemplateSyntaxError

from runbooks.model import Parameter, Runbook, StepSpec
from runbooks.steps import KINDS
from runbooks.templating import variables

CATALOG = Path(__file__).parent / "catalog"
SCHEMA = Path(__file__).parent / "schema.json"
Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class ValidationError:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class CatalogError(Exception):
    """Raised when a catalog has errors; `errors` lists them all."""

    def __init__(self, errors: list[ValidationError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@cache
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text())


def _construct(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            out[key] = _construct(value_node, (*path, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, (*path, i), lines) for i, v in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def load_with_lines(text: str) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML; return the data and a map from path (keys/indices) to 1-based line."""
    lines: dict[Path_, int] = {}
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is None:
        return None, lines
    return _construct(node, (), lines), lines


def _line(lines: dict[Path_, int], path: Path_) -> int:
    path = tuple(path)
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


def _check_parameter(p: dict[str, Any]) -> str | None:
    if p.get("pattern"):
        try:
            re.compile(p["pattern"])
        except re.error as exc:
            return f"parameter {p['name']}: bad pattern: {exc}"
    if "default" in p:
        from runbooks.params import coerce

        try:
            coerce(Parameter(**_param_kwargs(p)), p["default"])
        except ValueError as exc:
            return f"parameter {p['name']}: default {p['default']!r} is invalid: {exc}"
    return None


def _param_kwargs(p: dict[str, Any]) -> dict[str, Any]:
    kw = dict(p)
    if "enum" in kw:
        kw["enum"] = tuple(kw["enum"])
    return kw


def _check(data: dict[str, Any], lines: dict[Path_, int], file: str) -> list[ValidationError]:
    errors: list[ValidationError] = []
    validator = jsonschema.Draft202012Validator(schema())
    for err in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        errors.append(
            ValidationError(file, _line(lines, tuple(err.absolute_path)), f"{where}: {err.message}")
        )
    if errors:
        return errors
    params = data.get("parameters", [])
    names = [p["name"] for p in params]
    for i, p in enumerate(params):
        if names.count(p["name"]) > 1 and names.index(p["name"]) != i:
            errors.append(
                ValidationError(
                    file, _line(lines, ("parameters", i)), f"parameter {p['name']} is defined twice"
                )
            )
        problem = _check_parameter(p)
        if problem:
            errors.append(ValidationError(file, _line(lines, ("parameters", i)), problem))
    known = set(names)
    for key in ("scope",):
        for field, value in (data.get(key) or {}).items():
            errors += _check_vars(value, known, file, _line(lines, (key, field)), f"{key}.{field}")
    for phase in ("pre_checks", "steps", "verification"):
        for i, step in enumerate(data.get(phase, [])):
            line = _line(lines, (phase, i))
            kind = KINDS[step["kind"]]
            args = step.get("with", {})
            missing = [r for r in kind.required if r not in args]
            if step["kind"] == "wait" and not ({"duration", "condition"} & set(args)):
                missing.append("duration or condition")
            if missing:
                errors.append(
                    ValidationError(
                        file, line, f"{phase}[{i}] ({step['kind']}): missing {', '.join(missing)}"
                    )
                )
            errors += _check_vars(
                args, known, file, _line(lines, (phase, i, "with")), f"{phase}[{i}]"
            )
            if step.get("when"):
                errors += _check_vars(
                    "{{ " + step["when"] + " }}",
                    known,
                    file,
                    _line(lines, (phase, i, "when")),
                    f"{phase}[{i}].when",
                )
    return errors


def _check_vars(
    value: Any, known: set[str], file: str, line: int, where: str
) -> list[ValidationError]:
    try:
        unknown = variables(value) - known
    except TemplateSyntaxError as exc:
        return [
            ValidationError(
                file, line + max(exc.lineno - 1, 0), f"{where}: template error: {exc.message}"
            )
        ]
    return [
        ValidationError(file, line, f"{where}: unknown parameter {{{{ {n} }}}}")
        for n in sorted(unknown)
    ]


def _steps(
    items: list[dict[str, Any]], lines: dict[Path_, int], phase: str
) -> tuple[StepSpec, ...]:
    return tuple(
        StepSpec(
            kind=s["kind"],
            name=s.get("name") or s["kind"].replace("_", " "),
            args=dict(s.get("with", {})),
            when=s.get("when"),
            line=_line(lines, (phase, i)),
        )
        for i, s in enumerate(items)
    )


def parse_file(path: Path) -> tuple[Runbook | None, list[ValidationError]]:
    """Parse and check one runbook file."""
    file = str(path)
    try:
        data, lines = load_with_lines(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        line = (exc.problem_mark.line + 1) if exc.problem_mark else 1
        return None, [ValidationError(file, line, f"YAML syntax: {exc.problem}")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ValidationError(file, 1, f"cannot read: {exc}")]
    if not isinstance(data, dict):
        return None, [ValidationError(file, 1, "a runbook must be a mapping")]
    errors = _check(data, lines, file)
    if not errors and data["name"] != path.stem:
        errors.append(
            ValidationError(
                file,
                _line(lines, ("name",)),
                f"name {data['name']!r} must match the file name {path.stem!r}",
            )
        )
    if errors:
        return None, errors
    rb = Runbook(
        name=data["name"],
        title=data["title"],
        description=data["description"],
        risk=data["risk"],
        parameters=tuple(Parameter(**_param_kwargs(p)) for p in data.get("parameters", [])),
        scope=dict(data.get("scope") or {}),
        pre_checks=_steps(data.get("pre_checks", []), lines, "pre_checks"),
        steps=_steps(data["steps"], lines, "steps"),
        verification=_steps(data.get("verification", []), lines, "verification"),
        tags=tuple(data.get("tags", [])),
        path=path,
    )
    return rb, []


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
    return [path]


def load_catalog(path: Path | None = None) -> dict[str, Runbook]:
    """All runbooks of a folder (default: the shipped catalog); raises CatalogError."""
    runbooks: dict[str, Runbook] = {}
    errors: list[ValidationError] = []
    for file in _files(path or CATALOG):
        rb, errs = parse_file(file)
        errors += errs
        if rb is not None:
            if rb.name in runbooks:
                errors.append(ValidationError(str(file), 1, f"duplicate runbook name {rb.name}"))
            runbooks[rb.name] = rb
    if errors:
        raise CatalogError(errors)
    return runbooks
