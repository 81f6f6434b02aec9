"""Text ads/s through each entry point, against the replica's own work in-process, in one run.

    .venv/bin/python -m benchmarks.entrypoints [--seconds 10] [--variant NAME=JSON ...] [--profile]
                                               [--out docs/benchmarks.md]

The text path is where per-request overhead shows (the model work per ad copy is ~3 ms).

In-process (no Ray), the replicas' work and nothing else, at 1 and at 2 torch threads: the
TextEncoder's (`SentenceTransformerEncoder.predict` on batches of 32, rows cast to float16 as the
replica returns them) and the RiskScorer's (`HeadScorer.predict` on the jobs the pipeline builds:
`serving.stages.extract.prepare` takes each ad apart exactly as the ingress does). A second
in-process row runs the whole `ReviewPipeline` (prepare → models → decide → record into a SQLite
store) with the models called directly: what the ingress's own Python costs per ad without Ray.

Served, one fresh service per variant (profile overrides as JSON; default: the profile as is),
closed loop, LLM off, fresh request_ids so every ad is scored and stored: 16 ads per
`/v1/review:batch` call from 4 callers, then single `/v1/review` calls from 32 callers straight
to the Ingress replica's own port (direct ingress) and through the Serve proxy, and gRPC through
the proxy. The CPU each serving process used per phase comes from /proc; with --profile, py-spy
(`--gil`) says which layer held each process's GIL during the batch and direct single phases.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import cpu_profile
from benchmarks.machine import CpuMeter, cpu_seconds, machine_info, process_title
from benchmarks.report import publish
from core.net import free_port

TEXTS = ["Double your bitcoin in 24 hours, guaranteed", "Fresh sourdough bread delivered daily",
         "Lose 10 kg in a week with one pill", "Handmade oak furniture, free delivery", "Learn Spanish online"]
INPROCESS_BATCH = 32
SERVING = ("ProxyActor", "ServeReplica:adrisk:Ingress", "ServeReplica:adrisk:TextEncoder",
           "ServeReplica:adrisk:RiskScorer")
NATIVE = "native, GIL released (Ray core C++, torch kernels, syscalls)"


def ad(i: int) -> dict:
    return {"request_id": f"ep-{uuid.uuid4().hex[:12]}", "creative": {"text": f"{TEXTS[i % len(TEXTS)]} #{i}"}}


# ------------------------------------------------------------------------------ in-process
@dataclass(frozen=True)
class InProcess:
    replica_work: dict[int, float]  # torch threads → ads/s (encoder + scorer, batches of 32)
    pipeline: dict[int, float]  # torch threads → ads/s (the whole ReviewPipeline, models called directly)


def _models(config):
    from models.scoring import HeadScorer
    from models.text_encoder import SentenceTransformerEncoder

    encoder = SentenceTransformerEncoder(config.text_encoder)
    encoder.setup()
    encoder.predict(["warm-up"])
    scorer = HeadScorer(config)
    scorer.setup()
    return encoder, scorer


def _embed(encoder, texts: list[str]):
    """The TextEncoder replica's answer: its predict rows as float16, stacked by the caller."""
    import numpy as np

    rows = [v.astype(np.float16) for v in encoder.predict(texts)]
    return np.stack(rows) if rows else np.zeros((0, encoder.dim), dtype=np.float16)


def replica_work_rate(config, encoder, scorer, page_head, seconds: float) -> float:
    """Encoder + scorer on the jobs the pipeline would build, batches of 32 fresh ads."""
    from core.schemas import ReviewRequest
    from models.scoring import ScoreJob
    from serving.stages.extract import prepare

    pool = [prepare(ReviewRequest.model_validate(ad(i)), config, None, page_head) for i in range(INPROCESS_BATCH * 8)]
    chunks = [pool[k:k + INPROCESS_BATCH] for k in range(0, len(pool), INPROCESS_BATCH)]

    def one(ads) -> None:
        vectors = _embed(encoder, [p.text for a in ads for p in a.texts])
        jobs, at = [], 0
        for a in ads:
            rows = vectors[at:at + len(a.texts)]
            at += len(a.texts)
            jobs.append(ScoreJob(texts=a.texts, text_embeddings=rows if len(rows) else None, url=a.url, images=[],
                                 signals=a.signals, page_gate=a.page_gate))
        scorer.predict(jobs)

    one(chunks[0])
    done, started, k = 0, time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        one(chunks[k % len(chunks)])
        done, k = done + INPROCESS_BATCH, k + 1
    return done / (time.perf_counter() - started)


def pipeline_rate(config, encoder, scorer, seconds: float) -> float:
    """The whole review pipeline in this process, 32 fresh ads per review_many, SQLite store."""
    from core.schemas import ReviewRequest
    from core.store import SQLiteDecisionStore
    from serving.pipeline import ReviewPipeline

    async def embed(texts):
        return _embed(encoder, texts)

    async def score(payload):
        return scorer.predict(payload[0])

    async def no_media(media):
        raise AssertionError("text-only benchmark")

    async def run() -> float:
        with tempfile.TemporaryDirectory(prefix="adrisk-ep-") as tmp:
            store = SQLiteDecisionStore(Path(tmp) / "d.sqlite3")
            pipeline = ReviewPipeline(config, no_media, embed, score, store)
            batch = lambda: [ReviewRequest.model_validate(ad(i)) for i in range(INPROCESS_BATCH)]  # noqa: E731
            await pipeline.review_many(batch())
            done, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds:
                out = await pipeline.review_many(batch())
                done += sum(1 for o in out if not isinstance(o, Exception))
            return done / (time.perf_counter() - started)

    return asyncio.run(run())


def measure_inprocess(seconds: float, threads: tuple[int, ...] = (1, 2)) -> InProcess:
    import torch

    from core.config import load_config, resolve_project_path
    from models.page_phishing import PagePhishingHead

    config = load_config("cpu", {"llm": None})
    encoder, scorer = _models(config)
    page_head = PagePhishingHead.load(resolve_project_path(config.heads.page))
    work, whole = {}, {}
    for n in threads:
        torch.set_num_threads(n)
        work[n] = replica_work_rate(config, encoder, scorer, page_head, seconds)
        whole[n] = pipeline_rate(config, encoder, scorer, seconds)
        print(f"[bench] in-process {n} thread(s): replica work {work[n]:.1f} ads/s, pipeline {whole[n]:.1f} ads/s",
              file=sys.stderr, flush=True)
    torch.set_num_threads(1)
    return InProcess(work, whole)


def inprocess(seconds: float) -> float:
    """The replica's work at the profile's thread settings (benchmarks.hops' baseline)."""
    return measure_inprocess(seconds, (1,)).replica_work[1]


# ---------------------------------------------------------------------------------- clients
@dataclass
class Load:
    ads_per_s: float
    calls: int = 0
    failures: dict[str, int] = field(default_factory=dict)


async def http_loop(url: str, seconds: float, batch: int, concurrency: int = 32) -> float:
    return (await http_load(url, seconds, batch, concurrency)).ads_per_s


async def http_load(url: str, seconds: float, batch: int, concurrency: int = 32) -> Load:
    import aiohttp

    done, calls, failures = 0, 0, {}
    stop = time.perf_counter() + seconds

    async def worker(session) -> None:
        nonlocal done, calls
        while time.perf_counter() < stop:
            calls += 1
            if batch == 1:
                async with session.post(f"{url}/v1/review", json=ad(calls)) as resp:
                    await resp.read()
                    status = resp.status
                    done += status == 200
            else:
                async with session.post(f"{url}/v1/review:batch",
                                        json={"items": [ad(calls * batch + i) for i in range(batch)]}) as r:
                    body = await r.json(content_type=None)
                    status = r.status
                    done += sum(item["ok"] for item in body["results"]) if status == 200 else 0
            if status != 200:
                failures[str(status)] = failures.get(str(status), 0) + 1
                await asyncio.sleep(0.2)  # shed (503 + Retry-After): back off as a client would

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120),
                                     connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return Load(done / (time.perf_counter() - started), calls, failures)


async def grpc_loop(target: str, seconds: float, batch: int, concurrency: int = 32) -> float:
    import grpc
    from google.protobuf import json_format

    from serving.proto import adrisk_pb2 as pb
    from serving.proto import adrisk_pb2_grpc

    done = 0
    stop = time.perf_counter() + seconds
    metadata = [("application", "adrisk")]
    async with grpc.aio.insecure_channel(target) as channel:
        stub = adrisk_pb2_grpc.AdriskStub(channel)

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                try:
                    if batch == 1:
                        await stub.Review(json_format.ParseDict(ad(0), pb.ReviewRequest()), metadata=metadata,
                                          timeout=120)
                        done += 1
                    else:
                        items = [json_format.ParseDict(ad(i), pb.ReviewRequest()) for i in range(batch)]
                        out = await stub.ReviewBatch(pb.BatchReviewRequest(items=items), metadata=metadata,
                                                     timeout=120)
                        done += sum(r.ok for r in out.results)
                except grpc.aio.AioRpcError as err:  # shed by the admission gate: back off
                    if err.code() not in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE):
                        raise
                    await asyncio.sleep(0.2)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - started)


# ----------------------------------------------------------------------------------- served
@dataclass(frozen=True)
class Phase:
    key: str
    title: str
    door: str  # "proxy", "direct" or "grpc"
    batch: int
    concurrency: int


PHASES = (
    Phase("batch", "HTTP `/v1/review:batch`, 16 ads per call, 4 callers, proxy", "proxy", 16, 4),
    Phase("batch_direct", "HTTP `/v1/review:batch`, 16 ads per call, 4 callers, direct ingress", "direct", 16, 4),
    Phase("single_direct", "HTTP `/v1/review`, 1 ad per call, 32 callers, direct ingress", "direct", 1, 32),
    Phase("single_proxy", "HTTP `/v1/review`, 1 ad per call, 32 callers, proxy", "proxy", 1, 32),
    Phase("grpc_single", "gRPC `Review`, 1 ad per call, 32 callers, proxy", "grpc", 1, 32),
)
PROFILED_PHASES = ("batch", "single_direct")
# The ladder of docs/benchmarks.md: the profile's graph (core/config/profile.py), the encoder's threads.
# Two 1-thread TextEncoder replicas: the encoder's other way onto the second core (two torch threads
# in one replica thrash beside the ingress and the client); 0.4 CPU each keeps the app within 2 CPUs.
TWO_ENCODERS = {"serve.TextEncoder.num_replicas": 2, "serve.TextEncoder.ray_actor_options": {"num_cpus": 0.4}}
DEFAULT_VARIANTS: list[tuple[str, str | None, dict[str, Any]]] = [
    ("split", None, {"graph": "split"}),
    ("split, encoder 2 threads", None, {"graph": "split", "text_encoder.torch_threads": 2}),
    ("split, 2 encoder replicas", None, {"graph": "split", **TWO_ENCODERS}),
    ("local_scorer", None, {"graph": "local_scorer"}),
    ("local_scorer, 2 encoder replicas", None, {"graph": "local_scorer", **TWO_ENCODERS}),
    ("fused", None, {"graph": "fused"}),
    ("fused, encoder 2 threads", None, {"graph": "fused", "text_encoder.torch_threads": 2}),
]


@dataclass
class PhaseResult:
    phase: Phase
    load: Load
    cpu: dict[str, float]  # cores by serving process title
    others: float  # cores every other process on the machine used meanwhile
    profile: list[cpu_profile.Profile] = field(default_factory=list)


@dataclass
class VariantResult:
    name: str
    tree: str | None  # another checkout whose code ran (None: this one)
    overrides: dict[str, Any]
    load_before: str
    phases: list[PhaseResult]


def child(port: int, grpc_port: int, overrides: str) -> None:
    """Run the service until stdin closes; print one JSON line with where it listens."""
    from commands.launcher import direct_ingress_targets, start_local, stop_local

    scratch = Path(tempfile.mkdtemp(prefix="adrisk-ep-"))
    profile_overrides, serve_config = split_overrides(json.loads(overrides), scratch)
    start_local(profile="cpu", serve_config=serve_config, host="127.0.0.1", port=port, grpc_port=grpc_port,
                overrides={"store": {"path": str(scratch / "d.sqlite3")}, "llm": None, **expand(profile_overrides)})
    try:
        print(json.dumps({"direct": direct_ingress_targets()}), flush=True)
        sys.stdin.read()
    finally:
        stop_local()


def split_overrides(overrides: dict[str, Any], scratch: Path) -> tuple[dict[str, Any], Path | None]:
    """Profile overrides, and a copy of configs/serve/cpu.yaml with the `serve.DEPLOYMENT.OPTION` keys
    applied (e.g. {"serve.TextEncoder.num_replicas": 2}); None where there are none."""
    import yaml

    from commands.launcher import read_serve_config

    serve_keys = {k: v for k, v in overrides.items() if k.startswith("serve.")}
    profile = {k: v for k, v in overrides.items() if k not in serve_keys}
    if not serve_keys:
        return profile, None
    doc = read_serve_config(None, "cpu")
    deployments = {d["name"]: d for d in doc["applications"][0]["deployments"]}
    for key, value in serve_keys.items():
        _, deployment, option = key.split(".", 2)
        deployments[deployment][option] = value
    path = scratch / "serve.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    read_serve_config(path, "cpu")  # Ray's schema and unknown keys, as `adrisk serve` checks them
    return profile, path


def expand(overrides: dict[str, Any]) -> dict[str, Any]:
    """Profile overrides where `section.field` keys change one field of the profile's section (load_config
    replaces whole sections): {"text_encoder.torch_threads": 2}."""
    from core.config import load_config

    config, out = load_config("cpu"), {}
    for key, value in overrides.items():
        section, dot, name = key.partition(".")
        if dot:
            out.setdefault(section, getattr(config, section).model_dump())[name] = value
        else:
            out[key] = value
    return out


def serving_pids() -> dict[str, int]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (title := process_title(int(entry.name))) in SERVING:
            found[title] = int(entry.name)
    return found


async def profiled(run, seconds: float) -> tuple[Load, list[cpu_profile.Profile]]:
    """py-spy --gil on each serving process in the middle of `run`'s load; /proc gives the totals."""
    pids = serving_pids()
    load = asyncio.create_task(run)
    await asyncio.sleep(2)
    before = {title: cpu_seconds(pid) for title, pid in pids.items()}
    started = time.perf_counter()
    profiles = await asyncio.to_thread(cpu_profile.record, pids, seconds, 50, True)
    wall = time.perf_counter() - started
    after = {title: cpu_seconds(pid) for title, pid in pids.items()}
    out = []
    for prof in profiles:
        cores = dict(prof.cores)
        cores[NATIVE] = max(0.0, (after[prof.title] - before[prof.title]) / wall - sum(cores.values()))
        out.append(cpu_profile.Profile(prof.title, cores))
    return await load, out


def run_variant(name: str, tree: str | None, overrides: dict[str, Any], seconds: float,
                profile: bool) -> VariantResult:
    port, grpc_port = free_port(), free_port()
    load_before = "{:.2f} / {:.2f}".format(*os.getloadavg()[:2])
    cmd, env, cwd = harness(tree, "--child", str(port), str(grpc_port), json.dumps(overrides))
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"service for variant {name!r} did not start")
        direct = json.loads(line)["direct"]["http"]
        if not direct:
            raise RuntimeError("direct ingress is off: configs/serve/ray_env.yaml `local` should turn it on")
        urls = {"proxy": f"http://127.0.0.1:{port}", "direct": f"http://127.0.0.1:{direct[0]}"}
        asyncio.run(http_load(urls["direct"], 4, 1))  # warm-up: connections, lazy imports, batch queues
        asyncio.run(http_load(urls["proxy"], 3, 16, 4))
        results = []
        for phase in PHASES:
            meter = CpuMeter()
            if phase.door == "grpc":
                load = Load(asyncio.run(grpc_loop(f"127.0.0.1:{grpc_port}", seconds, 1, phase.concurrency)))
                profiles = []
            else:
                run = http_load(urls[phase.door], seconds, phase.batch, phase.concurrency)
                if profile and phase.key in PROFILED_PHASES and cpu_profile.available():
                    load, profiles = asyncio.run(profiled(run, max(4.0, seconds - 4)))
                else:
                    load, profiles = asyncio.run(run), []
            use = meter.stop()
            results.append(PhaseResult(phase, load, {t: use.share(t) for t in SERVING}, use.others_cores, profiles))
            print(f"[bench] {name} {phase.key}: {load.ads_per_s:.1f} ads/s, failures {load.failures or 'none'}",
                  file=sys.stderr, flush=True)
        return VariantResult(name, tree, overrides, load_before, results)
    finally:
        proc.stdin.close()
        proc.wait(timeout=120)


# ----------------------------------------------------------------------------------- report
def short(title: str) -> str:
    return title.removeprefix("ServeReplica:adrisk:")


def tree_name(tree: str | None) -> str:
    if tree is None:
        return "this checkout"
    commit = subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            check=False).stdout.strip()
    return f"`{commit or tree}` (worktree {tree})"


def render(args: argparse.Namespace, inproc: dict[str | None, InProcess], variants: list[VariantResult],
           load_start: str) -> str:
    info = machine_info()
    command = "python -m benchmarks.entrypoints" + (f" --seconds {args.seconds:g}" if args.seconds != 10 else "") + \
        "".join(f" --variant '{v}'" for v in args.variant or []) + (" --profile" if args.profile else "") + \
        (f" --section {args.section}" if args.section != "entrypoints" else "")
    lines = [
        f"- Date {info['date']}, commit {info['commit']}; `{command}`",
        f"- Machine: nproc {info['nproc']}, {info['cpu']}, {info['ram']} RAM; load average (1/5 min) before the "
        f"run {load_start}; profile cpu without the LLM; aiohttp / grpc.aio clients on the same cores; "
        "every ad is scored and stored (fresh request_ids).",
        "- In-process (one process, no Ray), the replicas' work only: MiniLM `predict` on batches of 32 (float16 "
        "rows, as the TextEncoder answers) + `HeadScorer.predict` on the jobs `serving.stages.extract.prepare` "
        "builds, at 1 and 2 torch threads; and the whole `ReviewPipeline` in-process (prepare, decide, SQLite "
        "record; models called directly). Each code tree measured on its own code:",
        "",
        "| code | replica work, 1 thread | replica work, 2 threads | whole pipeline, 1 thread | "
        "whole pipeline, 2 threads |",
        "|---|---:|---:|---:|---:|",
    ]
    for tree, got in inproc.items():
        lines.append(f"| {tree_name(tree)} | {got.replica_work[1]:.0f} ads/s | {got.replica_work[2]:.0f} ads/s | "
                     f"{got.pipeline[1]:.0f} ads/s | {got.pipeline[2]:.0f} ads/s |")
    lines += [
        "",
        "Served (ratios against the in-process replica work of the same code; × first: against the first "
        "variant's same entry point, same run):",
        "",
        "| variant | entry point | served ads/s | ÷ in-process 1 thread | ÷ in-process 2 threads | × first | "
        "non-200 | CPU % proxy / ingress / encoder / scorer | other processes (cores) |",
        "|---|---|---:|---:|---:|---:|---|---|---:|",
    ]
    first = {r.phase.key: r.load.ads_per_s for r in variants[0].phases}
    for v in variants:
        base = inproc[v.tree].replica_work
        for r in v.phases:
            cpu = " / ".join(f"{100 * r.cpu.get(t, 0):.0f}" for t in SERVING)
            fails = ", ".join(f"{k}×{n}" for k, n in r.load.failures.items()) or "—"
            rate = r.load.ads_per_s
            vs_first = f"×{rate / first[r.phase.key]:.2f}" if first.get(r.phase.key) else "—"
            lines.append(f"| {v.name} | {r.phase.title} | {rate:.1f} | {rate / base[1]:.2f} | {rate / base[2]:.2f} | "
                         f"{vs_first} | {fails} | {cpu} | {r.others:.2f} |")
    lines += ["", "Variants (each a fresh service, in this order, same run): " + "; ".join(
        f"`{v.name}` = code {tree_name(v.tree)}, profile overrides `{json.dumps(v.overrides)}` "
        f"(load before {v.load_before})" for v in variants) + "."]
    for v in variants:
        for r in v.phases:
            if r.profile:
                lines += ["", *render_profile(f"{v.name}, {r.phase.title}", r.profile)]
    return "\n".join(lines)


def render_profile(title: str, profiles: list[cpu_profile.Profile]) -> list[str]:
    profiles = sorted(profiles, key=lambda p: SERVING.index(p.title))
    layers = sorted({k for p in profiles for k in p.cores}, key=lambda k: -sum(p.cores.get(k, 0) for p in profiles))
    lines = [f"### Where the CPU goes: {title}", "",
             "Cores each process kept busy, by the layer that held the GIL (py-spy `--gil`, 50 Hz); the native row "
             "is /proc CPU minus GIL time.", "",
             "| layer | " + " | ".join(short(p.title) for p in profiles) + " | all |",
             "|---|" + "---:|" * (len(profiles) + 1)]
    for layer in layers:
        values = [p.cores.get(layer, 0.0) for p in profiles]
        if sum(values) >= 0.005:
            lines.append(f"| {layer} | " + " | ".join(f"{v:.2f}" for v in values) + f" | {sum(values):.2f} |")
    lines.append("| **total** | " + " | ".join(f"**{p.total:.2f}**" for p in profiles)
                 + f" | **{sum(p.total for p in profiles):.2f}** |")
    return lines


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--inprocess-child":
        got = measure_inprocess(float(sys.argv[2]))
        print(json.dumps({"work": got.replica_work, "pipeline": got.pipeline}), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--variant", action="append",
                        help="NAME[@TREE]=JSON profile overrides (`section.field` for one field; "
                             "`serve.DEPLOYMENT.OPTION` for the Serve config), one fresh service each "
                             "(default: DEFAULT_VARIANTS)")
    parser.add_argument("--profile", action="store_true", help="py-spy the serving processes (batch, direct single)")
    parser.add_argument("--out", default=None)
    parser.add_argument("--section", default="entrypoints", help="the section of --out to write (default entrypoints)")
    args = parser.parse_args()
    variants = [parse_variant(spec) for spec in args.variant or []] or DEFAULT_VARIANTS
    load_start = "{:.2f} / {:.2f}".format(*os.getloadavg()[:2])
    trees = list(dict.fromkeys(tree for _, tree, _ in variants))
    inproc = {tree: inprocess_in(tree, args.seconds) for tree in trees}
    results = [run_variant(name, tree, overrides, args.seconds, args.profile) for name, tree, overrides in variants]
    publish(render(args, inproc, results, load_start), "Text ads per entry point (served vs in-process)",
            args.section, args.out)


def parse_variant(spec: str) -> tuple[str, str | None, dict[str, Any]]:
    """NAME[@TREE]=JSON: profile overrides, and optionally another checkout of the project (e.g. a `git
    worktree` of the commit before a change) whose code the service and the in-process figures run."""
    head, _, doc = spec.partition("=")
    name, _, tree = head.partition("@")
    return name, (str(Path(tree).resolve()) if tree else None), json.loads(doc or "{}")


def harness(tree: str | None, *argv: str) -> tuple[list[str], dict[str, str], str | None]:
    """This file run as a child on `tree`'s code (its directory first on the import path)."""
    env = dict(os.environ, PYTHONPATH=tree or str(Path(__file__).resolve().parents[1]))
    return [sys.executable, str(Path(__file__).resolve()), *argv], env, tree


def inprocess_in(tree: str | None, seconds: float) -> InProcess:
    cmd, env, cwd = harness(tree, "--inprocess-child", str(seconds))
    out = subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.PIPE, text=True).stdout
    doc = json.loads(out.strip().splitlines()[-1])
    return InProcess({int(k): v for k, v in doc["work"].items()}, {int(k): v for k, v in doc["pipeline"].items()})


if __name__ == "__main__":
    main()
