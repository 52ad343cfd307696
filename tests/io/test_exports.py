"""JSON, CSV and BVH exports. The BVH is checked by forward kinematics on the written file
(read back with the data engineer's independent reader, ``io/bvh.py``)."""

import csv
import json

import numpy as np
import pytest

from pose3d_cli.errors import InputError
from pose3d_cli.geometry.rotations import matrix_to_euler_zxy
from pose3d_cli.io.bvh import (
    WORLD_TO_BVH,
    bvh_positions,
    read_bvh,
    solve_bvh,
    write_bvh,
)
from pose3d_cli.io.exports import parse_exports, write_csv, write_json
from pose3d_cli.skeleton import H36M17


def _rot(axis, a):
    c, s = np.cos(a), np.sin(a)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    m = np.eye(3)
    m[i, i] = m[j, j] = c
    m[i, j], m[j, i] = -s, s
    return m


def _walk(t=120, fps=50.0):
    """A rigid-bone walk: legs and arms swing, the pelvis turns and moves forward."""
    base = np.array([[0, 0, .95], [-.12, 0, .95], [-.12, 0, .5], [-.12, 0, .05], [.12, 0, .95], [.12, 0, .5],
                     [.12, 0, .05], [0, 0, 1.2], [0, 0, 1.45], [0, -.05, 1.55], [0, 0, 1.7], [.17, 0, 1.45],
                     [.17, 0, 1.15], [.17, 0, .9], [-.17, 0, 1.45], [-.17, 0, 1.15], [-.17, 0, .9]])
    time_s = np.arange(t) / fps
    out = np.zeros((t, 17, 3))
    for k, ts in enumerate(time_s):
        p = base.copy()
        limbs = ((1, 2, 3, 11, 12, 13, 0.0), (4, 5, 6, 14, 15, 16, np.pi))
        for hip, knee, foot, arm_top, arm_mid, arm_end, ph in limbs:
            r = _rot(0, 0.5 * np.sin(2 * np.pi * ts + ph))
            bend = _rot(0, -0.4 * max(0.0, np.sin(2 * np.pi * ts + ph)))
            p[knee] = p[hip] + r @ (base[knee] - base[hip])
            p[foot] = p[knee] + r @ bend @ (base[foot] - base[knee])
            ra = _rot(0, -0.3 * np.sin(2 * np.pi * ts + ph))
            p[arm_mid] = p[arm_top] + ra @ (base[arm_mid] - base[arm_top])
            p[arm_end] = p[arm_mid] + ra @ (base[arm_end] - base[arm_mid])
        turn = _rot(2, 0.3 * np.sin(np.pi * ts))
        out[k] = (p - [0, 0, .95]) @ turn.T + [0, 1.2 * ts, .95]
    return out


def _read_back(path):
    bvh = read_bvh(path)
    pos = bvh_positions(bvh)[:, [bvh.index(n) for n in H36M17.joint_names]]
    return bvh, pos @ WORLD_TO_BVH  # BVH axes -> world (z up)


def test_parse_exports():
    assert parse_exports("npz, JSON,bvh,npz") == ("npz", "json", "bvh")
    assert parse_exports(["csv"]) == ("csv",)
    with pytest.raises(InputError, match="--export 'fbx'"):
        parse_exports("npz,fbx")


def test_euler_zxy_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(50):
        z, x, y = rng.uniform(-np.pi, np.pi), rng.uniform(-1.5, 1.5), rng.uniform(-np.pi, np.pi)
        m = _rot(2, z) @ _rot(0, x) @ _rot(1, y)
        np.testing.assert_allclose(np.radians(matrix_to_euler_zxy(m)), [z, x, y], atol=1e-9)


def test_bvh_round_trip_is_exact_for_rigid_bones(tmp_path):
    poses = _walk()
    path = write_bvh(tmp_path / "walk.bvh", poses, 50.0)
    bvh, back = _read_back(path)
    assert bvh.num_frames == len(poses) and bvh.fps == pytest.approx(50.0)
    np.testing.assert_allclose(back, poses, atol=1e-4)


def test_bvh_round_trip_on_real_mocap(shared_dir, tmp_path):
    """Real captured walking (retargeted to H36M-17): the constant-bone skeleton reproduces it
    to millimetres on average; the thorax's three children are a least-squares fit."""
    from pose3d_cli.training.mocap import load_mocap

    poses = load_mocap(shared_dir / "mocap" / "bvhtools_test.bvh").h36m17_m[:600]
    path = write_bvh(tmp_path / "mocap.bvh", poses, 50.0)
    _, back = _read_back(path)
    err = np.linalg.norm(back - poses, axis=-1)
    assert err.mean() < 0.015 and err.max() < 0.08
    assert err[:, 0].max() < 1e-5  # the root is written exactly


def test_bvh_has_constant_bone_lengths_at_the_median(tmp_path):
    rng = np.random.default_rng(1)
    poses = _walk()
    noisy = poses + rng.normal(0, 0.01, poses.shape)  # bone lengths wobble like a model's output
    sol = solve_bvh(noisy)
    lengths = np.linalg.norm(sol.offsets_m, axis=1)
    par = np.array(H36M17.parents)
    raw = np.linalg.norm(noisy[:, 1:] - noisy[:, par[1:]], axis=-1)
    np.testing.assert_allclose(lengths[1:], np.median(raw, axis=0), rtol=1e-9)
    _, back = _read_back(write_bvh(tmp_path / "n.bvh", noisy, 50.0))
    got = np.linalg.norm(back[:, 1:] - back[:, par[1:]], axis=-1)
    np.testing.assert_allclose(got, np.broadcast_to(lengths[1:], got.shape), atol=1e-4)


def test_bvh_rest_pose_is_upright_facing_z(tmp_path):
    sol = solve_bvh(_walk())
    up = H36M17.index("spine"), H36M17.index("right_knee"), H36M17.index("left_hip")
    assert sol.offsets_m[up[0], 1] > 0.2  # spine goes up (+y in BVH)
    assert sol.offsets_m[up[1], 1] < -0.3  # thigh goes down
    assert sol.offsets_m[up[2], 0] > 0.1  # left hip is on +x


def test_bvh_rejects_nan(tmp_path):
    poses = _walk(10)
    poses[3, 4] = np.nan
    with pytest.raises(InputError, match="NaN"):
        write_bvh(tmp_path / "x.bvh", poses, 50.0)
    assert not (tmp_path / "x.bvh").exists()


def test_json_and_csv(tmp_path):
    poses = _walk(30)
    doc = json.loads(write_json(tmp_path / "p.json", poses, 30.0).read_text())
    assert doc["format"] == "pose3d-web" and doc["num_frames"] == 30 and doc["fps"] == 30.0
    assert doc["joint_names"] == list(H36M17.joint_names) and [0, 1] in doc["edges"]
    np.testing.assert_allclose(np.array(doc["frames"]), poses, atol=6e-4)
    with open(write_csv(tmp_path / "p.csv", poses, 30.0)) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 30 * 17
    assert list(rows[0]) == ["frame", "time_s", "joint", "x", "y", "z"]
    r = rows[17 * 3 + 10]
    assert (r["frame"], r["joint"], float(r["time_s"])) == ("3", "head", pytest.approx(0.1))
    assert float(r["z"]) == pytest.approx(poses[3, 10, 2], abs=1e-4)


def test_exports_refuse_to_clobber(tmp_path):
    from pose3d_cli.errors import OutputExistsError

    p = tmp_path / "p.json"
    p.write_text("mine")
    with pytest.raises(OutputExistsError):
        write_json(p, _walk(5), 30.0, overwrite=False)
    assert p.read_text() == "mine"
