"""The one path from 2D keypoint tracks to a pose sequence: cleaning, resampling to the
lifter's frame rate, lifting, world frame and packaging. ``pose3d lift``, ``pose3d infer``
(detected or ``--keypoints``) and ``pose3d batch`` all call :func:`lift_people`, so the same
keypoints give the same poses whichever way they came in.

Per person, the frames where the person is in view form *runs* (contiguous frames); each run
is lifted on its own, with the lifter's edge padding at the run's ends, so a person who walks
out and back in is never lifted across the frames they were away (those stay NaN).

Frame rate: the lifters were trained on 50 fps motion and a temporal model's receptive field
is counted in frames, so a 25 fps clip seen frame by frame looks like motion at double speed.
Keypoints of a run at another rate are resampled in time (linear interpolation) to
:data:`MODEL_FPS` before lifting and the 3D poses resampled back to the run's own frame times,
so every input frame still gets exactly one pose. ``resample=False`` lifts the frames as they
are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import torch

from pose3d_cli.errors import InputError, NoPersonError
from pose3d_cli.geometry.camera import (
    camera_to_world_wild,
    normalize_screen_coordinates,
)
from pose3d_cli.geometry.world import present_runs, world_people
from pose3d_cli.io.keypoint_file import KeypointTrack, PeopleTracks
from pose3d_cli.io.pose_file import PoseSequence
from pose3d_cli.keypoints.cleaning import clean_track
from pose3d_cli.lifting.checkpoint import LoadedCheckpoint
from pose3d_cli.lifting.predict import predict
from pose3d_cli.lifting.smoothing import SmoothOptions, smooth_poses
from pose3d_cli.skeleton import coco17_to_h36m17, get_layout

log = logging.getLogger(__name__)

#: Frame rate the lifters were trained at (Human3.6M video).
MODEL_FPS = 50.0
#: Rates within this relative distance of :data:`MODEL_FPS` are lifted without resampling.
RESAMPLE_TOLERANCE = 0.02


@dataclass(frozen=True)
class LiftOptions:
    """How keypoints are lifted.

    Attributes:
        flip: test-time flip augmentation.
        resample: resample to :data:`MODEL_FPS` for lifting and back (see the module docstring).
        device: where the lifter runs (default: where its weights are).
        chunk_frames: output frames per forward pass (bounds memory).
        smooth: filter applied to each person's camera-frame poses (and trajectory) over their
            present runs, before the world frame is built (:mod:`pose3d_cli.lifting.smoothing`).
        height_m: the main person's standing height: poses and trajectories are scaled to it
            (:func:`~pose3d_cli.geometry.world.world_people`); None: the lifter's own scale.
    """

    flip: bool = True
    resample: bool = True
    device: torch.device | str | None = None
    chunk_frames: int = 8192
    smooth: SmoothOptions | None = None
    height_m: float | None = None


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


def needs_resampling(fps: float, options: LiftOptions) -> bool:
    return options.resample and abs(float(fps) / MODEL_FPS - 1.0) > RESAMPLE_TOLERANCE


def lift_keypoints(kpts_px: np.ndarray, ck: LoadedCheckpoint, *, width: int, height: int, fps: float,
                   layout: str = "coco17", options: LiftOptions = LiftOptions()) -> np.ndarray:
    """Lift one person's finite keypoints ``(T, J_in, 2)`` (pixels) of consecutive frames.

    Converts COCO-17 input for an H36M-17-input model (approximately, logged), normalises to
    screen coordinates, resamples to :data:`MODEL_FPS` when needed, predicts and resamples back.

    Returns:
        ``(T, J_out, 3)`` float32 camera-frame metres, root-relative as the model predicts.
    """
    return _lift_run(kpts_px, ck, width=width, height=height, fps=fps, layout=layout, options=options)[0]


def _lift_run(kpts_px: np.ndarray, ck: LoadedCheckpoint, *, width: int, height: int, fps: float, layout: str,
              options: LiftOptions) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`lift_keypoints`, plus the root trajectory ``(T, 3)`` (camera frame, metres) when
    the checkpoint has a trajectory model (else None), from the same resampled input."""
    from pose3d_cli.lifting.trajectory import predict_trajectory

    kpts_px = np.asarray(kpts_px, np.float32)
    if layout != ck.layout_in:
        if layout == "coco17" and ck.layout_in == "h36m17":
            log.warning("converting COCO-17 keypoints to H36M-17 for an H36M-input model (approximate)")
            kpts_px = coco17_to_h36m17(kpts_px)
        else:
            raise InputError(f"keypoints are in layout {layout} but the lifter takes {ck.layout_in}; "
                             "use a checkpoint trained on this layout")
    kpts_norm = normalize_screen_coordinates(kpts_px, width, height)
    n = kpts_norm.shape[0]
    resample = n >= 2 and needs_resampling(fps, options)
    if resample:
        t_src, t_model = resample_times(n, fps, MODEL_FPS)
        kpts_norm = interp_time(kpts_norm, t_src, t_model)
    pose = predict(ck.model_pos, kpts_norm, layout_in=ck.layout_in, layout_out=ck.layout_out, flip=options.flip,
                   device=options.device, chunk_frames=options.chunk_frames)
    traj = None
    if ck.model_traj is not None:
        traj = predict_trajectory(ck.model_traj, kpts_norm, layout_in=ck.layout_in, flip=options.flip,
                                  device=options.device, chunk_frames=options.chunk_frames)
    if resample:
        pose = interp_time(pose, t_model, t_src)
        traj = None if traj is None else interp_time(traj, t_model, t_src)
    return pose.astype(np.float32), None if traj is None else traj.astype(np.float32)


def _lift_person(track: KeypointTrack, ck: LoadedCheckpoint,
                 options: LiftOptions) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Camera-frame poses ``(T, J_out, 3)``, trajectory ``(T, 3)`` or None (NaN where absent),
    and ``present (T,)``."""
    present = np.isfinite(track.keypoints_px).all(axis=(1, 2))
    out = np.full((track.num_frames, ck.arch.joints_out, 3), np.nan, np.float32)
    traj = None if ck.model_traj is None else np.full((track.num_frames, 3), np.nan, np.float32)
    for a, b in present_runs(present):
        pose, root = _lift_run(track.keypoints_px[a:b], ck, width=track.width, height=track.height,
                               fps=track.fps, layout=track.layout, options=options)
        out[a:b] = pose
        if traj is not None:
            traj[a:b] = root
    return out, traj, present


def world_poses(pose_cam_m: np.ndarray) -> np.ndarray:
    """Camera-frame poses ``(P, T, J, 3)`` (NaN where absent) of any layout → display world
    frame (z up): rotated with the in-the-wild camera orientation, each person shifted so their
    lowest joint over the clip is at z = 0 (Human3.6M-17 poses use
    :func:`~pose3d_cli.geometry.world.world_people` instead, which grounds by the feet)."""
    world = np.asarray(camera_to_world_wild(np.nan_to_num(pose_cam_m)), np.float32)
    world[~np.isfinite(pose_cam_m)] = np.nan
    for p in range(world.shape[0]):
        z = world[p, ..., 2]
        if np.isfinite(z).any():
            world[p, ..., 2] -= np.nanmin(z)
    return world


def lift_people(people: PeopleTracks | KeypointTrack, ck: LoadedCheckpoint, *,
                options: LiftOptions = LiftOptions(), checkpoint_name: str = "") -> PoseSequence:
    """Clean, lift and package every person of a clip.

    Args:
        people: the tracks (a single :class:`KeypointTrack` counts as one person).
        ck: the lifter (:class:`~pose3d_cli.lifting.checkpoint.LoadedCheckpoint`).
        options: :class:`LiftOptions`.
        checkpoint_name: registry name or path recorded in the pose file (default: ``ck.path``).

    Returns:
        :class:`~pose3d_cli.io.pose_file.PoseSequence` with camera-frame and world-frame poses of
        every person (NaN where absent).

    Raises:
        NoPersonError: nobody is in view in any frame.
        InputError: keypoints in a layout the lifter does not take.
    """
    if isinstance(people, KeypointTrack):
        people = PeopleTracks.one(people)
    people = people.replace_tracks(clean_track(tr) for tr in people.tracks)
    lifted = [_lift_person(tr, ck, options) for tr in people.tracks]
    cam = np.stack([c for c, _, _ in lifted])
    traj = None if ck.model_traj is None else np.stack([r for _, r, _ in lifted])
    present = np.stack([p for _, _, p in lifted])
    if not present.any():
        raise NoPersonError(f"{people.main_track.source or 'keypoints'}: nobody is in view in any of its "
                            f"{people.num_frames} frames; nothing to lift")
    fps = float(people.fps)
    if options.smooth is not None:
        cam = smooth_poses(cam, options.smooth, fps=fps).astype(np.float32)
        if traj is not None:
            traj = smooth_poses(traj[:, :, None], options.smooth, fps=fps)[:, :, 0].astype(np.float32)
    lay_out = get_layout(ck.layout_out)
    if lay_out.name == "h36m17":
        placed = world_people(cam, traj, present, main=people.main, height_m=options.height_m, fps=fps)
        world, traj_world = placed.poses_world_m, placed.trajectory_world_m
    else:
        if options.height_m is not None:
            raise InputError(f"--height needs a lifter with Human3.6M-17 output; {ck.path} gives {lay_out.name}")
        world, traj_world = world_poses(cam), None
    tracks = people.tracks
    return PoseSequence(
        person_ids=people.person_ids, people_present=present, people_poses_3d_camera=cam,
        people_poses_3d_world=world, people_trajectory_world=traj_world,
        people_keypoints_px=np.stack([t.keypoints_px for t in tracks]),
        people_keypoint_scores=np.stack([t.scores for t in tracks]),
        people_filled_frames=np.stack([t.filled_frames for t in tracks]) & present,
        joint_names=lay_out.joint_names, layout=lay_out.name, keypoint_layout=tracks[0].layout,
        fps=fps, width=int(people.width), height=int(people.height), main_person=people.main,
        start_frame=int(people.start_frame), checkpoint=checkpoint_name or ck.path,
        flip=bool(options.flip), causal=bool(ck.arch.causal),
        smoothing=options.smooth.describe() if options.smooth is not None else "")


def with_fps(people: PeopleTracks, fps: float) -> PeopleTracks:
    """The same tracks at another frame rate (``--fps`` overriding what a file says)."""
    return people.replace_tracks(replace(t, fps=float(fps)) for t in people.tracks)
