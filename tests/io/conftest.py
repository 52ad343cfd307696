"""Pose sequences for the export tests: people built from real motion capture (``../shared``)
seen by a simple pinhole camera, with absences, filled frames and distinct ids."""

from __future__ import annotations

import numpy as np
import pytest

from pose3d_cli.io.pose_file import PoseSequence
from pose3d_cli.skeleton import H36M17


def _project(points_m: np.ndarray) -> np.ndarray:
    """World points (z up) → pixels of a 1920x1080 camera 5 m away along −y, looking at +y."""
    depth = points_m[..., 1] + 5.0
    x = 960 + 1000 * points_m[..., 0] / depth
    y = 540 - 1000 * (points_m[..., 2] - 1.0) / depth
    return np.stack([x, y], -1).astype(np.float32)


def build_people(world: list[np.ndarray], coco: list[np.ndarray], present: np.ndarray, *, fps: float = 50.0,
                 ids=(1, 4), main: int = 0, start_frame: int = 0) -> PoseSequence:
    """A PoseSequence of P people from world joints ``(T, 17, 3)`` and COCO points per person;
    NaN (scores 0) where ``present (P, T)`` is False; person 0 has frames 100–102 filled."""
    w = np.stack(world).astype(np.float32)
    kp = np.stack([_project(c) for c in coco])
    w[~present] = np.nan
    kp[~present] = np.nan
    scores = np.where(present[..., None], 0.9, 0.0).astype(np.float32) * np.ones((1, 1, 17), np.float32)
    filled = np.zeros(present.shape, bool)
    filled[0, 100:103] = True
    filled &= present
    return PoseSequence(person_ids=np.asarray(ids[:len(world)], np.int64), people_present=present,
                        people_poses_3d_camera=w.copy(), people_poses_3d_world=w, people_keypoints_px=kp,
                        people_keypoint_scores=scores, people_filled_frames=filled,
                        joint_names=H36M17.joint_names, layout="h36m17", keypoint_layout="coco17", fps=fps,
                        width=1920, height=1080, main_person=main, start_frame=start_frame,
                        checkpoint="pose3d-27f.mocap-coco")


@pytest.fixture(scope="session")
def mocap_clip(shared_dir):
    """The first 20 s of a real capture, retargeted to H36M-17 at 50 Hz."""
    from pose3d_cli.training.mocap import load_mocap

    return load_mocap(shared_dir / "mocap" / "bvhtools_test.bvh", max_seconds=20.0)


@pytest.fixture(scope="session")
def two_people(mocap_clip) -> PoseSequence:
    """Two people, 240 frames at 50 fps starting at video frame 10: id 1 (main) present
    throughout; id 4 (other motion, 1.5 m to the side) absent in frames 0–39 and 150–169."""
    t = 240
    a, ca = mocap_clip.h36m17_m[:t], mocap_clip.coco17_m[:t]
    shift = np.array([1.5, 0.5, 0.0])
    b, cb = mocap_clip.h36m17_m[300:300 + t] + shift, mocap_clip.coco17_m[300:300 + t] + shift
    present = np.ones((2, t), bool)
    present[1, :40] = False
    present[1, 150:170] = False
    return build_people([a, b], [ca, cb], present, start_frame=10)
