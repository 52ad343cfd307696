"""``infer_video``: video → 2D keypoints of every person → 3D poses → files → render.

This module is only the flow: each stage owns its maths (detection and tracking in
:mod:`pose3d_cli.keypoints`, cleaning/resampling/lifting/world frame in
:mod:`pose3d_cli.lifting.sequence`, formats in :mod:`pose3d_cli.io`, drawing in
:mod:`pose3d_cli.render`). ``pose3d infer`` and ``pose3d batch`` are thin layers over it, and
Python users call it directly::

    from pose3d_cli.pipeline import infer_video
    result = infer_video("clip.mp4", export=("npz", "bvh"))
    result.poses.people_poses_3d_world     # (P, T, 17, 3) metres, NaN where a person is absent
    print(result.summary())

``write=False`` runs everything but writes nothing (and does not render): the poses come back
in :attr:`InferResult.poses`.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pose3d_cli.errors import CheckpointError, InputError, OutputExistsError
from pose3d_cli.io.atomic import check_not_inputs, check_writable
from pose3d_cli.io.exports import EXPORT_SUFFIXES, parse_exports
from pose3d_cli.io.keypoint_file import PeopleTracks, parse_person_spec
from pose3d_cli.io.pose_file import PoseSequence
from pose3d_cli.io.video import VideoInfo, is_image_glob
from pose3d_cli.render.side_by_side import DEFAULT_AZIMUTH_DEG, parse_size

if TYPE_CHECKING:
    import torch

    from pose3d_cli.keypoints.base import Detector
    from pose3d_cli.lifting.checkpoint import LoadedCheckpoint

log = logging.getLogger(__name__)

#: Suffixes of the outputs, after the clip's stem: ``clip.pose3d.mp4``, ``clip.pose3d.npz``, …
OUTPUT_TAG = ".pose3d"
_KNOWN_SUFFIXES = (".mp4",) + tuple(EXPORT_SUFFIXES.values())


# --------------------------------------------------------------------------------------------
# Models, loaded once


@dataclass
class Models:
    """The detector and the lifter, loaded once and reused across clips (``pose3d batch``).

    Attributes:
        detector: a built detector backend (:class:`~pose3d_cli.keypoints.base.Detector`), or
            None when keypoints come from a file.
        checkpoint: the loaded lifter.
        checkpoint_name: registry name or path, as recorded in the pose file.
        licence: the lifter's licence as the registry states it ('' when unknown).
        device: the torch device both run on.
    """

    detector: Detector | None
    checkpoint: LoadedCheckpoint
    checkpoint_name: str
    device: torch.device
    licence: str = ""

    @classmethod
    def load(cls, *, detector: str = "default", checkpoint: str | os.PathLike | None = None,
             device: str = "auto", causal: bool = False, quiet: bool = False,
             need_detector: bool = True) -> Models:
        """Resolve the device once, load the lifter (registry name, path, or the default) and,
        when ``need_detector``, build the detector backend."""
        from pose3d_cli.device import select_device
        from pose3d_cli.zoo import lifter_licence, load_lifter

        dev = select_device(device)
        # The registry states the layouts of published files, which do not record them.
        ck, name = load_lifter(checkpoint, causal=True if causal else None, quiet=quiet)
        if causal and not ck.arch.causal:
            raise CheckpointError(f"{ck.path}: causal=True needs a causally trained checkpoint and {name} "
                                  "is symmetric; drop --causal or pass --checkpoint with a causal model")
        ck.model_pos.to(dev)
        det = None
        if need_detector:
            from pose3d_cli.keypoints import get_detector

            det = get_detector(detector, device=str(dev))
        return cls(detector=det, checkpoint=ck, checkpoint_name=name, device=dev, licence=lifter_licence(name))

    def close(self) -> None:
        if self.detector is not None:
            self.detector.close()


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class InferResult:
    """What :func:`infer_video` did.

    Attributes:
        video: the input.
        paths: output kind (``"mp4"``, ``"npz"``, ``"json"``, …) → file written (a list for a
            per-person format that wrote one file per person).
        frames: frames processed.
        fps: frame rate of the clip (and of the outputs).
        people: people lifted (after ``person`` selection).
        people_found: people the tracker found in the clip.
        frames_filled: frames of the main person whose keypoints were interpolated.
        resampled: the keypoints were resampled to 50 fps for lifting.
        seconds: stage name → wall seconds (``load``, ``detect``, ``lift``, ``export``, ``render``, ``total``).
        checkpoint: registry name or path of the lifter; licence: its licence.
        device: where the lifter ran.
        poses: the lifted poses of every person.
        warnings: things the user should know (e.g. a non-commercial licence).
        moving: the lifter has a trajectory model, so people move through the world (else each
            stays on the spot).
        foot_sliding_m_s: the main person's mean foot sliding (a foot's horizontal speed while it
            is the lower one, near the ground); None when it cannot be measured.
    """

    video: Path
    paths: dict[str, Path | list[Path]]
    frames: int
    fps: float
    people: int
    people_found: int
    frames_filled: int
    resampled: bool
    poses: PoseSequence | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    checkpoint: str = ""
    licence: str = ""
    device: str = "cpu"
    warnings: tuple[str, ...] = ()
    moving: bool = False
    foot_sliding_m_s: float | None = None

    def summary(self) -> str:
        """One line: frames, people, model, filled frames, seconds per stage, files written."""
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        files = ", ".join(str(p) for p in self.files) or "nothing"
        found = f"{self.people_found} {'person' if self.people_found == 1 else 'people'} found"
        lifted = "" if self.people == self.people_found else f", {self.people} lifted"
        model = self.checkpoint + (f" ({self.licence})" if _non_commercial(self.licence) else "")
        motion = ("root trajectory on" if self.moving else "no trajectory model: on the spot")
        if self.foot_sliding_m_s is not None:
            motion += f", foot sliding {self.foot_sliding_m_s:.2f} m/s"
        return (f"{self.video.name}: {self.frames} frames at {self.fps:g} fps, {found}{lifted}, "
                f"{self.frames_filled} frames filled; lifter {model} ({motion}); {stages}; wrote {files}")

    @property
    def files(self) -> list[Path]:
        """Every file written, in output order."""
        return [f for v in self.paths.values() for f in (v if isinstance(v, list) else [v])]

    def to_dict(self) -> dict:
        """A JSON-ready record of the run (what ``--json`` prints)."""
        outputs = {k: [str(f) for f in v] if isinstance(v, list) else str(v) for k, v in self.paths.items()}
        return {"video": str(self.video), "outputs": outputs,
                "frames": self.frames, "fps": self.fps, "people": self.people,
                "people_found": self.people_found, "frames_filled": self.frames_filled,
                "resampled": self.resampled, "model": self.checkpoint, "licence": self.licence,
                "device": self.device, "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
                "warnings": list(self.warnings), "trajectory": self.moving,
                "foot_sliding_m_s": self.foot_sliding_m_s}


def _non_commercial(licence: str) -> bool:
    text = licence.upper().replace(" ", "")
    return "NC" in text.split("-") or "NON-COMMERCIAL" in licence.upper() or "BY-NC" in text


# --------------------------------------------------------------------------------------------
# Pieces (public: tests and the batch command use them)


def output_paths(video: str | os.PathLike, *, out: str | os.PathLike | None = None,
                 out_dir: str | os.PathLike | None = None, export: Sequence[str] = ("npz",),
                 render: bool = True, stem: str | None = None) -> dict[str, Path]:
    """Where each output goes.

    Default: beside the input, named ``<stem>.pose3d.<ext>`` (an image folder or glob is named
    after its folder). ``out_dir``: in that folder instead. ``out``: the render goes exactly
    there (``--out render.mp4``) and the other files beside it with the same stem
    (``render.npz``); a relative ``out`` with ``out_dir`` lands in ``out_dir``. ``stem``
    overrides the name (``pose3d batch`` uses it when two clips share a stem).

    Raises :class:`InputError` for an ``out`` whose suffix is neither ``.mp4`` nor an export
    format's (it would silently gain another suffix).
    """
    video = Path(video)
    kinds = (["mp4"] if render else []) + list(parse_exports(export))
    if out is not None:
        out = Path(out)
        if out_dir is not None and not out.is_absolute():
            out = Path(out_dir) / out
        name = out.name.lower()
        suffix = next((s for s in sorted(_KNOWN_SUFFIXES, key=len, reverse=True) if name.endswith(s)), "")
        if out.suffix and not suffix:
            raise InputError(f"--out {out}: unknown suffix {out.suffix!r}; give the render's path ending in "
                             ".mp4 (the other outputs go beside it with their own suffixes)")
        base = out.with_name(out.name[:len(out.name) - len(suffix)])
        return {k: (out if (k == "mp4" and suffix == ".mp4") else
                    base.with_name(base.name + (".mp4" if k == "mp4" else EXPORT_SUFFIXES[k]))) for k in kinds}
    if stem is None:
        stem = video.stem
        if is_image_glob(str(video)):  # an image glob such as frames/*.png
            video = video.parent
            stem = video.name or "frames"
        elif video.is_dir():  # an image folder: name the outputs after it, beside it
            video = Path(os.path.abspath(video))
            stem = video.name
    folder = Path(out_dir) if out_dir is not None else video.parent
    return {k: folder / f"{stem}{OUTPUT_TAG}{'.mp4' if k == 'mp4' else EXPORT_SUFFIXES[k]}" for k in kinds}


def check_number(name: str, value: float | None, *, positive: bool = False, minimum: float | None = None) -> None:
    """Refuse NaN and infinities (and non-positive / below-minimum values) for a numeric option."""
    if value is None:
        return
    if not math.isfinite(value):
        raise InputError(f"--{name} {value}: give a finite number")
    if positive and not value > 0:
        raise InputError(f"--{name} {value}: give a positive number")
    if minimum is not None and value < minimum:
        raise InputError(f"--{name} {value}: give a number of at least {minimum:g}")


def frame_range(num_frames: int, fps: float, *, start: float | None = None, end: float | None = None,
                limit: int | None = None, source: str = "", start_frame: int | None = None,
                end_frame: int | None = None) -> tuple[int, int]:
    """``[first, stop)`` frame indices for ``start``/``end`` in seconds (or ``start_frame``/
    ``end_frame`` in frames, end excluded) or a ``limit`` of frames (counted from the start).
    Raises :class:`InputError` for an empty or out-of-clip range."""
    frames = start_frame is not None or end_frame is not None
    if frames and (start is not None or end is not None):
        raise InputError("give --start/--end (seconds) or --start-frame/--end-frame (frames), not both")
    unit = "-frame" if frames else ""
    check_number("start", start, minimum=0.0)
    check_number("end", end)
    if start_frame is not None and start_frame < 0:
        raise InputError(f"--start-frame {start_frame}: give a frame number >= 0")
    first = (start_frame or 0) if frames else round((start or 0.0) * fps)
    given_end = end_frame if frames else (None if end is None else round(end * fps))
    stop = num_frames
    if given_end is not None:
        if limit is not None:
            raise InputError(f"give either --end{unit} or --limit, not both")
        stop = min(num_frames, given_end)
    if limit is not None:
        if limit < 1:
            raise InputError(f"--limit {limit}: give a positive number of frames")
        stop = min(num_frames, first + int(limit))
    shown_start, shown_end = (start_frame, end_frame) if frames else (start, end)
    if first >= num_frames:
        raise InputError(f"{source}: --start{unit} {shown_start}{'' if frames else ' s'} is past the end of the "
                         f"clip ({num_frames} frames, {num_frames / fps:.2f} s)")
    if stop <= first:
        raise InputError(f"{source}: the range --start{unit} {shown_start} --end{unit} {shown_end} holds no "
                         f"frames; give an --end{unit} after --start{unit}")
    return first, stop


def load_people(keypoints: str | os.PathLike, *, info: VideoInfo | None = None, fps: float | None = None,
                frame_size: tuple[int, int] | None = None, video_name: str | None = None) -> PeopleTracks:
    """Read a keypoint file once, as every person it holds (JSON formats take the frame size
    from ``info`` or ``frame_size``; ``fps`` overrides the file's rate)."""
    from pose3d_cli.keypoints.formats import load_any_people

    if info is not None:
        frame_size = frame_size or (info.width, info.height)
        fps = fps if fps is not None else info.fps
    people = load_any_people(keypoints, video=video_name, frame_size=frame_size, fps=fps)
    if info is not None and (people.width, people.height) != (info.width, info.height):
        raise InputError(f"{keypoints}: keypoints are for a {people.width}x{people.height} frame but the "
                         f"video is {info.width}x{info.height}; give the keypoints of this video")
    return people


def slice_people(people: PeopleTracks, first: int, stop: int, total: int, source: str) -> PeopleTracks:
    """Frames ``first:stop`` of keypoints that cover the whole clip (``total`` frames), or the
    keypoints as they are when they cover exactly that range."""
    n = people.num_frames
    if n == total:
        return people.replace_tracks(t.slice(first, stop) for t in people.tracks)
    if n == stop - first:
        return people
    raise InputError(f"{source}: holds {n} frames but the video has {total} (range {first}:{stop}); "
                     "give the keypoints of this video")


# --------------------------------------------------------------------------------------------
# The pipeline


def _bar(total: int, desc: str, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="frame", disable=quiet, leave=False, dynamic_ncols=True)


def infer_video(
    video: str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    detector: str = "default",
    checkpoint: str | os.PathLike | None = None,
    device: str = "auto",
    flip: bool = True,
    causal: bool = False,
    keypoints: str | os.PathLike | None = None,
    person: str = "all",
    render: bool = True,
    export: str | Iterable[str] = ("npz",),
    azimuth: float = DEFAULT_AZIMUTH_DEG,
    orbit: float = 0.0,
    size: str | int | tuple[int, int] | None = None,
    fps: float | None = None,
    start: float | None = None,
    end: float | None = None,
    limit: int | None = None,
    resample: bool = True,
    smooth: str | None = "default",
    height: float | None = None,
    bvh_rest: str = "clip",
    bvh_names: str = "h36m",
    overwrite: bool = False,
    write: bool = True,
    quiet: bool = False,
    models: Models | None = None,
    stem: str | None = None,
    _cli: bool = False,
) -> InferResult:
    """Run the whole job on one clip and write the outputs.

    Args:
        video: input video file (or image folder/glob, see ``io.video``).
        out, out_dir: where outputs go (see :func:`output_paths`); default beside the input.
        detector: 2D detector backend name (``"default"``: the built-in multi-person detector).
        checkpoint: lifter registry name or path (default: the registry default). device:
            ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``.
        flip: test-time flip augmentation. causal: use a causal lifter (past frames only).
        keypoints: a 2D keypoint file to use instead of running the detector.
        person: who is lifted, written and drawn: ``"all"``, ``"main"`` (the longest-present,
            largest person) or person ids ``"3,7"``.
        render: write the side-by-side MP4. export: pose outputs among
            :data:`~pose3d_cli.io.exports.EXPORT_FORMATS` (comma string or sequence; ``all``).
        azimuth: starting azimuth of the 3D view, degrees; orbit: its turn rate, degrees/second.
        size: render height (``720``) or whole size (``"1280x480"``); default: the input height,
            at most 720.
        fps: the clip's frame rate, overriding what the container or keypoint file says.
        start, end: range in seconds; limit: at most this many frames from ``start``.
        resample: resample keypoints to 50 fps for lifting and back.
        smooth: filter for the 3D poses (:func:`~pose3d_cli.lifting.smoothing.parse_smooth`):
            ``"default"`` (Butterworth 6 Hz, zero-phase; one-euro for a causal lifter),
            ``"butterworth:CUTOFF_HZ"``, ``"one-euro[:MIN_CUTOFF_HZ[:BETA]]"`` or ``"off"``.
        height: the main person's standing height in metres: poses (and trajectories) are
            scaled to it; default: the lifter's own scale.
        bvh_rest, bvh_names: BVH rest pose (``clip``/``tpose``) and joint names (``h36m``/``animator``).
        overwrite: replace existing outputs (else :class:`OutputExistsError` before any work).
        write: write the outputs (False: nothing is written or rendered; see ``poses``).
        quiet: no progress bars and no summary line. models: pre-loaded :class:`Models`
            (batch); else loaded here. stem: name the outputs ``<stem>.pose3d.*``.

    Returns:
        :class:`InferResult` (with the poses). Each output file is renamed into place only once
        complete; nothing is ever written over an input.
    """
    from pose3d_cli.io.video import probe_video

    t_start = time.perf_counter()
    video = Path(video)
    exports = parse_exports(export)
    size = parse_size(size)
    for name, value in (("azimuth", azimuth), ("orbit", orbit)):
        check_number(name, value)
    check_number("fps", fps, positive=True)
    check_number("height", height, positive=True)
    parse_person_spec(person)
    render = render and write
    if write and not render and not exports:
        raise InputError("nothing to write: --no-render and no --export; give --export npz (or another format)")
    paths = output_paths(video, out=out, out_dir=out_dir, export=exports, render=render, stem=stem) if write else {}
    option = "--overwrite" if _cli else "overwrite=True"
    for p in paths.values():
        check_writable(p, overwrite, option=option)
    check_not_inputs(paths.values(), [video if video.exists() else None, keypoints,
                                      checkpoint if checkpoint is not None and Path(checkpoint).exists() else None])

    info = None
    if render or keypoints is None or video.exists():
        info = probe_video(video, fps=fps)  # the only probe of this clip
    seconds: dict[str, float] = {}
    people = None
    if keypoints is not None:
        people = load_people(keypoints, info=info, fps=fps)  # the only parse of this file
    clip_fps = float(fps) if fps is not None else (info.fps if info is not None else people.fps)
    total = info.num_frames if info is not None else people.num_frames
    first, stop = frame_range(total, clip_fps, start=start, end=end, limit=limit, source=str(video))
    from pose3d_cli.lifting.smoothing import smoothing_for

    smoothing = smoothing_for(smooth, causal=causal, fps=clip_fps)

    own_models = models is None
    if own_models:
        t0 = time.perf_counter()
        models = Models.load(detector=detector, checkpoint=checkpoint, device=device, causal=causal,
                             quiet=quiet, need_detector=keypoints is None)
        seconds["load"] = time.perf_counter() - t0
    try:
        # 1. 2D keypoints of every person (detected, or from a file).
        t0 = time.perf_counter()
        if people is None:
            from pose3d_cli.keypoints import detect_people

            people = detect_people(video, detector=models.detector, progress=not quiet, start=first,
                                   end=stop, info=info)
        else:
            people = slice_people(people, first, stop, total, str(keypoints))
        from pose3d_cli.lifting.sequence import (
            LiftOptions,
            lift_people,
            needs_resampling,
            with_fps,
        )

        people = with_fps(people, clip_fps)
        found = people.num_people
        people = people.select(person)
        seconds["detect"] = time.perf_counter() - t0

        # 2. Cleaning, resampling, lifting, world frame: one function for every caller.
        t0 = time.perf_counter()
        options = LiftOptions(flip=flip, resample=resample, device=models.device, smooth=smoothing, height_m=height)
        seq = lift_people(people, models.checkpoint, options=options, checkpoint_name=models.checkpoint_name)
        seconds["lift"] = time.perf_counter() - t0
    finally:
        if own_models:
            models.close()

    # 3. Files.
    written: dict[str, Path] = {}
    if write:
        t0 = time.perf_counter()
        _write_exports(paths, exports, seq, overwrite, written, option, bvh_rest=bvh_rest, bvh_names=bvh_names)
        seconds["export"] = time.perf_counter() - t0

    # 4. Render.
    if render:
        t0 = time.perf_counter()
        written["mp4"] = _render(video, paths["mp4"], seq, first, stop, size=size, azimuth=azimuth,
                                 orbit=orbit, overwrite=overwrite, quiet=quiet)
        seconds["render"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - t_start

    warnings = []
    if _non_commercial(models.licence):
        warnings.append(f"the lifter {models.checkpoint_name} is licensed {models.licence}: "
                        "not for commercial use")
    result = InferResult(video=video, paths={k: written[k] for k in paths if k in written}, frames=seq.num_frames,
                         fps=clip_fps, people=seq.num_people, people_found=found,
                         frames_filled=int(seq.filled_frames.sum()),
                         resampled=needs_resampling(clip_fps, options), poses=seq, seconds=seconds,
                         checkpoint=models.checkpoint_name, licence=models.licence, device=str(models.device),
                         warnings=tuple(warnings), moving=seq.people_trajectory_world is not None,
                         foot_sliding_m_s=main_foot_sliding(seq))
    if not quiet:
        print(result.summary())
    return result


def main_foot_sliding(seq: PoseSequence) -> float | None:
    """The main person's foot sliding (m/s) over their longest present run of at least a
    second (:func:`~pose3d_cli.geometry.world.foot_sliding`); None for other layouts or shorter runs."""
    from pose3d_cli.geometry.world import foot_sliding, present_runs

    if seq.layout != "h36m17":
        return None
    runs = present_runs(seq.people_present[seq.main_person])
    a, b = max(runs, key=lambda r: r[1] - r[0], default=(0, 0))
    if b - a < max(2, round(seq.fps)):
        return None
    return foot_sliding(seq.poses_3d_world[a:b], seq.fps)


def _write_exports(paths, exports, seq: PoseSequence, overwrite: bool, written: dict, option: str, *,
                   bvh_rest: str, bvh_names: str) -> None:
    from pose3d_cli.io.exports import write_exports

    # The people were selected before lifting: every one of them gets written (per-person
    # formats such as BVH and TRC: one file each, the main person's at the base name).
    for kind, files in write_exports(seq, {k: paths[k] for k in exports}, exports, overwrite=overwrite,
                                     people="all", overwrite_option=option, bvh_rest=bvh_rest,
                                     bvh_names=bvh_names).items():
        written[kind] = files


def _render(video: Path, path: Path, seq: PoseSequence, first: int, stop: int, *, size, azimuth: float,
            orbit: float, overwrite: bool, quiet: bool) -> Path:
    from pose3d_cli.errors import VideoError
    from pose3d_cli.io.video import VideoWriter, iter_frames
    from pose3d_cli.render.side_by_side import (
        ENCODER_CRF,
        ENCODER_PRESET,
        prefetch,
        render_side_by_side,
    )

    n = seq.num_frames
    with _bar(n, "render", quiet) as bar, VideoWriter(path, fps=seq.fps, overwrite=overwrite, crf=ENCODER_CRF,
                                                      preset=ENCODER_PRESET) as writer:
        stats = render_side_by_side(
            prefetch(iter_frames(video, first, stop)), writer, kpts_px=seq.people_keypoints_px,
            pose_world_m=seq.people_poses_3d_world, fps=seq.fps, src_size=(seq.width, seq.height),
            layout_2d=seq.keypoint_layout, layout_3d=seq.layout, filled_frames=seq.people_filled_frames,
            person_ids=seq.person_ids.tolist() if seq.num_people > 1 else None,
            placed=seq.people_trajectory_world is not None, size=size, azimuth_deg=azimuth,
            orbit_deg_per_s=orbit, progress=bar.update)
        if stats.frames != n:
            raise VideoError(f"{video}: decoded {stats.frames} frames for the render but lifted {n}; "
                             "the file may be truncated, re-encode it with ffmpeg")
    return path


__all__ = ["InferResult", "Models", "OutputExistsError", "check_number", "frame_range", "infer_video",
           "load_people", "output_paths", "slice_people"]
