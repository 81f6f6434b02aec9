"""Decode untrusted video bytes into a few sampled RGB frames, or fail with a reason.

The cheap checks come first (size, container magic bytes), then OpenCV's FFmpeg backend reads
the metadata, which is checked against the limits before any frame is sampled. Sampling reads a
bounded number of frames whatever the video claims:

- ``video_uniform_frames`` evenly spaced frames (the centres of equal segments);
- scene-change keyframes: probe frames (at most ~4 per second of video and at most
  ``_PROBE_BUDGET`` in total) are compared by HSV histogram with their predecessor; a probe
  whose Bhattacharyya distance exceeds ``video_scene_threshold`` starts a new scene, and the
  strongest ones fill the slots left under ``video_max_frames``.

Frames are visited in one forward pass: short gaps are skipped with ``grab()`` (decode only),
gaps over a second with a seek, until a seek proves dearer than grabbing (rare keyframes would
make seeking quadratic). When the frame count is missing or turns out to be wrong (a read fails
before the last wanted frame), the frames are counted with a hard cap and the video is sampled
again sequentially, without seeking.
"""

from __future__ import annotations

import heapq
import math
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from core.config import Limits
from core.errors import InvalidInput, PayloadTooLarge, UnprocessableInput, UnsupportedMediaType

ACCEPTED_CONTAINERS = "MP4/MOV (ftyp), WebM/Matroska (EBML), AVI (RIFF)"
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
# ISO-BMFF brands of still images and image sequences (HEIF, AVIF): images, not videos.
_IMAGE_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"})
_PROBES_PER_SECOND = 4
_PROBE_BUDGET = 256
_HIST_SIDE = 128  # histograms are computed on a strided view about this size
_HIST_BINS = [16, 4, 4]  # H, S, V: V bins make black→white cuts visible too
_HIST_RANGES = [0, 180, 0, 256, 0, 256]


@dataclass(frozen=True)
class VideoFrame:
    time_s: float
    image: Image.Image
    kind: str  # "uniform" or "scene"


@dataclass(frozen=True)
class DecodedVideo:
    frames: list[VideoFrame]
    duration_s: float
    fps: float
    width: int
    height: int
    frame_count: int
    container: str


@dataclass(frozen=True)
class _Metadata:
    fps: float
    width: int
    height: int
    frame_count: int | None  # None when the container does not say


@dataclass(frozen=True)
class _Sampled:
    frames: list[VideoFrame]
    complete: bool  # every wanted frame was read


# ----------------------------------------------------------------------------- cheap checks
def sniff_container(data: bytes) -> str | None:
    """The container named by the magic bytes, or None."""
    if len(data) >= 12 and data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in _IMAGE_BRANDS:
            return None
        return "mov" if brand == b"qt  " else "mp4"
    if data[:4] == _EBML_MAGIC:
        return "webm" if b"webm" in data[:64] else "mkv"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "avi"
    return None


def probe_video(data: bytes, limits: Limits) -> tuple[str, int]:
    """Only the cheap checks: (container, size in bytes). Decodes nothing."""
    if not data:
        raise InvalidInput("video is empty (0 bytes)")
    if len(data) > limits.max_video_bytes:
        raise PayloadTooLarge(f"video is {len(data)} bytes; the limit is {limits.max_video_bytes} bytes")
    container = sniff_container(data)
    if container is None:
        raise UnsupportedMediaType(f"video container is not recognised; use one of {ACCEPTED_CONTAINERS}")
    return container, len(data)


# ----------------------------------------------------------------------------- entry point
def decode_video(data: bytes, limits: Limits) -> DecodedVideo:
    """Sampled RGB frames of a video, each with its long side ≤ decode_max_side."""
    container, _ = probe_video(data, limits)
    # OpenCV's FFmpeg backend reads files, not buffers; the file is removed on every path.
    with tempfile.NamedTemporaryFile(prefix="adrisk-video-", suffix=f".{container}") as tmp:
        tmp.write(data)
        tmp.flush()
        try:
            return _decode_file(tmp.name, container, limits)
        except cv2.error as exc:
            raise InvalidInput(f"video decoder failed ({container}): {_short_reason(exc)}") from None
        except (ValueError, ArithmeticError, IndexError) as exc:
            raise InvalidInput(f"video is corrupt ({container}): {exc}") from None


def _short_reason(exc: Exception) -> str:
    """cv2.error text is several lines ending with the useful one; keep that one."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _decode_file(path: str, container: str, limits: Limits) -> DecodedVideo:
    with _open_capture(path) as cap:
        meta = _read_metadata(cap, limits)
        if meta.frame_count is not None:
            sampled = _sample(cap, meta.frame_count, meta.fps, limits, seek=True)
            if sampled.complete:
                return _result(sampled, meta, meta.frame_count, container)
    # The count is missing or wrong: count for real (bounded), then sample without seeking.
    count = _count_frames(path, meta.fps, limits)
    with _open_capture(path) as cap:
        sampled = _sample(cap, count, meta.fps, limits, seek=False)
    if not sampled.frames:
        raise InvalidInput("corrupt or unreadable video: no frame decodes")
    return _result(sampled, meta, count, container)


def _result(sampled: _Sampled, meta: _Metadata, frame_count: int, container: str) -> DecodedVideo:
    return DecodedVideo(
        frames=sampled.frames,
        duration_s=frame_count / meta.fps,
        fps=meta.fps,
        width=meta.width,
        height=meta.height,
        frame_count=frame_count,
        container=container,
    )


@contextmanager
def _open_capture(path: str) -> Iterator[cv2.VideoCapture]:
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            raise InvalidInput("corrupt or unreadable video: the decoder cannot open it")
        yield cap
    finally:
        cap.release()


# ----------------------------------------------------------------------------- metadata
def _read_metadata(cap: cv2.VideoCapture, limits: Limits) -> _Metadata:
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    raw_width, raw_height = float(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), float(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if not (math.isfinite(fps) and 0 < fps <= limits.max_video_fps):
        raise UnprocessableInput(f"video frame rate {fps:g} is outside (0, {limits.max_video_fps:g}] fps")
    if not all(math.isfinite(v) and 0 < v <= limits.max_video_side for v in (raw_width, raw_height)):
        raise UnprocessableInput(
            f"video is {raw_width:g}x{raw_height:g} pixels; each side must be in 1..{limits.max_video_side}"
        )
    raw_count = float(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    frame_count = int(raw_count) if math.isfinite(raw_count) and raw_count >= 1 else None
    if frame_count is not None:
        _check_duration(frame_count, fps, limits)
    return _Metadata(fps=fps, width=int(raw_width), height=int(raw_height), frame_count=frame_count)


def _check_duration(frame_count: int, fps: float, limits: Limits) -> None:
    if frame_count / fps > limits.max_video_seconds:
        raise UnprocessableInput(
            f"video lasts {frame_count / fps:.1f} s ({frame_count} frames at {fps:g} fps); "
            f"the limit is {limits.max_video_seconds:g} s"
        )


def _frame_cap(fps: float, limits: Limits) -> int:
    """Frames to read to prove a video too long: one past the most it may have at this fps.

    A hard bound on sequential reads: fps ≤ max_video_fps, so it is at most
    ceil(max_video_seconds * max_video_fps) + 1 whatever the video claims.
    """
    return math.floor(limits.max_video_seconds * fps) + 1


def _count_frames(path: str, fps: float, limits: Limits) -> int:
    cap_frames = _frame_cap(fps, limits)
    count = 0
    with _open_capture(path) as cap:
        while count < cap_frames and cap.grab():
            count += 1
    if count == 0:
        raise InvalidInput("corrupt or unreadable video: no frame decodes")
    _check_duration(count, fps, limits)
    return count


# ----------------------------------------------------------------------------- sampling
def uniform_indices(frame_count: int, n: int) -> list[int]:
    """The centres of n equal segments of [0, frame_count), deduplicated."""
    n = max(1, min(n, frame_count))
    return sorted({min(frame_count - 1, int((k + 0.5) * frame_count / n)) for k in range(n)})


def probe_step(frame_count: int, fps: float) -> int:
    """Frames between scene probes: ≤ _PROBES_PER_SECOND per second, ≤ _PROBE_BUDGET in all."""
    return max(1, math.ceil(fps / _PROBES_PER_SECOND), math.ceil(frame_count / _PROBE_BUDGET))


class _FrameReader:
    """Reads increasing frame indices: grab() across short gaps, a seek across long ones.

    A seek decodes forward from the keyframe before its target, so in a video with rare keyframes
    every seek can cost as much as reading from the start, and sampling turns quadratic. Seeking
    stops for good once a seek costs more than `seek_cost_ratio` times grabbing through its gap.
    """

    def __init__(self, cap: cv2.VideoCapture, max_grab_gap: int | None, seek_cost_ratio: float = 1.0) -> None:
        self._cap = cap
        self._next = 0  # index of the frame the next read() returns
        self._max_grab_gap = max_grab_gap  # None: never seek
        self._seek_cost_ratio = seek_cost_ratio
        self._frames_timed = 0
        self._frame_seconds = 0.0
        self.seeks = 0

    @property
    def seeking(self) -> bool:
        return self._max_grab_gap is not None

    def read(self, index: int) -> np.ndarray | None:
        gap = index - self._next
        if self._max_grab_gap is not None and gap > self._max_grab_gap and not self._seek(index, gap):
            return None
        while self._next < index:
            start = time.perf_counter()
            grabbed = self._cap.grab()
            self._time_frame(start)
            if not grabbed:
                return None
            self._next += 1
        start = time.perf_counter()
        ok, frame = self._cap.read()
        self._time_frame(start)
        self._next += 1
        return frame if ok and frame is not None else None

    def _time_frame(self, start: float) -> None:
        self._frame_seconds += time.perf_counter() - start
        self._frames_timed += 1

    def _seek(self, index: int, gap: int) -> bool:
        start = time.perf_counter()
        ok = bool(self._cap.set(cv2.CAP_PROP_POS_FRAMES, index))
        cost = time.perf_counter() - start
        self.seeks += 1
        self._next = index
        grab_cost = gap * self._frame_seconds / max(1, self._frames_timed)
        if cost > self._seek_cost_ratio * grab_cost:
            self._max_grab_gap = None
        return ok


class _SceneCandidates:
    """The `slots` strongest scene changes seen so far (a min-heap on the distance)."""

    def __init__(self, slots: int) -> None:
        self._slots = slots
        self._heap: list[tuple[float, int, VideoFrame]] = []

    def wants(self, distance: float) -> bool:
        return self._slots > 0 and (len(self._heap) < self._slots or distance > self._heap[0][0])

    def add(self, distance: float, index: int, frame: VideoFrame) -> None:
        entry = (distance, index, frame)
        if len(self._heap) < self._slots:
            heapq.heappush(self._heap, entry)
        else:
            heapq.heapreplace(self._heap, entry)

    def frames(self) -> list[VideoFrame]:
        return [frame for _, _, frame in self._heap]


def _sample(cap: cv2.VideoCapture, frame_count: int, fps: float, limits: Limits, *, seek: bool) -> _Sampled:
    uniform = set(uniform_indices(frame_count, min(limits.video_uniform_frames, limits.video_max_frames)))
    step = probe_step(frame_count, fps)
    # Grabbing costs one decode per frame, a seek about half a GOP (~1 s in common encodes).
    reader = _FrameReader(cap, max_grab_gap=max(1, math.ceil(fps)) if seek else None)
    scenes = _SceneCandidates(limits.video_max_frames - len(uniform))
    kept: list[VideoFrame] = []
    previous: np.ndarray | None = None
    for index in sorted(uniform | set(range(0, frame_count, step))):
        bgr = reader.read(index)
        if bgr is None:
            if index == 0:
                raise InvalidInput("corrupt or unreadable video: the first frame does not decode")
            return _Sampled(frames=_merge(kept, scenes), complete=False)
        _check_frame(bgr, limits)
        if index in uniform:
            kept.append(VideoFrame(time_s=index / fps, image=_to_pil(bgr, limits), kind="uniform"))
        if index % step:
            continue
        hist = _histogram(bgr)
        if previous is not None and index not in uniform:
            distance = float(cv2.compareHist(previous, hist, cv2.HISTCMP_BHATTACHARYYA))
            if distance > limits.video_scene_threshold and scenes.wants(distance):
                scenes.add(distance, index, VideoFrame(time_s=index / fps, image=_to_pil(bgr, limits), kind="scene"))
        previous = hist
    return _Sampled(frames=_merge(kept, scenes), complete=True)


def _merge(uniform: list[VideoFrame], scenes: _SceneCandidates) -> list[VideoFrame]:
    return sorted([*uniform, *scenes.frames()], key=lambda frame: frame.time_s)


# ----------------------------------------------------------------------------- pixels
def _check_frame(bgr: np.ndarray, limits: Limits) -> None:
    if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8:
        raise InvalidInput(f"video decoded to an unexpected pixel layout {bgr.shape} {bgr.dtype}")
    height, width = bgr.shape[:2]
    if max(height, width) > limits.max_video_side:
        raise UnprocessableInput(f"video frame is {width}x{height} pixels; each side must be ≤ {limits.max_video_side}")


def _histogram(bgr: np.ndarray) -> np.ndarray:
    stride = max(1, max(bgr.shape[:2]) // _HIST_SIDE)
    small = np.ascontiguousarray(bgr[::stride, ::stride])
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, _HIST_BINS, _HIST_RANGES)
    return cv2.normalize(hist, hist, alpha=1.0, norm_type=cv2.NORM_L1)


def _to_pil(bgr: np.ndarray, limits: Limits) -> Image.Image:
    height, width = bgr.shape[:2]
    scale = limits.decode_max_side / max(height, width)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    return Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
