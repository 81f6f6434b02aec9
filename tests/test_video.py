"""The video decoder: sampling (uniform + scene cuts), limits, lying metadata, and a fuzz.

Every video is encoded here with cv2.VideoWriter (no downloads). Each frame carries its own index
as a strip of black/white blocks in the top-left corner, so a test can check that the frame
returned for time t really is the frame shown at time t (seeking is frame-accurate).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import Limits
from core.errors import AdriskError, InvalidInput, PayloadTooLarge, UnprocessableInput, UnsupportedMediaType
from multimodal import video
from multimodal.video import DecodedVideo, decode_video, probe_step, probe_video, sniff_container

LIMITS = Limits()
MP4_HEADER = b"\x00\x00\x00\x1cftypisom\x00\x00\x02\x00isomiso2mp41"
FPS = 10
SIZE = (320, 240)
N_FRAMES = 40
CUTS = (15, 28)  # first frame of scenes 1 and 2: 1.5 s and 2.8 s
BLOCK = 12  # index strip: 10 blocks of BLOCK px
# (fourcc, extension, container reported by decode_video)
CODECS = [
    ("mp4v", "mp4", "mp4"),
    ("mp4v", "mov", "mov"),
    ("MJPG", "avi", "avi"),
    ("VP80", "webm", "webm"),
    ("VP90", "webm", "webm"),
    ("FFV1", "mkv", "mkv"),
]
NAMES = [f"{fourcc}.{ext}" for fourcc, ext, _ in CODECS]


# ----------------------------------------------------------------------------- media
def draw_index(img: np.ndarray, index: int) -> None:
    for bit in range(10):
        img[:BLOCK, bit * BLOCK : (bit + 1) * BLOCK] = 255 if (index >> bit) & 1 else 0


def read_index(rgb: np.ndarray) -> int:
    pad = BLOCK // 4
    blocks = [rgb[pad : BLOCK - pad, bit * BLOCK + pad : (bit + 1) * BLOCK - pad] for bit in range(10)]
    return sum(1 << bit for bit, block in enumerate(blocks) if block.mean() > 128)


def scene_frame(index: int, size: tuple[int, int] = SIZE, cuts: tuple[int, ...] = CUTS) -> np.ndarray:
    """Three visually distinct scenes (BGR); a small shape moves inside each one."""
    w, h = size
    scene = sum(index >= cut for cut in cuts) % 3
    img = np.empty((h, w, 3), np.uint8)
    x = int(w * (0.2 + 0.6 * (index % 20) / 20))
    if scene == 0:  # dark blue, white disc
        img[:] = (120, 30, 10)
        cv2.circle(img, (x, h // 2), h // 8, (255, 255, 255), -1)
    elif scene == 1:  # red, green rectangle
        img[:] = (30, 30, 200)
        cv2.rectangle(img, (x - w // 10, h // 3), (x + w // 10, 2 * h // 3), (40, 200, 40), -1)
    else:  # yellow, black ellipse
        img[:] = (40, 220, 230)
        cv2.ellipse(img, (x, h // 2), (w // 8, h // 6), 30, 0, 360, (0, 0, 0), -1)
    draw_index(img, index)
    return img


def write_video(
    path: Path, frames: int, fourcc: str = "mp4v", fps: float = FPS, make: Callable[[int], np.ndarray] = scene_frame
) -> bytes:
    first = make(0)
    size = (first.shape[1], first.shape[0])
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened(), f"cannot encode {fourcc} into {path.suffix}"
    try:
        for index in range(frames):
            writer.write(first if index == 0 else make(index))
    finally:
        writer.release()
    return path.read_bytes()


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("video")


@pytest.fixture(scope="module")
def scene_videos(media_dir: Path) -> dict[str, bytes]:
    return {name: write_video(media_dir / f"scenes-{name}", N_FRAMES, name.split(".")[0]) for name in NAMES}


@pytest.fixture(scope="module")
def scene_mp4(scene_videos: dict[str, bytes]) -> bytes:
    return scene_videos["mp4v.mp4"]


def assert_valid(decoded: DecodedVideo, limits: Limits) -> None:
    times = [frame.time_s for frame in decoded.frames]
    assert decoded.frames and len(decoded.frames) <= limits.video_max_frames
    assert times == sorted(times) and len(set(times)) == len(times)
    for frame in decoded.frames:
        assert frame.kind in ("uniform", "scene")
        assert frame.image.mode == "RGB" and max(frame.image.size) <= limits.decode_max_side
        assert 0 <= frame.time_s < decoded.duration_s + 1e-6
    assert decoded.fps > 0 and decoded.frame_count >= 1 and decoded.width > 0 and decoded.height > 0


def frame_index(frame: video.VideoFrame, fps: float = FPS) -> int:
    return round(frame.time_s * fps)


# ----------------------------------------------------------------------------- sampling
@pytest.mark.parametrize(("name", "container"), [(f"{c[0]}.{c[1]}", c[2]) for c in CODECS])
def test_scene_video_is_sampled(scene_videos: dict[str, bytes], name: str, container: str) -> None:
    decoded = decode_video(scene_videos[name], LIMITS)
    assert_valid(decoded, LIMITS)
    assert (decoded.container, decoded.width, decoded.height) == (container, *SIZE)
    assert decoded.frame_count == N_FRAMES and decoded.fps == pytest.approx(FPS)
    assert decoded.duration_s == pytest.approx(N_FRAMES / FPS)
    kinds = [frame.kind for frame in decoded.frames]
    assert kinds.count("uniform") == LIMITS.video_uniform_frames and "scene" in kinds

    step = probe_step(N_FRAMES, FPS)
    scenes = [frame_index(frame) for frame in decoded.frames if frame.kind == "scene"]
    for cut in CUTS:  # each cut is found at the first probe at or after it
        assert any(0 <= index - cut < step for index in scenes), (cut, scenes)
    for index in scenes:  # and nothing else is a scene change
        assert any(0 <= index - cut < step for cut in CUTS), (index, scenes)


@pytest.mark.parametrize("name", NAMES)
def test_each_frame_is_the_frame_at_its_time(scene_videos: dict[str, bytes], name: str) -> None:
    decoded = decode_video(scene_videos[name], LIMITS)
    for frame in decoded.frames:
        assert read_index(np.asarray(frame.image)) == frame_index(frame)
    uniform = [frame_index(frame) for frame in decoded.frames if frame.kind == "uniform"]
    assert uniform == [2, 7, 12, 17, 22, 27, 32, 37]  # centres of 8 equal segments of 40 frames


def test_colours_are_rgb(scene_mp4: bytes) -> None:
    first = decode_video(scene_mp4, LIMITS).frames[0]
    assert first.time_s < CUTS[0] / FPS
    r, _, b = np.asarray(first.image)[-4:, -4:].reshape(-1, 3).mean(axis=0)
    assert b > 100 > r  # scene 0 is dark blue (BGR (120, 30, 10))


def test_large_video_is_shrunk(media_dir: Path) -> None:
    data = write_video(media_dir / "big.mp4", 5, fps=5, make=lambda i: scene_frame(i, size=(1920, 1080)))
    decoded = decode_video(data, LIMITS)
    assert (decoded.width, decoded.height) == (1920, 1080)
    assert decoded.frames and all(frame.image.size == (512, 288) for frame in decoded.frames)


def test_uniform_frames_are_down_sampled_to_the_frame_budget(scene_mp4: bytes) -> None:
    limits = Limits(video_uniform_frames=8, video_max_frames=4)
    decoded = decode_video(scene_mp4, limits)
    assert [frame.kind for frame in decoded.frames] == ["uniform"] * 4
    assert [frame_index(frame) for frame in decoded.frames] == [5, 15, 25, 35]


def test_strongest_scene_change_fills_the_last_slot(scene_mp4: bytes) -> None:
    limits = Limits(video_uniform_frames=2, video_max_frames=3)
    decoded = decode_video(scene_mp4, limits)
    assert_valid(decoded, limits)
    assert [frame.kind for frame in decoded.frames].count("scene") == 1


def test_static_video_has_no_scene_frames(media_dir: Path) -> None:
    data = write_video(media_dir / "static.mp4", 30, make=lambda i: scene_frame(i, cuts=()))
    decoded = decode_video(data, LIMITS)
    assert {frame.kind for frame in decoded.frames} == {"uniform"}


def test_long_video_is_sampled_at_the_right_frames(media_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over 256 s the probe step exceeds one second of video, so the reader seeks between probes."""
    fps, frames = 1, 600
    data = write_video(media_dir / "long-low-fps.mp4", frames, fps=fps, make=lambda i: scene_frame(i, cuts=(200, 410)))
    readers: list[video._FrameReader] = []

    class RecordedReader(video._FrameReader):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            readers.append(self)

    monkeypatch.setattr(video, "_FrameReader", RecordedReader)
    limits = Limits(max_video_seconds=600)
    decoded = decode_video(data, limits)
    assert_valid(decoded, limits)
    assert decoded.frame_count == frames and sum(reader.seeks for reader in readers) >= 1
    for frame in decoded.frames:
        assert read_index(np.asarray(frame.image)) == frame_index(frame, fps)
    step = probe_step(frames, fps)
    scenes = sorted(frame_index(frame, fps) for frame in decoded.frames if frame.kind == "scene")
    assert len(scenes) == 2 and 0 <= scenes[0] - 200 < step and 0 <= scenes[1] - 410 < step


class CountingCapture:
    """A real capture that counts seeks and can make them slow."""

    def __init__(self, cap: cv2.VideoCapture, seek_delay_s: float = 0.0) -> None:
        self._cap = cap
        self._seek_delay_s = seek_delay_s
        self.seeks = 0

    def set(self, prop: int, value: float) -> bool:
        self.seeks += 1
        time.sleep(self._seek_delay_s)
        return self._cap.set(prop, value)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cap, name)


WANTED = [0, 3, 9, 10, 17, 30, 39]


@pytest.mark.parametrize("name", NAMES)
def test_seeking_is_frame_accurate(scene_videos: dict[str, bytes], media_dir: Path, name: str) -> None:
    path = media_dir / f"scenes-{name}"
    assert path.read_bytes() == scene_videos[name]
    with video._open_capture(str(path)) as cap:
        counting = CountingCapture(cap)
        reader = video._FrameReader(counting, max_grab_gap=0, seek_cost_ratio=math.inf)
        got = [reader.read(index) for index in WANTED]
    assert counting.seeks == len(WANTED) - 2 and reader.seeking  # 0 and 10 (after 9) need no seek
    assert [read_index(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)) for bgr in got if bgr is not None] == WANTED


def test_seeking_stops_when_a_seek_costs_more_than_grabbing(scene_videos: dict[str, bytes], media_dir: Path) -> None:
    with video._open_capture(str(media_dir / "scenes-mp4v.mp4")) as cap:
        slow = CountingCapture(cap, seek_delay_s=0.05)  # 50 ms: far more than decoding 10 small frames
        reader = video._FrameReader(slow, max_grab_gap=1)
        got = [reader.read(index) for index in (0, 10, 20, 30)]
    assert slow.seeks == 1 and not reader.seeking
    assert [read_index(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)) for bgr in got if bgr is not None] == [0, 10, 20, 30]


# ----------------------------------------------------------------------------- limits
def test_cheap_checks() -> None:
    with pytest.raises(InvalidInput):
        probe_video(b"", LIMITS)
    with pytest.raises(UnsupportedMediaType, match="MP4"):
        probe_video(np.random.default_rng(0).bytes(4096), LIMITS)
    with pytest.raises(UnsupportedMediaType):  # a HEIF still image is an image, not a video
        probe_video(b"\x00\x00\x00\x18ftypheic" + bytes(64), LIMITS)
    with pytest.raises(UnsupportedMediaType):  # GIF goes through the image decoder
        probe_video(b"GIF89a" + bytes(64), LIMITS)
    assert probe_video(b"\x00\x00\x00\x14ftypisom" + bytes(8), LIMITS) == ("mp4", 20)
    assert sniff_container(b"\x00\x00\x00\x14ftypqt  ") == "mov"
    assert sniff_container(b"RIFF\x00\x00\x00\x00AVI LIST") == "avi"
    assert sniff_container(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm") == "webm"
    assert sniff_container(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska") == "mkv"


@pytest.mark.parametrize(
    ("data", "error", "status"),
    [
        (b"", InvalidInput, 400),
        (np.random.default_rng(1).bytes(10_000), UnsupportedMediaType, 415),
        (MP4_HEADER + np.random.default_rng(2).bytes(10_000), InvalidInput, 400),
        (b"RIFF\x00\x10\x00\x00AVI " + bytes(5000), InvalidInput, 400),
    ],
    ids=["empty", "random", "mp4-header-then-garbage", "avi-header-then-zeros"],
)
def test_bad_bytes_are_rejected(data: bytes, error: type[AdriskError], status: int) -> None:
    with pytest.raises(error) as info:
        decode_video(data, LIMITS)
    assert info.value.http_status == status


@pytest.mark.parametrize("name", NAMES)
def test_truncated_video_fails_cleanly_or_decodes_fewer_frames(scene_videos: dict[str, bytes], name: str) -> None:
    data = scene_videos[name]
    try:
        decoded = decode_video(data[: len(data) // 2], LIMITS)
    except InvalidInput:
        return
    assert_valid(decoded, LIMITS)
    for frame in decoded.frames:  # whatever decodes is still the right frame
        assert read_index(np.asarray(frame.image)) == frame_index(frame)


@pytest.mark.parametrize(
    ("limits", "error", "match"),
    [
        (Limits(max_video_side=100), UnprocessableInput, "320x240"),
        (Limits(max_video_seconds=1), UnprocessableInput, "lasts 4.0 s"),
        (Limits(max_video_fps=5), UnprocessableInput, "frame rate"),
        (Limits(max_video_bytes=1024), PayloadTooLarge, "limit is 1024 bytes"),
    ],
    ids=["side", "duration", "fps", "bytes"],
)
def test_limits(scene_mp4: bytes, limits: Limits, error: type[AdriskError], match: str) -> None:
    with pytest.raises(error, match=match):
        decode_video(scene_mp4, limits)


def test_temporary_file_is_removed(scene_mp4: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    decode_video(scene_mp4, LIMITS)
    for bad in (scene_mp4[:200], scene_mp4[:32] + bytes(2000)):
        with pytest.raises(InvalidInput):
            decode_video(bad, LIMITS)
    with pytest.raises(UnprocessableInput):
        decode_video(scene_mp4, Limits(max_video_side=100))
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- lying metadata
class LyingCapture:
    """A real capture whose CAP_PROP_FRAME_COUNT says whatever the test wants."""

    def __init__(self, cap: cv2.VideoCapture, frame_count: float) -> None:
        self._cap = cap
        self._frame_count = frame_count
        self.reads = 0

    def get(self, prop: int) -> float:
        return self._frame_count if prop == cv2.CAP_PROP_FRAME_COUNT else self._cap.get(prop)

    def grab(self) -> bool:
        self.reads += 1
        return self._cap.grab()

    def read(self) -> tuple[bool, Any]:
        self.reads += 1
        return self._cap.read()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cap, name)


@pytest.fixture
def lie_about_frame_count(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], list[LyingCapture]]:
    def install(frame_count: float) -> list[LyingCapture]:
        real = video._open_capture
        opened: list[LyingCapture] = []

        @contextmanager
        def lying(path: str) -> Iterator[LyingCapture]:
            with real(path) as cap:
                opened.append(LyingCapture(cap, frame_count))
                yield opened[-1]

        monkeypatch.setattr(video, "_open_capture", lying)
        return opened

    return install


@pytest.mark.parametrize("claimed", [0, -1, float("nan"), float("inf"), 1000, 20])
def test_wrong_frame_count_falls_back_to_counting(
    scene_mp4: bytes, lie_about_frame_count: Callable[[float], list[LyingCapture]], claimed: float
) -> None:
    lie_about_frame_count(claimed)
    decoded = decode_video(scene_mp4, LIMITS)
    assert_valid(decoded, LIMITS)
    if claimed != 20:  # an understated count cannot be noticed: the first 20 frames are sampled
        assert decoded.frame_count == N_FRAMES
    for frame in decoded.frames:
        assert read_index(np.asarray(frame.image)) == frame_index(frame)


def test_counting_is_bounded_by_the_duration_limit(
    scene_mp4: bytes, lie_about_frame_count: Callable[[float], list[LyingCapture]]
) -> None:
    opened = lie_about_frame_count(0)
    with pytest.raises(UnprocessableInput, match="lasts"):
        decode_video(scene_mp4, Limits(max_video_seconds=1))
    assert sum(cap.reads for cap in opened) <= math.ceil(1 * FPS) + 1


# ----------------------------------------------------------------------------- fuzz
@pytest.fixture(scope="module")
def tiny_videos(media_dir: Path) -> list[bytes]:
    def tiny(i: int) -> np.ndarray:
        return scene_frame(i, size=(64, 48), cuts=(6,))

    return [
        write_video(media_dir / "tiny.mp4", 12, make=tiny),
        write_video(media_dir / "tiny.avi", 12, "MJPG", make=tiny),
    ]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 8))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        start = draw(st.integers(0, len(data)))
        data[start : start + draw(st.integers(0, 64))] = draw(st.binary(max_size=64))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@pytest.mark.slow  # a fuzzer
def test_fuzz_mutated_videos(tiny_videos: list[bytes]) -> None:
    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
    @given(data=mutated(tiny_videos))
    def check(data: bytes) -> None:
        try:
            decoded = decode_video(data, LIMITS)
        except AdriskError as exc:
            assert exc.http_status in {400, 413, 415, 422}, exc
        else:
            assert_valid(decoded, LIMITS)

    check()


# ----------------------------------------------------------------------------- speed (information only)
@pytest.mark.slow  # writes and decodes 750 frames; information only
def test_decode_speed_of_a_30_second_video(media_dir: Path) -> None:
    fps, seconds = 25, 30
    data = write_video(
        media_dir / "long.mp4", fps * seconds, fps=fps, make=lambda i: scene_frame(i, (640, 360), cuts=(250, 500))
    )
    start = time.perf_counter()
    decoded = decode_video(data, LIMITS)
    elapsed = time.perf_counter() - start
    assert_valid(decoded, LIMITS)
    print(
        f"\n30 s 640x360 mp4v ({len(data) / 1e6:.1f} MB): decode_video {elapsed * 1000:.0f} ms, "
        f"{decoded.frame_count / elapsed:.0f} video frames/s, {len(decoded.frames)} frames returned "
        f"({sum(f.kind == 'scene' for f in decoded.frames)} scene), {seconds / elapsed:.0f}x real time"
    )
