"""``pose3d train``: train a temporal lifter (supervised or semi-supervised) on dataset files in
the paper's formats (``data_3d_*.npz`` + ``data_2d_*.npz``)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def _widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated odd widths such as 3,3,3, got {text!r}")
    if not widths or any(w < 1 or w % 2 == 0 for w in widths):
        raise argparse.ArgumentTypeError(f"filter widths must be odd and positive, got {text!r}")
    return widths


# options whose default is TrainConfig's: argparse dest -> TrainConfig field
CONFIG_OPTIONS = {"arch": "filter_widths", "channels": "channels", "dropout": "dropout", "epochs": "epochs",
                  "batch_size": "batch_size", "lr": "lr", "lr_decay": "lr_decay"}


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train", help="train a lifter on 3D + 2D dataset files",
        description="Train the temporal lifter with the paper's recipe (Amsgrad, lr decay per epoch, "
                    "BatchNorm momentum decay, flip augmentation). Writes OUT/last.pt (resumable), "
                    "OUT/best.pt, OUT/curve.png and OUT/log.json.")
    p.add_argument("--data-3d", type=Path, required=True, help="data_3d_<name>.npz (positions_3d)")
    p.add_argument("--data-2d", type=Path, required=True, help="data_2d_<name>_<det>.npz (positions_2d)")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    # Defaults of these come from TrainConfig (filled in by run(), so that --help needs no torch);
    # the numbers in the help texts are checked against it by tests/cli/test_train_cli.py.
    p.add_argument("--arch", type=_widths, default=argparse.SUPPRESS,
                   help="filter widths (default 3,3,3: 27 frames; 3,3,3,3,3: 243)")
    p.add_argument("--channels", type=int, default=argparse.SUPPRESS, help="convolution channels (default 1024)")
    p.add_argument("--dropout", type=float, default=argparse.SUPPRESS, help="dropout probability (default 0.25)")
    p.add_argument("--causal", action="store_true", help="train a causal (past-only) model")
    p.add_argument("--epochs", type=int, default=argparse.SUPPRESS, help="epochs (default 80)")
    p.add_argument("--batch-size", type=int, default=argparse.SUPPRESS,
                   help="labelled windows per step (default 1024)")
    p.add_argument("--lr", type=float, default=argparse.SUPPRESS, help="Amsgrad learning rate (default 0.001)")
    p.add_argument("--lr-decay", type=float, default=argparse.SUPPRESS,
                   help="learning-rate factor per epoch (default 0.95)")
    p.add_argument("--semi-supervised", action="store_true",
                   help="also train on unlabelled 2D by back-projection (trajectory model, "
                        "reprojection and bone-length losses)")
    p.add_argument("--subjects-train", default="",
                   help="labelled subjects, e.g. S1 or S1,S5 (default: S1,S5,S6,S7,S8 present in the files)")
    p.add_argument("--subjects-unlabeled", default="",
                   help="unlabelled subjects for --semi-supervised (default: the other paper "
                        "training subjects)")
    p.add_argument("--subjects-test", default="", help="validation subjects (default S9,S11)")
    p.add_argument("--actions", default="", help="comma-separated actions (default all)")
    p.add_argument("--subset", type=float, default=1.0,
                   help="fraction of the labelled frames to use, e.g. 0.1 (default 1)")
    p.add_argument("--downsample", type=int, default=1, help="keep every N-th frame (default 1)")
    p.add_argument("--warmup", type=int, default=1,
                   help="semi-supervised: epochs on labelled data only first (default 1)")
    p.add_argument("--no-augment", dest="augment", action="store_false",
                   help="no flip augmentation of the training windows")
    p.add_argument("--linear-projection", action="store_true",
                   help="semi-supervised: reproject without lens distortion")
    p.add_argument("--resume", nargs="?", const="", default=None, metavar="CHECKPOINT",
                   help="continue a run from OUT/last.pt (or the given last.pt)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    p.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    p.add_argument("--validate-every", type=int, default=1, metavar="N",
                   help="validate after every N-th epoch and the last (default 1)")
    p.add_argument("--bn-min-refresh", type=float, default=2.0, metavar="N",
                   help="floor the BatchNorm momentum at this many refreshes of the running statistics "
                        "per epoch (default 2; matters on small datasets only; 0 = the paper's schedule "
                        "exactly)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh in an OUT that already holds a run")
    return p


def run(args: argparse.Namespace) -> int:
    from pose3d_cli.errors import InputError, OutputExistsError
    from pose3d_cli.training.recipe import (
        build_training_data,
        describe_split,
        inspect_dataset,
        parse_subjects,
        resolve_split,
    )
    from pose3d_cli.training.trainer import LAST, TrainConfig, train

    defaults = TrainConfig()
    for option, field_name in CONFIG_OPTIONS.items():
        if not hasattr(args, option):
            setattr(args, option, getattr(defaults, field_name))
    out: Path = args.out
    resume = None
    if args.resume is not None:
        resume = Path(args.resume) if args.resume else out / LAST
        if not resume.is_file():
            raise InputError(f"{resume}: no checkpoint to resume from; drop --resume to start a new run")
    elif (out / LAST).exists() and not args.overwrite:
        raise OutputExistsError(f"{out} already holds a training run ({LAST}); pass --resume to "
                                "continue it, --overwrite to start again, or another --out")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a directory")
    if not 0 < args.subset <= 1:
        raise InputError(f"--subset must be in (0, 1], got {args.subset}")
    if args.channels < 1:
        raise InputError(f"--channels must be positive, got {args.channels}")
    if not 0 <= args.dropout < 1:
        raise InputError(f"--dropout must be in [0, 1), got {args.dropout}")
    config = TrainConfig(filter_widths=args.arch, channels=args.channels, dropout=args.dropout,
                         causal=args.causal, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         lr_decay=args.lr_decay, semi_supervised=args.semi_supervised, warmup=args.warmup,
                         linear_projection=args.linear_projection, seed=args.seed, device=args.device,
                         amp=args.amp, validate_every=args.validate_every,
                         bn_min_refresh=args.bn_min_refresh)
    info = inspect_dataset(args.data_3d, args.data_2d)
    split = resolve_split(info, parse_subjects(args.subjects_train), parse_subjects(args.subjects_unlabeled),
                          parse_subjects(args.subjects_test), args.semi_supervised, str(args.data_3d))
    arch = config.arch(17, 17)  # only the receptive field is needed here
    data = build_training_data(args.data_3d, args.data_2d, arch, batch_size=args.batch_size, split=split,
                               semi_supervised=args.semi_supervised, subset=args.subset,
                               downsample=args.downsample, actions=parse_subjects(args.actions) or None,
                               augment_flip=args.augment, seed=args.seed, info=info)
    if not args.quiet:
        print(f"pose3d train: {arch.receptive_field}-frame model, {args.channels} channels, "
              f"{info.layout_in} -> {info.layout_out}; {describe_split(data)}")

    def report(epoch: int, stats: dict) -> None:
        if not args.quiet:
            valid = stats["valid_mpjpe_m"]
            valid_text = "      - mm" if math.isnan(valid) else f"{valid * 1000:7.1f} mm"
            print(f"epoch {epoch:>3}/{config.epochs}: train {stats['train_loss_m'] * 1000:7.1f} mm  "
                  f"valid {valid_text}  lr {stats['lr']:.2e}  "
                  f"{stats['samples_per_s']:.0f} samples/s", flush=True)

    result = train(config, data, out, resume=resume, progress=not args.quiet, on_epoch=report)
    if not args.quiet:
        print(f"best validation MPJPE {result.best_valid_mpjpe_m * 1000:.1f} mm -> {result.best_checkpoint}; "
              f"resumable run state in {result.last_checkpoint}")
    return 0
