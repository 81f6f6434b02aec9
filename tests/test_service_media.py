"""Video creatives, OCR of text in pixels, and landing-page screenshots over real HTTP."""

from __future__ import annotations

import pytest

from tests.media import b64, caption_scene, encode, landscape_photo, rifle_drawing, video_file

SCAM_CAPTION = "DOUBLE YOUR BITCOIN"


@pytest.fixture(scope="module")
def scam_video(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("video") / "ad.mp4"
    scenes = [landscape_photo(), rifle_drawing(), caption_scene((250, 210, 40), SCAM_CAPTION)]
    return video_file(path, scenes, seconds_per_scene=2.0)


def test_video_ad_scores_frames_and_cites_them(client, scam_video):
    resp = client.post("/v1/review", json={"request_id": "video-1", "creative": {"video": {"data": b64(scam_video)}}})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    weapons = [e for e in body["evidence"] if e["category"] == "weapons"]
    assert weapons and weapons[0]["source"].startswith("video@")
    t = float(weapons[0]["source"].removeprefix("video@").removesuffix("s"))
    assert 2.0 <= t < 4.0  # the rifle scene
    assert body["scores"]["weapons"] > 0.4
    ocr = [e for e in body["evidence"] if e["source"].startswith("video@") and e["source"].endswith(".ocr")]
    read = [e for e in ocr if "BITCOIN" in e["detail"].upper()]
    assert read, ocr
    t = float(read[0]["source"].removeprefix("video@").removesuffix("s.ocr"))
    assert 4.0 <= t < 6.0  # read from the caption scene, and scored by the text heads like ad copy
    assert body["scores"][read[0]["category"]] >= read[0]["score"] > 0
    assert "image_models" in body["timings_ms"] and "text_encoder_ocr" in body["timings_ms"]


def _ocr_text(detail: str) -> str:
    return detail[detail.index('"') + 1: detail.rindex('"')]


def test_text_in_an_image_is_read_and_scored(client):
    banner = caption_scene((250, 210, 40), SCAM_CAPTION + " SEND BTC NOW")
    body = client.post(
        "/v1/review", json={"request_id": "ocr-1", "creative": {"images": [{"data": b64(encode(banner))}]}}
    ).json()
    ocr = [e for e in body["evidence"] if e["source"] == "image[0].ocr"]
    assert ocr and "BITCOIN" in ocr[0]["detail"].upper()
    # The text read from the pixels is scored exactly as the same words sent as ad copy would be.
    as_copy = client.post("/v1/review", json={"request_id": "ocr-1-copy", "options": {"record": False},
                                              "creative": {"text": _ocr_text(ocr[0]["detail"])}}).json()
    assert body["scores"]["scam_fraud"] == pytest.approx(as_copy["scores"]["scam_fraud"], abs=2e-3)
    plain = client.post(
        "/v1/review", json={"request_id": "ocr-2", "creative": {"images": [{"data": b64(encode(landscape_photo()))}]}}
    ).json()
    assert not any(e["source"].endswith(".ocr") for e in plain["evidence"])
    assert plain["scores"]["scam_fraud"] < 0.3
    assert body["scores"]["scam_fraud"] > 2 * plain["scores"]["scam_fraud"]


def test_landing_page_screenshot_goes_through_the_image_path(client):
    body = client.post("/v1/review", json={
        "request_id": "shot-1",
        "landing_page": {"screenshot": {"data": b64(encode(rifle_drawing()))}},
    }).json()
    assert body["scores"]["weapons"] > 0.5
    assert any(e["source"] == "landing_page.screenshot" for e in body["evidence"])


def _tiny_video(tmp_path, name: str, size: tuple[int, int], seconds: float, fps: int) -> bytes:
    return video_file(tmp_path / name, [landscape_photo(size=(64, 48))], seconds_per_scene=seconds, fps=fps,
                      size=size)


def test_hostile_videos(client, scam_video, tmp_path):
    cases = [
        ("garbage after mp4 header", scam_video[:32] + b"\x00\xff" * 2000, 400, "creative.video"),
        ("truncated mp4", scam_video[: len(scam_video) // 3], 400, "creative.video"),
        ("random bytes", bytes(range(256)) * 8, 415, "creative.video"),
        ("absurd resolution", _tiny_video(tmp_path, "wide.mp4", (4400, 16), 0.5, 4), 422, "creative.video"),
        ("absurd duration", _tiny_video(tmp_path, "long.mp4", (32, 32), 310, 1), 422, "creative.video"),
    ]
    for name, data, status, needle in cases:
        resp = client.post("/v1/review", json={"request_id": f"vbad-{name.replace(' ', '-')}",
                                                "creative": {"video": {"data": b64(data)}}})
        assert resp.status_code == status, (name, resp.text)
        assert needle in resp.json()["detail"], name
    empty = client.post("/v1/review", json={"request_id": "vbad-empty", "creative": {"video": {"data": ""}}})
    assert empty.status_code == 400 and "empty" in empty.json()["detail"]
    assert client.get("/readyz").status_code == 200
