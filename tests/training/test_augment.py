"""On-the-fly training windows: body resizing keeps bones rigid, cameras keep the person in frame,
the 2D and 3D agree, the trajectory target is the canonical camera's, noise is like a detector's."""

from __future__ import annotations

import numpy as np
import pytest

from pose3d_cli.skeleton import COCO17
from pose3d_cli.training.augment import (
    CANONICAL_FOCAL,
    DetectorNoise,
    OnlineSampler,
    ViewConfig,
    add_noise,
    apply_body,
    in_frame,
    rescale_bones,
    view_sequences,
)
from pose3d_cli.training.mocap import bone_lengths, load_mocap
from pose3d_cli.training.sources import POINT_PARENTS, Clip, clip_from_mocap


@pytest.fixture(scope="module")
def clips(shared_dir) -> list[Clip]:
    """Two real captures (first 30 s), as training clips."""
    out = []
    for name in ("bvhtools_test.bvh", "bvhtools_test3.bvh"):
        out.append(clip_from_mocap(load_mocap(shared_dir / "mocap" / name, max_seconds=30), "bvhtools"))
    return out


def _bones22(points: np.ndarray) -> np.ndarray:
    idx = [j for j, p in enumerate(POINT_PARENTS) if p >= 0]
    par = [POINT_PARENTS[j] for j in idx]
    return np.linalg.norm(points[..., idx, :] - points[..., par, :], axis=-1)


def test_rescale_bones_scales_each_group_and_stays_rigid(clips):
    pts = clips[0].points_m[None, :200].astype(np.float64).repeat(3, axis=0)  # (3, 200, 22, 3)
    rng = np.random.default_rng(0)
    factors = rng.uniform(0.85, 1.15, (3, 9))
    out = rescale_bones(pts, factors)
    before, after = _bones22(pts), _bones22(out)
    ratio = after / before
    # Every bone is scaled by one factor for the whole window (rigid over time) ...
    np.testing.assert_allclose(ratio, ratio[:, :1].repeat(200, axis=1), rtol=1e-9)
    # ... and left/right twins by the same one.
    from pose3d_cli.skeleton import H36M17

    for left, right in zip(H36M17.left, H36M17.right):
        np.testing.assert_allclose(ratio[:, :, left - 1], ratio[:, :, right - 1], rtol=1e-9)
    # Directions of bones do not change.
    idx = [j for j, p in enumerate(POINT_PARENTS) if p >= 0]
    par = [POINT_PARENTS[j] for j in idx]
    d0 = pts[..., idx, :] - pts[..., par, :]
    d1 = out[..., idx, :] - out[..., par, :]
    cos = (d0 * d1).sum(-1) / np.linalg.norm(d0, axis=-1) / np.linalg.norm(d1, axis=-1)
    assert cos.min() > 1 - 1e-9


def test_apply_body_resizes_and_keeps_feet_on_the_floor(clips):
    pts = clips[0].points_m[None, :300].astype(np.float64).repeat(2, axis=0)
    scale = np.array([1.7 / 1.75, 1.9 / 1.75])
    factors = np.ones((2, 9))
    factors[1, 1] = factors[1, 2] = 1.1  # longer thighs and shins
    out = apply_body(pts, scale, factors)
    feet = [3, 6]
    # The lower foot's height over the floor scales with the body: still on the floor.
    low0 = pts[..., feet, 2].min(-1)
    for b in range(2):
        low = out[b][..., feet, 2].min(-1)
        assert np.median(np.abs(low - low0[b] * scale[b])) < 0.02
    hip_h = np.median(out[..., 0, 2], axis=1)
    assert hip_h[1] > hip_h[0] * (1.9 / 1.7) * 1.05  # longer legs raise the hips further
    # Whole-body scaling only: bone lengths times the scale exactly.
    np.testing.assert_allclose(bone_lengths(out[0, :, :17]), bone_lengths(pts[0, :, :17]) * scale[0], rtol=1e-9)


def test_sampler_windows_agree_in_2d_and_3d(clips):
    sm = OnlineSampler(clips, receptive_field=27, outputs=8, batch_size=32, seed=3)
    batch, views = sm.make_batch(np.random.default_rng(0), 32)
    assert batch.kpts_2d.shape == (32, 34, 17, 2) and batch.pose_3d.shape == (32, 8, 17, 3)
    assert batch.traj_3d.shape == (32, 8, 1, 3)
    assert in_frame(views.kpts_clean, views.aspect).all()
    assert (views.pose_cam_m[..., 2] > 0.3).all()
    # The clean 2D is the projection of the 3D target (COCO shoulders, elbows, ... = H36M joints).
    first = sm.first_target
    pose = batch.pose_3d
    proj = pose[..., :2] / pose[..., 2:] * views.focal[:, None, None, None]
    clean = views.kpts_clean[:, first:first + 8]
    for coco, h36m in ((5, 11), (10, 16), (15, 6), (12, 1)):
        np.testing.assert_allclose(proj[:, :, h36m], clean[:, :, coco], atol=1e-5)
    # The trajectory target projects through the canonical camera onto the root's 2D position.
    tr = batch.traj_3d[:, :, 0]
    root2d = pose[:, :, 0, :2] / pose[:, :, 0, 2:] * views.focal[:, None, None]
    np.testing.assert_allclose(tr[..., :2] / tr[..., 2:] * CANONICAL_FOCAL, root2d, atol=1e-5)
    np.testing.assert_allclose(tr[..., :2], pose[:, :, 0, :2], atol=1e-6)  # x, y in metres kept
    # Bone lengths are constant over each window (a body of one size per window).
    bl = bone_lengths(views.pose_cam_m.astype(np.float64))
    assert (bl.std(axis=1) / bl.mean(axis=1)).max() < 0.08
    # Cameras differ: focal lengths and depths spread over the configured ranges.
    assert views.focal.max() / views.focal.min() > 1.5
    assert np.ptp(pose[:, 0, 0, 2]) > 2.0


def test_sampler_is_reproducible_and_resumable(clips):
    a = OnlineSampler(clips, receptive_field=9, outputs=4, batch_size=8, batches_per_epoch=3, seed=1)
    first = [b.kpts_2d for b in a]  # epoch 0
    second = [b.kpts_2d for b in a]  # epoch 1
    b = OnlineSampler(clips, receptive_field=9, outputs=4, batch_size=8, batches_per_epoch=3, seed=1)
    b.load_state_dict({"seed": 1, "epoch": 1, "batch_in_epoch": 0})
    again = [x.kpts_2d for x in b]
    for x, y in zip(second, again):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(first[0], second[0])


def test_noise_is_scaled_by_person_size_and_swaps_and_fills():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 60)
    base = np.stack([np.stack([np.full(17, 0.1) + 0.01 * i, np.linspace(-0.3, 0.3, 17)], -1)
                     for i in range(60)])[None].repeat(200, axis=0).astype(np.float32)
    base[..., 0] += np.linspace(-0.05, 0.05, 17)[None, None]
    small = base * 0.25
    quiet = DetectorNoise(outlier_p=0, swap_p=0, drop_p=0, frame_drop_p=0)
    big_err = np.abs(add_noise(base, np.random.default_rng(1), quiet) - base).mean()
    small_err = np.abs(add_noise(small, np.random.default_rng(1), quiet) - small).mean()
    assert big_err / small_err == pytest.approx(4.0, rel=0.05)
    # Swaps exchange left and right keypoints for a few frames.
    swaps = DetectorNoise(white=0, drift=0, outlier_p=0, swap_p=0.05, drop_p=0, frame_drop_p=0)
    out = add_noise(base, np.random.default_rng(2), swaps)
    swapped = np.isclose(out[..., COCO17.left, :], base[..., COCO17.right, :]).all(-1)
    assert 0 < swapped.mean() < 0.5
    # Dropped runs are filled by straight lines between their ends.
    drops = DetectorNoise(white=0, drift=0, outlier_p=0, swap_p=0, drop_p=0, frame_drop_p=1.0)
    line = base.copy()
    line[..., 1] += (t ** 2)[None, :, None].astype(np.float32)  # curved motion
    out = add_noise(line, np.random.default_rng(3), drops)
    changed = ~np.isclose(out, line).all(axis=(2, 3))
    assert changed.any(axis=1).mean() > 0.5
    d2 = np.diff(out[..., 1], 2, axis=1)
    flat = np.abs(d2) < 1e-5  # inside a filled run the second difference vanishes
    assert flat[changed[:, 1:-1]].mean() > 0.5
    del rng


def test_view_sequences_are_deterministic_and_in_frame(clips):
    a = view_sequences(clips, seed=5, views_per_segment=2, segment_frames=400, noise=DetectorNoise())
    b = view_sequences(clips, seed=5, views_per_segment=2, segment_frames=400, noise=DetectorNoise())
    assert len(a) == len(b) >= 4
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.kpts_norm, y.kpts_norm)
        assert in_frame(x.kpts_clean[None], np.array([x.aspect]))[0]
    exact = view_sequences(clips, seed=5, views_per_segment=2, segment_frames=400, noise=None)
    np.testing.assert_array_equal(exact[0].kpts_norm, exact[0].kpts_clean)
    np.testing.assert_allclose(exact[0].kpts_clean, a[0].kpts_clean)
    cfg = ViewConfig(distance_m=(3.0, 3.0), steep_p=0.0, elevation_deg=(0.0, 0.0))
    level = view_sequences(clips[:1], seed=1, views_per_segment=1, segment_frames=400, view=cfg)
    assert all(np.median(v.pose_cam_m[:, 0, 2]) < 6 for v in level)


def test_online_training_resumes_exactly(clips, tmp_path):
    """Two epochs in one go give the same weights as one epoch, then a resumed second one."""
    import torch

    from pose3d_cli.lifting.checkpoint import load_checkpoint
    from pose3d_cli.training.online import OnlineConfig, train_online

    torch.set_num_threads(1)
    cfg = OnlineConfig(filter_widths=(3, 3), channels=16, traj_channels=8, outputs=4, batch_size=4,
                       batches_per_epoch=2, epochs=2)
    a = train_online(cfg, clips, tmp_path / "a")
    from dataclasses import replace

    train_online(replace(cfg, epochs=1), clips, tmp_path / "b")
    b = train_online(cfg, clips, tmp_path / "b", resume=True)
    ka, kb = load_checkpoint(a.checkpoint), load_checkpoint(b.checkpoint)
    for (n, x), (_, y) in zip(ka.model_pos.state_dict().items(), kb.model_pos.state_dict().items()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=n)
    for (n, x), (_, y) in zip(ka.model_traj.state_dict().items(), kb.model_traj.state_dict().items()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=n)
    assert b.curves["epoch"] == [1, 2]
