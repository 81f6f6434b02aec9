"""What one request may hold and how inputs are read: size limits, URL fetching, OCR, video sampling."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from core.config.base import _Strict


class Limits(_Strict):
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    max_images: int = Field(16, ge=0)
    max_image_bytes: int = Field(12 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(40_000_000, ge=1024)
    max_image_side: int = Field(16_384, ge=32)
    max_image_frames: int = Field(200, ge=1)
    decode_max_side: int = Field(512, ge=64, description="decoded images are shrunk to this")
    max_text_chars: int = Field(100_000, ge=100)
    max_html_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    max_batch_items: int = Field(64, ge=1)
    max_in_flight_ads: int = Field(256, ge=1, description="per ingress replica; past it: 503 Overloaded")
    max_in_flight_mib: int = Field(512, ge=1, description="payload MiB held per ingress replica; past it: 503")
    # video creatives
    max_video_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    max_video_seconds: float = Field(300.0, gt=0)
    max_video_side: int = Field(4096, ge=32)
    max_video_fps: float = Field(120.0, gt=0)
    video_uniform_frames: int = Field(8, ge=1, le=64, description="evenly spaced frames per video")
    video_max_frames: int = Field(16, ge=1, le=128, description="uniform + scene-change frames, total")
    video_scene_threshold: float = Field(
        0.35, gt=0, le=1, description="histogram distance above which a frame starts a new scene"
    )
    allowed_image_formats: list[str] = Field(
        default_factory=lambda: ["JPEG", "PNG", "GIF", "WEBP", "BMP"]
    )


class FetchConfig(_Strict):
    """Fetching `url`-only inputs. Off by default; strict SSRF rules when on."""

    enabled: bool = False
    allow_hosts: list[str] = Field(
        default_factory=list,
        description="host or host:port exempt from the private-address rule (tests' loopback server)",
    )
    max_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    timeout_s: float = Field(5.0, gt=0)
    max_redirects: int = Field(5, ge=0, le=20)
    user_agent: str = "adrisk-fetcher/0.1 (+ad review)"


class OcrConfig(_Strict):
    enabled: bool = True
    languages: str = "eng"
    max_side: int = Field(1600, ge=64, description="images are shrunk to this before OCR")
    timeout_s: float = Field(10.0, gt=0)
    min_chars: int = Field(4, ge=0, description="OCR output shorter than this is dropped")
    engine: Literal["tesserocr", "cli"] = Field(
        "tesserocr", description="tesserocr: Tesseract's API in-process, one loaded model per OCR thread; "
        "cli: one `tesseract` process per image via pytesseract (spawns and reloads the model each time)")
    tessdata: str | None = Field(
        None, description="tesserocr's traineddata folder; default: TESSDATA_PREFIX, else what `tesseract "
        "--list-langs` reports, else the usual Debian/Ubuntu folders")


class VideoConfig(_Strict):
    aggregation: Literal["max", "topk_mean"] = "topk_mean"
    top_k: int = Field(2, ge=1, description="frames averaged per category with topk_mean")
    ocr_frames: int = Field(4, ge=0, description="frames per video sent to OCR (uniform ones first)")
