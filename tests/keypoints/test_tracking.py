"""Person selection, IoU linking and gap filling on hand-made detections (pure numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from pose3d_cli.errors import NoPersonError
from pose3d_cli.keypoints.base import (
    Detection,
    box_from_keypoints,
    detections_from_arrays,
)
from pose3d_cli.keypoints.tracking import (
    box_iou,
    fill_gaps,
    link_tracks,
    select_main_person,
)


def _person(cx: float, cy: float, score: float, kp_score: float = 0.9) -> Detection:
    """A stick figure 100 px tall centred at (cx, cy)."""
    rng = np.random.default_rng(int(cx * 7 + cy))
    kpts = np.stack([cx + rng.uniform(-20, 20, 17), cy + np.linspace(-50, 50, 17), np.full(17, kp_score)], 1)
    return Detection(np.array([cx - 25, cy - 55, cx + 25, cy + 55]), score, kpts)


def test_box_iou():
    a = np.array([0, 0, 10, 10.0])
    got = box_iou(a, np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [3, 3, 3, 3.0]]))
    np.testing.assert_allclose(got, [1.0, 50 / 150, 0.0, 0.0])


def test_main_person_does_not_jump_to_a_higher_scoring_stranger():
    """A walker seen in 40 frames beats a bystander who scores higher but only in 5 frames."""
    frames = []
    for t in range(40):
        dets = [_person(100 + 3 * t, 200, 0.8)]
        if 20 <= t < 25:
            dets.append(_person(400, 200, 0.99))
        if t in (10, 11):  # the walker is missed twice
            dets = dets[1:]
        frames.append(dets)
    person = select_main_person(frames, max_gap=5)
    assert person.num_tracks == 2
    assert person.present.sum() == 38 and not person.present[10] and not person.present[11]
    centres = (person.boxes[:, 0] + person.boxes[:, 2]) / 2
    ok = person.present
    np.testing.assert_allclose(centres[ok], (100 + 3 * np.arange(40))[ok])


def test_link_tracks_keeps_people_apart_and_respects_max_gap():
    frames = [[_person(100, 100, 0.9), _person(300, 100, 0.9)] for _ in range(3)] + [[]] * 4 + \
             [[_person(100, 100, 0.9)]]
    assert len(link_tracks(frames, max_gap=10)) == 2
    assert len(link_tracks(frames, max_gap=2)) == 3  # after a long gap a new track starts


def test_fill_gaps_interpolates_and_holds_edges():
    t = 10
    kpts = np.zeros((t, 17, 3), np.float32)
    kpts[..., 0] = np.arange(t)[:, None] * 10.0
    kpts[..., 1] = 5.0
    kpts[..., 2] = 0.9
    present = np.ones(t, bool)
    present[[0, 4, 5, 9]] = False
    kpts[7, 3, 2] = 0.1  # one low-score joint
    kpts[7, 3, 0] = 999.0  # … with a wild value that must not survive
    out = fill_gaps(kpts, present, min_score=0.3)
    np.testing.assert_array_equal(out.filled_frames, ~present)
    assert out.filled_joints[7, 3] and out.filled_joints[0].all() and not out.filled_joints[7, 2]
    np.testing.assert_allclose(out.keypoints_px[4:6, 0, 0], [40, 50])  # interpolated
    assert out.keypoints_px[0, 0, 0] == 10 and out.keypoints_px[9, 0, 0] == 80  # edges held
    assert out.keypoints_px[7, 3, 0] == pytest.approx(70)
    assert out.scores[7, 3] == 0 and out.scores[7, 2] == pytest.approx(0.9)
    assert np.isfinite(out.keypoints_px).all()


def test_nobody_found_is_a_clear_error():
    with pytest.raises(NoPersonError, match="clip.mp4: no person found in any of its 5 frames"):
        select_main_person([[] for _ in range(5)], source="clip.mp4")


def test_detections_from_arrays_sorts_and_filters():
    boxes = np.array([[0, 0, 10, 10], [5, 5, 20, 20], [1, 1, 2, 2]], np.float32)
    kp = np.random.default_rng(0).uniform(0, 1, (3, 17, 3)).astype(np.float32)
    dets = detections_from_arrays(boxes, np.array([0.6, 0.9, 0.2]), kp, min_box_score=0.5)
    assert [d.box_score for d in dets] == pytest.approx([0.9, 0.6])
    np.testing.assert_array_equal(dets[0].keypoints, kp[1])
    box = box_from_keypoints(np.array([[10, 20], [30, 60], [500, 500]]), np.array([1, 1, 0]), min_score=0.5)
    np.testing.assert_allclose(box, [8, 16, 32, 64])
