"""`make load`: payloads → service (started here unless --url) → locust headless → summary.

    python -m load_tests.run [--users 16] [--spawn-rate 4] [--time 60s] [--out docs/load]
    python -m load_tests.run --url http://127.0.0.1:8000 --grpc 127.0.0.1:9000   # a running service

Locust runs in its own process (it must not share one with Ray or torch). Bounded by design:
users, spawn rate and duration are flags, and only 127.0.0.1 targets are accepted. Writes
locust's CSV and HTML reports plus `summary.md` (req/s, p50/p95/p99 per request type, errors,
overload answers) into --out.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import signal
import subprocess
import sys
from pathlib import Path

from commands.launcher import wait_ready
from core.net import free_port

ROOT = Path(__file__).resolve().parents[1]


def start_service(profile: str, scratch: Path) -> tuple[subprocess.Popen, str, str]:
    port, grpc_port = free_port(), free_port()
    log = (scratch / "service.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "commands.cli", "serve", "--profile", profile, "--port", str(port),
         "--grpc-port", str(grpc_port), "--store", str(scratch / "decisions.sqlite3")],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, f"http://127.0.0.1:{port}", f"127.0.0.1:{grpc_port}"


def summarise(out: Path, params: dict[str, str]) -> str:
    with (out / "stats_stats.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    failures: dict[str, dict[str, int]] = {}
    if (out / "stats_failures.csv").exists():
        with (out / "stats_failures.csv").open() as fh:
            for row in csv.DictReader(fh):
                kind = "overloaded" if "503" in row["Error"] or "RESOURCE_EXHAUSTED" in row["Error"] else "errors"
                failures.setdefault(row["Name"], {}).setdefault(kind, 0)
                failures[row["Name"]][kind] += int(row["Occurrences"])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    lines = [
        "# adrisk load test", "",
        f"- {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {commit or '?'}, machine: {os.cpu_count()} CPUs, "
        f"{platform.processor() or platform.machine()}",
        "- " + ", ".join(f"{k} {v}" for k, v in params.items()),
        "- Reports: `report.html`, `stats_stats.csv`, `stats_failures.csv` beside this file.", "",
        "| type | name | requests | req/s | p50 ms | p95 ms | p99 ms | errors | overloaded (503) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        name = row["Name"]
        fail = failures.get(name, {})
        lines.append(f"| {row['Type'] or ''} | {name} | {row['Request Count']} | {float(row['Requests/s']):.1f} | "
                     f"{row['50%']} | {row['95%']} | {row['99%']} | {fail.get('errors', 0)} | "
                     f"{fail.get('overloaded', 0)} |")
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=None, help="a running service (127.0.0.1 only); else one is started")
    parser.add_argument("--grpc", default=None, help="its gRPC target (with --url)")
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--spawn-rate", type=float, default=4)
    parser.add_argument("--time", default="60s", help="locust --run-time")
    parser.add_argument("--out", default="docs/load")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--summaries", action="store_true", help="include LLM summaries in the mix")
    parser.add_argument("--users-classes", nargs="*", default=["HttpReviewer", "GrpcReviewer"])
    args = parser.parse_args(argv)
    if args.users > 256:
        raise SystemExit("--users is bounded at 256")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    scratch = ROOT / "var" / "load"  # payloads, the service's log and decision store: not reports
    scratch.mkdir(parents=True, exist_ok=True)
    payloads = scratch / "payloads.json"
    subprocess.run([sys.executable, "-m", "load_tests.payloads", "--out", str(payloads)], cwd=ROOT, check=True)

    proc = None
    url, grpc_target = args.url, args.grpc
    if url is None:
        proc, url, grpc_target = start_service(args.profile, scratch)
        print(f"starting the service at {url} (gRPC {grpc_target}); log: {scratch / 'service.log'}", flush=True)
    try:
        wait_ready(url, 600)  # commands.launcher's: light (no Ray import), TimeoutError with the last answer
        env = {**os.environ, "LOAD_PAYLOADS": str(payloads), "LOAD_GRPC_TARGET": grpc_target or "127.0.0.1:9000",
               "LOAD_SUMMARIES": "1" if args.summaries else "0"}
        locust = [sys.executable, "-m", "locust", "-f", str(ROOT / "load_tests" / "locustfile.py"), "--headless",
                  "-u", str(args.users), "-r", str(args.spawn_rate), "-t", args.time, "--host", url,
                  "--csv", str(out / "stats"), "--html", str(out / "report.html"), "--only-summary",
                  "--stop-timeout", "30", *args.users_classes]
        done = subprocess.run(locust, cwd=ROOT, env=env, timeout=3600)
        if done.returncode not in (0, 1):  # 1: some requests failed (reported in the summary)
            raise SystemExit(f"locust exited with {done.returncode}")
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)  # `adrisk serve` stops Serve and Ray itself
            try:
                proc.wait(timeout=180)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # last resort: the whole process group
                proc.wait(timeout=30)
    print(summarise(out, {"users": str(args.users), "spawn rate": f"{args.spawn_rate}/s", "duration": args.time,
                          "classes": " + ".join(args.users_classes), "summaries": str(args.summaries)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
