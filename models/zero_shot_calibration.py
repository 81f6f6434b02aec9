"""Per-category calibration of zero-shot image scores (docs/zero-shot.md), fitted on benign images.

A zero-shot image model's raw score is not on the scale the policy's thresholds are written for: a
CLIP softmax mass depends on how many prompts compete, a SigLIP sigmoid on its learned bias, and
both on the category's prompts. Like the text baseline (a benign-percentile centre per category,
models/training.py), each category is placed by where benign images fall on it: in logit space, a
piecewise-linear map through

    benign median                        -> FLOOR (a typical harmless image scores about 0.02)
    benign `quantile` (default 0.99)     -> the category's review threshold
    as far again above that quantile     -> the category's reject threshold

extended linearly past both ends, so it is strictly increasing. The fitted artifact holds only the
benign statistics; the thresholds are read from the taxonomy when the backend loads, so a threshold
change needs no refit, while new weights or prompts do: the artifact is keyed by a fingerprint of
the model directory's files and checked against the prompts and scoring settings it was fitted with.

    python -m models.zero_shot_calibration --profile gpu [--images DIR] [--count N]

fits every `clip_zero_shot` model of a profile on the benign images made here (photos, product
shots, food, charts, web pages and banners with harmless text; deterministic), plus any in DIR (a
sample of approved ads is the better set), and writes models/artifacts/zero-shot-image/<name>-<key>.json.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from core.config import Thresholds

log = logging.getLogger(__name__)

METHOD = "benign-quantile-logit-v1"
FLOOR = 0.02  # where the benign median lands
DEFAULT_QUANTILE = 0.99
MIN_SPREAD = 0.25  # logit units between the benign median and the quantile, at least (a flat benign set)
GENERATOR = "adrisk-benign-v1"
_QUANTILES = (0.5, 0.9, 0.95, 0.99, 0.995)


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


# --- the mapping ----------------------------------------------------------------------------------

def benign_stats(z: np.ndarray, quantile: float = DEFAULT_QUANTILE) -> dict[str, float]:
    """One category's raw logits over the benign set → what the mapping needs (and a few more quantiles)."""
    z = np.asarray(z, dtype=np.float64)
    if z.size == 0:
        raise ValueError("no benign scores to calibrate on")
    stats = {f"q{q:g}": float(np.quantile(z, q)) for q in _QUANTILES}
    stats.update(median=float(np.median(z)), at_quantile=float(np.quantile(z, quantile)), max=float(z.max()),
                 min=float(z.min()))
    return stats


@dataclass(frozen=True)
class CategoryMap:
    """Raw logit z → calibrated score, strictly increasing: knots (zs, ys) in logit space, linear beyond."""

    zs: tuple[float, float, float]
    ys: tuple[float, float, float]

    @classmethod
    def fit(cls, stats: dict[str, float], thresholds: Thresholds) -> CategoryMap:
        top = stats["at_quantile"]
        median = min(stats["median"], top - MIN_SPREAD)
        review = logit(thresholds.review)
        floor = min(logit(FLOOR), review - 1.0)
        reject = max(logit(thresholds.reject), review + 0.5)  # review == reject would flatten the map
        return cls(zs=(median, top, top + (top - median)), ys=(floor, review, reject))

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return sigmoid(self.logits(z))

    def logits(self, z: np.ndarray) -> np.ndarray:
        """The calibrated score's logit: strictly increasing in z (the score saturates only in floating point)."""
        z = np.asarray(z, dtype=np.float64)
        (z0, z1, z2), (y0, y1, y2) = self.zs, self.ys
        low, high = (y1 - y0) / (z1 - z0), (y2 - y1) / (z2 - z1)
        y = np.interp(z, self.zs, self.ys)
        y = np.where(z < z0, y0 + (z - z0) * low, y)
        return np.where(z > z2, y2 + (z - z2) * high, y)


# --- keys and artifacts ---------------------------------------------------------------------------

_fingerprints: dict[tuple, str] = {}


def model_fingerprint(source: str, name: str, version: str) -> str:
    """What the calibration is valid for. A local model directory: sha256 over every file in it (weights,
    config, tokenizer, image processor: each changes the scores), cached per process by name, size and
    mtime. A hub id (no local files to read): its name and the profile's version, marked `hub:`."""
    path = Path(source)
    if not path.is_dir():
        return "hub-" + hashlib.sha256(f"{source}@{version}".encode()).hexdigest()
    files = sorted(p for p in path.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(path).parts))
    listing = tuple((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    key = (str(path.resolve()), listing)
    if key not in _fingerprints:
        digest = hashlib.sha256()
        for p in files:
            digest.update(str(p.relative_to(path)).encode() + b"\0")
            with open(p, "rb") as fh:
                for chunk in iter(lambda fh=fh: fh.read(1 << 22), b""):
                    digest.update(chunk)
        _fingerprints[key] = "sha256-" + digest.hexdigest()
    return _fingerprints[key]


def artifact_path(directory: str | Path, name: str, fingerprint: str) -> Path:
    from core.config import resolve_project_path

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return resolve_project_path(str(directory)) / f"{safe}-{fingerprint.split('-', 1)[1][:16]}.json"


def load_calibration(path: Path, expect: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The artifact at `path` if it matches `expect` (fingerprint, prompts, family, temperature,
    method), else None and why not."""
    if not path.exists():
        return None, f"no calibration at {path}"
    doc = json.loads(path.read_text())
    for key, value in expect.items():
        if doc.get(key) != value:
            return None, f"{path} was fitted for {key}={doc.get(key)!r}, the loaded model has {value!r}"
    return doc, f"calibrated by {path.name}"


def write_calibration(path: Path, expect: dict[str, Any], per_category: dict[str, np.ndarray],
                      quantile: float, sources: dict[str, int]) -> dict[str, Any]:
    doc = {
        **expect,
        "benign": {"images": int(next(iter(per_category.values())).size), "sources": sources,
                   "quantile": quantile},
        "mapping": f"logit-space piecewise linear: benign median -> {FLOOR}, benign q{quantile:g} -> review "
                   "threshold, as far again -> reject threshold (docs/zero-shot.md)",
        "categories": {c: {k: round(v, 5) for k, v in benign_stats(z, quantile).items()}
                       for c, z in per_category.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return doc


# --- benign images --------------------------------------------------------------------------------

BENIGN_LINES = (
    "Summer sale: 40% off running shoes", "Fresh bread baked every morning", "Organic vegetables delivered weekly",
    "New autumn collection now in store", "Learn Spanish in 10 minutes a day", "Book your dental check-up online",
    "Family hotel by the lake, breakfast included", "Handmade ceramic mugs", "Free shipping on orders over $50",
    "Join our yoga class this Saturday", "Compare home insurance quotes", "The city library is open late on Thursdays",
)
# Ad shapes (1.91:1 link ads, square, 4:3, 4:5 portrait, 16:9) at about the size the engine decodes
# them to (decode_max_side 512): larger pictures would only be shrunk again.
SIZES = ((640, 336), (576, 576), (640, 480), (480, 600), (640, 360))
KINDS = ("landscape", "product", "food", "chart", "page", "banner")


def _font(size: int):
    return ImageFont.load_default(size=size)


def _colour(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(lo, hi, 3))


def benign_image(kind: str, seed: int) -> Image.Image:
    """One deterministic harmless picture of a kind (KINDS)."""
    rng = np.random.default_rng(seed)
    w, h = SIZES[seed % len(SIZES)]
    if kind == "landscape":
        y = np.linspace(0, 1, h)[:, None, None]
        top, bottom = np.array(_colour(rng, 90, 200)), np.array(_colour(rng, 150, 255))
        img = Image.fromarray((top + (bottom - top) * y * np.ones((1, w, 1))).astype(np.uint8))
        d = ImageDraw.Draw(img)
        for layer in range(3):
            base = h * (0.5 + 0.15 * layer)
            points = [(x, base - rng.uniform(0, h * 0.2)) for x in np.linspace(0, w, 7)]
            d.polygon([(0, h), *points, (w, h)], fill=_colour(rng, 30, 140))
    elif kind == "product":
        img = Image.new("RGB", (w, h), _colour(rng, 200, 256))
        d = ImageDraw.Draw(img)
        cx, cy, s = w // 2, h // 2, min(w, h) // 3
        d.ellipse((cx - s, cy + s * 0.8, cx + s, cy + s * 1.1), fill=(180, 180, 180))  # shadow
        shape = seed % 3
        if shape == 0:
            d.rounded_rectangle((cx - s // 2, cy - s, cx + s // 2, cy + s), radius=s // 5, fill=_colour(rng))
        elif shape == 1:
            d.ellipse((cx - s, cy - s // 2, cx + s, cy + s // 2), fill=_colour(rng))
        else:
            d.rectangle((cx - s, cy - s // 2, cx + s, cy + s // 2), fill=_colour(rng))
            d.rectangle((cx - s, cy - s // 2, cx + s, cy - s // 3), fill=_colour(rng))
        d.text((cx - s, cy + s * 1.2), BENIGN_LINES[seed % len(BENIGN_LINES)][:24], fill=(40, 40, 40),
               font=_font(max(14, h // 24)))
    elif kind == "food":
        img = Image.new("RGB", (w, h), _colour(rng, 120, 220))
        d = ImageDraw.Draw(img)
        cx, cy, s = w // 2, h // 2, min(w, h) * 2 // 5
        d.ellipse((cx - s, cy - s, cx + s, cy + s), fill=(245, 245, 240))
        for _ in range(12):
            x, y, r = cx + rng.uniform(-s / 2, s / 2), cy + rng.uniform(-s / 2, s / 2), rng.uniform(s / 10, s / 4)
            d.ellipse((x - r, y - r, x + r, y + r), fill=_colour(rng, 60, 240))
    elif kind == "chart":
        img = Image.new("RGB", (w, h), (255, 255, 255))
        d = ImageDraw.Draw(img)
        bars = int(rng.integers(4, 10))
        for i in range(bars):
            x0 = w * 0.1 + i * w * 0.8 / bars
            top = h * 0.9 - rng.uniform(0.1, 0.7) * h
            d.rectangle((x0, top, x0 + w * 0.6 / bars, h * 0.9), fill=_colour(rng, 0, 200))
        d.line((w * 0.1, h * 0.9, w * 0.9, h * 0.9), fill=(0, 0, 0), width=3)
        d.text((w * 0.1, h * 0.05), "Quarterly visitors", fill=(0, 0, 0), font=_font(max(14, h // 16)))
    elif kind == "page":
        img = Image.new("RGB", (w, h), (250, 250, 250))
        d = ImageDraw.Draw(img)
        d.rectangle((0, 0, w, h // 8), fill=_colour(rng, 0, 160))
        size = max(14, h // 22)
        d.text((w // 20, h // 32), BENIGN_LINES[seed % len(BENIGN_LINES)], fill=(255, 255, 255), font=_font(size))
        for row in range(6):
            d.text((w // 20, h // 5 + row * size * 2), BENIGN_LINES[(seed + row + 1) % len(BENIGN_LINES)],
                   fill=(30, 30, 30), font=_font(size))
    elif kind == "banner":
        img = Image.new("RGB", (w, h), _colour(rng, 120, 256))
        d = ImageDraw.Draw(img)
        d.rectangle((w // 12, h // 3, w - w // 12, h * 2 // 3), fill=_colour(rng, 0, 120))
        d.text((w // 10, h // 2 - h // 20), BENIGN_LINES[seed % len(BENIGN_LINES)], fill=(255, 255, 255),
               font=_font(max(14, h // 14)))
    else:
        raise ValueError(f"unknown kind {kind!r}")
    noise = rng.normal(0, 4, (h, w, 3))
    img = Image.fromarray(np.clip(np.asarray(img, dtype=np.float32) + noise, 0, 255).astype(np.uint8))
    return img.filter(ImageFilter.GaussianBlur(0.6))


def benign_set(count: int) -> Iterator[tuple[str, bytes]]:
    """`count` benign images, the kinds in turn, as JPEG bytes (the format most ads arrive in)."""
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        buf = io.BytesIO()
        benign_image(kind, i).save(buf, "JPEG", quality=90)
        yield f"{kind}-{i}", buf.getvalue()


def folder_images(directory: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}:
            yield str(path.relative_to(directory)), path.read_bytes()


# --- fitting --------------------------------------------------------------------------------------

def fit(backend, images: Sequence[Image.Image], out_dir: str | Path | None = None,
        quantile: float = DEFAULT_QUANTILE, sources: dict[str, int] | None = None, batch: int = 32) -> Path:
    """Score `images` with a set-up ClipZeroShotBackend (raw logits) and write its calibration."""
    rows = [backend.raw_logits(list(images[i:i + batch]))[1] for i in range(0, len(images), batch)]
    z = np.concatenate(rows)
    per_category = {c: z[:, j] for j, c in enumerate(backend.categories)}
    path = artifact_path(out_dir or backend.config.zero_shot_calibration, backend.name,
                         backend.calibration_key["model"])
    write_calibration(path, backend.calibration_key, per_category, quantile,
                      sources or {"images": len(images)})
    return path


def main(argv: Sequence[str] | None = None) -> int:
    from core.config import load_config
    from models.zero_shot_image import ClipZeroShotBackend
    from multimodal.images import configure_pillow, decode_image

    parser = argparse.ArgumentParser(prog="python -m models.zero_shot_calibration",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="gpu")
    parser.add_argument("--count", type=int, default=240, help="benign images made here (0: none)")
    parser.add_argument("--images", type=Path, help="a folder of benign images (e.g. approved ads) to add")
    parser.add_argument("--quantile", type=float, default=DEFAULT_QUANTILE,
                        help="benign quantile placed at each category's review threshold")
    parser.add_argument("--out", help="directory (default: each model's zero_shot_calibration)")
    parser.add_argument("--device", help="run the models here instead of the profile's device (e.g. cpu)")
    parser.add_argument("--source", help="the model directory to calibrate instead of the profile's source "
                        "(a profile with one clip_zero_shot model)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = load_config(args.profile)
    configure_pillow(config.limits)
    named = list(benign_set(args.count))
    sources = {GENERATOR: len(named)}
    if args.images:
        extra = list(folder_images(args.images))
        named += extra
        sources[str(args.images)] = len(extra)
    images = []
    for label, data in named:
        try:
            images.append(decode_image(data, config.limits).image)  # what the service's backends see
        except Exception as exc:
            log.warning("skipping %s: %s", label, exc)
    models = [m for m in config.image_models if m.backend == "clip_zero_shot"]
    if not models:
        parser.error(f"profile {args.profile} has no clip_zero_shot model")
    if args.source and len(models) != 1:
        parser.error("--source needs a profile with exactly one clip_zero_shot model")
    for spec in models:
        if args.source:
            spec = spec.model_copy(update={"source": args.source})
        if args.device:
            dtype = "float32" if args.device == "cpu" else spec.dtype
            spec = spec.model_copy(update={"device": args.device, "dtype": dtype})
        backend = ClipZeroShotBackend(spec, config.taxonomy, calibrate=False)
        backend.setup()
        path = fit(backend, images, args.out, args.quantile, sources)
        print(f"{spec.name}: {len(images)} benign images -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
