"""Reuse the fake Kubernetes cluster fixtures of the runbook tests."""

from __future__ import annotations

from tests.runbooks.conftest import cluster, kube, kube_server

__all__ = ["cluster", "kube", "kube_server"]
