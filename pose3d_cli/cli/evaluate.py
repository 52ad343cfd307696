"""``pose3d evaluate``: the paper's per-action error table of a lifter on dataset files."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "evaluate", help="per-action MPJPE / P-MPJPE / N-MPJPE / velocity error of a lifter",
        description="Evaluate a lifter on the test subjects of dataset files in the paper's formats: "
                    "protocol 1 (MPJPE), 2 (P-MPJPE), 3 (N-MPJPE) and the velocity error (MPJVE) per "
                    "action, without and with test-time flip augmentation, in millimetres.")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint path or registry name (default: the registry default)")
    p.add_argument("--data-3d", type=Path, required=True, help="data_3d_<name>.npz (positions_3d)")
    p.add_argument("--data-2d", type=Path, required=True, help="data_2d_<name>_<det>.npz (positions_2d)")
    p.add_argument("--subjects-test", default="", help="test subjects (default S9,S11)")
    p.add_argument("--actions", default="", help="comma-separated actions (default all)")
    p.add_argument("--downsample", type=int, default=1, help="keep every N-th frame (default 1)")
    p.add_argument("--causal", action="store_true", help="the checkpoint is a causal model")
    p.add_argument("--flip", choices=("both", "on", "off"), default="both",
                   help="test-time flip augmentation: report both tables (default), or one")
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the tables as JSON")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    return p


def run(args: argparse.Namespace) -> int:
    from pose3d_cli.device import select_device
    from pose3d_cli.errors import InputError
    from pose3d_cli.io.atomic import check_writable
    from pose3d_cli.training.evaluate import (
        evaluate_checkpoint,
        format_table,
        write_report_json,
    )
    from pose3d_cli.training.recipe import (
        PAPER_TEST_SUBJECTS,
        inspect_dataset,
        load_test_sequences,
        parse_subjects,
    )
    from pose3d_cli.zoo import load_lifter

    if args.json is not None:
        check_writable(args.json, args.overwrite)
    device = select_device(args.device)
    info = inspect_dataset(args.data_3d, args.data_2d)
    subjects = parse_subjects(args.subjects_test) or tuple(s for s in PAPER_TEST_SUBJECTS if s in info.subjects)
    if not subjects:
        raise InputError(f"{args.data_3d}: no S9/S11 in the dataset; name test subjects with --subjects-test "
                         f"(it has {', '.join(info.subjects)})")
    missing = [s for s in subjects if s not in info.subjects]
    if missing:
        raise InputError(f"{args.data_3d}: --subjects-test names {', '.join(missing)}, not in the dataset; "
                         f"it has {', '.join(info.subjects)}")
    ck, name = load_lifter(args.checkpoint, causal=True if args.causal else None, quiet=args.quiet)
    if ck.layout_in != info.layout_in:
        raise InputError(f"{args.data_2d}: 2D keypoints are {info.layout_in} but {name} takes {ck.layout_in}; "
                         "use a checkpoint trained on this layout or matching 2D files")
    ck.model_pos.to(device)
    sequences = load_test_sequences(args.data_3d, args.data_2d, subjects,
                                    actions=parse_subjects(args.actions) or None, downsample=args.downsample)
    flips = {"both": (False, True), "on": (True,), "off": (False,)}[args.flip]
    report = evaluate_checkpoint(ck, sequences, flips=flips, device=device, subjects=subjects)
    if not args.quiet:
        print(f"{name}: {ck.arch.receptive_field}-frame receptive field, {ck.layout_in} -> {ck.layout_out}; "
              f"test subjects {','.join(subjects)}, {len(sequences)} sequences")
        for table in report.tables:
            print()
            print(format_table(table))
    if args.json is not None:
        write_report_json(args.json, report, overwrite=args.overwrite)
        if not args.quiet:
            print(f"\nwrote {args.json}")
    return 0
