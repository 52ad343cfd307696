"""The one path from keypoints to poses: resampling, runs of presence, every person lifted."""

import numpy as np
import pytest

from pose3d_cli.lifting.sequence import interp_time, present_runs, resample_times


def test_resampling_to_50_fps_and_back_round_trips():
    t_src, t_up = resample_times(90, 30.0, 50.0)
    assert len(t_up) == 150 and t_up[0] == 0 and t_up[-1] == pytest.approx(t_src[-1])
    assert np.diff(t_up[:-1]) == pytest.approx(0.02)
    x = np.stack([np.sin(2 * np.pi * 0.7 * t_src), np.cos(2 * np.pi * 0.4 * t_src)], -1)[:, None]
    up = interp_time(x, t_src, t_up)
    assert up.shape == (150, 1, 2)
    np.testing.assert_allclose(up[:, 0, 0], np.sin(2 * np.pi * 0.7 * t_up), atol=0.01)
    np.testing.assert_allclose(interp_time(up, t_up, t_src), x, atol=0.01)
    np.testing.assert_array_equal(interp_time(x, t_src, t_src), x)


def test_present_runs():
    assert present_runs(np.array([0, 1, 1, 0, 1, 0, 0, 1], bool)) == [(1, 3), (4, 5), (7, 8)]
    assert present_runs(np.zeros(4, bool)) == []
    assert present_runs(np.ones(3, bool)) == [(0, 3)]


def _walker(t: int = 30, x0: float = 300.0):
    """COCO-17 keypoints of a standing figure drifting right, in pixels of a 640x480 frame."""
    base = np.array([[0, -160], [-8, -168], [8, -168], [-16, -164], [16, -164], [-40, -120], [40, -120],
                     [-50, -60], [50, -60], [-55, 0], [55, 0], [-25, 0], [25, 0], [-28, 90], [28, 90],
                     [-30, 180], [30, 180]], np.float32)
    drift = np.linspace(0, 40, t, dtype=np.float32)[:, None, None] * np.array([1.0, 0.0], np.float32)
    return base[None] + np.array([x0, 240.0], np.float32) + drift


def test_every_person_lifted_over_their_own_runs(tiny_ckpt):
    """Two people; the second absent for a long stretch: their poses are NaN exactly there, and
    each present run is lifted on its own (its poses equal lifting the run alone)."""
    from pose3d_cli.io.keypoint_file import KeypointTrack, PeopleTracks
    from pose3d_cli.lifting.checkpoint import load_checkpoint
    from pose3d_cli.lifting.sequence import LiftOptions, lift_keypoints, lift_people

    ck = load_checkpoint(tiny_ckpt)
    t = 60
    a = _walker(t, 200.0)
    b = _walker(t, 420.0)
    b[20:45] = np.nan  # away for 25 frames (1 s at 25 fps)
    people = PeopleTracks((KeypointTrack(a, None, 640, 480, fps=25.0, person_id=1),
                           KeypointTrack(b, None, 640, 480, fps=25.0, person_id=5)), main=0)
    seq = lift_people(people, ck, options=LiftOptions(flip=True))
    assert seq.num_people == 2 and list(seq.person_ids) == [1, 5]
    assert seq.people_present[0].all() and not seq.people_present[1, 20:45].any()
    assert np.isnan(seq.people_poses_3d_world[1, 20:45]).all()
    assert np.isfinite(seq.people_poses_3d_camera[1, :20]).all() and np.isfinite(seq.people_poses_3d_camera[1, 45:]).all()
    alone = lift_keypoints(b[45:], ck, width=640, height=480, fps=25.0)
    np.testing.assert_allclose(seq.people_poses_3d_camera[1, 45:], alone, atol=1e-5)
    # World frame: each person stands on z = 0.
    for p in range(2):
        assert np.nanmin(seq.people_poses_3d_world[p, ..., 2]) == pytest.approx(0.0, abs=1e-6)


def test_nobody_in_view_is_an_error(tiny_ckpt):
    from pose3d_cli.errors import NoPersonError
    from pose3d_cli.io.keypoint_file import KeypointTrack
    from pose3d_cli.lifting.checkpoint import load_checkpoint
    from pose3d_cli.lifting.sequence import lift_people

    k = np.full((10, 17, 2), np.nan, np.float32)
    with pytest.raises(NoPersonError, match="nobody"):
        lift_people(KeypointTrack(k, None, 64, 64), load_checkpoint(tiny_ckpt))
