"""Local multi-node check: two Ray nodes on this machine, replicas placed across them, traffic on both.

    .venv/bin/python -m benchmarks.multinode [--out docs/benchmarks.md]

`ray start --head` plus a second `ray start --address` worker (each its own raylet and object
store; benchmarks/local_cluster.py, which stops exactly the processes it started), then the adrisk
app with two replicas each of the image and text deployments. Serve spreads replicas across nodes;
the check asks every replica where it runs and how many items it batched after a burst of reviews
over HTTP, and fails unless both nodes served.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.local_cluster import LocalRayCluster
from core.net import free_port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=None)
    parser.add_argument("--requests", type=int, default=120)
    args = parser.parse_args()

    import httpx

    cluster = LocalRayCluster(cpus_per_node=1)
    try:
        cluster.start()
        from core.config import PROJECT_ROOT

        cluster.connect({"PYTHONPATH": str(PROJECT_ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
        import ray
        from ray import serve

        from commands.launcher import APP_NAME
        from deployments.app import AppArgs, build_app

        nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
        http_port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": http_port}, proxy_location="HeadOnly")
        store = Path(tempfile.mkdtemp(prefix="adrisk-multinode-")) / "decisions.sqlite3"
        small = {"ray_actor_options": {"num_cpus": 0.1}}
        options = {name: {**small, "num_replicas": 2} for name in ("ImageRiskModel", "TextEncoder")}
        options.update({name: small for name in ("Ingress", "RiskScorer")})
        serve.run(build_app(AppArgs(profile="cpu", overrides={"store": {"path": str(store)}, "llm": None},
                                    deployment_options=options)), name=APP_NAME, route_prefix="/")
        url = f"http://127.0.0.1:{http_port}"
        ok = 0
        started = time.perf_counter()
        with httpx.Client(base_url=url, timeout=120) as client:
            for i in range(args.requests):
                body = {"request_id": f"mn-{i}-{uuid.uuid4().hex[:6]}", "creative": {"text": f"Offer number {i}"}}
                if i % 4 == 0:
                    from tests.media import b64, encode, random_blocks

                    body["creative"]["images"] = [{"data": b64(encode(random_blocks(i)))}]
                ok += client.post("/v1/review", json=body).status_code == 200
        seconds = time.perf_counter() - started
        placements: dict[str, dict] = {}
        for name in ("ImageRiskModel", "TextEncoder"):
            handle = serve.get_deployment_handle(name, app_name=APP_NAME)
            for _ in range(40):  # the router spreads calls: ask until both replicas answered
                p = handle.placement.remote().result(timeout_s=30)
                placements[f"{name}/{p['replica']}"] = {**p, "deployment": name}
        per_node = collections.Counter()
        for p in placements.values():
            per_node[p["node_id"]] += p["items"]
        lines = [
            f"- Date {time.strftime('%Y-%m-%d')}; `python -m benchmarks.multinode`: `ray start --head` + one "
            f"`ray start --address` worker on this machine (1 CPU each), {len(nodes)} nodes alive.",
            f"- {ok}/{args.requests} reviews answered 200 over HTTP in {seconds:.1f} s.", "",
            "| deployment | replica | node | items batched |", "|---|---|---|---:|",
        ]
        labels = {node: f"node {'AB'[i]} ({node[:8]})" for i, node in enumerate(nodes)}
        for key in sorted(placements):
            p = placements[key]
            lines.append(f"| {p['deployment']} | {p['replica']} | {labels.get(p['node_id'], p['node_id'][:8])} | "
                         f"{p['items']} |")
        text = "\n".join(lines)
        print(text)
        if len(nodes) < 2 or len(per_node) < 2 or min(per_node.values()) == 0 or ok != args.requests:
            raise SystemExit("multi-node check failed: replicas or traffic did not span both nodes")
        if args.out:
            from benchmarks.report import write_section

            write_section(Path(args.out), "## Multi-node check (two Ray nodes on one machine)\n\n" + text,
                          key="multinode")
    except BaseException:
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        raise
    finally:
        import ray

        if ray.is_initialized():  # else serve.shutdown() would start a local Ray of its own
            try:
                from ray import serve

                serve.shutdown()
            except Exception:
                pass
        left = cluster.stop()
        if left:
            print(f"SIGKILLed after the grace period: {left}", file=sys.stderr)


if __name__ == "__main__":
    main()
