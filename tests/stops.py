"""A real `adrisk serve` (cpu profile, LLM on) in its own session, and the processes of its cluster.

Every process of the cluster (the serve process, Ray's GCS server, raylet, agents and workers, the
vLLM EngineCore and Worker) inherits `adrisk serve`'s environment, so a variable with a fresh value
marks them: `cluster_processes` finds exactly this cluster's processes, orphans included, and never
another Ray cluster running on the same machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from core.config import PROJECT_ROOT
from core.net import free_port

TAG_VAR = "ADRISK_STOP_TEST"
CLEAN_WITHIN_S = 30.0
READY_LINE = "\nRay cluster at "  # the last line `adrisk serve` prints once it is up
# Present in every running cluster with the LLM on: a stop test that finds none of these before
# stopping would pass without testing anything.
EXPECTED = ("VLLM::EngineCore", "VLLM::Worker", "raylet", "gcs_server", "ServeReplica:adrisk:LlmDiagnoser")


def _environ_has(pid: int, marker: bytes) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:  # gone, or not ours
        return False


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def cluster_processes(tag: str) -> dict[int, str]:
    """pid → command line of every live (non-zombie) process carrying this tag."""
    marker = f"{TAG_VAR}={tag}".encode()
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _environ_has(int(entry), marker) and not _is_zombie(int(entry)):
            found[int(entry)] = _cmdline(int(entry))
    return found


def named(procs: dict[int, str], needle: str) -> list[int]:
    """The pids whose program (argv[0]: a path, or the title vLLM and Ray set) contains `needle`."""
    return [pid for pid, cmd in procs.items() if cmd and needle in cmd.split()[0]]


@dataclass
class Served:
    proc: subprocess.Popen
    url: str
    tag: str
    log: Path

    def processes(self, include_serve: bool = False) -> dict[int, str]:
        procs = cluster_processes(self.tag)
        if not include_serve:
            procs.pop(self.proc.pid, None)
        return procs

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout_s: float = 240.0) -> None:
        """/readyz answers 200 and `adrisk serve` has printed its start-up lines (the last names the
        Ray cluster): it is past start-up, waiting for a stop."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"adrisk serve exited {self.proc.returncode}:\n{self.output()[-3000:]}"
            with contextlib.suppress(httpx.HTTPError):
                if (READY_LINE in self.output()
                        and httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200):
                    return
            time.sleep(1)
        raise AssertionError(f"adrisk serve never became ready:\n{self.output()[-3000:]}")

    def wait_exit(self, timeout_s: float) -> int:
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            tail = self.output()[-3000:]
            raise AssertionError(f"adrisk serve still running after {timeout_s:g} s:\n{tail}") from None

    def kill_everything(self) -> None:
        """Test clean-up after a failure: whatever is left of this cluster."""
        for pid in self.processes(include_serve=True):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


def start_serve(tmp_path: Path) -> Served:
    """`adrisk serve` as an operator starts it, in its own session (its own process group, as a
    shell job or a service manager's unit), with the LLM on; returns once /readyz answers 200."""
    tag, port = uuid.uuid4().hex, free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, TAG_VAR: tag}
    env.pop("ADRISK_TEST_SKIP_LLM", None)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "commands.cli", "serve", "--port", str(port), "--grpc-port", str(free_port()),
             "--store", str(tmp_path / "decisions.sqlite3")],
            cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    served = Served(proc=proc, url=f"http://127.0.0.1:{port}", tag=tag, log=log)
    try:
        served.wait_ready()
    except BaseException:
        served.kill_everything()
        raise
    return served


def assert_running_cluster(served: Served) -> dict[int, str]:
    procs = served.processes()
    for needle in EXPECTED:
        assert named(procs, needle), f"no {needle} in this cluster before the stop: {sorted(procs.values())}"
    return procs


def wait_clean(served: Served, since: float, timeout_s: float = CLEAN_WITHIN_S,
               pids: set[int] | None = None) -> float:
    """Seconds from `since` until none of the cluster's processes is left besides `adrisk serve`
    (or, with `pids`, none of those); fails with the leftovers past `timeout_s`."""
    deadline = since + timeout_s
    while True:
        left = {p: c for p, c in served.processes().items() if pids is None or p in pids}
        if not left:
            return time.monotonic() - since
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(left)} process(es) left {timeout_s:g} s after the stop: "
                                 + "; ".join(f"{p} {c[:80]}" for p, c in sorted(left.items())))
        time.sleep(0.25)
