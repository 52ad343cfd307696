"""Detector speed and streaming memory.

Prints two tables:

1. frames per second at 640×360 and 1280×720 on this machine: decode only (PyAV, the ceiling;
   OpenCV's decoder for comparison) and each available detector backend (detector time only,
   frames already decoded) — the same clip cut from ``../shared/media/sports2d_demo.mp4``;
2. peak resident memory (RSS) of a fresh process streaming a 1-minute and a 10-minute clip that
   this script makes with ffmpeg (the sports2d clip looped, 640×360, 30 fps): decode only for
   both, and ``detect_video`` with mediapipe on the 1-minute clip (detection on the 10-minute one
   would take about 10 minutes on 2 cores, so it is left out unless ``--long-detect``).

torchvision's COCO weights cannot be fetched everywhere; when they are not in the cache the
model runs with random weights, capped at 3 people a frame so the keypoint head does about as
much work as on a real street scene. Run with ``nice`` on shared machines:

    nice python benchmarks/detect.py [--frames 60] [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pose3d_cli.io.video import iter_frames, probe_video, run_ffmpeg

SHARED = Path(os.environ.get("POSE3D_SHARED", REPO.parent / "shared"))
SOURCE = SHARED / "media" / "sports2d_demo.mp4"


def make_clip(out: Path, size: str, seconds: float) -> Path:
    """Loop the sports2d clip to ``seconds`` at ``size`` (H.264, 30 fps)."""
    if not out.exists():
        run_ffmpeg(["-stream_loop", "-1", "-i", str(SOURCE), "-t", f"{seconds}", "-an", "-vf", f"scale={size}",
                    "-r", "30", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out)],
                   timeout=1800)
    return out


def decode_fps(path: Path, limit: int) -> float:
    t0 = time.perf_counter()
    n = 0
    for _ in iter_frames(path, 0, limit):
        n += 1
    return n / (time.perf_counter() - t0)


def opencv_fps(path: Path, limit: int) -> float:
    import cv2

    cap = cv2.VideoCapture(str(path))
    t0 = time.perf_counter()
    n = 0
    while n < limit:
        ok, frame = cap.read()
        if not ok:
            break
        cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        n += 1
    cap.release()
    return n / (time.perf_counter() - t0)


def detector_fps(name: str, frames: list[np.ndarray]) -> tuple[float, str]:
    from pose3d_cli.errors import Pose3DError
    from pose3d_cli.keypoints import get_detector

    options: dict = {}
    note = ""
    if name == "torchvision":
        from pose3d_cli.keypoints.torchvision_backend import detector_cache_dir

        if not any(detector_cache_dir().glob("keypointrcnn_resnet50_fpn_coco-*.pth")):
            options = {"weights": "random", "min_box_score": 0.0, "max_people": 3}
            note = "random weights, 3 people/frame"
    try:
        det = get_detector(name, "cpu", **options)
    except Pose3DError as exc:
        return float("nan"), str(exc)[:70]
    try:
        det.detect(frames[:1])  # warm-up (model load, first-call allocations)
        t0 = time.perf_counter()
        for i in range(0, len(frames), det.batch_size):
            det.detect(frames[i:i + det.batch_size])
        return len(frames) / (time.perf_counter() - t0), note
    finally:
        det.close()


def child_main(mode: str, path: str) -> None:
    """Run inside a fresh process so that its peak RSS is this job's alone."""
    t0 = time.perf_counter()
    if mode == "decode":
        n = sum(1 for _ in iter_frames(path))
    else:
        from pose3d_cli.keypoints import detect_video

        n = detect_video(path, detector=mode, progress=False).num_frames
    seconds = time.perf_counter() - t0
    # VmHWM: this process's own peak RSS. (getrusage's ru_maxrss would also count the parent's
    # size at fork time: Linux carries it across exec.)
    hwm_kib = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                   if line.startswith("VmHWM:"))
    print(f"{n} {seconds:.2f} {hwm_kib}")


def peak_rss(mode: str, path: Path) -> tuple[int, float, float]:
    """(frames, seconds, peak RSS in MiB) of ``child_main(mode, path)`` in a new process."""
    proc = subprocess.run([sys.executable, __file__, "--child", mode, str(path)], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child {mode} {path} failed with exit {proc.returncode}")
    frames, seconds, hwm_kib = proc.stdout.split()[-3:]
    return int(frames), float(seconds), int(hwm_kib) / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60, help="frames per detector speed test (mediapipe)")
    ap.add_argument("--tv-frames", type=int, default=3, help="frames per torchvision speed test")
    ap.add_argument("--quick", action="store_true", help="speed table only (no 1/10-minute clips)")
    ap.add_argument("--memory-only", action="store_true", help="memory table only")
    ap.add_argument("--long-detect", action="store_true", help="also run mediapipe over the 10-minute clip")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the generated clips here")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_main(*args.child)
        return
    if not SOURCE.is_file():
        raise SystemExit(f"{SOURCE} not found; set POSE3D_SHARED to the folder holding media/")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pose3d_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"# pose3d detect benchmark — {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")

    rows = []
    for size in () if args.memory_only else ("640:360", "1280:720"):
        clip = make_clip(work / f"speed_{size.replace(':', 'x')}.mp4", size, 10)
        frames = list(iter_frames(clip, 0, args.frames))
        rows.append((size, "decode (PyAV, RGB)", decode_fps(clip, 300), "ceiling"))
        rows.append((size, "decode (OpenCV, RGB)", opencv_fps(clip, 300), "for comparison"))
        fps, note = detector_fps("mediapipe", frames)
        rows.append((size, "mediapipe", fps, note))
        fps, note = detector_fps("torchvision", frames[: args.tv_frames])
        rows.append((size, "torchvision", fps, note))
        fps, note = detector_fps("detectron2", frames[:2])
        rows.append((size, "detectron2", fps, note))
    if rows:
        print("\n| size | stage | frames/s | ratio to decode | note |\n|---|---|---|---|---|")
    for size, stage, fps, note in rows:
        ceiling = next(r[2] for r in rows if r[0] == size and r[1].startswith("decode (PyAV"))
        ratio = "" if np.isnan(fps) else f"{fps / ceiling:.4f}"
        shown = "n/a" if np.isnan(fps) else (f"{fps:.1f}" if fps >= 10 else f"{fps:.3f}")
        print(f"| {size.replace(':', 'x')} | {stage} | {shown} | {ratio} | {note} |")

    if args.quick:
        print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
        return
    one = make_clip(work / "one_minute.mp4", "640:360", 60)
    ten = make_clip(work / "ten_minutes.mp4", "640:360", 600)
    jobs = [("1 min", one, "decode"), ("10 min", ten, "decode"), ("1 min", one, "mediapipe")]
    if args.long_detect:
        jobs.append(("10 min", ten, "mediapipe"))
    print("\n| clip | job | frames | seconds | frames/s | peak RSS (MiB) |\n|---|---|---|---|---|---|")
    results = []
    for label, path, mode in jobs:
        frames, seconds, rss = peak_rss(mode, path)
        results.append((label, mode, rss))
        print(f"| {label} ({probe_video(path).num_frames} frames) | {mode} | {frames} | {seconds:.1f} | "
              f"{frames / seconds:.1f} | {rss:.0f} |", flush=True)
    d1 = next(r[2] for r in results if r[:2] == ("1 min", "decode"))
    d10 = next(r[2] for r in results if r[:2] == ("10 min", "decode"))
    print(f"\npeak RSS, 10-minute ÷ 1-minute decode: {d10 / d1:.3f} (flat ≈ 1)")
    if args.long_detect:
        m1 = next(r[2] for r in results if r[:2] == ("1 min", "mediapipe"))
        m10 = next(r[2] for r in results if r[:2] == ("10 min", "mediapipe"))
        print(f"peak RSS, 10-minute ÷ 1-minute mediapipe detection: {m10 / m1:.3f}")
    else:
        print("mediapipe on the 10-minute clip left out (about 10 min on 2 cores); run with --long-detect")
    print(f"load average at end: {os.getloadavg()[0]:.2f}; clips in {work}")


if __name__ == "__main__":
    main()
