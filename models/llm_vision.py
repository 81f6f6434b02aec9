"""What a vision-language LLM sees of a creative: its still images, screenshot and video frames.

Used by the gpu profile's VLM (`llm.max_images > 0`); text-only models never get here. Media are
decoded again in the LLM replica under the same limits as the image models, so nothing unchecked
reaches the model, and shrunk to `llm.image_max_side` to bound the vision tokens per review.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from PIL import Image

from core.config import Limits
from multimodal.images import decode_image
from multimodal.video import decode_video

_CITED_TIME = re.compile(r"^video@(\d+(?:\.\d+)?)s")


@dataclass(frozen=True)
class VisualInput:
    label: str  # how the prompt and the evidence name it: image[0], landing_page.screenshot, video@2.4s
    image: Image.Image


def cited_video_times(evidence: list[dict[str, Any]]) -> list[float]:
    """Frame times the models cited, highest score first."""
    ranked = sorted(evidence, key=lambda e: -float(e.get("score", 0.0)))
    times = [float(m.group(1)) for e in ranked if (m := _CITED_TIME.match(str(e.get("source", ""))))]
    return list(dict.fromkeys(times))


def _shrink(image: Image.Image, max_side: int) -> Image.Image:
    if max(image.size) <= max_side:
        return image
    out = image.copy()
    out.thumbnail((max_side, max_side), Image.BICUBIC)
    return out


def _pick_frames(frames: list[Any], cited: list[float], budget: int) -> list[Any]:
    """Cited frames first (nearest sampled frame to each cited time), then an even spread."""
    if budget <= 0 or not frames:
        return []
    chosen: list[Any] = []
    for t in cited:
        nearest = min(frames, key=lambda f: abs(f.time_s - t))
        if nearest not in chosen:
            chosen.append(nearest)
    rest = [f for f in frames if f not in chosen]
    spare = budget - len(chosen)
    if spare > 0 and rest:
        step = len(rest) / spare
        chosen += [rest[int(i * step)] for i in range(min(spare, len(rest)))]
    return sorted(chosen[:budget], key=lambda f: f.time_s)


def visual_inputs(
    media: list[tuple[str, str, bytes]], evidence: list[dict[str, Any]], limits: Limits,
    max_images: int, max_side: int,
) -> list[VisualInput]:
    """Still images and the screenshot first (in request order), then video frames, ≤ max_images."""
    out: list[VisualInput] = []
    videos: list[bytes] = []
    for source, kind, raw in media:
        if kind == "video":
            videos.append(raw)
        elif len(out) < max_images:
            out.append(VisualInput(source, _shrink(decode_image(raw, limits).image, max_side)))
    for raw in videos[:1]:  # one video per creative
        frames = _pick_frames(decode_video(raw, limits).frames, cited_video_times(evidence), max_images - len(out))
        out += [VisualInput(f"video@{f.time_s:.1f}s", _shrink(f.image, max_side)) for f in frames]
    return out
