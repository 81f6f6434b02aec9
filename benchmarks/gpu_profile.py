"""What benchmarks/gpu.py measures: the gpu profile's model names, read from configs/profiles/gpu.yaml
without the project's config code (which needs pydantic and more), and each name's architecture.

The architectures are written here from the models' published configurations, so nothing is fetched:
the benchmark builds random-weight models of exactly these shapes with transformers' config classes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

PROFILE = Path(__file__).resolve().parent.parent / "configs" / "profiles" / "gpu.yaml"

# name → (transformers model family, its config's hyperparameters)
IMAGE_TOWERS: dict[str, tuple[str, dict[str, Any]]] = {
    "siglip-so400m-patch14-384": ("siglip", {
        "hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27, "num_attention_heads": 16,
        "patch_size": 14, "image_size": 384}),
    "siglip-base-patch16-224": ("siglip", {
        "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
        "patch_size": 16, "image_size": 224}),
    "clip-vit-base-patch16": ("clip", {
        "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
        "patch_size": 16, "image_size": 224, "hidden_act": "quick_gelu", "projection_dim": 512}),
    "clip-vit-large-patch14": ("clip", {
        "hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16,
        "patch_size": 14, "image_size": 224, "hidden_act": "quick_gelu", "projection_dim": 768}),
}
# The ViT-B/16-class tower the aim (≥ 8,000 images/s at bf16 on an H100/H200) is about.
REFERENCE_TOWER = "siglip-base-patch16-224"

TEXT_ENCODERS: dict[str, tuple[str, dict[str, Any]]] = {
    "all-mpnet-base-v2": ("mpnet", {
        "vocab_size": 30527, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
        "intermediate_size": 3072, "max_position_embeddings": 514}),
    "all-MiniLM-L6-v2": ("bert", {
        "vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
        "intermediate_size": 1536, "max_position_embeddings": 512}),
}


def _scalar(text: str) -> Any:
    text = text.split(" #", 1)[0].strip().strip("\"'")
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def parse_minimal(text: str) -> dict[str, Any]:
    """The few keys needed (text_encoder's name/max_seq_length/dtype; each image model's backend/name/
    input_size/dtype) from the profile's YAML, when PyYAML is not installed. Handles the block style
    the profiles are written in, nothing more."""
    out: dict[str, Any] = {"text_encoder": {}, "image_models": []}
    section = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            section = line.split(":", 1)[0].strip()
            continue
        body = line.strip()
        if section == "image_models" and body.startswith("- "):
            out["image_models"].append({})
            body = body[2:]
        key, sep, value = body.partition(":")
        if not sep or not value.strip() or value.strip().startswith(("[", "{")):
            continue
        if section == "text_encoder":
            out["text_encoder"][key.strip()] = _scalar(value)
        elif section == "image_models" and out["image_models"]:
            out["image_models"][-1][key.strip()] = _scalar(value)
    return out


def read_profile(path: Path = PROFILE) -> dict[str, Any]:
    """{"text_encoder": {...}, "image_models": [{...}, ...]} of the profile, with PyYAML if present."""
    text = path.read_text(encoding="utf-8")
    try:
        import yaml
    except ImportError:
        return parse_minimal(text)
    data = yaml.safe_load(text) or {}
    return {"text_encoder": data.get("text_encoder") or {}, "image_models": data.get("image_models") or []}


def profile_models(path: Path = PROFILE) -> dict[str, Any]:
    """The profile's image tower (its first zero-shot image model), text encoder and Open-NSFW entry."""
    profile = read_profile(path)
    towers = [m for m in profile["image_models"] if m.get("backend") == "clip_zero_shot"]
    if not towers:
        raise SystemExit(f"{path}: no clip_zero_shot image model to benchmark")
    nsfw = next((m for m in profile["image_models"] if m.get("backend") == "open_nsfw_onnx"), None)
    text = profile["text_encoder"]
    for name, table in ((towers[0].get("name"), IMAGE_TOWERS), (text.get("name"), TEXT_ENCODERS)):
        if name not in table:
            raise SystemExit(f"{path}: no architecture known for {name!r}; add its hyperparameters to "
                             f"benchmarks/gpu_profile.py (known: {', '.join(sorted(table))})")
    return {
        "image": towers[0]["name"],
        "image_dtype": towers[0].get("dtype", "float32"),
        "text": text["name"],
        "text_dtype": text.get("dtype", "float32"),
        "text_max_seq_length": int(text.get("max_seq_length", 384)),
        "nsfw_input_size": int((nsfw or {}).get("input_size", 224)),
    }
