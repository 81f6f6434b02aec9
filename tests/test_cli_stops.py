"""Stops that leave nothing (issue 13): every way an operator stops `adrisk serve` — Ctrl-C, a
SIGKILL of its process group, `ray stop --force`, a crashed replica — leaves no vLLM or Ray
process of its cluster behind within 30 s, and `adrisk serve` exits non-zero when its cluster or its
Serve app dies under it. (SIGTERM: tests/test_cli_serve.py.) Each test starts a real `adrisk serve`
with the LLM on, since the vLLM engine's processes are the ones that used to be left over.

Runs before the session service of the other tests (file order): `ray stop --force` stops every Ray
cluster on the machine, so it is used as such only when this test's cluster is the only one; else
the same signal goes to the same processes of this cluster alone (see `ray_stop_force`)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.stops import Served, assert_running_cluster, cluster_processes, named, start_serve, wait_clean

pytestmark = pytest.mark.slow


def ray_stop_force(served: Served) -> str:
    """`ray stop --force` where this cluster is the only Ray on the machine; otherwise what it does
    (SIGKILL to every process whose name or command line matches Ray's own list, in its order:
    raylet first, GCS server last), limited to this cluster's processes."""
    from ray.autoscaler._private.constants import RAY_PROCESSES

    ours = set(served.processes())
    foreign = [p.pid for p in psutil.process_iter(["name"])
               if p.pid not in ours and p.info["name"] in ("raylet", "gcs_server")]
    if not foreign:
        out = subprocess.run([str(Path(sys.executable).parent / "ray"), "stop", "--force"],
                             env={**os.environ, "RAY_AUTH_MODE": "token"}, capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        return "ray stop --force"
    for keyword, by_name in RAY_PROCESSES:
        for pid in ours:
            try:
                proc = psutil.Process(pid)
                corpus = proc.name() if by_name else subprocess.list2cmdline(proc.cmdline())
                if keyword in corpus:
                    proc.kill()
            except psutil.NoSuchProcess:
                pass
    return f"SIGKILL to this cluster's Ray processes ({len(foreign)} other Ray head process(es) on this machine)"


def test_ctrl_c_stops_everything_and_exits_zero(tmp_path):
    served = start_serve(tmp_path)
    try:
        assert_running_cluster(served)
        since = time.monotonic()
        os.killpg(served.proc.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C: the whole job
        assert served.wait_exit(60) == 0, served.output()[-3000:]
        elapsed = wait_clean(served, since)
        print(f"Ctrl-C: exit 0, nothing left after {elapsed:.1f} s")
    finally:
        served.kill_everything()


def test_sigkill_of_the_process_group_and_the_replica_leaves_nothing(tmp_path):
    served = start_serve(tmp_path)
    try:
        procs = assert_running_cluster(served)
        replica = named(procs, "ServeReplica:adrisk:LlmDiagnoser")
        since = time.monotonic()
        # `adrisk serve`, the GCS server and the raylet share the group; Ray's workers (each in a
        # session of its own) and the vLLM engine below the replica do not, and must end anyway.
        # The LlmDiagnoser replica is killed in the same instant, so neither the raylet nor the
        # replica's own exit path can stop the engine: only the engine itself can.
        os.killpg(served.proc.pid, signal.SIGKILL)
        os.kill(replica[0], signal.SIGKILL)
        served.wait_exit(10)
        elapsed = wait_clean(served, since)
        print(f"SIGKILL of the process group and the replica: nothing left after {elapsed:.1f} s")
    finally:
        served.kill_everything()


def test_replica_crash_takes_its_engine_and_ray_stop_force_ends_adrisk_serve(tmp_path):
    served = start_serve(tmp_path)
    try:
        procs = assert_running_cluster(served)
        # 1. The LlmDiagnoser replica crashes: its engine goes with it, and `adrisk serve` stays
        #    (Serve starts a new replica).
        replica = named(procs, "ServeReplica:adrisk:LlmDiagnoser")
        engine = set(named(procs, "VLLM::"))
        assert len(replica) == 1 and len(engine) >= 2, procs
        since = time.monotonic()
        os.kill(replica[0], signal.SIGKILL)
        elapsed = wait_clean(served, since, pids=engine | set(replica))
        print(f"replica crash: its engine gone after {elapsed:.1f} s")
        assert served.proc.poll() is None, served.output()[-3000:]
        # 2. `ray stop --force`, while Serve is bringing the LlmDiagnoser back: the whole cluster
        #    dies under `adrisk serve`, which says so, ends what is left and exits non-zero.
        since = time.monotonic()
        how = ray_stop_force(served)
        how += f" (returned after {time.monotonic() - since:.1f} s)"
        code = served.wait_exit(30)
        took = time.monotonic() - since
        assert code != 0, served.output()[-3000:]
        assert "the Ray cluster is gone" in served.output(), served.output()[-3000:]
        elapsed = wait_clean(served, since)
        print(f"{how}: adrisk serve exited {code} after {took:.1f} s, nothing left after {elapsed:.1f} s")
    finally:
        served.kill_everything()
    assert not cluster_processes(served.tag)


DELETE_APP = "import sys, ray; from ray import serve; ray.init(address=sys.argv[1]); serve.delete('adrisk')"


def test_serve_app_deleted_under_adrisk_serve_exits_nonzero_and_leaves_nothing(tmp_path):
    served = start_serve(tmp_path)
    try:
        assert_running_cluster(served)
        address = re.search(r"^Ray cluster at (\S+) ", served.output(), re.MULTILINE)
        assert address, served.output()[-3000:]
        since = time.monotonic()
        # Another driver on the cluster deletes the app, as an operator's script might.
        out = subprocess.run([sys.executable, "-c", DELETE_APP, address.group(1)], capture_output=True, text=True,
                             env={**os.environ, "RAY_AUTH_MODE": "token"}, timeout=120)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        code = served.wait_exit(60)
        took = time.monotonic() - since
        assert code != 0, served.output()[-3000:]
        assert "the Serve app 'adrisk' is gone" in served.output(), served.output()[-3000:]
        elapsed = wait_clean(served, since)
        print(f"app deleted: adrisk serve exited {code} after {took:.1f} s, nothing left after {elapsed:.1f} s")
    finally:
        served.kill_everything()
