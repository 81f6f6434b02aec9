"""The gpu profile end to end on CPU, on random-weight models of its real architectures (issue 17 item 1).

tests/gpu_models.py builds an `ADRISK_MODEL_DIR` (a base-size SigLIP, an MPNet-base sentence encoder,
Qwen2.5-VL's processor files) in the test's temporary directory; `ADRISK_DEVICE_OVERRIDE=cpu` (a
test and development switch, core/config/loading.py) moves the profile's CUDA devices and half
precision to CPU float32. Then, the way a GPU deployment does it:

1. `adrisk train-heads --profile gpu` (a subset of ../shared/data) writes the head set into the model
   directory where deployments/kuberay/train-heads-job.yaml puts it;
2. the gpu profile is served over HTTP (commands/launcher.py, its own Ray cluster in a child process)
   and reviews a text ad and an image ad: 768-d embeddings into the trained heads, SigLIP zero-shot
   image scores, a decision;
3. the VLM's prompt is rendered up to the engine: the diagnosis messages for a review with images,
   through Qwen2.5-VL's chat template and image processor under the profile's `mm_processor_kwargs`.

What changes from the profile: the stand-ins' weights are random (scores mean nothing, shapes and code
paths are real); SigLIP is base size (google/siglip-base-patch16-224's shapes) instead of So400m, named
by override; the MPNet keeps every width of the base model but 2 of its 12 layers (a 12-layer forward
costs ~0.3 s per text on this 2-core machine and training embeds ~270 texts); the LLM is off (its
engine needs the CUDA vLLM and torchvision: item 3 stops at the engine's input).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from core.config import CONFIG_DIR, PROJECT_ROOT
from core.net import free_port
from tests.gpu_models import HEADS, SIGLIP, ModelDir, build_model_dir
from tests.media import encode, landscape_photo, rifle_drawing

pytestmark = pytest.mark.slow

MPNET_LAYERS = 2  # of 12: every width stays base size (see the module docstring)
LIMIT = 200  # rows of ../shared/data: enough for three heads to reach their minimum positives
HEADS_VERSION = "gpu-e2e"
DATA = PROJECT_ROOT.parent / "shared" / "data"
SIGLIP_NAME = SIGLIP.split("/")[1]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> ModelDir:
    return build_model_dir(tmp_path_factory.mktemp("model-dir"), mpnet_layers=MPNET_LAYERS)


@pytest.fixture(scope="module")
def env(models) -> dict[str, str]:
    """What a GPU node sets (ADRISK_MODEL_DIR), plus the CPU switch."""
    return {**os.environ, "ADRISK_MODEL_DIR": str(models.root), "ADRISK_DEVICE_OVERRIDE": "cpu",
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.fixture(scope="module")
def trained(models, env, tmp_path_factory) -> subprocess.CompletedProcess:
    cache = tmp_path_factory.mktemp("embedding-cache")
    proc = subprocess.run(
        [sys.executable, "-m", "commands.cli", "train-heads", "--profile", "gpu", "--data", str(DATA),
         "--limit", str(LIMIT), "--out", str(models.heads), "--version", HEADS_VERSION, "--cache-dir", str(cache)],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list(cache.iterdir()), "the embedding cache went to --cache-dir, not var/cache"
    return proc


def test_train_heads_on_the_gpu_profile_writes_768_d_heads_into_the_model_dir(models, trained):
    from core.config import load_config
    from models.heads import HeadSet

    assert "ADRISK_DEVICE_OVERRIDE=cpu (tests and development only): profile gpu runs on CPU" in trained.stderr
    assert "text_encoder.device cuda -> cpu; text_encoder.dtype float16 -> float32" in trained.stderr
    manifest = json.loads((models.heads / "manifest.json").read_text())
    assert manifest["name"] == "text-heads-all-mpnet-base-v2" and manifest["version"] == HEADS_VERSION
    assert manifest["encoder"] == {"name": "all-mpnet-base-v2", "version": "hf-main", "dim": 768}
    assert manifest["rows"] == LIMIT and len(manifest["heads"]) >= 1
    with np.load(models.heads / "zero_shot.npz") as zero_shot:
        assert zero_shot["vectors"].shape[1] == 768 and zero_shot["vectors"].dtype == np.float32
    with np.load(models.heads / "weights.npz") as weights:
        assert weights["W"].shape == (len(manifest["heads"]), 768)
    gpu = load_config("gpu")
    heads = HeadSet.load(models.heads, gpu.taxonomy, gpu.heads.zero_shot_scale, gpu.heads.zero_shot_bias)
    scores, _ = heads.score_text(np.zeros((1, 768), dtype=np.float32), ["fresh apples"])
    assert scores.shape == (1, len(gpu.taxonomy.ids))


def test_the_gpu_text_encoder_loads_from_the_model_dir_on_cpu(models, env, monkeypatch):
    from core.config import load_config
    from models.text_encoder import SentenceTransformerEncoder

    for name in ("ADRISK_MODEL_DIR", "ADRISK_DEVICE_OVERRIDE"):
        monkeypatch.setenv(name, env[name])
    config = load_config("gpu").text_encoder
    assert (config.device, config.dtype, config.max_seq_length) == ("cpu", "float32", 384)
    encoder = SentenceTransformerEncoder(config)
    encoder.setup()
    vectors = encoder.encode(["Buy one get one free", "Miracle cure, doctors hate it"])
    assert vectors.shape == (2, 768) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def service_overrides(store: Path) -> dict:
    """The gpu profile with the base-size SigLIP named instead of So400m, the head set where the
    train-heads Job writes it, the LLM off, a temporary store and no API keys (loopback only)."""
    gpu = yaml.safe_load((CONFIG_DIR / "profiles" / "gpu.yaml").read_text())
    siglip = {**gpu["image_models"][0], "name": SIGLIP_NAME, "source": f"${{ADRISK_MODEL_DIR}}/{SIGLIP}",
              "input_size": 224}
    return {
        "image_models": [siglip, *gpu["image_models"][1:]],
        "heads": {"text": f"${{ADRISK_MODEL_DIR}}/{HEADS}"},
        "llm": {**gpu["llm"], "enabled": False},
        "store": {"path": str(store)},
        "auth": "off",
        "request_timeout_s": 58,  # CPU: the widest budget the Serve proxy's 60 s allows
    }


@pytest.fixture(scope="module")
def gpu_service(models, env, trained, tmp_path_factory):
    """The gpu profile served by commands/launcher.py in a child process (a Ray cluster of its own):
    the cpu Serve config's CPU-only replica sizes, the app's profile set to gpu."""
    tmp = tmp_path_factory.mktemp("gpu-service")
    serve = yaml.safe_load((CONFIG_DIR / "serve" / "cpu.yaml").read_text())
    serve["applications"][0]["args"]["profile"] = "gpu"
    serve_config = tmp / "serve.yaml"
    serve_config.write_text(yaml.safe_dump(serve))
    log = tmp / "serve.log"
    overrides = json.dumps(service_overrides(tmp / "decisions.sqlite3"))
    command = [sys.executable, "-m", "tests.gpu_models", "serve", overrides, str(serve_config), str(free_port()),
               str(free_port())]
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdin=subprocess.PIPE, stdout=out,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        url = _wait_ready(proc, log, timeout_s=300)
        yield url, log
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # serve_main stops Serve and its Ray cluster
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)  # the child's own session: only what this test started
            proc.wait(timeout=30)


def _wait_ready(proc: subprocess.Popen, log: Path, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("READY "):
                return line.split(" ", 1)[1].strip()
        if proc.poll() is not None:
            raise AssertionError(f"the gpu-profile service exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        time.sleep(0.5)
    raise AssertionError(f"the gpu-profile service was not ready in {timeout_s} s:\n{log.read_text()[-4000:]}")


def test_the_gpu_profile_serves_text_and_image_ads_over_http_on_cpu(gpu_service):
    from core.config import load_config

    url, log = gpu_service
    gpu = load_config("gpu")
    siglip_ident = f"{SIGLIP_NAME}@{gpu.image_models[0].version}"
    heads_ident = f"text-heads-all-mpnet-base-v2@{HEADS_VERSION}"
    with httpx.Client(base_url=url, timeout=60) as client:
        ready = client.get("/readyz").json()
        idents = json.dumps(ready["models"])
        for ident in (siglip_ident, "all-mpnet-base-v2@hf-main", heads_ident, "open-nsfw@yahoo-1.0.0"):
            assert ident in idents, ready

        text = client.post("/v1/review", json={
            "request_id": "gpu-e2e-text",
            "creative": {"text": "Double your bitcoin in 24 hours, guaranteed returns. Send crypto now!"},
        })
        image = client.post("/v1/review", json={
            "request_id": "gpu-e2e-image",
            "creative": {"images": [{"data": base64.b64encode(encode(rifle_drawing())).decode()},
                                    {"data": base64.b64encode(encode(landscape_photo())).decode()}]},
        })
    for response in (text, image):
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body["scores"]) == set(gpu.taxonomy.ids)
        assert body["decision"]["action"] in {"approve", "deboost", "human_review", "reject", "suspend_account"}
        versions = body["model_versions"]
        assert versions["text_heads"] == heads_ident and versions["text_encoder"] == "all-mpnet-base-v2@hf-main"
        assert versions["clip_zero_shot"] == siglip_ident
    # The text went through the 768-d encoder into the heads trained on it (a dimension mismatch is a 500).
    assert "text_encoder" in text.json()["timings_ms"] and "image_models" in image.json()["timings_ms"]
    # SigLIP's zero-shot scores reach the decision as evidence per image, in the categories it scores.
    zero_shot = [e for e in image.json()["evidence"] if e["detail"].startswith(siglip_ident)]
    assert zero_shot, image.json()["evidence"]
    assert {e["source"] for e in zero_shot} <= {"image[0]", "image[1]"}
    assert {e["category"] for e in zero_shot} <= set(gpu.image_models[0].categories)
    assert "ADRISK_DEVICE_OVERRIDE=cpu (tests and development only)" in log.read_text()


# transformers deprecates max_pixels as a call argument (size={"longest_edge": ...} from v5.23); vLLM 0.32
# passes the profile's max_pixels on with size.longest_edge beside it, which is what this call mirrors.
@pytest.mark.filterwarnings("ignore:Passing `min_pixels` and `max_pixels`:FutureWarning")
def test_the_vlm_prompt_renders_through_qwen_vl_processing_up_to_the_engine(models, monkeypatch):
    """build_messages → the chat template → one vision placeholder per image, each expanded to the
    number of patch tokens Qwen2.5-VL's image processor makes of it under `mm_processor_kwargs`."""
    from transformers import AutoImageProcessor, AutoTokenizer

    from core.config import load_config
    from models.diagnosis import PromptConfig, ReviewContext, build_messages
    from models.llm_engine import model_dir, render_prompt
    from models.llm_vision import visual_inputs

    monkeypatch.setenv("ADRISK_MODEL_DIR", str(models.root))
    config = load_config("gpu")
    llm = config.llm
    assert llm is not None and llm.max_images == 4
    max_pixels = llm.mm_processor_kwargs["max_pixels"]
    assert llm.image_max_side ** 2 <= max_pixels  # a shrunk image is never cut down again by the processor
    source = model_dir(llm)
    assert source == str(models.qwen_vl)  # ${ADRISK_MODEL_DIR} expanded, as the engine loads it

    media = [("image[0]", "image", encode(landscape_photo(size=(1200, 800)))),
             ("image[1]", "image", encode(rifle_drawing(), "PNG")),
             ("landing_page.screenshot", "image", encode(landscape_photo(1, size=(390, 844)), "PNG"))]
    visuals = visual_inputs(media, [], config.limits, llm.max_images, llm.image_max_side)
    assert [v.label for v in visuals] == ["image[0]", "image[1]", "landing_page.screenshot"]
    ctx = ReviewContext(scores={"weapons": 0.8, "scam_fraud": 0.3}, action="human_review",
                        decision_categories=["weapons"], evidence=[], untrusted={"creative.text": "Buy now"},
                        advertiser={"id": "adv-1"}, media=media)
    messages = build_messages(ctx, PromptConfig.load(config), config, [v.label for v in visuals])

    tokenizer = AutoTokenizer.from_pretrained(source)
    image_processor = AutoImageProcessor.from_pretrained(source)
    processor_template = json.loads((Path(source) / "chat_template.json").read_text())["chat_template"]
    assert tokenizer.chat_template == processor_template  # the engine's AutoProcessor renders the same
    images = [v.image for v in visuals]
    engine_input = render_prompt(tokenizer, messages, images)
    prompt = engine_input["prompt"]
    assert engine_input["multi_modal_data"]["image"] == images
    vision = "<|vision_start|><|image_pad|><|vision_end|>"
    assert prompt.count(vision) == prompt.count("<|image_pad|>") == len(visuals)
    positions = [prompt.index(f"[{v.label}]{vision}") for v in visuals]
    assert positions == sorted(positions)  # each image right after its label, in engine order
    assert prompt.index(vision) < prompt.index("source=creative.text")  # images, then the fenced text
    assert prompt.startswith("<|im_start|>system\n") and prompt.endswith("<|im_start|>assistant\n")

    # What vLLM's Qwen2.5-VL processing does with it: the image processor under mm_processor_kwargs
    # (patch 14, merge 2, temporal patch 2), then each placeholder expanded to its image's tokens.
    mm_kwargs = {**llm.mm_processor_kwargs,
                 "size": {"shortest_edge": image_processor.size.shortest_edge, "longest_edge": max_pixels}}
    pixels = image_processor(images=images, return_tensors="np", **mm_kwargs)
    grid = np.asarray(pixels["image_grid_thw"])
    merge = image_processor.merge_size
    assert grid.shape == (len(images), 3) and (grid[:, 0] == 1).all() and (grid[:, 1:] % merge == 0).all()
    tokens = grid.prod(axis=1) // merge ** 2
    patch = image_processor.patch_size
    assert pixels["pixel_values"].shape == (grid.prod(axis=1).sum(), 3 * 2 * patch * patch)
    for image, n in zip(images, tokens, strict=True):
        area = image.size[0] * image.size[1]
        covered = n * (patch * merge) ** 2  # what the model sees, in pixels: within rounding to 28 px
        assert covered <= max_pixels and abs(covered - area) / area < 0.25, (image.size, n)
    expanded = prompt
    for n in tokens:
        expanded = expanded.replace("<|image_pad|>", "<|placeholder|>" * int(n), 1)
    ids = tokenizer(expanded.replace("<|placeholder|>", "<|image_pad|>"))["input_ids"]
    assert ids.count(tokenizer.convert_tokens_to_ids("<|image_pad|>")) == tokens.sum()
    assert len(ids) + llm.max_tokens <= llm.max_model_len  # the prompt and its answer fit the context
    # Without the profile's bound, a full-size photo costs far more vision tokens than max_pixels allows.
    full = image_processor(images=[landscape_photo(size=(1200, 800))], return_tensors="np")
    assert int(np.asarray(full["image_grid_thw"]).prod()) // merge ** 2 * (patch * merge) ** 2 > max_pixels
