"""MoveNet MultiPose Lightning: up to six people per frame, COCO-17, offline (the fast mode).

The weights ship inside pose3d (``weights/movenet_multipose_lightning_fp16.tflite``, Google's
model, Apache-2.0; source and sha256 in the JSON record beside it, checked on load) and run on
LiteRT (``ai-edge-litert``).

Input: the upright RGB frame resized so that its longer side is ``input_size`` pixels (aspect
kept, INTER_AREA), padded right and bottom with black to multiples of 32. Output per person:
17 × (y, x, score) normalised to the padded input, a box (ymin, xmin, ymax, xmax) and a person
score — all mapped back to pixels of the frame here. The model's keypoint order is COCO-17.

``input_size`` trades recall for speed: the model was trained around 256 px, where the people
of a 768×576 street scene are too small; 512 finds most of them (see ``benchmarks/detect.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pose3d_cli.keypoints.base import Detection, detections_from_arrays
from pose3d_cli.keypoints.tflite import check_runtime, load_interpreter, model_record

RECORD = "movenet_multipose_lightning_fp16"
MAX_PEOPLE = 6


def check_available() -> None:
    """Raise :class:`~pose3d_cli.errors.BackendUnavailableError` when LiteRT is missing."""
    check_runtime()


class MoveNetModel:
    """The bare model: one frame in, (boxes, scores, keypoints) in frame pixels out.

    Args:
        input_size: longer side of the model input in pixels (a multiple of 32).
        num_threads: CPU threads (default: the usable cores, at most 4).
    """

    def __init__(self, input_size: int = 512, num_threads: int | None = None) -> None:
        import cv2  # noqa: F401 - fail here rather than on the first frame

        self.input_size = int(round(input_size / 32) * 32)
        self._interp = load_interpreter(RECORD, num_threads)
        self._in = self._interp.get_input_details()[0]["index"]
        self._out = self._interp.get_output_details()[0]["index"]
        self._shape: tuple[int, int] | None = None
        self.version = f"{model_record(RECORD).description}, input {self.input_size}"

    def __call__(self, frame_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """People in one frame.

        Args:
            frame_rgb: ``(H, W, 3) uint8`` RGB.

        Returns:
            ``boxes (N, 4)`` xyxy pixels, ``scores (N,)`` person score in [0, 1], ``keypoints
            (N, 17, 3)`` x, y pixels and score; N ≤ 6, every slot the model returns.
        """
        import cv2

        h, w = frame_rgb.shape[:2]
        scale = self.input_size / max(h, w)
        rw, rh = max(1, round(w * scale)), max(1, round(h * scale))
        pw, ph = -(-rw // 32) * 32, -(-rh // 32) * 32
        if self._shape != (ph, pw):
            self._interp.resize_tensor_input(self._in, (1, ph, pw, 3))
            self._interp.allocate_tensors()
            self._shape = (ph, pw)
        canvas = np.zeros((1, ph, pw, 3), np.uint8)
        canvas[0, :rh, :rw] = cv2.resize(np.ascontiguousarray(frame_rgb), (rw, rh), interpolation=cv2.INTER_AREA)
        self._interp.set_tensor(self._in, canvas)
        self._interp.invoke()
        out = self._interp.get_tensor(self._out)[0]  # (6, 56)
        to_px = np.array([pw / scale, ph / scale], np.float32)  # normalised (x, y) → frame pixels
        kp = out[:, :51].reshape(-1, 17, 3)
        keypoints = np.stack([kp[..., 1] * to_px[0], kp[..., 0] * to_px[1], kp[..., 2]], -1)
        boxes = out[:, [52, 51, 54, 53]] * np.tile(to_px, 2)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return boxes.astype(np.float32), out[:, 55].astype(np.float32), keypoints.astype(np.float32)

    def close(self) -> None:
        self._interp = None


class MoveNetDetector:
    """MoveNet MultiPose Lightning on every frame (``--detector movenet``).

    Args:
        device: only the CPU is used (``cuda`` is accepted; LiteRT's Python wheel has no GPU path).
        input_size: longer side of the model input (default 512; 256 is the model's own size,
            fast but blind to people under ~150 px in a 720p frame).
        min_box_score: people scoring lower are dropped (default 0.15: the model scores small
            people low; the tracker drops short-lived false finds).
        num_threads: CPU threads (default: usable cores, at most 4).
    """

    name = "movenet"
    batch_size = 1
    #: tracker thresholds (high, low) on MoveNet's person score (small people score 0.2–0.4)
    track_scores = (0.3, 0.15)

    def __init__(self, device: str = "cpu", input_size: int = 512, min_box_score: float = 0.15,
                 num_threads: int | None = None) -> None:
        self.model = MoveNetModel(input_size, num_threads)
        self.min_box_score = float(min_box_score)
        self.version = self.model.version

    def detect(self, frames_rgb: Sequence[np.ndarray]) -> list[list[Detection]]:
        out = []
        for frame in frames_rgb:
            boxes, scores, kpts = self.model(frame)
            out.append(detections_from_arrays(boxes, scores, kpts, min_box_score=self.min_box_score))
        return out

    def reset(self) -> None:
        """Nothing carries over between frames."""

    def close(self) -> None:
        self.model.close()


class MoveNetFastDetector(MoveNetDetector):
    """MoveNet at its own design size, 256 px (``--detector movenet-fast``): the fast mode, for
    people taller than about a fifth of the frame (it misses most people under ~120 px in 720p)."""

    name = "movenet-fast"

    def __init__(self, device: str = "cpu", input_size: int = 256, min_box_score: float = 0.15,
                 num_threads: int | None = None) -> None:
        super().__init__(device, input_size, min_box_score, num_threads)
