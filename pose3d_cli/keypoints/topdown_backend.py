"""Top-down multi-person detection: MoveNet finds people, BlazePose reads each one's pose.

The default backend (``--detector movenet-blazepose``). Per frame:

1. **Find people** every ``redetect_every`` frames (and on every frame while nobody is being
   followed): MoveNet MultiPose Lightning (:mod:`~pose3d_cli.keypoints.movenet_backend`) on the
   whole frame gives person boxes. Each person already followed claims the most confident box
   overlapping theirs by IoU ≥ ``new_person_iou`` (one box each); every unclaimed box starts a
   new region of interest (ROI): a square about the box centre, ``roi_scale`` × the box's longer
   side. (So two people walking side by side, whose boxes overlap, are both followed.)
2. **Read each pose**: the ROI is cut out of the frame (rotated upright, resized to 256 × 256)
   and BlazePose's *full* landmark model (``pose_landmark_full.tflite`` of the mediapipe
   0.10.21 wheel, sha256 checked) gives 33 landmarks, their visibility and a pose-presence
   probability. A ROI whose presence is below ``min_presence`` is dropped (the person left, or
   the ROI lost them).
3. **Follow**: the next frame's ROI comes from this frame's landmarks, as in MediaPipe's own
   tracking: centre at the hips' midpoint (auxiliary landmark 33), side = 2 × its distance to
   the body-extent point (landmark 34) × 1.25, rotated so the body stands upright. Two ROIs that
   end on the same person (landmark boxes overlapping by IoU ≥ ``duplicate_iou``) are merged.

Output per person: COCO-17 (BlazePose indices 0, 2, 5, 7, 8, 11–16, 23–28, see
:data:`~pose3d_cli.keypoints.mediapipe_backend.BLAZEPOSE_TO_COCO17`) in frame pixels, score =
sigmoid of the landmark's visibility logit; box = extent of the 33 body landmarks grown by
``box_margin`` of its size (landmarks are joint centres: the margin reaches the head top and
soles); box score = the presence probability. Identities are *not* decided here: the tracker
(:mod:`pose3d_cli.keypoints.tracking`) links the per-frame detections.

Cost on a CPU: one MoveNet pass per ``redetect_every`` frames plus one landmark pass per person
per frame (about 12 ms each on 2 cores); see ``benchmarks/detect.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pose3d_cli.keypoints.base import Detection
from pose3d_cli.keypoints.mediapipe_backend import BLAZEPOSE_TO_COCO17
from pose3d_cli.keypoints.movenet_backend import MoveNetModel
from pose3d_cli.keypoints.tflite import check_runtime, load_interpreter, model_record

LANDMARK_RECORD = "blazepose_landmark_full"
CROP = 256
NUM_BODY_LANDMARKS = 33


def check_available() -> None:
    """Raise :class:`~pose3d_cli.errors.BackendUnavailableError` when LiteRT or mediapipe's
    landmark model is missing."""
    check_runtime()
    model_record(LANDMARK_RECORD)


@dataclass(frozen=True)
class Roi:
    """A square region of the frame: centre ``(cx, cy)`` pixels, ``side`` pixels, and ``angle``
    (radians) of the body axis from straight up, positive when the head leans towards +x; the
    crop is turned by it so that the body stands upright in the crop."""

    cx: float
    cy: float
    side: float
    angle: float = 0.0

    def to_crop(self, size: int = CROP) -> np.ndarray:
        """``(2, 3)`` affine map from frame pixels to crop pixels."""
        s = size / self.side
        c, si = math.cos(self.angle) * s, math.sin(self.angle) * s
        # crop = s·R·(p − centre) + size/2, R turning the body axis (sin a, −cos a) onto (0, −1)
        return np.array([[c, si, size / 2 - c * self.cx - si * self.cy],
                         [-si, c, size / 2 + si * self.cx - c * self.cy]], np.float64)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def _box_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of ``(N, 4)`` with ``(M, 4)`` xyxy boxes → ``(N, M)``."""
    a = np.asarray(a, np.float64).reshape(-1, 1, 4)
    b = np.asarray(b, np.float64).reshape(1, -1, 4)
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = np.clip(a[..., 2] - a[..., 0], 0, None) * np.clip(a[..., 3] - a[..., 1], 0, None)
    area_b = np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


class BlazePoseLandmarks:
    """BlazePose full landmark model on one ROI at a time."""

    def __init__(self, num_threads: int | None = None) -> None:
        import cv2  # noqa: F401

        self._interp = load_interpreter(LANDMARK_RECORD, num_threads)
        self._in = self._interp.get_input_details()[0]["index"]
        outs = {d["name"]: d["index"] for d in self._interp.get_output_details()}
        self._landmarks, self._presence = outs["Identity"], outs["Identity_1"]
        self.version = model_record(LANDMARK_RECORD).description

    def __call__(self, frame_rgb: np.ndarray, roi: Roi) -> tuple[np.ndarray, np.ndarray, float]:
        """Landmarks of the person in ``roi``.

        Returns:
            ``xy (39, 2)`` frame pixels (33 body landmarks + 6 auxiliary, 33 = hips' midpoint,
            34 = body-extent point), ``visibility (39,)`` in [0, 1], presence probability.
        """
        import cv2

        m = roi.to_crop(CROP)
        crop = cv2.warpAffine(frame_rgb, m, (CROP, CROP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        self._interp.set_tensor(self._in, (crop.astype(np.float32) * (1.0 / 255.0))[None])
        self._interp.invoke()
        raw = self._interp.get_tensor(self._landmarks)[0].reshape(39, 5)
        presence = float(self._interp.get_tensor(self._presence).reshape(-1)[0])
        inv = cv2.invertAffineTransform(m)
        xy = raw[:, :2].astype(np.float64) @ inv[:, :2].T + inv[:, 2]
        return xy.astype(np.float32), _sigmoid(raw[:, 3]).astype(np.float32), presence

    def close(self) -> None:
        self._interp = None


def roi_from_landmarks(xy: np.ndarray, scale: float = 1.25) -> Roi:
    """Next frame's ROI from ``(39, 2)`` landmarks: centre at the hips' midpoint (33), side
    2 × |33 → 34| × ``scale``, turned so that 33 → 34 points up (MediaPipe's own rule)."""
    c, top = xy[33].astype(np.float64), xy[34].astype(np.float64)
    d = top - c
    radius = float(np.hypot(*d))
    angle = math.atan2(d[0], -d[1])  # 0 when 34 is straight above 33 (image y down)
    return Roi(float(c[0]), float(c[1]), max(2 * radius * scale, 8.0), angle)


def roi_from_box(box: np.ndarray, scale: float = 1.4) -> Roi:
    """A new person's ROI: square about the ``(4,)`` box centre, ``scale`` × its longer side, upright."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return Roi((x1 + x2) / 2, (y1 + y2) / 2, max(max(x2 - x1, y2 - y1) * scale, 8.0), 0.0)


class TopDownDetector:
    """MoveNet boxes + BlazePose landmarks on each person's crop (``--detector movenet-blazepose``).

    Args:
        device: only the CPU is used (``cuda`` is accepted; LiteRT's Python wheel has no GPU path).
        redetect_every: frames between MoveNet passes (1 = every frame: best recall, slowest).
        input_size: MoveNet's input (longer side, pixels).
        min_box_score: least MoveNet person score to start following someone.
        min_presence: least BlazePose presence probability to keep following a person.
        new_person_iou: a MoveNet box overlapping a followed person by at least this IoU can be
            that person (each followed person claims one box).
        duplicate_iou: two followed people whose boxes overlap this much are one.
        roi_scale: side of a new person's crop as a multiple of the MoveNet box's longer side.
        box_margin: the landmark box grows by this fraction of its size on each side.
        max_people: most people followed at once (the most confident kept).
        num_threads: CPU threads per model (default: usable cores, at most 4).
    """

    name = "movenet-blazepose"
    batch_size = 1
    #: tracker thresholds (high, low) on the box score, here BlazePose's presence probability
    track_scores = (0.8, 0.5)

    def __init__(self, device: str = "cpu", redetect_every: int = 4, input_size: int = 512,
                 min_box_score: float = 0.2, min_presence: float = 0.5, new_person_iou: float = 0.3,
                 duplicate_iou: float = 0.5, roi_scale: float = 1.4, box_margin: float = 0.08,
                 max_people: int = 12, num_threads: int | None = None) -> None:
        self.movenet = MoveNetModel(input_size, num_threads)
        self.landmarks = BlazePoseLandmarks(num_threads)
        self.redetect_every = max(1, int(redetect_every))
        self.min_box_score = float(min_box_score)
        self.min_presence = float(min_presence)
        self.new_person_iou = float(new_person_iou)
        self.duplicate_iou = float(duplicate_iou)
        self.roi_scale = float(roi_scale)
        self.box_margin = float(box_margin)
        self.max_people = int(max_people)
        self.version = (f"{self.movenet.version} every {self.redetect_every} frames; "
                        f"{self.landmarks.version} on person crops")
        self.reset()

    def reset(self) -> None:
        """Forget the people followed so far (call between unrelated clips)."""
        self._rois: list[Roi] = []
        self._boxes = np.zeros((0, 4), np.float32)
        self._frame = 0

    def _new_rois(self, frame: np.ndarray) -> list[Roi]:
        boxes, scores, _ = self.movenet(frame)
        keep = (scores >= self.min_box_score) & (boxes[:, 2] - boxes[:, 0] >= 2) & (boxes[:, 3] - boxes[:, 1] >= 4)
        boxes = boxes[keep][np.argsort(-scores[keep], kind="stable")]
        claimed = np.zeros(len(self._boxes), bool)
        out = []
        for box in boxes:  # most confident first; each followed person claims one box at most
            if len(self._boxes):
                iou = np.where(claimed, -1.0, _box_iou_matrix(box[None], self._boxes)[0])
                best = int(np.argmax(iou))
                if iou[best] >= self.new_person_iou:
                    claimed[best] = True
                    continue
            out.append(roi_from_box(box, self.roi_scale))
        return out

    def _one_frame(self, frame: np.ndarray) -> list[Detection]:
        h, w = frame.shape[:2]
        rois = list(self._rois)
        if self._frame % self.redetect_every == 0 or not rois:
            rois += self._new_rois(frame)
        self._frame += 1
        found = []  # (presence, xy, visibility, box)
        for roi in rois:
            xy, vis, presence = self.landmarks(frame, roi)
            if presence < self.min_presence:
                continue
            body = xy[:NUM_BODY_LANDMARKS]
            lo, hi = body.min(0), body.max(0)
            pad = (hi - lo) * self.box_margin
            box = np.concatenate([lo - pad, hi + pad]).astype(np.float32)
            box[[0, 2]] = box[[0, 2]].clip(0, w)
            box[[1, 3]] = box[[1, 3]].clip(0, h)
            if box[2] - box[0] < 2 or box[3] - box[1] < 2:  # wholly outside the frame
                continue
            found.append((presence, xy, vis, box))
        found.sort(key=lambda f: -f[0])
        kept: list[tuple] = []
        for item in found:
            if kept and (_box_iou_matrix(item[3][None], np.stack([k[3] for k in kept]))[0] >= self.duplicate_iou).any():
                continue
            kept.append(item)
            if len(kept) >= self.max_people:
                break
        self._rois = [roi_from_landmarks(xy) for _, xy, _, _ in kept]
        self._boxes = np.stack([k[3] for k in kept]) if kept else np.zeros((0, 4), np.float32)
        dets = []
        for presence, xy, vis, box in kept:
            coco = np.concatenate([xy[list(BLAZEPOSE_TO_COCO17)], vis[list(BLAZEPOSE_TO_COCO17), None]], 1)
            dets.append(Detection(box, presence, coco))
        return dets

    def detect(self, frames_rgb: Sequence[np.ndarray]) -> list[list[Detection]]:
        return [self._one_frame(np.ascontiguousarray(f)) for f in frames_rgb]

    def close(self) -> None:
        self.movenet.close()
        self.landmarks.close()
