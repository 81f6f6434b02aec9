"""commands/cluster_watch.py on real processes, without Ray (quick): a dead "raylet" is reported at
once, a stop on purpose is not, orphans are adopted and ended. Runs in a child interpreter, since
becoming a subreaper would change the pytest process for every later test."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys

import pytest

from core.config import PROJECT_ROOT

pytestmark = pytest.mark.slow  # starts a child interpreter and process trees of its own, per test

SCRIPT = r"""
import json, os, shutil, subprocess, sys, threading, time
from commands.cluster_watch import ClusterWatch, adopt_orphans, end_descendants

tmp, mode = sys.argv[1], sys.argv[2]
out = {"subreaper": adopt_orphans()}
heads = []
for name in ("raylet", "gcs_server"):  # stand-ins: the watch knows Ray's head processes by name
    exe = os.path.join(tmp, name)
    shutil.copy(shutil.which("sleep"), exe)
    heads.append(subprocess.Popen([exe, "300"]))
# An orphan: its parent exits at once, so the kernel re-parents it (to us, as subreaper).
orphan = int(subprocess.run(["sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!"], capture_output=True,
                            text=True).stdout)
time.sleep(0.2)
out["orphan_ppid_is_us"] = open(f"/proc/{orphan}/stat").read().rsplit(")", 1)[1].split()[1] == str(os.getpid())
lost = threading.Event()
reasons = []
watch = ClusterWatch(lambda reason: (reasons.append(reason), lost.set()))
if mode == "close":
    watch.close()
started = time.monotonic()
heads[0].kill()
out["reported"] = lost.wait(3)
out["after_s"] = time.monotonic() - started
out["reasons"], out["raylet"] = reasons, heads[0].pid
out["ended"] = end_descendants(grace_s=2)
out["orphan_alive"] = os.path.exists(f"/proc/{orphan}")
out["orphan"] = orphan
print(json.dumps(out))
"""


def run_watch(tmp_path, mode: str) -> dict:
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path), mode], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=60)
    finally:  # whatever the script left, should it fail half-way
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == 0, stderr[-2000:]
    return json.loads(stdout.strip().splitlines()[-1])


def test_a_dead_head_process_is_reported_at_once_and_orphans_are_ended(tmp_path):
    out = run_watch(tmp_path, "watch")
    assert out["subreaper"] and out["orphan_ppid_is_us"]
    assert out["reported"] and out["after_s"] < 2, out
    assert out["reasons"] == [f"the Ray cluster is gone: raylet (pid {out['raylet']}) exited"]
    ended = {int(e.split()[0]): e.split()[1] for e in out["ended"]}
    assert ended[out["orphan"]] == "sleep" and "gcs_server" in ended.values(), out
    assert out["raylet"] not in ended  # already dead: reaped, not reported as running
    assert not out["orphan_alive"]


def test_a_stop_on_purpose_is_not_reported(tmp_path):
    out = run_watch(tmp_path, "close")
    assert not out["reported"] and out["reasons"] == [], out
    assert not out["orphan_alive"]
