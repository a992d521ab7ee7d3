"""Realistic synthetic FOCUS exports (for the demo, the evaluation tests and the bench).

Resources take their identity (service, sub-account, region, tags) from the real FinOps sample
when one is given; costs follow a weekday pattern, a slow trend and multiplicative noise.
Known anomalies can be injected as extra cost on one resource on one day.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb

SERVICES = [
    ("Amazon Elastic Compute Cloud", "Compute"),
    ("Amazon Simple Storage Service", "Storage"),
    ("Amazon Relational Database Service", "Databases"),
    ("Elastic Load Balancing", "Networking"),
    ("AmazonCloudWatch", "Management and Governance"),
    ("Amazon Elastic Container Service", "Compute"),
    ("Amazon Virtual Private Cloud", "Networking"),
    ("Amazon Simple Queue Service", "Integration"),
]
REGIONS = ["us-east-1", "us-west-2", "eu-central-1", "ap-south-1", "eu-west-2", "us-east-2"]


@dataclass(frozen=True)
class Injection:
    """Extra cost on one resource (index) on one day."""

    day: date
    resource: int
    extra: float


def templates(sample: Path | None) -> list[tuple[str, str, str, str, str, str, str]]:
    """(resource id, service, category, sub-account id, name, region, tags) from the sample."""
    if sample is None:
        return []
    seen: dict[str, tuple[str, str, str, str, str, str, str]] = {}
    with sample.open(newline="") as fh:
        for r in csv.DictReader(fh):
            rid = r["ResourceId"]
            if rid in ("", "NULL") or r["ProviderName"] != "AWS":
                continue
            tags = r["Tags"] if r["Tags"] not in ("", "NULL") else "{}"
            seen.setdefault(
                rid,
                (
                    rid,
                    r["ServiceName"],
                    r["ServiceCategory"],
                    r["SubAccountId"],
                    r["SubAccountName"],
                    r["RegionId"],
                    tags,
                ),
            )
    return list(seen.values())


def generate(
    path: Path,
    *,
    rows: int,
    resources: int,
    start: date,
    days: int,
    seed: int = 7,
    currency: str = "USD",
    sample: Path | None = None,
    injections: list[Injection] | None = None,
) -> Path:
    """Write a FOCUS CSV (or .parquet by suffix) of `rows` rows, fast, with DuckDB."""
    duck = duckdb.connect()
    duck.execute(f"SELECT setseed({(seed % 1000) / 1000})")
    duck.execute(
        "CREATE TABLE tpl (i INT, rid VARCHAR, svc VARCHAR, cat VARCHAR, acc VARCHAR, "
        "accname VARCHAR, region VARCHAR, tags VARCHAR)"
    )
    base = templates(sample)
    if base:
        duck.executemany(
            "INSERT INTO tpl VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(i, *t) for i, t in enumerate(base)],
        )
    else:
        duck.executemany(
            "INSERT INTO tpl VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    i,
                    f"arn:aws:res/{i}",
                    SERVICES[i % len(SERVICES)][0],
                    SERVICES[i % len(SERVICES)][1],
                    f"{100000000000 + i % 37}",
                    f"project-{i % 37}",
                    REGIONS[i % len(REGIONS)],
                    f'{{"env": "{("prod", "dev", "stage")[i % 3]}", "team": "team-{i % 11}"}}',
                )
                for i in range(64)
            ],
        )
    n_tpl = len(base) or 64
    duck.execute(
        f"""
        CREATE TABLE res AS
        SELECT r AS res, tpl.*,
               exp(random() * 3 - 0.5) AS base_cost,
               CASE WHEN random() < 0.5 THEN 0.6 ELSE 1.0 END AS weekend
        FROM range({resources}) t(r) JOIN tpl ON tpl.i = r % {n_tpl}
        """
    )
    duck.execute("CREATE TABLE inj (day DATE, res BIGINT, extra DOUBLE)")
    if injections:
        duck.executemany(
            "INSERT INTO inj VALUES (?, ?, ?)",
            [(x.day, x.resource, x.extra) for x in injections],
        )
    slices = max(1, rows // resources)
    per_day = max(1, slices // days)
    duck.execute(
        f"""
        CREATE VIEW focus AS
        WITH g AS (
          SELECT i, i % {resources} AS res,
                 (i // {resources}) // {per_day} % {days} AS d,
                 DATE '{start.isoformat()}' + CAST((i // {resources}) // {per_day} % {days} AS INT)
                   AS day
          FROM range({rows}) t(i)
        )
        SELECT
          NULL AS AvailabilityZone,
          round((res.base_cost
            * (CASE WHEN dayofweek(g.day) IN (0, 6) THEN res.weekend ELSE 1 END)
            * (1 + 0.001 * g.d) * (0.9 + 0.2 * random())
            + coalesce(inj.extra, 0)) / {per_day}, 10) AS BilledCost,
          '{currency}' AS BillingCurrency,
          'Usage' AS ChargeCategory,
          g.day + to_hours(CAST(g.i % 24 AS INT)) AS ChargePeriodStart,
          g.day + to_hours(CAST(g.i % 24 AS INT) + 1) AS ChargePeriodEnd,
          res.svc AS ServiceName, res.cat AS ServiceCategory,
          res.acc AS SubAccountId, res.accname AS SubAccountName,
          res.region AS RegionId, res.rid || '#' || res.res AS ResourceId,
          res.tags AS Tags
        FROM g JOIN res USING (res)
        LEFT JOIN inj ON inj.res = g.res AND inj.day = g.day
        """
    )
    dest = str(path).replace("'", "''")
    fmt = "parquet" if path.suffix in (".parquet", ".pq") else "csv, header true"
    duck.execute(
        f"COPY (SELECT * REPLACE (strftime(ChargePeriodStart, '%Y-%m-%d %H:%M:%S') AS "
        f"ChargePeriodStart, strftime(ChargePeriodEnd, '%Y-%m-%d %H:%M:%S') AS ChargePeriodEnd) "
        f"FROM focus) TO '{dest}' (FORMAT {fmt})"
    )
    duck.close()
    return path


def last_day(start: date, days: int) -> date:
    return start + timedelta(days=days - 1)
