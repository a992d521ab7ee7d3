"""Kubernetes client: built from a kubeconfig (KUBECONFIG) or the in-cluster service account.

Wraps the official `kubernetes` client; every API error becomes a `KubeError` whose `kind`
says what happened (conflict, forbidden, not_found, timeout, unreachable, invalid, error), so
callers can show a clear, translated message instead of a stack trace.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from bot.i18n import N_

T = TypeVar("T")
Translate = Callable[..., str]


class KubeError(Exception):
    """A failed Kubernetes call, classified."""

    def __init__(self, kind: str, status: int | None, detail: str) -> None:
        super().__init__(f"{kind} ({status}): {detail}")
        self.kind = kind
        self.status = status
        self.detail = detail

    def describe(self, t: Translate, *, target: str) -> str:
        """A clear, user-facing sentence for this error."""
        messages = {
            "conflict": N_(
                "{target} was changed by someone else while the bot was working on it "
                "(409 Conflict); nothing was applied, run the runbook again to use the latest "
                "version."
            ),
            "forbidden": N_(
                "The bot is not allowed to change {target} (403 Forbidden): {detail}. "
                "Its service account needs the matching RBAC permission."
            ),
            "not_found": N_(
                "{target} does not exist (404 Not Found); check the namespace and name."
            ),
            "timeout": N_(
                "The Kubernetes API did not answer in time for {target}; the change "
                "may or may not have been applied, check the cluster before retrying."
            ),
            "unreachable": N_("The Kubernetes API is unreachable ({detail})."),
            "invalid": N_("Kubernetes rejected the change to {target} as invalid: {detail}"),
            "unauthorized": N_("The bot's Kubernetes credentials were rejected (401)."),
            "exists": N_("{target} already exists."),
        }
        msg = messages.get(self.kind, N_("Kubernetes error on {target} ({status}): {detail}"))
        return t(msg, target=target, detail=self.detail, status=self.status)


def classify(exc: BaseException) -> KubeError:
    """Turn an exception from the kubernetes client into a KubeError."""
    if isinstance(exc, KubeError):
        return exc
    if isinstance(exc, ApiException):
        detail = exc.reason or ""
        reason = ""
        with contextlib.suppress(ValueError, AttributeError):
            body = json.loads(exc.body or "{}")
            detail = body.get("message") or detail
            reason = body.get("reason") or ""
        if exc.status == 409 and reason == "AlreadyExists":
            return KubeError("exists", 409, str(detail))
        kind = {
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            409: "conflict",
            422: "invalid",
            504: "timeout",
        }.get(int(exc.status or 0), "error")
        return KubeError(kind, exc.status, str(detail))
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError | TimeoutError):
        return KubeError("timeout", None, str(exc))
    if isinstance(exc, urllib3.exceptions.MaxRetryError):
        if isinstance(exc.reason, urllib3.exceptions.ReadTimeoutError):
            return KubeError("timeout", None, str(exc.reason))
        return KubeError("unreachable", None, str(exc.reason))
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return KubeError("unreachable", None, str(exc))
    return KubeError("error", None, str(exc))


@dataclass
class KubeClient:
    """The API groups the runbooks use, with a request timeout and a demo marker."""

    api: k8s.ApiClient
    timeout: float = 10.0
    demo: bool = False

    @property
    def apps(self) -> k8s.AppsV1Api:
        return k8s.AppsV1Api(self.api)

    @property
    def core(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(self.api)

    @property
    def networking(self) -> k8s.NetworkingV1Api:
        return k8s.NetworkingV1Api(self.api)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call an API method with the request timeout; errors become KubeError."""
        kwargs.setdefault("_request_timeout", self.timeout)
        try:
            return fn(*args, **kwargs)
        except (ApiException, urllib3.exceptions.HTTPError, TimeoutError) as exc:
            raise classify(exc) from exc
        except pydantic.ValidationError as exc:  # the client checks arguments before sending
            raise KubeError("invalid", None, str(exc).splitlines()[0]) from exc

    def raw(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Call an API method and return the response as plain JSON (no model objects)."""
        kwargs["_preload_content"] = False
        resp = self.call(fn, *args, **kwargs)
        return json.loads(resp.data or b"{}")  # type: ignore[attr-defined]

    @classmethod
    def from_kubeconfig(
        cls,
        path: str | Path,
        *,
        context: str | None = None,
        timeout: float = 10.0,
        demo: bool = False,
    ) -> KubeClient:
        """A client from a kubeconfig file."""
        api = k8s_config.new_client_from_config(config_file=str(path), context=context)
        api.configuration.retries = 1
        return cls(api=api, timeout=timeout, demo=demo)

    @classmethod
    def in_cluster(cls, *, timeout: float = 10.0) -> KubeClient:
        """A client from the pod's service account."""
        cfg = k8s.Configuration()
        k8s_config.load_incluster_config(client_configuration=cfg)
        return cls(api=k8s.ApiClient(cfg), timeout=timeout)

    @classmethod
    def from_env(cls, kubeconfig: str | None = None) -> KubeClient | None:
        """KUBECONFIG (or the given path), else in-cluster, else None when neither exists."""
        path = kubeconfig or os.environ.get("KUBECONFIG")
        if path and Path(path.split(os.pathsep)[0]).exists():
            return cls.from_kubeconfig(path.split(os.pathsep)[0])
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            return cls.in_cluster()
        return None

    def close(self) -> None:
        self.api.close()
