"""Motion sources: the point set, the position-only retarget, DeepMimic clips, the checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pose3d_cli.errors import InputError
from pose3d_cli.io.bvh import bvh_positions, read_bvh
from pose3d_cli.skeleton import COCO17, H36M17
from pose3d_cli.training.mocap import HIPS_RIG, bone_lengths, load_mocap, retarget
from pose3d_cli.training.sources import (
    COCO_FROM_POINTS,
    DEEPMIMIC_RIG,
    POINT_NAMES,
    SOURCES,
    Clip,
    PositionRig,
    check_clip,
    clip_from_mocap,
    handedness,
    read_deepmimic,
    retarget_positions,
)


def test_point_set_and_coco_mapping():
    assert len(POINT_NAMES) == 22 and POINT_NAMES[:17] == H36M17.joint_names
    names = [POINT_NAMES[i] for i in COCO_FROM_POINTS]
    for coco, point in zip(COCO17.joint_names, names):
        assert coco == point or (coco.endswith("_ankle") and point == coco.replace("ankle", "foot"))


def test_every_source_states_licence_and_hash():
    for spec in SOURCES.values():
        assert spec.licence and spec.members
        assert len(spec.archive_sha256) == 64
    assert not SOURCES["omomo"].trainable  # licence not stated: evaluation only
    assert all(SOURCES[s].trainable for s in ("bvhtools", "cmu", "boxing", "holosoma", "deepmimic"))


@pytest.fixture(scope="module")
def walk(shared_dir):
    path = shared_dir / "mocap" / "bvhtools_test.bvh"
    return path, load_mocap(path, max_seconds=20)


def test_clip_from_real_capture_is_right_handed_and_rigid(walk):
    _, mc = walk
    clip = clip_from_mocap(mc, "bvhtools")
    assert clip.points_m.shape == (mc.num_frames, 22, 3)
    np.testing.assert_array_equal(clip.coco17_m, mc.coco17_m.astype(np.float32))
    assert handedness(clip.points_m) > 0.95
    check_clip(clip)
    # Mirrored labels (left and right swapped, geometry unchanged) are caught.
    from pose3d_cli.training.sources import POINTS_LEFT, POINTS_RIGHT

    swapped = clip.points_m.copy()
    swapped[:, list(POINTS_LEFT) + list(POINTS_RIGHT)] = swapped[:, list(POINTS_RIGHT) + list(POINTS_LEFT)]
    assert handedness(swapped) < 0.05
    with pytest.raises(InputError, match="left and right look swapped"):
        check_clip(Clip(swapped, "x", "mirrored", "x"))


def test_position_retarget_matches_the_rotation_retarget(walk):
    """The same real capture as bare joint positions gives the same body joints."""
    path, mc = walk
    bvh = read_bvh(path)
    pos = bvh_positions(bvh)  # (T, J, 3) file units, y up
    names = [n.rsplit(":", 1)[-1] for n in bvh.joint_names]
    rig = PositionRig(name="hips-positions", joints=HIPS_RIG.joints, head_base=HIPS_RIG.head_base,
                      head_up=("Neck", "Head"), floor=tuple(n for n in HIPS_RIG.floor if n in names))
    keep = int(20 * bvh.fps) + 1
    clip = retarget_positions(pos[:keep], names, rig, fps=bvh.fps, source="t", name="walk", up_axis=1)
    n = min(clip.num_frames, mc.num_frames)
    body = [H36M17.index(j) for j in H36M17.joint_names if j not in ("neck_nose", "head")]
    a = clip.h36m17_m[:n, body] - clip.h36m17_m[:n, :1]
    b = mc.h36m17_m[:n, body] - mc.h36m17_m[:n, :1]
    # Same shape up to the heading (the rotation retarget turns the file's axes differently).
    from pose3d_cli.training.online import procrustes_errors

    assert procrustes_errors(a, b).mean() < 0.01
    np.testing.assert_allclose(np.median(bone_lengths(clip.h36m17_m[:n]), 0),
                               np.median(bone_lengths(mc.h36m17_m[:n]), 0), rtol=0.03)
    assert abs(np.percentile(clip.points_m[:, [3, 6], 2].min(1), 1) - np.percentile(
        mc.h36m17_m[:, [3, 6], 2].min(1), 1)) < 0.03
    check_clip(clip)


def _deepmimic_file(tmp_path, frames: np.ndarray):
    path = tmp_path / "humanoid3d_test.txt"
    path.write_text(json.dumps({"Loop": "none", "Frames": frames.tolist()}))
    return path


def test_deepmimic_rest_pose_is_an_upright_human(tmp_path):
    """A DeepMimic frame with identity rotations is the humanoid's rest pose: upright, facing +x,
    its right side at +z, with human proportions once retargeted."""
    t = 20
    f = np.zeros((t, 44))
    f[:, 0] = 1 / 30
    f[:, 1:4] = [0.0, 0.85, 0.0]
    f[:, 2] += np.linspace(0, 0.05, t)  # a small bob so the clip is not static
    for start in (4, 8, 12, 16, 21, 25, 30, 34, 39):  # quaternions: identity (w = 1)
        f[:, start] = 1.0
    motion = read_deepmimic(_deepmimic_file(tmp_path, f))
    assert motion.fps == pytest.approx(30.0)
    from pose3d_cli.geometry.kinematics import forward_kinematics

    pos, _ = forward_kinematics(motion.parents, motion.rot, motion.trans)
    n = list(motion.joint_names)
    assert pos[0, n.index("right_hip"), 2] > 0 > pos[0, n.index("left_hip"), 2]
    assert pos[0, n.index("neck"), 1] > pos[0, n.index("root"), 1] > pos[0, n.index("right_ankle"), 1]
    assert pos[0, n.index("right_toe"), 0] > pos[0, n.index("right_ankle"), 0]  # toes forward
    clip = clip_from_mocap(retarget(motion, rig=DEEPMIMIC_RIG), "deepmimic")
    p = clip.points_m
    assert p[0, H36M17.index("head"), 2] > p[0, H36M17.index("thorax"), 2] > p[0, 0, 2] > p[0, 3, 2]
    # Facing: the nose is in front of the neck, along +x of the file (world axes keep x).
    left = p[0, H36M17.index("left_hip")] - p[0, H36M17.index("right_hip")]
    fwd = np.cross(left, [0, 0, 1.0])
    fwd /= np.linalg.norm(fwd)
    assert np.dot(p[0, 17] - p[0, 9], fwd) > 0.05


def test_deepmimic_bad_file(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text(json.dumps({"Frames": [[1, 2, 3]]}))
    with pytest.raises(InputError, match="44 numbers"):
        read_deepmimic(path)
