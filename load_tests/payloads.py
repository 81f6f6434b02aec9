"""Deterministic load-test payloads: banner images with text, short videos, landing pages, ad copy.

Run once before locust (`python -m load_tests.payloads --out var/load/payloads.json`): locust
reads only this JSON, so its process never imports the heavy stack. Same seed, same bytes.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import random
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SCAM = ["Double your bitcoin in 24 hours, guaranteed returns", "Claim your free iPhone now, only 3 left",
        "Lose 10 kg in one week with this miracle pill", "Your account is locked, verify your password here"]
BENIGN = ["Fresh sourdough bread delivered every morning", "Handmade oak furniture with free delivery",
          "Learn Spanish online with native teachers", "Winter jackets 20% off this weekend",
          "Family dentist accepting new patients", "Book a table at our Italian restaurant"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def banner(rng: random.Random, text: str, size: tuple[int, int] = (640, 360)) -> bytes:
    """A photo-like gradient with noise and a caption: what ad creatives look like to the models."""
    w, h = size
    base = np.linspace(rng.randint(0, 120), rng.randint(120, 255), w, dtype=np.float32)[None, :, None]
    noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, 18, (h, w, 3))
    pixels = np.clip(base + noise + np.array([rng.randint(0, 80) for _ in range(3)]), 0, 255).astype(np.uint8)
    img = Image.fromarray(pixels)
    ImageDraw.Draw(img).text((24, h - 60), text.upper(), fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


def video(rng: random.Random, seconds: float = 2.0, fps: int = 10, size: tuple[int, int] = (320, 180)) -> bytes:
    import cv2

    with tempfile.NamedTemporaryFile(suffix=".mp4") as tmp:
        writer = cv2.VideoWriter(tmp.name, cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        for _scene in range(2):
            frame = np.asarray(Image.open(io.BytesIO(banner(rng, rng.choice(SCAM + BENIGN), size))))[:, :, ::-1]
            for _ in range(int(seconds * fps / 2)):
                writer.write(np.ascontiguousarray(frame))
        writer.release()
        return Path(tmp.name).read_bytes()


def page(rng: random.Random, scam: bool) -> dict:
    title = rng.choice(SCAM if scam else BENIGN)
    form = ('<form action="/collect"><label>Card number <input name="cc"></label>'
            '<label>Password <input type="password" name="pw"></label></form>') if scam else ""
    html = (f"<html><head><title>{title}</title></head><body><h1>{title}</h1>"
            f"<p>{' '.join(rng.choice(BENIGN) for _ in range(6))}</p>{form}</body></html>")
    host = "secure-verify-account.top" if scam else "www.example-shop.com"
    return {"url": f"https://{host}/offer/{rng.randint(1, 9999)}", "html": html}


def build(seed: int = 20261124, n: int = 24) -> dict:
    rng = random.Random(seed)
    texts = [rng.choice(SCAM if i % 4 == 0 else BENIGN) for i in range(n)]
    return {
        "seed": seed,
        "text": [{"creative": {"text": t}} for t in texts],
        "image": [{"creative": {"text": t, "images": [{"data": _b64(banner(rng, t))}]}} for t in texts[:12]],
        "video": [{"creative": {"text": t, "video": {"data": _b64(video(rng))}}} for t in texts[:3]],
        "page": [{"creative": {"text": t}, "landing_page": page(rng, scam=i % 3 == 0)} for i, t in enumerate(texts)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="var/load/payloads.json")
    parser.add_argument("--seed", type=int, default=20261124)
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(build(args.seed)))
    print(f"payloads: {out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
