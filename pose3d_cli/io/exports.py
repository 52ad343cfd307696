"""Exports of a lifted clip besides the pose file: JSON for web viewers and a tidy CSV
(BVH: :mod:`pose3d_cli.io.bvh`).

All three take world-frame poses (metres, z up, ground at z = 0: the pose file's
``poses_3d_world``) of shape ``(T, J, 3)``.

JSON (``format = "pose3d-web"``, version 1)::

    {"format": "pose3d-web", "format_version": 1, "layout": "h36m17",
     "joint_names": [...J], "parents": [...J], "edges": [[a, b], ...], "left": [...], "right": [...],
     "fps": 30.0, "num_frames": T, "units": "m", "axes": "x, y horizontal; z up; ground z = 0",
     "frames": [[[x, y, z], ...J], ...T]}                  # millimetre precision

CSV: one row per frame and joint, header ``frame,time_s,joint,x,y,z`` (metres, world frame).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from pose3d_cli.errors import InputError
from pose3d_cli.io.atomic import atomic_path
from pose3d_cli.skeleton import Layout, check_poses, get_layout

#: Formats ``--export`` accepts; ``npz`` is the project's pose file (``io/pose_file.py``).
EXPORT_FORMATS = ("npz", "json", "csv", "bvh")
JSON_FORMAT = "pose3d-web"


def parse_exports(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"npz,json"`` or ``["npz", "json"]`` → ``("npz", "json")``, checked and deduplicated."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        name = str(item).strip().lower().lstrip(".")
        if not name:
            continue
        if name not in EXPORT_FORMATS:
            raise InputError(f"--export {name!r}: unknown format; choose from {', '.join(EXPORT_FORMATS)} "
                             "(comma-separated, e.g. --export npz,bvh)")
        if name not in out:
            out.append(name)
    return tuple(out)


def write_json(path: str | Path, pose_world_m: np.ndarray, fps: float, *, layout: str | Layout = "h36m17",
               overwrite: bool = True) -> Path:
    """Write the web-viewer JSON (see the module docstring). ``pose_world_m``: ``(T, J, 3)`` m."""
    lay = get_layout(layout) if isinstance(layout, str) else layout
    p = check_poses(pose_world_m, lay)
    doc = {
        "format": JSON_FORMAT, "format_version": 1, "layout": lay.name,
        "joint_names": list(lay.joint_names), "parents": list(lay.parents),
        "edges": [list(e) for e in lay.edges], "left": list(lay.left), "right": list(lay.right),
        "fps": float(fps), "num_frames": int(p.shape[0]), "units": "m",
        "axes": "x, y horizontal; z up; ground z = 0",
        "frames": np.round(p, 3).tolist(),
    }
    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        tmp.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
    return path


def write_csv(path: str | Path, pose_world_m: np.ndarray, fps: float, *, layout: str | Layout = "h36m17",
              overwrite: bool = True) -> Path:
    """Write the tidy CSV ``frame,time_s,joint,x,y,z`` (one row per frame and joint, metres)."""
    lay = get_layout(layout) if isinstance(layout, str) else layout
    p = check_poses(pose_world_m, lay)
    path = Path(path)
    with atomic_path(path, overwrite) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(("frame", "time_s", "joint", "x", "y", "z"))
        for t in range(p.shape[0]):
            time_s = f"{t / fps:.4f}"
            for j, name in enumerate(lay.joint_names):
                x, y, z = p[t, j]
                w.writerow((t, time_s, name, f"{x:.4f}", f"{y:.4f}", f"{z:.4f}"))
    return path
