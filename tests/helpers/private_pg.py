"""A private PostgreSQL server for fault tests: its own data directory and port, so a test can
restart or stop it without touching the machine's shared server.

Uses the Debian/Ubuntu server binaries (`initdb`, `pg_ctl`); as root it runs them as the
`postgres` user through `runuser` (the server refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.server import free_port


def pg_bindir() -> Path | None:
    """The newest installed PostgreSQL server bin directory, or None."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2] or 0))
    return Path(dirs[-1]) if dirs and (Path(dirs[-1]) / "initdb").exists() else None


class PrivatePostgres:
    """initdb + pg_ctl on a free loopback port; `url` is the SQLAlchemy URL of `postgres`."""

    def __init__(self, bindir: Path, root: Path) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.log = root / "postgres.log"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            self._as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(root, user="postgres")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            [*self._as_user, *args],
            check=True,
            capture_output=True,
            timeout=timeout,
            cwd=self.root,
        )

    def _ctl(self, action: str, *extra: str) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=60"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            *extra,
            action,
        )

    def init(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every session is terminated, the server comes back."""
        self._ctl("restart", "-m", "fast")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    bindir = pg_bindir()
    if bindir is None:  # pragma: no cover - depends on the machine
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    root = Path(tempfile.mkdtemp(prefix="cc-pg-"))
    pg = PrivatePostgres(bindir, root)
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        try:
            pg.stop()
        except (subprocess.SubprocessError, OSError):
            pass
        shutil.rmtree(root, ignore_errors=True)
