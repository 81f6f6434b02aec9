"""The `clip_zero_shot` image backend: a CLIP or SigLIP image-text model scoring images against each
category's prompts, each family the way it was trained (docs/zero-shot.md), then calibrated per
category on benign images (models/zero_shot_calibration.py).

- CLIP (contrastive softmax): a softmax over the category prompts *and* neutral prompts at the
  model's temperature (its logit_scale, or `zero_shot_temperature`); a category's raw score is the
  probability mass of its prompts. The neutral prompts give an ordinary image somewhere to go.
- SigLIP / SigLIP 2 (pairwise sigmoid): each prompt on its own, sigmoid(logit_scale·cos + logit_bias),
  no competition between prompts (its training objective); a category's raw score is its best prompt.

Raw scores are not on the policy's threshold scale, so each category is mapped through a calibration
fitted on benign images for exactly these weights and prompts. Without one, the backend warns and
caps every category at its review threshold (it may send an ad to review, never enforce), or refuses
to start (`zero_shot_uncalibrated: refuse`).

Input: PIL images, or uint8 (3, h, w) tensors already on the model's device (the image engine's GPU
JPEG decode, `decode_on_device`): those are resized and normalised with tensor ops there, as the
model's image processor would do it, without a trip through PIL.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from core.config import ImageModelConfig, Taxonomy, resolve_model_source
from models.base import ModelBackend, configure_torch, offline_if_local, torch_dtype
from models.image_models import ImageResult
from models.zero_shot_calibration import METHOD, CategoryMap, artifact_path, load_calibration, model_fingerprint

log = logging.getLogger(__name__)

CLIP_TYPES = frozenset({"clip", "chinese_clip", "altclip", "metaclip_2"})
SIGLIP_TYPES = frozenset({"siglip", "siglip2"})
PROMPT_TEMPLATE = "an advertisement image showing: {}"


def model_family(model_type: str, configured: str = "auto") -> str:
    """clip or siglip: the configured family, else the one the model's config names."""
    if configured != "auto":
        return configured
    if model_type in SIGLIP_TYPES:
        return "siglip"
    if model_type in CLIP_TYPES:
        return "clip"
    raise ValueError(f"model_type {model_type!r} is neither CLIP- nor SigLIP-like: set zero_shot_family")


class TensorPreprocess:
    """The image processor's resize → (centre crop) → rescale → normalise as tensor ops on any device,
    for uint8 (3, h, w) tensors: what `processor(images=...)` gives for the same pixels, within
    resampling differences (antialiased bicubic here, Pillow's there)."""

    MODES: ClassVar[dict[int, str]] = {2: "bilinear", 3: "bicubic"}  # PIL resampling codes

    def __init__(self, size: dict[str, int], crop: tuple[int, int] | None, mode: str, scale: float,
                 mean: Sequence[float], std: Sequence[float]) -> None:
        self.size, self.crop, self.mode, self.scale = size, crop, mode, scale
        self.mean, self.std = tuple(mean), tuple(std)

    @classmethod
    def from_processor(cls, ip: Any) -> TensorPreprocess | None:
        """None where the processor does something else (no resize, NaFlex patching, longest-edge sizes)."""
        size = getattr(ip, "size", None)
        if size is None or not getattr(ip, "do_resize", True) or getattr(ip, "max_num_patches", None):
            return None
        get = size.get if isinstance(size, dict) else lambda k: getattr(size, k, None)
        if get("height") and get("width") and not get("shortest_edge"):
            target = {"height": int(get("height")), "width": int(get("width"))}
        elif get("shortest_edge") and not get("longest_edge"):
            target = {"shortest_edge": int(get("shortest_edge"))}
        else:
            return None
        crop = None
        if getattr(ip, "do_center_crop", False):
            cs = ip.crop_size
            cget = cs.get if isinstance(cs, dict) else lambda k: getattr(cs, k, None)
            crop = (int(cget("height")), int(cget("width")))
        mode = cls.MODES.get(int(getattr(ip, "resample", 3)))
        if mode is None:
            return None
        scale = float(ip.rescale_factor) if getattr(ip, "do_rescale", True) else 1.0
        mean, std = (ip.image_mean, ip.image_std) if getattr(ip, "do_normalize", True) else ((0, 0, 0), (1, 1, 1))
        return cls(target, crop, mode, scale, mean, std)

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        if "shortest_edge" in self.size:
            s = self.size["shortest_edge"]
            return (s, int(s * w / h)) if h <= w else (int(s * h / w), s)
        return self.size["height"], self.size["width"]

    def __call__(self, images: Sequence[Any], dtype: Any = None):
        import torch

        out = []
        for img in images:
            h, w = img.shape[-2:]
            x = torch.nn.functional.interpolate(img[None].float(), size=self.output_size(h, w), mode=self.mode,
                                                antialias=True, align_corners=False)
            x = x.round_().clamp_(0, 255)  # the processor resizes 8-bit pictures
            if self.crop:
                ch, cw = self.crop
                top, left = (x.shape[-2] - ch) // 2, (x.shape[-1] - cw) // 2
                x = x[..., top:top + ch, left:left + cw]
            out.append(x)
        batch = torch.cat(out) * self.scale
        mean = torch.tensor(self.mean, device=batch.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=batch.device).view(1, 3, 1, 1)
        return ((batch - mean) / std).to(dtype or torch.float32)


def pil_to_tensor(image: Image.Image, device: str):
    import torch

    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.uint8).copy()).permute(2, 0, 1).to(device)


class ClipZeroShotBackend(ModelBackend[Any, ImageResult]):
    """CLIP/SigLIP zero-shot: scored the family's way, calibrated per category on benign images."""

    NEUTRAL_PROMPTS = (
        "a photo of an everyday product",
        "a photo of people smiling",
        "a screenshot of a website",
        "a photo of food",
        "a photo of a landscape",
        "a product advertisement",
    )

    def __init__(self, config: ImageModelConfig, taxonomy: Taxonomy, calibrate: bool = True) -> None:
        self.config = config
        self.name, self.version = config.name, config.version
        self.taxonomy = taxonomy
        self.categories = list(config.categories)
        self.calibrate = calibrate
        self.family: str | None = None
        self.calibration: str = "not set up"
        self.calibration_key: dict[str, Any] = {}
        self._maps: dict[str, CategoryMap] | None = None
        self._tensor_pre: TensorPreprocess | None = None

    @property
    def tensor_device(self) -> str | None:
        """The device whose uint8 image tensors predict() takes directly (`decode_on_device`), else None."""
        return self.config.device if self.config.decode_on_device and self._tensor_pre is not None else None

    def prompts(self) -> tuple[list[str], list[str | None]]:
        """Every category's prompts (its name and zero-shot prompts) and, for CLIP, the neutral ones."""
        prompts, owners = [], []
        for category_id in self.categories:
            category = self.taxonomy.get(category_id)
            for text in [category.name, *category.zero_shot_prompts]:
                prompts.append(PROMPT_TEMPLATE.format(text))
                owners.append(category_id)
        if self.family == "clip":
            prompts.extend(self.NEUTRAL_PROMPTS)
            owners.extend([None] * len(self.NEUTRAL_PROMPTS))
        return prompts, owners

    def setup(self) -> None:
        import torch
        from transformers import AutoModel, AutoProcessor

        configure_torch(self.config.torch_threads, self.config.device)
        source = resolve_model_source(self.config.source)
        offline_if_local(source)
        self._processor = AutoProcessor.from_pretrained(source)
        model = AutoModel.from_pretrained(source, dtype=torch_dtype(self.config.dtype))
        self._model = model.eval().to(self.config.device)
        self.family = model_family(str(getattr(model.config, "model_type", "")), self.config.zero_shot_family)
        prompts, owners = self.prompts()
        self._owners = owners
        self._masks = torch.tensor([[o == c for o in owners] for c in self.categories], device=self.config.device)
        # SigLIP was trained on max_length padding; CLIP does not mind it.
        max_length = self._model.config.text_config.max_position_embeddings
        inputs = self._processor(
            text=prompts, return_tensors="pt", padding="max_length", truncation=True, max_length=max_length
        )
        with torch.inference_mode():
            text = self._model.get_text_features(**inputs.to(self.config.device))
            text = getattr(text, "pooler_output", text)
        self._text = torch.nn.functional.normalize(text.float(), dim=-1)
        self.logit_scale = float(self._model.logit_scale.float().exp().item())
        if self.family == "siglip":
            if getattr(self._model, "logit_bias", None) is None:
                raise ValueError(f"{self.name}: zero_shot_family siglip needs a model with a logit_bias")
            self.logit_bias = float(self._model.logit_bias.float().item())
            self.temperature = None
        else:
            self.logit_bias = None
            self.temperature = float(self.config.zero_shot_temperature or self.logit_scale)
        self._tensor_pre = TensorPreprocess.from_processor(getattr(self._processor, "image_processor", None))
        digest = hashlib.sha256(json.dumps([prompts, owners]).encode()).hexdigest()
        self.calibration_key = {
            "model": model_fingerprint(source, self.name, self.version), "name": self.name,
            "prompts_sha256": digest, "family": self.family,
            "temperature": None if self.temperature is None else round(self.temperature, 4), "method": METHOD,
        }
        if self.calibrate:
            self._load_calibration()

    def _load_calibration(self) -> None:
        path = artifact_path(self.config.zero_shot_calibration, self.name, self.calibration_key["model"])
        doc, why = load_calibration(path, self.calibration_key)
        if doc is None:
            message = (f"{self.ident}: {why}; fit one with `python -m models.zero_shot_calibration --profile "
                       f"<profile>` (docs/zero-shot.md)")
            if self.config.zero_shot_uncalibrated == "refuse":
                raise RuntimeError(message)
            log.warning("%s. Until then its scores are capped at each category's review threshold: it can send "
                        "an ad to review, never enforce", message)
            self._maps, self.calibration = None, "uncalibrated: capped at review"
            return
        missing = [c for c in self.categories if c not in doc["categories"]]
        if missing:
            raise ValueError(f"{path}: no calibration for {missing}")
        self._maps = {c: CategoryMap.fit(doc["categories"][c], self.taxonomy.get(c).thresholds)
                      for c in self.categories}
        self.calibration = why
        log.info("%s: %s (%d benign images)", self.ident, why, doc["benign"]["images"])

    def _pixel_values(self, batch: Sequence[Any]):
        import torch

        dtype = self._model.dtype
        if self._tensor_pre is not None and any(isinstance(x, torch.Tensor) for x in batch):
            device = self.config.device
            tensors = [x.to(device) if isinstance(x, torch.Tensor) else pil_to_tensor(x, device) for x in batch]
            return {"pixel_values": self._tensor_pre(tensors, dtype)}
        images = [Image.fromarray(x.permute(1, 2, 0).cpu().numpy()) if isinstance(x, torch.Tensor) else x
                  for x in batch]
        inputs = self._processor(images=images, return_tensors="pt").to(self.config.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
        return inputs

    def raw_logits(self, batch: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """(normalised image embeddings (n, d), raw category logits (n, categories)): for CLIP the logit
        of each category's softmax mass, for SigLIP its best prompt's logit_scale·cos + logit_bias."""
        import torch

        with torch.inference_mode():
            image = self._model.get_image_features(**self._pixel_values(batch))
            image = getattr(image, "pooler_output", image)
            image = torch.nn.functional.normalize(image.float(), dim=-1)
            cos = image @ self._text.T
            if self.family == "siglip":
                logits = self.logit_scale * cos + self.logit_bias
                z = torch.stack([logits.masked_fill(~m, float("-inf")).amax(dim=-1) for m in self._masks], dim=-1)
            else:
                logp = torch.log_softmax(self.temperature * cos, dim=-1)
                z = torch.stack([logp.masked_fill(~m, float("-inf")).logsumexp(dim=-1)
                                 - logp.masked_fill(m, float("-inf")).logsumexp(dim=-1) for m in self._masks], dim=-1)
        return image.cpu().numpy(), z.double().cpu().numpy()

    def scores(self, z: np.ndarray) -> np.ndarray:
        """Raw logits → the scores the policy reads: calibrated, or capped at review without a calibration."""
        out = np.empty_like(z)
        for j, category in enumerate(self.categories):
            if self._maps is not None:
                out[:, j] = self._maps[category](z[:, j])
            else:
                raw = 1.0 / (1.0 + np.exp(-np.clip(z[:, j], -40, 40)))
                out[:, j] = np.minimum(raw, self.taxonomy.get(category).thresholds.review)
        return out

    def predict(self, batch: Sequence[Any]) -> list[ImageResult]:
        if not batch:
            return []
        embeddings, z = self.raw_logits(batch)
        results = []
        for emb, row in zip(embeddings, self.scores(z), strict=True):
            scores = {c: float(s) for c, s in zip(self.categories, row, strict=True)}
            labels = sorted(scores.items(), key=lambda kv: -kv[1])[:3]
            results.append(ImageResult(category_scores=scores, labels=labels, embedding=emb))
        return results
