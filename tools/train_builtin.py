"""Train the built-in lifter (and its trajectory model) from real motion capture, in one command.

    python tools/train_builtin.py --cache mocap-cache --out runs/builtin
    python tools/train_builtin.py --cache ... --out runs/loso-cmu --holdout cmu   # one LOSO fold

Fetches and verifies every source (``tools/mocap_data.py``; sha256 of every archive and of
every file read), trains on every source whose licence allows shipping the weights except
``--holdout`` (evaluation-only sources are never trained on), and writes ``final.pt`` (weights
plus ``meta``: settings, sources, hashes, the command) and ``log.json`` into ``--out``. Fixed
seed: the same command gives the same weights on the same machine and library versions. Run it
with one thread (``OMP_NUM_THREADS=1``) on a shared CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mocap_data import load_clips, prepare  # noqa: E402

from pose3d_cli.training.sources import SOURCES  # noqa: E402


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="download/clip cache (outside the repo)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--holdout", default="", help="comma-separated sources left out of training")
    ap.add_argument("--arch", default="3,3,3", help="filter widths (3,3,3 = 27 frames)")
    ap.add_argument("--channels", type=int, default=256)
    ap.add_argument("--traj-channels", type=int, default=128, help="0: no trajectory model")
    ap.add_argument("--dropout", type=float, default=0.15)
    ap.add_argument("--causal", action="store_true")
    ap.add_argument("--outputs", type=int, default=32, help="target frames per window")
    ap.add_argument("--batch-size", type=int, default=64, help="windows per step")
    ap.add_argument("--batches-per-epoch", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--lr-decay", type=float, default=0.95)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--resume", action="store_true", help="continue OUT/last.pt")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from pose3d_cli.training.augment import view_sequences
    from pose3d_cli.training.online import OnlineConfig, train_online

    holdout = [s for s in args.holdout.split(",") if s]
    unknown = [s for s in holdout if s not in SOURCES]
    if unknown:
        raise SystemExit(f"--holdout: unknown source(s) {', '.join(unknown)}; known: {', '.join(SOURCES)}")
    manifest = prepare(args.cache, list(SOURCES))
    train_sources = [s for s, spec in SOURCES.items() if spec.trainable and s not in holdout]
    test_sources = [s for s in SOURCES if s not in train_sources]
    clips = [c for s in train_sources for c in load_clips(args.cache / "clips" / f"{s}.npz")]
    held = [c for s in test_sources for c in load_clips(args.cache / "clips" / f"{s}.npz")]
    validation = view_sequences(held, seed=1234, views_per_segment=1) if held else []
    config = OnlineConfig(filter_widths=tuple(int(w) for w in args.arch.split(",")), channels=args.channels,
                          dropout=args.dropout, causal=args.causal, traj_channels=args.traj_channels,
                          outputs=args.outputs, batch_size=args.batch_size,
                          batches_per_epoch=args.batches_per_epoch, epochs=args.epochs, lr=args.lr,
                          lr_decay=args.lr_decay, seed=args.seed)
    command = "OMP_NUM_THREADS=1 python tools/train_builtin.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    meta = {
        "trained_by": "tools/train_builtin.py",
        "command": command,
        "train_sources": train_sources,
        "holdout_sources": holdout,
        "sources": {s: manifest["sources"][s] for s in SOURCES},
        "train_frames_50hz": int(sum(c.num_frames for c in clips)),
        "torch": str(torch.__version__),
    }
    print(f"training on {', '.join(train_sources)} ({meta['train_frames_50hz']} frames at 50 Hz); "
          f"monitoring {', '.join(test_sources)} ({len(validation)} views)", flush=True)
    result = train_online(config, clips, args.out, validation=validation, meta=meta, resume=args.resume,
                          progress=True)
    print(json.dumps({"checkpoint": str(result.checkpoint), "seconds": round(result.seconds)}))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
