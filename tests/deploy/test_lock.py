"""requirements.lock pins every runtime dependency of pyproject.toml, with hashes; `make audit`
reports vulnerabilities as a failure and an unreachable vulnerability service loudly."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "run `make lock` (uv pip compile, see docs/deploy.md) and commit requirements*.lock"


def parse_lock(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from a `--generate-hashes` requirements file."""
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    pins = {}
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)(.*)$", line)
        if m:
            hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", m.group(3))
            pins[canonicalize_name(m.group(1))] = (m.group(2), hashes)
    return pins


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_runtime_dependency_is_pinned_within_its_range() -> None:
    pins = parse_lock(ROOT / "requirements.lock")
    for spec in pyproject()["project"]["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in requirements.lock: {REGENERATE}"
        version = pins[name][0]
        assert req.specifier.contains(version, prereleases=True), (
            f"{req.name}=={version} does not satisfy {req.specifier}: {REGENERATE}"
        )
        for extra in req.extras:  # psycopg[binary] -> psycopg-binary
            assert canonicalize_name(f"{req.name}-{extra}") in pins, f"{spec}: {REGENERATE}"


def test_every_pin_is_exact_and_hashed_and_no_test_tools_leak_in() -> None:
    pins = parse_lock(ROOT / "requirements.lock")
    assert len(pins) >= len(pyproject()["project"]["dependencies"])
    for name, (_, hashes) in pins.items():
        assert hashes, f"{name} has no --hash"
    test_only = {
        canonicalize_name(Requirement(s).name)
        for s in pyproject()["project"]["optional-dependencies"]["test"]
    }
    runtime = {
        canonicalize_name(Requirement(s).name) for s in pyproject()["project"]["dependencies"]
    }
    assert not (test_only - runtime) & set(pins), "test tools belong outside the runtime lock"


def test_build_lock_satisfies_the_build_system() -> None:
    pins = parse_lock(ROOT / "requirements-build.lock")
    for spec in pyproject()["build-system"]["requires"]:
        req = Requirement(spec)
        version, hashes = pins[canonicalize_name(req.name)]
        assert req.specifier.contains(version) and hashes, spec


def test_parse_lock_reads_continuations_and_comments(tmp_path: Path) -> None:
    lock = tmp_path / "r.lock"
    lock.write_text(
        "# header\nfoo-bar==1.2 \\\n    --hash=sha256:"
        + "a" * 64
        + " \\\n    --hash=sha256:"
        + "b" * 64
        + "\n    # via x\nbaz==3 ; python_version < '3.12' \\\n    --hash=sha256:"
        + "c" * 64
        + "\n",
        encoding="utf-8",
    )
    assert parse_lock(lock) == {
        "foo-bar": ("1.2", ["a" * 64, "b" * 64]),
        "baz": ("3", ["c" * 64]),
    }


# -- make audit: the real make and the real mk/audit.mk, with a stand-in pip-audit ----------
def _run_audit(
    tmp_path: Path, output: str, rc: int, strict: bool = False
) -> subprocess.CompletedProcess[str]:
    tools = tmp_path / "tools"
    (tools / "bin").mkdir(parents=True)
    (tools / ".audit-tools").touch()
    fake = tools / "bin" / "pip-audit"
    fake.write_text(f"#!/bin/sh\ncat <<'OUT'\n{output}\nOUT\nexit {rc}\n", encoding="utf-8")
    fake.chmod(0o755)
    args = [
        "make",
        "--no-print-directory",
        "-f",
        "mk/audit.mk",
        "audit",
        f"AUDIT_TOOLS_VENV={tools}",
    ]
    if strict:
        args.append("AUDIT_STRICT=1")
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.fixture
def make() -> None:
    if not shutil.which("make"):
        pytest.skip("make not installed")


@pytest.mark.usefixtures("make")
def test_audit_fails_on_known_vulnerabilities(tmp_path: Path) -> None:
    proc = _run_audit(tmp_path, "Found 1 known vulnerability in 1 package\nyarl 1.0 GHSA-x", 1)
    assert proc.returncode != 0
    assert "audit: FAILED: known vulnerabilities" in proc.stdout


@pytest.mark.usefixtures("make")
def test_audit_says_so_when_the_service_is_unreachable(tmp_path: Path) -> None:
    skipped = "yarl  Dependency not found on PyPI and could not be audited: yarl (1.25.1)"
    proc = _run_audit(tmp_path, "No known vulnerabilities found\n" + skipped, 0)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "audit: INCOMPLETE: 1 of" in proc.stdout and "not reachable" in proc.stdout
    assert _run_audit(tmp_path / "s", skipped, 0, strict=True).returncode != 0


@pytest.mark.usefixtures("make")
def test_audit_clean(tmp_path: Path) -> None:
    proc = _run_audit(tmp_path, "No known vulnerabilities found", 0)
    assert proc.returncode == 0 and "audit: clean" in proc.stdout
