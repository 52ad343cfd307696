"""``pose3d dataset``: build training data in the paper's file formats.

``pose3d dataset mocap``: real motion capture (BVH) → Human3.6M-style dataset files;
``pose3d dataset convert-h36m``: original Human3.6M pose files → the same files;
``pose3d dataset info``: what a dataset file holds.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "dataset", help="make datasets in the paper's formats (from mocap or Human3.6M)",
        description="Make training/evaluation datasets in the paper's formats "
                    "(data_3d_<name>.npz, data_2d_<name>_<det>.npz). See docs/datasets.md.")
    actions = p.add_subparsers(dest="dataset_command", metavar="ACTION")
    actions.required = True

    m = actions.add_parser(
        "mocap", help="generate a dataset from BVH (or ASF/AMC) motion capture",
        description="Retarget BVH (or Acclaim ASF/AMC) captures to the Human3.6M-17 skeleton, split them into subjects "
                    "S1, S5, S6, S7, S8 (train) and S9, S11 (test) by time, and view them through "
                    "the Human3.6M cameras. Writes data_3d_NAME.npz, data_2d_NAME_gt.npz "
                    "(exact H36M-17 2D) and data_2d_NAME_det.npz (COCO-17 2D with detector-like "
                    "noise).")
    m.add_argument("--bvh", nargs="+", type=Path, default=[], metavar="FILE",
                   help="BVH files (Mixamo-style, Blender or Chest/Collar rigs)")
    m.add_argument("--asf", type=Path, default=None, metavar="SKELETON",
                   help="Acclaim skeleton (.asf, e.g. a CMU subject) for the --amc motions")
    m.add_argument("--amc", nargs="+", type=Path, default=[], metavar="MOTION",
                   help="Acclaim motions (.amc) of the --asf skeleton")
    m.add_argument("--amc-fps", type=float, default=120.0,
                   help="frame rate of the --amc motions (default 120, the CMU database's)")
    m.add_argument("--out-dir", type=Path, required=True, help="folder for the dataset files")
    m.add_argument("--name", default="mocap", help="dataset name in the file names (default: mocap)")
    m.add_argument("--noise", choices=("detector", "none"), default="detector",
                   help="2D noise of the det file: detector-like (default) or none (exact COCO-17)")
    m.add_argument("--seed", type=int, default=0, help="seed of the placement and noise (default 0)")
    m.add_argument("--max-seconds", type=float, default=None,
                   help="use only the first SECONDS of each capture (small, fast datasets)")
    m.add_argument("--overwrite", action="store_true", help="replace existing dataset files")

    c = actions.add_parser(
        "convert-h36m", help="convert original Human3.6M pose files",
        description="Convert Human3.6M 3D poses to data_3d_NAME.npz and ground-truth 2D "
                    "(projected with the built-in cameras) to data_2d_NAME_gt.npz. SOURCE is either "
                    "the extracted original archives (S1/MyPoseFeatures/D3_Positions/*.cdf; needs "
                    "`pip install cdflib`) or the extracted h36m.zip "
                    "(S1/MyPoses/3D_positions/*.h5; needs `pip install h5py`).")
    c.add_argument("--source", type=Path, required=True, help="folder holding S1, S5, … ")
    c.add_argument("--out-dir", type=Path, required=True, help="folder for the dataset files")
    c.add_argument("--name", default="h36m", help="dataset name in the file names (default: h36m)")
    c.add_argument("--format", dest="fmt", choices=("auto", "cdf", "h5"), default="auto",
                   help="source layout (default: detect)")
    c.add_argument("--no-2d", dest="write_2d", action="store_false",
                   help="write only the 3D file")
    c.add_argument("--overwrite", action="store_true", help="replace existing dataset files")

    i = actions.add_parser("info", help="summarise a dataset file",
                           description="Print the subjects, actions and frame counts of a "
                                       "data_3d_*.npz or data_2d_*.npz file.")
    i.add_argument("file", type=Path, help="dataset file (.npz)")
    for action in (m, c, i):
        # The CLI frame adds --debug/--quiet to `pose3d dataset`; accept them after the action
        # too (`pose3d dataset mocap ... --quiet`) without overriding a value given before it.
        action.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                            help="show tracebacks and debug logging")
        action.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS,
                            help="no progress output, only errors")
    return p


def run(args: argparse.Namespace) -> int:
    if args.dataset_command == "mocap":
        return _run_mocap(args)
    if args.dataset_command == "convert-h36m":
        return _run_convert(args)
    return _run_info(args)


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text)


def _run_mocap(args: argparse.Namespace) -> int:
    from pose3d_cli.errors import InputError
    from pose3d_cli.io.atomic import check_writable
    from pose3d_cli.training.synth import NoiseModel, build_mocap_dataset, write_dataset

    if args.amc and args.asf is None:
        raise InputError("--amc motions need their skeleton: add --asf SKELETON.asf")
    if args.asf is not None and not args.amc:
        raise InputError(f"{args.asf}: an --asf skeleton needs --amc MOTION.amc [...]")
    if not args.bvh and not args.amc:
        raise InputError("no motion capture given: pass --bvh FILE [FILE ...] and/or --asf/--amc")
    for name in (f"data_3d_{args.name}.npz", f"data_2d_{args.name}_gt.npz",
                 f"data_2d_{args.name}_det.npz"):
        check_writable(args.out_dir / name, args.overwrite)
    sources = list(args.bvh) + [(args.asf, amc) for amc in args.amc]
    noise = NoiseModel() if args.noise == "detector" else None
    ds = build_mocap_dataset(sources, seed=args.seed, noise=noise, max_seconds=args.max_seconds,
                             amc_fps=args.amc_fps)
    paths = write_dataset(ds, args.out_dir, args.name, overwrite=args.overwrite)
    for subject, actions in ds.positions_3d.items():
        frames = sum(v.shape[0] for v in actions.values())
        _say(args, f"{subject:>4}: {len(actions):3d} actions, {frames:6d} frames")
    for path in paths.values():
        _say(args, f"wrote {path}")
    return 0


def _run_convert(args: argparse.Namespace) -> int:
    from pose3d_cli.training.h36m_source import convert_h36m

    paths = convert_h36m(args.source, args.out_dir, args.name, fmt=args.fmt,
                         write_2d=args.write_2d, overwrite=args.overwrite)
    for path in paths.values():
        _say(args, f"wrote {path}")
    return 0


def _run_info(args: argparse.Namespace) -> int:
    from pose3d_cli.errors import InputError
    from pose3d_cli.training.data import load_npz_safe

    data = load_npz_safe(args.file)
    if isinstance(data.get("positions_3d"), dict):
        print(f"{args.file}: 3D poses (world metres)")
        for subject, actions in data["positions_3d"].items():
            shapes = {a: tuple(v.shape) for a, v in actions.items()}
            joints = {s[1] for s in shapes.values()}
            print(f"  {subject}: {len(shapes)} actions, {sum(s[0] for s in shapes.values())} frames, "
                  f"{'/'.join(map(str, sorted(joints)))} joints")
        return 0
    if isinstance(data.get("positions_2d"), dict):
        meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        print(f"{args.file}: 2D keypoints (pixels), layout {meta.get('layout_name', '?')}, "
              f"{meta.get('num_joints', '?')} joints")
        for subject, actions in data["positions_2d"].items():
            frames = sum(len(v[0]) for v in actions.values() if len(v))
            cams = {len(v) for v in actions.values()}
            print(f"  {subject}: {len(actions)} actions, {frames} frames, "
                  f"{'/'.join(map(str, sorted(cams)))} cameras")
        return 0
    raise InputError(f"{args.file}: neither positions_3d nor positions_2d inside; not a dataset file")
