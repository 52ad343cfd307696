"""torchvision Keypoint R-CNN (ResNet-50-FPN, COCO person keypoints).

The Mask R-CNN family's keypoint model, as shipped by torchvision: boxes with a person score
and 17 COCO keypoints per person. Frames go to the model in batches (8 on a GPU, 1 on a CPU).

Weights: torchvision's COCO weights (``KeypointRCNN_ResNet50_FPN_Weights.COCO_V1``) are
downloaded on first use into the pose3d cache (``$POSE3D_HOME/detectors/``, see
:func:`pose3d_cli.paths.detector_cache_dir`), with the sha256 prefix in the file name checked, and loaded with
``torch.load(weights_only=True)``. Without network access the backend raises
:class:`~pose3d_cli.errors.DownloadError` saying where to put the file by hand. ``weights`` may
also be a path to a state-dict file, or ``"random"`` (random initialisation: only for tests and
speed measurements — its keypoints mean nothing).

Scores: the box score is the classifier's probability. torchvision's per-keypoint score is the
heatmap's peak *logit*; it is mapped to [0, 1] with the logistic function.

torchvision from PyPI is a CUDA build whose C++ operators do not load beside a CPU-only torch;
:mod:`pose3d_cli.keypoints.torchvision_ops` then supplies pure-torch ``nms`` and ``roi_align``.
"""

from __future__ import annotations

import os
import urllib.error
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pose3d_cli.errors import BackendUnavailableError, DownloadError
from pose3d_cli.keypoints.base import Detection, detections_from_arrays
from pose3d_cli.paths import detector_cache_dir

INSTALL_HINT = ("install it beside torch 2.13 with `pip install --no-deps torchvision==0.28.0` "
                "(never unpinned: that pulls a CUDA torch), or use --detector mediapipe")


def check_available():
    """Import torchvision (registering fallback operators if needed) or raise BackendUnavailableError."""
    from pose3d_cli.keypoints.torchvision_ops import import_torchvision

    try:
        return import_torchvision()
    except ImportError as exc:
        raise BackendUnavailableError(f"the torchvision detector needs torchvision ({exc}); {INSTALL_HINT}") from None


def fetch_weights(url: str, progress: bool = True) -> Path:
    """Download ``url`` into :func:`detector_cache_dir` once; check the sha256 prefix in its name.

    Raises:
        DownloadError: no network, HTTP error, or the checksum does not match.
    """
    import torch.hub

    name = url.rstrip("/").rsplit("/", 1)[-1]
    dest = detector_cache_dir() / name
    if dest.is_file():
        return dest
    stem = name.rsplit(".", 1)[0]
    prefix = stem.rsplit("-", 1)[-1] if "-" in stem else None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the cache folder {dest.parent} ({exc.strerror}); set POSE3D_HOME "
                            "to a writable folder") from None
    try:
        torch.hub.download_url_to_file(url, str(dest), hash_prefix=prefix, progress=progress)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(f"cannot fetch the Keypoint R-CNN weights from {url} ({reason}); download the file "
                            f"by hand to {dest}, or use --detector mediapipe") from None
    except RuntimeError as exc:  # torch.hub's hash check
        raise DownloadError(f"{url}: the downloaded file fails its checksum ({str(exc).splitlines()[0]}); "
                            "retry, or download it by hand to {dest}") from None
    return dest


class TorchvisionDetector:
    """Keypoint R-CNN R50-FPN from torchvision.

    Args:
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (``"auto"`` is resolved by the caller).
        weights: ``"coco"`` (download torchvision's COCO weights to the cache), a state-dict
            path, or ``"random"`` (random initialisation, for tests and benchmarks only).
        min_box_score: people scoring lower are dropped.
        min_size, max_size: torchvision's resize of the shorter/longer image side (800/1333
            like training; smaller is faster and less accurate).
        batch_size: frames per forward pass (default 8 on a GPU, 1 on a CPU).
        weights_url: where ``"coco"`` weights come from (default torchvision's URL).
        max_people: most people kept per frame (highest box scores).
        progress: show the download bar.
    """

    name = "torchvision"

    def __init__(self, device: str = "cpu", weights: str | os.PathLike = "coco", min_box_score: float = 0.5,
                 min_size: int = 800, max_size: int = 1333, batch_size: int | None = None,
                 weights_url: str | None = None, progress: bool = True, max_people: int = 20) -> None:
        tv = check_available()
        import torch
        from torchvision.models.detection import (
            KeypointRCNN_ResNet50_FPN_Weights,
            keypointrcnn_resnet50_fpn,
        )

        self.device = torch.device(device)
        self.min_box_score = float(min_box_score)
        self.track_scores = (max(0.7, self.min_box_score), self.min_box_score)  # tracker (high, low)
        self.batch_size = int(batch_size or (8 if self.device.type == "cuda" else 1))
        # Only boxes above the threshold reach the keypoint head (8 convolutions of 512 channels
        # per box: the costly part on a CPU), so the threshold is applied inside the model.
        model = keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None, min_size=min_size,
                                          max_size=max_size, box_score_thresh=self.min_box_score,
                                          box_detections_per_img=int(max_people))
        if str(weights) == "random":
            tag = "random-init"
        else:
            if str(weights) == "coco":
                url = weights_url or KeypointRCNN_ResNet50_FPN_Weights.COCO_V1.url
                path = fetch_weights(url, progress=progress)
            else:
                path = Path(weights)
                if not path.is_file():
                    raise BackendUnavailableError(f"{path}: no such weights file; give a Keypoint R-CNN state "
                                                  "dict, or --detector-weights coco to download them")
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
                model.load_state_dict(state)
            except Exception as exc:  # noqa: BLE001 - any failure means a bad weights file
                raise BackendUnavailableError(f"{path}: not Keypoint R-CNN R50-FPN weights "
                                              f"({str(exc).splitlines()[0][:160]}); delete it and retry") from None
            tag = path.name
        self.model = model.eval().to(self.device)
        self.version = f"torchvision {tv.__version__} keypointrcnn_resnet50_fpn {tag}"

    def detect(self, frames_rgb: Sequence[np.ndarray]) -> list[list[Detection]]:
        import torch

        if len(frames_rgb) == 0:
            return []
        with torch.inference_mode():
            batch = [torch.from_numpy(np.ascontiguousarray(f)).to(self.device).permute(2, 0, 1).float().div_(255)
                     for f in frames_rgb]
            outputs = self.model(batch)
        result = []
        for out in outputs:
            kpts = out["keypoints"].float().cpu().numpy()  # (N, 17, 3) x, y, visibility flag
            logits = out["keypoints_scores"].float().cpu().numpy()  # (N, 17)
            kpts[..., 2] = 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))
            result.append(detections_from_arrays(out["boxes"].float().cpu().numpy(),
                                                 out["scores"].float().cpu().numpy(), kpts,
                                                 min_box_score=self.min_box_score))
        return result

    def close(self) -> None:
        self.model = None
        try:
            import torch

            if self.device.type == "cuda":
                torch.cuda.empty_cache()
        except ImportError:
            pass
