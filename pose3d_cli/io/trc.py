"""TRC marker-trajectory files (OpenSim, Pose2Sim, Sports2D): one marker per joint.

A TRC file is tab-separated text::

    PathFileType  4  (X/Y/Z)  clip.pose3d.trc
    DataRate  CameraRate  NumFrames  NumMarkers  Units  OrigDataRate  OrigDataStartFrame  OrigNumFrames
    30.00     30.00       95         17          m      30.00         1                   95
    Frame#  Time  hip        right_hip  ...
                  X1 Y1 Z1   X2 Y2 Z2   ...
    <blank line>
    1       0.000000   0.01230  0.93120  0.00450  ...

Convention (as written by :func:`write_trc`): metres, **Y up** (OpenSim's vertical): the pose
file's world frame ``(x, y, z-up)`` becomes ``(x, z, −y)`` — the same proper rotation the BVH
export uses. ``Frame#`` is the 1-based video frame number and ``Time`` the video time in
seconds (frame ``n`` at ``(n − 1) / fps``), so a person who appears later starts later;
``OrigDataStartFrame`` is the first row's frame number. A marker missing in a frame (the person
out of view) is written ``NaN``, which OpenSim reads as missing (an empty field is not enough:
OpenSim's reader drops a row's trailing empty fields).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose3d_cli.errors import InputError
from pose3d_cli.io.atomic import atomic_path

#: World (x, y, z-up) → TRC (x, y-up, z): a proper rotation (``trc = WORLD_TO_TRC @ world``).
WORLD_TO_TRC = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True)
class TrcData:
    """A parsed TRC file.

    Attributes:
        marker_names: one name per marker.
        frame_numbers: ``(T,)`` int, the ``Frame#`` column.
        times_s: ``(T,)`` float, the ``Time`` column.
        positions: ``(T, M, 3)`` float64 in the file's axes and unit, NaN where empty.
        header: the metadata line as a dict (``DataRate``, ``Units``, …; values as strings).
        source: the file it came from.
    """

    marker_names: tuple[str, ...]
    frame_numbers: np.ndarray
    times_s: np.ndarray
    positions: np.ndarray
    header: dict[str, str]
    source: str = ""

    @property
    def data_rate(self) -> float:
        return float(self.header["DataRate"])

    def world_positions_m(self) -> np.ndarray:
        """Positions back in the pose file's world frame (z up, metres) for a file in metres
        written Y-up by :func:`write_trc`."""
        return self.positions @ WORLD_TO_TRC  # row vectors: (R @ v)ᵀ R = vᵀ for R orthogonal


def write_trc(path: str | Path, pose_world_m: np.ndarray, fps: float, *, marker_names: Sequence[str],
              first_frame: int = 0, overwrite: bool = True, decimals: int = 5) -> Path:
    """Write a TRC file.

    Args:
        path: the ``.trc`` file.
        pose_world_m: ``(T, M, 3)`` metres in the pose file's world frame (z up); NaN rows (person
            absent) are written as ``NaN`` fields.
        fps: frame rate (Hz), written as ``DataRate``, ``CameraRate`` and ``OrigDataRate``.
        marker_names: one name per marker (the pose file's joint names).
        first_frame: 0-based video frame index of the first row (its ``Frame#`` is this + 1).
        overwrite: replace an existing file.
        decimals: digits after the point (5: 0.01 mm).
    Returns:
        ``path``.
    """
    p = np.asarray(pose_world_m, np.float64)
    names = [str(n) for n in marker_names]
    if p.ndim != 3 or p.shape[2] != 3 or p.shape[1] != len(names) or p.shape[0] < 1:
        raise InputError(f"TRC export needs poses of shape (T, {len(names)}, 3) with T >= 1, got {p.shape}")
    if any(not n or any(c.isspace() for c in n) for n in names):
        raise InputError(f"TRC marker names must be non-empty without spaces or tabs, got {names}")
    if not (np.isfinite(fps) and fps > 0):
        raise InputError(f"TRC export needs a positive frame rate, got {fps}")
    yup = p @ WORLD_TO_TRC.T
    t_count, m_count = yup.shape[:2]
    path = Path(path)
    rate = f"{float(fps):.6g}"
    frame0 = int(first_frame) + 1
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        "\t".join((rate, rate, str(t_count), str(m_count), "m", rate, str(frame0), str(t_count))),
        "\t".join(["Frame#", "Time"] + [f"{n}\t\t" for n in names]).rstrip("\t"),
        "\t".join(["", ""] + [f"X{i}\tY{i}\tZ{i}" for i in range(1, m_count + 1)]),
        "",
    ]
    fmt = f"{{:.{decimals}f}}"
    for t in range(t_count):
        n = frame0 + t
        row = yup[t].reshape(-1)
        cells = [fmt.format(v) if np.isfinite(v) else "NaN" for v in row]
        lines.append("\t".join([str(n), f"{(n - 1) / float(fps):.6f}"] + cells))
    with atomic_path(path, overwrite) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


def read_trc(path: str | Path) -> TrcData:
    """Read a TRC file (as written by :func:`write_trc`, or any tab-separated TRC with the
    usual five header lines). ``NaN`` and empty marker fields become NaN.

    Raises:
        InputError: missing file, or header/rows that do not match.
    """
    path = Path(path)
    src = str(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"{path}: cannot read TRC file ({exc.strerror}); check the path") from None
    lines = text.splitlines()
    if len(lines) < 5 or not lines[0].startswith("PathFileType"):
        raise InputError(f"{src}: not a TRC file (no PathFileType header); give a .trc marker file")
    keys = lines[1].split("\t")
    values = lines[2].split("\t")
    if len(keys) != len(values):
        raise InputError(f"{src}: TRC header has {len(keys)} names but {len(values)} values")
    header = dict(zip(keys, values))
    try:
        n_markers, n_frames = int(header["NumMarkers"]), int(header["NumFrames"])
    except (KeyError, ValueError):
        raise InputError(f"{src}: TRC header lacks NumMarkers/NumFrames") from None
    labels = lines[3].split("\t")
    names = tuple(n for n in labels[2:] if n.strip())
    if len(names) != n_markers:
        raise InputError(f"{src}: TRC header says {n_markers} markers but names {len(names)}")
    rows = [ln for ln in lines[5:] if ln.strip()]
    if len(rows) != n_frames:
        raise InputError(f"{src}: TRC header says {n_frames} frames but holds {len(rows)} rows")
    frames = np.zeros(n_frames, np.int64)
    times = np.zeros(n_frames)
    pos = np.full((n_frames, n_markers * 3), np.nan)
    for i, row in enumerate(rows):
        cells = row.split("\t")
        try:
            frames[i], times[i] = int(cells[0]), float(cells[1])
            for k, c in enumerate(cells[2:2 + 3 * n_markers]):
                if c.strip():
                    pos[i, k] = float(c)
        except (ValueError, IndexError):
            raise InputError(f"{src}: TRC row {i + 1} is not numeric") from None
    return TrcData(marker_names=names, frame_numbers=frames, times_s=times,
                   positions=pos.reshape(n_frames, n_markers, 3), header=header, source=src)
