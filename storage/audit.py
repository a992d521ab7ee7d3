"""Append-only, hash-chained audit log (table `audit_entry`).

Each entry's hash is sha256(prev_hash + canonical JSON of the entry); editing an entry breaks
its hash, deleting one breaks the next entry's prev_hash. Appends are serialized (PostgreSQL:
a transaction-scoped advisory lock; SQLite: taking the database write lock first) so that
concurrent writers never fork the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from sqlmodel import Session, select

from storage.db import serialize
from storage.models.core import AuditEntry

GENESIS = "0" * 64
_LOCK_KEY = 0x41554449  # "AUDI"


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    reason: str = ""


def canonical(entry: Mapping[str, Any]) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _at(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    prev_hash: str, *, at: datetime, actor: str, action: str, subject: str, data: str
) -> str:
    """The chained hash of one entry (`data` is the stored JSON text)."""
    body = canonical(
        {
            "at": _at(at),
            "actor": actor,
            "action": action,
            "subject": subject,
            "data": json.loads(data),
        }
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _lock(session: Session) -> None:
    serialize(session, _LOCK_KEY, "audit_entry")


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Add an entry chained to the last one (commits with the caller's transaction)."""
    _lock(session)
    last = session.exec(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).first()  # type: ignore[union-attr]
    prev = last.hash if last else GENESIS
    when = (at or datetime.now(UTC)).astimezone(UTC)
    data_text = canonical(dict(data or {}))
    entry = AuditEntry(
        at=when,
        actor=actor[:255],
        action=action[:64],
        subject=subject[:255],
        data=data_text,
        prev_hash=prev,
        hash=entry_hash(
            prev,
            at=when,
            actor=actor[:255],
            action=action[:64],
            subject=subject[:255],
            data=data_text,
        ),
    )
    session.add(entry)
    session.flush()
    return entry


def _entries(session: Session, batch: int = 1000) -> Iterator[AuditEntry]:
    last_id = 0
    while True:
        rows = session.exec(
            select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch)  # type: ignore[operator,arg-type]
        ).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id or last_id


def verify(session: Session) -> VerifyResult:
    """Walk the chain; report the first entry whose hash or link does not hold."""
    prev = GENESIS
    n = 0
    for e in _entries(session):
        n += 1
        if e.prev_hash != prev:
            return VerifyResult(
                False,
                n,
                e.id,
                "prev_hash does not match the previous entry "
                "(an entry before it was deleted or altered)",
            )
        try:
            expected = entry_hash(
                prev, at=e.at, actor=e.actor, action=e.action, subject=e.subject, data=e.data
            )
        except ValueError:
            return VerifyResult(False, n, e.id, "data is not valid JSON")
        if expected != e.hash:
            return VerifyResult(False, n, e.id, "content does not match its hash (edited)")
        prev = e.hash
    return VerifyResult(True, n)


def export_jsonl(session: Session, fp: IO[str]) -> int:
    """Write every entry as one JSON object per line; return the count."""
    n = 0
    for e in _entries(session):
        fp.write(
            canonical(
                {
                    "id": e.id,
                    "at": _at(e.at),
                    "actor": e.actor,
                    "action": e.action,
                    "subject": e.subject,
                    "data": json.loads(e.data),
                    "prev_hash": e.prev_hash,
                    "hash": e.hash,
                }
            )
            + "\n"
        )
        n += 1
    return n


def verify_command(session: Session, out: IO[str]) -> int:
    """`console-copilot audit verify`: print the result; exit status 1 when the chain is broken."""
    result = verify(session)
    if result.ok:
        out.write(f"audit chain ok ({result.checked} entries)\n")
        return 0
    out.write(f"audit chain BROKEN at entry {result.first_bad_id}: {result.reason}\n")
    return 1
