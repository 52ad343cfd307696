"""Training-loop throughput: samples per second of the supervised and the semi-supervised loop.

Both loops run the real trainer (:class:`pose3d_cli.training.trainer.TrainingRun`: sampler,
strided model, losses, backward, Amsgrad step) for a fixed number of steps on a dataset
generated from the real captures in ``../shared/mocap`` at the start of the run. The
semi-supervised loop processes a labelled and an unlabelled half per step and a second
(trajectory) model; the table gives both loops' samples/s and the ratio to the supervised loop
measured in the same run. The data sampler alone against a per-sample Python loop is
``benchmarks/sampler.py``; ``--sampler`` runs it afterwards.

    nice python benchmarks/train.py [--arch 3,3,3] [--channels 256] [--batch-size 1024]
                                    [--steps 10] [--threads N] [--sampler]

Report the machine load (``uptime``) next to the figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from pose3d_cli.training.recipe import Split, build_training_data, inspect_dataset
from pose3d_cli.training.synth import generate_mocap_files
from pose3d_cli.training.trainer import DistContext, TrainConfig, TrainingRun

REPO = Path(__file__).resolve().parents[1]


class _FirstBatches:
    """The first ``n`` batches of a sampler's epoch (keeps the sampler interface)."""

    def __init__(self, sampler, n: int) -> None:
        self.sampler, self.n = sampler, n

    def __iter__(self):
        for i, batch in enumerate(self.sampler):
            if i >= self.n:
                return
            yield batch

    def __len__(self) -> int:
        return self.n

    def state_dict(self) -> dict:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state)


def _measure(files: dict, semi: bool, args, out: Path) -> dict:
    config = TrainConfig(filter_widths=args.arch, channels=args.channels, batch_size=args.batch_size,
                         epochs=2, semi_supervised=semi, warmup=0, device=args.device)
    info = inspect_dataset(files["3d"], files[args.two_d])
    split = Split(train=("S1",) if semi else ("S1", "S5", "S6", "S7", "S8"),
                  unlabelled=("S5", "S6", "S7", "S8") if semi else (), test=("S9",))
    data = build_training_data(files["3d"], files[args.two_d], config.arch(17, 17), batch_size=args.batch_size,
                               split=split, semi_supervised=semi, info=info)
    run = TrainingRun(config, data, out, DistContext(), progress=False)
    full = data.labelled
    data.labelled = _FirstBatches(full, 2)  # warm-up: allocator, one-time imports
    run.train_epoch()
    data.labelled = _FirstBatches(full, args.steps)
    if run.device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    stats = run.train_epoch()
    if run.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    per_step = args.batch_size * (2 if semi else 1)
    return {"samples_s": per_step * args.steps / seconds, "ms_step": 1000 * seconds / args.steps,
            "per_step": per_step, "device": str(run.device), "loop_rate": stats.samples_per_s}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mocap", type=Path, default=REPO.parent / "shared" / "mocap")
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds of each capture to use")
    ap.add_argument("--arch", type=lambda s: tuple(int(w) for w in s.split(",")), default=(3, 3, 3))
    ap.add_argument("--channels", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--two-d", choices=("det", "gt"), default="det",
                    help="2D input: noisy COCO-17 (det) or exact H36M-17 (gt)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--sampler", action="store_true", help="also run benchmarks/sampler.py")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    bvh = sorted(args.mocap.glob("*.bvh"))
    if not bvh:
        print(f"no BVH files in {args.mocap}; pass --mocap DIR", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        files = generate_mocap_files(bvh, tmp, "bench", seed=0, max_seconds=args.seconds)
        results = {name: _measure(files, semi, args, Path(tmp) / name)
                   for name, semi in (("supervised", False), ("semi-supervised", True))}
    rf = 1
    for w in args.arch:
        rf *= w
    print(f"training loops: {rf}-frame model ({','.join(map(str, args.arch))}), {args.channels} channels, "
          f"batch {args.batch_size} labelled (+ as many unlabelled in the semi-supervised loop), "
          f"{args.steps} timed steps, {torch.get_num_threads()} torch threads, device "
          f"{results['supervised']['device']}")
    print(f"{'loop':<17} {'samples/step':>12} {'ms/step':>9} {'samples/s':>10} {'vs supervised':>14}")
    base = results["supervised"]["samples_s"]
    for name, r in results.items():
        print(f"{name:<17} {r['per_step']:>12d} {r['ms_step']:>9.0f} {r['samples_s']:>10.0f} "
              f"{r['samples_s'] / base:>13.2f}x")
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min)")
    if args.sampler:
        sys.stdout.flush()
        return subprocess.call([sys.executable, str(REPO / "benchmarks" / "sampler.py"),
                                "--mocap", str(args.mocap)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
