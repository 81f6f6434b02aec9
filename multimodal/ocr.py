"""Text in images (Tesseract via pytesseract). Scam creatives put their claim in pixels.

Each call runs one `tesseract` process, so a thread pool gives real parallelism across images.
"""

from __future__ import annotations

import shutil
from concurrent.futures import Executor

from PIL import Image, ImageOps

from core.config import OcrConfig
from multimodal.text import normalise


def tesseract_available() -> bool:
    return shutil.which("tesseract") is not None


def prepare_for_ocr(image: Image.Image, max_side: int) -> Image.Image:
    """Greyscale, autocontrast, and at least ~1000 px on the long side (Tesseract likes big glyphs)."""
    grey = ImageOps.autocontrast(image.convert("L"))
    long_side = max(grey.size)
    if long_side < 1000:
        scale = min(3.0, 1000 / long_side)
        grey = grey.resize((round(grey.width * scale), round(grey.height * scale)), Image.BICUBIC)
    elif long_side > max_side:
        grey.thumbnail((max_side, max_side), Image.BILINEAR)
    return grey


def ocr_image(image: Image.Image, config: OcrConfig) -> str:
    """The text Tesseract reads, normalised; '' when nothing legible (or on an OCR failure)."""
    import pytesseract

    try:
        raw = pytesseract.image_to_string(
            prepare_for_ocr(image, config.max_side),
            lang=config.languages,
            config="--oem 1 --psm 11",
            timeout=config.timeout_s,
        )
    except (RuntimeError, pytesseract.TesseractError):  # timeout or a tesseract crash: no text
        return ""
    words = [w for w in normalise(raw, 4000).split() if any(ch.isalnum() for ch in w)]
    text = " ".join(words)
    return text if len(text) >= config.min_chars else ""


def ocr_many(images: list[Image.Image], config: OcrConfig, pool: Executor) -> list[str]:
    return list(pool.map(lambda img: ocr_image(img, config), images))
