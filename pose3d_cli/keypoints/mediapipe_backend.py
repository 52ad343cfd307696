"""MediaPipe BlazePose, one person per frame (``--detector mediapipe``; offline, CPU).

Uses ``mediapipe.solutions.pose`` of ``mediapipe==0.10.21``, whose wheel ships the BlazePose
person detector (``pose_detection.tflite``) and the *full* landmark model
(``pose_landmark_full.tflite``), so nothing is downloaded. The lite and heavy models are not in
the wheel and are not used. BlazePose finds **one** person per frame and tracks them from frame
to frame (video mode); the tracker in :mod:`pose3d_cli.keypoints.tracking` still links its
boxes, so a switch to another person shows up as a gap that is filled, not as a jump.

BlazePose's 33 landmarks → COCO-17 (x, y are the landmark's normalised coordinates times the
upright frame's width and height; score is the landmark's ``visibility`` in [0, 1]):

======= ================ ================
COCO-17 joint            BlazePose index
======= ================ ================
0       nose             0  nose
1       left_eye         2  left_eye
2       right_eye        5  right_eye
3       left_ear         7  left_ear
4       right_ear        8  right_ear
5       left_shoulder    11 left_shoulder
6       right_shoulder   12 right_shoulder
7       left_elbow       13 left_elbow
8       right_elbow      14 right_elbow
9       left_wrist       15 left_wrist
10      right_wrist      16 right_wrist
11      left_hip         23 left_hip
12      right_hip        24 right_hip
13      left_knee        25 left_knee
14      right_knee       26 right_knee
15      left_ankle       27 left_ankle
16      right_ankle      28 right_ankle
======= ================ ================

The box is the extent of the 33 landmarks with visibility ≥ 0.5, grown by 10 %; the box score
is the mean visibility of the 17 mapped joints (BlazePose reports no person score).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from pose3d_cli.errors import BackendUnavailableError
from pose3d_cli.keypoints.base import Detection, box_from_keypoints
from pose3d_cli.keypoints.tflite import quiet_native_stderr as _quiet_native_stderr

log = logging.getLogger(__name__)


def check_available() -> None:
    """Raise :class:`BackendUnavailableError` when mediapipe's pose solution cannot be imported."""
    try:
        from mediapipe.python.solutions import pose  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailableError(f"mediapipe is not installed ({exc}); install it with "
                                      "`pip install --no-deps mediapipe==0.10.21`") from None

#: BlazePose landmark index of each COCO-17 joint, in COCO order.
BLAZEPOSE_TO_COCO17 = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)


def landmarks_to_coco17(landmarks_norm: np.ndarray, width: int, height: int) -> np.ndarray:
    """BlazePose ``(33, 3)`` normalised x, y and visibility → COCO-17 ``(17, 3)`` pixels + score."""
    lm = np.asarray(landmarks_norm, np.float32)
    out = lm[list(BLAZEPOSE_TO_COCO17)].copy()
    out[:, 0] *= width
    out[:, 1] *= height
    out[:, 2] = np.clip(out[:, 2], 0.0, 1.0)
    return out


class MediaPipeDetector:
    """BlazePose full model via ``mediapipe.solutions.pose`` (CPU; one person per frame).

    Args:
        device: only ``"cpu"`` runs; ``"cuda"`` is accepted with a warning (the Python
            solution API has no GPU path).
        min_detection_confidence, min_tracking_confidence: BlazePose thresholds. Detection uses
            0.3 rather than mediapipe's 0.5: backlit or small people are often found only between
            the two, and a false find is dropped by the IoU tracker anyway.
        static_image_mode: detect afresh in every frame instead of tracking (slower; use for
            unrelated images).
    """

    name = "mediapipe"
    batch_size = 1
    #: tracker thresholds (high, low) on the box score (mean visibility of the 17 joints)
    track_scores = (0.5, 0.2)

    def __init__(self, device: str = "cpu", min_detection_confidence: float = 0.3,
                 min_tracking_confidence: float = 0.5, static_image_mode: bool = False) -> None:
        try:
            import mediapipe as mp
            from mediapipe.python.solutions import pose as mp_pose  # noqa: F401 - fails early if absent
        except ImportError as exc:
            raise BackendUnavailableError(
                f"the mediapipe detector needs mediapipe 0.10.21 ({exc}); install it with "
                "`pip install --no-deps mediapipe==0.10.21`") from None
        if str(device).startswith("cuda"):
            log.warning("mediapipe runs on the CPU; ignoring --device %s", device)
        self.version = f"mediapipe {mp.__version__} BlazePose full"
        self._options = {"static_image_mode": static_image_mode, "model_complexity": 1, "smooth_landmarks": True,
                         "enable_segmentation": False, "min_detection_confidence": min_detection_confidence,
                         "min_tracking_confidence": min_tracking_confidence}
        self._pose = None
        self.reset()

    def reset(self) -> None:
        """Forget the person tracked so far (call between unrelated clips)."""
        from mediapipe.python.solutions import pose as mp_pose

        self.close()
        try:
            with _quiet_native_stderr():
                self._pose = mp_pose.Pose(**self._options)
                # One blank frame makes the graph open all its calculators (and log about it) now,
                # while stderr is quiet; an empty picture leaves no person to track.
                self._pose.process(np.zeros((64, 64, 3), np.uint8))
            self._warm = 0  # frames with landmarks so far
        except (FileNotFoundError, RuntimeError, OSError) as exc:
            raise BackendUnavailableError(
                f"mediapipe's BlazePose model cannot be loaded ({str(exc).splitlines()[0]}); reinstall "
                "with `pip install --no-deps --force-reinstall mediapipe==0.10.21`") from None

    def detect(self, frames_rgb: Sequence[np.ndarray]) -> list[list[Detection]]:
        out = []
        for frame in frames_rgb:
            h, w = frame.shape[:2]
            if self._warm >= 3:
                result = self._pose.process(np.ascontiguousarray(frame))
            else:  # the graph's threads log while its models start, until landmarks have come out
                with _quiet_native_stderr():
                    result = self._pose.process(np.ascontiguousarray(frame))
                self._warm += result.pose_landmarks is not None
            if result.pose_landmarks is None:
                out.append([])
                continue
            lm = np.array([[p.x, p.y, p.visibility] for p in result.pose_landmarks.landmark], np.float32)
            kpts = landmarks_to_coco17(lm, w, h)
            all_px = lm[:, :2] * np.array([w, h], np.float32)
            box = box_from_keypoints(all_px, lm[:, 2], min_score=0.5)
            out.append([Detection(box, float(kpts[:, 2].mean()), kpts)])
        return out

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None
