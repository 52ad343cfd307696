"""``pose3d batch``: ``pose3d infer`` over every video in a folder (:func:`pose3d_cli.batch.run_batch`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pose3d_cli.cli.infer import add_infer_options, infer_kwargs
from pose3d_cli.cli.options import add_json, print_json


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "batch", help="run `infer` on every video in a folder (resumable; local or on a Ray cluster)",
        description="Process every video in FOLDER like `pose3d infer`, loading the models once per worker. "
                    "Clips already done are skipped, so an interrupted run resumes when run again; "
                    "a failing clip is reported and the others go on. Writes batch_summary.json and "
                    "exits 1 if any clip failed.",
        epilog="example: pose3d batch clips/ --out-dir results/ --export npz,bvh --recursive --jobs 2")
    p.add_argument("folder", type=Path, help="folder holding the videos")
    p.add_argument("--pattern", default=None, metavar="GLOB",
                   help="file name pattern, e.g. '*.mp4' (default: common video suffixes)")
    p.add_argument("--recursive", action="store_true", help="also look in sub-folders")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="clips processed in parallel, each worker loading the models once (default 1)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: worker processes on this machine (default); ray: Ray actors on a cluster "
                        "(needs pip install \"pose3d-cli[ray]\"); see docs/batch.md")
    p.add_argument("--ray-address", default=None, metavar="ADDRESS",
                   help="join this Ray cluster (e.g. 10.0.0.5:6379; ray://host:10001 needs pip install "
                        "\"ray[client]\"); default: start a local Ray instance. The workers read the clips "
                        "and write the outputs, so FOLDER and --out-dir must be paths every node sees (a "
                        "shared file system)")
    add_infer_options(p, single=False)
    add_json(p)
    return p


def run(args: argparse.Namespace) -> int:
    from pose3d_cli.batch import run_batch

    kwargs = infer_kwargs(args)
    for key in ("out_dir", "overwrite", "quiet", "_cli"):
        kwargs.pop(key, None)
    result = run_batch(args.folder, out_dir=args.out_dir, jobs=args.jobs, pattern=args.pattern,
                       recursive=args.recursive, engine=args.engine, ray_address=args.ray_address,
                       overwrite=args.overwrite, quiet=args.quiet or args.json, **kwargs)
    if args.json:
        print_json({**result.to_dict(), "summary": str(result.summary_path)})
    else:
        print(result.table())
        print(f"{result.counts.get('done', 0)} done, {result.counts.get('skipped', 0)} skipped, "
              f"{result.failed} failed; summary in {result.summary_path}")
    return 1 if result.failed else 0
