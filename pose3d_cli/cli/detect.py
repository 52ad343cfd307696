"""``pose3d detect``: video → 2D keypoint file (COCO-17, one person, gaps filled)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "detect", help="find one person's 2D keypoints in every frame of a video",
        description="Detect one person's COCO-17 keypoints in every frame of a video file, an image folder "
                    "or an image glob, and write the keypoint .npz that `pose3d lift` reads (optionally "
                    "also the VideoPose3D custom .npz).")
    p.add_argument("video", help="video file (mp4, mov, avi, mkv, webm), image folder, or quoted glob "
                                 "like 'frames/*.png'")
    p.add_argument("--out", type=Path, default=None,
                   help="keypoint file to write (default: VIDEO with .keypoints.npz next to it)")
    p.add_argument("--detector", default="mediapipe",
                   help="backend: mediapipe (default, offline), torchvision, detectron2")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--custom-npz", type=Path, default=None,
                   help="also write the VideoPose3D data_2d_custom .npz to this path")
    p.add_argument("--fps", type=float, default=None,
                   help="frame rate of an image folder/glob (default 30); ignored for video files")
    p.add_argument("--start", type=int, default=None, help="first frame to process (0-based index)")
    p.add_argument("--end", type=int, default=None, help="stop before this frame index")
    p.add_argument("--min-score", type=float, default=0.3,
                   help="joints scoring lower are interpolated over time (default 0.3)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    return p


def default_out(video: str) -> Path:
    """``clip.mp4`` → ``clip.keypoints.npz``; a folder or glob → ``<folder>.keypoints.npz``."""
    text = video.rstrip("/")
    if any(ch in text for ch in "*?["):
        text = str(Path(text).parent)
    path = Path(text)
    if path.is_dir():
        return path.with_name(path.name + ".keypoints.npz")
    return path.with_name(path.stem + ".keypoints.npz")


def run(args: argparse.Namespace) -> int:
    from pose3d_cli.errors import InputError
    from pose3d_cli.io.atomic import check_writable
    from pose3d_cli.io.keypoint_file import save_keypoints, save_videopose3d_custom
    from pose3d_cli.keypoints import detect_video, resolve_device

    out = args.out or default_out(args.video)
    check_writable(out, args.overwrite)
    if args.custom_npz is not None:
        check_writable(args.custom_npz, args.overwrite)
    if args.fps is not None and not args.fps > 0:
        raise InputError(f"--fps {args.fps}: give a positive frame rate")
    if not 0.0 <= args.min_score <= 1.0:
        raise InputError(f"--min-score {args.min_score}: give a value in [0, 1]")
    device = resolve_device(args.device)
    t0 = time.perf_counter()
    track = detect_video(args.video, detector=args.detector, device=device, progress=not args.quiet,
                         start=args.start, end=args.end, fps=args.fps, min_score=args.min_score)
    seconds = time.perf_counter() - t0
    save_keypoints(track, out, overwrite=args.overwrite)
    if args.custom_npz is not None:
        name = Path(args.video.rstrip("/")).name
        save_videopose3d_custom({name: track}, args.custom_npz, overwrite=args.overwrite)
    if not args.quiet:
        found = 100.0 * (1.0 - track.filled_frames.mean())
        print(f"{out}: {track.num_frames} frames {track.width}x{track.height} @ {track.fps:.3f} fps, person "
              f"found in {found:.0f}% of frames ({track.detector}, {track.num_frames / seconds:.1f} frames/s)",
              file=sys.stderr)
        if args.custom_npz is not None:
            print(f"{args.custom_npz}: VideoPose3D custom keypoints", file=sys.stderr)
    return 0
