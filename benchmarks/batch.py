"""``pose3d batch`` throughput: ``--engine local --jobs N`` against ``--engine ray`` with N Ray
workers (a local Ray instance started by the batch), on the same folder of real clips, in one run.

The clips are cuts of ``examples/walk.mp4`` (``--clips`` of ``--frames`` frames each, at
different offsets), processed with MediaPipe (fast single-person detector) and the lifter
given (default: a randomly initialised 243-frame stand-in: lifting time depends on the
architecture only), written as npz without a render unless ``--render``. Each engine writes to
its own fresh output folder.

Figures per engine:

- wall: the whole batch, worker start-up included; clips/min over that.
- first clip: seconds until the first clip finished (start-up: workers loading the models;
  for Ray also starting the Ray instance).
- steady clips/min: the steady part runs from the moment every worker has finished one clip
  (all loaded and busy) to the last clip; clips finished in it per minute.
- in-worker s/clip: mean seconds ``process_clip`` took inside the worker (steady clips).
- Ray round trip per clip: the driver handing a job to a Ray worker and getting a report
  back with no work in between (median of 200), measured directly.
- overhead s/clip: per worker, wall seconds per clip in the steady part beyond the in-worker
  seconds: handing a clip to a worker and its report back. Its noise is about a clip's
  time divided by the steady clips (finishes are staggered across workers).

Ray against local is also given per clip: the difference of the two walls divided by the
clips (start-up included), and of the steady per-clip times (start-up excluded).

On a machine shared with other work the seconds per clip swing with the load from run to run
(hence the alternating order and the medians); the overhead column (measured against each
engine's own in-worker seconds) and the direct round trip are the figures that measure Ray's
cost per clip.

Both engines run with the same torch/OpenMP threads per worker (``--threads``, default 1: what
Ray gives a 1-CPU worker); ``--threads 0`` leaves each engine its default (a local worker then
uses every core, so N workers oversubscribe the machine).

    python benchmarks/batch.py [--clips 16] [--frames 30] [--jobs 2] [--order local,ray,local,ray]
                               [--render] [--threads 1] [--checkpoint NAME|PATH]

Ray advertises the machine's network address; to keep it on loopback run the benchmark in a
network namespace of its own (as root):
``unshare -n -p -f --mount-proc bash -c 'ip link set lo up; python benchmarks/batch.py'``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_clips(folder: Path, count: int, frames: int) -> list[Path]:
    """``count`` cuts of the example walker, ``frames`` frames each, starting at spread offsets."""
    from pose3d_cli.io.video import probe_video, run_ffmpeg

    src = REPO / "examples" / "walk.mp4"
    total = probe_video(src).num_frames
    clips = []
    for i in range(count):
        first = (i * 17) % max(1, total - frames)
        vf = f"select='between(n,{first},{first + frames - 1})',setpts=N/30/TB"
        dst = folder / f"clip{i:03d}.mp4"
        run_ffmpeg(["-i", str(src), "-an", "-vf", vf, "-c:v", "libx264", "-preset", "veryfast",
                    "-pix_fmt", "yuv420p", str(dst)])
        clips.append(dst)
    return clips


def stand_in_checkpoint(path: Path) -> str:
    import torch

    from pose3d_cli.lifting.checkpoint import save_checkpoint
    from pose3d_cli.lifting.model import ArchSpec, TemporalModel

    torch.manual_seed(0)
    save_checkpoint(path, TemporalModel(ArchSpec(filter_widths=(3, 3, 3, 3, 3), channels=1024)),
                    layout_in="coco17", layout_out="h36m17")
    return str(path)


def run_engine(engine: str, folder: Path, out: Path, jobs: int, kwargs: dict) -> dict:
    from pose3d_cli.batch import run_batch

    finished: list[tuple[float, float]] = []  # (seconds since start, in-worker seconds) per clip
    t0 = time.perf_counter()
    result = run_batch(folder, out_dir=out, jobs=jobs, engine=engine, quiet=True,
                       progress=lambda report: finished.append((time.perf_counter() - t0, report.seconds)),
                       **kwargs)
    wall = time.perf_counter() - t0
    if result.failed:
        raise SystemExit(f"{engine}: {result.failed} clips failed: "
                         + "; ".join(r.error for r in result.reports if r.status == "failed"))
    n = len(finished)
    if n <= jobs:
        raise SystemExit(f"--clips {n}: give more clips than --jobs {jobs} to see a steady part")
    # The steady part: from the moment every worker has finished a clip (all are loaded and
    # busy) to the last clip; the clips finished in it, per worker.
    span = finished[-1][0] - finished[jobs - 1][0]
    steady = finished[jobs:]
    per_clip = jobs * span / len(steady)
    in_worker = statistics.mean(sec for _, sec in steady)
    return {"engine": f"{engine} ({jobs} {'workers' if engine == 'ray' else 'processes'})", "clips": n,
            "wall": wall, "first": finished[0][0], "per_min": 60 * n / wall,
            "steady_per_min": 60 * len(steady) / span, "in_worker": in_worker, "steady_per_clip": per_clip,
            "overhead": per_clip - in_worker}


def ray_round_trip_ms(calls: int = 200) -> float:
    """Median milliseconds for the driver to hand a clip job to a Ray worker and get a report
    back, the work itself left out: a worker whose method returns a report at once, called
    ``calls`` times in turn with the same job and keywords a batch sends."""
    import ray

    from pose3d_cli.batch import ClipJob, ClipReport

    @ray.remote(num_cpus=1)
    class Echo:
        def process(self, job: ClipJob, kwargs: dict) -> ClipReport:
            return ClipReport(job.display, "done", frames=30, seconds=0.0, outputs=(str(job.marker),))

    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level="warning")
    try:
        worker = Echo.remote()
        job = ClipJob(Path("/data/clips/clip000.mp4"), Path("/data/out"), "clip000", "clip000.mp4")
        kwargs = {"export": ("npz",), "render": False, "size": None, "flip": True, "person": "all"}
        ray.get(worker.process.remote(job, kwargs))  # started and warm
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            ray.get(worker.process.remote(job, kwargs))
            times.append(time.perf_counter() - t0)
        return 1000 * statistics.median(times)
    finally:
        ray.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--order", default="local,ray,local,ray",
                    help="engines in the order run (alternating them spreads a busy machine's noise over "
                         "both); figures are the medians per engine")
    ap.add_argument("--render", action="store_true", help="also render each clip (default: npz only)")
    ap.add_argument("--size", default="320", help="render height with --render (default 320)")
    ap.add_argument("--detector", default="mediapipe")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch/OpenMP threads per worker, the same for both engines (default 1: Ray's "
                         "own default for a 1-CPU worker); 0 leaves each engine's default")
    args = ap.parse_args()
    if args.threads > 0:  # before torch is imported here or in any worker (they inherit it)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)

    try:
        import ray  # noqa: F401
    except ImportError:
        raise SystemExit('Ray is not installed: pip install "pose3d-cli[ray]"') from None

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        folder = tmp / "clips"
        folder.mkdir()
        make_clips(folder, args.clips, args.frames)
        ckpt = args.checkpoint or stand_in_checkpoint(tmp / "stand_in.pt")
        kwargs = {"detector": args.detector, "checkpoint": ckpt, "device": "cpu", "render": args.render,
                  "export": ("npz",), "size": args.size if args.render else None}
        print(f"{args.clips} clips of {args.frames} frames (1280x480, 30 fps), detector {args.detector}, "
              f"lifter {args.checkpoint or 'random 243-frame stand-in'}, "
              f"{'render at ' + args.size + ' px + npz' if args.render else 'npz only, no render'}; "
              f"threads per worker: {args.threads or 'engine default'}; "
              f"cpu cores: {os.cpu_count()}; load average before: "
              f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        order = [e.strip() for e in args.order.split(",") if e.strip()]
        if set(order) != {"local", "ray"}:
            raise SystemExit(f"--order {args.order}: name both local and ray")
        runs = [run_engine(engine, folder, tmp / f"out_{i}_{engine}", args.jobs, kwargs)
                for i, engine in enumerate(order)]
    rows = []
    for engine in ("local", "ray"):
        mine = [r for r in runs if r["engine"].startswith(engine)]
        rows.append({k: (statistics.median(r[k] for r in mine) if isinstance(v, float) else v)
                     for k, v in mine[0].items()} | {"runs": len(mine)})

    head = f"{'engine':<22}{'wall s':>8}{'clips/min':>11}{'first clip s':>14}{'steady clips/min':>18}" \
           f"{'in-worker s/clip':>18}{'overhead s/clip':>17}"

    def line(name: str, r: dict) -> str:
        return (f"{name:<22}{r['wall']:8.1f}{r['per_min']:11.1f}{r['first']:14.1f}{r['steady_per_min']:18.1f}"
                f"{r['in_worker']:18.2f}{r['overhead']:17.2f}")

    print()
    print("each run, in order")
    print(head)
    for i, r in enumerate(runs):
        print(line(f"{i + 1}. {r['engine']}", r))
    print()
    print("median per engine")
    print(head)
    for r in rows:
        print(line(f"{r['engine']} x{r['runs']}", r))
    local, ray_row = rows
    print()
    print(f"Ray against local, per clip: {(ray_row['wall'] - local['wall']) / local['clips']:+.2f} s with start-up "
          f"({ray_row['first'] - local['first']:+.1f} s more to the first clip), "
          f"{ray_row['steady_per_clip'] - local['steady_per_clip']:+.2f} s per clip per worker in the steady part")
    print(f"Ray round trip per clip (hand a job to a worker, get its report; no work): "
          f"{ray_round_trip_ms():.2f} ms median of 200")
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
