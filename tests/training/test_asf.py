"""Acclaim ASF/AMC reading: a tiny skeleton with known geometry written by the test."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pose3d_cli.errors import InputError
from pose3d_cli.geometry.kinematics import forward_kinematics, resample_local
from pose3d_cli.training.asf import _euler, read_asf_amc

ASF = """# tiny
:version 1.10
:units
  length 1
  angle deg
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name a
     direction 0 1 0
     length 2
     axis 0 0 90 XYZ
     dof rx
  end
  begin
     id 2
     name b
     direction 1 0 0
     length 1
     axis 0 0 0 XYZ
  end
:hierarchy
  begin
    root a
    a b
  end
"""
AMC = """:FULLY-SPECIFIED
:DEGREES
1
root 1 2 3 0 0 0
a 0
2
root 0 0 0 0 0 90
a 90
"""


def test_tiny_skeleton_known_geometry(tmp_path):
    (tmp_path / "s.asf").write_text(ASF)
    (tmp_path / "m.amc").write_text(AMC)
    motion = read_asf_amc(tmp_path / "s.asf", tmp_path / "m.amc", fps=60)
    assert motion.fps == 60 and motion.num_frames == 2
    assert motion.joint_names == ("root", "a_start", "a", "b_start", "b")
    pos, _ = forward_kinematics(motion.parents, motion.rot, motion.trans)
    a, b = motion.joint_names.index("a"), motion.joint_names.index("b")
    # Frame 1: rest pose at (1, 2, 3): a's end 2 up, b's end 1 along +x from there.
    np.testing.assert_allclose(pos[0, a], [1, 4, 3], atol=1e-9)
    np.testing.assert_allclose(pos[0, b], [2, 4, 3], atol=1e-9)
    # Frame 2: root turned 90° about z; a's rx = 90° acts about its axis frame's x, which
    # (axis 0 0 90) is the world y: it spins a about itself and turns b's +x into −z.
    np.testing.assert_allclose(pos[1, a], [-2, 0, 0], atol=1e-9)
    np.testing.assert_allclose(pos[1, b], [-2, 0, -1], atol=1e-9)
    # Bone lengths survive resampling to 50 Hz.
    r, t = resample_local(motion.rot, motion.trans, 60.0, 50.0)
    p, _ = forward_kinematics(motion.parents, r, t)
    np.testing.assert_allclose(np.linalg.norm(p[:, b] - p[:, a], axis=-1), 1.0, rtol=1e-9)


@pytest.mark.parametrize("order", ["XYZ", "ZYX", "YXZ"])
def test_euler_applies_in_written_order(order):
    angles = np.array([[10.0, -35.0, 70.0], [120.0, 5.0, -90.0]])
    ref = Rotation.from_euler(order.lower(), angles, degrees=True).as_matrix()  # extrinsic
    np.testing.assert_allclose(_euler(angles, order), ref, atol=1e-12)


def test_mismatched_motion_is_an_input_error(tmp_path):
    (tmp_path / "s.asf").write_text(ASF)
    (tmp_path / "bad.amc").write_text(":DEGREES\n1\nroot 0 0 0 0 0 0\na 1 2\n")
    with pytest.raises(InputError, match="bad.amc.*a has 2 values"):
        read_asf_amc(tmp_path / "s.asf", tmp_path / "bad.amc")
    (tmp_path / "broken.asf").write_text(":bonedata\n begin\n name x\n end\n")
    with pytest.raises(InputError, match="broken.asf"):
        read_asf_amc(tmp_path / "broken.asf", tmp_path / "bad.amc")
