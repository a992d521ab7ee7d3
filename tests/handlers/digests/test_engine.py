"""build_digest against a real Prometheus and Alertmanager with known data."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.clients.alertmanager import AlertmanagerClient
from bot.clients.prometheus import PrometheusClient
from handlers.digests import (
    Digest,
    DigestConfig,
    Level,
    Row,
    SectionResult,
    build_digest,
    render_digest,
)
from tests.harness.promstack import PromStack, free_port

pytestmark = pytest.mark.prometheus

approx = pytest.approx


def t(s: str, **kw: object) -> str:
    return s.format(**kw)


def _build(stack: PromStack, config: DigestConfig, now: datetime, **kw: object) -> Digest:
    return build_digest(
        prom=PrometheusClient(stack.prometheus_url),
        alertmanager=AlertmanagerClient(stack.alertmanager_url),
        config=config,
        window="1h",
        now=now,
        **kw,  # type: ignore[arg-type]
    )


def _rows(digest: Digest, section: str) -> list[tuple[str, Level]]:
    return [(r.key, r.level) for r in digest.section(section).rows]


def test_known_data_gives_exact_rows(
    known_stack: PromStack, config: DigestConfig, known_now: datetime
) -> None:
    digest = _build(known_stack, config, known_now)

    assert digest.query_count == 4  # one per Prometheus section; alerts came from Alertmanager
    assert digest.status is Level.RED
    assert digest.status_sections == ["alerts", "errors", "slo", "saturation"]

    alerts = digest.section("alerts")
    assert _rows(digest, "alerts") == [("CheckoutDown", Level.RED), ("CartSlow", Level.AMBER)]
    assert alerts.rows[0].members == ["checkout"]
    assert alerts.total == 2

    errors = digest.section("errors")
    assert _rows(digest, "errors") == [
        ("checkout", Level.RED),
        ("cart", Level.AMBER),
        ("search", Level.GREEN),
    ]
    checkout, cart, search = errors.rows
    assert (checkout.value, checkout.previous, checkout.trend) == (approx(0.1), approx(0.1), "→")
    assert (cart.value, cart.previous, cart.trend) == (approx(0.02), 0.0, "↑")
    assert search.value == approx(0.004)
    assert len(cart.sparkline) == 8
    assert cart.link == "https://grafana.example.invalid/d/service-overview?var-service=cart"
    assert (errors.total, errors.breaching, errors.more) == (4, 2, 0)

    latency = digest.section("latency")
    assert _rows(digest, "latency") == [
        ("cart", Level.AMBER),
        ("checkout", Level.GREEN),
        ("search", Level.GREEN),
        ("static", Level.GREEN),
    ]
    lat = {r.key: r for r in latency.rows}
    assert lat["cart"].value == approx(0.995)
    assert lat["cart"].previous == approx(0.492)
    assert lat["cart"].extra["p95"] == approx(0.975)
    assert lat["cart"].trend == "↑"
    assert (lat["checkout"].value, lat["checkout"].extra["p95"]) == (approx(0.492), approx(0.46))
    assert lat["checkout"].trend == "→"
    assert lat["search"].value == approx(0.099)

    slo = digest.section("slo")
    assert _rows(digest, "slo") == [
        ("checkout", Level.RED),
        ("search", Level.GREEN),
        ("cart", Level.GREEN),
    ]
    burn = {r.key: r for r in slo.rows}
    assert burn["checkout"].value == approx(100.0)
    assert burn["checkout"].extra["burn_5m"] == approx(100.0)
    assert burn["cart"].extra["target"] == 0.99
    assert burn["cart"].extra["burn_1h"] == approx(2.0)
    assert burn["cart"].extra["burn_6h"] < 1  # errors began an hour ago: no slow burn
    assert burn["search"].value == approx(4.0)
    assert slo.total == 4

    assert _rows(digest, "saturation") == [("search", Level.RED), ("checkout", Level.AMBER)]
    sat = {r.key: r for r in digest.section("saturation").rows}
    assert sat["checkout"].extra == {"cpu": approx(0.9), "memory": approx(0.5)}
    assert sat["search"].extra == {"cpu": approx(0.1), "memory": approx(1.0)}

    # provider sections are left out when the bot did not wire them
    assert [s.id for s in digest.sections] == ["alerts", "errors", "latency", "slo", "saturation"]


def test_service_filter_restricts_every_section(
    known_stack: PromStack, config: DigestConfig, known_now: datetime
) -> None:
    digest = _build(known_stack, config, known_now, service="cart")
    assert digest.service == "cart"
    assert digest.query_count == 4
    assert _rows(digest, "alerts") == [("CartSlow", Level.AMBER)]
    assert _rows(digest, "errors") == [("cart", Level.AMBER)]
    assert _rows(digest, "latency") == [("cart", Level.AMBER)]
    assert _rows(digest, "slo") == [("cart", Level.GREEN)]
    assert _rows(digest, "saturation") == []
    assert digest.status is Level.AMBER


def test_top_n_and_more(known_stack: PromStack, config: DigestConfig, known_now: datetime) -> None:
    config.top_n = 2
    latency = _build(known_stack, config, known_now, sections=["latency"]).section("latency")
    assert [r.key for r in latency.rows] == ["cart", "checkout"]
    assert (latency.total, latency.more) == (4, 2)
    assert set(latency.problems) == {"cart"}


def test_prometheus_down_marks_sections_unavailable(
    config: DigestConfig, known_now: datetime
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"

    def incidents(window: timedelta, now: datetime) -> SectionResult:
        return SectionResult(rows=[Row(key="INC-7", label="INC-7", text="INC-7 · 2h open")])

    digest = build_digest(
        prom=PrometheusClient(dead),
        alertmanager=AlertmanagerClient(dead),
        config=config,
        window="1h",
        now=known_now,
        providers={"incidents": incidents},
    )
    by_id = {s.id: s for s in digest.sections}
    for sid in ("alerts", "errors", "latency", "slo", "saturation"):
        assert not by_id[sid].available
        assert by_id[sid].level is Level.AMBER
    assert by_id["errors"].reason == "prometheus: connection refused"
    assert by_id["alerts"].reason == "prometheus: connection refused"  # AM failed, then ALERTS
    assert by_id["incidents"].available and by_id["incidents"].rows[0].key == "INC-7"
    assert digest.status is Level.AMBER
    message = render_digest(digest, t)
    assert "unavailable: prometheus: connection refused" in message.model_dump_json()


def test_one_bad_query_fails_only_its_section(
    known_stack: PromStack, config: DigestConfig, known_now: datetime
) -> None:
    next(s for s in config.sections if s.id == "latency").query = "sum("
    digest = _build(known_stack, config, known_now)
    latency = digest.section("latency")
    assert not latency.available
    assert latency.reason and latency.reason.startswith("prometheus: bad_data:")
    assert digest.section("errors").available and digest.section("errors").rows


def test_alerts_fall_back_to_prometheus_alerts(
    known_stack: PromStack, config: DigestConfig
) -> None:
    from datetime import UTC

    digest = build_digest(
        prom=PrometheusClient(known_stack.prometheus_url),
        alertmanager=AlertmanagerClient(f"http://127.0.0.1:{free_port()}"),
        config=config,
        window="1h",
        now=datetime.now(UTC),
        sections=["alerts"],
    )
    assert _rows(digest, "alerts") == [("CheckoutDown", Level.RED), ("CartSlow", Level.AMBER)]
    assert digest.query_count == 1


def test_changes_since_previous_digest(
    known_stack: PromStack, config: DigestConfig, known_now: datetime
) -> None:
    earlier = _build(known_stack, config, known_now - timedelta(minutes=65))
    assert _rows(earlier, "errors") == [("checkout", Level.RED), ("search", Level.GREEN)]
    stored = Digest.from_json(earlier.to_json())
    stored.section("errors").problems["ghost"] = Level.RED  # a service that has since recovered

    digest = _build(known_stack, config, known_now, previous=stored)

    assert digest.has_previous and digest.previous_at == earlier.generated_at
    changes = [(c.kind, c.section, c.key, c.level) for c in digest.changes]
    assert changes == [
        ("new", "errors", "cart", Level.AMBER),
        ("new", "latency", "cart", Level.AMBER),
        ("resolved", "errors", "ghost", None),
    ]
    text = render_digest(digest, t).blocks[1].model_dump()["text"]
    assert text.splitlines()[0] == "*Changes since the previous digest*"
    assert "new in Top error rates: `cart`" in text
    assert "resolved in Top error rates: `ghost`" in text


def test_providers_feed_sections_and_failures_are_contained(
    known_stack: PromStack, config: DigestConfig, known_now: datetime
) -> None:
    seen: list[tuple[timedelta, datetime]] = []

    def approvals(window: timedelta, now: datetime) -> SectionResult:
        seen.append((window, now))
        rows = [
            Row(key=f"run-{i}", label=f"run-{i}", text=f"run-{i}", level=Level.AMBER)
            for i in range(8)
        ]
        return SectionResult(rows=rows)

    def cost(window: timedelta, now: datetime) -> SectionResult:
        raise RuntimeError("billing source missing")

    digest = _build(
        known_stack,
        config,
        known_now,
        sections=["approvals", "cost"],
        providers={"approvals": approvals, "cost": cost},
    )
    assert seen == [(timedelta(hours=1), known_now)]
    appr = digest.section("approvals")
    assert (len(appr.rows), appr.more, appr.total, appr.breaching) == (5, 3, 8, 8)
    assert appr.level is Level.AMBER and appr.title == "Pending approvals"
    cost_sec = digest.section("cost")
    assert not cost_sec.available
    assert cost_sec.reason == "RuntimeError: billing source missing"
    assert digest.query_count == 0


def test_a_hanging_prometheus_times_out_per_section(
    silent_server: str, config: DigestConfig, known_now: datetime
) -> None:
    digest = build_digest(
        prom=PrometheusClient(silent_server, timeout=0.5),
        alertmanager=None,
        config=config,
        window="1h",
        now=known_now,
        sections=["errors", "latency"],
    )
    assert [(s.id, s.available, s.reason) for s in digest.sections] == [
        ("errors", False, "prometheus: timed out after 0.5s"),
        ("latency", False, "prometheus: timed out after 0.5s"),
    ]
    assert digest.status is Level.AMBER


def test_russian_rendering(
    known_stack: PromStack, config: DigestConfig, known_now: datetime
) -> None:
    from bot.i18n import Translator

    digest = _build(known_stack, config, known_now, sections=["errors"])
    message = render_digest(digest, Translator("ru").t)
    assert message.blocks[0].model_dump()["text"] == "🔴 Сводка состояния: красный"
    assert "Больше всего ошибок" in message.blocks[1].model_dump()["text"]
    assert "2 из 4 выше порога" in message.blocks[1].model_dump()["text"]
