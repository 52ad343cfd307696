"""The single-person mediapipe backend on real video of real people (``../shared/media``)."""

from __future__ import annotations

import numpy as np
import pytest

from pose3d_cli.errors import NoPersonError
from pose3d_cli.io.video import read_frames
from pose3d_cli.keypoints import detect_video, get_detector
from pose3d_cli.keypoints.mediapipe_backend import (
    BLAZEPOSE_TO_COCO17,
    landmarks_to_coco17,
)
from pose3d_cli.skeleton import COCO17

pytestmark = pytest.mark.timeout(180)
J = COCO17.index


@pytest.fixture(scope="module")
def man_track(man_on_box_mp4):
    return detect_video(man_on_box_mp4, detector="mediapipe", progress=False)


def test_mapping_picks_the_named_landmarks():
    lm = np.zeros((33, 3), np.float32)
    lm[:, 0] = np.arange(33) / 100.0  # x encodes the BlazePose index
    lm[:, 1] = 0.5
    lm[:, 2] = 1.5  # visibility out of range is clipped
    out = landmarks_to_coco17(lm, width=100, height=10)
    blaze = {"nose": 0, "left_eye": 2, "right_eye": 5, "left_ear": 7, "right_ear": 8, "left_shoulder": 11,
             "right_shoulder": 12, "left_elbow": 13, "right_elbow": 14, "left_wrist": 15, "right_wrist": 16,
             "left_hip": 23, "right_hip": 24, "left_knee": 25, "right_knee": 26, "left_ankle": 27,
             "right_ankle": 28}
    for name, idx in blaze.items():
        assert out[J(name), 0] == pytest.approx(idx), name
    assert tuple(blaze.values()) == BLAZEPOSE_TO_COCO17
    assert (out[:, 1] == 5).all() and (out[:, 2] == 1).all()


@pytest.mark.slow
def test_finds_the_person_in_most_frames_inside_the_frame(man_track):
    tr = man_track
    assert tr.num_frames == 60 and (tr.width, tr.height) == (884, 498)
    assert tr.detector == "mediapipe" and "mediapipe 0.10.21" in tr.detector_version
    assert (~tr.filled_frames).mean() >= 0.85
    k = tr.keypoints_px
    inside = (k[..., 0] >= -5) & (k[..., 0] <= tr.width + 5) & (k[..., 1] >= -5) & (k[..., 1] <= tr.height + 5)
    assert inside.mean() > 0.97
    # the man stands on the box in the upper half, in the middle third of the frame
    hips = k[~tr.filled_frames][:, [J("left_hip"), J("right_hip")]].mean(axis=(0, 1))
    assert 0.25 * tr.width < hips[0] < 0.6 * tr.width and hips[1] < 0.6 * tr.height


@pytest.mark.slow
def test_keypoints_move_smoothly(man_track):
    k = man_track.keypoints_px
    both = ~man_track.filled_frames[1:] & ~man_track.filled_frames[:-1]
    step = np.linalg.norm(np.diff(k, axis=0), axis=-1)[both]  # (pairs, 17) px per frame
    per_frame = np.median(step, axis=1)
    assert np.percentile(per_frame, 95) < 0.05 * man_track.height
    assert per_frame.max() < 0.12 * man_track.height


@pytest.mark.slow
def test_left_and_right_are_not_swapped(man_track):
    """The man faces the camera throughout: his left side is on the image's right (larger x).

    Backlit while he jumps (frames ~8–21 of the clip), BlazePose itself mixes up his sides; from
    frame 22 on it must get them right. A swapped mapping would fail every check here.
    """
    k = man_track.keypoints_px
    steady = ~man_track.filled_frames & (np.arange(man_track.num_frames) >= 22)
    assert steady.sum() >= 30
    for a, b in [("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"), ("left_eye", "right_eye"),
                 ("left_ear", "right_ear"), ("left_knee", "right_knee")]:
        right_way = (k[steady, J(a), 0] > k[steady, J(b), 0]).mean()
        assert right_way >= 0.9, (a, right_way)


@pytest.mark.slow
def test_rotated_copy_gives_the_same_upright_keypoints(man_track, man_on_box_mp4, man_on_box_rotated_mp4):
    upright = read_frames(man_on_box_mp4, 0, 2).astype(float)
    turned = read_frames(man_on_box_rotated_mp4, 0, 2).astype(float)
    assert turned.shape == upright.shape and np.abs(turned - upright).mean() < 4
    rot = detect_video(man_on_box_rotated_mp4, detector="mediapipe", progress=False)
    assert (rot.width, rot.height) == (man_track.width, man_track.height)
    both = ~rot.filled_frames & ~man_track.filled_frames
    assert both.mean() > 0.8
    a, b = rot.keypoints_px[both], man_track.keypoints_px[both]
    diff = np.linalg.norm(a - b, axis=-1)
    assert np.median(diff) < 0.01 * man_track.height  # most frames agree as they are
    # BlazePose's occasional left/right mix-ups on this backlit clip (see above) need not hit the
    # same frames of a re-encoded copy; compare each frame with the better side assignment.
    swapped = np.linalg.norm(a - b[:, COCO17.flip_permutation()], axis=-1)
    use_swap = swapped.mean(axis=1) < diff.mean(axis=1)
    assert use_swap.mean() < 0.5
    diff = np.where(use_swap[:, None], swapped, diff)
    assert np.percentile(diff, 90) < 0.04 * man_track.height


@pytest.mark.slow
def test_small_walker_cropped_from_a_street_scene(vtest_walker_mp4):
    tr = detect_video(vtest_walker_mp4, detector="mediapipe", progress=False)
    assert (~tr.filled_frames).sum() >= 10
    nose_x = tr.keypoints_px[:, J("nose"), 0]
    assert nose_x[-1] < nose_x[0] - 60  # he walks to the left
    ankles_y = tr.keypoints_px[:, [J("left_ankle"), J("right_ankle")], 1].mean()
    head_y = tr.keypoints_px[:, J("nose"), 1].mean()
    assert 100 < ankles_y - head_y < 220  # upright: nose to ankles about 130 px after upscaling


def test_video_without_a_person_is_a_clear_error(nobody_mp4):
    with pytest.raises(NoPersonError, match=f"{nobody_mp4.name}: no person found in any of its 10 frames"):
        detect_video(nobody_mp4, detector="mediapipe", progress=False)


@pytest.mark.slow
def test_reused_detector_is_reset_between_clips(vtest_walker_mp4, nobody_mp4):
    det = get_detector("mediapipe")
    try:
        first = detect_video(vtest_walker_mp4, detector=det, progress=False)
        again = detect_video(vtest_walker_mp4, detector=det, progress=False)
        np.testing.assert_allclose(first.keypoints_px, again.keypoints_px, atol=1e-3)
        with pytest.raises(NoPersonError):
            detect_video(nobody_mp4, detector=det, progress=False)
    finally:
        det.close()
