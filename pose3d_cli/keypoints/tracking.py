"""From per-frame detections to people with identities over time.

:func:`track_people` is a multi-object tracker in the manner of SORT and ByteTrack, written for
this project (a pure function of the detections; any source can use it: detectors, COCO JSON,
OpenPose folders):

1. **Motion.** Each person's box is followed by a constant-velocity Kalman filter on (centre x,
   centre y, aspect w/h, height), the state and noise model of SORT/ByteTrack (position noise
   1/20 and velocity noise 1/160 of the box height per frame).
2. **Assignment.** Each frame, predicted boxes and detections are matched by the Hungarian method
   (:func:`scipy.optimize.linear_sum_assignment`) on a cost of ``1 − IoU`` plus the centre
   distance in box heights (the smaller of the distances to the predicted and to the last seen
   box) plus, where detections carry appearance features, ``1 −`` their Bhattacharyya
   similarity. A pair is allowed when the IoU is at least ``min_iou`` or the centre lies within a
   gate that widens the longer the person has been missed, and the heights differ by less than
   ``max_height_ratio``. For IoU, boxes are widened to at least half their height: a walker seen
   from the side has a box that narrows to a sliver each time the legs pass.
3. **Low-score detections keep tracks alive** (ByteTrack): detections scoring at least
   ``high_score`` are matched first, to every person still remembered; those between
   ``low_score`` and ``high_score`` are then matched only to people seen in the previous frame
   (stricter gate) and never start a new person.
4. **Lost and re-acquired.** A person without a detection is remembered for ``reacquire_s``
   seconds; one who reappears near their predicted or last seen position within that window
   keeps their id (occlusion, crossing, detector misses).
5. **Stitching across jumps.** Afterwards, a person who vanished and a person who appeared within
   ``stitch_gap_s`` after are the same person when that pair is the only such hand-over in the
   window, they did not both cross a frame edge (one leaving, another entering), and their
   appearance (median colour histograms of torso and thighs) agrees to at least
   ``stitch_similarity`` — or ``stitch_similarity_alone`` when nobody else is in view around the
   hand-over (one person filmed alone, whose image jumps at a cut or a loop).
6. **Spurious tracks** seen in fewer than ``min_track_frames`` frames (or under
   ``min_track_s`` seconds), or whose median box is shorter than ``min_height_frac`` of the
   frame, are dropped.

Ids are 0, 1, 2… in the order people first appear (ties: left to right).

The **main person** (:func:`main_person_index`) is the longest-present, largest one: the
highest sum over the frames where they are detected of their box height (frames × typical
size), so a passer-by close to the camera for a moment does not outweigh the subject.

:func:`select_main_person` and :func:`fill_gaps` are the single-person API kept for callers that
want one track with every frame filled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pose3d_cli.errors import NoPersonError
from pose3d_cli.keypoints.base import NUM_JOINTS, Detection

# Kalman filter noise model of SORT/ByteTrack: standard deviations relative to the box height.
_STD_POS = 1.0 / 20
_STD_VEL = 1.0 / 160


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``(4,)`` xyxy box with ``(M, 4)`` boxes → ``(M,)`` in [0, 1]."""
    return box_iou_matrix(np.asarray(box).reshape(1, 4), boxes)[0]


def box_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of ``(N, 4)`` with ``(M, 4)`` xyxy boxes → ``(N, M)`` in [0, 1]."""
    a = np.asarray(a, np.float64).reshape(-1, 1, 4)
    b = np.asarray(b, np.float64).reshape(1, -1, 4)
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = np.clip(a[..., 2] - a[..., 0], 0, None) * np.clip(a[..., 3] - a[..., 1], 0, None)
    area_b = np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _widen(boxes: np.ndarray, min_aspect: float = 0.5) -> np.ndarray:
    """``(N, 4)`` boxes widened about their centres to at least ``min_aspect`` × their height."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    half = np.maximum(boxes[:, 2] - boxes[:, 0], min_aspect * (boxes[:, 3] - boxes[:, 1])) / 2
    return np.stack([cx - half, boxes[:, 1], cx + half, boxes[:, 3]], 1)


def appearance_similarity(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Bhattacharyya coefficient in [0, 1] of two appearance features (normalised histograms,
    possibly several concatenated, each summing to 1); NaN when either is missing."""
    if a is None or b is None:
        return float("nan")
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.sum() <= 0 or b.sum() <= 0:
        return float("nan")
    return float(np.sqrt(a * b).sum() / np.sqrt(a.sum() * b.sum()))


class _Kalman:
    """Constant-velocity Kalman filter on one box (cx, cy, aspect, h) — SORT/ByteTrack's model."""

    _F = np.eye(8)
    _F[:4, 4:] = np.eye(4)
    _H = np.eye(4, 8)

    def __init__(self, box: np.ndarray) -> None:
        z = self.measure(box)
        self.x = np.concatenate([z, np.zeros(4)])
        h = z[3]
        std = [2 * _STD_POS * h, 2 * _STD_POS * h, 1e-2, 2 * _STD_POS * h,
               10 * _STD_VEL * h, 10 * _STD_VEL * h, 1e-5, 10 * _STD_VEL * h]
        self.P = np.diag(np.square(std))

    @staticmethod
    def measure(box: np.ndarray) -> np.ndarray:
        x1, y1, x2, y2 = (float(v) for v in box)
        h = max(y2 - y1, 1.0)
        return np.array([(x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, 1.0) / h, h])

    def predict(self, tracked: bool = True) -> None:
        """Advance one frame; a person not seen in the last frame keeps their size (ByteTrack)."""
        if not tracked:
            self.x[7] = 0.0
        h = max(self.x[3], 1.0)
        q = np.square([_STD_POS * h, _STD_POS * h, 1e-2, _STD_POS * h,
                       _STD_VEL * h, _STD_VEL * h, 1e-5, _STD_VEL * h])
        self.x = self._F @ self.x
        self.x[3] = max(self.x[3], 1.0)
        self.x[2] = max(self.x[2], 0.05)
        self.P = self._F @ self.P @ self._F.T + np.diag(q)

    def update(self, box: np.ndarray) -> None:
        z = self.measure(box)
        h = max(self.x[3], 1.0)
        r = np.diag(np.square([_STD_POS * h, _STD_POS * h, 1e-1, _STD_POS * h]))
        s = self._H @ self.P @ self._H.T + r
        k = np.linalg.solve(s, self._H @ self.P).T
        self.x = self.x + k @ (z - self._H @ self.x)
        self.P = (np.eye(8) - k @ self._H) @ self.P

    @property
    def box(self) -> np.ndarray:
        cx, cy, a, h = self.x[:4]
        w = a * h
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


@dataclass
class _Track:
    kf: _Kalman
    last_box: np.ndarray
    frames: dict[int, int] = field(default_factory=dict)  # frame → detection index
    missed: int = 0
    features: list[np.ndarray] = field(default_factory=list)
    heights: list[float] = field(default_factory=list)

    def add(self, t: int, i: int, det: Detection) -> None:
        """Detection ``i`` of frame ``t`` is this person (the filter is updated by the caller)."""
        self.last_box = det.box_xyxy.astype(np.float64)
        self.frames[t] = i
        self.missed = 0
        self.heights.append(float(max(det.box_xyxy[3] - det.box_xyxy[1], 1.0)))
        if det.feature is not None:
            self.features.append(det.feature)

    @property
    def height(self) -> float:
        """Typical box height: the median of the last 15 detections (a jump or a crouch does not
        shrink the size used to gate re-acquisition)."""
        return float(np.median(self.heights[-15:])) if self.heights else \
            float(max(self.last_box[3] - self.last_box[1], 1.0))


@dataclass(frozen=True)
class PersonTrack:
    """One person's raw (unfilled) detections over the clip.

    Attributes:
        keypoints: ``(T, 17, 3) float32`` x, y pixels and score; NaN where ``present`` is False.
        boxes: ``(T, 4) float32`` xyxy pixels, NaN where absent.
        box_scores: ``(T,) float32``, 0 where absent.
        present: ``(T,) bool`` the person was detected in the frame.
        num_tracks: number of people (tracks) found in the clip.
        person_id: the person's id (0, 1, … in order of first appearance).
    """

    keypoints: np.ndarray
    boxes: np.ndarray
    box_scores: np.ndarray
    present: np.ndarray
    num_tracks: int
    person_id: int = 0

    @property
    def detected_frames(self) -> int:
        return int(self.present.sum())

    @property
    def median_height(self) -> float:
        """Median box height in pixels over the detected frames (NaN when never detected)."""
        h = (self.boxes[:, 3] - self.boxes[:, 1])[self.present]
        return float(np.median(h)) if h.size else float("nan")


def _cost_matrix(tracks: list[_Track], dets: list[Detection], fps: float, min_iou: float,
                 gate: float, gate_growth: float, gate_max: float, max_height_ratio: float) -> np.ndarray:
    """``(N, M)`` assignment cost, ``inf`` where a pair is not allowed."""
    pred = np.stack([t.kf.box for t in tracks])
    last = np.stack([t.last_box for t in tracks])
    boxes = np.stack([d.box_xyxy for d in dets]).astype(np.float64)
    iou = box_iou_matrix(_widen(pred), _widen(boxes))
    c_det = _centres(boxes)
    heights = np.array([t.height for t in tracks])
    d_pred = np.linalg.norm(_centres(pred)[:, None] - c_det[None], axis=-1)
    d_last = np.linalg.norm(_centres(last)[:, None] - c_det[None], axis=-1)
    dist = np.minimum(d_pred, d_last) / heights[:, None]
    missed = np.array([t.missed for t in tracks], np.float64)
    radius = np.minimum(gate + gate_growth * missed / max(fps, 1e-6), gate_max)
    det_h = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    last_h = np.maximum(last[:, 3] - last[:, 1], 1.0)
    size_ok = np.zeros(iou.shape, bool)
    for ref in (heights, last_h):  # the typical or the latest height (a crouch shrinks the box fast)
        ratio = det_h[None] / ref[:, None]
        size_ok |= (ratio < max_height_ratio) & (ratio > 1.0 / max_height_ratio)
    allowed = ((iou >= min_iou) | (dist <= radius[:, None])) & size_ok
    cost = (1.0 - iou) + 0.5 * np.minimum(dist, 4.0)
    for i, t in enumerate(tracks):
        if not t.features:
            continue
        ref = t.features[-1]
        for j, d in enumerate(dets):
            sim = appearance_similarity(ref, d.feature)
            if np.isfinite(sim):
                cost[i, j] += 0.5 * (1.0 - sim)  # a tie-breaker: small people's colours are unsure
    return np.where(allowed, cost, np.inf)


def _assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """Hungarian assignment over the allowed (finite) pairs."""
    from scipy.optimize import linear_sum_assignment

    if cost.size == 0 or not np.isfinite(cost).any():
        return []
    big = np.nanmax(cost[np.isfinite(cost)]) * 10 + 1e6
    rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, big))
    return [(int(r), int(c)) for r, c in zip(rows, cols) if np.isfinite(cost[r, c])]


def _match(alive: list[_Track], track_ids: list[int], frame_dets: Sequence[Detection], det_ids: list[int], t: int,
           fps: float, matched: set[int], **gates) -> list[int]:
    """Assign detections ``det_ids`` of frame ``t`` to the people ``track_ids``; update the
    matched people (their indices go into ``matched``) and return the detections left over."""
    if not track_ids or not det_ids:
        return det_ids
    cost = _cost_matrix([alive[k] for k in track_ids], [frame_dets[i] for i in det_ids], fps, **gates)
    used = set()
    for r, c in _assign(cost):
        tr, i = alive[track_ids[r]], det_ids[c]
        tr.kf.update(frame_dets[i].box_xyxy)
        tr.add(t, i, frame_dets[i])
        matched.add(track_ids[r])
        used.add(i)
    return [i for i in det_ids if i not in used]


def _centres(boxes: np.ndarray) -> np.ndarray:
    """``(N, 4)`` xyxy → ``(N, 2)`` centres."""
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1)


def _online(detections: Sequence[Sequence[Detection]], fps: float, high_score: float, low_score: float,
            min_iou: float, gate: float, gate_growth: float, gate_max: float, max_height_ratio: float,
            reacquire_s: float) -> list[_Track]:
    max_missed = max(1, round(reacquire_s * fps))
    alive: list[_Track] = []
    done: list[_Track] = []
    for t, frame_dets in enumerate(detections):
        for tr in alive:
            tr.kf.predict(tracked=tr.missed == 0)
        high = [i for i, d in enumerate(frame_dets) if d.box_score >= high_score]
        low = [i for i, d in enumerate(frame_dets) if low_score <= d.box_score < high_score]
        matched_tracks: set[int] = set()

        everyone = list(range(len(alive)))
        rest_high = _match(alive, everyone, frame_dets, high, t, fps, matched_tracks, min_iou=min_iou, gate=gate,
                           gate_growth=gate_growth, gate_max=gate_max, max_height_ratio=max_height_ratio)
        seen_last_frame = [k for k in everyone if k not in matched_tracks and alive[k].missed == 0]
        _match(alive, seen_last_frame, frame_dets, low, t, fps, matched_tracks, min_iou=max(min_iou, 0.3),
               gate=min(gate, 0.3), gate_growth=0.0, gate_max=min(gate, 0.3), max_height_ratio=max_height_ratio)
        for k in everyone:
            if k not in matched_tracks:
                alive[k].missed += 1
        for i in rest_high:
            tr = _Track(_Kalman(frame_dets[i].box_xyxy), frame_dets[i].box_xyxy.astype(np.float64))
            tr.add(t, i, frame_dets[i])
            alive.append(tr)
        keep = []
        for tr in alive:
            (done if tr.missed > max_missed else keep).append(tr)
        alive = keep
    return done + alive


def _median_feature(track: _Track, last: bool) -> np.ndarray | None:
    """Median of the first (``last=False``) or last few appearance features of a track."""
    if not track.features:
        return None
    feats = np.stack(track.features[-10:] if last else track.features[:10])
    med = np.median(feats, axis=0)
    return med / med.sum() if med.sum() > 0 else None


def _at_edge(box: np.ndarray, width: float | None, height: float | None, margin: float = 0.03) -> bool:
    """The box reaches the frame's left or right edge (within ``margin`` of the width), or is cut
    by its bottom edge: where people walk in and out."""
    if width is None or height is None:
        return False
    x1, _, x2, y2 = box
    m = margin * width
    return x1 <= m or x2 >= width - m or y2 >= height - 2


def _stitch(tracks: list[_Track], detections: Sequence[Sequence[Detection]], fps: float, gap_s: float,
            min_similarity: float, min_similarity_alone: float, width: float | None,
            height: float | None) -> list[_Track]:
    """Join a track that vanished to the one that appeared soon after (see the module docstring)."""
    if len(tracks) < 2 or gap_s <= 0:
        return tracks
    max_gap = max(1, round(gap_s * fps))
    spans = [(min(tr.frames), max(tr.frames)) for tr in tracks]
    while True:
        pairs = []
        for a, (_, end_a) in enumerate(spans):
            for b, (start_b, _) in enumerate(spans):
                if a != b and 0 < start_b - end_a <= max_gap:
                    pairs.append((a, b))
        joined = False
        for a, b in pairs:
            if sum(p[0] == a for p in pairs) != 1 or sum(p[1] == b for p in pairs) != 1:
                continue  # ambiguous hand-over: several people left or came in the window
            end_box = detections[spans[a][1]][tracks[a].frames[spans[a][1]]].box_xyxy
            start_box = detections[spans[b][0]][tracks[b].frames[spans[b][0]]].box_xyxy
            if _at_edge(end_box, width, height) and _at_edge(start_box, width, height):
                continue  # one left through an edge, another came in through one
            lo, hi = spans[a][1] - max_gap, spans[b][0] + max_gap
            alone = not any(k not in (a, b) and spans[k][0] <= hi and spans[k][1] >= lo for k in range(len(spans)))
            sim = appearance_similarity(_median_feature(tracks[a], True), _median_feature(tracks[b], False))
            if not np.isfinite(sim) or sim < (min_similarity_alone if alone else min_similarity):
                continue
            tracks[a].frames.update(tracks[b].frames)
            tracks[a].features += tracks[b].features
            tracks[a].heights += tracks[b].heights
            spans[a] = (spans[a][0], spans[b][1])
            del tracks[b], spans[b]
            joined = True
            break
        if not joined:
            return tracks


def track_people(detections: Sequence[Sequence[Detection]], fps: float, *, high_score: float = 0.5,
                 low_score: float = 0.1, min_iou: float = 0.1, gate: float = 0.6, gate_growth: float = 2.0,
                 gate_max: float = 3.0, max_height_ratio: float = 2.0, reacquire_s: float = 2.0,
                 stitch_gap_s: float = 1.0, stitch_similarity: float = 0.9, stitch_similarity_alone: float = 0.5,
                 min_track_frames: int = 10,
                 min_track_s: float = 0.3, min_height_frac: float = 0.03, frame_size: tuple[int, int] | None = None,
                 ) -> list[PersonTrack]:
    """Link per-frame detections into people with stable ids (see the module docstring).

    Args:
        detections: per frame (T frames), the detections of that frame.
        fps: frames per second (turns the time windows into frames).
        high_score, low_score: box-score thresholds of the two matching stages; detections under
            ``low_score`` are ignored. Backends state theirs (``Detector.track_scores``).
        min_iou: least IoU (widened boxes) that allows a match whatever the distance.
        gate, gate_growth, gate_max: a match is also allowed when the centre lies within ``gate``
            box heights of the predicted or last seen centre; the gate grows by ``gate_growth``
            heights per second missed, up to ``gate_max``.
        max_height_ratio: the detection's and the person's heights differ by less than this factor.
        reacquire_s: seconds a missed person is remembered (re-acquisition window).
        stitch_gap_s, stitch_similarity: hand-over window and least appearance similarity for
            joining a vanished person to one who appeared (needs ``Detection.feature``);
            ``stitch_similarity_alone`` applies instead when nobody else is in view around the
            hand-over.
        min_track_frames, min_track_s: people detected in fewer frames / seconds are dropped.
        min_height_frac: people whose median box height is under this fraction of the frame
            height are dropped (needs ``frame_size``; else no size test).
        frame_size: ``(width, height)`` in pixels, for the edge and size rules.

    Returns:
        One :class:`PersonTrack` per person (T frames each, NaN where absent), sorted by id.
    """
    t_total = len(detections)
    fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else 30.0
    width, height = frame_size if frame_size is not None else (None, None)
    tracks = _online(detections, fps, high_score, low_score, min_iou, gate, gate_growth, gate_max,
                     max_height_ratio, reacquire_s)
    tracks = _stitch(tracks, detections, fps, stitch_gap_s, stitch_similarity, stitch_similarity_alone, width,
                     height)
    min_frames = max(1, int(min_track_frames), int(np.ceil(min_track_s * fps)))
    people = []
    for tr in tracks:
        if len(tr.frames) < min_frames:
            continue
        kpts = np.full((t_total, NUM_JOINTS, 3), np.nan, np.float32)
        boxes = np.full((t_total, 4), np.nan, np.float32)
        scores = np.zeros(t_total, np.float32)
        present = np.zeros(t_total, bool)
        for t, i in tr.frames.items():
            det = detections[t][i]
            kpts[t], boxes[t], scores[t], present[t] = det.keypoints, det.box_xyxy, det.box_score, True
        too_small = height is not None and min_height_frac > 0 and \
            np.median(boxes[present, 3] - boxes[present, 1]) < min_height_frac * height
        if too_small:
            continue
        people.append((kpts, boxes, scores, present))
    first = [(int(np.argmax(p[3])), float(np.nanmean(p[1][p[3]][:1, [0, 2]]))) for p in people]
    order = sorted(range(len(people)), key=lambda k: first[k])
    return [PersonTrack(*people[k], num_tracks=len(people), person_id=pid) for pid, k in enumerate(order)]


def main_person_index(people: Sequence[PersonTrack]) -> int:
    """Index of the main person: the highest sum of box heights over detected frames (the
    longest-present, largest person); 0 for an empty list."""
    if not people:
        return 0
    weight = [float(np.nansum((p.boxes[:, 3] - p.boxes[:, 1])[p.present])) for p in people]
    return int(np.argmax(weight))


def select_main_person(detections: Sequence[Sequence[Detection]], iou_threshold: float = 0.2,
                       max_gap: int = 30, source: str = "the clip", fps: float = 30.0) -> PersonTrack:
    """The main person's raw track (single-person API; every track is kept, however short).

    Args:
        detections: per frame, the detections of that frame.
        iou_threshold: least IoU that links a detection to a person whatever the distance.
        max_gap: frames a person may be missed and still be re-acquired.
        source: names the clip in the error message.
        fps: frames per second of the clip.

    Raises:
        NoPersonError: no detection in any frame.
    """
    people = track_people(detections, fps, high_score=0.0, low_score=0.0, min_iou=iou_threshold,
                          reacquire_s=max_gap / fps, min_track_frames=1, min_track_s=0.0, stitch_gap_s=0.0)
    if not people:
        raise NoPersonError(f"{source}: no person found in any of its {len(detections)} frames; check that a "
                            "whole person is visible, or try another --detector")
    return people[main_person_index(people)]


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
    """Interpolate missing frames and low-score joints over time, holding the edges (every frame
    of the clip becomes finite: the single-person API).

    Args:
        keypoints: ``(T, J, 3)`` x, y pixels and score; rows where ``present`` is False are ignored.
        present: ``(T,) bool`` frames with a detection; at least one must be True.
        min_score: joints scoring lower are treated as missing. A joint that never reaches it
            keeps its raw values where detected (it is still marked filled there).
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
