from __future__ import annotations

from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from runbooks.catalog import CatalogError, load_catalog
from runbooks.params import validate_params
from runbooks.templating import render
from runbooks.validate import validate_path

GOOD = """\
name: demo
title: Demo
description: A demo.
risk: low
parameters:
  - name: namespace
    type: string
    required: true
steps:
  - kind: notify
    with:
      message: "hello {{ namespace }}"
"""


def write(tmp_path: Path, text: str, name: str = "demo.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_catalog_is_valid() -> None:
    assert validate_path() == []
    names = set(load_catalog())
    assert {
        "restart-deployment",
        "rollback-deployment",
        "scale-deployment",
        "toggle-feature-flag",
        "drain-node",
        "ddos-mitigation",
    } <= names


def test_good_file(tmp_path: Path) -> None:
    assert validate_path(write(tmp_path, GOOD)) == []


def test_schema_error_has_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("risk: low", "risk: extreme"))
    [err] = validate_path(path)
    assert (err.file, err.line) == (str(path), 4)
    assert "risk" in err.message and "extreme" in err.message


def test_unknown_step_kind_and_missing_argument_lines(tmp_path: Path) -> None:
    text = (
        GOOD
        + """  - kind: reboot_everything
"""
    )
    [err] = validate_path(write(tmp_path, text))
    assert err.line == 13 and "reboot_everything" in err.message
    text = (
        GOOD
        + """  - kind: scale
    with:
      namespace: x
"""
    )
    [err] = validate_path(write(tmp_path, text))
    assert err.line == 13 and "missing deployment, replicas" in err.message


def test_unknown_template_variable(tmp_path: Path) -> None:
    [err] = validate_path(write(tmp_path, GOOD.replace("{{ namespace }}", "{{ namepsace }}")))
    assert err.line == 12 and "unknown parameter {{ namepsace }}" in err.message


def test_yaml_syntax_error_line(tmp_path: Path) -> None:
    [err] = validate_path(write(tmp_path, GOOD.replace("risk: low", "risk: [low")))
    assert "YAML syntax" in err.message and err.line >= 4


def test_bad_default_and_name_mismatch(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    required: true\n",
        "    required: true\n  - name: n\n    type: int\n    default: many\n",
    )
    errors = validate_path(write(tmp_path, text, "other.yaml"))
    assert any("default 'many' is invalid" in e.message and e.line == 9 for e in errors)
    errors = validate_path(write(tmp_path, GOOD, "other.yaml"))
    assert any("must match the file name" in e.message for e in errors)


def test_every_error_of_a_folder_is_reported(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace("risk: low", "risk: x"), "demo.yaml")
    write(tmp_path, "name: [", "broken.yaml")
    errors = validate_path(tmp_path)
    assert {Path(e.file).name for e in errors} == {"demo.yaml", "broken.yaml"}
    with pytest.raises(CatalogError):
        load_catalog(tmp_path)


def test_parameter_validation_messages() -> None:
    rb = load_catalog()["scale-deployment"]
    values, errors = validate_params(
        rb, {"namespace": "shop", "deployment": "cart", "replicas": "7"}
    )
    assert errors == [] and values["replicas"] == 7 and values["environment"] == "production"
    _, errors = validate_params(
        rb, {"namespace": "Shop!", "deployment": "cart", "replicas": "99", "colour": "red"}
    )
    assert (
        "Unknown parameter colour; scale-deployment takes: "
        "deployment, environment, namespace, replicas" in errors
    )
    assert "replicas must be at most 50, got 99" in errors
    assert any(e.startswith("namespace='Shop!' does not match the pattern") for e in errors)
    _, errors = validate_params(
        rb, {"namespace": "shop", "replicas": "lots", "environment": "prod"}
    )
    assert "Missing parameter deployment" in errors
    assert "replicas must be a whole number, got 'lots'" in errors
    assert "environment must be one of production, staging, development, got 'prod'" in errors
    flag = load_catalog()["toggle-feature-flag"]
    _, errors = validate_params(flag, {"namespace": "shop", "flag": "x", "enabled": "maybe"})
    assert errors == ["enabled must be true or false, got 'maybe'"]


def test_templating_is_strict_sandboxed_and_typed() -> None:
    assert render({"n": "{{ replicas }}", "s": "x-{{ replicas }}"}, {"replicas": 5}) == {
        "n": 5,
        "s": "x-5",
    }
    with pytest.raises(UndefinedError):
        render("{{ nope }}", {})
    with pytest.raises(SecurityError):
        render("{{ ''.__class__.__mro__ }}", {})
