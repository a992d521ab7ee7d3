"""render_digest on synthetic digests: order, emoji, limits."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.messages import Actions, Context, Header, Section
from handlers.digests import Change, Digest, Level, Row, SectionResult, render_digest
from handlers.digests.render import MAX_SECTION_CHARS


def t(s: str, **kw: object) -> str:
    return s.format(**kw)


NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def _digest(**kw: object) -> Digest:
    base: dict[str, object] = {"generated_at": NOW, "window": "1h", "status": Level.RED}
    return Digest(**{**base, **kw})  # type: ignore[arg-type]


def test_header_changes_first_then_sections_and_context() -> None:
    errors = SectionResult(
        id="errors",
        title="Top error rates",
        kind="error_rate",
        level=Level.RED,
        total=3,
        breaching=1,
        rows=[
            Row(
                key="checkout",
                label="checkout",
                value=0.1,
                previous=0.05,
                unit="ratio",
                level=Level.RED,
                trend="↑",
                sparkline="▁▄█",
                link="https://g.invalid/checkout",
            ),
        ],
    )
    down = SectionResult(id="latency", title="Latency p95 / p99", kind="latency",
                         available=False, reason="prometheus: timed out after 10s",
                         level=Level.AMBER)  # fmt: skip
    digest = _digest(
        sections=[errors, down],
        status_sections=["errors"],
        has_previous=True,
        changes=[
            Change(kind="status", level=Level.RED, previous_level=Level.AMBER),
            Change(
                kind="new",
                section="errors",
                section_title="Top error rates",
                key="checkout",
                level=Level.RED,
            ),
        ],
        query_count=4,
    )
    msg = render_digest(digest, t)
    assert msg.text == "🔴 Status digest: red (Top error rates)"
    header, changes, err, lat, ctx, rate = msg.blocks
    assert isinstance(rate, Actions)
    assert [b.action_id for b in rate.buttons] == ["feedback:up", "feedback:down"]
    assert isinstance(header, Header) and header.text == "🔴 Status digest: red"
    assert isinstance(changes, Section)
    assert changes.text.splitlines() == [
        "*Changes since the previous digest*",
        "Status amber → red",
        "🔴 new in Top error rates: `checkout`",
    ]
    assert isinstance(err, Section)
    assert err.text.splitlines()[1] == (
        "🔴 [checkout](https://g.invalid/checkout) 10.0% ↑ `▁▄█` (was 5.00%)"
    )
    assert isinstance(lat, Section)
    assert lat.text == "🟠 *Latency p95 / p99*\n_unavailable: prometheus: timed out after 10s_"
    assert isinstance(ctx, Context)
    assert ctx.text == "Window 1h · Nov 29, 2026, 09:00 UTC · 4 Prometheus queries"


def test_long_rows_are_cut_at_the_section_limit_with_a_count() -> None:
    rows = [Row(key=f"s{i}", label="x" * 400 + str(i), text="y" * 400, level=Level.AMBER)
            for i in range(20)]  # fmt: skip
    sec = SectionResult(id="approvals", title="Pending approvals", rows=rows, total=25, more=5)
    msg = render_digest(_digest(sections=[sec], status=Level.AMBER), t)
    block = msg.blocks[1]
    assert isinstance(block, Section)
    assert len(block.text) <= MAX_SECTION_CHARS
    shown = sum(1 for line in block.text.splitlines() if line.startswith("🟠 y"))
    assert block.text.endswith(f"_and {25 - shown} more_")


def test_service_header_and_no_previous_means_no_changes_block() -> None:
    msg = render_digest(_digest(service="cart", status=Level.GREEN), t)
    assert [type(b) for b in msg.blocks] == [Header, Context, Actions]
    assert msg.blocks[0].text == "🟢 Status digest for cart: green"  # type: ignore[union-attr]


def test_digest_json_roundtrip() -> None:
    digest = _digest(sections=[SectionResult(id="x", title="X", problems={"a": Level.RED})])
    again = Digest.from_json(digest.to_json())
    assert again == digest
    assert again.section("x").problems["a"] is Level.RED
