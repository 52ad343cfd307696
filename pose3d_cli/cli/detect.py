"""``pose3d detect``: video → 2D keypoint file (COCO-17, every person tracked over time)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pose3d_cli.cli.options import (
    add_device,
    add_fps,
    add_json,
    add_person,
    add_range,
    print_json,
)


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "detect", help="find every person's 2D keypoints in every frame of a video",
        description="Detect and track every person's COCO-17 keypoints in a video file, an image folder "
                    "or an image glob, and write the keypoint .npz that `pose3d lift` and `pose3d infer "
                    "--keypoints` read (optionally also the VideoPose3D custom .npz of the main person). "
                    "Lists each person found: id, frames present, median box height.")
    p.add_argument("video", help="video file (mp4, mov, avi, mkv, webm), image folder, or quoted glob "
                                 "like 'frames/*.png'")
    p.add_argument("--out", type=Path, default=None,
                   help="keypoint file to write (default: VIDEO with .keypoints.npz next to it)")
    p.add_argument("--detector", default="default",
                   help="backend (default: the built-in multi-person detector); see the list below")
    add_device(p)
    add_person(p)
    p.add_argument("--custom-npz", type=Path, default=None,
                   help="also write the VideoPose3D data_2d_custom .npz to this path (the main person; "
                        "frames where they are absent interpolated, as that format has no gaps)")
    add_fps(p)
    add_range(p)
    p.add_argument("--start-frame", type=int, default=None, metavar="N",
                   help="begin at frame N (0-based); what --start meant in earlier versions of detect")
    p.add_argument("--end-frame", type=int, default=None, metavar="N",
                   help="stop before frame N; what --end meant in earlier versions of detect")
    p.add_argument("--min-score", type=float, default=0.3,
                   help="joints scoring lower are interpolated over time (default 0.3)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_json(p)
    return p


def default_out(video: str) -> Path:
    """``clip.mp4`` → ``clip.keypoints.npz``; a folder or glob → ``<folder>.keypoints.npz``."""
    from pose3d_cli.io.video import is_image_glob

    text = video.rstrip("/")
    if is_image_glob(text):
        text = str(Path(text).parent)
    path = Path(text)
    if path.is_dir():
        return path.with_name(path.name + ".keypoints.npz")
    return path.with_name(path.stem + ".keypoints.npz")


def _whole(value: float | None) -> bool:
    return value is not None and float(value).is_integer()


def detect_range(args: argparse.Namespace, num_frames: int, fps: float) -> tuple[int, int]:
    """``[first, stop)`` frames from ``--start/--end`` (seconds, as in every subcommand) or
    ``--start-frame/--end-frame`` (frames). Earlier versions of detect read ``--start/--end`` as frame
    numbers: a whole-number value gets a one-line notice on stderr saying how to keep that meaning."""
    from pose3d_cli.pipeline import frame_range

    frames_given = args.start_frame is not None or args.end_frame is not None
    if not frames_given and not args.quiet and (_whole(args.start) or _whole(args.end)):
        sys.stderr.write("pose3d detect: note: --start/--end are seconds, as in every subcommand (earlier "
                         "versions of detect read them as frame numbers); for frames use --start-frame/--end-frame\n")
    return frame_range(num_frames, fps, start=args.start, end=args.end, limit=args.limit, source=args.video,
                       start_frame=args.start_frame, end_frame=args.end_frame)


def run(args: argparse.Namespace) -> int:
    from pose3d_cli.errors import InputError
    from pose3d_cli.io.atomic import check_not_inputs, check_writable
    from pose3d_cli.io.keypoint_file import save_keypoints, save_videopose3d_custom
    from pose3d_cli.io.video import probe_video
    from pose3d_cli.keypoints import detect_people
    from pose3d_cli.keypoints.cleaning import fill_every_frame
    from pose3d_cli.pipeline import check_number

    out = args.out or default_out(args.video)
    outputs = [out] + ([args.custom_npz] if args.custom_npz is not None else [])
    for path in outputs:
        check_writable(path, args.overwrite)
    check_not_inputs(outputs, [args.video])
    if len(outputs) == 2 and outputs[0].resolve() == outputs[1].resolve():
        raise InputError(f"--out and --custom-npz are the same file {out}; give two paths")
    check_number("fps", args.fps, positive=True)
    from pose3d_cli.io.keypoint_file import parse_person_spec

    parse_person_spec(args.person)
    if not 0.0 <= args.min_score <= 1.0:
        raise InputError(f"--min-score {args.min_score}: give a value in [0, 1]")
    info = probe_video(args.video, fps=args.fps)
    first, stop = detect_range(args, info.num_frames, info.fps)
    t0 = time.perf_counter()
    people = detect_people(args.video, detector=args.detector, device=args.device, progress=not args.quiet,
                           start=first, end=stop, fps=args.fps, min_score=args.min_score, info=info)
    found = people.describe()
    people = people.select(args.person)
    seconds = time.perf_counter() - t0
    save_keypoints(people, out, overwrite=args.overwrite)
    if args.custom_npz is not None:
        name = Path(args.video.rstrip("/")).name
        # The paper's format has no "absent": the main person, every frame filled.
        save_videopose3d_custom({name: fill_every_frame(people.main_track)}, args.custom_npz,
                                overwrite=args.overwrite)
    track = people.main_track
    if args.json:
        print_json({"video": args.video, "outputs": {"keypoints": str(out), **(
                        {"custom_npz": str(args.custom_npz)} if args.custom_npz else {})},
                    "frames": track.num_frames, "fps": track.fps, "people_found": len(found),
                    "people": found, "detector": track.detector, "device": args.device,
                    "seconds": {"detect": round(seconds, 3)}, "warnings": []})
    elif not args.quiet:
        print(f"{out}: {track.num_frames} frames {track.width}x{track.height} @ {track.fps:.3f} fps, "
              f"{len(found)} {'person' if len(found) == 1 else 'people'} found ({track.detector}, "
              f"{track.num_frames / seconds:.1f} frames/s)", file=sys.stderr)
        for row in found:
            mark = " (main)" if row["main"] else ""
            print(f"  person {row['id']}{mark}: present in {row['frames']} frames, median box height "
                  f"{row['median_box_height_px']:.0f} px", file=sys.stderr)
        if args.custom_npz is not None:
            print(f"{args.custom_npz}: VideoPose3D custom keypoints", file=sys.stderr)
    return 0
