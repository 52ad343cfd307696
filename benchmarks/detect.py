"""Detectors: recall on hand-labelled people, speed, and streaming memory.

Prints, in one run:

1. **Recall** on ``vtest.avi`` (768×576 street scene, 10 fps): 81 people boxed by hand on 13
   frames (``benchmarks/data/vtest_people.json``; 35 of them taller than 80 px). For each labelled
   frame f the detector (reset first) runs over frames f−8 … f, as it would inside a clip (the
   default backend follows people between its MoveNet passes), and its boxes on frame f are
   matched one-to-one to the labels (Hungarian on IoU; a match needs IoU ≥ 0.3 or the
   detection's centre inside the label box). Recall = matched / labelled, for people taller than
   80 px and for all; "extra" counts detections matched to no label. Also the default detector
   *after tracking*: ``detect_people`` over frames 0–750 and the tracks' boxes on the labelled
   frames.
2. **Speed** in frames per second of each backend and mode (detector only, frames already
   decoded; median and range over ``--repeat`` runs) on three clips made here with ffmpeg:
   ``vtest`` at 768×576 (3–8 people), ``vtest`` upscaled to 1280×720 (3–8 people) and the
   Sports2D demo scaled to 1280×720 (two people: the "up to 3 people" case); plus
   ``detect_people`` end to end (decode + detection + appearance + tracking) for the default.
3. With ``--memory``: peak resident memory of a fresh process streaming a 1- and a 10-minute
   clip (decode only, and ``detect_video`` on the 1-minute clip).

torchvision's COCO weights cannot be fetched everywhere; when they are not in the cache the
model runs with random weights (speed only, capped at 3 people a frame; its recall is then
meaningless and not shown). The machine may be shared: run with ``nice`` and read the ranges.

    nice python benchmarks/detect.py [--repeat 3] [--frames 40] [--quick] [--memory]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pose3d_cli.io.video import iter_frames, probe_video, run_ffmpeg

SHARED = Path(os.environ.get("POSE3D_SHARED", REPO.parent / "shared"))
SOURCE = SHARED / "media" / "sports2d_demo.mp4"
LABELS = REPO / "benchmarks" / "data" / "vtest_people.json"


def make_clip(out: Path, size: str, seconds: float) -> Path:
    """Loop the sports2d clip to ``seconds`` at ``size`` (H.264, 30 fps)."""
    if not out.exists():
        run_ffmpeg(["-stream_loop", "-1", "-i", str(SOURCE), "-t", f"{seconds}", "-an", "-vf", f"scale={size}",
                    "-r", "30", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out)],
                   timeout=1800)
    return out


def decode_fps(path: Path, limit: int) -> float:
    t0 = time.perf_counter()
    n = 0
    for _ in iter_frames(path, 0, limit):
        n += 1
    return n / (time.perf_counter() - t0)


def build(spec: str):
    """A detector from ``name[,key=value...]`` (or a note why it cannot be built here)."""
    from pose3d_cli.errors import Pose3DError
    from pose3d_cli.keypoints import get_detector

    name, *opts = spec.split(",")
    options = {k: (float(v) if "." in v else int(v)) for k, v in (o.split("=") for o in opts)}
    note = ""
    if name == "torchvision":
        from pose3d_cli.keypoints.torchvision_backend import detector_cache_dir

        if not any(detector_cache_dir().glob("keypointrcnn_resnet50_fpn_coco-*.pth")):
            options.update(weights="random", min_box_score=0.0, max_people=3)
            note = "random weights, 3 people/frame"
    try:
        return get_detector(name, "cpu", **options), note
    except Pose3DError as exc:
        return None, str(exc)[:80]


def match(boxes: np.ndarray, people: list[dict]) -> np.ndarray:
    """``(G,) bool``: which labelled people a detection matches (one-to-one, see the docstring)."""
    from scipy.optimize import linear_sum_assignment

    from pose3d_cli.keypoints.tracking import box_iou_matrix

    hit = np.zeros(len(people), bool)
    if len(boxes) == 0 or not people:
        return hit
    gt = np.array([p["box_xyxy"] for p in people], float)
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    iou = box_iou_matrix(gt, boxes)
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    inside = (gt[:, None, 0] <= cx) & (cx <= gt[:, None, 2]) & (gt[:, None, 1] <= cy) & (cy <= gt[:, None, 3])
    ok = (iou >= 0.3) | inside
    rows, cols = linear_sum_assignment(np.where(ok, 1.0 - iou, 10.0))
    for r, c in zip(rows, cols):
        hit[r] |= bool(ok[r, c])
    return hit


class Recall:
    def __init__(self) -> None:
        self.hit80 = self.n80 = self.hit = self.n = self.extra = 0

    def add(self, boxes: np.ndarray, people: list[dict]) -> None:
        hit = match(boxes, people)
        tall = np.array([p["height_px"] > 80 for p in people], bool)
        self.hit += int(hit.sum())
        self.n += len(people)
        self.hit80 += int(hit[tall].sum())
        self.n80 += int(tall.sum())
        self.extra += len(boxes) - int(hit.sum())

    def row(self) -> str:
        return (f"{self.hit80}/{self.n80} ({100 * self.hit80 / max(self.n80, 1):.0f} %) | "
                f"{self.hit}/{self.n} ({100 * self.hit / max(self.n, 1):.0f} %) | {self.extra}")


def recall_of(spec: str, frames: dict[int, np.ndarray], labels: dict[int, list], warm: int) -> str:
    det, note = build(spec)
    if det is None:
        return f"n/a | n/a | n/a | {note}"
    if note:
        det.close()
        return f"n/a | n/a | n/a | {note}: recall meaningless"
    rec = Recall()
    try:
        for f, people in sorted(labels.items()):
            if hasattr(det, "reset"):
                det.reset()
            for i in range(max(0, f - warm), f + 1):
                (dets,) = det.detect([frames[i]])
            rec.add(np.array([d.box_xyxy for d in dets]).reshape(-1, 4), people)
    finally:
        det.close()
    return rec.row() + " |"


def tracked_recall(video: Path, labels: dict[int, list]) -> tuple[str, float]:
    from pose3d_cli.keypoints import detect_people

    last = max(labels) + 1
    t0 = time.perf_counter()
    people = detect_people(video, end=last, progress=False)
    seconds = time.perf_counter() - t0
    rec = Recall()
    for f, gt in sorted(labels.items()):
        boxes = np.stack([tr.boxes[f] for tr in people.tracks if np.isfinite(tr.boxes[f]).all()] or [np.zeros(4)])
        boxes = boxes[np.isfinite(boxes).all(1) & (boxes[:, 2] > boxes[:, 0])]
        rec.add(boxes, gt)
    return rec.row() + f" {people.num_people} people tracked |", last / seconds


def speed(spec: str, frames: list[np.ndarray], repeat: int) -> tuple[list[float], list[float], str]:
    """Frames per second (wall clock) and CPU milliseconds per frame (this process, all threads)
    of ``repeat`` passes over ``frames`` (after a warm-up frame)."""
    det, note = build(spec)
    if det is None:
        return [], [], note
    rates, cpu_ms = [], []
    try:
        for _ in range(repeat):
            if hasattr(det, "reset"):
                det.reset()
            det.detect(frames[:1])
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(0, len(frames), det.batch_size):
                det.detect(frames[i:i + det.batch_size])
            rates.append(len(frames) / (time.perf_counter() - t0))
            cpu_ms.append(1000 * (time.process_time() - c0) / len(frames))
    finally:
        det.close()
    return rates, cpu_ms, note


def fmt_rates(rates: list[float]) -> str:
    if not rates:
        return "n/a"
    return f"{np.median(rates):.1f} ({min(rates):.1f}–{max(rates):.1f})"


def child_main(mode: str, path: str) -> None:
    """Run inside a fresh process so that its peak RSS is this job's alone."""
    t0 = time.perf_counter()
    if mode == "decode":
        n = sum(1 for _ in iter_frames(path))
    else:
        from pose3d_cli.keypoints import detect_video

        n = detect_video(path, detector=mode, progress=False, min_presence=0, min_frames=0).num_frames
    seconds = time.perf_counter() - t0
    # VmHWM: this process's own peak RSS. (getrusage's ru_maxrss would also count the parent's
    # size at fork time: Linux carries it across exec.)
    hwm_kib = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                   if line.startswith("VmHWM:"))
    print(f"{n} {seconds:.2f} {hwm_kib}")


def peak_rss(mode: str, path: Path) -> tuple[int, float, float]:
    """(frames, seconds, peak RSS in MiB) of ``child_main(mode, path)`` in a new process."""
    proc = subprocess.run([sys.executable, __file__, "--child", mode, str(path)], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child {mode} {path} failed with exit {proc.returncode}")
    frames, seconds, hwm_kib = proc.stdout.split()[-3:]
    return int(frames), float(seconds), int(hwm_kib) / 1024.0


def speed_clips(work: Path, frames: int) -> dict[str, Path]:
    vtest = SHARED / "media" / "vtest.avi"
    clips = {"vtest 768x576": (vtest, "scale=768:576", 0),
             "vtest 1280x720": (vtest, "scale=1280:720:flags=bicubic", 0),
             "sports2d 1280x720 (2 people)": (SOURCE, "scale=1280:720", 60)}
    out = {}
    for label, (src, vf, first) in clips.items():
        path = work / (label.split(" (")[0].replace(" ", "_") + f"_{frames}f.mp4")
        if not path.exists():
            run_ffmpeg(["-i", str(src), "-an", "-vf", f"select=gte(n\\,{first}),{vf}", "-frames:v", str(frames),
                        "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", str(path)])
        out[label] = path
    return out


SPECS = ["movenet-blazepose", "movenet-blazepose,redetect_every=1", "movenet-blazepose,redetect_every=8", "movenet",
         "movenet,input_size=384", "movenet-fast", "mediapipe", "torchvision", "detectron2"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=40, help="frames per speed clip")
    ap.add_argument("--repeat", type=int, default=3, help="speed passes per backend and clip (ranges shown)")
    ap.add_argument("--tv-frames", type=int, default=3, help="frames per torchvision speed pass")
    ap.add_argument("--warm", type=int, default=8, help="frames run before each labelled frame")
    ap.add_argument("--only", nargs="*", default=None, help="backend specs to run (default: all)")
    ap.add_argument("--quick", action="store_true", help="skip the tracked recall over 751 frames")
    ap.add_argument("--speed-only", action="store_true", help="skip the recall table")
    ap.add_argument("--memory", action="store_true", help="also the streaming memory table (1/10-minute clips)")
    ap.add_argument("--long-detect", action="store_true", help="with --memory: detection on the 10-minute clip")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the generated clips here")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_main(*args.child)
        return
    vtest = SHARED / "media" / "vtest.avi"
    if not SOURCE.is_file() or not vtest.is_file():
        raise SystemExit(f"{SOURCE} or {vtest} not found; set POSE3D_SHARED to the folder holding media/")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pose3d_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    specs = args.only or SPECS
    print(f"# pose3d detect benchmark — {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")

    if not args.speed_only:
        recall_tables(vtest, specs, args.warm, args.quick)
    speed_tables(work, specs, args)
    if args.memory:
        memory_table(work, args.long_detect)


def recall_tables(vtest: Path, specs: list[str], warm: int, quick: bool) -> None:
    labels_doc = json.loads(LABELS.read_text())
    labels = {f["frame"]: f["people"] for f in labels_doc["frames"]}
    n80 = sum(p["height_px"] > 80 for v in labels.values() for p in v)
    print(f"\n## Recall on vtest.avi: {sum(map(len, labels.values()))} labelled people on {len(labels)} frames "
          f"({n80} taller than 80 px), {warm} frames run before each\n")
    need = {i for f in labels for i in range(max(0, f - warm), f + 1)}
    frames = {i: fr for i, fr in enumerate(iter_frames(vtest, 0, max(need) + 1)) if i in need}
    print("| backend, mode | found > 80 px | found, all sizes | extra | note |\n|---|---|---|---|---|")
    for spec in specs:
        print(f"| {spec} | {recall_of(spec, frames, labels, warm)}", flush=True)
    if not quick:
        row, rate = tracked_recall(vtest, labels)
        print(f"| detect_people (default, tracked, frames 0–{max(labels)}) | {row} {rate:.1f} frames/s end to end |",
              flush=True)


def speed_tables(work: Path, specs: list[str], args: argparse.Namespace) -> None:
    print(f"\n## Speed, frames/s: median (min–max) of {args.repeat} passes over {args.frames} frames, "
          "detector only\n")
    clips = speed_clips(work, args.frames)
    decoded = {label: list(iter_frames(path)) for label, path in clips.items()}
    for label, frames in decoded.items():
        if len(frames) != args.frames:
            raise SystemExit(f"{clips[label]}: {len(frames)} frames where {args.frames} were asked for")
    print("| backend, mode | " + " | ".join(clips) + " | note |\n|---|" + "---|" * (len(clips) + 1))
    print("| decode only (PyAV → RGB), the ceiling | "
          + " | ".join(fmt_rates([decode_fps(p, args.frames) for _ in range(args.repeat)]) for p in clips.values())
          + " | |", flush=True)
    cpu_rows = []
    for spec in specs:
        cells, cpu_cells, notes = [], [], set()
        for label in clips:
            use = decoded[label][: args.tv_frames] if spec.startswith(("torchvision", "detectron2")) else decoded[label]
            rates, cpu_ms, note = speed(spec, use, 1 if spec.startswith(("torchvision", "detectron2")) else args.repeat)
            cells.append(fmt_rates(rates))
            cpu_cells.append(f"{np.median(cpu_ms):.0f}" if cpu_ms else "n/a")
            if note:
                notes.add(note)
        print(f"| {spec} | " + " | ".join(cells) + f" | {'; '.join(sorted(notes))} |", flush=True)
        cpu_rows.append(f"| {spec} | " + " | ".join(cpu_cells) + " |")
    from pose3d_cli.keypoints import DEFAULT_DETECTOR, detect_people, get_detector

    cells = []
    det = get_detector(DEFAULT_DETECTOR)  # loaded once, as `pose3d batch` does; reset per clip
    try:
        for path in clips.values():
            rates = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                people = detect_people(path, detector=det, progress=False, min_presence=0, min_frames=0)
                rates.append(people.num_frames / (time.perf_counter() - t0))
            cells.append(fmt_rates(rates))
    finally:
        det.close()
    print("| detect_people end to end (decode + default detector + tracking) | " + " | ".join(cells) + " | |")
    print("\n## CPU time per frame, ms (this process, all threads; median of the passes above). Time slices "
          "taken by other processes do not count here, but contention (shared caches and cores) still inflates "
          "it: on a busy machine both tables are pessimistic.\n")
    print("| backend, mode | " + " | ".join(clips) + " |\n|---|" + "---|" * len(clips))
    print("\n".join(cpu_rows))
    print(f"\nload average at end of the tables: {os.getloadavg()[0]:.2f}")


def memory_table(work: Path, long_detect: bool) -> None:
    one = make_clip(work / "one_minute.mp4", "640:360", 60)
    ten = make_clip(work / "ten_minutes.mp4", "640:360", 600)
    jobs = [("1 min", one, "decode"), ("10 min", ten, "decode"), ("1 min", one, "movenet-blazepose")]
    if long_detect:
        jobs.append(("10 min", ten, "movenet-blazepose"))
    print("\n| clip | job | frames | seconds | frames/s | peak RSS (MiB) |\n|---|---|---|---|---|---|")
    results = []
    for label, path, mode in jobs:
        frames, seconds, rss = peak_rss(mode, path)
        results.append((label, mode, rss))
        print(f"| {label} ({probe_video(path).num_frames} frames) | {mode} | {frames} | {seconds:.1f} | "
              f"{frames / seconds:.1f} | {rss:.0f} |", flush=True)
    d1 = next(r[2] for r in results if r[:2] == ("1 min", "decode"))
    d10 = next(r[2] for r in results if r[:2] == ("10 min", "decode"))
    print(f"\npeak RSS, 10-minute ÷ 1-minute decode: {d10 / d1:.3f} (flat ≈ 1)")
    if long_detect:
        m1 = next(r[2] for r in results if r[:2] == ("1 min", "movenet-blazepose"))
        m10 = next(r[2] for r in results if r[:2] == ("10 min", "movenet-blazepose"))
        print(f"peak RSS, 10-minute ÷ 1-minute detection: {m10 / m1:.3f}")
    print(f"clips in {work}")


if __name__ == "__main__":
    main()
