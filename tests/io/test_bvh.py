"""BVH reader and forward kinematics: a tiny file with known geometry, any rotation order, and
the real captures in ``../shared/mocap``."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pose3d_cli.errors import InputError
from pose3d_cli.geometry.kinematics import forward_kinematics, resample_local
from pose3d_cli.geometry.rotations import matrix_to_quaternion, quaternion_to_matrix
from pose3d_cli.io.bvh import bvh_positions, local_transforms, read_bvh

TINY = """HIERARCHY
ROOT root
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT upper
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT lower
    {
      OFFSET 0 5 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 2 0 0
      }
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.5
1 2 3 0 0 0 0 0 0 0 0 0
1 2 3 90 0 0 0 0 0 0 0 0
0 0 0 0 0 0 90 0 0 0 90 0
"""


def _write(tmp_path, text: str, name: str = "tiny.bvh"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_tiny_file_known_geometry(tmp_path):
    bvh = read_bvh(_write(tmp_path, TINY))
    assert bvh.joint_names == ("root", "upper", "lower", "lower_end")
    assert bvh.parents == (-1, 0, 1, 2)
    assert bvh.num_frames == 3 and bvh.fps == pytest.approx(2.0)
    pos = bvh_positions(bvh)
    # Frame 0: rest pose translated by (1, 2, 3).
    np.testing.assert_allclose(pos[0], [[1, 2, 3], [1, 12, 3], [1, 17, 3], [3, 17, 3]], atol=1e-9)
    # Frame 1: root turned 90° about z: +y → −x, +x → +y.
    np.testing.assert_allclose(pos[1], [[1, 2, 3], [-9, 2, 3], [-14, 2, 3], [-14, 4, 3]], atol=1e-9)
    # Frame 2: 'upper' turned 90° about z (its child's offset +y → −x); 'lower' turned 90°
    # about its x, which leaves the end site's +x offset alone, then the parent's z turn: +y.
    np.testing.assert_allclose(pos[2], [[0, 0, 0], [0, 10, 0], [-5, 10, 0], [-5, 12, 0]], atol=1e-9)


@pytest.mark.parametrize("order", ["ZXY", "XYZ", "YZX", "ZYX", "XZY", "YXZ"])
def test_any_rotation_order_matches_intrinsic_euler(tmp_path, order):
    rng = np.random.default_rng(1)
    angles = np.round(rng.uniform(-170, 170, size=(4, 3)), 6)  # as written to the file
    chans = " ".join(f"{a}rotation" for a in order)
    rows = "\n".join(" ".join(f"{v:.6f}" for v in a) for a in angles)
    text = (f"HIERARCHY\nROOT r\n{{\n OFFSET 0 0 0\n CHANNELS 3 {chans}\n End Site\n {{\n"
            f"  OFFSET 1 2 3\n }}\n}}\nMOTION\nFrames: 4\nFrame Time: 0.1\n{rows}\n")
    bvh = read_bvh(_write(tmp_path, text))
    rot, _ = local_transforms(bvh)
    ref = Rotation.from_euler(order, angles, degrees=True).as_matrix()  # upper case: intrinsic
    np.testing.assert_allclose(rot[:, 0], ref, atol=1e-9)
    np.testing.assert_allclose(bvh_positions(bvh)[:, 1], ref @ np.array([1.0, 2.0, 3.0]), atol=1e-9)


def test_quaternion_round_trip_and_resampling_keeps_bone_lengths():
    rng = np.random.default_rng(0)
    mats = Rotation.random(200, random_state=3).as_matrix()
    np.testing.assert_allclose(quaternion_to_matrix(matrix_to_quaternion(mats)), mats, atol=1e-9)
    rot = Rotation.random(30 * 4, random_state=4).as_matrix().reshape(30, 4, 3, 3)
    trans = np.broadcast_to(rng.normal(size=(1, 4, 3)), (30, 4, 3)).copy()
    r2, t2 = resample_local(rot, trans, 30.0, 50.0)
    assert r2.shape == (49, 4, 3, 3)
    pos, _ = forward_kinematics([-1, 0, 1, 2], r2, t2)
    lengths = np.linalg.norm(pos[:, 1:] - pos[:, :-1], axis=-1)
    np.testing.assert_allclose(lengths, np.broadcast_to(np.linalg.norm(trans[0, 1:], axis=-1), lengths.shape),
                               rtol=1e-9)
    # Frames that fall on source frames are reproduced exactly (t = 0, 0.06 s = source 0 and 3).
    np.testing.assert_allclose(r2[0], rot[0], atol=1e-9)
    np.testing.assert_allclose(r2[5], rot[3], atol=1e-9)


@pytest.mark.parametrize("text, fragment", [
    ("not a bvh", "HIERARCHY"),
    (TINY.replace("Frames: 3", "Frames: 9"), "truncated"),
    (TINY.replace("Zrotation Xrotation Yrotation\n  JOINT", "Wrotation Xrotation Yrotation\n  JOINT"),
     "unknown channel"),
    (TINY.replace("Frame Time: 0.5", ""), "Frame Time"),
])
def test_malformed_files_raise_input_error(tmp_path, text, fragment):
    path = _write(tmp_path, text, "bad.bvh")
    with pytest.raises(InputError) as err:
        read_bvh(path)
    assert "bad.bvh" in str(err.value) and fragment in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        read_bvh(tmp_path / "nope.bvh")


@pytest.mark.parametrize("name, frames, fps, joints", [
    ("bvhtools_test.bvh", 7184, 30.0, 27),
    ("bvhtools_test2.bvh", 3945, 30.0, 27),
    ("bvhtools_test3.bvh", 3089, 24.0, 26),
])
def test_real_captures_parse_and_keep_rigid_bones(shared_dir, name, frames, fps, joints):
    bvh = read_bvh(shared_dir / "mocap" / name)
    assert bvh.num_frames == frames and bvh.num_joints == joints
    assert bvh.fps == pytest.approx(fps, rel=1e-3)
    pos = bvh_positions(bvh)
    assert pos.shape == (frames, joints, 3) and np.isfinite(pos).all()
    # Joints without position channels keep their offset length to the parent in every frame.
    rigid = [j for j, p in enumerate(bvh.parents)
             if p >= 0 and not any(c.endswith("position") for c in bvh.channels[j])]
    assert len(rigid) >= 8
    par = [bvh.parents[j] for j in rigid]
    lengths = np.linalg.norm(pos[:, rigid] - pos[:, par], axis=-1)
    np.testing.assert_allclose(lengths, np.broadcast_to(np.linalg.norm(bvh.offsets[rigid], axis=-1),
                                                        lengths.shape), rtol=1e-6, atol=1e-9)
    # Every bone (also those with location channels) keeps its length to within 1 %.
    child = [j for j, p in enumerate(bvh.parents) if p >= 0]
    all_len = np.linalg.norm(pos[:, child] - pos[:, [bvh.parents[j] for j in child]], axis=-1)
    moving = all_len.mean(0) > 1e-6
    assert (all_len.std(0)[moving] / all_len.mean(0)[moving]).max() < 0.01
