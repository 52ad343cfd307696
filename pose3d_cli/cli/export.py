"""``pose3d export``: an existing pose file → any export format, without detecting or lifting
again."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    from pose3d_cli.cli.options import add_json, add_person
    from pose3d_cli.io.bvh import BVH_NAMES, BVH_RESTS
    from pose3d_cli.io.exports import EXPORT_FORMATS

    p = sub.add_parser(
        "export", help="turn a pose file into BVH, TRC, joint angles, an HTML viewer, JSON, CSV, ...",
        description="Write the poses of an existing pose file (.pose3d.npz from `pose3d infer` or `pose3d lift`) "
                    "in other formats, beside it as <name>.<format> (clip.pose3d.npz -> clip.pose3d.bvh, "
                    "clip.pose3d.angles.csv, ...) or in --out-dir. Per-person formats (bvh, trc) write one file "
                    "per person: the main person's at the plain name, others as <name>.p<ID>.<ext>. See "
                    "docs/outputs.md.")
    p.add_argument("input", type=Path, help="the pose file (.pose3d.npz)")
    p.add_argument("--export", required=True, metavar="FORMATS",
                   help=f"comma-separated formats among {', '.join(EXPORT_FORMATS)}, or all")
    p.add_argument("--out-dir", type=Path, default=None, help="write the outputs here (default: beside the input)")
    add_person(p, default="all")
    p.add_argument("--smooth", default="off", metavar="FILTER",
                   help="smooth the 3D poses first: butterworth[:CUTOFF_HZ] (zero-phase, default 6 Hz), "
                        "one-euro[:MIN_CUTOFF_HZ[:BETA]] (causal), or off (default)")
    p.add_argument("--bvh-rest", choices=BVH_RESTS, default="clip",
                   help="BVH rest pose: the clip's typical posture (clip, default) or a T-pose (tpose)")
    p.add_argument("--bvh-names", choices=BVH_NAMES, default="h36m",
                   help="BVH joint names: the pose file's (h36m, default) or Mixamo/CMU-style names for "
                        "retargeting (animator: Hips, LeftUpLeg, LeftLeg, LeftFoot, Spine, Neck, Head, "
                        "LeftShoulder, LeftArm, LeftForeArm, LeftHand, ...)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_json(p)
    return p


def output_base(pose_file: Path, out_dir: Path | None) -> Path:
    """``clip.pose3d.npz`` → ``clip.pose3d`` beside it (or in ``out_dir``)."""
    name = pose_file.name[:-4] if pose_file.name.lower().endswith(".npz") else pose_file.name
    return (out_dir if out_dir is not None else pose_file.parent) / name


def run(args: argparse.Namespace) -> int:
    from pose3d_cli.cli.options import print_json
    from pose3d_cli.errors import InputError
    from pose3d_cli.io.exports import (
        export_paths,
        parse_exports,
        parse_people,
        write_exports,
    )
    from pose3d_cli.io.pose_file import load_poses
    from pose3d_cli.lifting.smoothing import parse_smooth, smooth_poses

    t0 = time.perf_counter()
    formats = parse_exports(args.export)
    if not formats:
        raise InputError("--export: give at least one format, e.g. --export bvh,trc or --export all")
    smooth = parse_smooth(args.smooth)
    people = parse_people(args.person)
    paths = export_paths(output_base(args.input, args.out_dir), formats)
    seq = load_poses(args.input)
    if smooth is not None:
        seq = smooth_poses(seq, smooth)
    written = write_exports(seq, paths, formats, overwrite=args.overwrite, people=people, protect=[args.input],
                            bvh_rest=args.bvh_rest, bvh_names=args.bvh_names, overwrite_option="--overwrite")
    files = [f for v in written.values() for f in (v if isinstance(v, list) else [v])]
    seconds = time.perf_counter() - t0
    if args.json:
        from pose3d_cli.io.exports import person_indices

        chosen = person_indices(seq, people)
        print_json({
            "command": "export", "input": str(args.input),
            "outputs": {k: ([str(f) for f in v] if isinstance(v, list) else str(v)) for k, v in written.items()},
            "frames": seq.num_frames, "fps": seq.fps, "people": [int(seq.person_ids[i]) for i in chosen],
            "main_person": int(seq.person_ids[seq.main_person]), "model": seq.checkpoint,
            "smooth": None if smooth is None else smooth.describe(), "seconds": round(seconds, 3)})
    elif not args.quiet:
        n = seq.num_people
        print(f"{args.input.name}: {seq.num_frames} frames at {seq.fps:g} fps, {n} {'person' if n == 1 else 'people'}"
              f"{', smoothed ' + smooth.describe() if smooth else ''}; wrote "
              f"{', '.join(str(f) for f in files) or 'nothing (the selected people are never present)'}")
    return 0
