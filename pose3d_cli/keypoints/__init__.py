"""2D keypoints from video: the detector registry and :func:`detect_video`.

Backends (one module each; their heavy imports happen only when one is built):

================ ============================================== =====================
name             model                                          needs
================ ============================================== =====================
``mediapipe``    BlazePose full, weights inside the wheel       ``mediapipe==0.10.21``
``torchvision``  Keypoint R-CNN ResNet-50-FPN (COCO)            ``torchvision==0.28.0``
``detectron2``   Keypoint R-CNN R-101-FPN 3x (the paper's path) detectron2 from source
================ ============================================== =====================
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable

from pose3d_cli.errors import BackendUnavailableError, InputError
from pose3d_cli.io.keypoint_file import KeypointTrack
from pose3d_cli.keypoints.base import Detection, Detector

log = logging.getLogger(__name__)

#: name → (module, class) of each backend; the module is imported only when it is used.
DETECTORS: dict[str, tuple[str, str]] = {
    "mediapipe": ("pose3d_cli.keypoints.mediapipe_backend", "MediaPipeDetector"),
    "torchvision": ("pose3d_cli.keypoints.torchvision_backend", "TorchvisionDetector"),
    "detectron2": ("pose3d_cli.keypoints.detectron2_backend", "Detectron2Detector"),
}
DEFAULT_DETECTOR = "mediapipe"

__all__ = [
    "DEFAULT_DETECTOR",
    "DETECTORS",
    "Detection",
    "Detector",
    "available_detectors",
    "detect_video",
    "get_detector",
    "load_detector",
    "resolve_device",
]


def resolve_device(device: str | None) -> str:
    """``"auto"``/None → ``"cuda"`` when torch sees a GPU, else ``"cpu"``; check explicit choices.

    Raises:
        BackendUnavailableError: ``cuda`` was asked for but torch sees no GPU.
    """
    device = (device or "auto").lower()
    if device not in ("auto", "cpu") and not device.startswith("cuda"):
        raise InputError(f"unknown --device {device!r}; use auto, cpu, cuda or cuda:N")
    if device == "cpu":
        return device
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if device == "auto":
        return "cuda" if has_cuda else "cpu"
    if not has_cuda:
        raise BackendUnavailableError(f"--device {device} asked for a GPU but torch sees none; use --device cpu")
    return device


def get_detector(name: str = DEFAULT_DETECTOR, device: str = "cpu", **options) -> Detector:
    """Build the detector backend ``name`` on ``device`` (keyword ``options`` go to its class).

    Raises:
        InputError: unknown name.
        BackendUnavailableError: the backend's library or weights are not available.
    """
    key = name.lower()
    if key not in DETECTORS:
        raise InputError(f"unknown detector {name!r}; choose one of: {', '.join(DETECTORS)}")
    module_name, cls_name = DETECTORS[key]
    module = importlib.import_module(module_name)
    cls: Callable[..., Detector] = getattr(module, cls_name)
    return cls(device=device, **options)


#: Alias used by :mod:`pose3d_cli.pipeline` to load a backend once for many clips.
load_detector = get_detector


def available_detectors() -> dict[str, str]:
    """name → ``"ok"`` or the one-line reason the backend cannot be built here (imports only)."""
    out = {}
    for name, (module_name, _) in DETECTORS.items():
        try:
            module = importlib.import_module(module_name)
            check = getattr(module, "check_available", None)
            if check is not None:
                check()
            out[name] = "ok"
        except BackendUnavailableError as exc:
            out[name] = str(exc)
    return out


def detect_video(video_path: str | os.PathLike, detector: str | Detector = DEFAULT_DETECTOR,
                 device: str = "cpu", progress: bool = True, start: int | None = None,
                 end: int | None = None, fps: float | None = None, min_score: float = 0.3,
                 iou_threshold: float = 0.2, detector_options: dict | None = None) -> KeypointTrack:
    """Detect one person's COCO-17 keypoints in every frame of a video, gaps filled.

    Frames are decoded as a stream (bounded memory) and passed to the detector in its preferred
    batch size; detections are linked by IoU, the main person is chosen and gaps are filled
    (see :mod:`pose3d_cli.keypoints.tracking`).

    Args:
        video_path: video file, image folder or image glob.
        detector: backend name (see :data:`DETECTORS`) or a built :class:`Detector`.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        progress: show a tqdm bar with frames per second.
        start, end: frame range ``[start, end)`` (0-based indices; default the whole clip).
        fps: frame rate of an image sequence (default 30); ignored for video files.
        min_score: joints scoring lower are interpolated.
        iou_threshold: least IoU to link a detection to the person's track.
        detector_options: keyword arguments for the backend's constructor.

    Returns:
        :class:`KeypointTrack`: ``keypoints_px (T, 17, 2)`` pixels of the upright frame,
        ``scores (T, 17)``, boxes, filled frames/joints, fps, size and detector name/version.

    Raises:
        VideoError: unreadable input. NoPersonError: nobody found in any frame.
        BackendUnavailableError: the backend cannot run here.
    """
    from tqdm import tqdm

    from pose3d_cli.io.video import iter_frames, probe_video
    from pose3d_cli.keypoints.tracking import fill_gaps, select_main_person

    info = probe_video(video_path, fps=fps)
    first = 0 if start is None else int(start)
    last = info.num_frames if end is None else min(int(end), info.num_frames)
    if first < 0 or first >= last:
        raise InputError(f"{video_path}: frame range start={start} end={end} is empty; the clip has "
                         f"{info.num_frames} frames (0..{info.num_frames - 1})")
    own = not hasattr(detector, "detect")
    det: Detector = get_detector(detector, resolve_device(device), **(detector_options or {})) if own else detector
    if not own and hasattr(det, "reset"):
        det.reset()  # a backend reused across clips must not carry tracking state over
    detections: list[list[Detection]] = []
    try:
        batch = []
        with tqdm(total=last - first, unit="frame", desc=f"detect ({det.name})", disable=not progress,
                  dynamic_ncols=True) as bar:
            for frame in iter_frames(video_path, first, last):
                batch.append(frame)
                if len(batch) >= max(1, det.batch_size):
                    detections += det.detect(batch)
                    bar.update(len(batch))
                    batch = []
            if batch:
                detections += det.detect(batch)
                bar.update(len(batch))
    finally:
        if own:
            det.close()
    if len(detections) < last - first:
        log.warning("%s: decoded %d frames where %d were expected; the end of the file may be damaged",
                    video_path, len(detections), last - first)
    person = select_main_person(detections, iou_threshold=iou_threshold,
                                max_gap=max(1, round(info.fps)), source=str(video_path))
    filled = fill_gaps(person.keypoints, person.present, min_score=min_score)
    found = float(person.present.mean())
    if found < 0.5:
        log.warning("%s: the person was found in only %.0f%% of the frames; the rest are interpolated",
                    video_path, 100 * found)
    return KeypointTrack(keypoints_px=filled.keypoints_px, scores=filled.scores, width=info.width,
                         height=info.height, fps=info.fps, layout="coco17", boxes=person.boxes,
                         box_scores=person.box_scores, filled_frames=filled.filled_frames,
                         filled_joints=filled.filled_joints, detector=det.name,
                         detector_version=det.version, source=str(video_path),
                         extra={"start_frame": first, "num_people": person.num_tracks})
