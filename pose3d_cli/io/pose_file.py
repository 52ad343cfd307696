"""The project's 3D pose file (``.npz``).

============== ============= ==================================================================
key            shape, dtype  meaning
============== ============= ==================================================================
format         str           ``"pose3d-poses"``
format_version int           1
poses_3d_camera (T, J, 3) f4 metres, camera frame (x right, y down, z forward), root-relative:
                             exactly what the model predicts (joint 0 near, not at, 0)
poses_3d_world (T, J, 3) f4  metres, world frame (z up): camera-frame poses rotated by the fixed
                             in-the-wild camera orientation, translation 0, then shifted so the
                             lowest joint over the clip is at z = 0
joint_names    (J,) str      output layout's joint names
layout         str           output layout name (``"h36m17"``)
keypoints_px   (T, K, 2) f4  the 2D keypoints the poses were lifted from (pixels)
keypoint_scores (T, K) f4    their confidences
keypoint_layout str          their layout (``"coco17"``)
filled_frames  (T,) bool     frames whose 2D keypoints were interpolated
fps            float         frames per second
width, height  int           frame size in pixels
checkpoint     str           registry name or path of the lifter used
flip, causal   bool          test-time flip augmentation, causal model
============== ============= ==================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose3d_cli.errors import InputError
from pose3d_cli.io.atomic import atomic_path

FORMAT = "pose3d-poses"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class PoseSequence:
    """3D poses of one person over a clip, with the 2D keypoints they came from."""

    poses_3d_camera: np.ndarray  # (T, J, 3) float32 metres
    poses_3d_world: np.ndarray  # (T, J, 3) float32 metres
    joint_names: tuple[str, ...]
    layout: str
    keypoints_px: np.ndarray  # (T, K, 2)
    keypoint_scores: np.ndarray  # (T, K)
    keypoint_layout: str
    filled_frames: np.ndarray  # (T,) bool
    fps: float
    width: int
    height: int
    checkpoint: str = ""
    flip: bool = True
    causal: bool = False

    @property
    def num_frames(self) -> int:
        return int(self.poses_3d_camera.shape[0])


def save_poses(seq: PoseSequence, path: str | Path, overwrite: bool = True) -> Path:
    """Write a pose file atomically (temporary file renamed into place)."""
    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f, format=FORMAT, format_version=FORMAT_VERSION,
                poses_3d_camera=seq.poses_3d_camera.astype(np.float32),
                poses_3d_world=seq.poses_3d_world.astype(np.float32),
                joint_names=np.array(seq.joint_names), layout=seq.layout,
                keypoints_px=seq.keypoints_px.astype(np.float32),
                keypoint_scores=seq.keypoint_scores.astype(np.float32),
                keypoint_layout=seq.keypoint_layout, filled_frames=seq.filled_frames.astype(bool),
                fps=float(seq.fps), width=int(seq.width), height=int(seq.height),
                checkpoint=seq.checkpoint, flip=bool(seq.flip), causal=bool(seq.causal))
    return path


def load_poses(path: str | Path) -> PoseSequence:
    """Read a pose file written by :func:`save_poses`."""
    path = Path(path)
    try:
        d = np.load(path, allow_pickle=False)
        if str(d["format"]) != FORMAT:
            raise KeyError("format")
        return PoseSequence(
            poses_3d_camera=d["poses_3d_camera"], poses_3d_world=d["poses_3d_world"],
            joint_names=tuple(str(n) for n in d["joint_names"]), layout=str(d["layout"]),
            keypoints_px=d["keypoints_px"], keypoint_scores=d["keypoint_scores"],
            keypoint_layout=str(d["keypoint_layout"]), filled_frames=d["filled_frames"],
            fps=float(d["fps"]), width=int(d["width"]), height=int(d["height"]),
            checkpoint=str(d["checkpoint"]), flip=bool(d["flip"]), causal=bool(d["causal"]))
    except FileNotFoundError:
        raise InputError(f"{path}: no such pose file") from None
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{path}: not a pose3d pose file ({exc.__class__.__name__}: {exc})") from None
