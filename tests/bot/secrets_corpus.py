"""Fake secrets in 20+ formats, generated at run time: no credential-shaped literal is committed."""

from __future__ import annotations

import base64
import json
import random
import string

_RNG = random.Random(20260101)
ALNUM = string.ascii_letters + string.digits
LOWER = string.ascii_lowercase + string.digits
UPPER = string.ascii_uppercase + string.digits
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"


def rnd(alphabet: str, n: int) -> str:
    """Deterministic random string."""
    return "".join(_RNG.choice(alphabet) for _ in range(n))


def _b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _jwt(payload: dict[str, object]) -> str:
    return ".".join([_b64url({"alg": "RS256", "kid": "k1"}), _b64url(payload), rnd(URLSAFE, 86)])


def _pem(label: str) -> str:
    body = "\n".join(rnd(B64, 64) for _ in range(6))
    return f"-----BEGIN {label}PRIVATE KEY-----\n{body}\n-----END {label}PRIVATE KEY-----"


def corpus() -> list[tuple[str, str, str]]:
    """(kind, the secret value that must vanish, a chat line that carries it)."""
    s: list[tuple[str, str, str]] = []

    def add(kind: str, secret: str, line: str) -> None:
        s.append((kind, secret, line.replace("{}", secret)))

    add("slack_bot", "xoxb-" + rnd("123456789", 12) + "-" + rnd(ALNUM, 24), "token is {} ok")
    add("slack_user", "xoxp-" + rnd("123456789", 12) + "-" + rnd(ALNUM, 32), "use {}")
    add("slack_app", "xapp-1-A" + rnd(UPPER, 10) + "-" + rnd(LOWER, 40), "SOCKET={}")
    add("slack_refresh", "xoxe.xoxp-1-" + rnd(ALNUM, 60), "refresh: {}")
    add("mattermost", rnd(LOWER, 26), "export MATTERMOST_TOKEN={}")
    add("mattermost_hook", rnd(LOWER, 26), "posting to https://mm.example.org/hooks/{} now")
    add("anthropic", "sk-ant-api03-" + rnd(URLSAFE, 90) + "AA", "key {} leaked")
    add("openai", "sk-proj-" + rnd(URLSAFE, 48), "OPENAI {}")
    add("aws_access", "AKIA" + rnd(UPPER, 16), "aws id {}")
    add("aws_secret", rnd(B64, 40), "aws_secret_access_key = {}")
    add(
        "gcp_pem", _pem("").replace("\n", "\\n"), '{"type": "service_account", "private_key": "{}"}'
    )
    add("gcp_api_key", "AIza" + rnd(URLSAFE, 35), "maps key {}")
    add("github_pat_classic", "ghp_" + rnd(ALNUM, 36), "git clone with {}")
    add("github_oauth", "gho_" + rnd(ALNUM, 36), "{}")
    add("github_fine", "github_pat_" + rnd(ALNUM, 22) + "_" + rnd(ALNUM, 59), "PAT {}")
    add("gitlab", "glpat-" + rnd(URLSAFE, 20), "CI token {}")
    add("jwt", _jwt({"sub": "alice", "exp": 1900000000}), "cookie session={}")
    add(
        "k8s_sa",
        _jwt({"iss": "kubernetes/serviceaccount", "kubernetes.io/serviceaccount/namespace": "x"}),
        "kubectl --token {} get pods",
    )
    add("bearer", rnd(URLSAFE, 40), "curl -H 'Authorization: Bearer {}' https://api")
    add(
        "basic",
        base64.b64encode(b"admin:" + rnd(ALNUM, 12).encode()).decode(),
        "Authorization: Basic {}",
    )
    add("pem_rsa", _pem("RSA "), "here is the key:\n{}\nthanks")
    add("ssh_key", _pem("OPENSSH "), "{}")
    add("password_kv", rnd(ALNUM, 14), "login with password={} please")
    add("password_colon", "Tr0ub4dor&3", "pwd: {}")
    add("password_ru", rnd(ALNUM, 10), "пароль: {}")
    add("pg_url", rnd(ALNUM, 16), "DATABASE_URL=postgres://app:{}@db.internal:5432/app")
    add("mysql_url", rnd(ALNUM, 16), "mysql://root:{}@10.0.0.5/shop")
    add("mongo_srv", rnd(ALNUM, 16), "mongodb+srv://svc:{}@cluster0.mongodb.net/db")
    add("redis_url", rnd(ALNUM, 16), "redis://:{}@cache:6379/0")
    add("amqp_url", rnd(ALNUM, 16), "amqp://guest:{}@rabbit:5672/")
    add("jdbc", rnd(ALNUM, 16), "jdbc:postgresql://db:5432/app?user=app&password={}")
    add("stripe", "sk_live_" + rnd(ALNUM, 24), "stripe {}")
    add("generic_api_key", rnd(ALNUM, 32), 'api_key: "{}"')
    add("yc_iam", "t1.9euelZ" + rnd(URLSAFE, 20) + "." + rnd(URLSAFE, 86), "yc iam token {}")
    add("yc_api_key", "AQVN" + rnd(URLSAFE, 36), "YC key {}")
    add("npmrc", "npm_" + rnd(ALNUM, 36), "//registry.npmjs.org/:_authToken={}")
    add("npmrc_legacy", rnd(LOWER, 8) + "-" + rnd(LOWER, 27), "//npm.corp/:_authToken={}")
    add(
        "azure",
        rnd(B64, 86) + "==",
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={};EndpointSuffix=core",
    )
    add("telegram", rnd("123456789", 10) + ":AA" + rnd(URLSAFE, 33), "bot {}")
    add(
        "slack_hook",
        "https://hooks.slack.com/services/T"
        + rnd(UPPER, 8)
        + "/B"
        + rnd(UPPER, 8)
        + "/"
        + rnd(ALNUM, 24),
        "webhook {}",
    )
    return s
