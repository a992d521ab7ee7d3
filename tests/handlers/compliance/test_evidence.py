"""The evidence archive: contents, manifest hashes recomputed, a tampered audit row detected."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from handlers.compliance import evidence
from storage.db import unit_of_work
from tests.handlers.compliance.seed import NOW, seed_history
from tests.helpers.server import cli


def _zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def test_archive_contents_and_manifest(engine: Engine) -> None:
    seed_history(engine)
    archive = evidence.build_archive(engine, now=NOW)
    assert archive.audit_ok and archive.audit_checked == 3
    assert evidence.check_manifest(archive.data) == []
    z = _zip(archive.data)
    names = set(z.namelist())
    for required in (
        "manifest.json",
        "index.md",
        "index.html",
        "audit/audit_log.jsonl",
        "audit/verification.json",
        "runbooks/runs.csv",
        "runbooks/approvals.json",
        "incidents/incidents.json",
        "incidents/timeline.csv",
        "guardrails/scans.csv",
        "guardrails/findings.json",
    ):
        assert required in names, required
    manifest = json.loads(z.read("manifest.json"))
    assert set(manifest["files"]) == names - {"manifest.json"}
    lines = z.read("audit/audit_log.jsonl").decode().splitlines()
    assert [json.loads(x)["subject"] for x in lines] == ["s0", "s1", "s2"]
    incidents = json.loads(z.read("incidents/incidents.json"))
    assert len(incidents) == 5
    first = next(i for i in incidents if i["number"] == 1)
    assert first["summary"] == {"what": "x"} and first["timeline"][0]["kind"] == "declared"
    assert len(json.loads(z.read("runbooks/runs.json"))) == 4
    index = z.read("index.md").decode()
    assert "OK (3 entries)" in index and "| incidents | 5 |" in index

    # a file changed after export no longer matches the manifest
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for name in z.namelist():
            body = z.read(name)
            out.writestr(name, body + b"x" if name == "runbooks/runs.csv" else body)
    assert evidence.check_manifest(buf.getvalue()) == ["runbooks/runs.csv"]


def test_period_filters_rows(engine: Engine) -> None:
    seed_history(engine)
    start = evidence.parse_day("2026-11-25")
    end = evidence.parse_day("2026-11-26", end=True)
    archive = evidence.build_archive(engine, start=start, end=end, now=NOW)
    z = _zip(archive.data)
    nums = sorted(i["number"] for i in json.loads(z.read("incidents/incidents.json")))
    assert nums == [1, 2]  # declared Nov 26 and Nov 25 (the last day is included)
    assert z.read("audit/audit_log.jsonl") == b""  # audit entries are on Nov 28


def test_tampered_audit_row_fails_verification(engine: Engine) -> None:
    seed_history(engine)
    with unit_of_work(engine) as s:
        s.execute(text("UPDATE audit_entry SET data = :d WHERE subject = 's1'"), {"d": '{"i":42}'})
    archive = evidence.build_archive(engine, now=NOW)
    assert not archive.audit_ok
    z = _zip(archive.data)
    result = json.loads(z.read("audit/verification.json"))
    assert result["ok"] is False and "edited" in result["reason"]
    assert "BROKEN" in z.read("index.md").decode()
    assert evidence.check_manifest(archive.data) == []  # the archive itself is consistent


def test_cli_export(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    assert cli("migrate", env=env).returncode == 0
    out_path = tmp_path / "ev.zip"
    out = cli("evidence", "export", "--from", "2026-01-01", "--output", str(out_path), env=env)
    assert out.returncode == 0, out.stderr
    assert "audit chain ok" in out.stdout
    assert evidence.check_manifest(out_path.read_bytes()) == []
    bad = cli("evidence", "export", "--from", "yesterday", env=env)
    assert bad.returncode == 2 and "not a date" in bad.stderr
