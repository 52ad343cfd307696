"""Joint angles: known postures built by hand, invariance to where the body stands and faces,
the documented examples, and real walking."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import pose3d_cli.geometry.angles as angles_mod
from pose3d_cli.errors import InputError
from pose3d_cli.geometry.angles import (
    ANGLE_NAMES,
    angle_between,
    flexion_angle,
    joint_angles,
)
from pose3d_cli.skeleton import H36M17


def _rotz(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def _rotx(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def _body(hip_flex=0.0, knee=0.0, shoulder=0.0, elbow=0.0, lean=0.0) -> np.ndarray:
    """A body facing −y (left side +x): both legs with the given hip flexion and knee flexion
    (degrees), both arms raised sideways by ``shoulder`` with elbows bent forward by ``elbow``,
    the trunk leaning forward by ``lean``."""
    p = {}
    p["hip"] = np.array([0, 0, 1.0])
    trunk = _rotx(np.radians(lean)) @ np.array([0, 0, 1.0])  # positive lean: towards −y (forward)
    p["spine"], p["thorax"] = p["hip"] + 0.25 * trunk, p["hip"] + 0.5 * trunk
    p["neck_nose"], p["head"] = p["thorax"] + 0.1 * trunk, p["thorax"] + 0.2 * trunk
    fwd = np.array([0, -1.0, 0])
    for side, sx in (("left", 1), ("right", -1)):
        hip = p["hip"] + [0.1 * sx, 0, 0]
        thigh = np.cos(np.radians(hip_flex)) * np.array([0, 0, -1.0]) + np.sin(np.radians(hip_flex)) * fwd
        thigh_dir = _rotx(np.radians(lean)) @ thigh  # hip flexion is measured from the trunk axis
        a = np.radians(hip_flex - knee)  # shank turned back by the knee angle
        shank_dir = _rotx(np.radians(lean)) @ (np.cos(a) * np.array([0, 0, -1.0]) + np.sin(a) * fwd)
        p[f"{side}_hip"], p[f"{side}_knee"] = hip, hip + 0.45 * thigh_dir
        p[f"{side}_foot"] = p[f"{side}_knee"] + 0.45 * shank_dir
        sh = p["thorax"] + [0.18 * sx, 0, 0]
        s = np.radians(shoulder)
        upper = _rotx(np.radians(lean)) @ np.array([sx * np.sin(s), 0, -np.cos(s)])
        e = np.radians(elbow)
        fore = np.cos(e) * upper + np.sin(e) * (_rotx(np.radians(lean)) @ fwd)
        p[f"{side}_shoulder"], p[f"{side}_elbow"] = sh, sh + 0.3 * upper
        p[f"{side}_wrist"] = p[f"{side}_elbow"] + 0.25 * fore
    return np.array([p[n] for n in H36M17.joint_names])


@pytest.mark.parametrize("hip_flex, knee, shoulder, elbow, lean", [
    (0, 0, 0, 0, 0), (90, 90, 90, 0, 0), (-20, 10, 180, 45, 0), (30, 60, 45, 120, 25), (0, 5, 90, 90, -15)])
def test_known_postures(hip_flex, knee, shoulder, elbow, lean):
    a = joint_angles(_body(hip_flex, knee, shoulder, elbow, lean))
    assert list(a) == list(ANGLE_NAMES)
    for side in ("left", "right"):
        assert a[f"{side}_hip_flexion"] == pytest.approx(hip_flex, abs=1e-6)
        assert a[f"{side}_knee_flexion"] == pytest.approx(knee, abs=1e-6)
        assert a[f"{side}_shoulder_elevation"] == pytest.approx(shoulder, abs=1e-6)
        assert a[f"{side}_elbow_flexion"] == pytest.approx(elbow, abs=1e-6)
    assert a["trunk_lean"] == pytest.approx(abs(lean), abs=1e-6)
    assert a["trunk_lean_forward"] == pytest.approx(lean, abs=1e-6)


def test_where_the_body_stands_and_faces_does_not_matter():
    rng = np.random.default_rng(0)
    pose = _body(35, 50, 70, 80, 10) + rng.normal(0, 0.01, (17, 3))
    ref = joint_angles(pose)
    for _ in range(5):
        moved = pose @ _rotz(rng.uniform(-np.pi, np.pi)).T + [rng.normal(), rng.normal(), 0.0]
        got = joint_angles(moved)
        for name in ANGLE_NAMES:
            assert got[name] == pytest.approx(ref[name], abs=1e-9)
    # Tilting the whole world changes only the angles measured against the vertical ...
    tilt = _rotx(0.3)
    got = joint_angles(pose @ tilt.T)
    assert got["left_knee_flexion"] == pytest.approx(ref["left_knee_flexion"])
    assert got["trunk_lean"] != pytest.approx(ref["trunk_lean"], abs=1)
    # ... unless the vertical is tilted with it.
    assert joint_angles(pose @ tilt.T, up=tuple(tilt @ [0, 0, 1.0]))["trunk_lean"] == pytest.approx(ref["trunk_lean"])


def test_batches_nan_and_bad_input():
    poses = np.stack([_body(10), _body(20), np.full((17, 3), np.nan)])
    a = joint_angles(poses[None])  # (1, 3, 17, 3)
    assert a["left_hip_flexion"].shape == (1, 3)
    np.testing.assert_allclose(a["left_hip_flexion"][0, :2], [10, 20], atol=1e-9)
    assert np.isnan(a["left_hip_flexion"][0, 2])
    assert angle_between(np.array([1.0, 0, 0]), np.array([0, 1e-9, 0])) == pytest.approx(90)
    assert np.isnan(angle_between(np.zeros(3), np.array([1.0, 0, 0])))
    assert flexion_angle(np.zeros(3), np.array([0, 0, 1.0]), np.array([0, 0, 2.0])) == pytest.approx(0)
    with pytest.raises(InputError, match="h36m17"):
        joint_angles(np.zeros((17, 3)), "coco17")
    with pytest.raises(InputError, match="shape"):
        joint_angles(np.zeros((16, 3)))


def test_documented_example():
    result = doctest.testmod(angles_mod, verbose=False)
    assert result.attempted >= 4 and result.failed == 0


def test_real_walking(shared_dir):
    from pose3d_cli.training.mocap import load_mocap

    poses = load_mocap(shared_dir / "mocap" / "bvhtools_test.bvh", max_seconds=20).h36m17_m
    a = joint_angles(poses)
    # The capture starts in an A-pose (arms about 75° out, legs straight) and then moves about:
    # knees straighten near 0° and bend to 40–80°; hips swing over more than 25°.
    for side in ("left", "right"):
        knee = a[f"{side}_knee_flexion"]
        assert np.percentile(knee, 2) < 12 and 40 < np.percentile(knee, 98) < 90
        hip = a[f"{side}_hip_flexion"]
        assert np.percentile(hip, 98) - np.percentile(hip, 2) > 25
        shoulder = a[f"{side}_shoulder_elevation"]
        assert 60 < shoulder[0] < 90 and np.percentile(shoulder, 2) < 20
        assert knee[0] < 12 and abs(hip[0]) < 10
    assert np.median(a["trunk_lean"]) < 15
