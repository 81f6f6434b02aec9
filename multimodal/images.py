"""Decode untrusted image bytes into bounded RGB images, or fail with a reason.

Every limit is checked before the pixels are decoded: byte size, container format, declared
dimensions (decompression bombs), frame count (animated bombs). JPEGs are decoded at reduced
scale with `draft()` so a 6000-pixel photo never costs a full decode.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageFile, UnidentifiedImageError

from core.config import Limits
from core.errors import InvalidInput, PayloadTooLarge, UnprocessableInput, UnsupportedMediaType

# Truncated files must fail, not decode as half-grey images.
ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image
    format: str
    width: int
    height: int
    frames: int


def probe_image(data: bytes, limits: Limits) -> tuple[str, int, int, int]:
    """Read only the header: (format, width, height, frames). Cheap; used by the ingress."""
    if not data:
        raise InvalidInput("image is empty (0 bytes)")
    if len(data) > limits.max_image_bytes:
        raise PayloadTooLarge(
            f"image is {len(data)} bytes; the limit is {limits.max_image_bytes} bytes"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = (img.format or "").upper()
                width, height = img.size
                frames = int(getattr(img, "n_frames", 1) or 1)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnprocessableInput(
            f"image declares more pixels than the limit of {limits.max_image_pixels} (decompression bomb)"
        ) from None
    except UnidentifiedImageError:
        raise InvalidInput("image data is not a recognised image format") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InvalidInput(f"image header is corrupt: {exc}") from None
    if fmt not in limits.allowed_image_formats:
        raise UnsupportedMediaType(
            f"image format {fmt or 'unknown'} is not accepted; use one of "
            f"{', '.join(limits.allowed_image_formats)}"
        )
    if width <= 0 or height <= 0:
        raise InvalidInput(f"image declares invalid dimensions {width}x{height}")
    if max(width, height) > limits.max_image_side or width * height > limits.max_image_pixels:
        raise UnprocessableInput(
            f"image declares {width}x{height} pixels; limits are {limits.max_image_side} per side "
            f"and {limits.max_image_pixels} in total"
        )
    if frames > limits.max_image_frames:
        raise UnprocessableInput(
            f"animated image has {frames} frames; the limit is {limits.max_image_frames}"
        )
    return fmt, width, height, frames


def decode_image(data: bytes, limits: Limits) -> DecodedImage:
    """Fully decode the first frame into RGB, shrunk so its long side ≤ decode_max_side."""
    fmt, width, height, frames = probe_image(data, limits)
    target = limits.decode_max_side
    try:
        with Image.open(io.BytesIO(data)) as img:
            if fmt == "JPEG":
                img.draft("RGB", (target, target))
            img.seek(0)
            img.load()
            if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
                # Composite on white: transparent pixels must not become black.
                rgba = img.convert("RGBA")
                canvas = Image.new("RGB", rgba.size, (255, 255, 255))
                canvas.paste(rgba, mask=rgba.split()[-1])
                rgb = canvas
            else:
                rgb = img.convert("RGB")
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise InvalidInput(f"image data is truncated or corrupt ({fmt}): {exc}") from None
    if max(rgb.size) > target:
        rgb.thumbnail((target, target), Image.BILINEAR)
    return DecodedImage(image=rgb, format=fmt, width=width, height=height, frames=frames)


def configure_pillow(limits: Limits) -> None:
    """Pillow's own bomb guard, aligned with ours (it raises past 2x this value)."""
    Image.MAX_IMAGE_PIXELS = limits.max_image_pixels
