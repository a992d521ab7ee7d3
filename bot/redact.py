"""Redaction of secrets before any text leaves for a model (or another outside system).

Each secret becomes ``[REDACTED:<kind>]``. Where a key or header names the secret
(``password=...``, ``Authorization: Bearer ...``, ``postgres://user:pass@host``) the name stays
so a reader still understands the line; only the value goes.

Trade-off: detection is by known formats and by key names, never by entropy alone, so 40-hex
commit hashes, UUIDs, image digests and request ids survive (they are what an incident channel
is made of). A bare high-entropy string with no known prefix and no key name in front of it is
not redacted; an AWS secret key is caught only next to a key name (``aws_secret_access_key``,
``secret=``...) for that reason.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Replacer = Callable[[re.Match[str]], str]


def _mark(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def _whole(kind: str) -> Replacer:
    """Replace the whole match."""
    return lambda m: _mark(kind)


def _value(kind: str, group: str = "v") -> Replacer:
    """Keep the match but replace the named group (the secret value)."""

    def repl(m: re.Match[str]) -> str:
        start, end = m.span(group)
        base = m.start()
        whole = m.group(0)
        return whole[: start - base] + _mark(kind) + whole[end - base :]

    return repl


def _pem(m: re.Match[str]) -> str:
    label = m.group("label") or ""
    return _mark("ssh_private_key" if "OPENSSH" in label else "private_key")


def _jwt(m: re.Match[str]) -> str:
    payload = m.group("payload")
    try:
        decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError):
        decoded = b""
    return _mark("kubernetes_token" if b"kubernetes.io" in decoded else "jwt")


_DB_SCHEMES = {
    "postgres",
    "postgresql",
    "mysql",
    "mariadb",
    "mongodb",
    "mongodb+srv",
    "redis",
    "rediss",
    "amqp",
    "amqps",
    "mssql",
    "sqlserver",
    "clickhouse",
    "cassandra",
}


def _url_password(m: re.Match[str]) -> str:
    scheme = m.group("scheme").lower().removeprefix("jdbc:")
    scheme = scheme.split("+psycopg")[0].split("+asyncpg")[0].split("+pymysql")[0]
    kind = "connection_string" if scheme in _DB_SCHEMES else "url_password"
    return f"{m.group('prefix')}{_mark(kind)}@"


# Key names whose value is a secret. Order is irrelevant; the longest alternative wins.
_SECRET_KEYS = (
    r"password|passwd|pwd|пароль|secret|client[_-]?secret|secret[_-]?key"
    r"|aws[_-]?secret[_-]?access[_-]?key|api[_-]?key|apikey|x-api-key|access[_-]?key"
    r"|access[_-]?token|auth[_-]?token|_authToken|refresh[_-]?token|token|private[_-]?key"
    r"|mattermost[_-]?token|slack[_-]?(?:bot[_-]?)?token|accountkey|sharedaccesskey"
    r"|sharedaccesssignature|sig|credentials?|session[_-]?token|webhook[_-]?secret"
)

# (kind, pattern, replacer). Applied in order; earlier, more specific formats win, and a value
# already replaced contains "[" so the generic key=value rule never touches it again.
_RULES: list[tuple[str, str, Replacer | None]] = [
    (
        "private_key",
        r"-----BEGIN (?P<label>[A-Z0-9 ]*?)PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]*?-----END [A-Z0-9 ]*?PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s\\:,-]*)",
        _pem,
    ),
    (
        "url_password",
        r"(?P<prefix>(?P<scheme>(?:jdbc:)?[a-zA-Z][a-zA-Z0-9+.-]{1,30})://[^\s:/@\"'<>]*:)"
        r"[^\s@/\"'<>]+@",
        _url_password,
    ),
    (
        "authorization",
        r"(?i)(?:proxy-)?authorization\s*[:=]\s*[\"']?(?:(?:bearer|basic|token|bot|digest|negotiate"
        r"|api-key|sso-key)\s+)?(?P<v>[^\s\"',;]{6,})",
        None,  # filled below: kind depends on the scheme
    ),
    ("bearer_token", r"(?i)\bbearer\s+(?P<v>[A-Za-z0-9._~+/=-]{16,})", None),
    ("slack_token", r"\bxoxe\.xox[bp]-\d-[A-Za-z0-9-]{10,}", _whole("slack_token")),
    ("slack_token", r"\bxox[abposre]-(?:\d+-)?[A-Za-z0-9-]{10,}", _whole("slack_token")),
    ("slack_app_token", r"\bxapp-\d-[A-Za-z0-9-]{10,}", _whole("slack_app_token")),
    (
        "slack_webhook",
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{10,}",
        _whole("slack_webhook"),
    ),
    (
        "mattermost_webhook",
        r"(?P<pre>https?://[^\s/]+(?:/[^\s/]+)*/hooks/)(?P<v>[a-z0-9]{26})\b",
        _value("mattermost_webhook"),
    ),
    ("anthropic_key", r"\bsk-ant-[a-z]{2,8}\d{0,3}-[A-Za-z0-9_-]{20,}", _whole("anthropic_key")),
    (
        "openai_key",
        r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
        _whole("openai_key"),
    ),
    ("stripe_key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}", _whole("stripe_key")),
    ("stripe_key", r"\bwhsec_[A-Za-z0-9]{24,}", _whole("stripe_key")),
    (
        "aws_access_key",
        r"\b(?:AKIA|ASIA|ABIA|ACCA|AROA|AIDA)[A-Z0-9]{16}\b",
        _whole("aws_access_key"),
    ),
    ("gcp_api_key", r"\bAIza[0-9A-Za-z_-]{35}\b", _whole("gcp_api_key")),
    ("google_oauth_token", r"\bya29\.[0-9A-Za-z_-]{20,}", _whole("google_oauth_token")),
    ("github_token", r"\bgh[pousr]_[A-Za-z0-9]{30,}", _whole("github_token")),
    ("github_token", r"\bgithub_pat_[A-Za-z0-9_]{22,}", _whole("github_token")),
    (
        "gitlab_token",
        r"\b(?:glpat|gldt|glrt|glptt|glsoat|glcbt|gloas|glimt|glagent)-[A-Za-z0-9_.-]{20,}",
        _whole("gitlab_token"),
    ),
    ("gitlab_token", r"\bGR1348941[A-Za-z0-9_-]{20,}", _whole("gitlab_token")),
    (
        "jwt",
        r"\beyJ[A-Za-z0-9_-]{5,}\.(?P<payload>eyJ[A-Za-z0-9_-]{5,})\.[A-Za-z0-9_-]{10,}",
        _jwt,
    ),
    (
        "yandex_iam_token",
        r"\bt1\.[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]{40,}={0,2}",
        _whole("yandex_iam_token"),
    ),
    ("yandex_api_key", r"\bAQVN[A-Za-z0-9_-]{35,40}\b", _whole("yandex_api_key")),
    ("yandex_static_key", r"\bYC[A-Za-z0-9_-]{38,40}\b", _whole("yandex_static_key")),
    ("yandex_oauth_token", r"\by[0-3]_[A-Za-z0-9_-]{55,}", _whole("yandex_oauth_token")),
    ("npm_token", r"\bnpm_[A-Za-z0-9]{36}\b", _whole("npm_token")),
    ("pypi_token", r"\bpypi-AgE[A-Za-z0-9_-]{50,}", _whole("pypi_token")),
    ("huggingface_token", r"\bhf_[A-Za-z0-9]{34,}\b", _whole("huggingface_token")),
    ("sendgrid_key", r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b", _whole("sendgrid_key")),
    ("telegram_bot_token", r"\b\d{8,10}:AA[A-Za-z0-9_-]{33}\b", _whole("telegram_bot_token")),
    (
        "kubernetes_bootstrap_token",
        r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b(?=[^\n]*(?:--token|bootstrap|kubeadm))"
        r"|(?<=--token )[a-z0-9]{6}\.[a-z0-9]{16}\b",
        _whole("kubernetes_bootstrap_token"),
    ),
    (
        "secret",
        r"(?i)(?P<key>\b(?:" + _SECRET_KEYS + r")\b|(?<=[:/])_authToken)"
        r"(?P<sep>[\"']?\s*(?:[:=]|=>|:=)\s*[\"']?)(?P<v>(?:[^\s\"',;&<>\[\]]|&(?![\w.-]+=))+)",
        None,
    ),
]

_SCHEME_KIND = {"basic": "basic_auth", "bearer": "bearer_token"}


def _authorization(m: re.Match[str]) -> str:
    scheme = re.search(r"(?i)(bearer|basic)\s", m.group(0))
    kind = _SCHEME_KIND.get(scheme.group(1).lower(), "authorization") if scheme else "authorization"
    return _value(kind)(m)


_PASSWORD_KEYS = re.compile(r"(?i)^(?:password|passwd|pwd|пароль)$")
_WEAK_VALUES = re.compile(r"(?i)^(?:null|none|true|false|yes|no|redacted|\*+|x+|\.\.\.|<[^>]*>)$")


def _secret_value(m: re.Match[str]) -> str:
    key = m.group("key")
    value = m.group("v")
    if _WEAK_VALUES.match(value):
        return m.group(0)
    # Generic key names ("token", "key", "sig") need a value that looks like a credential;
    # passwords are secrets at any length.
    if not _PASSWORD_KEYS.match(key) and len(value) < 8:
        return m.group(0)
    kind = "password" if _PASSWORD_KEYS.match(key) else "secret"
    return _value(kind)(m)


_SPECIAL: dict[str, Replacer] = {
    "authorization": _authorization,
    "bearer_token": _value("bearer_token"),
    "secret": _secret_value,
}


# Literal, lower-case substrings one of which every match contains. A rule runs on a line only
# when the line holds one of its needles: `in` on a string is far cheaper than a regex scan.
_NEEDLES: dict[str, tuple[str, ...]] = {
    "private_key": ("-----begin",),
    "url_password": ("://",),
    "authorization": ("authorization",),
    "bearer_token": ("bearer",),
    "slack_token": ("xox",),
    "slack_app_token": ("xapp-",),
    "slack_webhook": ("hooks.slack.com",),
    "mattermost_webhook": ("/hooks/",),
    "anthropic_key": ("sk-ant-",),
    "openai_key": ("sk-",),
    "stripe_key": ("_live_", "_test_", "whsec_"),
    "aws_access_key": ("akia", "asia", "abia", "acca", "aroa", "aida"),
    "gcp_api_key": ("aiza",),
    "google_oauth_token": ("ya29.",),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "gitlab_token": (
        "glpat-",
        "gldt-",
        "glrt-",
        "glptt-",
        "glsoat-",
        "glcbt-",
        "gloas-",
        "glimt-",
        "glagent-",
        "gr1348941",
    ),
    "jwt": ("eyj",),
    "yandex_iam_token": ("t1.",),
    "yandex_api_key": ("aqvn",),
    "yandex_static_key": ("yc",),
    "yandex_oauth_token": ("y0_", "y1_", "y2_", "y3_"),
    "npm_token": ("npm_",),
    "pypi_token": ("pypi-",),
    "huggingface_token": ("hf_",),
    "sendgrid_key": ("sg.",),
    "telegram_bot_token": (":aa",),
    "kubernetes_bootstrap_token": ("--token", "bootstrap", "kubeadm"),
    "secret": ("pass", "pwd", "пароль", "secret", "key", "token", "sig", "credential"),
}


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    replace: Replacer
    needles: tuple[str, ...]


RULES: tuple[_Rule, ...] = tuple(
    _Rule(kind, re.compile(pattern), repl or _SPECIAL[kind], _NEEDLES[kind])
    for kind, pattern, repl in _RULES
)
_PEM, _LINE_RULES = RULES[0], RULES[1:]
# One scan finds every needle present (overlapping, via a lookahead), instead of ~30 `in` tests.
_NEEDLE_SCAN = re.compile(
    "(?=("
    + "|".join(
        re.escape(n)
        for n in sorted({n for r in _LINE_RULES for n in r.needles}, key=len, reverse=True)
    )
    + "))"
)


def _redact_line(line: str) -> str:
    found = set(_NEEDLE_SCAN.findall(line.lower()))
    if not found:
        return line
    for rule in _LINE_RULES:
        if not found.isdisjoint(rule.needles):
            line = rule.pattern.sub(rule.replace, line)
    return line


def redact(text: str) -> str:
    """Return `text` with every recognised secret replaced by ``[REDACTED:<kind>]``."""
    if not text:
        return text
    if "-----BEGIN" in text or "-----begin" in text.lower():
        text = _PEM.pattern.sub(_PEM.replace, text)  # the one format that spans lines
    if "\n" not in text:
        return _redact_line(text)
    return "\n".join(_redact_line(line) for line in text.split("\n"))


def redact_counts(text: str) -> tuple[str, Counter[str]]:
    """Redact `text` and count the replacements per kind (for metrics and audit)."""
    out = redact(text)
    return out, Counter(re.findall(r"\[REDACTED:([a-z_]+)\]", out)) - Counter(
        re.findall(r"\[REDACTED:([a-z_]+)\]", text)
    )


# Keys of an Anthropic request whose string values are identifiers, not free text.
_STRUCTURAL_KEYS = frozenset(
    {"type", "role", "id", "tool_use_id", "name", "media_type", "model", "cache_control"}
)


def redact_payload(value: object) -> object:
    """Redact every free-text string in a JSON-like structure (messages, system, tool results)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {
            k: (v if k in _STRUCTURAL_KEYS and isinstance(v, str) else redact_payload(v))
            for k, v in value.items()
        }
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [redact_payload(v) for v in value]
    return value
