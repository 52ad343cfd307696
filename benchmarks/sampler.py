"""Chunked sampler throughput: the vectorised sampler against a per-sample Python loop.

Both build identical batches (same chunks, same order; checked on the first batch) from the
same dataset, generated from the real captures in ``../shared/mocap`` at the start of the run.
Prints samples per second and the ratio, for the paper's training shapes (strided training:
1 target frame with 243- and 27-frame windows, batch 1024, flip augmentation) and a
chunked one.

    nice python benchmarks/sampler.py [--mocap DIR] [--seconds 60] [--batches 20]

Report the machine load (``uptime``) next to the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pose3d_cli.skeleton import COCO17, H36M17
from pose3d_cli.training.data import prepare_sequences
from pose3d_cli.training.sampler import ChunkedSampler, reference_batch
from pose3d_cli.training.synth import generate_mocap_files

REPO = Path(__file__).resolve().parents[1]
FLIPS = {"kps_left": COCO17.left, "kps_right": COCO17.right,
         "joints_left": H36M17.left, "joints_right": H36M17.right}


def _time(fn, repeats: int) -> float:
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t) / repeats


def bench(pairs, chunk_length: int, pad: int, batch_size: int, batches: int) -> dict:
    sampler = ChunkedSampler(pairs, chunk_length, pad, batch_size=batch_size, augment_flip=True,
                             seed=0, **FLIPS)
    order = sampler.epoch_order(0)
    rows_list = [order[i * batch_size:(i + 1) * batch_size] for i in range(batches)]
    seq, start, flip = sampler.chunks
    tables = [(seq[r], start[r], flip[r]) for r in rows_list]
    # Same batches from both; check equality once.
    fast0 = sampler.gather(*tables[0])
    slow0 = reference_batch(pairs, list(zip(*(t.tolist() for t in tables[0]))), chunk_length, pad,
                            0, **FLIPS)
    np.testing.assert_array_equal(fast0.kpts_2d, slow0.kpts_2d)
    np.testing.assert_array_equal(fast0.pose_3d, slow0.pose_3d)
    it = iter(range(batches))
    t_fast = _time(lambda: sampler.gather(*tables[next(it) % batches]), batches)
    n_slow = max(2, batches // 5)  # the loop is slow; fewer batches give the same per-batch time
    it2 = iter(range(n_slow))

    def slow():
        t = tables[next(it2) % batches]
        reference_batch(pairs, list(zip(*(x.tolist() for x in t))), chunk_length, pad, 0, **FLIPS)

    t_slow = _time(slow, n_slow)
    return {"window": chunk_length + 2 * pad, "L": chunk_length, "batch": batch_size,
            "fast": batch_size / t_fast, "slow": batch_size / t_slow}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mocap", type=Path, default=REPO.parent / "shared" / "mocap")
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds of each capture to use")
    ap.add_argument("--batches", type=int, default=20)
    args = ap.parse_args(argv)
    bvh = sorted(args.mocap.glob("*.bvh"))
    if not bvh:
        print(f"no BVH files in {args.mocap}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        paths = generate_mocap_files(bvh, tmp, "bench", max_seconds=args.seconds)
        pairs = prepare_sequences(paths["3d"], paths["det"], ["S1", "S5", "S6", "S7", "S8"])
    frames = sum(p.num_frames for p in pairs)
    print(f"data: {len(pairs)} sequences, {frames} frames (COCO-17 in, H36M-17 out), flip on")
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"(1/5/15 min), {os.cpu_count()} CPUs")
    print()
    print("| window | L | batch | vectorised samples/s | per-sample loop samples/s | ratio |")
    print("|---|---|---|---|---|---|")
    for chunk_length, pad, batch in ((1, 121, 1024), (1, 13, 1024), (32, 13, 64)):
        r = bench(pairs, chunk_length, pad, batch, args.batches)
        print(f"| {r['window']} | {r['L']} | {r['batch']} | {r['fast']:,.0f} | {r['slow']:,.0f} | "
              f"{r['fast'] / r['slow']:.1f}× |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
