"""`adrisk serve` ends with its cluster, and leaves no process of it behind, however it stops.

- `adopt_orphans()` makes `adrisk serve` the "child subreaper" of everything it starts (Linux
  PR_SET_CHILD_SUBREAPER): Ray's workers are children of the raylet and the vLLM engine is a child
  of the LlmDiagnoser replica; when `ray stop --force` SIGKILLs a raylet or a replica, the kernel
  re-parents their children to this process instead of init, so they stay below it.
- `ClusterWatch` reports a dead cluster or app. The raylet and the GCS server are this process's
  own children (ray.init starts them): a pidfd for each becomes readable the moment that process
  exits, a notification from the kernel, not a poll. The Serve app has no process of its own; its
  status is polled (gone, or its controller unreachable for `APP_MISSES` polls in a row).
- `end_descendants()` runs on every exit path: SIGTERM, then SIGKILL, to whatever still runs below.

When `adrisk serve` itself is SIGKILLed none of this runs; the vLLM engine then stops by itself when
its replica dies (models/llm_lifeline.py), and Ray's workers exit when their raylet does.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import sys
import threading
import time
from collections.abc import Callable

import psutil

HEAD_PROCESSES = ("raylet", "gcs_server")
APP_POLL_S = 5.0
APP_MISSES = 3
# Seen gone, the app is reported this much later: the driver that deleted it (`serve.delete`, which
# blocks, polling the controller every second) must see its delete finish before `adrisk serve`
# takes the controller down with the cluster, or its call fails with ActorDiedError.
APP_GONE_GRACE_S = 3.0
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


def adopt_orphans() -> bool:
    """Become the subreaper of this process's descendants (Linux); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def end_descendants(grace_s: float = 5.0) -> list[str]:
    """SIGTERM every process below this one, SIGKILL those still up after `grace_s`.
    Returns a description of each process that was still running."""
    procs = psutil.Process().children(recursive=True)
    found = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            if proc.status() != psutil.STATUS_ZOMBIE:  # exited already; the wait below reaps it
                found.append(f"{proc.pid} {proc.name()}")
                proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=2)
    return found


class ClusterWatch:
    """Calls `on_lost(reason)` once, from a watch thread, when the local Ray cluster (raylet or GCS
    server exits) or, after `watch_app`, the Serve app is gone; `close()` first when stopping on purpose.
    Also reaps, until the process exits, the adopted orphans that exit (else zombies of this process)."""

    def __init__(self, on_lost: Callable[[str], None]) -> None:
        self._on_lost = on_lost
        self.lost: str | None = None
        self.cluster_gone = False
        self._closed = threading.Event()
        self._lock = threading.Lock()
        children = psutil.Process().children()
        self._own_children = {p.pid for p in children}  # what Ray started; reaped by Ray, not here
        # None where this process joined a cluster started elsewhere (RAY_ADDRESS): then the app
        # poll alone notices, as an unreachable controller.
        self._heads = {p.pid: p.name() for p in children if p.name() in HEAD_PROCESSES}
        self._pidfds = {os.pidfd_open(pid): pid for pid in self._heads}
        threading.Thread(target=self._watch_heads, name="adrisk-watch-cluster", daemon=True).start()

    def watch_app(self, app_name: str, poll_s: float = APP_POLL_S) -> None:
        """Also report the Serve app's end (call once it is deployed)."""
        threading.Thread(target=self._watch_app, args=(app_name, poll_s), name="adrisk-watch-app", daemon=True).start()

    def close(self) -> None:
        """Stop reporting (a stop on purpose is about to take the cluster down)."""
        self._closed.set()

    def _report(self, reason: str, cluster_gone: bool) -> None:
        with self._lock:
            if self.lost is not None or self._closed.is_set():
                return
            self.lost, self.cluster_gone = reason, cluster_gone
        self._on_lost(reason)

    def _watch_heads(self) -> None:
        # Runs until the process exits: after a report or close() it only reaps. `ray stop` waits
        # for the processes it killed to disappear, and the orphans among them are this
        # process's zombies until reaped.
        while True:
            if self._pidfds and not self._closed.is_set():
                ready, _, _ = select.select(list(self._pidfds), [], [], 0.5)
                if ready:
                    pid = self._pidfds[ready[0]]
                    self._drop_pidfds()
                    self._closed.wait(0.3)  # a stop signal sent to the whole group lands here too
                    self._report(f"the Ray cluster is gone: {self._heads[pid]} (pid {pid}) exited", True)
            else:
                self._drop_pidfds()
                time.sleep(0.5)
            self._reap_adopted()

    def _drop_pidfds(self) -> None:
        for fd in self._pidfds:
            os.close(fd)
        self._pidfds.clear()

    def _reap_adopted(self) -> None:
        for child in psutil.Process().children():
            with contextlib.suppress(psutil.Error, ChildProcessError):
                if child.pid not in self._own_children and child.status() == psutil.STATUS_ZOMBIE:
                    os.waitpid(child.pid, os.WNOHANG)

    def _watch_app(self, app_name: str, poll_s: float) -> None:
        from ray import serve

        misses = 0
        while not self._closed.wait(poll_s):
            try:
                apps = serve.status().applications
            except Exception as exc:  # the controller is unreachable (or the cluster is going down)
                misses += 1
                if misses >= APP_MISSES:
                    self._report(f"the Serve controller is unreachable ({type(exc).__name__}: {exc})", False)
                    return
                continue
            misses = 0
            if app_name not in apps:
                if not self._closed.wait(APP_GONE_GRACE_S):  # closed meanwhile: a stop on purpose
                    self._report(f"the Serve app {app_name!r} is gone", False)
                return


def exit_after(deadline_s: float, code: int = 1) -> threading.Timer:
    """A daemon timer: if the process is still here after `deadline_s`, end what runs below it and
    exit with `code` (a stop that hangs on a dead cluster must not keep `adrisk serve` alive)."""

    def hard_exit() -> None:
        print(f"adrisk: still stopping after {deadline_s:g} s; exiting", file=sys.stderr, flush=True)
        end_descendants(grace_s=2.0)
        os._exit(code)

    timer = threading.Timer(deadline_s, hard_exit)
    timer.daemon = True
    timer.start()
    return timer

