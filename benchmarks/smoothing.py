"""Does smoothing the lifted 3D poses help? MPJPE and MPJVE with and without each filter.

Held-out real motion: the shared captures (``../shared/mocap``) made into a dataset as
``pose3d dataset mocap`` does (seed 0, detector-like 2D noise), test subjects S9 and S11 (time
portions the built-in lifters never trained on), all four cameras. Each sequence is lifted
whole by a built-in lifter with flip augmentation (as ``pose3d infer`` does; the causal one
too: a file is smoothed after the fact whatever model made it), then smoothed with each
filter/cutoff at 50 Hz, and also subsampled to 25 Hz (a 25 fps clip's output) and
smoothed there. Errors are frame-weighted over all sequences, root-relative camera frame, in
millimetres (protocol 1 MPJPE; MPJVE: MPJPE of first differences, per frame at that rate).

    python benchmarks/smoothing.py [--shared ../shared] [--max-seconds N] [--lifter NAME ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from pose3d_cli.lifting.smoothing import SmoothOptions, smooth_poses

SYMMETRIC = "pose3d-27f.mocap-coco"
CAUSAL = "pose3d-27f-causal.mocap-coco"


def configs() -> list[SmoothOptions | None]:
    out: list[SmoothOptions | None] = [None]
    out += [SmoothOptions("butterworth", c) for c in (2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 12.0)]
    out += [SmoothOptions("one-euro", c, beta=b) for c in (0.5, 1.0, 2.0) for b in (0.0, 3.0, 10.0, 30.0)]
    return out


def errors(pairs: list[tuple[np.ndarray, np.ndarray]], fps: float, opts: SmoothOptions | None) -> tuple[float, float]:
    """Frame-weighted MPJPE and MPJVE (mm) of (prediction, target) pairs after smoothing."""
    pos_sum = vel_sum = 0.0
    n_pos = n_vel = 0
    for pred, target in pairs:
        sm = pred if opts is None else smooth_poses(pred, opts, fps=fps)
        pos_sum += np.linalg.norm(sm - target, axis=-1).mean(-1).sum()
        vel_sum += np.linalg.norm(np.diff(sm, axis=0) - np.diff(target, axis=0), axis=-1).mean(-1).sum()
        n_pos += len(target)
        n_vel += len(target) - 1
    return 1000 * pos_sum / n_pos, 1000 * vel_sum / n_vel


def label(opts: SmoothOptions | None) -> str:
    if opts is None:
        return "none"
    if opts.method == "butterworth":
        return f"butterworth {opts.cutoff_hz:g} Hz"
    return f"one-euro {opts.cutoff_hz:g} Hz, beta {opts.beta:g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    ap.add_argument("--max-seconds", type=float, default=None, help="use only the start of each capture")
    ap.add_argument("--lifter", action="append", default=None, help=f"built-in lifter(s) (default {SYMMETRIC} "
                    f"and {CAUSAL})")
    args = ap.parse_args()

    import torch

    from pose3d_cli.lifting.predict import predict
    from pose3d_cli.training.data import prepare_sequences
    from pose3d_cli.training.synth import TEST_SUBJECTS, generate_mocap_files
    from pose3d_cli.zoo import load_lifter

    torch.set_num_threads(2)
    bvh = sorted((args.shared / "mocap").glob("*.bvh"))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        files = generate_mocap_files(bvh, tmp, "mocap", seed=0, max_seconds=args.max_seconds)
        seqs = prepare_sequences(files["3d"], files["det"], list(TEST_SUBJECTS))
    frames = sum(s.num_frames for s in seqs)
    print(f"data: {len(bvh)} captures, test subjects {', '.join(TEST_SUBJECTS)}: {len(seqs)} sequences, "
          f"{frames} frames at 50 Hz ({time.perf_counter() - t0:.1f} s to build)")

    for name in args.lifter or (SYMMETRIC, CAUSAL):
        ck, _ = load_lifter(name)
        pairs50 = []
        for s in seqs:
            pred = predict(ck.model_pos, s.kpts_norm, layout_in=ck.layout_in, layout_out=ck.layout_out,
                           flip=True).astype(np.float64)
            target = s.pose_cam_m.astype(np.float64)
            pairs50.append((pred, target - target[:, :1]))
        pairs25 = [(p[::2], t[::2]) for p, t in pairs50]
        print(f"\nlifter {name} ({'causal' if ck.arch.causal else 'symmetric'}, flip on)")
        print(f"{'filter':<32} {'50 Hz MPJPE':>11} {'MPJVE':>7} {'dMPJPE':>7} {'dMPJVE':>7}   "
              f"{'25 Hz MPJPE':>11} {'MPJVE':>7} {'dMPJPE':>7} {'dMPJVE':>7}")
        base50 = errors(pairs50, 50.0, None)
        base25 = errors(pairs25, 25.0, None)
        for opts in configs():
            e50, e25 = errors(pairs50, 50.0, opts), errors(pairs25, 25.0, opts)
            print(f"{label(opts):<32} {e50[0]:>11.1f} {e50[1]:>7.2f} {e50[0] - base50[0]:>+7.1f} "
                  f"{e50[1] - base50[1]:>+7.2f}   {e25[0]:>11.1f} {e25[1]:>7.2f} {e25[0] - base25[0]:>+7.1f} "
                  f"{e25[1] - base25[1]:>+7.2f}")


if __name__ == "__main__":
    main()
