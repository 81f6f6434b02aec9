"""A fixed, deterministic image set for the image path: photos without text and creatives with text.

Used by tests/test_image_agreement.py (old vs new image runtimes must agree) and
benchmarks/image_path.py (where the time goes, before/after). Every image is made here, in memory.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tests.media import caption_scene, encode, landscape_photo, random_blocks, rifle_drawing, text_banner

SIZE = (1280, 960)  # the served-benchmark size (benchmarks/serving_vs_inprocess.py)
QUALITY = 93
LINES = (
    "DOUBLE YOUR BITCOIN SEND BTC NOW",
    "Lose 20 kg in 2 weeks! Order now",
    "Cheap pills online, no prescription",
    "Summer sale: 40% off running shoes",
    "Guaranteed returns 300% in 30 days",
    "Win a free iPhone, click here",
    "Organic vegetables delivered weekly",
    "Replica watches at wholesale prices",
)


def _font(size: int):
    return ImageFont.load_default(size=size)


def photo_with_caption(seed: int, line: str) -> Image.Image:
    """A photo-like creative with one large caption across its lower third."""
    img = landscape_photo(seed, SIZE)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 660, SIZE[0], 800), fill=(20, 20, 20))
    draw.text((60, 690), line, fill=(255, 255, 255), font=_font(64))
    return img


def page_screenshot(seed: int) -> Image.Image:
    """A landing-page-like screenshot: a coloured header, a headline and lines of body text."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", SIZE, (250, 250, 250))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, SIZE[0], 140), fill=tuple(int(c) for c in rng.integers(0, 160, 3)))
    draw.text((50, 40), LINES[seed % len(LINES)], fill=(255, 255, 255), font=_font(56))
    for row in range(6):
        draw.text((50, 220 + row * 110), LINES[(seed + row + 1) % len(LINES)], fill=(30, 30, 30), font=_font(48))
    return img


def photos(n: int = 8) -> list[tuple[str, bytes]]:
    """1280×960 photo-like JPEGs without text (the served benchmark's images)."""
    return [(f"photo-{s}", encode(landscape_photo(s, SIZE), "JPEG", quality=QUALITY)) for s in range(n)]


def with_text(n: int = 8) -> list[tuple[str, bytes]]:
    """1280×960 JPEG creatives with text: captioned photos and page screenshots, alternating."""
    out = []
    for i in range(n):
        img = photo_with_caption(100 + i, LINES[i % len(LINES)]) if i % 2 == 0 else page_screenshot(i)
        out.append((f"text-{i}", encode(img, "JPEG", quality=QUALITY)))
    return out


def service_media() -> list[tuple[str, bytes]]:
    """The pictures the service and engine tests send (tests/media.py), as they send them."""
    return [
        ("rifle", encode(rifle_drawing())),
        ("landscape", encode(landscape_photo())),
        ("scam-caption", encode(caption_scene((250, 210, 40), "DOUBLE YOUR BITCOIN SEND BTC NOW"))),
        ("win-cash", encode(caption_scene((250, 210, 40), "WIN CASH NOW"))),
        ("banner", encode(text_banner("LIMITED OFFER: cheap pills online"))),
        *[(f"blocks-{s}", encode(random_blocks(s))) for s in range(6)],
    ]


def agreement_set() -> list[tuple[str, bytes]]:
    """Every image above: what old and new image runtimes must score alike."""
    return [*service_media(), *photos(), *with_text(), *[(f"blocks-{s}", encode(random_blocks(s), "PNG"))
                                                     for s in range(6, 16)]]
