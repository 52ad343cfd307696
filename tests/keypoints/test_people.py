"""The default multi-person detector and tracker on real video (``../shared/media``, ``examples/``).

Clips are real footage decoded by the real decoder; cuts, loops and empty scenes are made with
the real ffmpeg. Hand-labelled people boxes: ``benchmarks/data/vtest_people.json``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pose3d_cli.errors import BackendUnavailableError, NoPersonError
from pose3d_cli.io.video import iter_frames, run_ffmpeg
from pose3d_cli.keypoints import (
    DEFAULT_DETECTOR,
    detect_people,
    detect_video,
    get_detector,
)
from pose3d_cli.keypoints.tracking import box_iou_matrix
from pose3d_cli.skeleton import COCO17

REPO = Path(__file__).resolve().parents[2]
LABELS = REPO / "benchmarks" / "data" / "vtest_people.json"
WALK = REPO / "examples" / "walk.mp4"
J = COCO17.index

pytestmark = pytest.mark.timeout(600)


def _recall(boxes: np.ndarray, people: list[dict]) -> float:
    """Fraction of labelled people matched one-to-one (IoU >= 0.3) by ``boxes``."""
    from scipy.optimize import linear_sum_assignment

    gt = np.array([p["box_xyxy"] for p in people], float)
    if len(boxes) == 0:
        return 0.0
    iou = box_iou_matrix(gt, boxes)
    rows, cols = linear_sum_assignment(-iou)
    return float((iou[rows, cols] >= 0.3).sum() / len(gt))


@pytest.fixture(scope="module")
def vtest_people(shared_dir):
    """detect_people on vtest.avi frames 40–100 (61 frames, 3–8 people each)."""
    return detect_people(shared_dir / "media" / "vtest.avi", start=40, end=101, progress=False)


def test_default_detector_is_the_multi_person_one():
    assert DEFAULT_DETECTOR == "movenet-blazepose"


@pytest.mark.slow
def test_several_people_per_frame_on_a_street_scene(vtest_people):
    people = vtest_people
    assert people.num_frames == 61 and (people.width, people.height) == (768, 576)
    assert people.start_frame == 40
    per_frame = people.present.sum(axis=0)
    assert np.median(per_frame) >= 5  # 6–7 people are visible on most of these frames
    labels = {f["frame"]: f["people"] for f in json.loads(LABELS.read_text())["frames"]}
    for frame in (50, 75, 100):
        t = frame - 40
        boxes = np.stack([tr.boxes[t] for tr in people.tracks if np.isfinite(tr.boxes[t]).all()])
        assert _recall(boxes, labels[frame]) >= 0.7, frame
    assert people.tracks[0].detector == "movenet-blazepose"
    assert "MoveNet" in people.tracks[0].detector_version and "BlazePose" in people.tracks[0].detector_version


@pytest.mark.slow
def test_keypoints_are_nan_where_absent_and_inside_the_frame_where_present(vtest_people):
    k = vtest_people.keypoints_px  # (P, T, 17, 2)
    present = vtest_people.present
    assert np.isnan(k[~present]).all() and np.isfinite(k[present]).all()
    xy = k[present]
    assert ((xy[..., 0] > -20) & (xy[..., 0] < 788) & (xy[..., 1] > -20) & (xy[..., 1] < 596)).mean() > 0.99
    scores = vtest_people.scores
    assert (scores[~present] == 0).all() and ((scores >= 0) & (scores <= 1)).all()
    # upright people: the nose above the ankles in nearly every detected frame
    nose_y = k[..., J("nose"), 1][present]
    ankle_y = k[..., [J("left_ankle"), J("right_ankle")], 1].mean(-1)[present]
    assert (nose_y < ankle_y).mean() > 0.95


@pytest.mark.slow
def test_identities_are_stable_while_people_walk_apart(vtest_people):
    """Between consecutive detected frames nobody's box jumps (a swap between two people far
    apart would), and people detected on frames 50 and 60 are where one second of walking takes
    them (a swap puts an id on someone else, elsewhere)."""
    for tr in vtest_people.tracks:
        det = np.isfinite(tr.boxes).all(axis=1)
        both = det[1:] & det[:-1]
        centres = (tr.boxes[:, :2] + tr.boxes[:, 2:]) / 2
        step = np.linalg.norm(np.diff(centres, axis=0), axis=1)[both]
        height = np.nanmedian(tr.boxes[:, 3] - tr.boxes[:, 1])
        assert (step < 0.5 * height).all(), tr.person_id  # 10 fps walkers move ~0.1 height/frame
    kept = 0
    for tr in vtest_people.tracks:
        a, b = tr.boxes[50 - 40], tr.boxes[60 - 40]
        if np.isfinite(a).all() and np.isfinite(b).all():
            kept += 1
            moved = np.linalg.norm((a[:2] + a[2:]) / 2 - (b[:2] + b[2:]) / 2)
            assert moved < 1.0 * (a[3] - a[1]), tr.person_id
    assert kept >= 3


@pytest.mark.slow
def test_describe_lists_every_person(vtest_people):
    rows = vtest_people.describe()
    assert len(rows) == vtest_people.num_people >= 6
    assert sum(r["main"] for r in rows) == 1
    main = rows[vtest_people.main]
    assert main["frames"] == max(r["frames"] for r in rows) or main["frames"] >= 40
    assert all(20 < r["median_box_height_px"] < 200 for r in rows)


@pytest.mark.slow
def test_sports2d_walker_is_one_person_from_entry_to_exit(tmp_path, shared_dir):
    """The woman walks across the whole frame (frames ~45–195) past a man on a box: she is one id
    from entry to exit, and the man another."""
    clip = tmp_path / "sports2d_half.mp4"
    run_ffmpeg(["-i", str(shared_dir / "media" / "sports2d_demo.mp4"), "-an", "-vf", "scale=884:498",
                "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", str(clip)])
    people = detect_people(clip, progress=False)
    x = people.keypoints_px[..., 0].mean(axis=-1)  # (P, T) mean joint x, NaN where absent
    y = people.keypoints_px[..., 1].mean(axis=-1)
    low = np.nanmean(np.where(people.present, y, np.nan), axis=1) > 0.5 * people.height  # walks on the grass
    walkers = [p for p in range(people.num_people) if low[p] and people.present[p, 60:180].mean() > 0.5]
    assert len(walkers) == 1
    w = walkers[0]
    assert people.present[w, 50:190].mean() >= 0.95
    seen = np.flatnonzero(people.present[w])
    assert x[w, seen[0]] > 0.8 * people.width and x[w, seen[-1]] < 0.2 * people.width  # right to left
    # the man on the box is someone else, in the upper half at the start
    others = [p for p in range(people.num_people) if p != w and people.present[p, :30].mean() > 0.8]
    assert others and np.nanmean(y[others[0], :30]) < 0.5 * people.height


@pytest.fixture(scope="module")
def looped_walk(tmp_path_factory):
    """examples/walk.mp4 (one woman walking right to left, 3.2 s) played ten times in a row, at
    10 fps (32 frames a loop; the real ffmpeg's concat demuxer, re-encoded)."""
    folder = tmp_path_factory.mktemp("loop")
    listing = folder / "list.txt"
    listing.write_text("".join(f"file '{WALK}'\n" for _ in range(10)))
    out = folder / "walk_x10.mp4"
    run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-vf", "fps=10,scale=640:240", "-an",
                "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", str(out)])
    return out


@pytest.mark.slow
def test_looped_walk_keeps_the_person_in_every_loop(looped_walk):
    """Issue 9 §6: the single-person API must not keep only the first loop."""
    frames = sum(1 for _ in iter_frames(looped_walk))
    loop = frames / 10
    track = detect_video(looped_walk, progress=False)
    detected = ~track.filled_frames
    for i in range(10):
        part = detected[round(i * loop):round((i + 1) * loop)]
        assert part.mean() >= 0.8, (i, part.mean())
    # and she is re-acquired as the same person after each jump back to the right edge
    people = detect_people(looped_walk, progress=False)
    assert people.num_people == 1, people.describe()


def test_scene_with_nobody_is_a_clear_error(nobody_mp4):
    with pytest.raises(NoPersonError, match=f"{nobody_mp4.name}: no person found in any of its 10 frames"):
        detect_people(nobody_mp4, progress=False)


@pytest.mark.slow
def test_person_in_too_few_frames_is_an_error_unless_asked(tmp_path, shared_dir):
    """A walker in view for the first 6 of 40 frames (the rest: an empty stretch of lawn)."""
    clip = tmp_path / "brief.mp4"
    src = shared_dir / "media" / "vtest.avi"
    graph = ("[0:v]trim=start_frame=0:end_frame=6,crop=208:220:560:180,setpts=PTS-STARTPTS[a];"
             "[0:v]trim=start_frame=0:end_frame=34,crop=208:220:150:340,setpts=PTS-STARTPTS[b];"
             "[a][b]concat=n=2:v=1[v]")
    run_ffmpeg(["-i", str(src), "-filter_complex", graph, "-map", "[v]", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                str(clip)])
    with pytest.raises(NoPersonError, match="brief.mp4: nobody was seen long enough .* too few to lift"):
        detect_people(clip, progress=False)
    people = detect_people(clip, progress=False, min_presence=0, min_frames=0)
    assert people.num_people == 1 and people.present[0, :6].sum() >= 4 and not people.present[0, 10:].any()


@pytest.mark.slow
@pytest.mark.parametrize(("name", "size", "least_recall"), [("movenet", 512, 0.6), ("movenet-fast", 256, 0.3)])
def test_movenet_modes_find_several_people(shared_dir, name, size, least_recall):
    det = get_detector(name)
    try:
        assert det.model.input_size == size and f"input {size}" in det.version
        frame = next(iter_frames(shared_dir / "media" / "vtest.avi", 50, 51))
        (dets,) = det.detect([frame])
    finally:
        det.close()
    labels = {f["frame"]: f["people"] for f in json.loads(LABELS.read_text())["frames"]}
    assert _recall(np.stack([d.box_xyxy for d in dets]), labels[50]) >= least_recall
    for d in dets:
        assert d.keypoints.shape == (17, 3) and 0 <= d.box_score <= 1


def test_damaged_weights_are_refused(tmp_path, monkeypatch):
    """The shipped MoveNet file is checked against its sha256 record before it is loaded."""
    from pose3d_cli.keypoints import tflite

    folder = tmp_path / "weights"
    shutil.copytree(tflite.WEIGHTS_DIR, folder)
    monkeypatch.setattr(tflite, "WEIGHTS_DIR", folder)
    model = folder / "movenet_multipose_lightning_fp16.tflite"
    data = bytearray(model.read_bytes())
    data[5000] ^= 0xFF  # one flipped byte, same size
    model.write_bytes(bytes(data))
    with pytest.raises(BackendUnavailableError, match="sha256 .* differs from the recorded"):
        get_detector("movenet")
    model.write_bytes(bytes(data[:-10]))
    with pytest.raises(BackendUnavailableError, match="bytes where 9585276 were expected"):
        get_detector("movenet")
