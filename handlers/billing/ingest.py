"""Ingest FOCUS 1.0+ billing exports (CSV, CSV.gz, Parquet) into the cost mart.

DuckDB reads and groups each file in one vectorised, multi-threaded scan (it parses CSV and
Parquet natively, reports the line and column of a value it cannot convert, and spills to disk
past its memory limit); only the small daily rollups cross into the bot's database, in one
transaction per file.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
from sqlalchemy import Table
from sqlalchemy.engine import Connection, Engine

from handlers.billing.options import DEFAULT_TAG_KEYS
from storage import billing as repo

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
REQUIRED = ("BilledCost", "BillingCurrency", "ChargePeriodStart", "ChargeCategory", "ServiceName")
OPTIONAL = (
    "EffectiveCost",
    "ChargePeriodEnd",
    "ServiceCategory",
    "SubAccountId",
    "SubAccountName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "Tags",
)
TYPES = {
    "BilledCost": "DOUBLE",
    "EffectiveCost": "DOUBLE",
}
TIMESTAMPS = ("ChargePeriodStart", "ChargePeriodEnd")
ISO = r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?"
CHUNK = 100_000
MEMORY_LIMIT = "4GB"  # past it DuckDB spills to its temp folder


class IngestError(Exception):
    """A file rejected as a whole; names the file and, when known, the line and column."""

    def __init__(
        self, file: str, reason: str, *, line: int | None = None, column: str = ""
    ) -> None:
        self.file, self.reason, self.line, self.column = file, reason, line, column
        where = f" line {line}" if line else ""
        col = f" column {column}" if column else ""
        super().__init__(f"{file}:{where}{col}: {reason}".replace(": :", ":"))


@dataclass(frozen=True)
class FileResult:
    """What happened to one file: ingested, unchanged (same content), or rejected."""

    name: str
    status: str
    rows_read: int = 0
    rows_rejected: int = 0
    error: str = ""


@dataclass(frozen=True)
class IngestReport:
    rows_read: int
    rows_rejected: int
    period_start: datetime | None
    period_end: datetime | None
    files: list[FileResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.status != "rejected" for f in self.files)


def sources(path: Path) -> list[Path]:
    """The export files at `path` (a file, or a folder searched recursively), sorted."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(str(path))
    found = [p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(SUFFIXES)]
    return sorted(found)


def resolve_under(root: Path, name: str) -> Path:
    """`name` resolved inside `root`; raises ValueError when it escapes (.., absolute, links)."""
    base = root.resolve()
    target = (base / name).resolve()
    if target != base and base not in target.parents:
        raise ValueError(f"{name!r} is outside the billing source")
    return target


def content_hash(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def ingest_path(
    engine: Engine,
    path: Path,
    *,
    root: Path | None = None,
    tag_keys: Sequence[str] = DEFAULT_TAG_KEYS,
) -> IngestReport:
    """Ingest every export at `path`; each file in its own transaction (rejects leave no trace)."""
    root = root or (path if path.is_dir() else path.parent)
    results: list[FileResult] = []
    starts: list[datetime] = []
    ends: list[datetime] = []
    for file in sources(path):
        name = _name(file, root)
        try:
            result, start, end = ingest_file(engine, file, name=name, tag_keys=tag_keys)
        except IngestError as exc:
            results.append(FileResult(name=name, status="rejected", error=str(exc)))
            continue
        results.append(result)
        starts += [start] if start else []
        ends += [end] if end else []
    return IngestReport(
        rows_read=sum(r.rows_read for r in results),
        rows_rejected=sum(r.rows_rejected for r in results),
        period_start=min(starts, default=None),
        period_end=max(ends, default=None),
        files=results,
    )


def _name(file: Path, root: Path) -> str:
    try:
        return file.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return file.name


def ingest_file(
    engine: Engine, path: Path, *, name: str, tag_keys: Sequence[str] = DEFAULT_TAG_KEYS
) -> tuple[FileResult, datetime | None, datetime | None]:
    """Ingest one file under `name`; same content again is a no-op, new content replaces."""
    digest = content_hash(path)
    with engine.connect() as conn:
        known = repo.find_file(conn, name=name, content_hash=digest)
    if known is not None:
        return (
            FileResult(name, "unchanged", known.rows_read, known.rows_rejected),
            known.period_start,
            known.period_end,
        )
    with _duck() as duck:
        stats = _stage(duck, path, name, list(tag_keys))
        _rollups(duck, list(tag_keys))
        with engine.begin() as conn:
            file_id = repo.replace_file(
                conn,
                name=name,
                content_hash=digest,
                rows_read=stats.rows,
                rows_rejected=stats.rejected,
                period_start=stats.start,
                period_end=stats.end,
            )
            _load(conn, duck, file_id)
    result = FileResult(name, "ingested", stats.rows, stats.rejected)
    return result, stats.start, stats.end


@dataclass(frozen=True)
class _Stats:
    rows: int
    rejected: int
    start: datetime | None
    end: datetime | None


class _duck:
    """A throw-away in-memory DuckDB with UTC time, 2 threads and a spill folder."""

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        self._tmp = tempfile.TemporaryDirectory(prefix="billing-duck-")
        self.conn = duckdb.connect(
            config={
                "threads": 2,
                "memory_limit": MEMORY_LIMIT,
                "preserve_insertion_order": False,
            }
        )
        self.conn.execute("SET TimeZone = 'UTC'")
        self.conn.execute(f"SET temp_directory = '{self._tmp.name}'")
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()
        self._tmp.cleanup()


def _is_parquet(path: Path) -> bool:
    return path.name.lower().endswith((".parquet", ".pq"))


def _header(path: Path, name: str) -> list[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            header = next(csv.reader(text), None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise IngestError(name, f"unreadable: {exc}", line=1) from None
    if not header:
        raise IngestError(name, "empty file (no header)", line=1)
    return [h.strip() for h in header]


def _reader(duck: duckdb.DuckDBPyConnection, path: Path, name: str) -> tuple[str, set[str]]:
    """SQL for a typed scan of the file and the set of its columns."""
    literal = "'" + str(path).replace("'", "''") + "'"
    if _is_parquet(path):
        try:
            described = duck.execute(f"DESCRIBE SELECT * FROM read_parquet({literal})").fetchall()
            cols = [r[0] for r in described]
        except duckdb.Error as exc:
            raise IngestError(name, f"not a readable Parquet file: {_first_line(exc)}") from None
        _check_required(cols, name)
        _check_parquet_types(duck, literal, set(cols), name)
        return f"read_parquet({literal})", set(cols)
    header = _header(path, name)
    _check_required(header, name)
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise IngestError(name, f"duplicate columns: {', '.join(dupes)}", line=1)
    spec = ", ".join(f"'{h.replace(chr(39), '')}': '{TYPES.get(h, 'VARCHAR')}'" for h in header)
    sql = (
        f"read_csv({literal}, header = true, auto_detect = false, delim = ',', quote = '\"', "
        f"escape = '\"', nullstr = ['NULL', ''], columns = {{{spec}}})"
    )
    return sql, set(header)


def _check_required(cols: Sequence[str], name: str) -> None:
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise IngestError(name, f"missing required FOCUS columns: {', '.join(missing)}", line=1)


def _check_parquet_types(
    duck: duckdb.DuckDBPyConnection, literal: str, cols: set[str], name: str
) -> None:
    for col, typ in TYPES.items():
        if col not in cols:
            continue
        bad = duck.execute(
            f"SELECT min(file_row_number) FROM read_parquet({literal}, file_row_number = true) "
            f'WHERE "{col}" IS NOT NULL AND TRY_CAST("{col}" AS {typ}) IS NULL'
        ).fetchone()
        if bad and bad[0] is not None:
            raise IngestError(name, f"value is not {typ}", line=int(bad[0]) + 1, column=col)


_LINE = re.compile(r"Line:\s*(\d+)")
_COLUMN = re.compile(r'column "([^"]+)"')


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300]


def _col(name: str, cols: set[str]) -> str:
    return f'"{name}"' if name in cols else "NULL"


def _stage(duck: duckdb.DuckDBPyConnection, path: Path, name: str, tag_keys: list[str]) -> _Stats:
    """One scan: validate and normalise the file into the temp table `g` (no grouping yet)."""
    source, cols = _reader(duck, path, name)
    c = {n: _col(n, cols) for n in (*REQUIRED, *OPTIONAL)}
    raw = {n: f"trim(CAST({c[n]} AS VARCHAR))" for n in TIMESTAMPS}
    for n in TIMESTAMPS:
        c[n] = (
            f"CASE WHEN regexp_full_match({raw[n]}, '{ISO}') "
            f"THEN TRY_CAST({raw[n]} AS TIMESTAMPTZ) END"
        )
    bad_ts = " OR ".join(f"({raw[n]} IS NOT NULL AND {c[n]} IS NULL)" for n in TIMESTAMPS)
    tags = c["Tags"]
    paths = ", ".join(f"'$.\"{k}\"'" for k in tag_keys)
    tag_list = f"try(json_extract_string({tags}, [{paths}]))" if tag_keys else "NULL"
    tag_cols = ", ".join(f"left(_tags[{i + 1}], 255) AS tag_{i}" for i in range(len(tag_keys)))
    ok = (
        f"({c['BilledCost']} IS NOT NULL AND {c['ChargePeriodStart']} IS NOT NULL "
        f"AND regexp_full_match(upper(trim({c['BillingCurrency']})), '[A-Z]{{3}}'))"
    )
    sql = f"""
    CREATE TEMP TABLE g AS
    SELECT {ok} AS ok, ({bad_ts}) AS bad_ts,
      CAST({c["ChargePeriodStart"]} AS DATE) AS day,
      upper(trim({c["BillingCurrency"]})) AS currency,
      left(coalesce({c["ServiceName"]}, ''), 255) AS service,
      left(coalesce({c["ServiceCategory"]}, ''), 64) AS service_category,
      left(coalesce({c["SubAccountId"]}, ''), 255) AS project,
      left(coalesce({c["SubAccountName"]}, ''), 255) AS project_name,
      left(coalesce({c["RegionId"]}, {c["RegionName"]}, ''), 64) AS region,
      left(coalesce({c["ChargeCategory"]}, ''), 32) AS charge_category,
      left({c["ResourceId"]}, 1024) AS resource_id,
      left(coalesce({c["ResourceName"]}, ''), 255) AS resource_name
      {", " + tag_cols if tag_cols else ""},
      {c["BilledCost"]} AS billed,
      coalesce({c["EffectiveCost"]}, {c["BilledCost"]}) AS effective,
      CAST({c["ChargePeriodStart"]} AS TIMESTAMP) AS t0,
      CAST(coalesce({c["ChargePeriodEnd"]}, {c["ChargePeriodStart"]}) AS TIMESTAMP) AS t1
    FROM (SELECT *, {tag_list} AS _tags FROM {source})
    """
    try:
        duck.execute(sql)
    except duckdb.Error as exc:
        text = str(exc)
        line = _LINE.search(text)
        column = _COLUMN.search(text)
        reason = _reason(text)
        raise IngestError(
            name,
            reason,
            line=int(line.group(1)) if line else None,
            column=column.group(1) if column else "",
        ) from None
    if duck.execute("SELECT count(*) FROM g WHERE bad_ts").fetchone() != (0,):
        raise _locate_bad_timestamp(path, name)
    row = duck.execute(
        "SELECT count(*), count(*) FILTER (WHERE NOT ok), "
        "min(t0) FILTER (WHERE ok), max(t1) FILTER (WHERE ok) FROM g"
    ).fetchone()
    assert row is not None
    return _Stats(int(row[0]), int(row[1]), _utc(row[2]), _utc(row[3]))


def _locate_bad_timestamp(path: Path, name: str) -> IngestError:
    """Find the first unparseable timestamp with a plain reader (the rare, slow path)."""
    iso = re.compile(ISO)
    if _is_parquet(path):
        return IngestError(name, "timestamp is not ISO 8601", column="ChargePeriodStart")
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.DictReader(text)
        for row in reader:
            for col in TIMESTAMPS:
                value = (row.get(col) or "").strip()
                if value and value != "NULL" and not iso.fullmatch(value):
                    return IngestError(
                        name,
                        f"not an ISO 8601 timestamp: {value[:40]!r}",
                        line=reader.line_num,
                        column=col,
                    )
    return IngestError(name, "timestamp out of range", column="ChargePeriodStart")


def _reason(text: str) -> str:
    for line in text.splitlines():
        if "Could not convert" in line or "Expected Number of Columns" in line:
            return line.strip()[:300]
        if "unterminated quote" in line.lower():
            return "value with unterminated quote (truncated file?)"
    return text.strip().splitlines()[0][:300]


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None else None


_ROLLUPS = {
    "cost": """
        SELECT day, currency, service, service_category, project, project_name, region,
               charge_category, sum(billed) AS billed, sum(effective) AS effective,
               count(*) AS n
        FROM g WHERE ok GROUP BY ALL""",
    "res0": """
        SELECT day, md5(concat_ws(chr(31), resource_id, currency, service, project, region))
                 AS key,
               resource_id, currency, service, project, region,
               max(resource_name) AS resource_name, sum(billed) AS billed,
               sum(effective) AS effective
        FROM g WHERE ok AND resource_id IS NOT NULL
        GROUP BY day, resource_id, currency, service, project, region""",
    "lines": """
        SELECT key, any_value(resource_id) AS resource_id, any_value(currency) AS currency,
               any_value(service) AS service, any_value(project) AS project,
               any_value(region) AS region,
               coalesce(arg_max(resource_name, day) FILTER (WHERE resource_name <> ''), '')
                 AS resource_name
        FROM res0 GROUP BY key""",
}
_OUTPUT = {
    "cost": "day, currency, service, service_category, project, project_name, region, "
    "charge_category, billed, effective, n",
    "tag": "day, currency, k, v, billed, effective",
    "res": "day, line, billed, effective",
    "week": "day, line, billed, effective",
}
_TABLES = {"cost": repo.COST, "tag": repo.TAG, "res": repo.RESOURCE, "week": repo.WEEKLY}


def _rollups(duck: duckdb.DuckDBPyConnection, tag_keys: list[str]) -> None:
    """The rollups the mart stores, grouped in DuckDB into temp tables `cost`, `tag`, `res0`
    (per resource line and day, keyed by the line's MD5) and `lines` (the distinct lines)."""
    for table, sql in _ROLLUPS.items():
        duck.execute(f"CREATE TEMP TABLE {table} AS {sql}")
    parts = [
        f"SELECT day, currency, ${i + 1}::VARCHAR AS k, coalesce(tag_{i}, '') AS v, "
        f"sum(billed) AS billed, sum(effective) AS effective FROM g WHERE ok GROUP BY ALL"
        for i in range(len(tag_keys))
    ]
    union = (
        " UNION ALL ".join(parts)
        if parts
        else (
            "SELECT NULL::DATE AS day, '' AS currency, '' AS k, '' AS v, 0.0 AS billed, "
            "0.0 AS effective WHERE false"
        )
    )
    duck.execute(f"CREATE TEMP TABLE tag AS {union}", tag_keys or None)
    duck.execute("DROP TABLE g")


def _line_ids(conn: Connection, duck: duckdb.DuckDBPyConnection) -> None:
    """Give every resource line its mart id, then key the per-resource rollups by it (`res`,
    `week`): the rows that cross into the mart are four narrow values."""
    lines = duck.execute(
        "SELECT key, resource_id, currency, service, project, region, resource_name FROM lines"
    ).fetchall()
    ids = repo.resource_lines(conn, lines)
    table = pa.table(
        {"key": pa.array(list(ids), pa.string()), "line": pa.array(list(ids.values()), pa.int64())}
    )
    duck.register("line_ids", table)
    duck.execute(
        "CREATE TEMP TABLE res AS SELECT r.day, i.line, r.billed, r.effective "
        "FROM res0 r JOIN line_ids i USING (key)"
    )
    duck.unregister("line_ids")
    duck.execute("DROP TABLE res0")
    duck.execute(
        "CREATE TEMP TABLE week AS SELECT CAST(date_trunc('week', day) AS DATE) AS day, line, "
        "sum(billed) AS billed, sum(effective) AS effective FROM res GROUP BY ALL"
    )


def _load(conn: Connection, duck: duckdb.DuckDBPyConnection, file_id: int) -> None:
    """Bulk-load the rollups: COPY on PostgreSQL, prepared executemany in big chunks otherwise.

    When a load is larger than what the table already holds (a first or a big back-fill), its
    secondary indexes are dropped and rebuilt once after, inside the same transaction (DDL is
    transactional on both databases); on PostgreSQL the loaded tables are then ANALYZEd.
    """
    dialect = conn.dialect.name
    if dialect == "sqlite":
        conn.exec_driver_sql("PRAGMA cache_size = -262144")  # 256 MiB while loading
    _line_ids(conn, duck)
    loaded: list[Table] = []
    for name, table in _TABLES.items():
        cols = _OUTPUT[name].replace("day,", "CAST(day AS VARCHAR),", 1)
        incoming = duck.execute(f"SELECT count(*) FROM {name}").fetchone()
        big = incoming is not None and incoming[0] > max(50_000, repo.row_count(conn, table))
        ddl = repo.drop_indexes(conn, table) if big else []
        loaded += [table] if big else []
        if dialect == "postgresql":
            sql = f"SELECT {int(file_id)}, {cols} FROM {name}"
            with tempfile.TemporaryDirectory(prefix="billing-copy-") as tmp:
                out = str(Path(tmp) / f"{name}.csv")
                duck.execute(f"COPY ({sql}) TO '{out}' (FORMAT csv, HEADER false)")
                repo.copy_csv(conn, table, out)
        else:
            # sorted by day only where indexes stay (index pages then append); rebuilt ones sort
            order = "" if big else " ORDER BY day"
            rows = _chunks(duck, f"SELECT {cols} FROM {name}{order}")
            repo.insert_rows(conn, table, rows, file_id=file_id)
        repo.create_indexes(conn, ddl)
    repo.analyze(conn, [repo.LINE, *loaded] if loaded else [])
    if dialect == "sqlite":
        conn.exec_driver_sql("PRAGMA cache_size = -2000")


def _chunks(duck: duckdb.DuckDBPyConnection, sql: str) -> Iterator[list[tuple[object, ...]]]:
    cur = duck.execute(sql)
    while rows := cur.fetchmany(CHUNK):
        yield rows
