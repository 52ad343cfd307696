"""``pose3d lift``: 2D keypoint file → 3D pose file."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "lift", help="lift a 2D keypoint file to 3D poses",
        description="Lift 2D keypoints (a keypoint .npz written by `pose3d detect`, a VideoPose3D "
                    "custom .npz, a COCO-style keypoint .json or an OpenPose output folder) to 3D "
                    "poses with a temporal lifter; writes the pose file.")
    p.add_argument("input", type=Path,
                   help="2D keypoints: .npz (pose3d or VideoPose3D custom), COCO .json, or OpenPose folder")
    p.add_argument("--checkpoint", default=None,
                   help="registry name or checkpoint path (default: the registry default; see `pose3d models`)")
    p.add_argument("--out", type=Path, default=None,
                   help="output pose file (default: INPUT with .pose3d.npz next to it)")
    p.add_argument("--no-flip", dest="flip", action="store_false",
                   help="turn off test-time flip augmentation")
    p.add_argument("--causal", action="store_true",
                   help="the checkpoint is a causal model (all padding before the first frame)")
    p.add_argument("--video", default=None, help="video name inside a multi-video custom .npz")
    p.add_argument("--source-video", type=Path, default=None,
                   help="the video the keypoints came from: gives frame size and fps to JSON input")
    p.add_argument("--frame-size", default=None, metavar="WxH",
                   help="frame size in pixels for JSON input without --source-video, e.g. 1920x1080")
    p.add_argument("--fps", type=float, default=None, help="frame rate of JSON input (default: the video's, else 30)")
    p.add_argument("--layout-in", default=None,
                   help="input joint layout of a VideoPose3D checkpoint (coco17, h36m17, humaneva15); "
                        "pose3d checkpoints name their own")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    return p


def _parse_size(text: str | None) -> tuple[int, int] | None:
    from pose3d_cli.errors import InputError

    if text is None:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--frame-size {text!r}: expected WIDTHxHEIGHT in pixels, e.g. 1920x1080") from None
    if w <= 0 or h <= 0:
        raise InputError(f"--frame-size {text!r}: width and height must be positive")
    return w, h


def run(args: argparse.Namespace) -> int:
    from pose3d_cli.device import select_device
    from pose3d_cli.errors import InputError
    from pose3d_cli.io.atomic import check_writable
    from pose3d_cli.io.pose_file import save_poses
    from pose3d_cli.keypoints.formats import load_any_keypoints
    from pose3d_cli.lifting.predict import poses_from_track
    from pose3d_cli.zoo import load_lifter

    out = args.out or args.input.with_name(args.input.stem + ".pose3d.npz")
    check_writable(out, args.overwrite)
    device = select_device(args.device)
    t0 = time.perf_counter()
    track = load_any_keypoints(args.input, video=args.video, source_video=args.source_video,
                               frame_size=_parse_size(args.frame_size), fps=args.fps)
    ck, ckpt_name = load_lifter(args.checkpoint, layout_in=args.layout_in,
                                causal=True if args.causal else None, quiet=args.quiet)
    ck.model_pos.to(device)
    try:
        seq = poses_from_track(track, ck, flip=args.flip, device=device, checkpoint_name=ckpt_name)
    except InputError as exc:
        raise InputError(f"{args.input}: {exc}") from None
    save_poses(seq, out, overwrite=args.overwrite)
    if not args.quiet:
        print(f"lifted {seq.num_frames} frames with {ckpt_name} ({ck.arch.receptive_field}-frame "
              f"receptive field, flip {'on' if args.flip else 'off'}) in "
              f"{time.perf_counter() - t0:.1f} s -> {out}")
    return 0
