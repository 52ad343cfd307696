"""Lifter throughput: frames per second of the 243-frame, 1024-channel model on this machine.

Compares, in one run and on the same random weights and clip:
  - ``predict`` (whole-sequence dilated convolutions, BatchNorm folded, chunked), flip on/off;
  - ``predict`` without BatchNorm folding;
  - a naive per-frame sliding window: for every output frame, the full model runs on its own
    243-frame window (batched 32 windows at a time), the way a per-frame API would do it.
The naive baseline runs on a subset of frames and is reported per frame.

    python benchmarks/lifter.py [--frames 10000] [--baseline-frames 256] [--channels 1024]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from pose3d_cli.lifting.model import ArchSpec, TemporalModel
from pose3d_cli.lifting.predict import predict


def model_flops_per_frame(arch: ArchSpec) -> float:
    """Multiply-adds × 2 for one output frame of the whole-sequence model."""
    c, j = arch.channels, arch.joints_in * arch.in_features
    flops = c * j * arch.filter_widths[0]
    for w in arch.filter_widths[1:]:
        flops += c * c * w + c * c
    flops += c * arch.joints_out * 3
    return 2.0 * flops


def timed(fn, repeat: int = 1) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--baseline-frames", type=int, default=256)
    ap.add_argument("--channels", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    torch.manual_seed(0)
    arch = ArchSpec(filter_widths=(3, 3, 3, 3, 3), channels=args.channels)
    model = TemporalModel(arch).eval()
    rng = np.random.default_rng(0)
    clip = rng.normal(0, 0.3, (args.frames, 17, 2)).astype(np.float32)
    kw = dict(layout_in="coco17", layout_out="h36m17")
    rows = []
    for name, opts in [("predict, flip off", dict(flip=False)), ("predict, flip on", dict(flip=True)),
                       ("predict, flip off, no BN folding", dict(flip=False, fuse=False))]:
        sec = timed(lambda: predict(model, clip, **kw, **opts), args.repeat)
        rows.append((name, args.frames / sec))

    rf = arch.receptive_field
    sub = clip[: args.baseline_frames]
    padded = np.concatenate([np.repeat(sub[:1], rf // 2, 0), sub, np.repeat(sub[-1:], rf // 2, 0)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, rf, axis=0).transpose(0, 3, 1, 2)

    def naive():
        with torch.inference_mode():
            for i in range(0, len(windows), 32):
                model(torch.from_numpy(np.ascontiguousarray(windows[i:i + 32])))

    sec = timed(naive, 1)
    baseline_fps = len(windows) / sec
    rows.append(("naive per-frame 243-frame windows, flip off", baseline_fps))

    flops = model_flops_per_frame(arch)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"model: {rf}-frame receptive field, {arch.channels} channels, "
          f"{flops / 1e6:.1f} MFLOP per output frame; clip {args.frames} frames")
    print(f"{'method':<46} {'frames/s':>10} {'vs naive':>9} {'GFLOP/s':>8}")
    for name, fps in rows:
        mult = 2 if "flip on" in name else 1
        print(f"{name:<46} {fps:>10.0f} {fps / baseline_fps:>8.1f}x {fps * flops * mult / 1e9:>8.1f}")


if __name__ == "__main__":
    main()
