"""2D keypoint tracks and their files.

The project's keypoint file (``format = "pose3d-keypoints"``) is an ``.npz`` holding:

============== ============= ===========================================================
key            shape, dtype  meaning
============== ============= ===========================================================
format         str           ``"pose3d-keypoints"``
format_version int           1
layout         str           joint layout name, ``"coco17"``
keypoints_px   (T, J, 2) f4  x, y in pixels of the upright frame, origin top-left
scores         (T, J) f4     per-joint confidence in [0, 1] (0 where filled)
boxes          (T, 4) f4     person box x1, y1, x2, y2 in pixels (NaN where no detection)
box_scores     (T,) f4       box confidence (0 where no detection)
filled_frames  (T,) bool     frame had no detection; its keypoints were interpolated
filled_joints  (T, J) bool   joint was interpolated (low score or filled frame)
fps            float         frames per second of the source
width, height  int           frame size in pixels (upright, after rotation)
detector       str           backend name, e.g. ``"mediapipe"``
detector_version str         backend version string
source         str           path of the video it came from ('' if unknown)
============== ============= ===========================================================

The VideoPose3D custom-dataset ``.npz`` (``positions_2d`` → video → ``custom`` → [(T, 17, 2)],
``metadata`` with ``layout_name``, ``keypoints_symmetry`` and ``video_metadata`` → video →
{w, h}) is read and written too.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from pose3d_cli.errors import InputError
from pose3d_cli.io.atomic import atomic_path
from pose3d_cli.skeleton import COCO17, get_layout

FORMAT = "pose3d-keypoints"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class KeypointTrack:
    """One person's 2D keypoints over a clip (see the module docstring for units)."""

    keypoints_px: np.ndarray  # (T, J, 2) float32
    scores: np.ndarray  # (T, J) float32
    width: int
    height: int
    fps: float = 50.0
    layout: str = "coco17"
    boxes: np.ndarray | None = None  # (T, 4)
    box_scores: np.ndarray | None = None  # (T,)
    filled_frames: np.ndarray | None = None  # (T,) bool
    filled_joints: np.ndarray | None = None  # (T, J) bool
    detector: str = "unknown"
    detector_version: str = ""
    source: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = np.asarray(self.keypoints_px)
        if k.ndim != 3 or k.shape[-1] != 2:
            raise InputError(f"keypoints must have shape (T, J, 2), got {k.shape}")
        t, j = k.shape[:2]
        object.__setattr__(self, "keypoints_px", k.astype(np.float32, copy=False))
        s = np.ones((t, j), np.float32) if self.scores is None else np.asarray(self.scores, np.float32)
        if s.shape != (t, j):
            raise InputError(f"scores must have shape {(t, j)}, got {s.shape}")
        object.__setattr__(self, "scores", s)
        defaults = {
            "boxes": np.full((t, 4), np.nan, np.float32),
            "box_scores": np.zeros(t, np.float32),
            "filled_frames": np.zeros(t, bool),
            "filled_joints": np.zeros((t, j), bool),
        }
        for name, default in defaults.items():
            value = getattr(self, name)
            value = default if value is None else np.asarray(value, default.dtype)
            if value.shape != default.shape:
                raise InputError(f"{name} must have shape {default.shape}, got {value.shape}")
            object.__setattr__(self, name, value)
        if self.width <= 0 or self.height <= 0:
            raise InputError(f"frame size must be positive, got {self.width}x{self.height}")

    @property
    def num_frames(self) -> int:
        return int(self.keypoints_px.shape[0])

    @property
    def num_joints(self) -> int:
        return int(self.keypoints_px.shape[1])

    def slice(self, start: int, stop: int) -> "KeypointTrack":
        """Frames ``start:stop`` of the track."""
        sl = slice(start, stop)
        return replace(self, keypoints_px=self.keypoints_px[sl], scores=self.scores[sl],
                       boxes=self.boxes[sl], box_scores=self.box_scores[sl],
                       filled_frames=self.filled_frames[sl], filled_joints=self.filled_joints[sl])


def save_keypoints(track: KeypointTrack, path: str | Path, overwrite: bool = True) -> Path:
    """Write the project's keypoint file atomically."""
    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f, format=FORMAT, format_version=FORMAT_VERSION, layout=track.layout,
                keypoints_px=track.keypoints_px, scores=track.scores, boxes=track.boxes,
                box_scores=track.box_scores, filled_frames=track.filled_frames,
                filled_joints=track.filled_joints, fps=float(track.fps), width=int(track.width),
                height=int(track.height), detector=track.detector,
                detector_version=track.detector_version, source=track.source)
    return path


def save_videopose3d_custom(tracks: dict[str, KeypointTrack], path: str | Path,
                            overwrite: bool = True) -> Path:
    """Write the VideoPose3D custom-dataset ``.npz`` (COCO-17 tracks, one per video name)."""
    positions, video_meta = {}, {}
    for name, tr in tracks.items():
        if tr.layout != "coco17":
            raise InputError(f"the VideoPose3D custom format holds COCO-17 keypoints; track {name!r} is {tr.layout}")
        positions[name] = {"custom": [tr.keypoints_px.astype(np.float32)]}
        video_meta[name] = {"w": int(tr.width), "h": int(tr.height)}
    metadata = {"layout_name": "coco", "num_joints": 17,
                "keypoints_symmetry": [list(COCO17.left), list(COCO17.right)],
                "video_metadata": video_meta}
    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, positions_2d=positions, metadata=metadata)
    return path


def _scalar(x):
    return x.item() if isinstance(x, np.ndarray) and x.shape == () else x


def load_keypoints(path: str | Path, video: str | None = None) -> KeypointTrack:
    """Read a 2D keypoint file: the project's own ``.npz`` or the VideoPose3D custom ``.npz``.

    ``video`` picks one video of a multi-video custom file (default: the only one; an error
    lists the names when there are several). Raises :class:`InputError` naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file; give a keypoint .npz written by `pose3d detect` "
                         "or a VideoPose3D data_2d_custom_*.npz")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a keypoint .npz file")
    try:
        data = np.load(path, allow_pickle=False)
        keys = set(data.files)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npz keypoint file ({exc.__class__.__name__}); "
                         "give a file written by `pose3d detect` or a VideoPose3D custom .npz") from None
    if "format" in keys and str(data["format"]) == FORMAT:
        return _load_own(path, data, keys)
    if "positions_2d" in keys:
        return _load_custom(path, video)
    raise InputError(f"{path}: an .npz without 'positions_2d' or a pose3d keypoint header "
                     f"(keys: {', '.join(sorted(keys)) or 'none'}); give a file written by `pose3d detect`")


def _load_own(path: Path, data, keys) -> KeypointTrack:
    need = {"keypoints_px", "scores", "width", "height"}
    missing = need - keys
    if missing:
        raise InputError(f"{path}: pose3d keypoint file lacks {', '.join(sorted(missing))}")
    opt = {k: data[k] for k in ("boxes", "box_scores", "filled_frames", "filled_joints") if k in keys}
    strs = {k: str(data[k]) for k in ("layout", "detector", "detector_version", "source") if k in keys}
    try:
        track = KeypointTrack(keypoints_px=data["keypoints_px"], scores=data["scores"],
                              width=int(data["width"]), height=int(data["height"]),
                              fps=float(data["fps"]) if "fps" in keys else 50.0, **opt, **strs)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    _check_layout(path, track)
    return track


def _load_custom(path: Path, video: str | None) -> KeypointTrack:
    try:
        data = np.load(path, allow_pickle=True)  # the published format stores dicts (trusted data file)
        positions = _scalar(data["positions_2d"])
        metadata = _scalar(data["metadata"]) if "metadata" in data.files else {}
    except Exception as exc:  # noqa: BLE001 - any decoding failure is a bad file
        raise InputError(f"{path}: cannot read VideoPose3D positions_2d ({exc})") from None
    if not isinstance(positions, dict) or not positions:
        raise InputError(f"{path}: positions_2d holds no videos")
    names = sorted(positions)
    if video is None:
        if len(names) > 1:
            raise InputError(f"{path}: holds {len(names)} videos ({', '.join(names[:10])}); pick one with --video NAME")
        video = names[0]
    if video not in positions:
        raise InputError(f"{path}: no video {video!r}; videos: {', '.join(names[:20])}")
    entry = positions[video]
    arr = entry["custom"][0] if isinstance(entry, dict) and "custom" in entry else entry
    if isinstance(arr, (list, tuple)):
        arr = arr[0]
    arr = np.asarray(arr, np.float32)
    if arr.ndim != 3 or arr.shape[-1] < 2:
        raise InputError(f"{path}: video {video!r} keypoints have shape {arr.shape}, expected (T, 17, 2)")
    scores = arr[..., 2] if arr.shape[-1] > 2 else None
    vm = (metadata or {}).get("video_metadata", {}).get(video)
    if not vm:
        raise InputError(f"{path}: metadata.video_metadata has no width/height for {video!r}")
    layout = {"coco": "coco17", "h36m": "h36m17"}.get(str((metadata or {}).get("layout_name", "coco")), "coco17")
    try:
        track = KeypointTrack(keypoints_px=arr[..., :2], scores=scores, width=int(vm["w"]),
                              height=int(vm["h"]), fps=float(vm.get("fps", 50.0)), layout=layout,
                              detector="videopose3d-custom", source=str(video))
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    _check_layout(path, track)
    return track


def _check_layout(path: Path, track: KeypointTrack) -> None:
    lay = get_layout(track.layout)
    if track.num_joints != lay.num_joints:
        raise InputError(f"{path}: layout {lay.name} has {lay.num_joints} joints but the file holds "
                         f"{track.num_joints}")
    if track.num_frames < 1:
        raise InputError(f"{path}: holds no frames")
