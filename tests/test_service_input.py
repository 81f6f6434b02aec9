"""Bad input over real HTTP: each a 4xx with a reason; the service stays ready afterwards."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.media import animated_gif, b64, decompression_bomb_png, encode, landscape_photo, rifle_drawing

JPEG = encode(landscape_photo(seed=3))
GOOD = {"request_id": "ok-1", "creative": {"text": "Fresh bread delivered every morning."}}


def post_raw(client, path: str, content: bytes, ctype: str = "application/json"):
    return client.post(path, content=content, headers={"content-type": ctype})


def image_request(rid: str, data: bytes) -> dict:
    return {"request_id": rid, "creative": {"images": [{"data": b64(data)}]}}


def assert_error(resp, status: int, code: str, needle: str = "") -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"] == code
    assert needle.lower() in body["detail"].lower(), body["detail"]


@pytest.mark.parametrize(
    ("name", "payload", "status", "code", "needle"),
    [
        ("invalid json", b"{not json", 400, "invalid_input", "not valid JSON"),
        ("no content part", json.dumps({"request_id": "x1"}).encode(), 422, "unprocessable", "at least one"),
        ("empty text only", json.dumps({"request_id": "x2", "creative": {"text": "   "}}).encode(),
         422, "unprocessable", "at least one"),
        ("missing request_id", json.dumps({"creative": {"text": "hi"}}).encode(), 422, "unprocessable",
         "request_id"),
        ("javascript landing url", json.dumps({"request_id": "x-js", "landing_page": {
            "url": "javascript:alert(1)", "html": "<p>hi</p>"}}).encode(), 422, "unprocessable", "http(s) URL"),
        ("file landing url", json.dumps({"request_id": "x-file", "landing_page": {
            "url": "file:///etc/passwd"}}).encode(), 422, "unprocessable", "http(s) URL"),
        ("hostless landing url", json.dumps({"request_id": "x-rel", "landing_page": {
            "url": "/claim?ref=1", "html": "<p>hi</p>"}}).encode(), 422, "unprocessable", "http(s) URL"),
        ("bad request_id", json.dumps({"request_id": "a b/c", "creative": {"text": "hi"}}).encode(),
         422, "unprocessable", "request_id"),
        ("unknown field", json.dumps({"request_id": "x3", "creative": {"text": "hi"}, "extra": 1}).encode(),
         422, "unprocessable", "extra"),
        ("base64 garbage", json.dumps(image_request("x4", b"")).replace('"data": ""', '"data": "@@@%%%"')
         .encode(), 422, "unprocessable", "base64"),
        ("signals not numbers", json.dumps({"request_id": "x5", "creative": {"text": "hi"},
                                           "signals": {"ctr": "high"}}).encode(), 422, "unprocessable",
         "signals"),
        ("NaN signal", b'{"request_id": "x7", "creative": {"text": "hi"}, "signals": {"ctr": NaN}}', 422,
         "unprocessable", "signals"),
        ("deeply nested json", b'{"request_id": "x8", "signals": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
         400, "invalid_input", ""),
        ("top-level array", b"[1, 2, 3]", 422, "unprocessable", ""),
        ("invalid utf-8", b'{"request_id": "x6", "creative": {"text": "\xff\xfe"}}', 400, "invalid_input", ""),
    ],
)
def test_malformed_requests(client, name, payload, status, code, needle):
    assert_error(post_raw(client, "/v1/review", payload), status, code, needle)


def test_wrong_content_type_is_415(client):
    assert_error(post_raw(client, "/v1/review", json.dumps(GOOD).encode(), "text/plain"), 415,
                 "unsupported_media_type", "application/json")


def test_body_over_limit_is_413(client):
    big = json.dumps({"request_id": "big", "creative": {"text": "a" * (33 * 1024 * 1024)}}).encode()
    assert_error(post_raw(client, "/v1/review", big), 413, "payload_too_large", "limit")


def chunked_review(request_id: str, text_bytes: int, piece: int = 1 << 20) -> Iterator[bytes]:
    """A review body as a generator: httpx sends it chunked, with no content-length."""
    yield json.dumps({"request_id": request_id, "creative": {"text": "@"}}).encode().split(b"@")[0]
    for start in range(0, text_bytes, piece):
        yield b"a" * min(piece, text_bytes - start)
    yield b'"}}'


@pytest.fixture(scope="module")
def doors(service) -> dict[str, str]:
    """Serve's proxy, and the Ingress replica's own HTTP port (direct ingress) where it is on."""
    from commands.launcher import direct_ingress_targets

    found = {"proxy": service.url}
    direct = direct_ingress_targets()["http"]
    if direct:
        found["direct"] = f"http://127.0.0.1:{direct[0]}"
    return found


@pytest.mark.parametrize("door", ["proxy", "direct"])
def test_an_oversized_chunked_body_is_413_on_every_door(doors, door):
    if door not in doors:
        pytest.skip("direct ingress is off")
    with httpx.Client(base_url=doors[door], timeout=120) as client:
        big = client.post("/v1/review", content=chunked_review(f"big-chunked-{door}", 33 * 1024 * 1024),
                          headers={"content-type": "application/json"})
        assert "content-length" not in big.request.headers and big.request.headers["transfer-encoding"] == "chunked"
        assert_error(big, 413, "payload_too_large", "limit")
        small = client.post("/v1/review", content=chunked_review(f"small-chunked-{door}", 2000, piece=300),
                            headers={"content-type": "application/json"})
        assert small.status_code == 200, small.text  # a chunked body within the limit is served
        assert small.json()["request_id"] == f"small-chunked-{door}"
        assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    ("name", "data", "status", "code", "needle"),
    [
        ("empty image", b"", 400, "invalid_input", "empty"),
        ("not an image", b"hello, I am text pretending to be an image", 400, "invalid_input", "not a recognised"),
        ("truncated jpeg", JPEG[: len(JPEG) // 2], 400, "invalid_input", "truncated"),
        ("corrupt png body", encode(landscape_photo(), "PNG")[:60] + b"\x00" * 500, 400, "invalid_input", ""),
        ("corrupt webp", encode(landscape_photo(), "WEBP")[:40], 400, "invalid_input", ""),
        ("truncated gif", animated_gif(5)[:50], 400, "invalid_input", ""),
        ("decompression bomb", decompression_bomb_png, 422, "unprocessable", "pixels"),  # built when run: ~2 s
        ("animated bomb", animated_gif(1000), 422, "unprocessable", "frames"),
        ("tiff not accepted", encode(landscape_photo(), "TIFF"), 415, "unsupported_media_type", "TIFF"),
    ],
)
def test_hostile_images(client, name, data, status, code, needle):
    data = data() if callable(data) else data  # not at collection, which the fast tier pays for too
    resp = client.post("/v1/review", json=image_request(f"img-bad-{name.replace(' ', '-')}", data))
    assert_error(resp, status, code, needle)
    assert "creative.images[0]" in resp.json()["detail"]


def test_too_many_images_is_422(client):
    body = {"request_id": "many", "creative": {"images": [{"data": b64(JPEG)}] * 17}}
    assert_error(client.post("/v1/review", json=body), 422, "unprocessable", "limit")


def test_batch_isolates_bad_items(client):
    items = [
        image_request("batch-good-0", encode(rifle_drawing())),
        image_request("batch-bad-1", JPEG[:300]),
        {"request_id": "batch-bad-2"},
        {"request_id": "batch-good-3", "creative": {"text": "Handmade leather wallets, free engraving."}},
    ]
    resp = client.post("/v1/review:batch", json={"items": items})
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert [r["request_id"] for r in results] == [i["request_id"] for i in items]
    assert [r["ok"] for r in results] == [True, False, False, True]
    assert results[1]["error"]["status"] == 400 and "truncated" in results[1]["error"]["detail"].lower()
    assert results[2]["error"]["status"] == 422
    assert results[0]["result"]["scores"]["weapons"] > 0.5


def test_batch_with_non_object_items_is_422(client):
    resp = client.post("/v1/review:batch", json={"items": [1, "x", None]})
    assert_error(resp, 422, "unprocessable", "items")


def test_batch_limits(client):
    assert_error(client.post("/v1/review:batch", json={"items": []}), 422, "unprocessable", "items")
    items = [{"request_id": f"lim-{i}", "creative": {"text": "x"}} for i in range(65)]
    assert_error(client.post("/v1/review:batch", json={"items": items}), 422, "unprocessable", "limit")


def test_service_still_ready_after_bad_input(client):
    assert client.get("/readyz").status_code == 200
    resp = client.post("/v1/review", json={**GOOD, "request_id": "after-bad"})
    assert resp.status_code == 200


def test_hostile_text_is_handled(client):
    # Control characters, RTL overrides, huge words, zero-width joiners: scored, not crashed.
    text = "\u202eFREE\u200d MONEY\x00\x07 " + "A" * 5000 + " ｃｌｉｃｋ ｎｏｗ"
    resp = client.post("/v1/review", json={"request_id": "hostile-text", "creative": {"text": text}})
    assert resp.status_code == 200
    surrogates = json.dumps({"request_id": "surrogate-text", "creative": {"text": "free \udbff money \ud800"}})
    resp = post_raw(client, "/v1/review", surrogates.encode())
    assert resp.status_code in (200, 400, 422), resp.text
    html = "<div>" * 5000 + "deep" + "</div>" * 5000
    resp = client.post("/v1/review", json={"request_id": "deep-html", "landing_page": {"html": html}})
    assert resp.status_code == 200


def test_base64_of_valid_image_with_whitespace_is_rejected(client):
    data = base64.b64encode(JPEG).decode()
    body = {"request_id": "ws-b64", "creative": {"images": [{"data": data[:100] + "\n" + data[100:]}]}}
    assert_error(client.post("/v1/review", json=body), 422, "unprocessable", "base64")
