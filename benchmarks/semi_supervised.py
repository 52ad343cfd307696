"""The paper's semi-supervised finding on the data that can be had here.

With a small fraction of the labels (10 % and 1 % of subject S1's frames, as one contiguous
chunk per action, the paper's ``--subset``), training by back-projection on the unlabelled 2D
of S5–S8 (trajectory model, reprojection loss, bone-length prior) should lower the test MPJPE
against supervised training on the same labels alone. Test: S9 and S11, whole sequences,
no flip augmentation, the final epoch's weights (no selection on the test set).

The dataset is generated from the real captures in ``../shared/mocap`` (real human motion,
the real Human3.6M cameras); the 2D input is the exact projection of the H36M-17 joints
(``gt``, the paper's semi-supervised setting) or the noisy COCO-17 detections (``--two-d det``).
The settings are cut down for 2 shared CPU cores and printed with the table, which is also
written to ``models/semi_supervised.md``.

    nice python benchmarks/semi_supervised.py [--subsets 0.1,0.01] [--steps 1500]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from pose3d_cli.io.atomic import atomic_path
from pose3d_cli.metrics import p_mpjpe
from pose3d_cli.training.recipe import Split, build_training_data, inspect_dataset
from pose3d_cli.training.synth import generate_mocap_files
from pose3d_cli.training.trainer import TrainConfig, train

REPO = Path(__file__).resolve().parents[1]


def _errors(model, clips, layout_in: str, layout_out: str) -> tuple[float, float]:
    """Frame-weighted MPJPE and P-MPJPE (mm) of ``model`` on whole clips, no flip."""
    import numpy as np

    from pose3d_cli.lifting.predict import predict

    e1 = e2 = 0.0
    frames = 0
    for clip in clips:
        pred = predict(model, clip.kpts_norm, layout_in=layout_in, layout_out=layout_out, flip=False)
        target = clip.pose_cam_m
        n = len(target)
        e1 += float(np.linalg.norm(pred - target, axis=-1).mean()) * n
        e2 += p_mpjpe(pred, target) * n
        frames += n
    return 1000 * e1 / frames, 1000 * e2 / frames


def _one(files: dict, args, subset: float, semi: bool, out: Path) -> dict:
    info = inspect_dataset(files["3d"], files[args.two_d])
    split = Split(train=("S1",), unlabelled=("S5", "S6", "S7", "S8") if semi else (), test=("S9", "S11"))
    probe = TrainConfig(filter_widths=args.arch, channels=args.channels, batch_size=args.batch_size)
    data = build_training_data(files["3d"], files[args.two_d], probe.arch(17, 17), batch_size=args.batch_size,
                               split=split, semi_supervised=semi, subset=subset, seed=args.seed, info=info)
    steps_per_epoch = len(data.labelled)
    epochs = max(2, math.ceil(args.steps / steps_per_epoch))
    warmup = max(1, round(epochs * args.warmup_fraction))
    # lr decay per epoch chosen so the whole run decays by the same total factor whatever the
    # number of epochs (the paper's semi-supervised example: 0.98 over 200 epochs ≈ 0.018).
    decay = args.total_decay ** (1.0 / epochs)
    config = TrainConfig(filter_widths=args.arch, channels=args.channels, batch_size=args.batch_size,
                         epochs=epochs, lr=args.lr, lr_decay=decay, semi_supervised=semi, warmup=warmup,
                         seed=args.seed, device=args.device, validate_every=epochs)
    t = time.perf_counter()
    result = train(config, data, out, progress=False)
    seconds = time.perf_counter() - t
    mpjpe, pmpjpe = _errors(result.model_pos, data.validation, data.layout_in, data.layout_out)
    return {"subset": subset, "semi": semi, "labelled_frames": data.description["labelled_frames"],
            "unlabelled_frames": data.description["unlabelled_frames"], "epochs": epochs, "warmup": warmup,
            "steps": epochs * steps_per_epoch, "lr_decay": decay, "mpjpe_mm": mpjpe, "p_mpjpe_mm": pmpjpe,
            "seconds": seconds}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mocap", type=Path, default=REPO.parent / "shared" / "mocap")
    ap.add_argument("--seconds", type=float, default=None, help="seconds of each capture to use (default all)")
    ap.add_argument("--subsets", default="0.1,0.01", help="label fractions of S1")
    ap.add_argument("--two-d", choices=("gt", "det"), default="gt")
    ap.add_argument("--arch", type=lambda s: tuple(int(w) for w in s.split(",")), default=(3, 3, 3))
    ap.add_argument("--channels", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=64, help="labelled windows per step (paper: 64)")
    ap.add_argument("--steps", type=int, default=1500, help="optimiser steps per run (about)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--total-decay", type=float, default=0.02, help="lr factor over the whole run")
    ap.add_argument("--warmup-fraction", type=float, default=0.1, help="warm-up share of the epochs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=REPO / "models" / "semi_supervised.md")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    bvh = sorted(args.mocap.glob("*.bvh"))
    if not bvh:
        print(f"no BVH files in {args.mocap}; pass --mocap DIR", file=sys.stderr)
        return 2
    subsets = [float(s) for s in args.subsets.split(",")]
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = generate_mocap_files(bvh, tmp, "semi", seed=args.seed, max_seconds=args.seconds)
        for subset in subsets:
            for semi in (False, True):
                r = _one(files, args, subset, semi, Path(tmp) / f"run_{subset}_{int(semi)}")
                rows.append(r)
                print(f"  subset {subset:g} {'semi-supervised' if semi else 'supervised':<15} "
                      f"MPJPE {r['mpjpe_mm']:.1f} mm  P-MPJPE {r['p_mpjpe_mm']:.1f} mm  "
                      f"({r['epochs']} epochs, {r['seconds']:.0f} s)", flush=True)
    load_after = os.getloadavg()
    rf = 1
    for w in args.arch:
        rf *= w
    lines = [
        "# Semi-supervised training on real motion capture",
        "",
        "Written by `benchmarks/semi_supervised.py`. Labelled: a fraction of subject S1's frames "
        "(one contiguous chunk per action); unlabelled (semi-supervised only): the 2D of S5, S6, S7, S8; "
        "test: S9, S11 (whole sequences, no flip augmentation, final-epoch weights). Data: the three "
        "real BVH captures in `../shared/mocap`, retargeted to Human3.6M-17 and seen through the "
        "Human3.6M cameras (`pose3d dataset mocap`), "
        + ("exact 2D projections of the H36M-17 joints (the paper's ground-truth-2D setting)."
           if args.two_d == "gt" else "noisy COCO-17 detections (detector-like noise model)."),
        "",
        f"Settings: {rf}-frame model (filter widths {','.join(map(str, args.arch))}), {args.channels} "
        f"channels, batch {args.batch_size} labelled + {args.batch_size} unlabelled, Amsgrad lr "
        f"{args.lr:g} decayed by {args.total_decay:g} over each run, about {args.steps} steps per run, "
        f"warm-up {args.warmup_fraction:.0%} of the epochs, seed {args.seed}; "
        f"{torch.get_num_threads()} torch threads, load {load_before[0]:.1f} before / "
        f"{load_after[0]:.1f} after (1-min average).",
        "",
        "Command: `nice python benchmarks/semi_supervised.py " + " ".join(sys.argv[1:] if argv is None else argv)
        + "`",
        "",
        "| labels (S1) | labelled frames (4 cameras) | training | epochs | MPJPE (mm) | P-MPJPE (mm) | time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['subset']:.0%} | {r['labelled_frames']} | "
                     f"{'semi-supervised (+' + str(r['unlabelled_frames']) + ' unlabelled)' if r['semi'] else 'supervised'}"
                     f" | {r['epochs']} (warm-up {r['warmup']}) | {r['mpjpe_mm']:.1f} | {r['p_mpjpe_mm']:.1f} | "
                     f"{r['seconds']:.0f} |" if r["semi"] else
                     f"| {r['subset']:.0%} | {r['labelled_frames']} | supervised | {r['epochs']} | "
                     f"{r['mpjpe_mm']:.1f} | {r['p_mpjpe_mm']:.1f} | {r['seconds']:.0f} |")
    lines.append("")
    for subset in subsets:
        sup = next(r for r in rows if r["subset"] == subset and not r["semi"])
        semi = next(r for r in rows if r["subset"] == subset and r["semi"])
        change = 100 * (semi["mpjpe_mm"] - sup["mpjpe_mm"]) / sup["mpjpe_mm"]
        lines.append(f"- {subset:.0%} of the labels: semi-supervised {semi['mpjpe_mm']:.1f} mm vs supervised "
                     f"{sup['mpjpe_mm']:.1f} mm ({change:+.1f} %).")
    lines += ["", "The paper (Human3.6M, ground-truth 2D, 10 % of S1, 27 frames): 65.2 mm semi-supervised "
              "against 80.7 mm supervised.", ""]
    text = "\n".join(lines)
    print()
    print(text)
    with atomic_path(args.out) as tmp_out:
        tmp_out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
