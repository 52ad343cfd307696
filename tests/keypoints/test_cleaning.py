"""Cleaning a person's track: NaN joints of present frames filled, short absences bridged,
long ones and the frames before/after the person is seen left absent."""

import numpy as np
import pytest

from pose3d_cli.errors import NoPersonError
from pose3d_cli.keypoints.cleaning import clean_track


def test_clean_track_fills_gaps_and_rejects_a_never_seen_joint():
    from pose3d_cli.io.keypoint_file import KeypointTrack

    k = np.tile(np.arange(10, dtype=np.float32)[:, None, None], (1, 17, 2))
    k[3:5, 2] = np.nan
    tr = clean_track(KeypointTrack(k, np.ones((10, 17)), 100, 100))
    np.testing.assert_allclose(tr.keypoints_px[3:5, 2, 0], [3, 4])
    assert tr.filled_joints[3:5, 2].all() and not tr.filled_frames.any() and tr.scores[3, 2] == 0
    k[:, 5] = np.nan
    with pytest.raises(NoPersonError):
        clean_track(KeypointTrack(k, np.ones((10, 17)), 100, 100))


def test_short_absence_is_bridged_long_one_and_edges_stay_absent():
    from pose3d_cli.io.keypoint_file import KeypointTrack

    t = 40
    k = np.tile(np.arange(t, dtype=np.float32)[:, None, None], (1, 17, 2))
    k[:3] = np.nan  # not yet in view
    k[10:13] = np.nan  # 3 frames = 0.1 s at 30 fps: bridged
    k[20:35] = np.nan  # 0.5 s at 30 fps is 15 frames: bridged (at most MAX_GAP_S)
    k[37:] = np.nan  # left the frame
    tr = clean_track(KeypointTrack(k, np.ones((t, 17)), 100, 100, fps=30.0))
    present = np.isfinite(tr.keypoints_px).all(axis=(1, 2))
    assert not present[:3].any() and not present[37:].any()
    assert present[3:37].all()
    np.testing.assert_allclose(tr.keypoints_px[11, 0], [11, 11])
    assert tr.filled_frames[10:13].all() and tr.filled_frames[20:35].all() and not tr.filled_frames[:10].any()
    k2 = k.copy()
    k2[20:36] = np.nan  # 16 frames: longer than 0.5 s, stays absent
    tr2 = clean_track(KeypointTrack(k2, np.ones((t, 17)), 100, 100, fps=30.0))
    assert not np.isfinite(tr2.keypoints_px[20:36]).any()


def test_fill_every_frame_for_formats_without_gaps():
    from pose3d_cli.io.keypoint_file import KeypointTrack
    from pose3d_cli.keypoints.cleaning import fill_every_frame

    t = 30
    k = np.tile(np.arange(t, dtype=np.float32)[:, None, None], (1, 17, 2))
    k[:4] = np.nan
    k[10:25] = np.nan  # longer than 0.5 s at 25 fps: absent for clean_track
    tr = fill_every_frame(KeypointTrack(k, np.ones((t, 17)), 100, 100, fps=25.0))
    assert np.isfinite(tr.keypoints_px).all()
    np.testing.assert_allclose(tr.keypoints_px[:4, 0, 0], 4.0)  # held before the first
    np.testing.assert_allclose(tr.keypoints_px[17, 0, 0], 17.0)  # interpolated across the gap
    assert tr.filled_frames[:4].all() and tr.filled_frames[10:25].all() and not tr.filled_frames[5:10].any()
    assert (tr.scores[10:25] == 0).all()
