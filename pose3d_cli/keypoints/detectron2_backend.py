"""detectron2 Keypoint R-CNN R-101-FPN 3x: the 2D detector of the paper's in-the-wild path.

Written against detectron2's documented API (detectron2 is not on PyPI and cannot be installed
on every machine): the model-zoo config ``COCO-Keypoints/keypoint_rcnn_R_101_FPN_3x.yaml`` and
its checkpoint URL, a :class:`detectron2.engine.DefaultPredictor` fed **BGR uint8 (H, W, 3)**
frames, and ``outputs["instances"]`` with ``pred_boxes`` (N, 4) xyxy pixels, ``scores`` (N,) and
``pred_keypoints`` (N, 17, 3) x, y and a per-keypoint score in [0, 1], COCO-17 order. The
predictor downloads the checkpoint itself (to detectron2's cache) on first use.

When detectron2 is missing, building the backend raises
:class:`~pose3d_cli.errors.BackendUnavailableError` with the install command.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pose3d_cli.errors import BackendUnavailableError
from pose3d_cli.keypoints.base import Detection, detections_from_arrays

CONFIG = "COCO-Keypoints/keypoint_rcnn_R_101_FPN_3x.yaml"
INSTALL_CMD = "pip install --no-build-isolation 'git+https://github.com/facebookresearch/detectron2.git'"


def check_available() -> None:
    """Raise :class:`BackendUnavailableError` (with the install command) when detectron2 is absent."""
    try:
        import detectron2  # noqa: F401
    except ImportError:
        raise BackendUnavailableError(f"the detectron2 detector needs detectron2, which is not installed; install "
                                      f"it with `{INSTALL_CMD}` (needs a C++ compiler) or use --detector "
                                      "mediapipe") from None


def instances_to_detections(instances: Any, min_box_score: float = 0.0) -> list[Detection]:
    """detectron2 ``Instances`` (on any device) → detections, highest box score first.

    Reads ``pred_boxes.tensor`` (N, 4), ``scores`` (N,) and ``pred_keypoints`` (N, 17, 3).
    """
    def arr(t) -> np.ndarray:
        return t.detach().to("cpu").float().numpy() if hasattr(t, "detach") else np.asarray(t, np.float32)

    if len(instances) == 0:
        return []
    boxes = arr(instances.pred_boxes.tensor)
    scores = arr(instances.scores)
    kpts = arr(instances.pred_keypoints)
    kpts[..., 2] = np.clip(kpts[..., 2], 0.0, 1.0)
    return detections_from_arrays(boxes, scores, kpts, min_box_score=min_box_score)


class Detectron2Detector:
    """detectron2's Keypoint R-CNN R-101-FPN 3x via ``DefaultPredictor``.

    Args:
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        min_box_score: people scoring lower are dropped (also the model's test threshold).
        config: model-zoo config name (default :data:`CONFIG`).
        weights: checkpoint path or URL (default: the model zoo's for ``config``).
    """

    name = "detectron2"
    batch_size = 1

    def __init__(self, device: str = "cpu", min_box_score: float = 0.7, config: str = CONFIG,
                 weights: str | None = None) -> None:
        check_available()
        import detectron2
        from detectron2 import model_zoo
        from detectron2.config import get_cfg
        from detectron2.engine import DefaultPredictor

        cfg = get_cfg()
        cfg.merge_from_file(model_zoo.get_config_file(config))
        cfg.MODEL.WEIGHTS = weights or model_zoo.get_checkpoint_url(config)
        cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = float(min_box_score)
        cfg.MODEL.DEVICE = str(device)
        self.min_box_score = float(min_box_score)
        self.track_scores = (max(0.9, self.min_box_score), self.min_box_score)  # tracker (high, low)
        self._predictor = DefaultPredictor(cfg)
        self.version = f"detectron2 {detectron2.__version__} {config}"

    def detect(self, frames_rgb: Sequence[np.ndarray]) -> list[list[Detection]]:
        out = []
        for frame in frames_rgb:
            bgr = np.ascontiguousarray(frame[..., ::-1])  # the predictor's contract: BGR uint8 (H, W, 3)
            instances = self._predictor(bgr)["instances"]
            out.append(instances_to_detections(instances, self.min_box_score))
        return out

    def close(self) -> None:
        self._predictor = None
