"""``pose3d lift``: 2D keypoint file → 3D pose file, through the same
:func:`~pose3d_cli.lifting.sequence.lift_people` as ``pose3d infer --keypoints``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pose3d_cli.cli.options import (
    add_causal,
    add_device,
    add_fps,
    add_height,
    add_json,
    add_person,
    print_json,
)


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "lift", help="lift a 2D keypoint file to 3D poses",
        description="Lift 2D keypoints (a keypoint .npz written by `pose3d detect`, a VideoPose3D "
                    "custom .npz, a COCO-style keypoint .json or an OpenPose output folder) to 3D "
                    "poses with a temporal lifter; writes the pose file. The same keypoints give the "
                    "same poses as `pose3d infer VIDEO --keypoints FILE`.")
    p.add_argument("input", type=Path,
                   help="2D keypoints: .npz (pose3d or VideoPose3D custom), COCO .json, or OpenPose folder")
    p.add_argument("--checkpoint", default=None,
                   help="registry name or checkpoint path (default: the registry default; see `pose3d models`)")
    p.add_argument("--out", type=Path, default=None,
                   help="output pose file (default: INPUT's stem + .pose3d.npz next to it)")
    p.add_argument("--no-flip", dest="flip", action="store_false",
                   help="turn off test-time flip augmentation")
    p.add_argument("--no-resample", dest="resample", action="store_false",
                   help="lift at the keypoints' own frame rate instead of resampling to the models' 50 fps and back")
    p.add_argument("--smooth", default="default", metavar="FILTER",
                   help="filter the 3D poses over time: butterworth[:CUTOFF_HZ], one-euro[:MIN_CUTOFF_HZ[:BETA]] "
                        "or off; default: butterworth:6, or one-euro with --causal (as `pose3d infer`)")
    add_causal(p)
    add_person(p)
    add_height(p)
    p.add_argument("--video", default=None, help="video name inside a multi-video custom .npz")
    p.add_argument("--source-video", type=Path, default=None,
                   help="the video the keypoints came from: gives frame size and fps to JSON input")
    p.add_argument("--frame-size", default=None, metavar="WxH",
                   help="frame size in pixels for JSON input without --source-video, e.g. 1920x1080")
    add_fps(p)
    p.add_argument("--layout-in", default=None,
                   help="input joint layout of a VideoPose3D checkpoint (coco17, h36m17, humaneva15); "
                        "pose3d checkpoints name their own")
    add_device(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_json(p)
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
    from pose3d_cli.io.atomic import check_not_inputs, check_writable
    from pose3d_cli.io.pose_file import save_poses
    from pose3d_cli.keypoints.formats import load_any_people
    from pose3d_cli.lifting.sequence import LiftOptions, lift_people
    from pose3d_cli.lifting.smoothing import smoothing_for
    from pose3d_cli.pipeline import check_number
    from pose3d_cli.zoo import lifter_licence, load_lifter

    name = args.input.name if args.input.is_dir() else args.input.stem
    out = args.out or args.input.with_name(name + ".pose3d.npz")
    check_writable(out, args.overwrite)
    check_not_inputs([out], [args.input, args.source_video])
    check_number("fps", args.fps, positive=True)
    check_number("height", args.height, positive=True)
    from pose3d_cli.io.keypoint_file import parse_person_spec

    parse_person_spec(args.person)
    device = select_device(args.device)
    t0 = time.perf_counter()
    people = load_any_people(args.input, video=args.video, source_video=args.source_video,
                             frame_size=_parse_size(args.frame_size), fps=args.fps)
    found = people.num_people
    people = people.select(args.person)
    smoothing = smoothing_for(args.smooth, causal=args.causal, fps=people.fps)
    ck, ckpt_name = load_lifter(args.checkpoint, layout_in=args.layout_in,
                                causal=True if args.causal else None, quiet=args.quiet)
    ck.model_pos.to(device)
    options = LiftOptions(flip=args.flip, resample=args.resample, device=device, smooth=smoothing,
                          height_m=args.height)
    seq = lift_people(people, ck, options=options, checkpoint_name=ckpt_name)
    save_poses(seq, out, overwrite=args.overwrite)
    seconds = time.perf_counter() - t0
    if args.json:
        print_json({"input": str(args.input), "outputs": {"npz": str(out)}, "frames": seq.num_frames,
                    "fps": seq.fps, "people": seq.num_people, "people_found": found, "model": ckpt_name,
                    "licence": lifter_licence(ckpt_name), "device": str(device),
                    "seconds": {"total": round(seconds, 3)}, "warnings": []})
    elif not args.quiet:
        print(f"lifted {seq.num_frames} frames of {seq.num_people} "
              f"{'person' if seq.num_people == 1 else 'people'} with {ckpt_name} "
              f"({ck.arch.receptive_field}-frame receptive field, flip {'on' if args.flip else 'off'}) in "
              f"{seconds:.1f} s -> {out}")
    return 0
