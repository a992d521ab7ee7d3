from __future__ import annotations

from pathlib import Path

from runbooks.demo_cluster import start_demo_cluster
from runbooks.steps import KINDS, StepContext


def test_demo_cluster_serves_the_sample_workloads(tmp_path: Path) -> None:
    demo = start_demo_cluster(tmp_path)
    try:
        assert demo.client.demo
        ctx = StepContext(kube=demo.client, dry_run=True)
        plan = KINDS["rollback"].run(ctx, {"namespace": "shop", "deployment": "cart"})
        assert [c.render() for c in plan.changes] == [
            "deployment shop/cart: image of cart registry.example/shop/cart:1.5.0 → "
            "registry.example/shop/cart:1.4.0"
        ]
        drain = KINDS["drain"].run(ctx, {"node": "node-1"})
        assert len(drain.output["evicted"]) == 3
    finally:
        demo.stop()
