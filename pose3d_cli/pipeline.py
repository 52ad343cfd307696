"""``infer_video``: video → 2D keypoints → clean track → 3D poses → world frame → files → render.

This is the only module where the stages meet; ``pose3d infer`` and ``pose3d batch`` are thin
layers over it, and Python users call it directly::

    from pose3d_cli.pipeline import infer_video
    result = infer_video("clip.mp4", export=("npz", "bvh"))
    print(result.summary())

Frame rate: the lifters were trained on 50 fps Human3.6M video, and a temporal model's
receptive field is counted in frames, so a 25 fps clip seen frame by frame looks like motion at
double speed. Keypoints from a clip at another rate are therefore resampled in time (linear
interpolation) to 50 fps before lifting, and the 3D poses are resampled back to the clip's own
frame times afterwards, so every input frame still gets exactly one pose. ``resample=False``
lifts the frames as they are.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pose3d_cli.errors import InputError, NoPersonError, OutputExistsError
from pose3d_cli.io.exports import EXPORT_FORMATS, parse_exports
from pose3d_cli.render.side_by_side import DEFAULT_AZIMUTH_DEG, parse_size

log = logging.getLogger(__name__)

#: Frame rate the lifters were trained at (Human3.6M video).
MODEL_FPS = 50.0
#: Rates within this relative distance of :data:`MODEL_FPS` are lifted without resampling.
RESAMPLE_TOLERANCE = 0.02
#: Suffixes of the outputs, after the clip's stem: ``clip.pose3d.mp4``, ``clip.pose3d.npz``, …
OUTPUT_TAG = ".pose3d"
_KNOWN_SUFFIXES = (".mp4",) + tuple(f".{f}" for f in EXPORT_FORMATS)


# --------------------------------------------------------------------------------------------
# Models, loaded once


@dataclass
class Models:
    """The detector and the lifter, loaded once and reused across clips (``pose3d batch``).

    Attributes:
        detector: the detector backend name, or a loaded backend object that
            ``keypoints.detect_video`` accepts in place of the name.
        checkpoint: the loaded lifter (:class:`~pose3d_cli.lifting.checkpoint.LoadedCheckpoint`).
        checkpoint_name: registry name or path, as recorded in the pose file.
        device: the torch device both run on.
    """

    detector: Any
    checkpoint: Any
    checkpoint_name: str
    device: Any

    @classmethod
    def load(cls, *, detector: str = "mediapipe", checkpoint: str | os.PathLike | None = None,
             device: str = "auto", causal: bool = False, quiet: bool = False,
             need_detector: bool = True) -> Models:
        """Resolve the device once, load the lifter (registry name, path, or the default) and,
        when ``need_detector``, the detector backend."""
        from pose3d_cli.device import select_device
        from pose3d_cli.zoo import load_lifter

        dev = select_device(device)
        # The registry states the layouts of published files, which do not record them.
        ck, name = load_lifter(checkpoint, causal=True if causal else None, quiet=quiet)
        if causal and not ck.arch.causal:
            from pose3d_cli.errors import CheckpointError

            raise CheckpointError(f"{ck.path}: --causal needs a causally trained checkpoint and {name} "
                                  "is symmetric; drop --causal or pass --checkpoint with a causal model")
        ck.model_pos.to(dev)
        det = _load_detector(detector, dev) if need_detector else detector
        return cls(detector=det, checkpoint=ck, checkpoint_name=name, device=dev)


def _load_detector(name: str, device) -> Any:
    """A loaded detector backend when the keypoints package offers one, else the name
    (``detect_video`` then loads it per call)."""
    from pose3d_cli import keypoints

    loader = getattr(keypoints, "load_detector", None)
    if loader is None:
        return name
    return loader(name, device=str(device))


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class InferResult:
    """What :func:`infer_video` did.

    Attributes:
        video: the input.
        paths: output kind (``"mp4"``, ``"npz"``, ``"json"``, ``"csv"``, ``"bvh"``) → file written.
        frames: frames processed (one 3D pose each).
        fps: frame rate of the clip (and of the outputs).
        people_found: people the detector saw (the largest/most persistent one is lifted).
        frames_filled: frames without a detection whose keypoints were interpolated.
        resampled: the keypoints were resampled to :data:`MODEL_FPS` for lifting.
        seconds: stage name → wall seconds (``detect``, ``lift``, ``export``, ``render``).
        checkpoint: registry name or path of the lifter.
        device: where the lifter ran.
    """

    video: Path
    paths: dict[str, Path]
    frames: int
    fps: float
    people_found: int
    frames_filled: int
    resampled: bool
    seconds: dict[str, float] = field(default_factory=dict)
    checkpoint: str = ""
    device: str = "cpu"

    def summary(self) -> str:
        """One line: frames, people, filled frames, seconds per stage, files written."""
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        files = ", ".join(str(p) for p in self.paths.values()) or "nothing"
        people = f"{self.people_found} {'person' if self.people_found == 1 else 'people'} found"
        return (f"{self.video.name}: {self.frames} frames at {self.fps:g} fps, {people}, "
                f"{self.frames_filled} frames filled; {stages}; wrote {files}")


# --------------------------------------------------------------------------------------------
# Pieces (public: tests and the batch command use them)


def output_paths(video: str | os.PathLike, *, out: str | os.PathLike | None = None,
                 out_dir: str | os.PathLike | None = None, export: Sequence[str] = ("npz",),
                 render: bool = True) -> dict[str, Path]:
    """Where each output goes.

    Default: beside the input, named ``<stem>.pose3d.<ext>`` (an image folder or glob is named
    after its folder). ``out_dir``: in that folder
    instead. ``out``: the render goes exactly there (``--out render.mp4``) and the other files
    beside it with the same stem (``render.npz``); a relative ``out`` with ``out_dir`` lands in
    ``out_dir``.
    """
    video = Path(video)
    kinds = (["mp4"] if render else []) + [k for k in parse_exports(export)]
    if out is not None:
        out = Path(out)
        if out_dir is not None and not out.is_absolute():
            out = Path(out_dir) / out
        base = out.with_suffix("") if out.suffix.lower() in _KNOWN_SUFFIXES else out
        return {k: (out if (k == "mp4" and out.suffix.lower() == ".mp4") else
                    base.with_name(base.name + f".{k}")) for k in kinds}
    stem = video.stem
    if any(ch in str(video) for ch in "*?["):  # an image glob such as frames/*.png
        video = video.parent
        stem = video.name or "frames"
    elif video.is_dir():  # an image folder: name the outputs after it, beside it
        video = Path(os.path.abspath(video))
        stem = video.name
    folder = Path(out_dir) if out_dir is not None else video.parent
    return {k: folder / f"{stem}{OUTPUT_TAG}.{k}" for k in kinds}


def frame_range(num_frames: int, fps: float, *, start: float | None = None, end: float | None = None,
                limit: int | None = None, source: str = "") -> tuple[int, int]:
    """``[first, stop)`` frame indices for ``start``/``end`` in seconds or a ``limit`` of frames
    (counted from ``start``). Raises :class:`InputError` for an empty or out-of-clip range."""
    if start is not None and start < 0:
        raise InputError(f"{source}: --start {start} is negative; give seconds from the clip's beginning")
    first = round((start or 0.0) * fps)
    stop = num_frames
    if end is not None:
        if limit is not None:
            raise InputError("give either --end or --limit, not both")
        stop = min(num_frames, round(end * fps))
    if limit is not None:
        if limit < 1:
            raise InputError(f"--limit {limit}: give a positive number of frames")
        stop = min(num_frames, first + int(limit))
    if first >= num_frames:
        raise InputError(f"{source}: --start {start} s is past the end of the clip "
                         f"({num_frames} frames, {num_frames / fps:.2f} s)")
    if stop <= first:
        raise InputError(f"{source}: the range --start {start} --end {end} holds no frames; "
                         "give an --end after --start")
    return first, stop


def interp_time(values: np.ndarray, t_in: np.ndarray, t_out: np.ndarray) -> np.ndarray:
    """Linear interpolation along axis 0: ``values (T, ...)`` sampled at increasing times
    ``t_in (T,)`` → values at ``t_out (M,)`` (times outside ``t_in`` hold the edge values)."""
    values = np.asarray(values)
    t = values.shape[0]
    if t == 1:
        return np.repeat(values, len(t_out), axis=0)
    pos = np.interp(np.asarray(t_out, np.float64), np.asarray(t_in, np.float64), np.arange(t))
    i0 = np.minimum(np.floor(pos).astype(np.int64), t - 2)
    w = (pos - i0).reshape((-1,) + (1,) * (values.ndim - 1))
    return (values[i0] * (1 - w) + values[i0 + 1] * w).astype(values.dtype, copy=False)


def resample_times(num_frames: int, src_fps: float, dst_fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Frame times (seconds) of a clip at ``src_fps`` and of its resampling at ``dst_fps``.

    The resampled times are ``k / dst_fps`` for ``k = 0 .. ceil((T - 1) · dst / src)``, the last
    one clipped to the clip's last frame time, so the resampled track spans the whole clip and
    resampling back interpolates everywhere.
    """
    t_src = np.arange(num_frames) / float(src_fps)
    m = int(np.ceil((num_frames - 1) * dst_fps / src_fps - 1e-6)) + 1
    t_dst = np.minimum(np.arange(m) / float(dst_fps), t_src[-1])
    return t_src, t_dst


def clean_track(track):
    """Fill non-finite keypoints by linear interpolation over time, per joint (edges held),
    marking them in ``filled_joints``/``filled_frames``. Raises :class:`NoPersonError` when a
    joint is never seen. ``track``: a :class:`~pose3d_cli.io.keypoint_file.KeypointTrack`."""
    k = track.keypoints_px.astype(np.float32, copy=True)
    bad = ~np.isfinite(k).all(axis=-1)  # (T, J)
    if not bad.any():
        return track
    t_idx = np.arange(k.shape[0])
    for j in range(k.shape[1]):
        good = ~bad[:, j]
        if not good.any():
            raise NoPersonError(f"{track.source or 'keypoints'}: joint {j} is never detected; "
                                "nobody to lift in this clip")
        if bad[:, j].any():
            for c in range(2):
                k[bad[:, j], j, c] = np.interp(t_idx[bad[:, j]], t_idx[good], k[good, j, c])
    scores = np.where(bad, 0.0, track.scores).astype(np.float32)
    return replace(track, keypoints_px=k, scores=scores, filled_joints=track.filled_joints | bad,
                   filled_frames=track.filled_frames | bad.all(axis=1))


# --------------------------------------------------------------------------------------------
# The pipeline


def _bar(total: int, desc: str, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="frame", disable=quiet, leave=False, dynamic_ncols=True)


def _detect(video: Path, models: Models, first: int, stop: int, fps: float | None, quiet: bool):
    from pose3d_cli.keypoints import detect_video

    return detect_video(video, detector=models.detector, device=str(models.device), progress=not quiet,
                        start=first, end=stop, fps=fps)


def _load_track(keypoints: str | os.PathLike, info, first: int, stop: int, fps: float):
    from pose3d_cli.keypoints.formats import load_any_keypoints

    # JSON formats (COCO, OpenPose) store no frame size: the probed video gives it.
    size = (info.width, info.height) if info is not None else None
    track = load_any_keypoints(keypoints, frame_size=size, fps=fps)
    if info is not None:
        if (track.width, track.height) != (info.width, info.height):
            raise InputError(f"{keypoints}: keypoints are for a {track.width}x{track.height} frame but the "
                             f"video is {info.width}x{info.height}; give the keypoints of this video")
        if track.num_frames == info.num_frames:
            track = track.slice(first, stop)
        elif track.num_frames != stop - first:
            raise InputError(f"{keypoints}: holds {track.num_frames} frames but the video has "
                             f"{info.num_frames} (range {first}:{stop}); give the keypoints of this video")
    else:
        track = track.slice(first, stop)
    return replace(track, fps=float(fps))


def infer_video(
    video: str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    detector: str = "mediapipe",
    checkpoint: str | os.PathLike | None = None,
    device: str = "auto",
    flip: bool = True,
    causal: bool = False,
    keypoints: str | os.PathLike | None = None,
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
    overwrite: bool = False,
    quiet: bool = False,
    models: Models | None = None,
) -> InferResult:
    """Run the whole job on one clip and write the outputs.

    Args:
        video: input video file (or image folder/glob, see ``io.video``).
        out, out_dir: where outputs go (see :func:`output_paths`); default beside the input.
        detector: 2D detector backend name. checkpoint: lifter registry name or path (default:
            the registry default). device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        flip: test-time flip augmentation. causal: require a causal lifter.
        keypoints: a 2D keypoint file to use instead of running the detector.
        render: write the side-by-side MP4. export: pose outputs among
            ``npz, json, csv, bvh`` (comma string or sequence).
        azimuth: starting azimuth of the 3D view, degrees; orbit: its turn rate, degrees/second.
        size: render height (``720``) or whole size (``"1280x480"``); default: the input height,
            at most 720.
        fps: the clip's frame rate, overriding what the container says (or the image rate).
        start, end: range in seconds; limit: at most this many frames from ``start``.
        resample: resample keypoints to 50 fps for lifting and back (see the module docstring).
        overwrite: replace existing outputs (else :class:`OutputExistsError` before any work).
        quiet: no progress bars. models: pre-loaded :class:`Models` (batch); else loaded here.

    Returns:
        :class:`InferResult`. Each output file is renamed into place only once complete.
    """
    from pose3d_cli.io.video import probe_video

    t_start = time.perf_counter()
    video = Path(video)
    exports = parse_exports(export)
    size = parse_size(size)
    if not render and not exports:
        raise InputError("nothing to write: --no-render and no --export; give --export npz (or another format)")
    if fps is not None and not fps > 0:
        raise InputError(f"--fps {fps}: give a positive frame rate")
    paths = output_paths(video, out=out, out_dir=out_dir, export=exports, render=render)
    if not overwrite:
        existing = [str(p) for p in paths.values() if p.exists()]
        if existing:
            raise OutputExistsError(f"{existing[0]} exists; pass --overwrite to replace it or choose "
                                    "another --out/--out-dir")

    info = None
    if render or keypoints is None or video.exists():
        info = probe_video(video, fps=fps)
        clip_fps = float(fps) if fps is not None else info.fps
        total = info.num_frames
    else:
        from pose3d_cli.keypoints.formats import load_any_keypoints

        header = load_any_keypoints(keypoints, fps=fps)
        clip_fps = float(fps) if fps is not None else header.fps
        total = header.num_frames
    first, stop = frame_range(total, clip_fps, start=start, end=end, limit=limit, source=str(video))

    seconds: dict[str, float] = {}
    if models is None:
        t0 = time.perf_counter()
        models = Models.load(detector=detector, checkpoint=checkpoint, device=device, causal=causal,
                             quiet=quiet, need_detector=keypoints is None)
        seconds["load"] = time.perf_counter() - t0

    # 1. 2D keypoints (detected, or from a file) and 2. cleaning.
    t0 = time.perf_counter()
    if keypoints is None:
        track = _detect(video, models, first, stop, fps, quiet)
        track = replace(track, fps=clip_fps)
    else:
        track = _load_track(keypoints, info, first, stop, clip_fps)
    track = clean_track(track)
    n = track.num_frames
    detected = ~track.filled_frames
    if not detected.any():
        raise NoPersonError(f"{video}: no person found in any of its {n} frames; check that someone "
                            "is fully in view, or pass --keypoints FILE")
    seconds["detect"] = time.perf_counter() - t0

    # 3. Lifting, at the model's frame rate.
    t0 = time.perf_counter()
    pose_cam_m, resampled = _lift(track, models, flip=flip, resample=resample)
    # 4. World frame for display: fixed in-the-wild rotation, feet on z = 0.
    from pose3d_cli.lifting.predict import pose_sequence

    seq = pose_sequence(track, models.checkpoint, pose_cam_m, flip=flip,
                        checkpoint_name=models.checkpoint_name, fps=clip_fps)
    pose_world_m = seq.poses_3d_world
    seconds["lift"] = time.perf_counter() - t0

    # 5. Files.
    t0 = time.perf_counter()
    written: dict[str, Path] = {}
    _write_exports(paths, exports, seq, overwrite, written)
    seconds["export"] = time.perf_counter() - t0

    # 6. Render.
    if render:
        t0 = time.perf_counter()
        written["mp4"] = _render(video, paths["mp4"], track, pose_world_m, first, stop, clip_fps,
                                 size=size, azimuth=azimuth, orbit=orbit, overwrite=overwrite,
                                 quiet=quiet)
        seconds["render"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - t_start

    people = int(track.extra.get("people_found", track.extra.get("num_people", 1)))
    result = InferResult(video=video, paths={k: written[k] for k in paths if k in written}, frames=n,
                         fps=clip_fps, people_found=people, frames_filled=int(track.filled_frames.sum()),
                         resampled=resampled, seconds=seconds, checkpoint=models.checkpoint_name,
                         device=str(models.device))
    if not quiet:
        print(result.summary())
    return result


def _lift(track, models: Models, *, flip: bool, resample: bool) -> tuple[np.ndarray, bool]:
    from pose3d_cli.lifting.predict import lift_track

    src_fps = float(track.fps)
    n = track.num_frames
    do_resample = resample and abs(src_fps / MODEL_FPS - 1.0) > RESAMPLE_TOLERANCE and n > 1
    if not do_resample:
        return lift_track(track, models.checkpoint, flip=flip, device=models.device), False
    t_src, t_model = resample_times(n, src_fps, MODEL_FPS)
    kpts = interp_time(track.keypoints_px, t_src, t_model)
    scores = interp_time(track.scores, t_src, t_model)
    at_model_rate = replace(track, keypoints_px=kpts, scores=scores, fps=MODEL_FPS, boxes=None,
                            box_scores=None, filled_frames=None, filled_joints=None)
    pose_model_rate = lift_track(at_model_rate, models.checkpoint, flip=flip, device=models.device)
    back = interp_time(pose_model_rate, t_model, t_src)
    return back.astype(np.float32), True


def _write_exports(paths, exports, seq, overwrite: bool, written: dict) -> None:
    from pose3d_cli.io.bvh import write_bvh
    from pose3d_cli.io.exports import write_csv, write_json
    from pose3d_cli.io.pose_file import save_poses
    from pose3d_cli.skeleton import get_layout

    lay = get_layout(seq.layout)
    writers = {"json": write_json, "csv": write_csv, "bvh": write_bvh}
    for kind in exports:
        if kind == "npz":
            written[kind] = save_poses(seq, paths[kind], overwrite=overwrite)
        else:
            written[kind] = writers[kind](paths[kind], seq.poses_3d_world, seq.fps, layout=lay,
                                          overwrite=overwrite)


def _render(video: Path, path: Path, track, pose_world_m: np.ndarray, first: int, stop: int, fps: float,
            *, size, azimuth: float, orbit: float, overwrite: bool, quiet: bool) -> Path:
    from pose3d_cli.errors import VideoError
    from pose3d_cli.io.video import VideoWriter, iter_frames
    from pose3d_cli.render.side_by_side import (
        ENCODER_CRF,
        ENCODER_PRESET,
        prefetch,
        render_side_by_side,
    )

    n = pose_world_m.shape[0]
    with _bar(n, "render", quiet) as bar, VideoWriter(path, fps=fps, overwrite=overwrite, crf=ENCODER_CRF,
                                                      preset=ENCODER_PRESET) as writer:
        stats = render_side_by_side(
            prefetch(iter_frames(video, first, stop)), writer, kpts_px=track.keypoints_px,
            pose_world_m=pose_world_m, fps=fps, src_size=(track.width, track.height), layout_2d=track.layout,
            filled_frames=track.filled_frames, size=size, azimuth_deg=azimuth, orbit_deg_per_s=orbit,
            progress=bar.update)
        if stats.frames != n:
            raise VideoError(f"{video}: decoded {stats.frames} frames for the render but lifted {n}; "
                             "the file may be truncated, re-encode it with ffmpeg")
    return path
