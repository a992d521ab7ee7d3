"""Small PNG charts (matplotlib, Agg canvas; no pyplot global state) as message attachments."""

from __future__ import annotations

import base64
import io
from datetime import date
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure

from bot.messages import Attachment


def _figure() -> tuple[Figure, Any]:
    """A small figure with fixed margins and few date ticks (no tight_layout, no autofmt)."""
    fig = Figure(figsize=(6, 2.6))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.88, bottom=0.14)
    ax = fig.subplots()
    ax.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=6))
    ax.xaxis.set_major_formatter(DateFormatter("%m-%d"))
    ax.tick_params(labelsize=8)
    return fig, ax


def _png(fig: Figure, filename: str, title: str) -> Attachment:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, pil_kwargs={"compress_level": 1})
    return Attachment(
        filename=filename, title=title, content_b64=base64.b64encode(buf.getvalue()).decode()
    )


def daily_chart(series: dict[str, list[tuple[date, float]]], title: str) -> Attachment:
    """One line of daily cost per currency."""
    fig, ax = _figure()
    for currency, points in sorted(series.items()):
        ax.plot([d for d, _ in points], [v for _, v in points], label=currency, linewidth=1.5)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return _png(fig, "cost-daily.png", title)


def forecast_chart(
    cumulative: list[tuple[date, float]],
    month_end: date,
    expected: float,
    low: float,
    high: float,
    title: str,
) -> Attachment:
    """Cumulative month-to-date cost and the month-end forecast with its interval."""
    fig, ax = _figure()
    ax.plot([d for d, _ in cumulative], [v for _, v in cumulative], linewidth=1.8)
    if cumulative:
        last_day, last = cumulative[-1]
        ax.plot([last_day, month_end], [last, expected], linestyle="--")
        ax.fill_between([last_day, month_end], [last, low], [last, high], alpha=0.2)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return _png(fig, "cost-forecast.png", title)
