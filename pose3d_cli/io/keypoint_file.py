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
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pose3d_cli.errors import InputError
from pose3d_cli.io.atomic import atomic_path
from pose3d_cli.skeleton import COCO17, get_layout

FORMAT = "pose3d-keypoints"
FORMAT_VERSION = 2
#: Per-person arrays of a version-2 file: key → KeypointTrack attribute.
_PEOPLE_KEYS = {"people_keypoints_px": "keypoints_px", "people_scores": "scores", "people_boxes": "boxes",
                "people_box_scores": "box_scores", "people_filled_frames": "filled_frames",
                "people_filled_joints": "filled_joints"}


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
    person_id: int = 0
    start_frame: int = 0  # index in the video of the track's first frame

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
                       filled_frames=self.filled_frames[sl], filled_joints=self.filled_joints[sl],
                       start_frame=self.start_frame + int(start))


def parse_person_spec(spec: str | None) -> str | list[int]:
    """``--person`` text → ``"all"``, ``"main"`` or a list of ids; :class:`InputError` when
    malformed (checked before any work, so a typo fails at once)."""
    text = "all" if spec is None else str(spec).strip().lower()
    if text in ("all", "main"):
        return text
    try:
        wanted = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        wanted = []
    if not wanted:
        raise InputError(f"--person {spec!r}: give main, all, or person ids like 1,3")
    return wanted


@dataclass(frozen=True)
class PeopleTracks:
    """Every tracked person of a clip.

    Each track covers the whole clip range (T frames): ``keypoints_px`` NaN (scores 0, boxes
    NaN) where the person is absent; inside short gaps filled by interpolation and marked in
    ``filled_frames``/``filled_joints``. Tracks are sorted by ``person_id`` and share T, frame
    size, fps and start frame.
    """

    tracks: tuple[KeypointTrack, ...]
    main: int = 0  # index into tracks of the main person

    def __post_init__(self) -> None:
        tracks = tuple(self.tracks)
        if not tracks:
            raise InputError("no people: a PeopleTracks needs at least one track")
        first = tracks[0]
        for tr in tracks[1:]:
            if (tr.num_frames, tr.width, tr.height, tr.start_frame) != (
                    first.num_frames, first.width, first.height, first.start_frame):
                raise InputError("people tracks must share frame count, frame size and start frame")
        ids = [tr.person_id for tr in tracks]
        if len(set(ids)) != len(ids):
            raise InputError(f"person ids must be distinct, got {ids}")
        if not 0 <= self.main < len(tracks):
            raise InputError(f"main person index {self.main} is not among the {len(tracks)} tracks")
        object.__setattr__(self, "tracks", tracks)

    @classmethod
    def one(cls, track: KeypointTrack) -> PeopleTracks:
        """A clip with a single person."""
        return cls((track,), 0)

    @property
    def num_people(self) -> int:
        return len(self.tracks)

    @property
    def num_frames(self) -> int:
        return self.tracks[0].num_frames

    @property
    def width(self) -> int:
        return self.tracks[0].width

    @property
    def height(self) -> int:
        return self.tracks[0].height

    @property
    def fps(self) -> float:
        return self.tracks[0].fps

    @property
    def start_frame(self) -> int:
        return self.tracks[0].start_frame

    @property
    def person_ids(self) -> np.ndarray:
        """``(P,)`` int64."""
        return np.array([tr.person_id for tr in self.tracks], np.int64)

    @property
    def present(self) -> np.ndarray:
        """``(P, T)`` bool: the person's keypoints are known (detected or gap-filled) there."""
        return np.stack([np.isfinite(tr.keypoints_px).all(axis=(1, 2)) for tr in self.tracks])

    @property
    def keypoints_px(self) -> np.ndarray:
        """``(P, T, J, 2)`` float32, NaN where absent."""
        return np.stack([tr.keypoints_px for tr in self.tracks])

    @property
    def scores(self) -> np.ndarray:
        """``(P, T, J)`` float32."""
        return np.stack([tr.scores for tr in self.tracks])

    @property
    def main_track(self) -> KeypointTrack:
        return self.tracks[self.main]

    def replace_tracks(self, tracks) -> PeopleTracks:
        """The same people with new tracks (same order)."""
        return PeopleTracks(tuple(tracks), self.main)

    def select(self, spec: str | None) -> PeopleTracks:
        """``"all"`` (or None), ``"main"``, or comma-separated person ids (``"3,7"``).

        Raises :class:`InputError` for an unknown id or a malformed spec."""
        wanted = parse_person_spec(spec)
        if wanted == "all":
            return self
        if wanted == "main":
            return PeopleTracks((self.main_track,), 0)
        ids = list(self.person_ids)
        unknown = [w for w in wanted if w not in ids]
        if not wanted or unknown:
            raise InputError(f"--person {spec!r}: no person with id {unknown[0] if unknown else '?'}; "
                             f"ids found: {', '.join(map(str, ids))}")
        keep = [i for i, pid in enumerate(ids) if pid in wanted]
        main = keep.index(self.main) if self.main in keep else 0
        return PeopleTracks(tuple(self.tracks[i] for i in keep), main)

    def describe(self) -> list[dict]:
        """Per person: ``id``, ``frames`` present, ``median_box_height_px`` (NaN without boxes), ``main``."""
        out = []
        for i, tr in enumerate(self.tracks):
            present = np.isfinite(tr.keypoints_px).all(axis=(1, 2))
            heights = (tr.boxes[:, 3] - tr.boxes[:, 1])[present]
            heights = heights[np.isfinite(heights)]
            if heights.size == 0 and present.any():  # no boxes: the keypoints' extent
                k = tr.keypoints_px[present]
                heights = k[..., 1].max(axis=1) - k[..., 1].min(axis=1)
            out.append({"id": int(tr.person_id), "frames": int(present.sum()),
                        "median_box_height_px": float(np.median(heights)) if heights.size else float("nan"),
                        "main": i == self.main})
        return out


def save_keypoints(tracks: KeypointTrack | PeopleTracks, path: str | Path, overwrite: bool = True) -> Path:
    """Write the project's keypoint file atomically: every person (version 2), the main one
    also under the version-1 names."""
    people = PeopleTracks.one(tracks) if isinstance(tracks, KeypointTrack) else tracks
    track = people.main_track
    arrays = {key: np.stack([getattr(tr, attr) for tr in people.tracks]) for key, attr in _PEOPLE_KEYS.items()}
    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f, format=FORMAT, format_version=FORMAT_VERSION, layout=track.layout,
                keypoints_px=track.keypoints_px, scores=track.scores, boxes=track.boxes,
                box_scores=track.box_scores, filled_frames=track.filled_frames,
                filled_joints=track.filled_joints, fps=float(track.fps), width=int(track.width),
                height=int(track.height), detector=track.detector,
                detector_version=track.detector_version, source=track.source,
                start_frame=int(track.start_frame), person_ids=people.person_ids,
                main_person=int(people.main), **arrays)
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


def load_keypoints(path: str | Path, video: str | None = None) -> KeypointTrack:
    """Read a 2D keypoint file's main person (see :func:`load_people_keypoints`)."""
    return load_people_keypoints(path, video).main_track


def load_people_keypoints(path: str | Path, video: str | None = None) -> PeopleTracks:
    """Read a 2D keypoint file: the project's own ``.npz`` (every person) or the VideoPose3D
    custom ``.npz`` (one person per video).

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
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            data = {} if "positions_2d" in keys else {k: _plain_member(path, npz, k) for k in keys}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npz keypoint file ({exc.__class__.__name__}); "
                         "give a file written by `pose3d detect` or a VideoPose3D custom .npz") from None
    if "format" in keys and data["format"].dtype.kind == "U" and str(data["format"]) == FORMAT:
        main = _load_own(path, data, keys)
        if "person_ids" not in keys:
            return PeopleTracks.one(main)
        return _load_people(path, data, keys, main)
    if "positions_2d" in keys:
        return PeopleTracks.one(_load_custom(path, video))
    raise InputError(f"{path}: an .npz without 'positions_2d' or a pose3d keypoint header "
                     f"(keys: {', '.join(sorted(keys)) or 'none'}); give a file written by `pose3d detect`")


def _load_people(path: Path, data, keys, main: KeypointTrack) -> PeopleTracks:
    missing = set(_PEOPLE_KEYS) - keys
    if missing:
        raise InputError(f"{path}: pose3d keypoint file lacks {', '.join(sorted(missing))}")
    try:
        ids = np.asarray(data["person_ids"]).astype(np.int64).reshape(-1)
        arrays = {attr: data[key] for key, attr in _PEOPLE_KEYS.items()}
        tracks = [replace(main, person_id=int(pid), **{a: v[i] for a, v in arrays.items()})
                  for i, pid in enumerate(ids)]
        people = PeopleTracks(tuple(tracks), int(data["main_person"]))
    except (InputError, ValueError, TypeError, IndexError, KeyError) as exc:
        raise InputError(f"{path}: bad per-person arrays ({str(exc)[:120]}); write the file again with "
                         "`pose3d detect`") from None
    return people.replace_tracks(_check_values(path, tr, allow_missing=True) for tr in people.tracks)


def _load_own(path: Path, data, keys) -> KeypointTrack:
    need = {"keypoints_px", "scores", "width", "height"}
    missing = need - keys
    if missing:
        raise InputError(f"{path}: pose3d keypoint file lacks {', '.join(sorted(missing))}")
    opt = {k: _numeric(path, k, data[k]) for k in ("boxes", "box_scores", "filled_frames", "filled_joints")
           if k in keys}
    strs = {k: str(data[k]) for k in ("layout", "detector", "detector_version", "source") if k in keys}
    if "start_frame" in keys:
        opt["start_frame"] = _number(path, "start_frame", data["start_frame"], integer=True)
    try:
        track = KeypointTrack(keypoints_px=_numeric(path, "keypoints_px", data["keypoints_px"]),
                              scores=_numeric(path, "scores", data["scores"]),
                              width=_size(path, "width", data["width"]),
                              height=_size(path, "height", data["height"]),
                              fps=_fps(path, data["fps"]) if "fps" in keys else 50.0, **opt, **strs)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    _check_layout(path, track)
    return _check_values(path, track, allow_missing=True)


def _load_custom(path: Path, video: str | None) -> KeypointTrack:
    from pose3d_cli.io.safe_npz import load_npz_safe

    fix = "give a VideoPose3D data_2d_custom_*.npz or a file written by `pose3d detect`"
    data = load_npz_safe(path, kind="VideoPose3D custom keypoint file", fix=fix)
    raw_positions, metadata = data.get("positions_2d"), data.get("metadata", {})
    if not isinstance(raw_positions, dict) or not raw_positions:
        raise InputError(f"{path}: positions_2d holds no videos (a {type(raw_positions).__name__}, expected "
                         "a dict: video name → {'custom': [(T, 17, 2) array]}); " + fix)
    if not isinstance(metadata, dict):
        raise InputError(f"{path}: metadata is a {type(metadata).__name__}, expected a dict with "
                         "video_metadata; " + fix)
    positions = {str(k): v for k, v in raw_positions.items()}
    names = sorted(positions)
    if video is None:
        if len(names) > 1:
            raise InputError(f"{path}: holds {len(names)} videos ({', '.join(names[:10])}); pick one with --video NAME")
        video = names[0]
    if video not in positions:
        raise InputError(f"{path}: no video {video!r}; videos: {', '.join(names[:20])}")
    entry = positions[video]
    arr = entry.get("custom") if isinstance(entry, dict) else entry
    if isinstance(arr, (list, tuple)):
        arr = arr[0] if arr else None
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{path}: video {video!r} holds no keypoint array (found a {type(arr).__name__}); "
                         "expected positions_2d[video]['custom'] = [(T, 17, 2) array]")
    arr = _numeric(path, f"video {video!r} keypoints", arr).astype(np.float32)
    if arr.ndim != 3 or arr.shape[-1] < 2:
        raise InputError(f"{path}: video {video!r} keypoints have shape {arr.shape}, expected (T, 17, 2)")
    scores = arr[..., 2] if arr.shape[-1] > 2 else None
    all_vm = metadata.get("video_metadata", {})
    vm = all_vm.get(video) if isinstance(all_vm, dict) else None
    if not isinstance(vm, dict) or "w" not in vm or "h" not in vm:
        raise InputError(f"{path}: metadata.video_metadata has no width/height for {video!r}; add "
                         f"{{'w': WIDTH, 'h': HEIGHT}} in pixels for it")
    layout = {"coco": "coco17", "h36m": "h36m17"}.get(str(metadata.get("layout_name", "coco")), "coco17")
    try:
        track = KeypointTrack(keypoints_px=arr[..., :2], scores=scores, width=_size(path, "width", vm["w"]),
                              height=_size(path, "height", vm["h"]), fps=_fps(path, vm.get("fps", 50.0)),
                              layout=layout, detector="videopose3d-custom", source=str(video))
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    _check_layout(path, track)
    return _check_values(path, track, allow_missing=False)


def _check_layout(path: Path, track: KeypointTrack) -> None:
    try:
        lay = get_layout(track.layout)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    if track.num_joints != lay.num_joints:
        raise InputError(f"{path}: layout {lay.name} has {lay.num_joints} joints but the file holds "
                         f"{track.num_joints}")
    if track.num_frames < 1:
        raise InputError(f"{path}: holds no frames")


# Validation of what a keypoint file holds (one line naming the file, never garbage passed on).

#: Keypoints more than this many frame sizes outside the frame are refused: x must lie in
#: ``[-4 w, 5 w]`` and y in ``[-4 h, 5 h]``. Farther out they are a corrupt file or a wrong frame
#: size, and would throw every lifted pose (the world frame is grounded on the lowest joint).
OUTSIDE_FRAME_SIZES = 4.0
#: Highest frame rate accepted from a file (Hz).
MAX_FPS = 10_000.0


def _show(value) -> str:
    if isinstance(value, (np.ndarray, np.generic)) and np.ndim(value) == 0:
        value = value.item()
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _plain_member(path: Path, npz, key: str) -> np.ndarray:
    """One member of a pose3d keypoint file, read with ``allow_pickle=False``."""
    try:
        return npz[key]
    except ValueError:
        raise InputError(f"{path}: member {key!r} is an array of Python objects; pose3d keypoint "
                         "files hold plain arrays only and are read without unpickling: write the "
                         "file again with `pose3d detect`") from None


def _numeric(path: Path, name: str, value) -> np.ndarray:
    """``value`` as an array of a numeric dtype (bool, integer, float), else InputError."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{path}: {name} has dtype {arr.dtype}, not numbers; write the file again "
                         "with `pose3d detect`")
    return arr


def _number(path: Path, name: str, value, *, integer: bool = False) -> float | int:
    """A finite real number (an integer with ``integer``) from a file field, else InputError."""
    arr = np.asarray(value)
    if arr.shape != () or arr.dtype.kind not in "iuf":
        raise InputError(f"{path}: {name} is {_show(value)}, not a number")
    number = float(arr)
    if not np.isfinite(number) or (integer and number != round(number)):
        raise InputError(f"{path}: {name} is {_show(value)}, not a finite {'integer' if integer else 'number'}")
    return int(number) if integer else number


def _size(path: Path, name: str, value) -> int:
    size = _number(path, name, value, integer=True)
    if size < 1:
        raise InputError(f"{path}: {name} is {size}; the frame size must be positive pixels")
    return size


def _fps(path: Path, value) -> float:
    fps = _number(path, "fps", value)
    if not 0 < fps <= MAX_FPS:
        raise InputError(f"{path}: fps is {fps:g}, not a frame rate (0 < fps <= {MAX_FPS:g}); write "
                         "the file again with the video's frame rate")
    return fps


def _check_values(path: Path, track: KeypointTrack, *, allow_missing: bool) -> KeypointTrack:
    """Refuse infinite keypoints (and NaN ones unless ``allow_missing``: pose3d files mark a
    person's absent frames with NaN), keypoints far outside the frame and non-finite scores;
    clip finite scores into [0, 1]."""
    kpts = track.keypoints_px
    finite = np.isfinite(kpts)
    bad = ~finite if not allow_missing else np.isinf(kpts)
    if bad.any():
        t, j = (int(v) for v in np.argwhere(bad)[0][:2])
        raise InputError(f"{path}: frame {t}: keypoint {j} is {_show(kpts[t, j])}, not a finite pixel "
                         "position; the file is corrupt: write it again")
    size = np.array([track.width, track.height], np.float64)
    with np.errstate(invalid="ignore"):
        outside = finite & ((kpts < -OUTSIDE_FRAME_SIZES * size) | (kpts > (1 + OUTSIDE_FRAME_SIZES) * size))
    if outside.any():
        t, j = (int(v) for v in np.argwhere(outside)[0][:2])
        x, y = (float(v) for v in kpts[t, j])
        raise InputError(f"{path}: frame {t}: keypoint {j} at ({x:.4g}, {y:.4g}) px lies more than "
                         f"{OUTSIDE_FRAME_SIZES:g} frame sizes outside the {track.width}x{track.height} "
                         "frame; the file is corrupt or its width/height are wrong")
    scores = track.scores
    if not np.isfinite(scores).all():
        t, j = (int(v) for v in np.argwhere(~np.isfinite(scores))[0][:2])
        raise InputError(f"{path}: frame {t}: keypoint {j} has score {_show(scores[t, j])}; scores must "
                         "be finite confidences in [0, 1]: write the file again")
    if scores.size and (scores.min() < 0 or scores.max() > 1):
        track = replace(track, scores=np.clip(scores, 0.0, 1.0))
    return track
