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


def test_builtin_trajectory_follows_a_real_walk(shared_dir):
    """The shipped built-in's trajectory model on a real capture seen from the side: the root's
    left-right travel and its depth come out right (depth of the canonical camera)."""
    from pose3d_cli.training.mocap import load_mocap
    from pose3d_cli.training.sources import COCO_FROM_POINTS, clip_from_mocap
    from pose3d_cli.zoo import load_lifter

    torch.set_num_threads(1)
    ck, _ = load_lifter(None)
    if ck.model_traj is None:
        pytest.skip("the built-in in this tree has no trajectory model")
    clip = clip_from_mocap(load_mocap(shared_dir / "mocap" / "bvhtools_test2.bvh", max_seconds=40), "t")
    p = clip.points_m[1000:1400].astype(np.float64)
    root = p[:, 0, :2]
    d = (root[-1] - root[0]) / np.linalg.norm(root[-1] - root[0])
    side = np.array([-d[1], d[0], 0.0])
    centre = np.r_[root.mean(0), 0.0] + side * 5.0 + np.array([0.0, 0.0, 1.2])
    fwd = -side
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    rot = np.stack([right, np.cross(fwd, right), fwd])
    cam = (p - centre) @ rot.T
    focal = 2.0  # the canonical camera: predicted depth is true depth
    kp = (cam[:, list(COCO_FROM_POINTS), :2] / cam[:, list(COCO_FROM_POINTS), 2:] * focal).astype(np.float32)
    traj = predict_trajectory(ck.model_traj, kp, layout_in=ck.layout_in)
    true = cam[:, 0]
    travel_pred = traj[-1, 0] - traj[0, 0]
    travel_true = true[-1, 0] - true[0, 0]
    assert abs(travel_true) > 1.5
    assert travel_pred == pytest.approx(travel_true, rel=0.15)
    assert np.median(np.abs(traj[:, 2] - true[:, 2]) / true[:, 2]) < 0.15
