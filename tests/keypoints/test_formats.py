"""COCO-style keypoint JSON and OpenPose per-frame JSON → KeypointTrack."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pose3d_cli.errors import InputError
from pose3d_cli.io.keypoint_file import (
    KeypointTrack,
    save_keypoints,
    save_videopose3d_custom,
)
from pose3d_cli.keypoints.formats import (
    BODY25_TO_COCO17,
    OPENPOSE18_TO_COCO17,
    load_any_keypoints,
)
from pose3d_cli.skeleton import COCO17

BODY25_NAMES = ["nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
                "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
                "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe",
                "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel"]
OPENPOSE18_NAMES = BODY25_NAMES[:8] + BODY25_NAMES[9:19]


def test_openpose_index_tables_follow_joint_names():
    for table, names in ((BODY25_TO_COCO17, BODY25_NAMES), (OPENPOSE18_TO_COCO17, OPENPOSE18_NAMES)):
        assert [names[i] for i in table] == list(COCO17.joint_names)


def _coco_kpts(cx: float, t: int) -> list[float]:
    y = np.linspace(10, 110, 17)
    x = cx + 2.0 * t + np.arange(17) % 3
    return np.stack([x, y, np.full(17, 2.0)], 1).reshape(-1).tolist()


def test_coco_results_list_picks_main_person_and_fills_missing_frames(tmp_path):
    entries = []
    for t in range(6):
        if t == 3:
            continue  # nobody in frame 3
        entries.append({"image_id": 10 + t, "category_id": 1, "keypoints": _coco_kpts(50, t), "score": 0.9})
        if t < 2:
            entries.append({"image_id": 10 + t, "category_id": 1, "keypoints": _coco_kpts(300, 0), "score": 0.95})
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(entries))
    with pytest.raises(InputError, match="does not store the frame size"):
        load_any_keypoints(path)
    tr = load_any_keypoints(path, frame_size=(640, 480), fps=25)
    assert tr.num_frames == 6 and (tr.width, tr.height, tr.fps) == (640, 480, 25.0)
    np.testing.assert_array_equal(tr.filled_frames, [False, False, False, True, False, False])
    np.testing.assert_allclose(tr.keypoints_px[:, 0, 0], 50 + 2.0 * np.arange(6))  # frame 3 interpolated
    assert (tr.scores[~tr.filled_frames] == 1).all() and tr.detector == "coco-json"


def test_coco_annotation_file_uses_image_order_and_size(tmp_path):
    images = [{"id": 7, "file_name": "f10.jpg", "width": 320, "height": 240},
              {"id": 3, "file_name": "f2.jpg", "width": 320, "height": 240}]
    anns = [{"image_id": 3, "keypoints": _coco_kpts(20, 0), "bbox": [15, 5, 40, 110]},
            {"image_id": 7, "keypoints": _coco_kpts(20, 1), "bbox": [17, 5, 40, 110]}]
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": []}))
    tr = load_any_keypoints(path)
    assert (tr.width, tr.height) == (320, 240)
    np.testing.assert_allclose(tr.keypoints_px[:, 0, 0], [20, 22])  # f2 before f10
    np.testing.assert_allclose(tr.boxes[0], [15, 5, 55, 115])


def test_openpose_folder(tmp_path):
    folder = tmp_path / "op"
    folder.mkdir()
    for t in range(4):
        people = []
        body = np.zeros((25, 3))
        body[:, 0] = 100 + np.arange(25) + t
        body[:, 1] = 50 + 4 * np.arange(25)
        body[:, 2] = 0.8
        body[BODY25_NAMES.index("left_wrist")] = 0  # OpenPose's "not found"
        people.append({"person_id": [-1], "pose_keypoints_2d": body.reshape(-1).tolist()})
        (folder / f"clip_{t:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))
    tr = load_any_keypoints(folder, frame_size=(400, 300))
    assert tr.num_frames == 4 and tr.detector == "openpose"
    le = COCO17.index("left_eye")
    np.testing.assert_allclose(tr.keypoints_px[:, le, 0], 100 + BODY25_NAMES.index("left_eye") + np.arange(4))
    lw = COCO17.index("left_wrist")
    assert tr.filled_joints[:, lw].all() and tr.scores[:, lw].max() == 0


def test_bad_keypoint_inputs(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_any_keypoints(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not readable JSON"):
        load_any_keypoints(bad)
    short = tmp_path / "short.json"
    short.write_text(json.dumps([{"image_id": 0, "keypoints": [1, 2, 3]}]))
    with pytest.raises(InputError, match="51"):
        load_any_keypoints(short, frame_size=(10, 10))
    empty = tmp_path / "empty_op"
    empty.mkdir()
    with pytest.raises(InputError, match="no OpenPose"):
        load_any_keypoints(empty, frame_size=(10, 10))


def test_npz_files_go_to_the_project_reader(tmp_path):
    track = KeypointTrack(np.random.default_rng(0).uniform(0, 100, (5, 17, 2)), None, 100, 80, fps=24.0)
    own = save_keypoints(track, tmp_path / "k.npz")
    custom = save_videopose3d_custom({"clip": track}, tmp_path / "data_2d_custom_x.npz")
    for path in (own, custom):
        got = load_any_keypoints(path)
        np.testing.assert_allclose(got.keypoints_px, track.keypoints_px)
        assert (got.width, got.height) == (100, 80)


def test_coco_json_with_two_people_gives_both(tmp_path):
    """Keypoint files from elsewhere hold everyone: two people walking apart keep their ids."""
    from pose3d_cli.keypoints.formats import load_any_people

    figure = np.array([[0, -160], [-8, -168], [8, -168], [-16, -164], [16, -164], [-40, -120], [40, -120],
                       [-50, -60], [50, -60], [-55, 0], [55, 0], [-25, 0], [25, 0], [-28, 90], [28, 90],
                       [-30, 180], [30, 180]], np.float32)
    entries = []
    for t in range(30):
        for x in (200 - 3 * t, 420 + 3 * t):  # walking apart
            kp = np.concatenate([figure + [x, 240], np.full((17, 1), 2.0)], axis=1)
            entries.append({"image_id": t, "keypoints": kp.ravel().tolist(), "score": 0.9})
    path = tmp_path / "two.json"
    path.write_text(json.dumps(entries))
    people = load_any_people(path, frame_size=(640, 480), fps=30)
    assert people.num_people == 2 and people.num_frames == 30
    xs = people.keypoints_px[:, :, 0, 0]  # (P, T) nose x
    assert np.isfinite(xs).all()
    left = int(np.argmin(xs[:, 0]))
    assert np.all(np.diff(xs[left]) < 0) and np.all(np.diff(xs[1 - left]) > 0)  # no identity swap
