"""Zero-shot image scoring per model family, its per-category calibration, and the device-decode path
(docs/zero-shot.md), on CPU: tiny random CLIP and SigLIP models built here from transformers configs
(no hub), and a Pillow stand-in for torchvision's device JPEG decode."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from core.config import Thresholds, load_config
from core.errors import AdriskError
from models.contracts import Medium, ScoredImage
from models.image_engine import ImageEngine
from models.zero_shot_calibration import (
    FLOOR,
    CategoryMap,
    artifact_path,
    benign_image,
    benign_set,
    benign_stats,
    fit,
    model_fingerprint,
)
from multimodal.images import DecodedImage, decode_image, decode_jpegs_on_device
from tests.media import decompression_bomb_png, encode, landscape_photo, rifle_drawing
from tests.tiny_models import tiny_clip_dir, tiny_siglip_dir

GPU = load_config("gpu")
CATEGORIES = ["weapons", "drugs_tobacco_pharma", "scam_fraud"]


# --- the mapping (no model) -----------------------------------------------------------------------

def test_calibration_map_is_monotone_and_puts_the_benign_quantile_at_review():
    rng = np.random.default_rng(0)
    z = rng.normal(-12.0, 1.5, 400)
    stats = benign_stats(z, 0.99)
    m = CategoryMap.fit(stats, Thresholds(review=0.45, reject=0.8))
    assert m(np.array([stats["at_quantile"]]))[0] == pytest.approx(0.45, abs=1e-9)
    assert m(np.array([stats["median"]]))[0] == pytest.approx(FLOOR, abs=1e-9)
    assert m(np.array([2 * stats["at_quantile"] - stats["median"]]))[0] == pytest.approx(0.8, abs=1e-9)
    grid = np.linspace(-40, 20, 2001)
    assert np.all(np.diff(m.logits(grid)) > 0) and np.all(np.diff(m(grid)) >= 0)
    assert 0 <= m(grid).min() and m(grid).max() <= 1
    assert np.mean(m(z) >= 0.45) == pytest.approx(0.01, abs=0.006)  # ~1% of benign reaches review


def test_calibration_map_survives_a_flat_benign_set_and_equal_thresholds():
    m = CategoryMap.fit(benign_stats(np.full(50, -3.0)), Thresholds(review=0.5, reject=0.5))
    grid = np.linspace(-10, 5, 301)
    assert np.all(np.diff(m.logits(grid)) > 0)
    assert m(np.array([-3.0]))[0] == pytest.approx(0.5)


def test_fingerprint_changes_with_any_model_file(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    (tmp_path / "config.json").write_text("{}")
    first = model_fingerprint(str(tmp_path), "m", "1")
    assert first.startswith("sha256-") and model_fingerprint(str(tmp_path), "m", "1") == first
    (tmp_path / "model.safetensors").write_bytes(b"weightz")
    assert model_fingerprint(str(tmp_path), "m", "1") != first
    assert model_fingerprint("org/model", "m", "1").startswith("hub-")
    assert artifact_path(tmp_path, "a/b", first).name == f"a_b-{first[7:23]}.json"


def test_benign_images_are_deterministic_and_varied():
    a, b = list(benign_set(12)), list(benign_set(12))
    assert a == b and len({data for _, data in a}) == 12
    assert benign_image("chart", 2).size == (640, 480) and benign_image("page", 1).size == (576, 576)


# --- device decode (CPU stand-in for torchvision's decode_jpeg) -----------------------------------

def pillow_decoder(calls: list[int] | None = None):
    """What decode_jpeg(list, device=...) returns: uint8 (3, h, w) tensors, here decoded by Pillow."""
    import io

    from PIL import Image

    def decode(tensors):
        if calls is not None:
            calls.append(len(tensors))
        out = []
        for t in tensors:
            with Image.open(io.BytesIO(t.numpy().tobytes())) as img:
                out.append(torch.from_numpy(np.asarray(img.convert("RGB")).copy()).permute(2, 0, 1))
        return out

    return decode


def test_device_decode_takes_jpegs_and_leaves_the_rest_to_pillow():
    limits = GPU.limits
    jpeg = encode(landscape_photo(size=(1600, 1200)), "JPEG", quality=90)
    png = encode(rifle_drawing(), "PNG")
    calls: list[int] = []
    truncated = jpeg[: len(jpeg) // 2]
    out = decode_jpegs_on_device([jpeg, png, b"", decompression_bomb_png(9000), truncated], limits,
                                 pillow_decoder(calls))
    # One batched call with the two JPEG headers that passed the probe; the truncated one makes it
    # fail, so each is retried alone: the whole one is decoded there, the truncated one left to Pillow.
    assert calls == [2, 1, 1]
    assert isinstance(out[0], DecodedImage) and out[1:4] == [None, None, None]
    pil = decode_image(jpeg, limits)
    assert out[0].image.size == pil.image.size and (out[0].width, out[0].height) == (1600, 1200)
    assert tuple(out[0].pixels.shape) == (3, pil.image.size[1], pil.image.size[0])
    diff = np.abs(np.asarray(out[0].image, dtype=np.int16) - np.asarray(pil.image, dtype=np.int16))
    assert diff.mean() < 3  # Pillow's draft() DCT scaling vs full decode + antialiased resize
    assert out[4] is None
    with pytest.raises(AdriskError):
        decode_image(truncated, limits)  # ... which answers exactly as before


def test_device_decode_falls_back_when_the_decoder_fails_or_lies():
    jpeg = encode(landscape_photo(), "JPEG")

    def broken(tensors):
        raise RuntimeError("nvjpeg says no")

    assert decode_jpegs_on_device([jpeg], GPU.limits, broken) == [None]
    assert decode_jpegs_on_device([jpeg], GPU.limits, lambda ts: [torch.zeros(3, 5, 5, dtype=torch.uint8)]) == [None]


def test_no_device_decode_without_cuda():
    from multimodal.images import device_jpeg_decoder

    assert device_jpeg_decoder("cpu") is None
    if not torch.cuda.is_available():
        assert device_jpeg_decoder("cuda") is None


def test_cpu_profile_engine_never_decodes_on_a_device():
    engine = ImageEngine(load_config("cpu"), backends=[])
    engine.setup()
    try:
        assert engine._device_decode is None and not engine._tensor_backends
    finally:
        engine.close()


# --- tiny models ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("zero-shot-models")
    return {"clip": tiny_clip_dir(root), "siglip": tiny_siglip_dir(root, GPU.taxonomy)}


def _spec(source: str, calibration_dir, **extra):
    return GPU.image_models[0].model_copy(update={
        "name": "tiny", "source": source, "device": "cpu", "dtype": "float32", "input_size": 32,
        "categories": CATEGORIES, "zero_shot_calibration": str(calibration_dir), **extra})


def _backend(source: str, calibration_dir, calibrate: bool = True, **extra):
    from models.zero_shot_image import ClipZeroShotBackend

    backend = ClipZeroShotBackend(_spec(source, calibration_dir, **extra), GPU.taxonomy, calibrate=calibrate)
    backend.setup()
    return backend


def _pictures():
    return [rifle_drawing(), landscape_photo(), landscape_photo(3, (300, 500))]


def _by_model(backend, images):
    """Run the model's own forward (both towers, its logit_scale and logit_bias) on every prompt."""
    prompts, owners = backend.prompts()
    proc = backend._processor
    max_length = backend._model.config.text_config.max_position_embeddings
    inputs = proc(text=prompts, images=images, return_tensors="pt", padding="max_length", truncation=True,
                  max_length=max_length)
    with torch.inference_mode():
        return backend._model(**inputs).logits_per_image.double().numpy(), owners


@pytest.mark.slow
def test_siglip_scores_each_prompt_with_its_sigmoid_and_bias(model_dirs, tmp_path):
    backend = _backend(model_dirs["siglip"], tmp_path, calibrate=False)
    assert backend.family == "siglip" and backend.temperature is None
    assert backend.logit_scale == pytest.approx(20.0, rel=1e-5) and backend.logit_bias == pytest.approx(-5.0)
    images = _pictures()
    logits, owners = _by_model(backend, images)  # SigLIP's forward: logit_scale·cos + logit_bias
    assert None not in owners  # no neutral prompts: nothing competes
    _, z = backend.raw_logits(images)
    for j, category in enumerate(CATEGORIES):
        cols = [k for k, o in enumerate(owners) if o == category]
        expected = 1 / (1 + np.exp(-logits[:, cols]))  # each prompt on its own
        np.testing.assert_allclose(1 / (1 + np.exp(-z[:, j])), expected.max(axis=1), rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_clip_scores_a_softmax_at_its_temperature_over_category_and_neutral_prompts(model_dirs, tmp_path):
    backend = _backend(model_dirs["clip"], tmp_path, calibrate=False)
    assert backend.family == "clip" and backend.temperature == pytest.approx(backend.logit_scale)
    images = _pictures()
    logits, owners = _by_model(backend, images)  # CLIP's forward: logit_scale·cos
    assert owners.count(None) == len(backend.NEUTRAL_PROMPTS)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    _, z = backend.raw_logits(images)
    for j, category in enumerate(CATEGORIES):
        mass = probs[:, [k for k, o in enumerate(owners) if o == category]].sum(axis=1)
        np.testing.assert_allclose(1 / (1 + np.exp(-z[:, j])), mass, rtol=1e-4, atol=1e-7)
    # A configured temperature replaces the model's: a hotter softmax (smaller scale) is flatter.
    hot = _backend(model_dirs["clip"], tmp_path, calibrate=False, zero_shot_temperature=1.0)
    _, z_hot = hot.raw_logits(images)
    cos = logits / backend.logit_scale
    p_hot = np.exp(cos) / np.exp(cos).sum(axis=1, keepdims=True)
    for j, category in enumerate(CATEGORIES):
        mass = p_hot[:, [k for k, o in enumerate(owners) if o == category]].sum(axis=1)
        np.testing.assert_allclose(1 / (1 + np.exp(-z_hot[:, j])), mass, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_calibration_round_trip(model_dirs, tmp_path, family, caplog):
    images = [decode_image(data, GPU.limits).image for _, data in benign_set(120)]
    raw = _backend(model_dirs[family], tmp_path, calibrate=False)
    path = fit(raw, images, quantile=0.9)
    doc = json.loads(path.read_text())
    assert doc["model"] == raw.calibration_key["model"] and doc["family"] == family
    assert doc["benign"]["images"] == 120 and set(doc["categories"]) == set(CATEGORIES)

    with caplog.at_level(logging.WARNING):
        backend = _backend(model_dirs[family], tmp_path)
    assert "calibrated by" in backend.calibration and not caplog.records
    _, z = backend.raw_logits(images)
    scores = backend.scores(z)
    for j, category in enumerate(CATEGORIES):
        review = GPU.taxonomy.get(category).thresholds.review
        at = doc["categories"][category]["at_quantile"]
        assert backend.scores(np.full((1, len(CATEGORIES)), at))[0, j] == pytest.approx(review, abs=1e-6)
        order = np.argsort(z[:, j])
        assert np.all(np.diff(scores[order, j]) >= 0)  # monotone in the raw score
        assert np.mean(scores[:, j] >= review) <= 0.1 + 2 / len(images)  # the benign q0.9 sits at review
    results = backend.predict(images[:2])
    assert all(set(r.category_scores) == set(CATEGORIES) for r in results)

    # Another model (new weights) does not use this calibration: warning, capped at review.
    other = model_dirs["siglip" if family == "clip" else "clip"]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        uncalibrated = _backend(other, tmp_path)
    assert any("no calibration" in r.getMessage() and "capped" in r.getMessage() for r in caplog.records)
    for result in uncalibrated.predict(_pictures()):
        for category, score in result.category_scores.items():
            assert 0 <= score <= GPU.taxonomy.get(category).thresholds.review


@pytest.mark.slow
def test_a_calibration_for_other_prompts_or_settings_is_not_used(model_dirs, tmp_path, caplog):
    images = [decode_image(data, GPU.limits).image for _, data in benign_set(12)]
    fit(_backend(model_dirs["clip"], tmp_path, calibrate=False), images)
    with caplog.at_level(logging.WARNING):
        backend = _backend(model_dirs["clip"], tmp_path, zero_shot_temperature=7.0)
    assert backend.calibration.startswith("uncalibrated")
    assert any("temperature" in r.getMessage() for r in caplog.records)
    with pytest.raises(RuntimeError, match=r"no calibration|fitted for"):
        _backend(model_dirs["clip"], tmp_path, zero_shot_uncalibrated="refuse", zero_shot_temperature=7.0)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_tensor_preprocessing_matches_the_processor(model_dirs, tmp_path, family):
    from models.zero_shot_image import pil_to_tensor

    backend = _backend(model_dirs[family], tmp_path, calibrate=False, decode_on_device=True)
    assert backend.tensor_device == "cpu"
    images = [landscape_photo(5, (640, 426)), rifle_drawing(), landscape_photo(6, (333, 517))]
    expected = backend._processor(images=images, return_tensors="pt")["pixel_values"]
    got = backend._tensor_pre([pil_to_tensor(img, "cpu") for img in images])
    assert got.shape == expected.shape and got.dtype == torch.float32
    diff = (got - expected).abs()
    assert diff.mean() < 0.02 and diff.max() < 0.35, (diff.mean(), diff.max())  # in normalised units
    # The whole backend: device tensors in, the same scores as PIL in (within resampling noise).
    _, z_pil = backend.raw_logits(images)
    _, z_tensor = backend.raw_logits([pil_to_tensor(img, "cpu") for img in images])
    np.testing.assert_allclose(z_tensor, z_pil, atol=0.05)
    if family == "clip":
        half = _backend(model_dirs[family], tmp_path, calibrate=False, dtype="bfloat16", decode_on_device=True)
        assert half._model.dtype == torch.bfloat16 and half._tensor_pre([pil_to_tensor(images[0], "cpu")],
                                                                        torch.bfloat16).dtype == torch.bfloat16
        _, z_half = half.raw_logits([pil_to_tensor(img, "cpu") for img in images])
        assert np.isfinite(z_half).all()


@pytest.mark.slow
def test_engine_feeds_device_tensors_to_the_zero_shot_backend(model_dirs, tmp_path):
    from models.zero_shot_image import ClipZeroShotBackend

    seen: list[list[object]] = []

    class Recording(ClipZeroShotBackend):
        def predict(self, batch):
            seen.append(list(batch))
            return super().predict(batch)

    spec = _spec(model_dirs["clip"], tmp_path, decode_on_device=True)
    media = [Medium("image", encode(landscape_photo(size=(1280, 960)), "JPEG", quality=92)),
             Medium("image", encode(rifle_drawing(), "PNG")), Medium("image", b"not an image")]
    calls: list[int] = []
    engine = ImageEngine(GPU, backends=[Recording(spec, GPU.taxonomy)], device_decoder=pillow_decoder(calls))
    engine.setup()
    try:
        on_device = engine.predict(media)
    finally:
        engine.close()
    assert calls == [1]  # the PNG and the junk were never sent to the device decoder
    batch = seen[-1]
    assert isinstance(batch[0], torch.Tensor) and not isinstance(batch[1], torch.Tensor)
    assert isinstance(on_device[0], ScoredImage) and isinstance(on_device[1], ScoredImage)
    assert on_device[2].__class__.__name__ == "MediaFailure"

    plain = ImageEngine(GPU, backends=[ClipZeroShotBackend(spec.model_copy(update={"decode_on_device": False}),
                                                           GPU.taxonomy)])
    plain.setup()
    try:
        assert plain._device_decode is None
        by_pillow = plain.predict(media)
    finally:
        plain.close()
    for a, b in zip(on_device[:2], by_pillow[:2], strict=True):
        assert a.scores.keys() == b.scores.keys()
        assert max(abs(a.scores[c] - b.scores[c]) for c in a.scores) < 0.05
    assert on_device[2] == by_pillow[2]  # the same failure, from the same Pillow path


@pytest.mark.slow
def test_the_calibration_command_writes_what_the_backend_loads(model_dirs, tmp_path, capsys):
    from models.zero_shot_calibration import main
    from models.zero_shot_image import ClipZeroShotBackend

    assert main(["--profile", "gpu", "--source", model_dirs["siglip"], "--device", "cpu", "--count", "12",
                 "--out", str(tmp_path)]) == 0
    written = sorted(tmp_path.glob("*.json"))
    assert len(written) == 1 and str(written[0]) in capsys.readouterr().out
    doc = json.loads(written[0].read_text())
    assert doc["benign"] == {"images": 12, "sources": {"adrisk-benign-v1": 12}, "quantile": 0.99}
    spec = GPU.image_models[0].model_copy(update={"source": model_dirs["siglip"], "device": "cpu", "dtype": "float32",
                                                  "zero_shot_calibration": str(tmp_path)})
    backend = ClipZeroShotBackend(spec, GPU.taxonomy)
    backend.setup()
    assert backend.calibration == f"calibrated by {written[0].name}"
