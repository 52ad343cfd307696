"""2D keypoints produced elsewhere: COCO-style keypoint JSON and OpenPose per-frame JSON.

Both are turned into :class:`~pose3d_cli.io.keypoint_file.PeopleTracks` (COCO-17, pixels, every
person) through the same tracking and gap filling as ``pose3d detect``
(:mod:`pose3d_cli.keypoints.tracking`). Neither format stores the frame size (nor, for
OpenPose, the frame rate): give the video they came from (``source_video``, probed) or
``frame_size=(w, h)``.

COCO-style JSON, either form:

* results list: ``[{"image_id": 0, "keypoints": [x, y, v] * 17, "score": 0.98,
  "bbox": [x, y, w, h]}, ...]`` — frames are the integer ``image_id`` values from the lowest to
  the highest (ids with no entry are frames with nobody);
* annotation file: ``{"images": [{"id", "file_name", "width", "height"}], "annotations": [...]}``
  — frames are the images in natural ``file_name`` order; the size comes from the images.

A keypoint's third value becomes its score: a visibility flag (0, 1, 2) is mapped to 0, 1, 1;
a confidence in [0, 1] is kept.

OpenPose: a folder of ``*_keypoints.json`` files, one per frame in natural name order, each with
``people[i].pose_keypoints_2d`` = [x, y, c] × 25 (BODY_25) or × 18 (COCO-18). Joints OpenPose
did not find are (0, 0, 0). Mapping to COCO-17 (nose, eyes, ears, shoulders, elbows, wrists,
hips, knees, ankles): BODY_25 indices 0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11;
COCO-18 indices 0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from pose3d_cli.errors import InputError
from pose3d_cli.io.keypoint_file import (
    KeypointTrack,
    PeopleTracks,
    load_people_keypoints,
)

BODY25_TO_COCO17 = (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11)
OPENPOSE18_TO_COCO17 = (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)


def _natural(name: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _read_json(path: Path):
    """The decoded JSON of ``path``: a regular file of at most ``MAX_JSON_BYTES`` (512 MiB)."""
    from pose3d_cli.io.bounded import MAX_JSON_BYTES, read_bytes_bounded

    data = read_bytes_bounded(path, what="keypoint JSON file", max_bytes=MAX_JSON_BYTES)
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not readable JSON ({exc.__class__.__name__}: {str(exc)[:100]}); give a COCO "
                         "keypoint JSON or an OpenPose *_keypoints.json") from None
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply to be keypoints; give a COCO keypoint JSON or an "
                         "OpenPose *_keypoints.json") from None


def _frame_size(path: Path, source_video, frame_size, fps):
    if source_video is not None:
        from pose3d_cli.io.video import probe_video

        info = probe_video(source_video)
        return info.width, info.height, float(fps or info.fps)
    if frame_size is not None:
        w, h = (int(v) for v in frame_size)
        return w, h, float(fps or 30.0)
    raise InputError(f"{path}: this keypoint format does not store the frame size; give the video the keypoints "
                     "came from, or the frame size in pixels")


def _detections(kpts: np.ndarray, box_xywh=None, score=None):
    from pose3d_cli.keypoints.base import Detection, box_from_keypoints

    seen = kpts[:, 2] > 0
    if not seen.any():
        return None
    if box_xywh is not None and len(box_xywh) == 4:
        x, y, w, h = (float(v) for v in box_xywh)
        box = np.array([x, y, x + w, y + h], np.float32)
    else:
        box = box_from_keypoints(kpts[:, :2], kpts[:, 2], min_score=1e-6)
    s = float(score) if score is not None else float(kpts[seen, 2].mean())
    return Detection(box, s, kpts)


def _people(path: Path, per_frame, width, height, fps, detector: str, min_score: float) -> PeopleTracks:
    """Every person in per-frame detections, tracked as ``pose3d detect`` tracks them
    (:func:`~pose3d_cli.keypoints.tracking.track_people`): NaN where absent, short gaps bridged."""
    from pose3d_cli.errors import NoPersonError
    from pose3d_cli.keypoints import person_keypoint_track
    from pose3d_cli.keypoints.tracking import main_person_index, track_people

    # Spurious tracks (detector noise) are dropped as in `pose3d detect`, but a short clip keeps
    # a person seen in half its frames.
    short = min(10, max(1, len(per_frame) // 2))
    people = track_people(per_frame, fps, frame_size=(width, height), min_track_frames=short, min_track_s=0.0)
    if not people:
        raise NoPersonError(f"{path}: no person is in enough of its {len(per_frame)} frames to lift (at least "
                            f"{short}); check the keypoint file")
    tracks = tuple(person_keypoint_track(p, width, height, fps, min_score=min_score, detector=detector,
                                         source=str(path)) for p in people)
    return PeopleTracks(tracks, main_person_index(people))


def _coco_kpts(path: Path, values) -> np.ndarray:
    try:
        arr = np.asarray(values, np.float32).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(f"{path}: a COCO 'keypoints' entry is not a list of numbers") from None
    if arr.size != 51:
        raise InputError(f"{path}: a COCO keypoint entry has {arr.size} values, expected 51 (17 × x, y, v)")
    kp = arr.reshape(17, 3).copy()
    if np.all(np.isin(kp[:, 2], (0.0, 1.0, 2.0))):
        kp[:, 2] = (kp[:, 2] > 0).astype(np.float32)  # visibility flags
    kp[:, 2] = np.clip(kp[:, 2], 0.0, 1.0)
    return kp


def load_coco_json(path: str | Path, source_video=None, frame_size=None, fps=None,
                   min_score: float = 0.3) -> PeopleTracks:
    """Read a COCO-style keypoint JSON (results list or annotation file): every person in it."""
    path = Path(path)
    data = _read_json(path)
    if isinstance(data, dict) and "annotations" in data:
        images = data.get("images") or []
        if not isinstance(images, list) or not images or not all(isinstance(im, dict) and "id" in im
                                                                   for im in images):
            raise InputError(f"{path}: a COCO annotation file needs an 'images' list of {{'id', 'file_name', "
                             "'width', 'height'}} entries to order the frames")
        images = sorted(images, key=lambda im: _natural(str(im.get("file_name", im.get("id")))))
        index = {im["id"]: t for t, im in enumerate(images)}
        n = len(images)
        if source_video is None and frame_size is None:
            try:
                frame_size = (int(images[0]["width"]), int(images[0]["height"]))
            except (KeyError, TypeError, ValueError):
                raise InputError(f"{path}: the first image has no integer 'width'/'height'; give the frame size "
                                 "or the video the keypoints came from") from None
        anns = data["annotations"]
        if not isinstance(anns, list):
            raise InputError(f"{path}: 'annotations' is not a list")
    elif isinstance(data, list):
        anns = data
        ids = [a.get("image_id") for a in anns if isinstance(a, dict)]
        if not ids or not all(isinstance(i, int) for i in ids):
            raise InputError(f"{path}: a COCO results list needs integer 'image_id' frame numbers on every entry")
        lo, hi = min(ids), max(ids)
        index = {i: i - lo for i in range(lo, hi + 1)}
        n = hi - lo + 1
    else:
        raise InputError(f"{path}: neither a COCO results list nor a COCO annotation file")
    width, height, fps = _frame_size(path, source_video, frame_size, fps)
    per_frame: list[list] = [[] for _ in range(n)]
    for a in anns:
        if not isinstance(a, dict) or "keypoints" not in a or a.get("image_id") not in index:
            continue
        det = _detections(_coco_kpts(path, a["keypoints"]), a.get("bbox"), a.get("score"))
        if det is not None:
            per_frame[index[a["image_id"]]].append(det)
    return _people(path, per_frame, width, height, fps, "coco-json", min_score)


def load_openpose_folder(path: str | Path, source_video=None, frame_size=None, fps=None,
                         min_score: float = 0.3) -> PeopleTracks:
    """Read an OpenPose output folder (one ``*_keypoints.json`` per frame): every person in it."""
    path = Path(path)
    files = sorted((p for p in path.iterdir() if p.suffix == ".json"), key=lambda p: _natural(p.name))
    if not files:
        raise InputError(f"{path}: folder holds no OpenPose *_keypoints.json files")
    width, height, fps = _frame_size(path, source_video, frame_size, fps)
    per_frame = []
    for f in files:
        data = _read_json(f)
        if not isinstance(data, dict) or not isinstance(data.get("people"), list):
            raise InputError(f"{f}: not an OpenPose keypoint file (no 'people' list)")
        dets = []
        for person in data["people"]:
            try:
                arr = np.asarray(person.get("pose_keypoints_2d", []), np.float32).reshape(-1)
            except (AttributeError, TypeError, ValueError):
                raise InputError(f"{f}: a person's pose_keypoints_2d is not a list of numbers") from None
            if arr.size == 75:
                mapping = BODY25_TO_COCO17
            elif arr.size == 54:
                mapping = OPENPOSE18_TO_COCO17
            else:
                raise InputError(f"{f}: pose_keypoints_2d has {arr.size} values; expected 75 (BODY_25) or 54 (COCO-18)")
            kp = arr.reshape(-1, 3)[list(mapping)].copy()
            kp[:, 2] = np.clip(kp[:, 2], 0.0, 1.0)
            det = _detections(kp)
            if det is not None:
                dets.append(det)
        per_frame.append(dets)
    return _people(path, per_frame, width, height, fps, "openpose", min_score)


def load_any_people(path: str | Path, video: str | None = None, *, source_video=None,
                    frame_size: tuple[int, int] | None = None, fps: float | None = None) -> PeopleTracks:
    """Read 2D keypoints in any supported format, every person in them.

    * a folder → OpenPose per-frame JSON; ``.json`` → COCO-style keypoint JSON (or a single
      OpenPose frame);
    * anything else → :func:`pose3d_cli.io.keypoint_file.load_people_keypoints` (the project's
      ``.npz`` or the VideoPose3D custom ``.npz``; ``video`` picks one video of a multi-video
      file).

    Args:
        source_video: the video the keypoints belong to (probed for size and fps of JSON input).
        frame_size: ``(width, height)`` in pixels for JSON input without ``source_video``.
        fps: frame rate (JSON input: default the video's, else 30; other files: overrides theirs).
    """
    from dataclasses import replace

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder; give a keypoint .npz, a COCO keypoint .json or an "
                         "OpenPose output folder")
    if path.is_dir():
        return load_openpose_folder(path, source_video, frame_size, fps)
    if path.suffix.lower() == ".json":
        data = _read_json(path)
        if isinstance(data, dict) and "people" in data:
            raise InputError(f"{path}: a single OpenPose frame; give the folder holding all its frames")
        return load_coco_json(path, source_video, frame_size, fps)
    people = load_people_keypoints(path, video=video)
    if fps is not None:
        people = people.replace_tracks(replace(t, fps=float(fps)) for t in people.tracks)
    return people


def load_any_keypoints(path: str | Path, video: str | None = None, *, source_video=None,
                       frame_size: tuple[int, int] | None = None, fps: float | None = None) -> KeypointTrack:
    """The main person of :func:`load_any_people`."""
    return load_any_people(path, video, source_video=source_video, frame_size=frame_size, fps=fps).main_track
