"""Two Ray nodes on this machine for the multi-node checks, stopped without touching any other Ray.

`ray start --head` plus `ray start --address` (the GCS at 127.0.0.1; the nodes register this
machine's address): two raylets, each with its own object store, workers and agents, and a custom
resource per node (`node_a`, `node_b`) that pins a
deployment to one of them (`ray_actor_options: {resources: {node_b: 0.01}}`).

`ray stop` ends every Ray process of the user on the machine, the test suite's own cluster
included, so this cluster is stopped by its own marks instead:

- every process it starts carries a fresh value of `ADRISK_LOCAL_CLUSTER` in its environment
  (`ray start` passes it to the GCS server and raylets, they to their agents and workers), and
  `stop()` ends exactly the live processes that carry it (SIGTERM, the GCS server last; SIGKILL
  after a grace period);
- its temp dir is private, so the `ray_current_cluster` file that `ray start` writes is not the one
  a plain `ray.init()` elsewhere on the machine would read and join;
- this process becomes the subreaper of its descendants (commands/cluster_watch.py), so the daemons
  `ray start` leaves behind are re-parented here and reaped when they end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from commands.cluster_watch import adopt_orphans
from core.net import free_port

TAG_VAR = "ADRISK_LOCAL_CLUSTER"
RAY = str(Path(sys.executable).with_name("ray"))
NODE_RESOURCES = {"A": "node_a", "B": "node_b"}
OBJECT_STORE_BYTES = 512 * 2**20  # per node: the checks pass small objects; Ray's default is 30% of RAM


@dataclass(frozen=True)
class RayNode:
    """One node of the cluster as the GCS lists it."""

    label: str  # "A" (the head) or "B"
    resource: str  # the custom resource that pins a replica here
    node_id: str
    raylet_socket: str


def tagged_processes(tag: str) -> dict[int, str]:
    """pid → name and command line of every live (non-zombie) process whose environment has the tag."""
    marker = f"{TAG_VAR}={tag}".encode()
    found = {}
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error, OSError):
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
            if marker in environ:
                found[proc.pid] = f"{proc.name()}: {' '.join(proc.cmdline())[:160]}"
    return found


class LocalRayCluster:
    """Head (node A) and one worker (node B) started by the `ray` CLI; `stop()` leaves no process."""

    def __init__(self, cpus_per_node: int = 1, tag: str | None = None) -> None:
        self.tag = tag or uuid.uuid4().hex[:12]
        self.cpus_per_node = cpus_per_node
        # Short: Ray's Unix socket paths under the session dir must fit in 107 bytes.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="adrc-", dir="/tmp"))
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        # The cluster requires Ray's token (~/.ray/auth_token); Ray reads the mode when it is first
        # imported, so it is set here, before the caller imports Ray.
        os.environ.setdefault("RAY_AUTH_MODE", "token")

    def _env(self) -> dict[str, str]:
        return {**os.environ, TAG_VAR: self.tag}

    def _ray(self, *args: str) -> None:
        done = subprocess.run([RAY, *args], env=self._env(), capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            raise RuntimeError(f"ray {' '.join(args[:2])} failed ({done.returncode}): {done.stderr[-2000:]}")

    def _node_args(self, label: str) -> list[str]:
        """Options every node takes: its CPUs, its resource, a small object store, the private temp
        dir, and ports of its own (the defaults, e.g. the agent's 52365, may be held by another Ray
        on this machine)."""
        ports = ("--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
                 "--dashboard-agent-grpc-port", "--metrics-export-port", "--runtime-env-agent-port")
        return [f"--num-cpus={self.cpus_per_node}", "--resources", json.dumps({NODE_RESOURCES[label]: 1}),
                f"--object-store-memory={OBJECT_STORE_BYTES}", f"--temp-dir={self.temp_dir}",
                *(f"{flag}={free_port()}" for flag in ports)]

    def start(self) -> None:
        """Start both nodes (the caller stops them in a `finally`, whatever happened)."""
        adopt_orphans()
        self._ray("start", "--head", f"--port={self.port}", "--include-dashboard=false",
                  f"--ray-client-server-port={free_port()}", *self._node_args("A"))
        self._ray("start", f"--address={self.address}", *self._node_args("B"))

    def connect(self, env_vars: dict[str, str]) -> None:
        """Join the cluster as its driver; `env_vars` go to every worker and replica."""
        import ray

        ray.init(address=self.address, log_to_driver=False, runtime_env={"env_vars": env_vars})

    def nodes(self) -> dict[str, RayNode]:
        """"A"/"B" → the live node holding that label's resource (after `connect`)."""
        import ray

        out = {}
        for node in ray.nodes():
            for label, resource in NODE_RESOURCES.items():
                if node["Alive"] and resource in node["Resources"]:
                    out[label] = RayNode(label, resource, node["NodeID"], node["RayletSocketName"])
        return out

    def processes(self) -> dict[int, str]:
        return tagged_processes(self.tag)

    def stop(self, grace_s: float = 10.0) -> list[str]:
        """End every process of this cluster and remove its temp dir: SIGTERM to everything but the
        GCS server first (a raylet shuts down cleanly only while the GCS answers), then to the
        GCS server, SIGKILL to whatever outlives `grace_s` in either step. Returns the SIGKILLed
        ones as "pid name"."""
        import ray

        with contextlib.suppress(Exception):
            ray.shutdown()
        killed = self._end(lambda name: not name.startswith("gcs_server"), grace_s)
        killed += self._end(lambda name: True, grace_s)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        return killed

    def _end(self, which: Callable[[str], bool], grace_s: float) -> list[str]:
        procs = []
        for pid, what in self.processes().items():
            if which(what):
                with contextlib.suppress(psutil.Error):
                    proc = psutil.Process(pid)
                    proc.terminate()
                    procs.append(proc)
        _, alive = psutil.wait_procs(procs, timeout=grace_s)
        killed = []
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                killed.append(f"{proc.pid} {proc.name()}")
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
        return killed
