from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from handlers.digests.config import load_config, parse_window


def test_default_config_has_every_section() -> None:
    cfg = load_config()
    assert [s.id for s in cfg.sections] == [
        "alerts", "errors", "latency", "slo", "saturation", "incidents", "approvals", "cost",
    ]  # fmt: skip
    assert cfg.slo.default_target == 0.999
    slo = next(s for s in cfg.sections if s.id == "slo")
    assert [(w.long, w.short, w.factor, w.level) for w in slo.windows] == [
        ("1h", "5m", 14.4, "red"),
        ("6h", "30m", 6.0, "amber"),
    ]


@pytest.mark.parametrize(
    "preset,metric",
    [("istio", "istio_requests_total"), ("nginx", "nginx_ingress_controller_requests")],
)
def test_presets_override_queries(preset: str, metric: str) -> None:
    cfg = load_config(preset=preset)
    errors = next(s for s in cfg.sections if s.id == "errors")
    assert errors.query and metric in errors.query
    if preset == "istio":
        assert cfg.service_label == "destination_service_name"


def test_unknown_preset_and_bad_config(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown digest preset 'linkerd'"):
        load_config(preset="linkerd")
    bad = tmp_path / "digests.yaml"
    bad.write_text(
        "sections:\n  - {id: a, kind: alerts, title: A}\n  - {id: a, kind: alerts, title: B}\n"
    )
    with pytest.raises(ValidationError, match="duplicate section ids: a"):
        load_config(bad)


def test_parse_window() -> None:
    assert parse_window("90m") == timedelta(minutes=90)
    assert parse_window("1d") == timedelta(days=1)
    for bad in ("1 hour", "0h", "h", "-1h"):
        with pytest.raises(ValueError, match="must look like"):
            parse_window(bad)
