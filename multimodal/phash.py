"""The 64-bit perceptual hash (pHash, via imagehash) of an image or video frame.

Computed where the pixels are decoded (the image engine); the known-bad bank (policy/known_bad.py)
matches new creatives against rejected ones by Hamming distance between these hashes.
"""

from __future__ import annotations

from PIL import Image


def phash(image: Image.Image) -> int:
    """The DCT perceptual hash as an unsigned 64-bit integer."""
    import imagehash

    return int(str(imagehash.phash(image)), 16)
