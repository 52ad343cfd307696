"""From per-frame detections to one clean track of the main person.

1. **Linking.** Detections of consecutive frames are linked into tracks by box IoU (greedy,
   highest IoU first, at least ``iou_threshold``); a track survives ``max_gap`` frames without
   a detection, so a person who is missed for a moment keeps their track. For linking, boxes
   are widened to at least half their height: a walker seen from the side has a box that
   narrows to a sliver each time the legs pass, and the sliver would otherwise lose the track.
2. **Main person.** The track with the highest *total* box score wins: the most confidently
   detected person, weighted by how long they are on screen. Other people's detections are
   never mixed in, so the track does not jump between people.
3. **Gap filling.** A joint counts as observed where its frame belongs to the main track and
   its score is at least ``min_score``. Every other (frame, joint) is linearly interpolated over
   time from the observed values of that joint; before the first and after the last
   observation the edge value is held. The filled frames and joints are returned (and written
   to the keypoint file) with score 0, never hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pose3d_cli.errors import NoPersonError
from pose3d_cli.keypoints.base import NUM_JOINTS, Detection


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``(4,)`` xyxy box with ``(M, 4)`` boxes → ``(M,)`` in [0, 1]."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = max(box[2] - box[0], 0) * max(box[3] - box[1], 0)
    area_b = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _linking_box(box: np.ndarray, min_aspect: float = 0.5) -> np.ndarray:
    """``box`` widened about its centre to at least ``min_aspect`` × its height."""
    x1, y1, x2, y2 = (float(v) for v in box)
    half = max(x2 - x1, min_aspect * (y2 - y1)) / 2
    cx = (x1 + x2) / 2
    return np.array([cx - half, y1, cx + half, y2])


def link_tracks(detections: Sequence[Sequence[Detection]], iou_threshold: float = 0.2,
                max_gap: int = 30) -> list[dict[int, int]]:
    """Link detections over time by box IoU.

    Args:
        detections: per frame, the detections of that frame.
        iou_threshold: least IoU between a track's last box and a detection to extend it.
        max_gap: frames a track may go undetected and still be extended.

    Returns:
        Tracks, each a dict frame index → index of the detection in that frame.
    """
    tracks: list[dict[int, int]] = []
    last_box: list[np.ndarray] = []
    last_frame: list[int] = []
    for t, dets in enumerate(detections):
        if not dets:
            continue
        active = [k for k in range(len(tracks)) if t - last_frame[k] <= max_gap + 1]
        boxes = np.stack([_linking_box(d.box_xyxy) for d in dets])
        pairs = []
        for k in active:
            iou = box_iou(last_box[k], boxes)
            pairs += [(float(iou[i]), k, i) for i in range(len(dets)) if iou[i] >= iou_threshold]
        pairs.sort(key=lambda p: -p[0])
        used_tracks: set[int] = set()
        used_dets: set[int] = set()
        for _, k, i in pairs:
            if k in used_tracks or i in used_dets:
                continue
            used_tracks.add(k)
            used_dets.add(i)
            tracks[k][t] = i
            last_box[k], last_frame[k] = boxes[i], t
        for i in range(len(dets)):
            if i not in used_dets:
                tracks.append({t: i})
                last_box.append(boxes[i])
                last_frame.append(t)
    return tracks


@dataclass(frozen=True)
class PersonTrack:
    """The main person's raw (unfilled) keypoints; see :func:`select_main_person`.

    Attributes:
        keypoints: ``(T, 17, 3) float32`` x, y pixels and score; NaN where ``present`` is False.
        boxes: ``(T, 4) float32`` xyxy pixels, NaN where absent.
        box_scores: ``(T,) float32``, 0 where absent.
        present: ``(T,) bool`` the main person was detected in the frame.
        num_tracks: number of distinct people (tracks) seen in the clip.
    """

    keypoints: np.ndarray
    boxes: np.ndarray
    box_scores: np.ndarray
    present: np.ndarray
    num_tracks: int


def select_main_person(detections: Sequence[Sequence[Detection]], iou_threshold: float = 0.2,
                       max_gap: int = 30, source: str = "the clip") -> PersonTrack:
    """Pick the main person's track (highest total box score) and gather its detections.

    Raises:
        NoPersonError: no detection in any frame (``source`` names the clip in the message).
    """
    t_total = len(detections)
    tracks = link_tracks(detections, iou_threshold, max_gap)
    if not tracks:
        raise NoPersonError(f"{source}: no person found in any of its {t_total} frames; check that a whole "
                            "person is visible, or try another --detector")
    totals = [sum(detections[t][i].box_score for t, i in tr.items()) for tr in tracks]
    best = tracks[int(np.argmax(totals))]
    kpts = np.full((t_total, NUM_JOINTS, 3), np.nan, np.float32)
    boxes = np.full((t_total, 4), np.nan, np.float32)
    box_scores = np.zeros(t_total, np.float32)
    present = np.zeros(t_total, bool)
    for t, i in best.items():
        det = detections[t][i]
        kpts[t] = det.keypoints
        boxes[t] = det.box_xyxy
        box_scores[t] = det.box_score
        present[t] = True
    return PersonTrack(kpts, boxes, box_scores, present, len(tracks))


@dataclass(frozen=True)
class FilledKeypoints:
    """Gap-filled keypoints; see :func:`fill_gaps`.

    Attributes:
        keypoints_px: ``(T, J, 2) float32`` every frame and joint finite.
        scores: ``(T, J) float32`` detector score, 0 where filled.
        filled_frames: ``(T,) bool`` the frame had no detection of the person.
        filled_joints: ``(T, J) bool`` the joint was interpolated (includes filled frames).
    """

    keypoints_px: np.ndarray
    scores: np.ndarray
    filled_frames: np.ndarray
    filled_joints: np.ndarray


def fill_gaps(keypoints: np.ndarray, present: np.ndarray, min_score: float = 0.3) -> FilledKeypoints:
    """Interpolate missing frames and low-score joints over time, holding the edges.

    Args:
        keypoints: ``(T, J, 3)`` x, y pixels and score; rows where ``present`` is False are ignored.
        present: ``(T,) bool`` frames with a detection; at least one must be True.
        min_score: joints scoring lower are treated as missing. A joint that never reaches it
            keeps its raw values where detected (it is still marked filled there).

    Returns:
        :class:`FilledKeypoints`.
    """
    keypoints = np.asarray(keypoints, np.float32)
    present = np.asarray(present, bool)
    t_total, n_joints = keypoints.shape[:2]
    if not present.any():
        raise NoPersonError("no frame with a detection to fill from")
    frames = np.arange(t_total, dtype=np.float64)
    scores = np.where(present[:, None], np.nan_to_num(keypoints[..., 2]), 0.0)
    observed = present[:, None] & (scores >= min_score)
    out = np.empty((t_total, n_joints, 2), np.float32)
    for j in range(n_joints):
        use = observed[:, j] if observed[:, j].any() else present
        for c in range(2):
            out[:, j, c] = np.interp(frames, frames[use], keypoints[use, j, c])
    filled_joints = ~observed
    return FilledKeypoints(out, np.where(filled_joints, 0.0, scores).astype(np.float32), ~present, filled_joints)
