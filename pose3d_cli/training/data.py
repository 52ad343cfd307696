"""Datasets in the paper's file formats: loading, camera-frame conversion, sequence pairs.

Files (see ``docs/datasets.md``):

- ``data_3d_<name>.npz``: ``positions_3d`` → subject → action → ``(T, 32, 3)`` world metres
  (Human3.6M's 32 mocap joints; 17 of them are used) or ``(T, 17, 3)`` / ``(T, 15, 3)``.
- ``data_2d_<name>_<det>.npz``: ``positions_2d`` → subject → action → list over cameras of
  ``(T, J, 2)`` pixels; ``metadata``: ``layout_name``, ``num_joints``, ``keypoints_symmetry``.

Both files hold Python dicts pickled inside ``.npz`` object arrays (that is the paper's format).
They are read with :func:`pose3d_cli.io.safe_npz.load_npz_safe`, whose unpickler only rebuilds
numeric arrays and plain containers, so opening a dataset file cannot run code.

Convention:
    - World frame: metres, z up (Human3.6M's). Camera frame: metres, x right, y down, z forward.
    - ``kpts_norm``: normalised screen coordinates ``x_n = 2x/w − 1``, ``y_n = 2y/w − h/w``.
    - ``pose_cam_m``: camera frame, root-relative (joint 0 is exactly zero);
      ``traj_cam_m``: the root (joint 0) in the camera frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pose3d_cli.errors import InputError
from pose3d_cli.geometry.camera import (
    Camera,
    normalize_screen_coordinates,
    world_to_camera,
)
from pose3d_cli.geometry.h36m import h36m_cameras
from pose3d_cli.io.atomic import atomic_path
from pose3d_cli.io.safe_npz import load_npz_safe
from pose3d_cli.skeleton import H36M32_KEPT

#: Frame rate of Human3.6M's poses and the generator's datasets (Hz).
H36M_FPS = 50.0
#: Frame rate of HumanEva-I (Hz).
HUMANEVA_FPS = 60.0

def load_dataset_3d(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Load ``positions_3d`` from a ``data_3d_*.npz`` file.

    Returns:
        subject → action → ``(T, J, 3)`` float32 world metres (J = 32, 17 or 15).
    Raises:
        InputError: no ``positions_3d`` key, or an entry that is not ``(T, J, 3)``.
    """
    data = load_npz_safe(path, kind="dataset file", fix="regenerate it with `pose3d dataset`")
    if "positions_3d" not in data or not isinstance(data["positions_3d"], dict):
        raise InputError(f"{path}: no 'positions_3d' dict; expected a data_3d_<name>.npz file "
                         "as written by `pose3d dataset` or the paper's prepare_data scripts")
    out: dict[str, dict[str, np.ndarray]] = {}
    for subject, actions in data["positions_3d"].items():
        out[str(subject)] = {}
        for action, pos in dict(actions).items():
            pos = np.asarray(pos)
            if pos.ndim != 3 or pos.shape[-1] != 3:
                raise InputError(f"{path}: positions_3d[{subject!r}][{action!r}] has shape "
                                 f"{pos.shape}, expected (T, J, 3) world metres")
            out[str(subject)][str(action)] = pos.astype(np.float32, copy=False)
    return out


@dataclass(frozen=True)
class Detections2D:
    """A ``data_2d_*.npz`` file.

    Attributes:
        positions_2d: subject → action → list over cameras of ``(T, J, 2)`` float32 pixels.
        layout_name: ``"coco"``, ``"h36m"`` or ``"humaneva15"`` (the paper's names).
        num_joints: J.
        keypoints_left, keypoints_right: the metadata's symmetry lists.
        fps: frame rate stored in the metadata, or ``None`` when absent.
        metadata: the raw metadata dict.
    """

    positions_2d: dict[str, dict[str, list[np.ndarray]]]
    layout_name: str
    num_joints: int
    keypoints_left: tuple[int, ...]
    keypoints_right: tuple[int, ...]
    fps: float | None
    metadata: dict


def load_detections_2d(path: str | Path) -> Detections2D:
    """Load a ``data_2d_*.npz`` detections file (see :class:`Detections2D`).

    Raises:
        InputError: missing keys or arrays that are not ``(T, J, 2)`` with the metadata's J.
    """
    data = load_npz_safe(path, kind="dataset file", fix="regenerate it with `pose3d dataset`")
    if "positions_2d" not in data or not isinstance(data["positions_2d"], dict):
        raise InputError(f"{path}: no 'positions_2d' dict; expected a data_2d_<name>_<det>.npz "
                         "file as written by `pose3d dataset`")
    meta = data.get("metadata")
    meta = dict(meta) if isinstance(meta, dict) else {}
    positions: dict[str, dict[str, list[np.ndarray]]] = {}
    num_joints = meta.get("num_joints")
    for subject, actions in data["positions_2d"].items():
        positions[str(subject)] = {}
        for action, cams in dict(actions).items():
            if isinstance(cams, np.ndarray) and cams.dtype != object and cams.ndim == 3:
                cams = [cams]
            views = []
            for kp in cams:
                kp = np.asarray(kp, np.float32)
                if kp.ndim != 3 or kp.shape[-1] < 2:
                    raise InputError(f"{path}: positions_2d[{subject!r}][{action!r}] holds an array "
                                     f"of shape {kp.shape}, expected (T, J, 2) pixels")
                kp = kp[..., :2]
                if num_joints is None:
                    num_joints = kp.shape[1]
                if kp.shape[1] != num_joints:
                    raise InputError(f"{path}: positions_2d[{subject!r}][{action!r}] has "
                                     f"{kp.shape[1]} joints, metadata says {num_joints}")
                views.append(np.ascontiguousarray(kp))
            positions[str(subject)][str(action)] = views
    if num_joints is None:
        raise InputError(f"{path}: positions_2d is empty; nothing to train or evaluate on")
    sym = meta.get("keypoints_symmetry")
    if sym is not None and len(sym) == 2:
        left, right = (tuple(int(i) for i in s) for s in sym)
    else:
        left, right = (), ()
    layout = str(meta.get("layout_name", {17: "coco", 15: "humaneva15"}.get(int(num_joints), "")))
    fps = meta.get("fps")
    return Detections2D(positions_2d=positions, layout_name=layout, num_joints=int(num_joints),
                        keypoints_left=left, keypoints_right=right,
                        fps=float(fps) if fps is not None else None, metadata=meta)


@dataclass(frozen=True)
class SequencePair:
    """One (subject, action, camera) sequence: 2D input and 3D target, aligned frame by frame.

    Attributes:
        kpts_norm: ``(T, J_in, 2)`` float32 normalised screen coordinates.
        pose_cam_m: ``(T, J_out, 3)`` float32 camera frame, metres, root-relative (joint 0 = 0).
        traj_cam_m: ``(T, 1, 3)`` float32 root position in the camera frame, metres.
        intrinsics: ``(9,)`` float32 f(2), c(2), k(3), p(2), normalised like 2D keypoints.
        subject, action: dataset keys; camera: camera index in the files.
        fps: frame rate after downsampling (Hz).
        res_w, res_h: the camera image size in pixels.
    """

    kpts_norm: np.ndarray
    pose_cam_m: np.ndarray
    traj_cam_m: np.ndarray
    intrinsics: np.ndarray
    subject: str
    action: str
    camera: int
    fps: float
    res_w: int = 1000
    res_h: int = 1000

    @property
    def num_frames(self) -> int:
        return int(self.kpts_norm.shape[0])


def select_h36m17(pos: np.ndarray) -> np.ndarray:
    """``(T, 32, 3)`` Human3.6M mocap joints → the 17 kept ones; ``(T, 17|15, 3)`` unchanged."""
    if pos.shape[1] == 32:
        return pos[:, list(H36M32_KEPT)]
    return pos


def action_matches(action: str, wanted: Sequence[str] | None) -> bool:
    """True when ``action`` is in ``wanted`` by full name or by its first word
    (``"Walking 1"`` matches ``"Walking"``), as the paper's ``--actions`` flag does."""
    if wanted is None:
        return True
    return action in wanted or action.split(" ")[0] in wanted


def prepare_sequences(path_3d: str | Path, path_2d: str | Path, subjects: Sequence[str], *,
                      actions: Sequence[str] | None = None, downsample: int = 1,
                      subset: float = 1.0, seed: int = 0, cameras: Sequence[int] | None = None,
                      camera_params: Mapping[str, Sequence[Camera]] | None = None,
                      fps: float | None = None) -> list[SequencePair]:
    """Pair the 2D detections with 3D targets in each camera's frame.

    For every subject, action (filtered by ``actions``) and camera the world poses are moved into
    the camera frame, the 17 used joints kept, and the root split off into ``traj_cam_m``. As in
    the paper's code, a 2D sequence longer than its 3D one is trimmed to the 3D length.

    Args:
        path_3d, path_2d: the dataset files.
        subjects: subjects to use, e.g. ``["S1", "S5"]``.
        actions: action names or first words (``"Walking"``); ``None`` for all.
        downsample: keep every ``downsample``-th frame.
        subset: fraction in (0, 1] of each action's frames to keep, as one contiguous chunk whose
            start is drawn from ``seed`` (the same chunk for all cameras of the action).
        seed: seed of the subset chunk starts.
        cameras: camera indices to use; ``None`` for all.
        camera_params: subject → cameras, for datasets whose calibration is not Human3.6M's
            (e.g. HumanEva-I); default: the built-in Human3.6M cameras.
        fps: frame rate of the files; default: the 2D metadata's ``fps``, else 60 Hz for a
            ``humaneva15`` layout, else 50 Hz.
    Returns:
        list of :class:`SequencePair`, ordered by subject, action, camera.
    Raises:
        InputError: unknown subject, mismatched files, or 2D shorter than 3D.
    """
    if downsample < 1:
        raise InputError(f"downsample must be a positive integer, got {downsample}")
    if not 0.0 < subset <= 1.0:
        raise InputError(f"subset must be a fraction in (0, 1], got {subset}")
    poses_3d = load_dataset_3d(path_3d)
    det = load_detections_2d(path_2d)
    if fps is None:
        fps = det.fps or (HUMANEVA_FPS if det.layout_name == "humaneva15" else H36M_FPS)
    rng = np.random.default_rng(seed)
    pairs: list[SequencePair] = []
    for subject in subjects:
        if subject not in poses_3d:
            raise InputError(f"{path_3d}: no subject {subject!r}; it has {', '.join(poses_3d)}")
        if subject not in det.positions_2d:
            raise InputError(f"{path_2d}: no subject {subject!r}; it has "
                             f"{', '.join(det.positions_2d)}")
        cams = list(camera_params[subject]) if camera_params is not None else list(h36m_cameras(subject))
        for action in sorted(poses_3d[subject]):
            if not action_matches(action, actions):
                continue
            if action not in det.positions_2d[subject]:
                raise InputError(f"{path_2d}: subject {subject} has no 2D for action {action!r} "
                                 "present in the 3D file; regenerate the pair of files together")
            pos_world = select_h36m17(poses_3d[subject][action])
            views = det.positions_2d[subject][action]
            if len(views) > len(cams):
                raise InputError(f"{path_2d}: {subject}/{action} has {len(views)} cameras but "
                                 f"only {len(cams)} calibrations are known")
            n3 = pos_world.shape[0]
            n_keep = n3 if subset >= 1.0 else max(1, round(n3 * subset))
            start = int(rng.integers(0, n3 - n_keep + 1)) if n_keep < n3 else 0
            for ci, kpts_px in enumerate(views):
                if cameras is not None and ci not in cameras:
                    continue
                if kpts_px.shape[0] < n3:
                    raise InputError(f"{path_2d}: {subject}/{action} camera {ci} has "
                                     f"{kpts_px.shape[0]} 2D frames but the 3D file has {n3}; "
                                     "the 2D must cover every 3D frame")
                cam = cams[ci]
                w, h = cam.intrinsics.width, cam.intrinsics.height
                kp = kpts_px[:n3][start:start + n_keep:downsample]
                pw = pos_world[start:start + n_keep:downsample]
                pc = world_to_camera(pw.astype(np.float32), np.asarray(cam.orientation, np.float32),
                                     np.asarray(cam.translation_m, np.float32))
                traj = pc[:, :1].copy()
                pose = pc - traj
                pose[:, 0] = 0.0
                pairs.append(SequencePair(
                    kpts_norm=np.ascontiguousarray(normalize_screen_coordinates(kp, w, h), np.float32),
                    pose_cam_m=np.ascontiguousarray(pose, np.float32),
                    traj_cam_m=np.ascontiguousarray(traj, np.float32),
                    intrinsics=cam.intrinsics.to_vector(), subject=subject, action=action,
                    camera=ci, fps=float(fps) / downsample, res_w=w, res_h=h))
    if not pairs:
        raise InputError(f"{path_3d}: no sequences for subjects {list(subjects)} and actions "
                         f"{list(actions) if actions else 'all'}; check --subjects/--actions")
    return pairs


def save_dataset_files(contents: Mapping[str, Mapping[str, Any]], paths: Mapping[str, Path],
                       overwrite: bool = False) -> dict[str, Path]:
    """Write dataset files in the paper's layout: for each key, ``contents[key]`` (e.g.
    ``{"positions_3d": dict}`` or ``{"positions_2d": dict, "metadata": dict}``) goes to
    ``paths[key]`` as an ``.npz`` of 0-d object arrays holding the dicts, atomically."""
    for key, path in paths.items():
        with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **{k: _as_object(v) for k, v in contents[key].items()})
    return dict(paths)


def _as_object(value: object) -> np.ndarray:
    arr = np.empty((), dtype=object)
    arr[()] = value
    return arr
