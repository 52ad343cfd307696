"""Retargeting the real captures in ``../shared/mocap`` to Human3.6M-17 and virtual COCO-17."""

from __future__ import annotations

import numpy as np
import pytest

from pose3d_cli.errors import InputError
from pose3d_cli.io.bvh import read_bvh
from pose3d_cli.skeleton import COCO17, H36M17
from pose3d_cli.training.mocap import (
    bone_lengths,
    detect_rig,
    head_height,
    retarget,
    up_axis_rotation,
)

FILES = ["bvhtools_test.bvh", "bvhtools_test2.bvh", "bvhtools_test3.bvh"]
LIMBS = [H36M17.index(n) for n in ("right_knee", "right_foot", "left_knee", "left_foot", "head",
                                   "left_elbow", "left_wrist", "right_elbow", "right_wrist")]


@pytest.fixture(scope="module", params=FILES)
def clip_and_bvh(request, shared_dir):
    bvh = read_bvh(shared_dir / "mocap" / request.param)
    return retarget(bvh), bvh


def test_resampled_to_50_fps(clip_and_bvh):
    clip, bvh = clip_and_bvh
    assert clip.fps == 50.0
    duration = (bvh.num_frames - 1) / bvh.fps
    assert clip.num_frames == int(np.floor(duration * 50 + 1e-6)) + 1
    assert clip.h36m17_m.shape == (clip.num_frames, 17, 3) and clip.coco17_m.shape == clip.h36m17_m.shape
    assert np.isfinite(clip.h36m17_m).all() and np.isfinite(clip.coco17_m).all()


def test_bone_lengths_constant_and_human(clip_and_bvh):
    clip, _ = clip_and_bvh
    bl = bone_lengths(clip.h36m17_m)  # (T, 16): bone of joint j is column j-1
    limbs = bl[:, [j - 1 for j in LIMBS]]
    # Limbs (and the head on the neck) come from single rigid rig bones or rigid head-frame
    # offsets: constant to float precision after resampling.
    np.testing.assert_allclose(limbs, np.broadcast_to(limbs[0], limbs.shape), rtol=1e-6)
    # The spine spans several rig joints and bends a little; the shoulders ride on clavicles
    # (shrugs, raised arms) and move a few centimetres against the thorax, as real ones do.
    spread = bl.max(0) - bl.min(0)
    assert spread[[H36M17.index("spine") - 1, H36M17.index("thorax") - 1]].max() < 0.025
    assert spread[[H36M17.index("left_shoulder") - 1, H36M17.index("right_shoulder") - 1]].max() < 0.05
    thigh, shin = bl[0, H36M17.index("right_knee") - 1], bl[0, H36M17.index("right_foot") - 1]
    assert 0.3 < thigh < 0.55 and 0.3 < shin < 0.55
    # Left and right limbs agree (a real body, retargeted without mixing sides).
    for left, right in zip(H36M17.left, H36M17.right):
        assert abs(bl[0, left - 1] - bl[0, right - 1]) < 0.03


def test_plausible_standing_height_z_up_and_on_the_floor(clip_and_bvh):
    clip, _ = clip_and_bvh
    height = head_height(clip) + 0.1
    assert 1.5 < height < 2.0
    hip_z = np.median(clip.h36m17_m[:, 0, 2])
    assert 0.7 < hip_z < 1.1  # z is up
    feet_z = clip.h36m17_m[:, [H36M17.index("left_foot"), H36M17.index("right_foot")], 2]
    assert -0.05 < np.percentile(feet_z.min(1), 1) < 0.15  # ankles just above z = 0


def test_left_is_left_and_face_looks_forward(clip_and_bvh):
    clip, _ = clip_and_bvh
    p = clip.h36m17_m
    fwd = clip.toes_m.mean(1) - p[:, [3, 6]].mean(1)  # ankles → toes
    fwd[:, 2] = 0
    left_dir = np.cross([0.0, 0.0, 1.0], fwd)  # z up: the person's left
    for a, b in ((4, 1), (11, 14)):  # left hip vs right hip, left vs right shoulder
        assert np.mean(((p[:, a] - p[:, b]) * left_dir).sum(-1) > 0) > 0.98
    c = clip.coco17_m
    nose, thorax = c[:, COCO17.index("nose")], p[:, H36M17.index("thorax")]
    assert np.mean(((nose - thorax) * fwd).sum(-1) > 0) > 0.95
    ears = c[:, COCO17.index("left_ear")] - c[:, COCO17.index("right_ear")]
    assert np.mean((ears * left_dir).sum(-1) > 0) > 0.95
    np.testing.assert_allclose(np.linalg.norm(ears, axis=-1), 0.15, rtol=1e-6)
    # COCO limbs are the H36M joints.
    np.testing.assert_array_equal(c[:, COCO17.index("left_ankle")], p[:, H36M17.index("left_foot")])
    np.testing.assert_array_equal(c[:, COCO17.index("right_wrist")], p[:, H36M17.index("right_wrist")])


def test_height_scales_the_body(shared_dir):
    bvh = read_bvh(shared_dir / "mocap" / "bvhtools_test3.bvh")
    a, b = retarget(bvh, height_m=1.6), retarget(bvh, height_m=1.8)
    np.testing.assert_allclose(bone_lengths(b.h36m17_m[:5]), bone_lengths(a.h36m17_m[:5]) * 1.8 / 1.6,
                               rtol=1e-6)


def test_up_axis_rotation_is_proper():
    for up in np.eye(3).tolist() + (-np.eye(3)).tolist():
        r = up_axis_rotation(np.array(up))
        assert np.linalg.det(r) == pytest.approx(1.0)
        np.testing.assert_allclose(r @ np.array(up), [0, 0, 1])


def test_unknown_rig_is_an_input_error(tmp_path):
    path = tmp_path / "robot.bvh"
    path.write_text("HIERARCHY\nROOT base\n{\n OFFSET 0 0 0\n CHANNELS 3 Xposition Yposition Zposition\n"
                    " End Site\n {\n  OFFSET 0 1 0\n }\n}\nMOTION\nFrames: 1\nFrame Time: 0.1\n0 0 0\n")
    with pytest.raises(InputError, match="robot.bvh.*unknown rig"):
        detect_rig(read_bvh(path))


def test_namespaced_joint_names_match_the_same_rig(shared_dir, tmp_path):
    """Exporters prefix joint names (``mixamorig:Hips``); the rig map ignores the prefix."""
    text = (shared_dir / "mocap" / "bvhtools_test2.bvh").read_text()
    head, sep, motion = text.partition("MOTION")
    lines = motion.splitlines()
    short_motion = "\n".join(lines[:3] + lines[3:3 + 300]).replace("Frames: 3945", "Frames: 300") + "\n"
    plain = tmp_path / "plain.bvh"
    plain.write_text(head + sep + short_motion)
    prefixed = tmp_path / "prefixed.bvh"
    prefixed.write_text(head.replace("ROOT ", "ROOT mixamorig:").replace("JOINT ", "JOINT mixamorig:")
                        + sep + short_motion)
    a, b = retarget(read_bvh(prefixed)), retarget(read_bvh(plain))
    assert a.rig == b.rig == "hips" and a.num_frames == 499  # (300 − 1) frames at 30 Hz → 50 Hz
    np.testing.assert_array_equal(a.h36m17_m, b.h36m17_m)


def test_collar_rig_names_map_like_the_hips_rig(shared_dir, tmp_path):
    """The same real capture with its joints renamed to the Chest/Collar convention retargets
    to the same limbs (the torso joints come from differently named rig joints)."""
    import re

    rename = {"LeftUpLeg": "LeftHip", "LeftLeg": "LeftKnee", "LeftFoot": "LeftAnkle",
              "RightUpLeg": "RightHip", "RightLeg": "RightKnee", "RightFoot": "RightAnkle",
              "Spine1": "Chest", "Spine2": "Chest2", "LeftShoulder": "LeftCollar",
              "RightShoulder": "RightCollar", "LeftArm": "LeftShoulder", "RightArm": "RightShoulder",
              "LeftForeArm": "LeftElbow", "RightForeArm": "RightElbow", "LeftHand": "LeftWrist",
              "RightHand": "RightWrist", "LeftToe": "LeftToeTip", "RightToe": "RightToeTip"}
    text = (shared_dir / "mocap" / "bvhtools_test2.bvh").read_text()
    head, sep, motion = text.partition("MOTION")
    head = re.sub(r"\b(" + "|".join(rename) + r")\b", lambda m: rename[m.group(1)], head)
    lines = motion.splitlines()
    short = "\n".join(lines[:3] + lines[3:3 + 120]).replace("Frames: 3945", "Frames: 120") + "\n"
    (tmp_path / "hips.bvh").write_text(text.partition("MOTION")[0] + sep + short)
    (tmp_path / "collar.bvh").write_text(head + sep + short)
    a, b = retarget(read_bvh(tmp_path / "hips.bvh")), retarget(read_bvh(tmp_path / "collar.bvh"))
    assert (a.rig, b.rig) == ("hips", "collar")
    legs_arms = [H36M17.index(n) for n in ("right_knee", "left_foot", "left_elbow", "right_wrist")]
    rel_a = a.h36m17_m[:, legs_arms] - a.h36m17_m[:, :1]
    rel_b = b.h36m17_m[:, legs_arms] - b.h36m17_m[:, :1]
    np.testing.assert_allclose(rel_a, rel_b, atol=0.02)  # only the height estimate differs
