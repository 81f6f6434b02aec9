"""The gpu profile's CLIP/SigLIP zero-shot image backend, run on a tiny random-weight CLIP built
here (no hub): the same code path production models take, with only the source swapped."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import load_config
from models.image_models import build_image_backend
from tests.media import landscape_photo, rifle_drawing


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory) -> str:
    from tests.tiny_models import tiny_clip_dir as build

    return str(build(tmp_path_factory.mktemp("models")))


@pytest.mark.slow  # builds a CLIP model and the gpu profile's backend
def test_gpu_profile_clip_backend_runs_on_a_local_model(tiny_clip_dir):
    gpu = load_config("gpu")
    spec = gpu.image_models[0].model_copy(
        update={"source": tiny_clip_dir, "device": "cpu", "dtype": "float32", "input_size": 32}
    )
    backend = build_image_backend(spec, gpu.taxonomy)
    backend.setup()
    results = backend.predict([rifle_drawing(), landscape_photo()])
    assert len(results) == 2
    for result in results:
        assert set(result.category_scores) == set(spec.categories)
        total = sum(result.category_scores.values())
        assert 0 < total < 1  # the neutral prompts hold the rest of the probability
        assert result.embedding is not None and np.isclose(np.linalg.norm(result.embedding), 1, atol=1e-4)


def test_device_override_moves_a_gpu_profile_to_cpu_float32_and_nothing_else(monkeypatch):
    """ADRISK_DEVICE_OVERRIDE=cpu (tests and development only): devices, half precision and ONNX
    providers change; models, sources and every other setting stay the profile's."""
    plain = load_config("gpu")
    monkeypatch.setenv("ADRISK_DEVICE_OVERRIDE", "cpu")
    moved = load_config("gpu")
    assert (moved.text_encoder.device, moved.text_encoder.dtype) == ("cpu", "float32")
    assert [(m.device, m.dtype, m.providers) for m in moved.image_models] == [
        ("cpu", "float32", ["CPUExecutionProvider"])] * len(plain.image_models)
    assert moved.llm is not None and moved.llm.dtype == "float32"
    same = {"device", "dtype", "providers"}
    assert moved.text_encoder.model_dump(exclude=same) == plain.text_encoder.model_dump(exclude=same)
    assert [m.model_dump(exclude=same) for m in moved.image_models] == [
        m.model_dump(exclude=same) for m in plain.image_models]
    assert load_config("cpu") == load_config("cpu", None)  # a CPU profile has nothing to move
    monkeypatch.setenv("ADRISK_DEVICE_OVERRIDE", "cuda")
    with pytest.raises(ValueError, match="the only override is `cpu`"):
        load_config("gpu")


def test_embedding_cache_key_tells_model_directories_apart(tmp_path, monkeypatch):
    """A random-weight stand-in named like the real encoder never shares its embedding cache."""
    from models.training_data import encoder_fingerprint

    gpu = load_config("gpu")
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"x" * (1 + (folder == second)))
    prints = []
    for folder in (first, second):
        monkeypatch.setenv("ADRISK_MODEL_DIR", str(folder))
        prints.append(encoder_fingerprint(gpu.model_copy(update={"text_encoder": gpu.text_encoder.model_copy(
            update={"source": "${ADRISK_MODEL_DIR}"})})))
    assert prints[0] != prints[1] and all("model.safetensors" in p[1] for p in prints)
    assert encoder_fingerprint(load_config("cpu")) == []  # a versioned package: name and version suffice
