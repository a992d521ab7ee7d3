"""The fake Kubernetes API used by tests: the shipped emulator (also used by the demo)."""

from __future__ import annotations

from runbooks.emulator import FakeCluster, FakeKubeServer, Recorded

__all__ = ["FakeCluster", "FakeKubeServer", "Recorded"]
