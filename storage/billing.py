"""Cost mart repository: file log, rollup inserts and grouped reads (keyword-only)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, delete, func, insert, literal, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from storage.models.billing import (
    BillingAnomaly,
    BillingCostDaily,
    BillingFile,
    BillingResourceDaily,
    BillingTagDaily,
    utcnow,
)

Conn = Connection | Session
Rows = Iterable[Sequence[Sequence[Any]]]

FILE: Table = BillingFile.__table__  # type: ignore[attr-defined]
COST: Table = BillingCostDaily.__table__  # type: ignore[attr-defined]
TAG: Table = BillingTagDaily.__table__  # type: ignore[attr-defined]
RESOURCE: Table = BillingResourceDaily.__table__  # type: ignore[attr-defined]
ANOMALY: Table = BillingAnomaly.__table__  # type: ignore[attr-defined]

DIMENSIONS = ("service", "project", "region", "charge_category", "resource")


def find_file(conn: Conn, *, name: str, content_hash: str) -> Any | None:
    """The logged file with this content (under any name), or None."""
    rows = conn.execute(select(FILE).where(FILE.c.content_hash == content_hash)).all()
    for row in rows:
        if row.name == name:
            return row
    return rows[0] if rows else None


def replace_file(
    conn: Conn,
    *,
    name: str,
    content_hash: str,
    rows_read: int,
    rows_rejected: int,
    period_start: datetime | None,
    period_end: datetime | None,
) -> int:
    """Log `name` with its new content and drop its previous contribution; returns its id."""
    values = {
        "content_hash": content_hash,
        "rows_read": rows_read,
        "rows_rejected": rows_rejected,
        "period_start": period_start,
        "period_end": period_end,
        "ingested_at": utcnow(),
    }
    old = conn.execute(select(FILE.c.id).where(FILE.c.name == name)).scalar_one_or_none()
    if old is None:
        return int(conn.execute(insert(FILE).values(name=name, **values)).inserted_primary_key[0])
    for table in (COST, TAG, RESOURCE):
        conn.execute(delete(table).where(table.c.file_id == old))
    conn.execute(update(FILE).where(FILE.c.id == old).values(**values))
    return int(old)


def _insert(conn: Conn, table: Table, file_id: int, names: Sequence[str], chunks: Rows) -> int:
    """Bulk insert through the driver (executemany on SQLite, COPY on PostgreSQL)."""
    sa_conn = conn.connection() if isinstance(conn, Session) else conn
    raw = sa_conn.connection.driver_connection
    cols = ", ".join(["file_id", *names])
    count = 0
    if sa_conn.dialect.name == "sqlite":
        marks = ", ".join("?" * (len(names) + 1))
        cur = raw.cursor()  # type: ignore[union-attr]
        for chunk in chunks:
            cur.executemany(
                f"INSERT INTO {table.name} ({cols}) VALUES ({marks})",
                [(file_id, str(r[0]), *r[1:]) for r in chunk],
            )
            count += len(chunk)
        return count
    if sa_conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for chunk in chunks:
                for r in chunk:
                    copy.write_row((file_id, *r))
                count += len(chunk)
        return count
    for chunk in chunks:
        payload = [{"file_id": file_id, **dict(zip(names, row, strict=True))} for row in chunk]
        if payload:
            conn.execute(insert(table), payload)
            count += len(payload)
    return count


def insert_cost_rows(conn: Conn, file_id: int, chunks: Rows) -> int:
    names = [
        "day",
        "currency",
        "service",
        "service_category",
        "project",
        "project_name",
        "region",
        "charge_category",
        "billed_cost",
        "effective_cost",
        "rows",
    ]
    return _insert(conn, COST, file_id, names, chunks)


def insert_tag_rows(conn: Conn, file_id: int, chunks: Rows) -> int:
    names = ["day", "currency", "tag_key", "tag_value", "billed_cost", "effective_cost"]
    return _insert(conn, TAG, file_id, names, chunks)


def insert_resource_rows(conn: Conn, file_id: int, chunks: Rows) -> int:
    names = [
        "day",
        "currency",
        "resource_id",
        "resource_name",
        "service",
        "project",
        "region",
        "billed_cost",
        "effective_cost",
    ]
    return _insert(conn, RESOURCE, file_id, names, chunks)


def _source(by: str) -> tuple[Table, Any, list[Any]]:
    """Table, key column and extra filters for a grouping: service|project|...|tag:KEY."""
    if by.startswith("tag:"):
        return TAG, TAG.c.tag_value, [TAG.c.tag_key == by.removeprefix("tag:")]
    if by == "resource":
        return RESOURCE, RESOURCE.c.resource_id, []
    if by in DIMENSIONS:
        return COST, COST.c[by], []
    if by == "total":
        return COST, literal(""), []
    raise ValueError(f"unknown grouping {by!r}")


def grouped_costs(
    conn: Conn, *, start: date, end: date, by: str, where: dict[str, str] | None = None
) -> dict[tuple[str, str], float]:
    """Billed cost per (key, currency) for days in [start, end]."""
    table, key, filters = _source(by)
    filters += [table.c[k] == v for k, v in (where or {}).items()]
    stmt = (
        select(key.label("k"), table.c.currency, func.sum(table.c.billed_cost))
        .where(table.c.day >= start, table.c.day <= end, *filters)
        .group_by(key, table.c.currency)
    )
    return {(str(k), cur): float(v or 0) for k, cur, v in conn.execute(stmt)}


def daily_costs(
    conn: Conn, *, start: date, end: date, by: str = "total"
) -> list[tuple[date, str, str, float]]:
    """(day, key, currency, billed cost) for days in [start, end], ordered by day."""
    table, key, filters = _source(by)
    stmt = (
        select(table.c.day, key.label("k"), table.c.currency, func.sum(table.c.billed_cost))
        .where(table.c.day >= start, table.c.day <= end, *filters)
        .group_by(table.c.day, key, table.c.currency)
        .order_by(table.c.day)
    )
    return [(_day(d), str(k), cur, float(v or 0)) for d, k, cur, v in conn.execute(stmt)]


def labels(conn: Conn, *, by: str, keys: Iterable[str]) -> dict[str, str]:
    """Display names for project ids and resource ids (others are their own label)."""
    wanted = list(keys)
    if by == "project" and wanted:
        stmt = (
            select(COST.c.project, func.max(COST.c.project_name))
            .where(COST.c.project.in_(wanted))
            .group_by(COST.c.project)
        )
    elif by == "resource" and wanted:
        stmt = (
            select(RESOURCE.c.resource_id, func.max(RESOURCE.c.resource_name))
            .where(RESOURCE.c.resource_id.in_(wanted))
            .group_by(RESOURCE.c.resource_id)
        )
    else:
        return {}
    return {k: v for k, v in conn.execute(stmt) if v}


def top_resources(
    conn: Conn, *, day: date, currency: str, dimension: str, value: str, n: int = 5
) -> list[tuple[str, float]]:
    """The resources with the largest billed cost on `day` within one dimension value."""
    stmt = (
        select(RESOURCE.c.resource_id, func.sum(RESOURCE.c.billed_cost).label("c"))
        .where(
            RESOURCE.c.day == day,
            RESOURCE.c.currency == currency,
            RESOURCE.c[dimension] == value,
        )
        .group_by(RESOURCE.c.resource_id)
        .order_by(func.sum(RESOURCE.c.billed_cost).desc())
        .limit(n)
    )
    return [(str(r), float(c or 0)) for r, c in conn.execute(stmt)]


def day_bounds(conn: Conn) -> tuple[date | None, date | None]:
    """The first and last day with costs in the mart."""
    lo, hi = conn.execute(select(func.min(COST.c.day), func.max(COST.c.day))).one()
    return (_day(lo) if lo else None, _day(hi) if hi else None)


def freshness(conn: Conn) -> tuple[datetime | None, datetime | None]:
    """The newest charge period end and the last ingest time."""
    newest, last = conn.execute(
        select(func.max(FILE.c.period_end), func.max(FILE.c.ingested_at))
    ).one()
    return newest, last


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
