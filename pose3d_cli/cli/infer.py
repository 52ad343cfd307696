"""``pose3d infer``: one video in; 3D poses and a side-by-side 3D skeleton video out.

Every flag maps to one keyword argument of :func:`pose3d_cli.pipeline.infer_video`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pose3d_cli.cli.options import (
    add_causal,
    add_device,
    add_fps,
    add_height,
    add_json,
    add_person,
    add_range,
    number,
    print_json,
)


def add_infer_options(p: argparse.ArgumentParser, *, single: bool = True) -> None:
    """The options ``infer`` and ``batch`` share (``single``: also ``--out`` and ``--keypoints``)."""
    out = p.add_argument_group("outputs")
    if single:
        out.add_argument("--out", type=Path, default=None,
                         help="the render's path (e.g. render.mp4); the other files go beside it "
                              "with the same stem (default: VIDEO's stem + .pose3d.mp4 beside VIDEO)")
    out.add_argument("--out-dir", type=Path, default=None,
                     help="folder for the outputs (default: beside the input)")
    out.add_argument("--export", default="npz", metavar="FORMATS",
                     help="comma-separated pose outputs among npz (the pose file), json, csv (tidy table), "
                          "bvh (Blender, one per person), trc (OpenSim, one per person), angles (joint-angle "
                          "CSV), html (a viewer that opens by double-click), or all; default: npz")
    out.add_argument("--bvh-rest", choices=("clip", "tpose"), default="clip",
                     help="BVH rest pose: the clip's typical posture (default) or a T-pose")
    out.add_argument("--bvh-names", choices=("h36m", "animator"), default="h36m",
                     help="BVH joint names: the pose file's (default) or Hips, LeftUpLeg, ... for retargeting")
    out.add_argument("--no-render", dest="render", action="store_false",
                     help="skip the side-by-side video (only the --export files)")
    out.add_argument("--overwrite", action="store_true", help="replace existing outputs")

    model = p.add_argument_group("models")
    model.add_argument("--detector", default="default",
                       help="2D keypoint detector backend (default: the built-in multi-person detector; "
                            "see `pose3d detect --help`)")
    model.add_argument("--checkpoint", default=None, metavar="NAME|PATH",
                       help="lifter: registry name (see `pose3d models`) or checkpoint file "
                            "(default: the registry default)")
    model.add_argument("--no-flip", dest="flip", action="store_false",
                       help="turn off test-time flip augmentation (a little faster, a little worse)")
    add_causal(model)
    if single:
        model.add_argument("--keypoints", type=Path, default=None, metavar="FILE",
                           help="2D keypoints to use instead of detecting: a .npz from `pose3d detect`, a "
                                "VideoPose3D custom .npz, a COCO keypoint .json or an OpenPose folder")
    add_device(model)
    add_person(model)
    add_height(model)
    model.add_argument("--smooth", default="default", metavar="FILTER",
                       help="filter the 3D poses over time: butterworth[:CUTOFF_HZ] (zero-phase), "
                            "one-euro[:MIN_CUTOFF_HZ[:BETA]] (causal) or off; default: butterworth:6, or "
                            "one-euro with --causal (see docs/outputs.md)")
    model.add_argument("--no-resample", dest="resample", action="store_false",
                       help="lift at the clip's own frame rate instead of resampling to the "
                            "models' 50 fps and back")

    view = p.add_argument_group("render")
    view.add_argument("--azimuth", type=number, default=None, metavar="DEG",
                      help="starting azimuth of the 3D view in degrees (default: 70)")
    view.add_argument("--orbit", type=number, default=0.0, metavar="DEG_PER_S",
                      help="turn the 3D camera around the subject at this many degrees per second")
    view.add_argument("--size", default=None, metavar="H|WxH",
                      help="render height (e.g. 720) or whole size (e.g. 1600x600); default: the "
                           "input's height, at most 720")
    rng = p.add_argument_group("range")
    add_fps(rng)
    add_range(rng)


def infer_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of ``infer_video`` from parsed options (1:1)."""
    from pose3d_cli.render.side_by_side import DEFAULT_AZIMUTH_DEG

    kw: dict[str, Any] = {
        "out_dir": args.out_dir, "detector": args.detector, "checkpoint": args.checkpoint,
        "device": args.device, "flip": args.flip, "causal": args.causal, "person": args.person,
        "render": args.render,
        "export": args.export,
        "azimuth": DEFAULT_AZIMUTH_DEG if args.azimuth is None else args.azimuth,
        "orbit": args.orbit, "size": args.size, "fps": args.fps, "start": args.start, "end": args.end,
        "limit": args.limit, "resample": args.resample, "smooth": args.smooth, "height": args.height,
        "bvh_rest": args.bvh_rest,
        "bvh_names": args.bvh_names, "overwrite": args.overwrite,
        "quiet": args.quiet or args.json, "_cli": True,
    }
    if hasattr(args, "out"):
        kw["out"] = args.out
    if hasattr(args, "keypoints"):
        kw["keypoints"] = args.keypoints
    return kw


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "infer", help="video of a person → 3D poses and a 3D skeleton video",
        description="Detect the person's 2D keypoints, lift them to 3D with the temporal model, "
                    "and write the pose file (plus any --export formats) and a side-by-side video: "
                    "the input with its 2D skeleton beside the 3D skeleton.",
        epilog="example: pose3d infer examples/walk.mp4 --export npz,bvh --orbit 20\n"
               "exit status: 0 ok, 2 bad input, 3 model/backend/download missing, 4 output not writable",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", type=Path, help="input video (mp4, mov, avi, mkv, webm) or image folder")
    add_infer_options(p, single=True)
    add_json(p)
    return p


def run(args: argparse.Namespace) -> int:
    from pose3d_cli.pipeline import infer_video

    result = infer_video(args.video, **infer_kwargs(args))
    if args.json:
        print_json(result.to_dict())
    return 0
