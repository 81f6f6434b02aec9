"""Decode untrusted image bytes into bounded RGB images, or fail with a reason.

Every limit is checked before the pixels are decoded: byte size, container format, declared
dimensions (decompression bombs), frame count (animated bombs). JPEGs are decoded at reduced
scale with `draft()` so a 6000-pixel photo never costs a full decode.

`decode_jpegs_on_device` is the GPU alternative for a batch (torchvision's nvJPEG decode): the same
header probe first, then one batched decode on the device; whatever it cannot take (not a JPEG, a
failed probe, a decode error, no torchvision or CUDA) is left to `decode_image`, which then answers
exactly as it always has.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageFile, UnidentifiedImageError

from core.config import Limits
from core.errors import AdriskError, InvalidInput, PayloadTooLarge, UnprocessableInput, UnsupportedMediaType

log = logging.getLogger(__name__)

# Truncated files must fail, not decode as half-grey images.
ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image
    format: str
    width: int
    height: int
    frames: int
    # The same picture as a uint8 (3, h, w) tensor on the device it was decoded on (device decode only):
    # what a backend that takes device tensors reads instead of `image`.
    pixels: Any = None


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


def thumbnail_size(width: int, height: int, target: int) -> tuple[int, int]:
    """The size `Image.thumbnail((target, target))` gives a width×height picture: the long side
    `target`, the short side the whole number (floor or ceil) that keeps the aspect ratio closest."""
    if max(width, height) <= target:
        return width, height
    aspect = width / height
    if width >= height:
        short = min((int(target / aspect), int(target / aspect) + 1), key=lambda n: abs(aspect - target / max(n, 1)))
        return target, max(1, short)
    short = min((int(target * aspect), int(target * aspect) + 1), key=lambda n: abs(aspect - n / target))
    return max(1, short), target


JpegDecoder = Callable[[list[Any]], list[Any]]


def device_jpeg_decoder(device: str) -> JpegDecoder | None:
    """torchvision's batched `decode_jpeg` on `device` (RGB out), or None with the reason logged:
    device decode is for CUDA (on CPU Pillow's draft() decode at reduced scale is the faster one), and
    torchvision is optional (the gpu install has it, the cpu lock leaves it out)."""
    if not device.startswith("cuda"):
        return None
    import torch

    if not torch.cuda.is_available():
        log.warning("decode_on_device: CUDA is not available; JPEGs are decoded by Pillow on the CPU")
        return None
    if importlib.util.find_spec("torchvision") is None:
        log.warning("decode_on_device: torchvision is not installed; JPEGs are decoded by Pillow on the CPU")
        return None
    io_mod = importlib.import_module("torchvision.io")
    mode = io_mod.ImageReadMode.RGB

    def decode(tensors: list[Any]) -> list[Any]:
        return io_mod.decode_jpeg(tensors, mode=mode, device=device)

    return decode


def _shrink_on_device(pixels: Any, target: int) -> Any:
    """uint8 (3, h, w) → uint8 (3, h', w') with the long side ≤ target, as Pillow's thumbnail sizes it
    (antialiased bilinear, like Pillow's BILINEAR when it reduces)."""
    import torch

    _, h, w = pixels.shape
    new_w, new_h = thumbnail_size(w, h, target)
    if (new_w, new_h) == (w, h):
        return pixels
    resized = torch.nn.functional.interpolate(pixels[None].float(), size=(new_h, new_w), mode="bilinear",
                                              antialias=True, align_corners=False)
    return resized[0].round_().clamp_(0, 255).to(torch.uint8)


def _decode_one(decode: JpegDecoder, data: Any) -> Any:
    try:
        return decode([data])[0]
    except Exception:
        return None  # Pillow decides, with its own error


def decode_jpegs_on_device(items: Sequence[bytes], limits: Limits, decode: JpegDecoder) -> list[DecodedImage | None]:
    """Decode the JPEGs among `items` in one batch with `decode` (see device_jpeg_decoder), after the
    same header probe as decode_image: byte size, format, declared dimensions (bombs) and frames are
    checked before any pixel is decoded. Each picture is shrunk on the device to decode_max_side (the
    size the Pillow path gives) and copied once to the host as the PIL image the CPU consumers read
    (OCR, pHash, the other backends); `pixels` keeps the device copy.

    One result per item: None where the Pillow path must answer instead — not a JPEG, a failed
    probe (decode_image raises the same error again), a decoder error (a batch that fails is retried
    one image at a time, so one bad file does not send the rest to the CPU), or a decoded size that is
    not the one the header declared."""
    import torch

    out: list[DecodedImage | None] = [None] * len(items)
    chosen: list[tuple[int, tuple[str, int, int, int]]] = []
    for i, data in enumerate(items):
        try:
            probe = probe_image(data, limits)
        except AdriskError:
            continue
        if probe[0] == "JPEG" and probe[3] == 1:
            chosen.append((i, probe))
    if not chosen:
        return out
    data = [torch.frombuffer(bytearray(items[i]), dtype=torch.uint8) for i, _ in chosen]
    try:
        decoded = list(decode(data))
    except Exception as exc:  # nvJPEG refuses some files (CMYK, arithmetic coding, corrupt data)
        log.info("device JPEG decode failed for a batch of %d (%s); one by one, Pillow for the failures",
                 len(chosen), exc)
        decoded = [_decode_one(decode, d) for d in data]
    for (i, (fmt, width, height, frames)), pixels in zip(chosen, decoded, strict=True):
        if pixels is None or tuple(pixels.shape) != (3, height, width):
            continue
        small = _shrink_on_device(pixels, limits.decode_max_side)
        image = Image.fromarray(small.permute(1, 2, 0).contiguous().cpu().numpy(), "RGB")
        out[i] = DecodedImage(image=image, format=fmt, width=width, height=height, frames=frames, pixels=small)
    return out
