"""Cost mart repository: file log, rollup inserts and grouped reads (keyword-only)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Table,
    bindparam,
    case,
    delete,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlmodel import Session

from storage.models.billing import (
    BillingAnomaly,
    BillingCostDaily,
    BillingFile,
    BillingResource,
    BillingResourceDaily,
    BillingResourceWeekly,
    BillingTagDaily,
    utcnow,
)

Conn = Connection | Session
Rows = Iterable[Sequence[Sequence[Any]]]

FILE: Table = BillingFile.__table__  # type: ignore[attr-defined]
COST: Table = BillingCostDaily.__table__  # type: ignore[attr-defined]
TAG: Table = BillingTagDaily.__table__  # type: ignore[attr-defined]
LINE: Table = BillingResource.__table__  # type: ignore[attr-defined]
RESOURCE: Table = BillingResourceDaily.__table__  # type: ignore[attr-defined]
WEEKLY: Table = BillingResourceWeekly.__table__  # type: ignore[attr-defined]
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
    for table in (COST, TAG, RESOURCE, WEEKLY):
        conn.execute(delete(table).where(table.c.file_id == old))
    conn.execute(update(FILE).where(FILE.c.id == old).values(**values))
    return int(old)


COLUMNS: dict[str, tuple[str, ...]] = {
    "billing_cost_daily": (
        "file_id",
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
    ),
    "billing_tag_daily": (
        "file_id",
        "day",
        "currency",
        "tag_key",
        "tag_value",
        "billed_cost",
        "effective_cost",
    ),
    "billing_resource_day": ("file_id", "day", "resource", "billed_cost", "effective_cost"),
    "billing_resource_week": ("file_id", "week", "resource", "billed_cost", "effective_cost"),
}


def _raw(conn: Conn) -> tuple[str, Any]:
    sa_conn = conn.connection() if isinstance(conn, Session) else conn
    return sa_conn.dialect.name, sa_conn.connection.driver_connection


def insert_rows(conn: Conn, table: Table, chunks: Rows, *, file_id: int | None = None) -> int:
    """Ready tuples (in `COLUMNS[table]` order): one prepared executemany per chunk on SQLite.

    With `file_id`, the tuples leave out the leading `file_id` and the statement carries it as a
    constant (one bound value less per row).
    """
    names = COLUMNS[table.name]
    dialect, raw = _raw(conn)
    count = 0
    if dialect == "sqlite":
        marks = ["?"] * len(names)
        if file_id is not None:
            marks[0] = str(int(file_id))
        sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(marks)})"
        cur = raw.cursor()
        for chunk in chunks:
            cur.executemany(sql, chunk)
            count += len(chunk)
        cur.close()
        return count
    for chunk in chunks:
        rows = [(file_id, *row) for row in chunk] if file_id is not None else chunk
        payload = [dict(zip(names, row, strict=True)) for row in rows]
        if payload:
            conn.execute(insert(table), payload)
            count += len(payload)
    return count


def resource_lines(conn: Conn, rows: Sequence[Sequence[Any]]) -> dict[str, int]:
    """Upsert resource lines `(key, resource_id, currency, service, project, region, name)`.

    Returns {key: id} for the given keys. New lines are inserted (a concurrent insert of the
    same key is tolerated), a changed non-empty name replaces the stored one.
    """
    if not rows:
        return {}
    known: dict[str, tuple[int, str]] = {
        k: (int(i), n)
        for k, i, n in conn.execute(select(LINE.c.key, LINE.c.id, LINE.c.resource_name))
    }
    names = ("key", "resource_id", "currency", "service", "project", "region", "resource_name")
    fresh = [dict(zip(names, r, strict=True)) for r in rows if r[0] not in known]
    if fresh:
        dialect, _ = _raw(conn)
        upsert = pg_insert if dialect == "postgresql" else sqlite_insert
        conn.execute(upsert(LINE).on_conflict_do_nothing(index_elements=["key"]), fresh)
        wanted = [f["key"] for f in fresh]
        for lo in range(0, len(wanted), 5000):
            part = wanted[lo : lo + 5000]
            for k, i, n in conn.execute(
                select(LINE.c.key, LINE.c.id, LINE.c.resource_name).where(LINE.c.key.in_(part))
            ):
                known[k] = (int(i), n)
    renamed = [{"k": r[0], "n": r[6]} for r in rows if r[6] and known[r[0]][1] != r[6]]
    if renamed:
        conn.execute(
            update(LINE).where(LINE.c.key == bindparam("k")).values(resource_name=bindparam("n")),
            renamed,
        )
    return {r[0]: known[r[0]][0] for r in rows}


def copy_csv(conn: Conn, table: Table, path: str, block: int = 1 << 20) -> None:
    """PostgreSQL: stream a headerless CSV file (columns in `COLUMNS[table]` order) into COPY."""
    _, raw = _raw(conn)
    cols = ", ".join(COLUMNS[table.name])
    sql = f"COPY {table.name} ({cols}) FROM STDIN WITH (FORMAT csv)"
    with raw.cursor() as cur, cur.copy(sql) as copy, open(path, "rb") as fh:
        while data := fh.read(block):
            copy.write(data)


def drop_indexes(conn: Conn, table: Table) -> list[str]:
    """Drop the table's secondary (non-unique) indexes; returns their DDL to recreate them.

    For a load that at least doubles a table: building an index once afterwards is much cheaper
    than maintaining it row by row. On PostgreSQL the dropped index holds an exclusive lock on
    the table until the load commits (readers of that table wait, they do not fail).
    """
    dialect, _ = _raw(conn)
    if dialect == "sqlite":
        sql = (
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t "
            "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%'"
        )
    elif dialect == "postgresql":
        sql = (
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "WHERE t.relname = :t AND t.relnamespace = current_schema()::regnamespace "
            "AND NOT x.indisprimary AND NOT x.indisunique"
        )
    else:
        return []
    rows = conn.execute(text(sql), {"t": table.name}).all()
    for name, _sql in rows:
        conn.execute(text(f'DROP INDEX "{name}"'))
    return [str(ddl) for _name, ddl in rows]


def create_indexes(conn: Conn, ddl: Sequence[str]) -> None:
    """Recreate indexes from their DDL (see `drop_indexes`)."""
    dialect, _ = _raw(conn)
    if ddl and dialect == "postgresql":
        conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    for sql in ddl:
        conn.execute(text(sql))


def analyze(conn: Conn, tables: Iterable[Table]) -> None:
    """PostgreSQL: refresh planner statistics after a big load (plans use real row counts)."""
    dialect, _ = _raw(conn)
    if dialect == "postgresql":
        for table in tables:
            conn.execute(text(f"ANALYZE {table.name}"))


def row_count(conn: Conn, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _source(by: str) -> tuple[Table, Any, list[Any]]:
    """Table, key column and extra filters for a grouping: service|project|...|tag:KEY."""
    if by.startswith("tag:"):
        return TAG, TAG.c.tag_value, [TAG.c.tag_key == by.removeprefix("tag:")]
    if by == "resource":
        raise ValueError("per-resource costs come from ranked_costs (resource lines)")
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


def full_weeks(lo: date, hi: date) -> tuple[date, date] | None:
    """The first and last Monday of the complete ISO weeks inside [lo, hi], or None."""
    first = lo + timedelta(days=(7 - lo.weekday()) % 7)
    last = hi - timedelta(days=(hi.weekday() + 1) % 7 + 6)
    return (first, last) if first <= last else None


def _period_source(by: str, ranges: Sequence[tuple[date, date]]) -> Any:
    """Rows (k, cur, day, cost) covering `ranges` for a grouping stored per day."""
    table, key, filters = _source(by)
    lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
    return (
        select(
            key.label("k"),
            table.c.currency.label("cur"),
            table.c.day.label("day"),
            table.c.billed_cost.label("cost"),
        )
        .where(table.c.day >= lo, table.c.day <= hi, *filters)
        .subquery()
    )


def segments(lo: date, hi: date) -> list[tuple[Table, date, date]]:
    """[lo, hi] as per-resource rollup ranges: whole ISO weeks from the weekly rows, edge days
    from the daily rows (a 30-day period: at most 4 week rows and 9 day rows per resource)."""
    full = full_weeks(lo, hi)
    if full is None:
        return [(RESOURCE, lo, hi)]
    first, last = full
    out: list[tuple[Table, date, date]] = [(WEEKLY, first, last)]
    if lo < first:
        out.append((RESOURCE, lo, first - timedelta(days=1)))
    if last + timedelta(days=6) < hi:
        out.append((RESOURCE, last + timedelta(days=7), hi))
    return out


def _resource_periods(dialect: str, current: tuple[date, date], previous: tuple[date, date]) -> Any:
    """Rows (k, cur, c, p, seen) per resource line: cost in the current and previous period.

    SQLite: every line looks up its own short index ranges (`(resource, day)` index), so no
    large sort is needed to group. PostgreSQL: one hash aggregate over the day-range scans.
    """
    parts = [(seg, 0) for seg in segments(*previous)] + [(seg, 1) for seg in segments(*current)]
    if dialect == "sqlite":
        cols = []
        for i, ((table, lo, hi), _) in enumerate(parts):
            col = table.c.week if table is WEEKLY else table.c.day
            cols.append(
                select(func.sum(table.c.billed_cost))
                .where(table.c.resource == LINE.c.id, col >= lo, col <= hi)
                .scalar_subquery()
                .label(f"s{i}")
            )
        inner = (
            select(LINE.c.resource_id, LINE.c.currency, *cols)
            .cte("lines")
            .prefix_with("MATERIALIZED")
        )
        s_ = inner.c

        def total(which: int) -> Any:
            terms = [
                func.coalesce(s_[f"s{i}"], 0.0) for i, (_, w) in enumerate(parts) if w == which
            ]
            out: Any = terms[0]
            for term in terms[1:]:
                out = out + term
            return out

        seen = or_(false(), *[s_[f"s{i}"].is_not(None) for i, (_, w) in enumerate(parts) if w])
        return select(
            s_.resource_id.label("k"),
            s_.currency.label("cur"),
            func.sum(total(1)).label("c"),
            func.sum(total(0)).label("p"),
            func.max(case((seen, 1), else_=0)).label("seen"),
        ).group_by(s_.resource_id, s_.currency)
    branches = []
    for (table, lo, hi), which in parts:
        col = table.c.week if table is WEEKLY else table.c.day
        branches.append(
            select(
                table.c.resource.label("line"),
                literal(which).label("w"),
                table.c.billed_cost.label("cost"),
            ).where(col >= lo, col <= hi)
        )
    u = union_all(*branches).subquery()
    per_line = (
        select(
            u.c.line,
            func.sum(case((u.c.w == 1, u.c.cost), else_=0.0)).label("c"),
            func.sum(case((u.c.w == 0, u.c.cost), else_=0.0)).label("p"),
            func.max(u.c.w).label("seen"),
        )
        .group_by(u.c.line)
        .subquery()
    )
    return (
        select(
            LINE.c.resource_id.label("k"),
            LINE.c.currency.label("cur"),
            func.sum(per_line.c.c).label("c"),
            func.sum(per_line.c.p).label("p"),
            func.max(per_line.c.seen).label("seen"),
        )
        .select_from(per_line.join(LINE, LINE.c.id == per_line.c.line))
        .group_by(LINE.c.resource_id, LINE.c.currency)
    )


def ranked_costs(
    conn: Conn,
    *,
    start: date,
    end: date,
    prev_start: date,
    prev_end: date,
    by: str,
    n: int,
) -> list[Ranked]:
    """Groups with cost in [start, end] and in the previous period, ranked in the database.

    One pass over both periods; returns only the rows among the `n` largest per currency,
    the `n` largest overall or the `n` fastest-growing overall, each with its currency's total.
    """
    if by == "resource":
        dialect, _ = _raw(conn)
        if dialect == "postgresql":
            # a ~100 ms query: JIT compilation would cost more than it saves
            conn.execute(text("SET LOCAL jit = off"))
        per_line = _resource_periods(dialect, (start, end), (prev_start, prev_end)).subquery()
        grouped = (
            select(per_line.c.k, per_line.c.cur, per_line.c.c, per_line.c.p)
            .where(per_line.c.seen > 0)
            .subquery()
        )
    else:
        src = _period_source(by, [(prev_start, prev_end), (start, end)])
        u = src.c
        now = func.sum(case((u.day >= start, u.cost), else_=0.0))
        before = func.sum(case(((u.day >= prev_start) & (u.day <= prev_end), u.cost), else_=0.0))
        seen = func.sum(case((u.day >= start, 1), else_=0))
        grouped = (
            select(u.k, u.cur, now.label("c"), before.label("p"))
            .group_by(u.k, u.cur)
            .having(seen > 0)
            .subquery()
        )
    g = grouped.c
    ranked = select(
        g.k,
        g.cur,
        g.c,
        g.p,
        func.row_number().over(partition_by=g.cur, order_by=(g.c.desc(), g.k)).label("rcur"),
        func.row_number().over(order_by=(g.c.desc(), g.k)).label("rall"),
        func.row_number().over(order_by=((g.c - g.p).desc(), g.k)).label("rdelta"),
        func.sum(g.c).over(partition_by=g.cur).label("tc"),
        func.sum(g.p).over(partition_by=g.cur).label("tp"),
        func.count().over(partition_by=g.cur).label("groups"),
    ).subquery()
    r = ranked.c
    stmt = select(ranked).where((r.rcur <= n) | (r.rall <= n) | (r.rdelta <= n))
    return [
        Ranked(
            str(k), cur, float(c or 0), float(p or 0), rc, ra, rd, float(tc or 0), float(tp or 0), m
        )
        for k, cur, c, p, rc, ra, rd, tc, tp, m in conn.execute(stmt)
    ]


@dataclass(frozen=True)
class Ranked:
    """One group's cost in a period and the previous one, its ranks and its currency's totals."""

    key: str
    currency: str
    cost: float
    previous: float
    rank_in_currency: int
    rank: int
    rank_growth: int
    currency_cost: float
    currency_previous: float
    currency_groups: int


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


def labels(
    conn: Conn,
    *,
    by: str,
    keys: Iterable[str],
    start: date | None = None,
    end: date | None = None,
) -> dict[str, str]:
    """Display names for project ids and resource ids (others are their own label).

    Resource names come from the resource lines (newest non-empty name seen at ingest);
    `start`/`end` are accepted for callers and not needed any more.
    """
    wanted = list(keys)
    if by == "project" and wanted:
        stmt = (
            select(COST.c.project, func.max(COST.c.project_name))
            .where(COST.c.project.in_(wanted))
            .group_by(COST.c.project)
        )
    elif by == "resource" and wanted:
        stmt = (
            select(LINE.c.resource_id, func.max(LINE.c.resource_name))
            .where(LINE.c.resource_id.in_(wanted))
            .group_by(LINE.c.resource_id)
        )
    else:
        return {}
    return {k: v for k, v in conn.execute(stmt) if v}


def top_resources(
    conn: Conn, *, day: date, currency: str, dimension: str, value: str, n: int = 5
) -> list[tuple[str, float]]:
    """The resources with the largest billed cost on `day` within one dimension value."""
    cost = func.sum(RESOURCE.c.billed_cost)
    stmt = (
        select(LINE.c.resource_id, cost.label("c"))
        .select_from(RESOURCE.join(LINE, LINE.c.id == RESOURCE.c.resource))
        .where(RESOURCE.c.day == day, LINE.c.currency == currency, LINE.c[dimension] == value)
        .group_by(LINE.c.resource_id)
        .order_by(cost.desc())
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
