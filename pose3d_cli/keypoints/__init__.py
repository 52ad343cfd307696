"""2D keypoints from video: the detector registry, :func:`detect_people` and :func:`detect_video`.

Backends (one module each; their heavy imports happen only when one is built):

===================== ================================================== =======================
name                  model                                              needs
===================== ================================================== =======================
``movenet-blazepose`` MoveNet MultiPose boxes + BlazePose full landmarks  ``ai-edge-litert``,
                      on each person's crop (default; every person)       mediapipe's wheel
``movenet``           MoveNet MultiPose Lightning alone, input 512        ``ai-edge-litert``
``movenet-fast``      the same at 256 px (fast mode, large people only)   ``ai-edge-litert``
``mediapipe``         BlazePose full, one person per frame                ``mediapipe==0.10.21``
``torchvision``       Keypoint R-CNN ResNet-50-FPN (COCO)                 ``torchvision==0.28.0``
``detectron2``        Keypoint R-CNN R-101-FPN 3x (the paper's path)      detectron2 from source
===================== ================================================== =======================

Every backend returns all the people it finds per frame; :mod:`pose3d_cli.keypoints.tracking`
gives them identities over time.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable

import numpy as np

from pose3d_cli.errors import BackendUnavailableError, InputError
from pose3d_cli.io.keypoint_file import KeypointTrack, PeopleTracks
from pose3d_cli.keypoints.base import Detection, Detector

log = logging.getLogger(__name__)

#: name → (module, class) of each backend; the module is imported only when it is used.
DETECTORS: dict[str, tuple[str, str]] = {
    "movenet-blazepose": ("pose3d_cli.keypoints.topdown_backend", "TopDownDetector"),
    "movenet": ("pose3d_cli.keypoints.movenet_backend", "MoveNetDetector"),
    "movenet-fast": ("pose3d_cli.keypoints.movenet_backend", "MoveNetFastDetector"),
    "mediapipe": ("pose3d_cli.keypoints.mediapipe_backend", "MediaPipeDetector"),
    "torchvision": ("pose3d_cli.keypoints.torchvision_backend", "TorchvisionDetector"),
    "detectron2": ("pose3d_cli.keypoints.detectron2_backend", "Detectron2Detector"),
}
DEFAULT_DETECTOR = "movenet-blazepose"

__all__ = [
    "DEFAULT_DETECTOR",
    "DETECTORS",
    "Detection",
    "Detector",
    "available_detectors",
    "detect_people",
    "detect_video",
    "get_detector",
    "person_keypoint_track",
]


def get_detector(name: str = DEFAULT_DETECTOR, device: str = "cpu", **options) -> Detector:
    """Build the detector backend ``name`` on ``device`` (keyword ``options`` go to its class).

    Raises:
        InputError: unknown name.
        BackendUnavailableError: the backend's library or weights are not available.
    """
    key = name.lower()
    if key == "default":
        key = DEFAULT_DETECTOR
    if key not in DETECTORS:
        raise InputError(f"unknown detector {name!r}; choose one of: {', '.join(DETECTORS)}")
    module_name, cls_name = DETECTORS[key]
    from pose3d_cli.device import select_device

    module = importlib.import_module(module_name)
    cls: Callable[..., Detector] = getattr(module, cls_name)
    return cls(device=str(select_device(device)), **options)


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


class RawPeople(list):
    """The tracker's people, plus how many frames had any detection and the spurious-track minimum."""

    def __init__(self, people, frames_with_detections: int, min_track_frames: int) -> None:
        super().__init__(people)
        self.frames_with_detections = frames_with_detections
        self.min_track_frames = min_track_frames


def _detect_raw(video_path, detector, device, progress, start, end, fps, detector_options, info, tracking,
                min_frames: int = 10):
    """Detections of every frame, linked into people: (people, info, first frame, detector name, version)."""
    from tqdm import tqdm

    from pose3d_cli.io.video import iter_frames, probe_video
    from pose3d_cli.keypoints.appearance import with_features
    from pose3d_cli.keypoints.tracking import track_people

    info = info if info is not None else probe_video(video_path, fps=fps)
    first = 0 if start is None else int(start)
    last = info.num_frames if end is None else min(int(end), info.num_frames)
    if first < 0 or first >= last:
        raise InputError(f"{video_path}: frame range start={start} end={end} is empty; the clip has "
                         f"{info.num_frames} frames (0..{info.num_frames - 1})")
    own = not hasattr(detector, "detect")
    det: Detector = get_detector(detector, device, **(detector_options or {})) if own else detector
    if not own and hasattr(det, "reset"):
        det.reset()  # a backend reused across clips must not carry tracking state over
    detections: list[list[Detection]] = []

    def run(batch):
        for frame, dets in zip(batch, det.detect(batch)):
            detections.append(with_features(frame, dets) if dets else [])

    try:
        batch = []
        with tqdm(total=last - first, unit="frame", desc=f"detect ({det.name})", disable=not progress,
                  dynamic_ncols=True) as bar:
            for frame in iter_frames(video_path, first, last):
                batch.append(frame)
                if len(batch) >= max(1, det.batch_size):
                    run(batch)
                    bar.update(len(batch))
                    batch = []
            if batch:
                run(batch)
                bar.update(len(batch))
    finally:
        if own:
            det.close()
    if len(detections) < last - first:
        log.warning("%s: decoded %d frames where %d were expected; the end of the file may be damaged",
                    video_path, len(detections), last - first)
    high, low = getattr(det, "track_scores", (0.5, 0.1))
    params = {"high_score": high, "low_score": low, "frame_size": (info.width, info.height)}
    params.update(tracking or {})
    # spurious tracks: seen in fewer than 10 frames (or 0.3 s) — or fewer than the caller's own
    # minimum, or half of a short clip, when that is lower
    spurious = max(int(params.get("min_track_frames", 10)),
                   int(np.ceil(float(params.get("min_track_s", 0.3)) * info.fps)))
    params["min_track_frames"] = min(spurious, max(1, int(min_frames)), max(1, len(detections) // 2))
    params["min_track_s"] = 0.0
    people = track_people(detections, info.fps, **params)
    raw = RawPeople(people, sum(bool(d) for d in detections), params["min_track_frames"])
    return raw, info, first, len(detections), det.name, det.version


def _check_presence(people, num_frames: int, main: int, source, min_presence: float, min_frames: int) -> None:
    from pose3d_cli.errors import NoPersonError

    if not people:
        seen = getattr(people, "frames_with_detections", 0)
        if seen == 0:
            raise NoPersonError(f"{source}: no person found in any of its {num_frames} frames; check that a whole "
                                "person is visible, or try another --detector")
        raise NoPersonError(
            f"{source}: nobody was seen long enough to follow: detections in {seen} of {num_frames} frames, none "
            f"of them one person for {people.min_track_frames} frames or more; too few to lift (check the video, "
            "try another --detector, or lower min_frames/min_presence to accept short appearances)")
    seen = people[main].detected_frames
    # A clip shorter than twice min_frames needs the person in half its frames instead: a short
    # clip with the person in view throughout is liftable (edge padding), however short.
    frames_needed = min(int(min_frames), int(np.ceil(num_frames / 2)))
    need = max(frames_needed, int(np.ceil(float(min_presence) * num_frames)))
    if seen < need:
        raise NoPersonError(
            f"{source}: the main person was found in only {seen} of {num_frames} frames ({100 * seen / num_frames:.0f} %), "
            f"too few to lift (the minimum is {max(frames_needed, 0)} frames and {100 * float(min_presence):.0f} % "
            "of the clip); check the video, try another --detector, or lower min_presence/min_frames to accept it")


def detect_people(video_path: str | os.PathLike, detector: str | Detector = DEFAULT_DETECTOR,
                  device: str = "cpu", progress: bool = True, start: int | None = None,
                  end: int | None = None, fps: float | None = None, min_score: float = 0.3,
                  detector_options: dict | None = None, min_presence: float = 0.2, min_frames: int = 10,
                  tracking: dict | None = None, max_gap_s: float | None = None, info=None) -> PeopleTracks:
    """Every person's COCO-17 keypoints over ``[start, end)`` of a video, with stable ids.

    Frames are decoded as a stream (bounded memory) and passed to the detector in its preferred
    batch size; each detection gets an appearance feature; :func:`~pose3d_cli.keypoints.tracking.
    track_people` links them into people (ids, re-acquisition, spurious tracks dropped) and the
    main person is the longest-present, largest one
    (:func:`~pose3d_cli.keypoints.tracking.main_person_index`).

    Per person, over all T frames of the range: where the person is absent, ``keypoints_px`` is
    NaN, ``scores`` 0 and ``boxes`` NaN; gaps of at most ``max_gap_s`` (default
    :data:`pose3d_cli.keypoints.cleaning.MAX_GAP_S`, 0.5 s) between two detections are bridged by
    linear interpolation and marked in ``filled_frames``; inside present frames, joints scoring
    under ``min_score`` are interpolated from the same person's other frames (score 0, marked in
    ``filled_joints``). Before a person's first and after their last detection the track is NaN:
    nothing is held.

    Args:
        video_path: video file, image folder or image glob.
        detector: backend name (see :data:`DETECTORS`) or a built :class:`Detector`.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        progress: show a tqdm bar with frames per second.
        start, end: frame range ``[start, end)`` (0-based indices; default the whole clip).
        fps: frame rate of an image sequence (default 30); ignored for video files.
        min_score: joints scoring lower are interpolated.
        detector_options: keyword arguments for the backend's constructor.
        min_presence, min_frames: the main person must be detected in at least this fraction of
            the frames and this many frames (default 20 % and 10), else :class:`NoPersonError`;
            pass 0 and 0 to accept any person found at all.
        tracking: keyword arguments for :func:`~pose3d_cli.keypoints.tracking.track_people`.
        max_gap_s: longest absence bridged by interpolation (seconds).
        info: the clip's :class:`~pose3d_cli.io.video.VideoInfo` when the caller has probed it.

    Returns:
        :class:`PeopleTracks`: tracks sorted by person id, ``main`` the main person's index;
        ``describe()`` lists id, frames present and median box height per person.

    Raises:
        VideoError: unreadable input. NoPersonError: nobody found, or the main person in too few
        frames. BackendUnavailableError: the backend cannot run here.
    """
    from pose3d_cli.keypoints.cleaning import MAX_GAP_S
    from pose3d_cli.keypoints.tracking import main_person_index

    people, info, first, t_total, name, version = _detect_raw(
        video_path, detector, device, progress, start, end, fps, detector_options, info, tracking, min_frames)
    main = main_person_index(people)
    _check_presence(people, t_total, main, video_path, min_presence, min_frames)
    gap = MAX_GAP_S if max_gap_s is None else float(max_gap_s)
    tracks = tuple(person_keypoint_track(p, info.width, info.height, info.fps, min_score=min_score,
                                         max_gap_s=gap, detector=name, detector_version=version,
                                         source=str(video_path), start_frame=first)
                   for p in people)
    result = PeopleTracks(tracks, main)
    for row in result.describe():
        log.info("%s: person %d%s in %d frames, median box height %.0f px", video_path, row["id"],
                 " (main)" if row["main"] else "", row["frames"], row["median_box_height_px"])
    return result


def person_keypoint_track(person, width: int, height: int, fps: float, min_score: float = 0.3,
                          max_gap_s: float = 0.5, **meta) -> KeypointTrack:
    """One tracked person (:class:`~pose3d_cli.keypoints.tracking.PersonTrack`) as a
    :class:`KeypointTrack` over all T frames: NaN where absent, short gaps bridged, low-score joints
    interpolated from the person's own frames (see :func:`detect_people`). ``meta`` goes to the
    KeypointTrack (detector, detector_version, source, start_frame…)."""
    from pose3d_cli.keypoints.cleaning import clean_track

    kp = person.keypoints[..., :2].astype(np.float32, copy=True)
    scores = np.where(person.present[:, None], np.nan_to_num(person.keypoints[..., 2]), 0.0).astype(np.float32)
    low = person.present[:, None] & (scores < min_score)
    low &= (person.present[:, None] & ~low).any(axis=0, keepdims=True)  # joints seen well somewhere
    kp[low] = np.nan
    # A joint never seen well keeps its raw values, marked filled (score 0): nothing better to use.
    never = person.present[:, None] & (scores < min_score) & ~low
    track = KeypointTrack(keypoints_px=kp, scores=np.where(never, 0.0, scores).astype(np.float32), width=width,
                          height=height, fps=fps, layout="coco17", boxes=person.boxes, box_scores=person.box_scores,
                          filled_frames=np.zeros(len(kp), bool), filled_joints=never,
                          person_id=int(person.person_id), **meta)
    return clean_track(track, max_gap_s=max_gap_s)


def detect_video(video_path: str | os.PathLike, detector: str | Detector = DEFAULT_DETECTOR,
                 device: str = "cpu", progress: bool = True, start: int | None = None,
                 end: int | None = None, fps: float | None = None, min_score: float = 0.3,
                 iou_threshold: float = 0.1, detector_options: dict | None = None, min_presence: float = 0.2,
                 min_frames: int = 10, tracking: dict | None = None, info=None) -> KeypointTrack:
    """The main person's COCO-17 keypoints in *every* frame of a video (single-person API).

    Detection and tracking as :func:`detect_people` (the main person is the same), but every
    frame is finite: frames without the main person are interpolated from their detections, and
    held before the first and after the last one, and marked in ``filled_frames`` (score 0);
    joints scoring under ``min_score`` likewise (``filled_joints``). ``iou_threshold`` is the
    tracker's ``min_iou``; the other arguments are those of :func:`detect_people`.

    Returns:
        :class:`KeypointTrack`: ``keypoints_px (T, 17, 2)`` pixels of the upright frame,
        ``scores (T, 17)``, boxes, filled frames/joints, fps, size and detector name/version.

    Raises:
        VideoError: unreadable input. NoPersonError: nobody found in any frame, or the main
        person in too few frames. BackendUnavailableError: the backend cannot run here.
    """
    from pose3d_cli.keypoints.tracking import fill_gaps, main_person_index

    params = {"min_iou": iou_threshold}
    params.update(tracking or {})
    people, info, first, t_total, name, version = _detect_raw(
        video_path, detector, device, progress, start, end, fps, detector_options, info, params, min_frames)
    main = main_person_index(people)
    _check_presence(people, t_total, main, video_path, min_presence, min_frames)
    person = people[main]
    filled = fill_gaps(person.keypoints, person.present, min_score=min_score)
    found = float(person.present.mean())
    if found < 0.5:
        log.warning("%s: the person was found in only %.0f%% of the frames; the rest are interpolated",
                    video_path, 100 * found)
    return KeypointTrack(keypoints_px=filled.keypoints_px, scores=filled.scores, width=info.width,
                         height=info.height, fps=info.fps, layout="coco17", boxes=person.boxes,
                         box_scores=person.box_scores, filled_frames=filled.filled_frames,
                         filled_joints=filled.filled_joints, detector=name, detector_version=version,
                         source=str(video_path), start_frame=first, person_id=int(person.person_id))
