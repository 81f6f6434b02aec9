"""Cluster-wide state on PostgreSQL: two Ray nodes on this machine, an ingress on each, one database.

    .venv/bin/python -m benchmarks.cluster_state [--out docs/benchmarks.md]

A throwaway PostgreSQL (tests/postgres_server.py: `initdb` into a temp dir, 127.0.0.1, a free
port), its schema applied by the real `adrisk store migrate --store postgresql://…`; `ray start
--head` (node A) and `ray start --address` (node B), each its own raylet (benchmarks/local_cluster.py);
the adrisk app (`adrisk`, route /a) with its Ingress pinned to node A by a custom resource, and a
second app (`adrisk-b`, route /b) holding only an Ingress pinned to node B that uses the first app's
model replicas. Both ingresses have `store.url` on the one database; the LLM is off; Ray Serve
runs with the `cluster` set of configs/serve/ray_env.yaml, as on a real cluster. Each ingress
replica reports its node, checked against the node that holds its resource; then the four checks
of benchmarks/cluster_checks.py run over HTTP. Prints PASS/FAIL per behaviour with the evidence,
exits 1 on any failure, and stops every process it started (Ray by its environment tag, never
`ray stop`, which would end any other Ray on the machine; PostgreSQL by pg_ctl) in a `finally`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.cluster_checks import (
    AdriskCli,
    CheckResult,
    Door,
    check_canary,
    check_idempotency,
    check_repeat_offenders,
    check_verdicts,
)
from benchmarks.local_cluster import LocalRayCluster, RayNode
from core.config import CONFIG_DIR, PROJECT_ROOT, StoreConfig
from core.net import free_port
from tests.postgres_server import PostgresServer

SECOND_APP = "adrisk-b"
POLL_S = 1.0  # registry.rollout_poll_s: the profile's default


@dataclass
class Report:
    setup: list[str] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    teardown: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and len(self.checks) == 4 and all(c.passed for c in self.checks)

    def text(self) -> str:
        lines = [f"- {line}" for line in self.setup]
        for check in sorted(self.checks, key=lambda c: c.key):
            lines += ["", f"**{'PASS' if check.passed else 'FAIL'} ({check.key}) {check.title}**", ""]
            lines += [f"- {e}" for e in check.evidence]
        if self.error:
            lines += ["", f"**FAIL: {self.error}**"]
        lines += [""] + [f"- {line}" for line in self.teardown]
        return "\n".join(lines)


def _overrides(store: StoreConfig) -> dict[str, Any]:
    import yaml

    llm = yaml.safe_load((CONFIG_DIR / "profiles" / "cpu.yaml").read_text())["llm"]
    return {"store": {"url": store.url, "password_file": store.password_file},
            "llm": {**llm, "enabled": False}}


def _pinned(resource: str) -> dict[str, Any]:
    return {"ray_actor_options": {"num_cpus": 0.05, "resources": {resource: 0.01}}}


def deploy(nodes: dict[str, RayNode], overrides: dict[str, Any]) -> str:
    """Serve on the head's proxy; the adrisk app at /a (Ingress on node A), a second Ingress at /b
    on node B sharing its model replicas. Returns the proxy's base URL once both answer /readyz."""
    from ray import serve

    from commands.launcher import APP_NAME, run_extra_ingress, wait_ready
    from deployments.app import AppArgs, build_app

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port}, proxy_location="HeadOnly")
    small = {"ray_actor_options": {"num_cpus": 0.1}}
    options = {name: small for name in ("ImageRiskModel", "TextEncoder", "RiskScorer")}
    options["Ingress"] = _pinned(nodes["A"].resource)
    serve.run(build_app(AppArgs(profile="cpu", overrides=overrides, deployment_options=options)),
              name=APP_NAME, route_prefix="/a")
    run_extra_ingress(SECOND_APP, "/b", overrides=overrides, ingress_options=_pinned(nodes["B"].resource))
    url = f"http://127.0.0.1:{port}"
    for prefix in ("/a", "/b"):
        wait_ready(url + prefix, 300)
    return url


def doors(url: str, cluster: LocalRayCluster, nodes: dict[str, RayNode], report: Report) -> tuple[Door, Door]:
    """Each ingress replica's own answer to where it runs, checked against the node of its resource
    (and its process against the cluster's tagged ones, which the stop ends)."""
    from ray import serve

    from commands.launcher import APP_NAME

    async def placement(app: str) -> dict[str, Any]:  # the handle's router runs on the caller's loop
        return await serve.get_app_handle(app).placement.remote()

    out = []
    for label, app, prefix in (("A", APP_NAME, "/a"), ("B", SECOND_APP, "/b")):
        where = asyncio.run(asyncio.wait_for(placement(app), 60))
        node = nodes[label]
        if where["node_id"] != node.node_id:
            raise RuntimeError(f"ingress of {app} runs on node {where['node_id'][:8]}, not node {label} "
                               f"({node.node_id[:8]})")
        if where["pid"] not in cluster.processes():
            raise RuntimeError(f"ingress {app} (pid {where['pid']}) lacks the cluster's tag: a stop would miss it")
        report.setup.append(f"Ingress {label}: app `{app}`, route `{prefix}`, replica `{where['replica']}` (pid "
                            f"{where['pid']}, tagged) on node {label} `{node.node_id[:12]}` (raylet socket "
                            f"`{Path(node.raylet_socket).name}`), as its replica reported")
        out.append(Door(label, httpx.Client(base_url=url + prefix, timeout=120), node, app, prefix))
    return out[0], out[1]


def _machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({model}), {mem:.0f} GiB"


def _commit() -> str:
    """The commit, and how many tracked files differ from it (the run is of the working tree)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.strip()

    changed = len(git("diff", "--name-only", "HEAD").splitlines())
    head = f"`{git('rev-parse', '--short', 'HEAD') or 'unknown'}`"
    return head + (f" + uncommitted changes in {changed} tracked files" if changed else "")


def cluster_ray_env() -> dict[str, str]:
    """The Ray Serve environment a real cluster runs with (the `cluster` set of
    configs/serve/ray_env.yaml), whatever this process inherited (under pytest: the session's
    `local` set); `ray start` passes it to every process of both nodes. Returns what is in effect."""
    from commands.ray_env import apply_ray_env, load_ray_env

    sets = load_ray_env()
    for key in {*sets.cluster, *sets.local}:
        os.environ.pop(key, None)
    return apply_ray_env("cluster")


def run_checks(report: Report, tag: str | None) -> None:
    from core.store_factory import open_store

    started = time.monotonic()
    report.setup.append(f"Date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {_commit()}, {_machine()}; "
                        "`python -m benchmarks.cluster_state --out docs/benchmarks.md`")
    pg = PostgresServer()
    stops: list[Callable[[], None]] = [lambda: report.teardown.append(_stop_postgres(pg))]
    try:
        pg.start()
        store = StoreConfig(url=pg.create_database("adrisk"), password_file=str(pg.password_file))
        cli = AdriskCli(store)
        migrated = cli.run("store", "migrate")
        version = subprocess.run([str(pg.bin / "postgres"), "--version"], capture_output=True, text=True).stdout
        report.setup.append(f"{version.strip()}, throwaway (`initdb` into `{pg.root}`, 127.0.0.1:{pg.port}); "
                            f"`adrisk store migrate --store {store.url}`: {migrated.splitlines()[-1]}")
        ray_env = cluster_ray_env()
        cluster = LocalRayCluster(cpus_per_node=1, tag=tag)
        stops.insert(0, lambda: report.teardown.extend(_stop_cluster(cluster)))
        cluster.start()
        cluster.connect({"PYTHONPATH": str(PROJECT_ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
        nodes = cluster.nodes()
        if set(nodes) != {"A", "B"}:
            raise RuntimeError(f"expected nodes A and B, the GCS lists {sorted(nodes)}")
        report.setup.append("Ray: `ray start --head` (node A) + `ray start --address` (node B) on this machine, "
                            "1 CPU each, a private temp dir; models (image, text, scorer) shared by both ingresses, "
                            f"LLM off; `registry.rollout_poll_s` {POLL_S:g} s; Ray Serve environment: the `cluster` "
                            f"set of configs/serve/ray_env.yaml ({len(ray_env)} variables)")
        url = deploy(nodes, _overrides(store))
        a, b = doors(url, cluster, nodes, report)
        report.setup.append(f"Up in {time.monotonic() - started:.0f} s (PostgreSQL, two nodes, models loaded)")
        shared = open_store(store)
        try:
            report.checks.append(check_idempotency(a, b, store))
            report.checks.append(check_verdicts(a, b))
            report.checks.append(check_repeat_offenders(a, b, shared))
            report.checks.append(check_canary(a, b, shared, cli, POLL_S))
        finally:
            shared.close()
            a.client.close()
            b.client.close()
    except Exception as exc:
        traceback.print_exc()
        report.error = f"{type(exc).__name__}: {exc}"
    finally:
        for stop in stops:
            try:
                stop()
            except Exception as exc:
                report.teardown.append(f"left behind: stopping failed: {type(exc).__name__}: {exc}")
        report.teardown.append(f"Total {time.monotonic() - started:.0f} s")


def _stop_postgres(pg: PostgresServer) -> str:
    """pg_ctl stop (PostgresServer.close), then the postmaster's process must be gone."""
    import psutil

    pid_file = pg.data / "postmaster.pid"
    pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
    pg.close()
    try:
        if pid is not None and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            return f"left behind: PostgreSQL postmaster {pid}"
    except psutil.NoSuchProcess:
        pass
    return f"PostgreSQL stopped (`pg_ctl stop -m fast`; postmaster {pid} gone), its directory removed"


def _stop_cluster(cluster: LocalRayCluster) -> list[str]:
    import ray
    from ray import serve

    if ray.is_initialized():  # else serve.shutdown() would start a local Ray of its own
        try:
            serve.shutdown()
        except Exception:
            pass
    before = len(cluster.processes())
    killed = cluster.stop()
    left = cluster.processes()
    lines = [f"Stopped: Serve shut down, then {before} processes of this cluster (tag "
             f"`{cluster.tag}`) ended by SIGTERM ({len(killed)} needed SIGKILL); {len(left)} left"]
    lines += [f"left behind: {pid} {what}" for pid, what in left.items()]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None, help="write the report as a section of this file")
    parser.add_argument("--tag", default=None, help="the environment tag of this cluster's processes")
    args = parser.parse_args()
    report = Report()
    run_checks(report, args.tag)
    text = report.text()
    print(text, flush=True)
    left = any(line.startswith("left behind") for line in report.teardown)
    if args.out and report.passed:
        from benchmarks.report import write_section

        write_section(Path(args.out), "## Cluster-wide state: two Ray nodes, one PostgreSQL\n\n" + text,
                      key="cluster-state")
    sys.exit(0 if report.passed and not left else 1)


if __name__ == "__main__":
    main()
