"""Decode and preprocessing throughput vs. the image encoders' appetite, in one run.

`python -m benchmarks.preprocess [--out docs/benchmarks.md]`: images/s decoded (150 KB JPEGs),
video frames/s (frames decoded and sampled frames produced), OCR images/s with 1 and 2 workers,
and, for comparison, the image backends' in-process images/s at batch 16 — so a glance shows
whether decoding or OCR could starve the models.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.machine import machine_info
from benchmarks.report import write_section
from benchmarks.serving_vs_inprocess import make_jpegs
from core.config import load_config


def rate(fn: Callable[[], int], min_seconds: float = 3.0) -> float:
    """Items per second of fn() (which returns how many items it did), over at least min_seconds."""
    fn()  # warm-up
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < min_seconds:
        done += fn()
    return done / (time.perf_counter() - started)


def make_video(seconds: int = 30) -> bytes:
    from tests.media import caption_scene, landscape_photo, rifle_drawing, video_file

    scenes = [landscape_photo(seed=i) if i % 3 == 0 else rifle_drawing() if i % 3 == 1
              else caption_scene((250, 210, 40), f"SCENE {i}") for i in range(seconds // 3)]
    with tempfile.TemporaryDirectory() as tmp:
        return video_file(Path(tmp) / "bench.mp4", scenes, seconds_per_scene=3.0, fps=25)


def measure() -> list[tuple[str, str, float]]:
    from models.image_engine import ImageEngine
    from multimodal.images import decode_image
    from multimodal.ocr import ocr_image, tesseract_available
    from multimodal.video import decode_video
    from tests.media import caption_scene

    config = load_config("cpu")
    limits = config.limits
    jpegs = make_jpegs()
    rows: list[tuple[str, str, float]] = []
    rows.append(("image decode", "1 thread, 150 KB JPEG → ≤512 px RGB",
                 rate(lambda: len([decode_image(j, limits) for j in jpegs]))))
    with ThreadPoolExecutor(2) as pool:
        rows.append(("image decode", "2 threads (the replica's pool)",
                     rate(lambda: len(list(pool.map(lambda j: decode_image(j, limits), jpegs))))))

    video = make_video()
    decoded = decode_video(video, limits)
    frames_in_video = decoded.frame_count
    per_s = rate(lambda: len([decode_video(video, limits)]))
    rows.append(("video decode", f"30 s 640×360 25 fps mp4v: frames decoded ({frames_in_video} per video)",
                 per_s * frames_in_video))
    rows.append(("video decode", f"sampled frames produced ({len(decoded.frames)} per video)",
                 per_s * len(decoded.frames)))

    if tesseract_available():
        banners = [caption_scene((250, 210, 40), f"DOUBLE YOUR BITCOIN {i}") for i in range(4)]
        rows.append(("OCR", "1 worker, 640×360 caption",
                     rate(lambda: len([ocr_image(b, config.ocr) for b in banners]))))
        with ThreadPoolExecutor(2) as pool:
            rows.append(("OCR", "2 workers (the replica's pool)",
                         rate(lambda: len(list(pool.map(lambda b: ocr_image(b, config.ocr), banners))))))

    engine = ImageEngine(config)  # the replica's backends, set up as the replica sets them up
    engine.setup()
    engine.close()  # only its backends are measured here, not its decode or OCR pools
    pictures = ([decode_image(j, limits).image for j in jpegs] * 2)[:16]

    def predict_all() -> int:
        for backend in engine.backends:
            backend.predict(pictures)
        return len(pictures)

    rows.append(("image models (appetite)", "all backends, batch 16, replica threads", rate(predict_all)))
    return rows


def render(info: dict[str, str], rows: list[tuple[str, str, float]]) -> str:
    appetite = next(r for s, _, r in rows if s.startswith("image models"))
    lines = [
        "## Decode and preprocessing throughput (profile `cpu`)",
        "",
        f"- Date {info['date']}, commit {info['commit']}; `python -m benchmarks.preprocess`",
        f"- Machine: nproc {info['nproc']}, {info['cpu']}, {info['ram']} RAM",
        "",
        "| stage | setting | items/s | ÷ image models' appetite |",
        "|---|---|---:|---:|",
    ]
    lines += [f"| {stage} | {setting} | {r:.1f} | {r / appetite:.2f} |" for stage, setting, r in rows]
    lines += ["", "A ratio above 1 means the stage outruns the models that consume its output."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    report = render(machine_info(), measure())
    print(report)
    if args.out:
        write_section(args.out, report, key="preprocess")
    return 0


if __name__ == "__main__":
    sys.exit(main())
