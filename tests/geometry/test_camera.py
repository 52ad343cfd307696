"""Camera geometry: round trips, numpy/torch agreement, projection model, H36M data."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pose3d_cli.geometry.camera import (
    WILD_CAMERA_QUATERNION,
    CameraIntrinsics,
    camera_to_world,
    camera_to_world_wild,
    ground_poses,
    image_coordinates,
    normalize_screen_coordinates,
    project_to_2d,
    project_to_2d_linear,
    qinverse,
    qrot,
    world_to_camera,
)
from pose3d_cli.geometry.h36m import h36m_cameras, h36m_intrinsics

finite = st.floats(-5, 5, allow_nan=False, width=32)
points = arrays(np.float64, st.tuples(st.integers(1, 6), st.just(3)), elements=finite)


def _quat(rng):
    q = rng.normal(size=4)
    return q / np.linalg.norm(q)


def _rotmat(q):
    w, x, y, z = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


@settings(max_examples=40, deadline=None)
@given(points, st.integers(0, 10_000))
def test_world_camera_world_round_trip(x, seed):
    rng = np.random.default_rng(seed)
    q, t = _quat(rng), rng.normal(size=3)
    cam = world_to_camera(x, q, t)
    np.testing.assert_allclose(camera_to_world(cam, q, t), x, atol=1e-9)
    # distances are preserved by a rigid transform
    np.testing.assert_allclose(np.linalg.norm(cam - cam[:1], axis=-1), np.linalg.norm(x - x[:1], axis=-1), atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_qrot_matches_rotation_matrix_and_inverse(seed):
    rng = np.random.default_rng(seed)
    q, v = _quat(rng), rng.normal(size=(5, 3))
    np.testing.assert_allclose(qrot(q, v), v @ _rotmat(q).T, atol=1e-12)
    np.testing.assert_allclose(qrot(qinverse(q), qrot(q, v)), v, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, (4, 2), elements=st.floats(0, 2000, allow_nan=False)),
       st.integers(16, 4000), st.integers(16, 4000))
def test_screen_normalisation_round_trip(px, w, h):
    norm = normalize_screen_coordinates(px, w, h)
    np.testing.assert_allclose(image_coordinates(norm, w, h), px, atol=1e-6)


def test_screen_normalisation_convention():
    w, h = 1000, 500
    corners = np.array([[0, 0], [1000, 500], [500, 250]], float)
    np.testing.assert_allclose(normalize_screen_coordinates(corners, w, h),
                               [[-1, -0.5], [1, 0.5], [0, 0]])


def test_numpy_and_torch_agree():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 17, 3)).astype(np.float32)
    q, t = _quat(rng).astype(np.float32), rng.normal(size=3).astype(np.float32)
    a = world_to_camera(x, q, t)
    b = world_to_camera(torch.from_numpy(x), q, t)
    assert isinstance(b, torch.Tensor)
    np.testing.assert_allclose(b.numpy(), a, atol=1e-5)
    x_cam = a + np.array([0, 0, 5], np.float32)
    cam = h36m_intrinsics()[0].to_vector()[None].repeat(3, 0)
    np.testing.assert_allclose(project_to_2d(torch.from_numpy(x_cam), torch.from_numpy(cam)).numpy(),
                               project_to_2d(x_cam, cam), atol=1e-6)


def test_projection_without_distortion_is_pinhole_and_matches_linear():
    intr = CameraIntrinsics(center_px=(500, 400), focal_px=(1000, 1000), width=1000, height=800)
    vec = intr.to_vector()[None]
    pts = np.array([[[0.2, -0.1, 4.0], [0.0, 0.0, 2.0], [-0.5, 0.3, 3.0]]])
    px = image_coordinates(project_to_2d(pts, vec), 1000, 800)
    expected = 1000 * pts[..., :2] / pts[..., 2:] + np.array([500, 400])
    np.testing.assert_allclose(px, expected, atol=1e-6)
    np.testing.assert_allclose(project_to_2d_linear(pts, vec), project_to_2d(pts, vec), atol=1e-9)


def test_distortion_hand_checked():
    """u = (0.1, 0.2): r² = 0.05, radial = 1 + k1 r² + k2 r⁴ + k3 r⁶, tangential = p·u."""
    k, p = (0.1, 0.01, 0.001), (0.002, -0.003)
    vec = np.array([[1, 1, 0, 0, *k, *p]], float)
    out = project_to_2d(np.array([[[0.1, 0.2, 1.0]]]), vec)[0, 0]
    r2 = 0.05
    radial = 1 + 0.1 * r2 + 0.01 * r2 ** 2 + 0.001 * r2 ** 3
    tan = 0.002 * 0.1 - 0.003 * 0.2
    expected = np.array([0.1, 0.2]) * (radial + tan) + np.array(p) * r2
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_h36m_cameras_as_named_data():
    intr = h36m_intrinsics()
    assert [c.id for c in intr] == ["54138969", "55011271", "58860488", "60457274"]
    cams = h36m_cameras("S9")
    assert len(cams) == 4
    # translations are metres: the cameras stand a few metres from the capture centre
    assert all(2 < np.linalg.norm(c.translation_m) < 8 for c in cams)
    vec = intr[0].to_vector()
    assert vec.shape == (9,) and abs(vec[0] - 1145.0494384765625 / 1000 * 2) < 1e-6
    # a point at the world origin (capture volume centre) is seen in front of every camera
    for c in cams:
        assert c.world_to_camera(np.zeros(3))[2] > 2
        px = c.project_px(c.world_to_camera(np.zeros((1, 3))))
        assert 0 < px[0, 0] < c.intrinsics.width and 0 < px[0, 1] < c.intrinsics.height


def test_wild_world_frame_and_grounding():
    # a standing pose in camera coordinates (y down) ends up head-up (z up) in the world frame
    head_cam, feet_cam = np.array([0, -0.8, 0]), np.array([0, 0.9, 0])
    world = camera_to_world_wild(np.stack([head_cam, feet_cam])[None].astype(np.float32))
    assert world[0, 0, 2] > world[0, 1, 2]
    poses = np.random.default_rng(1).normal(size=(10, 17, 3)).astype(np.float32)
    g = ground_poses(poses)
    assert abs(g[..., 2].min()) < 1e-6
    np.testing.assert_allclose(g[..., :2], poses[..., :2])
    assert WILD_CAMERA_QUATERNION.shape == (4,)


def test_shape_errors_say_what_was_expected():
    with pytest.raises(ValueError, match="expected last dimension 3"):
        qrot(np.array([1.0, 0, 0, 0]), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="expected last dimension 9"):
        project_to_2d(np.ones((1, 2, 3)), np.ones((1, 8)))
