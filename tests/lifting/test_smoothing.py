"""Smoothing: the Butterworth filter is zero-phase and low-pass, the one-euro filter is causal
and adapts to speed, runs of presence are filtered apart, and on real motion with noise both
lower the velocity error."""

from __future__ import annotations

import numpy as np
import pytest

from pose3d_cli.errors import InputError
from pose3d_cli.lifting.smoothing import (
    DEFAULT_CUTOFF_HZ,
    SmoothOptions,
    butterworth_filtfilt,
    one_euro,
    parse_smooth,
    smooth_poses,
)

FPS = 50.0


def _sine(freq_hz, n=500, amp=0.1):
    t = np.arange(n) / FPS
    return amp * np.sin(2 * np.pi * freq_hz * t)


def test_butterworth_is_zero_phase_and_low_pass():
    slow, fast = _sine(1.0), _sine(20.0)
    out = butterworth_filtfilt((slow + fast)[:, None], FPS, 6.0)[:, 0]
    mid = slice(50, -50)  # away from the padded ends
    np.testing.assert_allclose(out[mid], slow[mid], atol=2e-3)  # 1 Hz passes, no lag; 20 Hz gone
    lag = np.argmax(np.correlate(out[mid], slow[mid], "full")) - (len(slow[mid]) - 1)
    assert lag == 0
    # −6 dB at the cutoff after the two passes.
    at_cut = butterworth_filtfilt(_sine(6.0, 2000)[:, None], FPS, 6.0)[500:-500, 0]
    assert np.abs(at_cut).max() / 0.1 == pytest.approx(0.5, abs=0.02)
    with pytest.raises(InputError, match="Nyquist"):
        butterworth_filtfilt(slow[:, None], 10.0, 6.0)
    assert butterworth_filtfilt(np.ones((3, 1)), FPS, 6.0).shape == (3, 1)  # short runs work


def test_one_euro_is_causal_and_adapts_to_speed():
    rng = np.random.default_rng(0)
    still = rng.normal(0, 0.01, (300, 1, 3))
    out = one_euro(still, FPS, 1.0, 0.5)
    assert out[50:].std() < 0.3 * still[50:].std()  # jitter of a still point is damped hard
    changed = still.copy()
    changed[200:] += 1.0
    np.testing.assert_array_equal(one_euro(changed, FPS, 1.0, 0.5)[:200], out[:200])  # the future is unseen
    # A fast move: with beta > 0 the filter follows it with less lag.
    ramp = np.zeros((100, 1, 3))
    ramp[:, 0, 0] = np.clip((np.arange(100) - 20) / 20.0, 0, 1) * 2.0
    lag0 = np.abs(one_euro(ramp, FPS, 1.0, 0.0) - ramp).max()
    lag1 = np.abs(one_euro(ramp, FPS, 1.0, 2.0) - ramp).max()
    assert lag1 < 0.5 * lag0


def test_runs_are_filtered_apart_and_gaps_stay():
    rng = np.random.default_rng(1)
    poses = rng.normal(0, 0.01, (120, 2, 3)) + _sine(1.0, 120)[:, None, None]
    poses[50:60] = np.nan
    for method in ("butterworth", "one-euro"):
        out = smooth_poses(poses, method, fps=FPS)
        assert np.isnan(out[50:60]).all() and np.isfinite(out[:50]).all() and np.isfinite(out[60:]).all()
        other = poses.copy()
        other[60:] += 5.0
        np.testing.assert_allclose(smooth_poses(other, method, fps=FPS)[:50], out[:50])


def test_pose_sequence(tmp_path):
    from pose3d_cli.io.pose_file import PoseSequence
    from pose3d_cli.skeleton import H36M17

    rng = np.random.default_rng(2)
    t = 100
    clean = np.broadcast_to(np.stack([_sine(1.0, t)] * 3, -1)[None, :, None, :], (2, t, 17, 3))
    world = clean + rng.normal(0, 0.01, (2, t, 17, 3))
    present = np.ones((2, t), bool)
    present[1, 30:] = False
    world[~present] = np.nan
    kp = rng.normal(500, 10, (2, t, 17, 2)).astype(np.float32)
    seq = PoseSequence(person_ids=np.array([3, 7]), people_present=present,
                       people_poses_3d_camera=world.astype(np.float32), people_poses_3d_world=world.astype(np.float32),
                       people_keypoints_px=kp, people_keypoint_scores=np.ones((2, t, 17), np.float32),
                       people_filled_frames=np.zeros((2, t), bool), joint_names=H36M17.joint_names,
                       layout="h36m17", keypoint_layout="coco17", fps=FPS, width=1000, height=1000,
                       people_trajectory_world=world[:, :, 0].astype(np.float32))
    out = smooth_poses(seq, "butterworth", 4.0)
    assert out.people_poses_3d_world.dtype == np.float32
    np.testing.assert_array_equal(out.people_keypoints_px, seq.people_keypoints_px)  # 2D untouched
    assert np.isnan(out.people_poses_3d_world[1, 30:]).all()
    np.testing.assert_allclose(out.people_poses_3d_world[0], smooth_poses(world[0], "butterworth", 4.0, fps=FPS),
                               atol=1e-6)
    np.testing.assert_allclose(out.people_poses_3d_camera, out.people_poses_3d_world, atol=1e-6)
    np.testing.assert_allclose(out.people_trajectory_world[0], out.people_poses_3d_world[0, :, 0], atol=1e-6)
    assert np.abs(out.poses_3d_world - clean[0]).mean() < 0.5 * np.abs(seq.poses_3d_world - clean[0]).mean()


def test_parse_smooth():
    assert parse_smooth(None) is None and parse_smooth("off") is None
    assert parse_smooth("butterworth") == SmoothOptions("butterworth", DEFAULT_CUTOFF_HZ["butterworth"])
    assert parse_smooth("butterworth:4").cutoff_hz == 4.0
    o = parse_smooth("one-euro:1.5:0.2")
    assert (o.method, o.cutoff_hz, o.beta) == ("one-euro", 1.5, 0.2)
    assert "zero-phase" in parse_smooth("butter:6").describe()
    for bad, msg in (("median", "unknown filter"), ("butterworth:x", "numbers"), ("butterworth:4:5", "too many"),
                     ("butterworth:-1", "positive")):
        with pytest.raises(InputError, match=msg):
            parse_smooth(bad)


def test_real_motion_with_noise(shared_dir):
    """Real captured motion plus white noise of 15 mm: both filters, at their defaults, lower
    the velocity error a lot and the position error too (the zero-phase filter more: it sees
    the future)."""
    from pose3d_cli.metrics import mean_velocity_error, mpjpe
    from pose3d_cli.training.mocap import load_mocap

    truth = load_mocap(shared_dir / "mocap" / "bvhtools_test2.bvh", max_seconds=20).h36m17_m
    noisy = truth + np.random.default_rng(3).normal(0, 0.015, truth.shape)
    for method, vel_factor in (("butterworth", 0.2), ("one-euro", 0.6)):
        sm = smooth_poses(noisy, method, fps=FPS)
        assert mean_velocity_error(sm, truth) < vel_factor * mean_velocity_error(noisy, truth)
        assert mpjpe(sm, truth) < 0.8 * mpjpe(noisy, truth)


def test_default_smoothing_fits_slow_clips():
    """A 10 fps clip (vtest.avi) cannot take the 6 Hz default: it is lowered to 40 % of the rate;
    a cutoff the user names is kept (and refused when it cannot work)."""
    from pose3d_cli.errors import InputError
    from pose3d_cli.lifting.smoothing import smooth_poses, smoothing_for

    assert smoothing_for("default", causal=False, fps=50.0).cutoff_hz == 6.0
    slow = smoothing_for("default", causal=False, fps=10.0)
    assert slow.method == "butterworth" and slow.cutoff_hz == 4.0
    assert smoothing_for("default", causal=True, fps=10.0).method == "one-euro"
    assert smoothing_for("off", causal=False, fps=10.0) is None
    poses = np.random.default_rng(0).normal(size=(30, 17, 3))
    assert np.isfinite(smooth_poses(poses, slow, fps=10.0)).all()
    with pytest.raises(InputError, match="Nyquist"):
        smooth_poses(poses, smoothing_for("butterworth:6", causal=False, fps=10.0), fps=10.0)
