"""The multi-person tracker, person selection and gap filling on constructed detections (pure numpy)."""

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
    appearance_similarity,
    box_iou,
    fill_gaps,
    main_person_index,
    select_main_person,
    track_people,
)


def _person(cx: float, cy: float, score: float = 0.9, h: float = 100.0, kp_score: float = 0.9,
            feature: np.ndarray | None = None) -> Detection:
    """A stick figure ``h`` px tall centred at (cx, cy)."""
    rng = np.random.default_rng(int(abs(cx) * 7 + abs(cy)))
    kpts = np.stack([cx + rng.uniform(-h / 5, h / 5, 17), cy + np.linspace(-h / 2, h / 2, 17),
                     np.full(17, kp_score)], 1)
    return Detection(np.array([cx - h / 4, cy - h / 2 - 5, cx + h / 4, cy + h / 2 + 5]), score, kpts, feature)


def _colour(k: int) -> np.ndarray:
    """An appearance feature concentrated on bin ``k`` (distinct for distinct k)."""
    f = np.full(70, 0.002, np.float32)
    f[k] = 1.0
    return f / f.sum()


def _ids_by_frame(people, t):
    """{person_id: box centre x} in frame t."""
    return {p.person_id: float((p.boxes[t, 0] + p.boxes[t, 2]) / 2) for p in people if p.present[t]}


def test_box_iou():
    a = np.array([0, 0, 10, 10.0])
    got = box_iou(a, np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [3, 3, 3, 3.0]]))
    np.testing.assert_allclose(got, [1.0, 50 / 150, 0.0, 0.0])


def test_two_people_crossing_keep_their_ids():
    """A walks right, B walks left on the same line; they overlap for several frames."""
    frames = []
    for t in range(60):
        frames.append([_person(100 + 8 * t, 300), _person(572 - 8 * t, 310)])
    people = track_people(frames, fps=30)
    assert len(people) == 2
    a, b = people  # ids follow first appearance, ties left to right
    assert a.present.all() and b.present.all()
    xa = (a.boxes[:, 0] + a.boxes[:, 2]) / 2
    xb = (b.boxes[:, 0] + b.boxes[:, 2]) / 2
    np.testing.assert_allclose(xa, 100 + 8 * np.arange(60))  # A stays A through the crossing
    np.testing.assert_allclose(xb, 572 - 8 * np.arange(60))


def test_crossing_with_a_missed_frame_in_the_overlap():
    """During the crossing only one of the two is detected for 3 frames; afterwards each
    person is re-acquired by motion prediction, not swapped."""
    frames = []
    for t in range(60):
        dets = [_person(100 + 8 * t, 300), _person(572 - 8 * t, 305)]
        if 28 <= t < 31:
            dets = dets[:1]  # B hidden behind A
        frames.append(dets)
    people = track_people(frames, fps=30)
    assert len(people) == 2
    b = people[1]
    assert b.present.sum() == 57 and not b.present[28:31].any()
    xb = (b.boxes[:, 0] + b.boxes[:, 2]) / 2
    np.testing.assert_allclose(xb[31:], 572 - 8 * np.arange(31, 60))


def test_occluded_person_is_reacquired_within_the_window_and_not_after():
    frames = []
    for t in range(100):
        frames.append([] if 20 <= t < 35 else [_person(200 + 2 * t, 300)])  # 15 frames = 0.5 s hidden
    people = track_people(frames, fps=30)
    assert len(people) == 1 and people[0].present.sum() == 85
    # the same gap with a 0.3 s re-acquisition window starts a second person
    people = track_people(frames, fps=30, reacquire_s=0.3)
    assert len(people) == 2
    assert people[0].present[:20].all() and not people[0].present[20:].any()


def test_low_score_detections_keep_a_track_alive_but_start_none():
    frames = []
    for t in range(40):
        score = 0.3 if 10 <= t < 30 else 0.9  # the person fades (motion blur) for 20 frames
        dets = [_person(100 + 3 * t, 200, score=score)]
        dets.append(_person(500, 200, score=0.3))  # a low-score thing that never scores high
        frames.append(dets)
    people = track_people(frames, fps=30, high_score=0.5, low_score=0.1)
    assert len(people) == 1 and people[0].present.all()


def test_spurious_short_and_tiny_tracks_are_dropped():
    frames = []
    for t in range(50):
        dets = [_person(300, 300)]
        if 10 <= t < 15:
            dets.append(_person(600, 300))  # 5 frames: a false find
        dets.append(_person(50, 50, h=4))  # a 14 px box all the time (under 3 % of 600 px): a speck
        frames.append(dets)
    people = track_people(frames, fps=30, frame_size=(800, 600))
    assert len(people) == 1 and people[0].present.all()
    assert len(track_people(frames, fps=30, min_track_frames=3, min_track_s=0, min_height_frac=0)) == 3


def test_jump_is_stitched_by_appearance_only_when_unambiguous():
    """One person walks across and the clip loops: the image jumps back to the start. With
    matching appearance the two halves are one person; a different-looking newcomer is not."""
    look = _colour(3)

    def clip(second_look):
        frames = []
        for t in range(60):
            x = 900 - 10 * (t % 30)  # right to left, jump back at t = 30
            frames.append([_person(x, 300, h=200, feature=look if t < 30 else second_look)])
        return frames

    people = track_people(clip(look), fps=30, frame_size=(1280, 480))
    assert len(people) == 1 and people[0].present.all()
    assert len(track_people(clip(_colour(40)), fps=30, frame_size=(1280, 480))) == 2
    assert len(track_people(clip(look), fps=30, frame_size=(1280, 480), stitch_gap_s=0)) == 2


def test_people_leaving_and_entering_through_edges_are_not_stitched():
    """Someone leaves through the left edge; someone alike enters through the right edge."""
    look = _colour(5)
    frames = []
    for t in range(60):
        if t < 30:
            frames.append([_person(300 - 10 * t, 300, h=200, feature=look)])  # reaches x = 10 (the edge)
        else:
            frames.append([_person(1270 - 10 * (t - 30), 300, h=200, feature=look)])
    assert len(track_people(frames, fps=30, frame_size=(1280, 480))) == 2


def test_appearance_similarity():
    assert appearance_similarity(_colour(2), _colour(2)) == pytest.approx(1.0)
    assert appearance_similarity(_colour(2), _colour(9)) < 0.2
    assert np.isnan(appearance_similarity(None, _colour(2)))


def test_main_person_is_the_longest_present_largest():
    frames = []
    for t in range(100):
        dets = [_person(200, 300, h=100)]  # the subject, all along
        if t < 30:
            dets.append(_person(600, 300, h=300))  # a passer-by close to the camera, 30 frames
        frames.append(dets)
    people = track_people(frames, fps=30)
    assert len(people) == 2
    assert main_person_index(people) == [p.detected_frames for p in people].index(100)


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
    assert track_people([[] for _ in range(5)], fps=30) == []


def test_person_keypoint_track_is_nan_outside_and_bridges_short_gaps():
    from pose3d_cli.keypoints import person_keypoint_track

    frames = []
    for t in range(60):
        dets = [] if (t < 10 or t >= 50 or 20 <= t < 24) else [_person(100 + 2 * t, 200, kp_score=0.9)]
        frames.append(dets)
    frames[30][0].keypoints[5, 2] = 0.05  # one low-score joint
    (person,) = track_people(frames, fps=30)
    tr = person_keypoint_track(person, 640, 480, 30.0, min_score=0.3, max_gap_s=0.5, detector="test")
    present = np.isfinite(tr.keypoints_px).all(axis=(1, 2))
    assert not present[:10].any() and not present[50:].any()  # absent before and after: NaN
    assert present[10:50].all()  # the 4-frame gap (0.13 s) is bridged
    assert tr.filled_frames[20:24].all() and tr.filled_frames.sum() == 4
    assert tr.filled_joints[30, 5] and tr.scores[30, 5] == 0
    assert (tr.scores[:10] == 0).all()


def test_detections_from_arrays_sorts_and_filters():
    boxes = np.array([[0, 0, 10, 10], [5, 5, 20, 20], [1, 1, 2, 2]], np.float32)
    kp = np.random.default_rng(0).uniform(0, 1, (3, 17, 3)).astype(np.float32)
    dets = detections_from_arrays(boxes, np.array([0.6, 0.9, 0.2]), kp, min_box_score=0.5)
    assert [d.box_score for d in dets] == pytest.approx([0.9, 0.6])
    np.testing.assert_array_equal(dets[0].keypoints, kp[1])
    box = box_from_keypoints(np.array([[10, 20], [30, 60], [500, 500]]), np.array([1, 1, 0]), min_score=0.5)
    np.testing.assert_allclose(box, [8, 16, 32, 64])
