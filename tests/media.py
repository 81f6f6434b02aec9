"""Deterministic test media: real encoded files made in memory (no downloads)."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def encode(img: Image.Image, fmt: str = "JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def rifle_drawing() -> Image.Image:
    """A scoped rifle drawn as flat shapes; EfficientNet-Lite0 reads it as 'assault rifle'."""
    img = Image.new("RGB", (640, 360), (205, 195, 170))
    d = ImageDraw.Draw(img)
    d.rectangle((250, 150, 600, 162), fill=(40, 40, 40))  # barrel
    d.rectangle((180, 140, 330, 180), fill=(50, 50, 50))  # receiver
    d.rounded_rectangle((210, 108, 340, 130), radius=10, fill=(25, 25, 25))  # scope
    d.rectangle((250, 130, 260, 140), fill=(30, 30, 30))
    d.rectangle((300, 130, 310, 140), fill=(30, 30, 30))
    d.polygon([(270, 180), (300, 180), (310, 240), (282, 244)], fill=(45, 45, 45))  # magazine
    d.polygon([(200, 180), (230, 180), (220, 235), (195, 232)], fill=(90, 60, 35))  # grip
    d.polygon([(40, 150), (180, 142), (180, 182), (60, 215), (40, 210)], fill=(110, 70, 40))  # stock
    d.line((190, 185, 250, 200), fill=(30, 30, 30), width=4)  # trigger guard
    return img.filter(ImageFilter.GaussianBlur(0.8))


def landscape_photo(seed: int = 0, size: tuple[int, int] = (640, 426)) -> Image.Image:
    """A photo-like landscape: sky gradient, hills, sun, sensor noise."""
    w, h = size
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, h)[:, None]
    sky = np.stack([120 + 80 * y, 170 + 50 * y, 235 - 20 * y], axis=-1) * np.ones((1, w, 1))
    img = Image.fromarray(sky.astype(np.uint8))
    d = ImageDraw.Draw(img)
    d.ellipse((w * 0.7, h * 0.1, w * 0.8, h * 0.25), fill=(255, 240, 190))
    d.polygon([(0, h * 0.7), (w * 0.3, h * 0.45), (w * 0.6, h * 0.68), (w, h * 0.5), (w, h), (0, h)],
              fill=(70, 120, 60))
    d.polygon([(0, h * 0.85), (w * 0.5, h * 0.7), (w, h * 0.9), (w, h), (0, h)], fill=(50, 95, 45))
    arr = np.asarray(img, dtype=np.float32) + rng.normal(0, 6, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1))


def text_banner(text: str, size: tuple[int, int] = (600, 200)) -> Image.Image:
    img = Image.new("RGB", size, (250, 210, 40))
    ImageDraw.Draw(img).text((20, size[1] // 2 - 10), text, fill=(0, 0, 0))
    return img


def decompression_bomb_png(side: int = 30000) -> bytes:
    """A tiny PNG that declares side×side pixels (1-bit, compresses to a few KB)."""
    img = Image.new("1", (side, side), 0)
    return encode(img, "PNG", optimize=True)


def animated_gif(frames: int) -> bytes:
    imgs = []
    for i in range(frames):
        frame = Image.new("L", (8, 8), 0)
        frame.putpixel((i % 8, (i // 8) % 8), 255)
        imgs.append(frame.convert("P"))
    return encode(imgs[0], "GIF", save_all=True, append_images=imgs[1:], duration=10, loop=0)


def caption_scene(colour: tuple[int, int, int], caption: str, size: tuple[int, int] = (640, 360)) -> Image.Image:
    from PIL import ImageFont

    frame = Image.new("RGB", size, colour)
    font = ImageFont.load_default(size=max(12, size[1] // 8))
    ImageDraw.Draw(frame).text((20, size[1] // 2 - 30), caption, fill=(0, 0, 0), font=font)
    return frame


def video_file(path, scenes: list[Image.Image], seconds_per_scene: float = 1.0, fps: int = 10,
               size: tuple[int, int] = (640, 360)) -> bytes:
    """An MP4 (mp4v): each scene image held for `seconds_per_scene`."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for scene in scenes:
        bgr = np.asarray(scene.convert("RGB").resize(size))[:, :, ::-1].copy()
        for _ in range(int(seconds_per_scene * fps)):
            writer.write(bgr)
    writer.release()
    with open(path, "rb") as fh:
        return fh.read()


def random_blocks(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """A distinct creative per seed: random 8×8 colour blocks, upscaled (distinct perceptual hashes)."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    return small.resize(size, Image.BICUBIC)
