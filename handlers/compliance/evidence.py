"""The evidence vault: an audit-ready zip of what the bot did and decided in a period.

Contents: the audit log (JSONL) and its hash-chain verification, runbook runs, approvals and
steps, incidents with their timelines and summaries, partner records (when the partners
tables exist), guardrail scans and findings — each as CSV and JSON — plus a human-readable
index (Markdown and HTML) and `manifest.json` with the SHA-256 of every other file.
"""

from __future__ import annotations

import csv
import hashlib
import html
import importlib
import io
import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from storage import audit
from storage.db import as_utc, unit_of_work
from storage.models.compliance import GuardrailFinding, GuardrailScan
from storage.models.core import AuditEntry
from storage.models.incidents import Incident, TimelineEntry
from storage.models.runbooks import RunbookApproval, RunbookRun, RunbookStep

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Archive:
    data: bytes
    filename: str
    files: dict[str, str]  # path -> sha256
    counts: dict[str, int]
    audit_ok: bool
    audit_checked: int


def parse_day(raw: str | None, *, end: bool = False) -> datetime | None:
    """YYYY-MM-DD (or an ISO timestamp) as UTC; a bare `--to` day includes the whole day."""
    if not raw:
        return None
    try:
        if len(raw) == 10:
            d = date.fromisoformat(raw)
            at = datetime.combine(d, time(), tzinfo=UTC)
            return at + timedelta(days=1) if end else at
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"not a date: {raw!r} (use YYYY-MM-DD)") from None
    return as_utc(value)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _row(obj: SQLModel) -> dict[str, Any]:
    return {k: _plain(v) for k, v in obj.model_dump().items()}


def _csv(rows: Sequence[Mapping[str, Any]]) -> bytes:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(
            {
                k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
                for k, v in r.items()
            }
        )
    return buf.getvalue().encode("utf-8")


def _json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n").encode("utf-8")


def _between(col: Any, start: datetime | None, end: datetime | None) -> list[Any]:
    conds = []
    if start is not None:
        conds.append(col >= start)
    if end is not None:
        conds.append(col < end)
    return conds


def _all(session: Session, model: type[SQLModel], conds: Iterable[Any] = ()) -> list[Any]:
    stmt = select(model).where(*conds).order_by(model.id)  # type: ignore[attr-defined]
    return list(session.exec(stmt).all())


def partner_tables() -> list[type[SQLModel]]:
    """The partners domain's tables, when that module exists (it is optional here)."""
    try:
        mod = importlib.import_module("storage.models.partners")
    except ImportError:
        return []
    out = []
    for value in vars(mod).values():
        if (
            isinstance(value, type)
            and issubclass(value, SQLModel)
            and getattr(value, "__table__", None) is not None
            and value.__module__ == mod.__name__
        ):
            out.append(value)
    return sorted(out, key=lambda m: m.__tablename__)  # type: ignore[attr-defined]


def _collect(
    session: Session, start: datetime | None, end: datetime | None
) -> tuple[dict[str, bytes], dict[str, int], audit.VerifyResult]:
    files: dict[str, bytes] = {}
    counts: dict[str, int] = {}
    result = audit.verify(session)
    entries = _all(session, AuditEntry, _between(AuditEntry.at, start, end))
    lines = []
    for e in entries:
        row = _row(e)
        row["data"] = json.loads(e.data)
        lines.append(audit.canonical(row))
    files["audit/audit_log.jsonl"] = ("\n".join(lines) + ("\n" if lines else "")).encode()
    files["audit/verification.json"] = _json(
        {
            "ok": result.ok,
            "checked": result.checked,
            "first_bad_id": result.first_bad_id,
            "reason": result.reason,
            "scope": "the whole chain (every entry since the first)",
        }
    )
    counts["audit entries"] = len(entries)

    run_conds = _between(RunbookRun.created_at, start, end)
    runs = _all(session, RunbookRun, run_conds)
    ids = select(RunbookRun.id).where(*run_conds)
    approvals = _all(session, RunbookApproval, [RunbookApproval.run_id.in_(ids)])  # type: ignore[attr-defined]
    steps = _all(session, RunbookStep, [RunbookStep.run_id.in_(ids)])  # type: ignore[attr-defined]
    for name, rows in (("runs", runs), ("approvals", approvals), ("steps", steps)):
        dicts = [_row(r) for r in rows]
        files[f"runbooks/{name}.csv"] = _csv(dicts)
        files[f"runbooks/{name}.json"] = _json(dicts)
    counts["runbook runs"] = len(runs)
    counts["approvals"] = len(approvals)

    incidents = _all(session, Incident, _between(Incident.declared_at, start, end))
    timelines: dict[int, list[dict[str, Any]]] = {}
    inc_ids = [i.id for i in incidents]
    for chunk in range(0, len(inc_ids), 500):
        for e in _all(
            session,
            TimelineEntry,
            [TimelineEntry.incident_id.in_(inc_ids[chunk : chunk + 500])],  # type: ignore[attr-defined]
        ):
            timelines.setdefault(e.incident_id, []).append(_row(e))
    inc_rows = []
    for inc in incidents:
        row = _row(inc)
        row["summary"] = json.loads(inc.summary_json) if inc.summary_json else None
        row.pop("summary_json", None)
        row["timeline"] = timelines.get(inc.id or 0, [])
        inc_rows.append(row)
    files["incidents/incidents.json"] = _json(inc_rows)
    files["incidents/incidents.csv"] = _csv(
        [{k: v for k, v in r.items() if k not in ("timeline", "summary")} for r in inc_rows]
    )
    files["incidents/timeline.csv"] = _csv([e for r in inc_rows for e in r["timeline"]])
    counts["incidents"] = len(incidents)

    for model in partner_tables():
        name = model.__tablename__  # type: ignore[attr-defined]
        dicts = [_row(r) for r in session.exec(select(model)).all()]
        files[f"partners/{name}.csv"] = _csv(dicts)
        files[f"partners/{name}.json"] = _json(dicts)
        counts[f"partners: {name}"] = len(dicts)

    scan_conds = _between(GuardrailScan.at, start, end)
    scans = _all(session, GuardrailScan, scan_conds)
    findings = _all(
        session,
        GuardrailFinding,
        [GuardrailFinding.scan_id.in_(select(GuardrailScan.id).where(*scan_conds))],  # type: ignore[attr-defined]
    )
    for name, rows in (("scans", scans), ("findings", findings)):
        dicts = [_row(r) for r in rows]
        files[f"guardrails/{name}.csv"] = _csv(dicts)
        files[f"guardrails/{name}.json"] = _json(dicts)
    counts["guardrail scans"] = len(scans)
    counts["guardrail findings"] = len(findings)
    return files, counts, result


def _index(
    files: Mapping[str, str],
    counts: Mapping[str, int],
    result: audit.VerifyResult,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> tuple[str, str]:
    period = f"{_plain(start) or 'beginning'} — {_plain(end) or _plain(now)}"
    chain = (
        f"OK ({result.checked} entries)"
        if result.ok
        else f"BROKEN at entry {result.first_bad_id}: {result.reason}"
    )
    md = [
        "# Console Copilot evidence archive",
        "",
        f"- Generated: {_plain(now)}",
        f"- Period: {period}",
        f"- Audit hash chain: **{chain}**",
        "",
        "## Contents",
        "",
        "| What | Count |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in counts.items()],
        "",
        "## Files (SHA-256, also in manifest.json)",
        "",
        *[f"- `{p}` `{h}`" for p, h in sorted(files.items())],
        "",
    ]
    e = html.escape
    rows = "".join(f"<tr><td>{e(k)}</td><td>{v}</td></tr>" for k, v in counts.items())
    links = "".join(
        f'<li><a href="{e(p)}">{e(p)}</a> <code>{h}</code></li>' for p, h in sorted(files.items())
    )
    page = (
        '<!doctype html><html lang="en"><meta charset="utf-8">'
        "<title>Console Copilot evidence archive</title>"
        "<h1>Console Copilot evidence archive</h1>"
        f"<p>Generated: {e(str(_plain(now)))}<br>Period: {e(period)}<br>"
        f"Audit hash chain: <strong>{e(chain)}</strong></p>"
        f"<h2>Contents</h2><table><tr><th>What</th><th>Count</th></tr>{rows}</table>"
        f"<h2>Files</h2><ul>{links}</ul></html>\n"
    )
    return "\n".join(md), page


def build_archive(
    engine: Engine,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
) -> Archive:
    """Build the zip in memory (one read-only unit of work)."""
    now = now or datetime.now(UTC)
    with unit_of_work(engine) as s:
        files, counts, result = _collect(s, start, end)
    hashes = {p: hashlib.sha256(b).hexdigest() for p, b in files.items()}
    md, page = _index(hashes, counts, result, start, end, now)
    files["index.md"] = md.encode("utf-8")
    files["index.html"] = page.encode("utf-8")
    hashes["index.md"] = hashlib.sha256(files["index.md"]).hexdigest()
    hashes["index.html"] = hashlib.sha256(files["index.html"]).hexdigest()
    manifest = {
        "generated_at": _plain(now),
        "from": _plain(start),
        "to": _plain(end),
        "audit_chain_ok": result.ok,
        "algorithm": "sha256",
        "files": dict(sorted(hashes.items())),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(files):
            z.writestr(path, files[path])
        z.writestr(MANIFEST, _json(manifest))
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Archive(
        data=buf.getvalue(),
        filename=f"evidence-{stamp}.zip",
        files=hashes,
        counts=counts,
        audit_ok=result.ok,
        audit_checked=result.checked,
    )


def check_manifest(data: bytes) -> list[str]:
    """Recompute every file's SHA-256; return the paths that do not match (or are missing)."""
    bad = []
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        manifest = json.loads(z.read(MANIFEST))
        names = set(z.namelist()) - {MANIFEST}
        for path, digest in manifest["files"].items():
            if path not in names or hashlib.sha256(z.read(path)).hexdigest() != digest:
                bad.append(path)
        bad += sorted(names - set(manifest["files"]))
    return bad
