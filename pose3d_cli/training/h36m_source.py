"""Convert the original Human3.6M pose files to the paper's dataset files.

Two source layouts are read (Human3.6M itself must be obtained from its authors):

- ``cdf``: the dataset's own ``Poses_D3_Positions_S*.tgz`` archives extracted, i.e.
  ``SOURCE/S1/MyPoseFeatures/D3_Positions/Walking 1.cdf``, each holding a ``Pose`` variable of
  shape ``(1, T, 96)`` in millimetres (needs the ``cdflib`` package);
- ``h5``: the widely used ``h36m.zip`` (from the "3d-pose-baseline" project) extracted, i.e.
  ``SOURCE/S1/MyPoses/3D_positions/Walking 1.h5``, each holding a ``3D_positions`` dataset of
  shape ``(96, T)`` in millimetres (needs the ``h5py`` package).

Output: ``data_3d_<name>.npz`` (``positions_3d``: subject → action → ``(T, 32, 3)`` world metres)
and, unless disabled, ``data_2d_<name>_gt.npz``: the 17 used joints projected through the
built-in Human3.6M cameras (layout ``h36m``). Action names follow the paper's files
(``TakingPhoto`` → ``Photo``, ``WalkingDog`` → ``WalkDog``); ``*_ALL`` files are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pose3d_cli.errors import BackendUnavailableError, InputError
from pose3d_cli.geometry.h36m import h36m_cameras
from pose3d_cli.io.atomic import check_writable
from pose3d_cli.skeleton import H36M17, H36M32_KEPT
from pose3d_cli.training.data import save_dataset_files

H36M_POSE_SUBJECTS = ("S1", "S5", "S6", "S7", "S8", "S9", "S11")
_LAYOUTS = {
    "cdf": ("MyPoseFeatures/D3_Positions", ".cdf"),
    "h5": ("MyPoses/3D_positions", ".h5"),
}


def canonical_action(stem: str) -> str:
    """The paper's action name for a source file stem (``TakingPhoto 1`` → ``Photo 1``)."""
    return stem.replace("TakingPhoto", "Photo").replace("WalkingDog", "WalkDog")


def detect_format(source: Path) -> str:
    """``"cdf"`` or ``"h5"`` from the files under ``source``; raises InputError if neither."""
    for fmt, (sub, ext) in _LAYOUTS.items():
        if any((source / s / sub).is_dir() and any((source / s / sub).glob(f"*{ext}"))
               for s in H36M_POSE_SUBJECTS):
            return fmt
    raise InputError(f"{source}: no Human3.6M pose files found; expected "
                     "SOURCE/S1/MyPoseFeatures/D3_Positions/*.cdf (original dataset) or "
                     "SOURCE/S1/MyPoses/3D_positions/*.h5 (h36m.zip)")


def _read_cdf(path: Path) -> np.ndarray:
    try:
        import cdflib
    except ImportError:
        raise BackendUnavailableError(f"{path}: reading Human3.6M .cdf files needs cdflib; "
                                      "pip install cdflib") from None
    try:
        pose = np.asarray(cdflib.CDF(str(path)).varget("Pose"), np.float64)
    except Exception as exc:  # noqa: BLE001 - cdflib raises assorted error types on bad files
        raise InputError(f"{path}: not a readable Human3.6M D3_Positions .cdf file ({exc})") from None
    return pose.reshape(-1, 96)


def _read_h5(path: Path) -> np.ndarray:
    try:
        import h5py
    except ImportError:
        raise BackendUnavailableError(f"{path}: reading h36m.zip .h5 files needs h5py; "
                                      "pip install h5py") from None
    try:
        with h5py.File(path, "r") as f:
            data = np.asarray(f["3D_positions"], np.float64)
    except (OSError, KeyError) as exc:
        raise InputError(f"{path}: not a readable h36m.zip 3D_positions .h5 file ({exc})") from None
    if data.ndim != 2 or data.shape[0] != 96:
        raise InputError(f"{path}: 3D_positions has shape {data.shape}, expected (96, T)")
    return data.T


def read_h36m_source(source: str | Path, fmt: str = "auto",
                     subjects: Sequence[str] = H36M_POSE_SUBJECTS) -> dict[str, dict[str, np.ndarray]]:
    """Read the Human3.6M 3D poses of ``subjects`` from ``source``.

    Returns:
        subject → action → ``(T, 32, 3)`` float32 world metres.
    """
    source = Path(source)
    if not source.is_dir():
        raise InputError(f"{source}: not a folder; pass the folder that holds S1, S5, … (--source)")
    if fmt == "auto":
        fmt = detect_format(source)
    if fmt not in _LAYOUTS:
        raise InputError(f"unknown Human3.6M source format {fmt!r}; use cdf, h5 or auto")
    sub, ext = _LAYOUTS[fmt]
    reader = _read_cdf if fmt == "cdf" else _read_h5
    out: dict[str, dict[str, np.ndarray]] = {}
    for subject in subjects:
        folder = source / subject / sub
        if not folder.is_dir():
            continue
        out[subject] = {}
        for f in sorted(folder.glob(f"*{ext}")):
            if f.stem.endswith("_ALL") or re.search(r"_ALL\b", f.stem):
                continue
            flat = reader(f)
            out[subject][canonical_action(f.stem)] = (flat.reshape(-1, 32, 3) / 1000.0).astype(np.float32)
    if not any(out.values()):
        raise InputError(f"{source}: no {ext} pose files under */{sub}/ for subjects "
                         f"{', '.join(subjects)}")
    return out


def project_gt_2d(positions_3d: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, list[np.ndarray]]]:
    """Ground-truth 2D: the 17 used joints through each subject's four cameras, pixels."""
    out: dict[str, dict[str, list[np.ndarray]]] = {}
    for subject, actions in positions_3d.items():
        cams = h36m_cameras(subject)
        out[subject] = {}
        for action, pos in actions.items():
            p17 = pos[:, list(H36M32_KEPT)] if pos.shape[1] == 32 else pos
            out[subject][action] = [
                cam.project_px(np.asarray(cam.world_to_camera(p17.astype(np.float32)))).astype(np.float32)
                for cam in cams]
    return out


def convert_h36m(source: str | Path, out_dir: str | Path, name: str = "h36m", *,
                 fmt: str = "auto", write_2d: bool = True,
                 overwrite: bool = False) -> dict[str, Path]:
    """Convert a Human3.6M pose folder to ``data_3d_<name>.npz`` (+ ``data_2d_<name>_gt.npz``).

    Returns ``{"3d": path}`` plus ``"gt"`` when ``write_2d``.
    """
    out_dir = Path(out_dir)
    paths = {"3d": out_dir / f"data_3d_{name}.npz"}
    if write_2d:
        paths["gt"] = out_dir / f"data_2d_{name}_gt.npz"
    for p in paths.values():
        check_writable(p, overwrite)
    positions = read_h36m_source(source, fmt)
    contents = {"3d": {"positions_3d": positions}}
    if write_2d:
        meta = {"layout_name": "h36m", "num_joints": 17,
                "keypoints_symmetry": [list(H36M17.left), list(H36M17.right)], "fps": 50.0,
                "generator": "pose3d dataset convert-h36m"}
        contents["gt"] = {"positions_2d": project_gt_2d(positions), "metadata": meta}
    return save_dataset_files(contents, paths, overwrite)
