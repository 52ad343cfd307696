"""What every 2D detector backend returns, and the protocol it follows.

Convention: pixel coordinates of the upright frame, origin top-left, x right, y down. Keypoints
are COCO-17 (see :data:`pose3d_cli.skeleton.COCO17`), scores in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from pose3d_cli.errors import InputError

NUM_JOINTS = 17


@dataclass(frozen=True)
class Detection:
    """One person in one frame.

    Attributes:
        box_xyxy: ``(4,) float32`` box x1, y1, x2, y2 in pixels.
        box_score: person confidence in [0, 1].
        keypoints: ``(17, 3) float32`` COCO-17 x, y in pixels and per-joint score in [0, 1].
        feature: optional appearance feature (normalised colour histograms, see
            :mod:`pose3d_cli.keypoints.appearance`) the tracker uses to tell people apart.
    """

    box_xyxy: np.ndarray
    box_score: float
    keypoints: np.ndarray
    feature: np.ndarray | None = None

    def __post_init__(self) -> None:
        box = np.asarray(self.box_xyxy, np.float32).reshape(-1)
        kp = np.asarray(self.keypoints, np.float32)
        if box.shape != (4,):
            raise InputError(f"a detection box must have 4 values (x1, y1, x2, y2), got shape {box.shape}")
        if kp.shape != (NUM_JOINTS, 3):
            raise InputError(f"detection keypoints must have shape (17, 3), got {kp.shape}")
        object.__setattr__(self, "box_xyxy", box)
        object.__setattr__(self, "keypoints", kp)
        object.__setattr__(self, "box_score", float(self.box_score))

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box_xyxy
        return float(max(x2 - x1, 0.0) * max(y2 - y1, 0.0))


@runtime_checkable
class Detector(Protocol):
    """A 2D person-keypoint detector.

    Attributes:
        name: registry name (``"mediapipe"``, ``"torchvision"``, ``"detectron2"``).
        version: version string recorded in the keypoint file (library and model).
        batch_size: frames per :meth:`detect` call that the backend prefers.
    """

    name: str
    version: str
    batch_size: int

    def detect(self, frames_rgb: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detect people in consecutive frames.

        Args:
            frames_rgb: ``(H, W, 3) uint8`` RGB upright frames, in time order (backends that
                track between frames rely on it).

        Returns:
            One list of :class:`Detection` per frame (empty where nobody was found).
        """

    def close(self) -> None:
        """Release the model (files, GPU memory)."""


def box_from_keypoints(kpts_px: np.ndarray, scores: np.ndarray | None = None, min_score: float = 0.0,
                       margin: float = 0.1) -> np.ndarray:
    """Box ``(4,)`` x1, y1, x2, y2 around ``(J, 2)`` keypoints with ``score >= min_score``.

    The box is grown by ``margin`` of its size on each side (joints lie inside the body
    outline). Falls back to all joints when none passes ``min_score``.
    """
    pts = np.asarray(kpts_px, np.float32)[:, :2]
    if scores is not None:
        keep = np.asarray(scores) >= min_score
        if keep.any():
            pts = pts[keep]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = (hi - lo) * margin
    return np.concatenate([lo - pad, hi + pad]).astype(np.float32)


def detections_from_arrays(boxes_xyxy: np.ndarray, box_scores: np.ndarray, keypoints: np.ndarray,
                           min_box_score: float = 0.0) -> list[Detection]:
    """Detections of one frame from model outputs.

    Args:
        boxes_xyxy: ``(N, 4)`` boxes in pixels.
        box_scores: ``(N,)`` person scores in [0, 1].
        keypoints: ``(N, 17, 3)`` COCO-17 x, y, score (score already in [0, 1]).
        min_box_score: drop detections scoring lower.

    Returns:
        Detections sorted by box score, highest first.
    """
    boxes_xyxy = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
    box_scores = np.asarray(box_scores, np.float32).reshape(-1)
    keypoints = np.asarray(keypoints, np.float32).reshape(-1, NUM_JOINTS, 3)
    if not (len(boxes_xyxy) == len(box_scores) == len(keypoints)):
        raise InputError(f"detector returned {len(boxes_xyxy)} boxes, {len(box_scores)} scores and "
                         f"{len(keypoints)} keypoint sets; they must match")
    order = np.argsort(-box_scores, kind="stable")
    return [Detection(boxes_xyxy[i], float(box_scores[i]), keypoints[i])
            for i in order if box_scores[i] >= min_box_score]
