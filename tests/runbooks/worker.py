"""A separate bot process for the multi-process tests: approve and/or execute one run."""

from __future__ import annotations

import sys
from pathlib import Path

from bot.clients.kubernetes import KubeClient
from policies.engine import load_policy
from runbooks.catalog import load_catalog
from runbooks.service import RunbookService
from storage.db import make_engine


def main(argv: list[str]) -> int:
    db_url, kubeconfig, catalog, run_id, executor, mode = argv[:6]
    svc = RunbookService(
        engine=make_engine(db_url),
        catalog=load_catalog(Path(catalog) if catalog != "-" else None),
        policy=load_policy(),
        kube=KubeClient.from_kubeconfig(kubeconfig),
        executor_id=executor,
    )
    if mode.startswith("approve:"):
        out = svc.approve(int(run_id), actor=mode.split(":", 1)[1], platform="local")
        print(out.status, flush=True)
    view = svc.execute(int(run_id))
    print(view.state, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
