"""The machine a benchmark runs on: CPU used by this run's processes and everyone else's
(from /proc), and a description of the machine and the commit for the report."""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.config import PROJECT_ROOT


@dataclass(frozen=True)
class CpuUse:
    """CPU used over a wall-clock window: this run's processes by title, and everyone else's."""

    wall_s: float
    by_title: dict[str, float]  # CPU seconds of this process and its descendants (Ray), by title
    others_cores: float  # average cores used by every other process on the machine

    def share(self, title: str) -> float:
        """Average share of one core."""
        return self.by_title.get(title, 0.0) / self.wall_s if self.wall_s else 0.0


class CpuMeter:
    def __init__(self) -> None:
        self._procs, self._busy, self._t = process_cpu(), machine_busy_s(), time.perf_counter()

    def stop(self) -> CpuUse:
        procs, busy, wall = process_cpu(), machine_busy_s(), time.perf_counter() - self._t
        by_title = cpu_by_title(self._procs, procs)
        others = (busy - self._busy - sum(by_title.values())) / wall if wall else 0.0
        return CpuUse(wall, by_title, max(0.0, others))


def stat_cpu_seconds(fields: list[str]) -> float:
    """utime + stime + cutime + cstime of /proc/PID/stat's fields after the command name: short-lived
    children (tesseract) are reaped between readings, and only their parent's counters keep their CPU."""
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return stat_cpu_seconds(raw[raw.rindex(")") + 2:].split())


def process_cpu() -> dict[int, float]:
    """CPU seconds of this process and every descendant (Ray's daemons and workers), by pid."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        stats[int(entry.name)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    out: dict[int, float] = {}
    todo = [os.getpid()]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        if pid in stats:
            out[pid] = stat_cpu_seconds(stats[pid])
    return out


def cpu_by_title(before: dict[int, float], after: dict[int, float]) -> dict[str, float]:
    """CPU seconds spent between two process_cpu() readings, summed by process title."""
    out: Counter[str] = Counter()
    for pid, seconds in after.items():
        out[process_title(pid)] += seconds - before.get(pid, 0.0)
    return dict(out)


def process_title(pid: int) -> str:
    if pid == os.getpid():
        return "client (this process)"
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return "?"
    if argv0.startswith("ray::"):  # a worker's title gains ".method" while it runs an actor task
        return argv0.strip().removeprefix("ray::").split(".", 1)[0]
    return Path(argv0).name


def machine_busy_s() -> float:
    """Non-idle CPU seconds of every process on the machine since boot (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def machine_info() -> dict[str, str]:
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    cpu, mem_kb = "unknown", 0
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    changed = len(git("status", "--porcelain", "--untracked-files=no").splitlines())
    load1, load5, _ = os.getloadavg()
    return {
        "nproc": nproc, "cpu": cpu, "ram": f"{mem_kb / 2**20:.1f} GiB",
        "commit": f"`{git('rev-parse', '--short', 'HEAD') or 'unknown'}`"
        + (f" + uncommitted changes in {changed} tracked files" if changed else ""),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load": f"{load1:.2f} / {load5:.2f}",
    }


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=PROJECT_ROOT, check=False).stdout.strip()
