"""Neutral messages for billing answers and alerts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime

from bot.i18n import Translator, formats_for
from bot.messages import Actions, Button, ButtonStyle, Context, Header, Message, Section
from bot.messages import user_text as clean
from handlers.billing import charts
from handlers.billing.anomalies import Anomaly
from handlers.billing.forecast import Backtest, Forecast
from handlers.billing.queries import Freshness, Line, Summary, Top

T = Callable[..., str]
ACK, DISMISS = "cost:ack", "cost:dismiss"


def _money(fmt: Translator, amount: float, currency: str) -> str:
    return fmt.money(round(amount, 2), currency)


def _delta(fmt: Translator, t: T, line: Line) -> str:
    sign = "+" if line.delta >= 0 else "−"
    text = f"{sign}{_money(fmt, abs(line.delta), line.currency)}"
    if line.pct is not None:
        text += f" ({sign}{fmt.number(abs(line.pct), 1)}%)"
    else:
        text += " " + t("(new)")
    return text


def _label(line: Line) -> str:
    return clean(line.label or "(none)", limit=80)


def summary_message(s: Summary, t: T, locale: str, *, chart: bool = True) -> Message:
    """Cost per group for the period, totals per currency, deltas, and a daily chart."""
    fmt = Translator(locale)
    title = t("Cost by {by}, {start} – {end}", by=s.by, start=s.period.start, end=s.period.end)
    blocks: list[object] = [Header(text=title)]
    if not s.totals:
        return Message(text=t("No costs in this period."), blocks=[Header(text=title)])
    for total in s.totals:
        blocks.append(
            Section(
                text=t(
                    "**Total {currency}: {amount}** {delta} vs {prev_start} – {prev_end}",
                    currency=total.currency,
                    amount=_money(fmt, total.cost, total.currency),
                    delta=_delta(fmt, t, total),
                    prev_start=s.previous.start,
                    prev_end=s.previous.end,
                )
            )
        )
        rows = [ln for ln in s.lines if ln.currency == total.currency]
        text = "\n".join(
            f"• {_label(ln)}: {_money(fmt, ln.cost, ln.currency)}  {_delta(fmt, t, ln)}"
            for ln in rows
        )
        blocks.append(Section(text=text))
    blocks.append(Context(text=t("Billed cost; currencies are never added together.")))
    attachments = []
    if chart and s.daily:
        series: dict[str, list[tuple[date, float]]] = defaultdict(list)
        for d, cur, cost in s.daily:
            series[cur].append((d, cost))
        attachments.append(charts.daily_chart(series, t("Daily cost")))
    fallback = title + ": " + ", ".join(_money(fmt, x.cost, x.currency) for x in s.totals)
    return Message(text=fallback, blocks=blocks, attachments=attachments)  # type: ignore[arg-type]


def top_message(top: Top, t: T, locale: str) -> Message:
    """The largest groups and the fastest-growing ones."""
    fmt = Translator(locale)
    title = t("Top by {by}, {start} – {end}", by=top.by, start=top.period.start, end=top.period.end)
    if not top.largest:
        return Message(text=t("No costs in this period."), blocks=[Header(text=title)])
    largest = "\n".join(
        f"{i}. {_label(ln)}: {_money(fmt, ln.cost, ln.currency)}"
        for i, ln in enumerate(top.largest, 1)
    )
    growing = "\n".join(
        f"{i}. {_label(ln)}: {_delta(fmt, t, ln)}" for i, ln in enumerate(top.growing, 1)
    ) or t("Nothing grew.")
    blocks = [
        Header(text=title),
        Section(text=t("**Largest**") + "\n" + largest),
        Section(text=t("**Fastest-growing** vs the previous period") + "\n" + growing),
    ]
    return Message(text=title + "\n" + largest, blocks=blocks)  # type: ignore[arg-type]


def forecast_message(
    forecasts: list[Forecast],
    cumulative: dict[str, list[tuple[date, float]]],
    t: T,
    locale: str,
    backtest: Backtest | None = None,
) -> Message:
    """Month-end forecast per currency with its interval (and the measured backtest error)."""
    fmt = Translator(locale)
    if not forecasts:
        return Message.plain(t("No cost data to forecast from."))
    title = t("Month-end forecast ({month})", month=forecasts[0].month_end.strftime("%Y-%m"))
    blocks: list[object] = [Header(text=title)]
    lines = []
    for f in forecasts:
        line = t(
            "**{currency}: {expected}** (80% interval {low} – {high}); {actual} so far, "
            "{days} days to go",
            currency=f.currency,
            expected=_money(fmt, f.expected, f.currency),
            low=_money(fmt, f.low, f.currency),
            high=_money(fmt, f.high, f.currency),
            actual=_money(fmt, f.actual_to_date, f.currency),
            days=f.days_remaining,
        )
        lines.append(line)
        blocks.append(Section(text=line))
    if backtest is not None:
        blocks.append(Section(text=backtest_text(backtest, t)))
    blocks.append(
        Context(text=t("As of {day}; run rate with weekday seasonality.", day=forecasts[0].as_of))
    )
    attachments = []
    for f in forecasts[:1]:
        attachments.append(
            charts.forecast_chart(
                cumulative.get(f.currency, []), f.month_end, f.expected, f.low, f.high, title
            )
        )
    return Message(text=title + ": " + "; ".join(lines), blocks=blocks, attachments=attachments)  # type: ignore[arg-type]


def backtest_text(bt: Backtest, t: T) -> str:
    if bt.mape is None:
        return t("Backtest: not enough history (needs a complete month in the mart).")
    return t(
        "Backtest at mid-month over {n} month(s): MAPE {mape}%, actual inside the interval "
        "{coverage}% of the time.",
        n=len(bt.points),
        mape=formats_for(t).number(bt.mape, 2),
        coverage=formats_for(t).number((bt.coverage or 0) * 100, 0),
    )


def _anomaly_line(a: Anomaly, fmt: Translator, t: T) -> str:
    return t(
        "{day} · {dimension} **{value}**: {actual} vs {expected} expected (+{impact})",
        day=a.day,
        dimension=a.dimension,
        value=clean(a.value, limit=80),
        actual=_money(fmt, a.actual, a.currency),
        expected=_money(fmt, a.expected, a.currency),
        impact=_money(fmt, a.impact, a.currency),
    )


def anomaly_alert(a: Anomaly, t: T, locale: str) -> Message:
    """One anomaly with its money impact, top contributors and feedback buttons."""
    fmt = Translator(locale)
    title = t("Cost anomaly: {value}", value=clean(a.value, limit=80))
    contributors = "\n".join(
        f"• `{clean(r, limit=120)}` +{_money(fmt, d, a.currency)}" for r, d in a.contributors
    ) or t("No resource-level detail.")
    value = str(a.id or "")
    blocks = [
        Header(text=title),
        Section(text=_anomaly_line(a, fmt, t)),
        Section(text=t("**Top contributing resources**") + "\n" + contributors),
        Actions(
            buttons=[
                Button(
                    label=t("Acknowledge"), action_id=ACK, value=value, style=ButtonStyle.PRIMARY
                ),
                Button(label=t("Not an anomaly"), action_id=DISMISS, value=value),
            ]
        ),
    ]
    return Message(text=title + " — " + _anomaly_line(a, fmt, t), blocks=blocks)  # type: ignore[arg-type]


def anomalies_message(items: list[Anomaly], start: date, end: date, t: T, locale: str) -> Message:
    fmt = Translator(locale)
    title = t("Cost anomalies, {start} – {end}", start=start, end=end)
    if not items:
        return Message(text=t("No anomalies in this period."), blocks=[Header(text=title)])
    text = "\n".join(f"• {_anomaly_line(a, fmt, t)} [{t(a.status)}]" for a in items[:20])
    return Message(text=title + "\n" + text, blocks=[Header(text=title), Section(text=text)])


def freshness_message(f: Freshness, t: T, locale: str, now: datetime) -> Message:
    fmt = Translator(locale)
    if f.newest_charge is None:
        return Message.plain(t("No billing data has been ingested yet."))
    text = t(
        "Newest charge period ends {newest} ({age}); last ingest {last}.",
        newest=fmt.datetime(f.newest_charge),
        age=fmt.ago(f.newest_charge, now),
        last=fmt.ago(f.last_ingest, now) if f.last_ingest else "—",
    )
    if f.stale:
        text = "⚠️ " + t("Billing data is stale.") + " " + text
    return Message.plain(text)
