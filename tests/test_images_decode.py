"""The image decoder's limits, plus a property-based fuzz: any bytes → image or AdriskError."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import Limits
from core.errors import AdriskError
from multimodal.images import decode_image, probe_image
from tests.media import encode, landscape_photo

LIMITS = Limits()
SEEDS = [encode(landscape_photo(size=(64, 48)), fmt) for fmt in ("JPEG", "PNG", "GIF", "WEBP", "BMP")]


def test_large_jpeg_is_decoded_small():
    decoded = decode_image(encode(landscape_photo(size=(3000, 2000))), LIMITS)
    assert max(decoded.image.size) <= LIMITS.decode_max_side
    assert (decoded.width, decoded.height) == (3000, 2000)


def test_transparent_png_is_composited_on_white():
    from PIL import Image

    img = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    decoded = decode_image(encode(img, "PNG"), LIMITS)
    assert decoded.image.getpixel((5, 5)) == (255, 255, 255)


@pytest.mark.slow  # a fuzzer (300 examples)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), cut=st.integers(0, 4000), flips=st.lists(
    st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=8))
def test_fuzzed_images_decode_or_fail_cleanly(seed, cut, flips):
    data = bytearray(seed[: max(1, len(seed) - cut)])
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    try:
        decoded = decode_image(bytes(data), LIMITS)
    except AdriskError as exc:
        assert exc.http_status in (400, 413, 415, 422) and exc.detail
    else:
        assert decoded.image.mode == "RGB" and min(decoded.image.size) >= 1


@pytest.mark.slow  # a fuzzer
@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_escape_as_other_errors(data):
    try:
        probe_image(data, LIMITS)
    except AdriskError:
        pass
