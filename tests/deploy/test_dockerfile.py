"""Lint the Dockerfile the way hadolint would, for the rules this project cares about.

No Docker engine runs here, so the image is not built; the file is parsed and checked, and
the HEALTHCHECK command is run for real against a local HTTP server.
"""

from __future__ import annotations

import http.server
import json
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY|CREDENTIAL)", re.I)
SECRET_VALUE = re.compile(r"(xox[abposr]-|xapp-|sk-ant-|AKIA[0-9A-Z]{16}|-----BEGIN)")


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Split a Dockerfile into global ARG defaults and stages (continuations joined)."""
    instructions: list[Instruction] = []
    buf, start = "", 0
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue
        if not buf:
            start = no
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        keyword, _, args = buf.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        buf = ""
    assert not buf, "dangling line continuation at the end of the Dockerfile"

    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            parts = ins.args.split()
            image = re.sub(
                r"\$\{(\w+)\}", lambda m: global_args.get(m.group(1), m.group(0)), parts[0]
            )
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(image, name))
        elif not stages:
            assert ins.keyword == "ARG", f"line {ins.line}: only ARG may precede FROM"
            key, _, value = ins.args.partition("=")
            global_args[key] = value
        else:
            stages[-1].instructions.append(ins)
    return global_args, stages


def exec_form(ins: Instruction) -> list[str]:
    value = json.loads(ins.args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), ins.args
    return value


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final(dockerfile: tuple[dict[str, str], list[Stage]]) -> Stage:
    return dockerfile[1][-1]


def test_parser_handles_continuations_and_stages() -> None:
    args, stages = parse(
        "# c\nARG IMG=python:3.11.9-slim\nFROM ${IMG} AS a\nRUN a \\\n  # note\n  && b\n"
        "FROM ${IMG}\nUSER 1\n"
    )
    assert args == {"IMG": "python:3.11.9-slim"}
    assert [(s.image, s.name) for s in stages] == [
        ("python:3.11.9-slim", "a"),
        ("python:3.11.9-slim", None),
    ]
    assert stages[0].all("RUN")[0].args == "a  && b"
    assert stages[1].all("USER")[0].line == 8


def test_multi_stage_on_a_pinned_python_311_slim_base(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    _, stages = dockerfile
    assert len(stages) >= 2, "expected a build stage and a runtime stage"
    names = {s.name for s in stages if s.name}
    for stage in stages:
        image = stage.image
        if image in names:
            continue  # FROM an earlier stage
        assert "$" not in image, f"unresolved ARG in FROM {image}"
        repo, _, tag = image.partition("@")[0].partition(":")
        assert repo == "python", image
        assert tag and tag != "latest", f"{image}: untagged or latest"
        assert re.fullmatch(r"3\.11\.\d+-slim(-\w+)?", tag), f"{image}: pin a patch release"
        if "@" in image:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", image.split("@", 1)[1]), image


def test_runtime_runs_as_non_root_uid_10001(final: Stage) -> None:
    users = final.all("USER")
    assert users, "final stage has no USER: it would run as root"
    uid = users[-1].args.split(":")[0]
    assert uid == "10001", f"USER {users[-1].args}"
    last_user_line = users[-1].line
    later = [i for i in final.instructions if i.line > last_user_line and i.keyword == "RUN"]
    assert not later, "RUN after USER would need root at build time only; keep USER last"


def test_entrypoint_cmd_expose_and_volumes(final: Stage) -> None:
    assert exec_form(final.all("ENTRYPOINT")[-1]) == ["console-copilot"]
    assert exec_form(final.all("CMD")[-1]) == ["serve"]
    assert final.all("EXPOSE")[-1].args.split() == ["8080"]
    volumes = {v for ins in final.all("VOLUME") for v in exec_form(ins)}
    assert {"/tmp", "/app/var"} <= volumes, "writable paths for a read-only root FS"
    workdir = final.all("WORKDIR")[-1].args
    assert workdir == "/app", "the default SQLite path var/ must land in the /app/var volume"


def test_dependencies_come_from_the_hashed_lock(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    _, stages = dockerfile
    pip_runs = [
        cmd
        for stage in stages
        for ins in stage.all("RUN")
        for cmd in re.split(r"&&|;", ins.args)
        if "pip install" in cmd
    ]
    assert pip_runs
    for cmd in pip_runs:
        words = shlex.split(cmd)
        if "-r" in words:
            assert "--require-hashes" in words, cmd
            assert words[words.index("-r") + 1].endswith(".lock"), cmd
        else:
            assert {"--no-deps", "--no-index"} <= set(words), f"unlocked install: {cmd}"
    installed = " ".join(pip_runs)
    assert "-r requirements.lock" in installed


def test_copied_sources_exist_and_no_add_from_urls(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    _, stages = dockerfile
    for stage in stages:
        assert not stage.all("ADD"), "use COPY (ADD fetches URLs and unpacks archives)"
        for ins in stage.all("COPY"):
            words = ins.args.split()
            if any(w.startswith("--from=") for w in words):
                continue
            for src in words[:-1]:
                assert (ROOT / src).exists(), f"line {ins.line}: COPY {src} missing"
                assert not src.startswith(".env"), "never copy env files into the image"


def test_no_secrets_baked_in() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert not SECRET_VALUE.search(text), "token-like literal in the Dockerfile"
    _, stages = parse(text)
    for stage in stages:
        for ins in stage.all("ENV") + stage.all("ARG"):
            for assignment in shlex.split(ins.args):
                key = assignment.split("=", 1)[0]
                assert not SECRET_NAME.search(key), f"line {ins.line}: {key} belongs in a Secret"


def test_dockerignore_keeps_local_state_out() -> None:
    entries = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    assert {".git", ".venv", "var", ".env", ".env.*"} <= entries


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/healthz" else 404
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def _serve(status: int) -> Iterator[int]:
    handler = type("H", (_Health,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_healthcheck_command_probes_healthz(final: Stage, status: int, healthy: bool) -> None:
    ins = final.all("HEALTHCHECK")[-1]
    options, _, cmd = ins.args.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv = exec_form(Instruction("CMD", cmd, ins.line))
    assert argv[0] == "python"  # the slim image has no curl; python is there
    for port in _serve(status):
        env = {"COPILOT_HTTP_PORT": str(port), "PATH": ""}
        proc = subprocess.run([sys.executable, *argv[1:]], env=env, capture_output=True, timeout=30)
        assert (proc.returncode == 0) is healthy, proc.stderr.decode()
