"""Where one-ad-per-call requests lose time on the way through Ray Serve, and what each fix buys.

    .venv/bin/python -m benchmarks.hops [--seconds 15] [--out docs/benchmarks.md]

One short ad copy per call is the worst case for a served model (≈3 ms of model work, four
hops: proxy → Ingress → TextEncoder → RiskScorer, plus the decision store). The harness starts
the service once per step, each step adding one of Ray Serve's own throughput options to the
last (they are environment variables read by every Serve process, so each step is a fresh Ray):

  1. defaults;
  2. user code and the handle router on the replica's main event loop (no cross-thread hops);
  3. gRPC instead of Ray actor calls between deployments (the proxy keeps actor calls);
  4. direct ingress: the Ingress replica serves HTTP and gRPC itself, the client skips the proxy
     (steps 2–4 are what configs/serve/ray_env.yaml `local` sets: adrisk's default);
  5. request-path logs buffered in memory and not copied to stderr (measured, not adopted).

Each step is measured closed-loop (32 clients, aiohttp and grpc.aio) against the in-process
baseline of benchmarks.entrypoints. Under the first and the default step it also profiles the
serving processes: /proc gives each process's CPU, py-spy (`--gil`) says which layer held the
GIL for it, and the rest is native work with the GIL released (Ray's C++ core, torch kernels).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import cpu_profile
from benchmarks.entrypoints import grpc_loop, http_load, http_loop, inprocess, profiled
from benchmarks.report import publish
from benchmarks.serving_vs_inprocess import CpuMeter, machine_info
from commands.ray_env import OFF_SWITCH, load_ray_env
from core.net import free_port

PROFILED = ("ProxyActor", "ServeReplica:adrisk:Ingress", "ServeReplica:adrisk:TextEncoder",
            "ServeReplica:adrisk:RiskScorer")


@dataclass
class Step:
    name: str
    env: dict[str, str]
    direct: bool = False  # the client talks to the Ingress replica's own port


STEPS: tuple[Step, ...] = (
    Step("Ray Serve defaults", {}),
    Step("+ user code and router on the replica's event loop",
         {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0", "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0"}),
    # The proxy keeps actor calls: its gRPC path lost clean 503 shedding at 3× (configs/serve/ray_env.yaml).
    Step("+ gRPC between deployments", {"RAY_SERVE_USE_GRPC_BY_DEFAULT": "1", "RAY_SERVE_PROXY_USE_GRPC": "0"}),
    Step("+ direct ingress (no proxy hop) = adrisk's default", {"RAY_SERVE_ENABLE_DIRECT_INGRESS": "1"},
         direct=True),
    Step("+ request-path logs buffered, not copied to stderr (not adopted)",
         {"RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE": "1000", "RAY_SERVE_LOG_TO_STDERR": "0"}, direct=True),
)
DEFAULT_STEP = 3  # the row whose environment configs/serve/ray_env.yaml `local` sets

SERVE_FLAGS = ("RAY_SERVE_THROUGHPUT_OPTIMIZED", *sorted({k for s in STEPS for k in s.env}))


@dataclass
class StepResult:
    step: Step
    http: float
    grpc: float
    cpu_cores: dict[str, float] = field(default_factory=dict)
    profile: list[cpu_profile.Profile] = field(default_factory=list)


def child(port: int, grpc_port: int) -> None:
    """Run the service until stdin closes; print one JSON line with where it listens."""
    import tempfile

    from commands.launcher import direct_ingress_targets, start_local, stop_local

    store = Path(tempfile.mkdtemp(prefix="adrisk-hops-")) / "d.sqlite3"
    start_local(profile="cpu", host="127.0.0.1", port=port, grpc_port=grpc_port,
                overrides={"store": {"path": str(store)}, "llm": None})
    try:
        print(json.dumps({"direct": direct_ingress_targets()}), flush=True)
        sys.stdin.read()
    finally:
        stop_local()


def profile_http(url: str, seconds: float) -> list[cpu_profile.Profile]:
    """py-spy --gil on each serving process while HTTP single calls run; /proc gives the total."""
    return asyncio.run(profiled(http_load(url, seconds + 6, 1), seconds))[1]


def run_step(step: Step, env: dict[str, str], seconds: float, profile: bool) -> StepResult:
    port, grpc_port = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.hops", "--child", str(port), str(grpc_port)],
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"service for step {step.name!r} did not start")
        direct = json.loads(line)["direct"]
        http_port, grpc_target = port, grpc_port
        if step.direct:
            if not direct["http"] or not direct["grpc"]:
                raise RuntimeError(f"direct ingress is on but the Ingress replica has no ports: {direct}")
            http_port, grpc_target = direct["http"][0], direct["grpc"][0]
        url = f"http://127.0.0.1:{http_port}"
        asyncio.run(http_loop(url, 5, 1))  # warm-up
        meter = CpuMeter()
        http = asyncio.run(http_loop(url, seconds, 1))
        use = meter.stop()
        grpc = asyncio.run(grpc_loop(f"127.0.0.1:{grpc_target}", seconds, 1))
        result = StepResult(step, http, grpc, {t: use.share(t) for t in PROFILED})
        if profile:
            result.profile = profile_http(url, min(seconds, 12))
        return result
    finally:
        proc.stdin.close()
        proc.wait(timeout=120)


def measure(seconds: float) -> tuple[float, list[StepResult]]:
    baseline = inprocess(seconds)
    base_env = {k: v for k, v in os.environ.items() if k not in SERVE_FLAGS} | {OFF_SWITCH: "off"}
    adopted = {k: v for step in STEPS[:DEFAULT_STEP + 1] for k, v in step.env.items()}
    local = load_ray_env().local
    if {k: local.get(k) for k in adopted} != adopted:
        raise SystemExit(f"configs/serve/ray_env.yaml `local` no longer matches step {DEFAULT_STEP + 1}: {local}")
    env, results = dict(base_env), []
    for index, step in enumerate(STEPS):
        env.update(step.env)
        profile = cpu_profile.available() and index in (0, DEFAULT_STEP)
        results.append(run_step(step, dict(env), seconds, profile))
        print(f"{step.name}: HTTP {results[-1].http:.1f} ads/s, gRPC {results[-1].grpc:.1f} ads/s", flush=True)
    return baseline, results


def short(title: str) -> str:
    return title.removeprefix("ServeReplica:adrisk:")


def render(seconds: float, baseline: float, results: list[StepResult]) -> str:
    info = machine_info()
    lines = [
        f"- Date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {info['commit']}; "
        f"`python -m benchmarks.hops --seconds {seconds:g}`",
        f"- Machine: nproc {info['nproc']}, {info['cpu']}, {info['ram']} RAM; profile cpu without the LLM; "
        "one short ad copy per call, 32 concurrent clients (aiohttp / grpc.aio) on the same cores; "
        "every ad is scored and stored.",
        f"- In-process baseline (MiniLM batches of 32 + the head set, one process): **{baseline:.0f} ads/s**.",
        "", "Each step keeps the ones above it (environment variables of every Serve process); "
        f"step {DEFAULT_STEP + 1} is what `configs/serve/ray_env.yaml` (`local`) sets.", "",
        "| step | HTTP ads/s | ÷ in-process | × previous | gRPC ads/s | ÷ in-process | × previous | "
        "CPU % proxy / ingress / encoder / scorer |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    prev = None
    for r in results:
        cpu = " / ".join(f"{100 * r.cpu_cores.get(t, 0):.0f}" for t in PROFILED)
        ratio_http = f"×{r.http / prev.http:.2f}" if prev else "—"
        ratio_grpc = f"×{r.grpc / prev.grpc:.2f}" if prev else "—"
        lines.append(f"| {r.step.name} | {r.http:.1f} | {r.http / baseline:.2f} | {ratio_http} | {r.grpc:.1f} | "
                     f"{r.grpc / baseline:.2f} | {ratio_grpc} | {cpu} |")
        prev = r
    first, chosen = results[0], results[DEFAULT_STEP]
    lines += ["", f"Defaults → adrisk's default: HTTP ×{chosen.http / first.http:.2f}, "
              f"gRPC ×{chosen.grpc / first.grpc:.2f}.", ""]
    for r in (first, chosen):
        if not r.profile:
            continue
        lines += [f"### Where the CPU goes: {r.step.name} (HTTP, one ad per call)", "",
                  "Cores each process kept busy, by the layer that held the GIL (py-spy `--gil`, 50 Hz); "
                  "the native row is /proc CPU minus GIL time.", ""]
        profiles = sorted(r.profile, key=lambda p: PROFILED.index(p.title))
        layers = sorted({k for p in profiles for k in p.cores}, key=lambda k: -sum(p.cores.get(k, 0) for p in profiles))
        lines.append("| layer | " + " | ".join(short(p.title) for p in profiles) + " | all |")
        lines.append("|---|" + "---:|" * (len(profiles) + 1))
        for layer in layers:
            values = [p.cores.get(layer, 0.0) for p in profiles]
            if sum(values) < 0.005:
                continue
            lines.append(f"| {layer} | " + " | ".join(f"{v:.2f}" for v in values) + f" | {sum(values):.2f} |")
        lines.append("| **total** | " + " | ".join(f"**{p.total:.2f}**" for p in profiles)
                     + f" | **{sum(p.total for p in profiles):.2f}** |")
        lines.append("")
    return "\n".join(lines).rstrip()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    baseline, results = measure(args.seconds)
    publish(render(args.seconds, baseline, results),
            "Single-call overhead: profile and Ray Serve's throughput options", "hops", args.out)


if __name__ == "__main__":
    main()
