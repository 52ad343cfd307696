"""Evaluation protocols: hand-checked values and properties."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from pose3d_cli.metrics import (
    mean_velocity_error,
    mpjpe,
    n_mpjpe,
    p_mpjpe,
    procrustes_align,
    weighted_mpjpe,
)


def _poses(seed, n=8):
    return np.random.default_rng(seed).normal(size=(n, 17, 3))


def test_hand_checked_mpjpe():
    target = np.zeros((1, 2, 3))
    pred = np.array([[[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]]])  # errors 5 and 1
    assert mpjpe(pred, target) == pytest.approx(3.0)
    assert weighted_mpjpe(pred, target, np.array([2.0])) == pytest.approx(6.0)
    w = weighted_mpjpe(pred, target, np.array([[1.0, 0.0]]))  # per-joint weights broadcast
    assert w == pytest.approx(2.5)


def test_zero_for_identical_inputs():
    x = _poses(0)
    assert mpjpe(x, x) == 0
    assert p_mpjpe(x, x) < 1e-12
    assert n_mpjpe(x, x) < 1e-12
    assert mean_velocity_error(x, x) == 0


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.2, 5.0))
def test_p_mpjpe_invariant_to_similarity_and_below_mpjpe(seed, scale):
    rng = np.random.default_rng(seed)
    target = _poses(seed)
    pred = target + rng.normal(scale=0.05, size=target.shape)
    rot = Rotation.random(random_state=seed).as_matrix()
    moved = scale * pred @ rot.T + rng.normal(size=3)
    assert p_mpjpe(moved, target) == pytest.approx(p_mpjpe(pred, target), rel=1e-6, abs=1e-9)
    assert p_mpjpe(pred, target) <= mpjpe(pred, target) + 1e-12
    assert p_mpjpe(moved, target) <= n_mpjpe(moved, target) + 1e-12
    assert n_mpjpe(scale * pred, target) <= mpjpe(scale * pred, target) + 1e-12


def test_procrustes_never_reflects():
    target = _poses(3, n=1)
    mirrored = target * np.array([-1, 1, 1])
    aligned = procrustes_align(mirrored, target)
    # a reflection cannot be undone by a rotation: the error stays clearly positive
    assert np.mean(np.linalg.norm(aligned - target, axis=-1)) > 0.1


def test_n_mpjpe_hand_checked():
    target = _poses(4)
    assert n_mpjpe(0.5 * target, target) < 1e-12
    assert mpjpe(0.5 * target, target) > 0.1


def test_velocity_error_hand_checked():
    target = np.zeros((3, 1, 3))
    pred = np.zeros((3, 1, 3))
    pred[1, 0, 0] = 1.0  # velocity error: |+1| at step 1, |-1| at step 2
    assert mean_velocity_error(pred, target) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 2 frames"):
        mean_velocity_error(pred[:1], target[:1])


def test_torch_inputs_give_differentiable_tensors():
    target = torch.from_numpy(_poses(5))
    pred = (target + 0.1).requires_grad_(True)
    loss = mpjpe(pred, target)
    assert isinstance(loss, torch.Tensor)
    loss.backward()
    assert pred.grad is not None
    np.testing.assert_allclose(float(loss.detach()), mpjpe(pred.detach().numpy(), target.numpy()), rtol=1e-10)
    np.testing.assert_allclose(float(n_mpjpe(pred.detach(), target)), n_mpjpe(pred.detach().numpy(), target.numpy()), rtol=1e-9)
    assert p_mpjpe(pred.detach(), target) == pytest.approx(p_mpjpe(pred.detach().numpy(), target.numpy()))


def test_shape_mismatch():
    with pytest.raises(ValueError, match="shapes differ"):
        mpjpe(np.zeros((2, 17, 3)), np.zeros((2, 16, 3)))
