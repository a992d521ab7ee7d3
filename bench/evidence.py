"""Evidence archive benchmark: build time and size for a year of activity on SQLite.

Seeds N audit entries (hash-chained), runbook runs with approvals, incidents with timelines and
guardrail scans, then times `build_archive` against a baseline of the audit chain alone
(`audit.verify` + `audit.export_jsonl`), printed side by side.

    .venv/bin/python -m bench.evidence [--audit 20000] [--incidents 1000] [--runs 2000]
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from handlers.compliance import evidence
from storage import audit, migrate
from storage.db import make_engine, unit_of_work
from storage.models.compliance import GuardrailFinding, GuardrailScan
from storage.models.incidents import Incident, TimelineEntry
from storage.models.runbooks import RunbookApproval, RunbookRun

START = datetime(2026, 1, 1, tzinfo=UTC)


def seed(engine: object, n_audit: int, n_incidents: int, n_runs: int) -> None:
    with unit_of_work(engine) as s:  # type: ignore[arg-type]
        for i in range(n_audit):
            audit.append(
                s,
                actor="local:alice",
                action="bench.action",
                subject=f"s{i}",
                data={"i": i, "note": "x" * 40},
                at=START + timedelta(minutes=20 * i),
            )
        for i in range(n_runs):
            run = RunbookRun(
                runbook="restart-deployment",
                params=json.dumps({"namespace": "shop", "deployment": f"d{i}"}),
                risk="low",
                requester="alice",
                platform="local",
                state="succeeded",
                policy="{}",
                created_at=START + timedelta(hours=4 * i),
            )
            s.add(run)
            s.flush()
            s.add(
                RunbookApproval(
                    run_id=run.id or 0, approver="bob", platform="local", decision="approve"
                )
            )
        for i in range(n_incidents):
            inc = Incident(
                number=i + 1,
                title=f"Incident {i}",
                declared_by="alice",
                platform="local",
                declared_at=START + timedelta(hours=8 * i),
                summary_json=json.dumps({"what": "x" * 200}),
                dedupe_key=f"k{i}",
            )
            s.add(inc)
            s.flush()
            for j in range(10):
                s.add(TimelineEntry(incident_id=inc.id or 0, kind="note", text=f"update {j} " * 10))
        for i in range(365):
            scan = GuardrailScan(at=START + timedelta(days=i), workloads=200, compliant=150)
            s.add(scan)
            s.flush()
            for j in range(20):
                s.add(
                    GuardrailFinding(
                        scan_id=scan.id or 0,
                        kind="Deployment",
                        namespace="shop",
                        name=f"w{j}",
                        rule="resource-limits",
                        severity="low",
                        fingerprint=f"resource-limits|Deployment/shop/w{j}|",
                    )
                )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--audit", type=int, default=20000)
    ap.add_argument("--incidents", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=2000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        migrate.upgrade(engine)
        t0 = time.perf_counter()
        seed(engine, a.audit, a.incidents, a.runs)
        print(f"seeded in {time.perf_counter() - t0:.1f}s")
        t0 = time.perf_counter()
        with unit_of_work(engine) as s:
            audit.verify(s)
            audit.export_jsonl(s, io.StringIO())
        base = time.perf_counter() - t0
        t0 = time.perf_counter()
        archive = evidence.build_archive(engine)
        full = time.perf_counter() - t0
        print(f"{'':28}{'seconds':>10}")
        print(f"{'baseline: audit verify+jsonl':28}{base:>10.2f}")
        print(f"{'evidence archive (all)':28}{full:>10.2f}")
        print(f"archive: {len(archive.data) / 1e6:.1f} MB, {len(archive.files) + 1} files")
        engine.dispose()


if __name__ == "__main__":
    main()
