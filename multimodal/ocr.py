"""Text in images (Tesseract). Scam creatives put their claim in pixels.

Two ways to call the same Tesseract LSTM model (`ocr.engine` in the profile):

- `tesserocr` (default): Tesseract's C++ API in this process. Each OCR thread loads the language
  model once and keeps it, and recognition releases the GIL, so a thread pool gives real
  parallelism. About 5x cheaper per image than `cli` on this project's media, the same text.
- `cli`: pytesseract runs one `tesseract` process per image, which starts and reloads the model
  every time (that start-up was most of the cost: ~200 ms of ~230 ms on a 512-px photo).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import threading
from concurrent.futures import Executor
from pathlib import Path

from PIL import Image, ImageOps

from core.config import OcrConfig
from multimodal.text import normalise

# Tesseract's flags, the same for both engines: LSTM only, sparse text (words anywhere on the image).
OEM_LSTM_ONLY = 1
PSM_SPARSE_TEXT = 11
# Where Debian/Ubuntu's tesseract-ocr-* packages put the models, newest layout first.
TESSDATA_FOLDERS = ("/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata",
                    "/usr/share/tessdata", "/usr/local/share/tessdata")


@functools.lru_cache(maxsize=8)
def find_tessdata(configured: str | None = None) -> str | None:
    """The folder holding *.traineddata: the profile's, TESSDATA_PREFIX, the CLI's own, or a usual one."""
    candidates = [configured, os.environ.get("TESSDATA_PREFIX")]
    if shutil.which("tesseract"):
        try:
            out = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, timeout=10)
            said = re.search(r'"([^"]+)"', out.stdout + out.stderr)
            candidates.append(said.group(1) if said else None)
        except (OSError, subprocess.SubprocessError):
            pass
    candidates.extend(TESSDATA_FOLDERS)
    for folder in candidates:
        if folder and any(Path(folder).glob("*.traineddata")):
            return str(Path(folder))
    return None


def tesseract_available(config: OcrConfig | None = None) -> bool:
    """Whether OCR can run with this config's engine (the CLI, or tesserocr and its models)."""
    config = config or OcrConfig()
    if config.engine == "cli":
        return shutil.which("tesseract") is not None
    try:
        import tesserocr  # noqa: F401
    except ImportError:
        return False
    folder = find_tessdata(config.tessdata)
    return folder is not None and all(
        (Path(folder) / f"{lang}.traineddata").exists() for lang in config.languages.split("+"))


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


_local = threading.local()


def _api(config: OcrConfig):
    """This thread's Tesseract, loaded once per (models folder, languages) and kept."""
    import tesserocr

    key = (find_tessdata(config.tessdata), config.languages)
    apis = getattr(_local, "apis", None)
    if apis is None:
        apis = _local.apis = {}
    if key not in apis:
        if key[0] is None:
            raise RuntimeError("no tessdata folder with *.traineddata found (set ocr.tessdata)")
        apis[key] = tesserocr.PyTessBaseAPI(path=key[0], lang=config.languages,
                                            psm=PSM_SPARSE_TEXT, oem=OEM_LSTM_ONLY)
    return apis[key]


def _read_in_process(grey: Image.Image, config: OcrConfig) -> str:
    api = _api(config)
    api.SetImage(grey)
    if not api.Recognize(timeout=max(1, round(config.timeout_s * 1000))):
        return ""  # timed out (or failed): no text, as with the CLI
    return api.GetUTF8Text()


def _read_with_cli(grey: Image.Image, config: OcrConfig) -> str:
    import pytesseract

    try:
        return pytesseract.image_to_string(grey, lang=config.languages,
                                           config=f"--oem {OEM_LSTM_ONLY} --psm {PSM_SPARSE_TEXT}",
                                           timeout=config.timeout_s)
    except (RuntimeError, pytesseract.TesseractError):  # timeout or a tesseract crash: no text
        return ""


def ocr_image(image: Image.Image, config: OcrConfig) -> str:
    """The text Tesseract reads, normalised; '' when nothing legible (or on an OCR failure)."""
    grey = prepare_for_ocr(image, config.max_side)
    raw = _read_with_cli(grey, config) if config.engine == "cli" else _read_in_process(grey, config)
    words = [w for w in normalise(raw, 4000).split() if any(ch.isalnum() for ch in w)]
    text = " ".join(words)
    return text if len(text) >= config.min_chars else ""


def ocr_many(images: list[Image.Image], config: OcrConfig, pool: Executor) -> list[str]:
    return list(pool.map(lambda img: ocr_image(img, config), images))
