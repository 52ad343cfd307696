"""The project's 3D pose file (``.npz``): every person of a clip, with the main person's arrays
also under the version-1 names so older readers keep working.

=========================== ================ ====================================================
key                         shape, dtype     meaning
=========================== ================ ====================================================
format                      str              ``"pose3d-poses"``
format_version              int              2 (version 1 files, one person, are still read)
person_ids                  (P,) i8          tracker id of each person
main_person                 int              index into ``person_ids`` of the main person
people_present              (P, T) bool      the person is in view in the frame (lifted there)
people_poses_3d_camera      (P, T, J, 3) f4  metres, camera frame (x right, y down, z forward),
                                             root-relative as the model predicts (joint 0 near,
                                             not at, 0); NaN where absent
people_poses_3d_world       (P, T, J, 3) f4  metres, world frame (z up, ground z = 0); NaN where
                                             absent (see :mod:`pose3d_cli.lifting.sequence`)
people_keypoints_px         (P, T, K, 2) f4  the 2D keypoints lifted (pixels); NaN where absent
people_keypoint_scores      (P, T, K) f4     their confidences (0 where absent or filled)
people_filled_frames        (P, T) bool      frames whose 2D keypoints were interpolated
people_trajectory_world     (P, T, 3) f4     root position in the world frame (metres), when the
                                             lifter has a trajectory model; else absent
trajectory_world            (T, 3) f4        the main person's, when present
poses_3d_camera             (T, J, 3) f4     the main person (version-1 name)
poses_3d_world              (T, J, 3) f4     the main person (version-1 name)
keypoints_px                (T, K, 2) f4     the main person (version-1 name)
keypoint_scores             (T, K) f4        the main person (version-1 name)
filled_frames               (T,) bool        the main person (version-1 name)
joint_names                 (J,) str         output layout's joint names
layout                      str              output layout name (``"h36m17"``)
keypoint_layout             str              the 2D layout (``"coco17"``)
fps                         float            frames per second
start_frame                 int              index in the video of the first frame
width, height               int              frame size in pixels
checkpoint                  str              registry name or path of the lifter used
flip, causal                bool             test-time flip augmentation, causal model
smoothing                   str              filter applied to the 3D poses (e.g. ``butterworth
                                             6 Hz (order 2, zero-phase)``; '' for none)
=========================== ================ ====================================================

Frame ``t`` of the file is frame ``start_frame + t`` of the video, at ``(start_frame + t) / fps``
seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose3d_cli.errors import InputError
from pose3d_cli.io.atomic import atomic_path

FORMAT = "pose3d-poses"
FORMAT_VERSION = 2


@dataclass(frozen=True)
class PoseSequence:
    """3D poses of every person over a clip, with the 2D keypoints they came from.

    Per-person arrays are ``(P, T, …)``, NaN where a person is absent (``people_present``
    False). The version-1 single-person names (``poses_3d_world``, ``keypoints_px``, …) are
    properties giving the main person's arrays.
    """

    person_ids: np.ndarray  # (P,) int64
    people_present: np.ndarray  # (P, T) bool
    people_poses_3d_camera: np.ndarray  # (P, T, J, 3) float32 metres
    people_poses_3d_world: np.ndarray  # (P, T, J, 3) float32 metres
    people_keypoints_px: np.ndarray  # (P, T, K, 2) float32
    people_keypoint_scores: np.ndarray  # (P, T, K) float32
    people_filled_frames: np.ndarray  # (P, T) bool
    joint_names: tuple[str, ...]
    layout: str
    keypoint_layout: str
    fps: float
    width: int
    height: int
    main_person: int = 0
    people_trajectory_world: np.ndarray | None = None  # (P, T, 3) float32 metres
    start_frame: int = 0
    checkpoint: str = ""
    flip: bool = True
    causal: bool = False
    smoothing: str = ""

    def __post_init__(self) -> None:
        p, t = np.shape(self.people_present)
        j, k = len(self.joint_names), np.shape(self.people_keypoints_px)[2]
        expect = {
            "person_ids": (p,), "people_poses_3d_camera": (p, t, j, 3),
            "people_poses_3d_world": (p, t, j, 3), "people_keypoints_px": (p, t, k, 2),
            "people_keypoint_scores": (p, t, k), "people_filled_frames": (p, t),
        }
        if self.people_trajectory_world is not None:
            expect["people_trajectory_world"] = (p, t, 3)
        for name, shape in expect.items():
            got = np.shape(getattr(self, name))
            if got != shape:
                raise InputError(f"pose sequence: {name} has shape {got}, expected {shape}")
        if p < 1 or t < 1:
            raise InputError(f"pose sequence: needs at least one person and one frame, got {p} and {t}")
        if not 0 <= self.main_person < p:
            raise InputError(f"pose sequence: main_person {self.main_person} is not among its {p} people")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise InputError(f"pose sequence: fps {self.fps} is not a positive number")

    @classmethod
    def single(cls, *, poses_3d_camera: np.ndarray, poses_3d_world: np.ndarray, keypoints_px: np.ndarray,
               keypoint_scores: np.ndarray, filled_frames: np.ndarray, person_id: int = 0,
               trajectory_world: np.ndarray | None = None, **kw) -> PoseSequence:
        """One person present in every frame (the version-1 shape)."""
        t = np.shape(poses_3d_camera)[0]
        return cls(person_ids=np.array([person_id], np.int64), people_present=np.ones((1, t), bool),
                   people_poses_3d_camera=np.asarray(poses_3d_camera, np.float32)[None],
                   people_poses_3d_world=np.asarray(poses_3d_world, np.float32)[None],
                   people_keypoints_px=np.asarray(keypoints_px, np.float32)[None],
                   people_keypoint_scores=np.asarray(keypoint_scores, np.float32)[None],
                   people_filled_frames=np.asarray(filled_frames, bool)[None],
                   people_trajectory_world=None if trajectory_world is None
                   else np.asarray(trajectory_world, np.float32)[None], **kw)

    # -- sizes
    @property
    def num_people(self) -> int:
        return int(self.people_present.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.people_present.shape[1])

    @property
    def frame_times_s(self) -> np.ndarray:
        """``(T,)`` seconds from the start of the video of each frame."""
        return (self.start_frame + np.arange(self.num_frames)) / float(self.fps)

    # -- the main person under the version-1 names
    @property
    def poses_3d_camera(self) -> np.ndarray:
        return self.people_poses_3d_camera[self.main_person]

    @property
    def poses_3d_world(self) -> np.ndarray:
        return self.people_poses_3d_world[self.main_person]

    @property
    def keypoints_px(self) -> np.ndarray:
        return self.people_keypoints_px[self.main_person]

    @property
    def keypoint_scores(self) -> np.ndarray:
        return self.people_keypoint_scores[self.main_person]

    @property
    def filled_frames(self) -> np.ndarray:
        return self.people_filled_frames[self.main_person]

    @property
    def trajectory_world(self) -> np.ndarray | None:
        t = self.people_trajectory_world
        return None if t is None else t[self.main_person]

    def person_index(self, person_id: int) -> int:
        """Index of the person with tracker id ``person_id``; :class:`InputError` if none."""
        hits = np.flatnonzero(self.person_ids == int(person_id))
        if hits.size == 0:
            raise InputError(f"no person with id {person_id}; ids: {', '.join(map(str, self.person_ids))}")
        return int(hits[0])


def save_poses(seq: PoseSequence, path: str | Path, overwrite: bool = True) -> Path:
    """Write a pose file atomically (temporary file renamed into place)."""
    path = Path(path)
    arrays = dict(
        format=FORMAT, format_version=FORMAT_VERSION,
        person_ids=np.asarray(seq.person_ids, np.int64), main_person=int(seq.main_person),
        people_present=seq.people_present.astype(bool),
        people_poses_3d_camera=seq.people_poses_3d_camera.astype(np.float32),
        people_poses_3d_world=seq.people_poses_3d_world.astype(np.float32),
        people_keypoints_px=seq.people_keypoints_px.astype(np.float32),
        people_keypoint_scores=seq.people_keypoint_scores.astype(np.float32),
        people_filled_frames=seq.people_filled_frames.astype(bool),
        poses_3d_camera=seq.poses_3d_camera.astype(np.float32),
        poses_3d_world=seq.poses_3d_world.astype(np.float32),
        keypoints_px=seq.keypoints_px.astype(np.float32),
        keypoint_scores=seq.keypoint_scores.astype(np.float32),
        filled_frames=seq.filled_frames.astype(bool),
        joint_names=np.array(seq.joint_names), layout=seq.layout, keypoint_layout=seq.keypoint_layout,
        fps=float(seq.fps), start_frame=int(seq.start_frame), width=int(seq.width), height=int(seq.height),
        checkpoint=seq.checkpoint, flip=bool(seq.flip), causal=bool(seq.causal), smoothing=seq.smoothing)
    if seq.people_trajectory_world is not None:
        arrays["people_trajectory_world"] = seq.people_trajectory_world.astype(np.float32)
        arrays["trajectory_world"] = seq.trajectory_world.astype(np.float32)
    with atomic_path(path, overwrite) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    return path


def load_poses(path: str | Path) -> PoseSequence:
    """Read a pose file written by :func:`save_poses` (version 2, or version 1: one person)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such pose file; give a .pose3d.npz written by `pose3d infer` or `pose3d lift`")
    try:
        d = np.load(path, allow_pickle=False)
        if str(d["format"]) != FORMAT:
            raise InputError(f"{path}: format {str(d['format'])!r} is not a pose3d pose file")
        version = int(d["format_version"])
        if version > FORMAT_VERSION:
            raise InputError(f"{path}: pose file version {version} is newer than this pose3d reads; upgrade pose3d")
        common = dict(joint_names=tuple(str(n) for n in d["joint_names"]), layout=str(d["layout"]),
                      keypoint_layout=str(d["keypoint_layout"]), fps=float(d["fps"]), width=int(d["width"]),
                      height=int(d["height"]), checkpoint=str(d["checkpoint"]), flip=bool(d["flip"]),
                      causal=bool(d["causal"]))
        if common["width"] < 1 or common["height"] < 1:
            raise InputError(f"{path}: frame size {common['width']}x{common['height']} is not positive")
        text = {"format", "joint_names", "layout", "keypoint_layout", "checkpoint", "smoothing"}
        not_numbers = [k for k in d.files if k not in text and d[k].dtype.kind not in "biuf"]
        if not_numbers:
            raise InputError(f"{path}: {not_numbers[0]} holds {d[not_numbers[0]].dtype} values, not numbers")
        if version == 1:
            return PoseSequence.single(
                poses_3d_camera=d["poses_3d_camera"], poses_3d_world=d["poses_3d_world"],
                keypoints_px=d["keypoints_px"], keypoint_scores=d["keypoint_scores"],
                filled_frames=d["filled_frames"], **common)
        traj = d["people_trajectory_world"] if "people_trajectory_world" in d.files else None
        if "smoothing" in d.files:
            common["smoothing"] = str(d["smoothing"])
        return PoseSequence(
            person_ids=d["person_ids"].astype(np.int64), people_present=d["people_present"].astype(bool),
            people_poses_3d_camera=d["people_poses_3d_camera"], people_poses_3d_world=d["people_poses_3d_world"],
            people_keypoints_px=d["people_keypoints_px"], people_keypoint_scores=d["people_keypoint_scores"],
            people_filled_frames=d["people_filled_frames"].astype(bool), main_person=int(d["main_person"]),
            people_trajectory_world=traj, start_frame=int(d["start_frame"]), **common)
    except InputError as exc:
        msg = str(exc)
        raise InputError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    except (KeyError, ValueError, TypeError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable pose3d pose file ({exc.__class__.__name__}: {str(exc)[:120]}); "
                         "give a .pose3d.npz written by `pose3d infer` or `pose3d lift`") from None
    except Exception as exc:  # zipfile.BadZipFile and friends: a damaged file
        raise InputError(f"{path}: not a readable pose3d pose file ({exc.__class__.__name__}); "
                         "give a .pose3d.npz written by `pose3d infer` or `pose3d lift`") from None
