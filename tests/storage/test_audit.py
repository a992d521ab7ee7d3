from __future__ import annotations

import io
import itertools
import json
import threading

from sqlalchemy import text
from sqlalchemy.engine import Engine

from storage import audit
from storage.db import unit_of_work


def _fill(engine: Engine, n: int = 5) -> None:
    for i in range(n):
        with unit_of_work(engine) as s:
            audit.append(
                s,
                actor=f"slack:U{i}",
                action="runbook.approved",
                subject=f"run:{i}",
                data={"i": i, "note": "ünïcode"},
            )


def test_chain_verifies_and_exports(engine: Engine) -> None:
    _fill(engine)
    with unit_of_work(engine) as s:
        assert audit.verify(s) == audit.VerifyResult(True, 5)
        buf = io.StringIO()
        assert audit.export_jsonl(s, buf) == 5
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert lines[0]["prev_hash"] == audit.GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(lines))
    assert lines[2]["data"] == {"i": 2, "note": "ünïcode"}


def test_edited_entry_is_detected(engine: Engine) -> None:
    _fill(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET actor = 'slack:MALLORY' WHERE id = 3"))
    with unit_of_work(engine) as s:
        result = audit.verify(s)
    assert not result.ok and result.first_bad_id == 3 and "edited" in result.reason


def test_edited_data_is_detected(engine: Engine) -> None:
    _fill(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET data = :d WHERE id = 2"), {"d": '{"i": 99}'})
    with unit_of_work(engine) as s:
        assert audit.verify(s).first_bad_id == 2


def test_deleted_entry_is_detected(engine: Engine) -> None:
    _fill(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entry WHERE id = 2"))
    with unit_of_work(engine) as s:
        result = audit.verify(s)
    assert not result.ok and result.first_bad_id == 3 and "deleted" in result.reason


def test_concurrent_appends_keep_one_chain(engine: Engine) -> None:
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(5):
                with unit_of_work(engine) as s:
                    audit.append(s, actor=f"w{k}", action="test", subject=str(i), data={})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    with unit_of_work(engine) as s:
        assert audit.verify(s) == audit.VerifyResult(True, 20)


def test_verify_command(engine: Engine) -> None:
    _fill(engine, 2)
    out = io.StringIO()
    with unit_of_work(engine) as s:
        assert audit.verify_command(s, out) == 0
    assert out.getvalue() == "audit chain ok (2 entries)\n"
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET subject = 'x' WHERE id = 1"))
    with unit_of_work(engine) as s:
        assert audit.verify_command(s, out) == 1
    assert "BROKEN at entry 1" in out.getvalue()
