"""The trajectory model's inference: one root position per frame, flip negates x only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pose3d_cli.errors import InputError
from pose3d_cli.lifting.model import ArchSpec, TemporalModel
from pose3d_cli.lifting.predict import predict
from pose3d_cli.lifting.trajectory import depth_for_focal, predict_trajectory
from pose3d_cli.skeleton import COCO17


@pytest.fixture(scope="module")
def traj_model() -> TemporalModel:
    torch.manual_seed(0)
    m = TemporalModel(ArchSpec(filter_widths=(3, 3), channels=16, joints_out=1))
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for bn in [m.expand_bn, *m.layers_bn]:
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 2.0)
    return m.eval()


def _kpts(t: int = 40) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.uniform(-0.5, 0.5, (1, 17, 2))
    drift = np.linspace(0, 0.3, t)[:, None, None] * np.array([1.0, 0.2])
    return (base + drift + rng.normal(0, 0.01, (t, 17, 2))).astype(np.float32)


def test_one_root_per_frame_and_flip_negates_x_only(traj_model):
    kp = _kpts()
    plain = predict_trajectory(traj_model, kp, flip=False)
    assert plain.shape == (40, 3) and plain.dtype == np.float32
    mirrored = kp.copy()
    mirrored[..., 0] *= -1
    mirrored = mirrored[:, COCO17.flip_permutation()]
    back = predict_trajectory(traj_model, mirrored, flip=False)
    back[:, 0] *= -1
    both = predict_trajectory(traj_model, kp, flip=True)
    np.testing.assert_allclose(both, (plain + back) / 2, atol=1e-5)
    # The same numbers as the one predict() with a one-joint output.
    from pose3d_cli.lifting.trajectory import ROOT_LAYOUT

    np.testing.assert_allclose(plain, predict(traj_model, kp, layout_in="coco17", layout_out=ROOT_LAYOUT,
                                              flip=False)[:, 0])


def test_a_pose_model_is_refused():
    pose = TemporalModel(ArchSpec(filter_widths=(3,), channels=8)).eval()
    with pytest.raises(InputError, match="one output joint"):
        predict_trajectory(pose, _kpts())


def test_depth_for_focal_keeps_the_image_position():
    tr = np.array([[0.5, -0.2, 4.0], [1.0, 0.1, 8.0]])
    out = depth_for_focal(tr, 3.0, 2.0)
    np.testing.assert_allclose(out[:, 2], tr[:, 2] * 1.5)
    np.testing.assert_allclose(out[:, :2] / out[:, 2:] * 3.0, tr[:, :2] / tr[:, 2:] * 2.0)
    with pytest.raises(InputError):
        depth_for_focal(tr, 0.0, 2.0)
