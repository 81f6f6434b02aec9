"""Cluster-wide state on PostgreSQL, end to end: `python -m benchmarks.cluster_state` as a real
subprocess (its own two-node Ray cluster and throwaway PostgreSQL, apart from the session's
service), which must pass all four checks and leave no process of its cluster or database behind."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from benchmarks.local_cluster import tagged_processes
from core.config import PROJECT_ROOT

pytestmark = pytest.mark.slow


def test_two_nodes_on_one_postgresql_share_decisions_verdicts_rollouts_and_history():
    tag = f"test-{uuid.uuid4().hex[:10]}"
    done = subprocess.run([sys.executable, "-m", "benchmarks.cluster_state", "--tag", tag], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=600)
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-4000:]
    for key in "abcd":
        assert f"**PASS ({key})" in out, out
    assert "FAIL" not in out
    assert "Ingress A: app `adrisk`, route `/a`" in out and "on node A" in out
    assert "Ingress B: app `adrisk-b`, route `/b`" in out and "on node B" in out
    assert "); 0 left" in out and "left behind" not in out
    assert tagged_processes(tag) == {}, "processes of the check's cluster are still running"
    pg_dir = next(word for word in out.split("`") if word.startswith("/tmp/adrisk-pg-"))
    assert not any(pg_dir in line for line in _command_lines()), "the throwaway PostgreSQL is still running"


def _command_lines() -> list[str]:
    import psutil

    lines = []
    for proc in psutil.process_iter(["cmdline"]):
        lines.append(" ".join(proc.info["cmdline"] or []))
    return lines
