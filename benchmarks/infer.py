"""``pose3d infer`` speed: seconds per stage and end-to-end frames per second on a 30-second
real clip, and the side-by-side render against a FuncAnimation-style baseline in the same run.

The clip is ``examples/walk.mp4`` (a walker cut from the Sports2D demo, 1280×480, 30 fps)
played forward and backward, looped with ffmpeg to 30 seconds. The baseline renders the way
the paper's visualisation does: the whole input video decoded into memory first, one
matplotlib figure with the image and a 3D axes, ``FuncAnimation`` updating the image, the
lines and the axis limits every frame, saved through matplotlib's ffmpeg writer; same output
size, same clip, same poses. It renders a subset of the frames (``--baseline-frames``) and
both are compared per frame.

    python benchmarks/infer.py [--seconds 30] [--baseline-frames 90] [--checkpoint NAME|PATH]

Without ``--checkpoint`` the registry default is used when installed; otherwise a randomly
initialised 243-frame model stands in (the timing of lifting depends on the architecture only).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def make_clip(seconds: float, path: Path) -> Path:
    """The example played forward then backward (no jump where it loops), repeated to ``seconds``."""
    from pose3d_cli.io.video import run_ffmpeg

    there_and_back = path.with_name("there_and_back.mp4")
    run_ffmpeg(["-i", str(REPO / "examples" / "walk.mp4"), "-an", "-filter_complex",
                "[0:v]split[a][b];[b]reverse[r];[a][r]concat=n=2:v=1:a=0[v]", "-map", "[v]",
                "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
                str(there_and_back)], timeout=600)
    run_ffmpeg(["-stream_loop", "-1", "-i", str(there_and_back), "-t", f"{seconds}", "-an",
                "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
                str(path)], timeout=600)
    return path


def stand_in_checkpoint(path: Path) -> str:
    import torch

    from pose3d_cli.lifting.checkpoint import save_checkpoint
    from pose3d_cli.lifting.model import ArchSpec, TemporalModel

    torch.manual_seed(0)
    save_checkpoint(path, TemporalModel(ArchSpec(filter_widths=(3, 3, 3, 3, 3), channels=1024)),
                    layout_in="coco17", layout_out="h36m17")
    return str(path)


def baseline_render(video: Path, kpts_px: np.ndarray, pose_world_m: np.ndarray, fps: float,
                    out: Path, frames: int, size_px: tuple[int, int]) -> float:
    """Paper-style render of the first ``frames`` frames; returns wall seconds (decode included)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FFMpegWriter, FuncAnimation

    from pose3d_cli.io.video import find_ffmpeg, iter_frames
    from pose3d_cli.skeleton import COCO17, H36M17

    # The paper's script decodes the whole video into memory before drawing. We decode it all
    # too but keep only the frames rendered (a 30 s clip would take gigabytes) and charge the
    # decoding pro rata to the frames rendered.
    t0 = time.perf_counter()
    all_frames, total = [], 0
    for frame in iter_frames(video):
        if total < frames:
            all_frames.append(frame)
        total += 1
    decode_s = (time.perf_counter() - t0) * frames / total
    t0 = time.perf_counter()
    matplotlib.rcParams["animation.ffmpeg_path"] = find_ffmpeg()
    dpi = 100
    fig = plt.figure(figsize=(size_px[0] / dpi, size_px[1] / dpi), dpi=dpi)
    ax_in = fig.add_subplot(1, 2, 1)
    ax_in.set_axis_off()
    ax_3d = fig.add_subplot(1, 2, 2, projection="3d")
    ax_3d.view_init(elev=15.0, azim=70.0)
    radius = 1.7
    image = ax_in.imshow(all_frames[0], aspect="equal")
    points = ax_in.scatter(*kpts_px[0].T, 10, color="white", edgecolors="black", zorder=10)
    colours = {"left": "black", "right": "red", "centre": "gray"}
    lines_2d = [ax_in.plot(*kpts_px[0][[a, b]].T, color=colours[COCO17.edge_side((a, b))])[0]
                for a, b in COCO17.edges]
    lines_3d = [ax_3d.plot(*pose_world_m[0][[a, b]].T, zdir="z", c=colours[H36M17.edge_side((a, b))])[0]
                for a, b in H36M17.edges]

    def update(i: int):
        p, k = pose_world_m[i], kpts_px[i]
        ax_3d.set_xlim3d([-radius / 2 + p[0, 0], radius / 2 + p[0, 0]])
        ax_3d.set_ylim3d([-radius / 2 + p[0, 1], radius / 2 + p[0, 1]])
        ax_3d.set_zlim3d([0, radius])
        image.set_data(all_frames[i])
        for line, (a, b) in zip(lines_3d, H36M17.edges):
            line.set_data(p[[a, b], 0], p[[a, b], 1])
            line.set_3d_properties(p[[a, b], 2], zdir="z")
        for line, (a, b) in zip(lines_2d, COCO17.edges):
            line.set_data(k[[a, b], 0], k[[a, b], 1])
        points.set_offsets(k)

    anim = FuncAnimation(fig, update, frames=np.arange(frames), interval=1000 / fps, repeat=False)
    anim.save(str(out), writer=FFMpegWriter(fps=fps, bitrate=3000), dpi=dpi)
    plt.close(fig)
    return decode_s + time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--baseline-frames", type=int, default=90)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    from pose3d_cli.errors import CheckpointError
    from pose3d_cli.io.pose_file import load_poses
    from pose3d_cli.io.video import VideoWriter, iter_frames, probe_video
    from pose3d_cli.pipeline import infer_video
    from pose3d_cli.render.side_by_side import (
        ENCODER_CRF,
        ENCODER_PRESET,
        prefetch,
        render_side_by_side,
    )
    from pose3d_cli.zoo import resolve_checkpoint

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        clip = make_clip(args.seconds, tmp / "clip.mp4")
        info = probe_video(clip)
        ckpt, note = args.checkpoint, args.checkpoint or "registry default"
        if ckpt is None:
            try:
                resolve_checkpoint(None, download=False, quiet=True)
            except CheckpointError:
                ckpt, note = stand_in_checkpoint(tmp / "stand_in.pt"), "random 243-frame stand-in (no built-in installed)"

        result = infer_video(clip, out_dir=tmp / "out", checkpoint=ckpt, device=args.device, quiet=True)
        n = result.frames
        print(f"clip: {info.duration_s:.1f} s, {n} frames, {info.width}x{info.height} at {info.fps:g} fps; "
              f"lifter: {note}; device: {result.device}; cpu cores: {os.cpu_count()}; "
              f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print()
        print(f"{'stage':<10}{'seconds':>10}{'frames/s':>12}")
        for stage, sec in result.seconds.items():
            per = "" if stage == "load" else f"{n / sec:12.1f}"
            print(f"{stage:<10}{sec:10.2f}{per}")
        work = sum(v for k, v in result.seconds.items() if k not in ("load", "total"))
        print(f"end-to-end: {n / result.seconds['total']:.1f} frames/s with model loading, "
              f"{n / work:.1f} frames/s without")

        # Render only, same clip and poses: ours (streaming) vs the FuncAnimation-style baseline.
        seq = load_poses(result.paths["npz"])
        out_w = probe_video(result.paths["mp4"]).width
        t0 = time.perf_counter()
        with VideoWriter(tmp / "ours.mp4", fps=info.fps, crf=ENCODER_CRF, preset=ENCODER_PRESET) as w:
            stats = render_side_by_side(prefetch(iter_frames(clip)), w, kpts_px=seq.keypoints_px,
                                        pose_world_m=seq.poses_3d_world, fps=info.fps,
                                        src_size=(info.width, info.height))
        ours_s = time.perf_counter() - t0
        k = min(args.baseline_frames, n)
        base_s = baseline_render(clip, seq.keypoints_px, seq.poses_3d_world, info.fps, tmp / "base.mp4", k,
                                 (out_w, info.height))
        base_rendered = probe_video(tmp / "base.mp4").num_frames
        ours_fps, base_fps = stats.frames / ours_s, base_rendered / base_s
        print()
        print(f"render, {out_w}x{info.height} output, decode + draw + H.264 encode")
        print(f"{'renderer':<44}{'frames':>8}{'seconds':>10}{'frames/s':>10}")
        print(f"{'pose3d (OpenCV 3D panel, streaming)':<44}{stats.frames:8d}{ours_s:10.2f}{ours_fps:10.1f}")
        print(f"{'FuncAnimation baseline (paper-style)':<44}{base_rendered:8d}{base_s:10.2f}{base_fps:10.2f}")
        print(f"speed-up: {ours_fps / base_fps:.1f}x")


if __name__ == "__main__":
    main()
