"""Acclaim ASF/AMC motion capture (the CMU motion capture database's format).

The ``.asf`` file describes the skeleton: per bone a rest ``direction`` (unit vector in the
world frame), a ``length``, an ``axis`` (Euler angles of the bone's local frame, with their
order) and its ``dof`` (rotation channels); ``:hierarchy`` gives the tree under ``root``. The
``.amc`` file gives per frame the values of every bone's dof (and the root's translation and
rotation, in the order of ``:root order``).

Convention:
    - Angles are degrees (``:DEGREES``). An Euler sequence is applied in the order written
      (``axis 0 0 20 XYZ`` and ``dof rx ry rz`` both mean ``R = Rz @ Ry @ Rx``).
    - A bone's global rotation is ``G = G_parent @ C @ M @ C⁻¹`` where ``C`` is its axis
      rotation and ``M`` its dof rotation for the frame; its end lies at its start plus
      ``G @ (direction · length)``; its start is its parent bone's end (the root's position).
    - The result is a :class:`~pose3d_cli.io.bvh.LocalMotion` in which each bone is a
      joint named like the bone, placed at the bone's *end* (``lfemur`` = the left knee), plus a
      hidden joint ``<bone>_start`` carrying its rotation.
    - AMC files do not state their frame rate: CMU captures are 120 Hz, the default.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pose3d_cli.errors import InputError
from pose3d_cli.geometry.kinematics import LocalMotion
from pose3d_cli.io.bounded import MAX_MOCAP_BYTES, read_text_bounded

#: The CMU motion capture database's frame rate (Hz).
CMU_FPS = 120.0
_AXIS = {"x": 0, "y": 1, "z": 2}


def _euler(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """Rotation matrices ``(*, 3, 3)`` for angles ``(*, len(order))`` applied in ``order``."""
    angles = np.deg2rad(np.asarray(angles_deg, np.float64))
    out = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3)).copy()
    for k, axis in enumerate(order.lower()):
        a = angles[..., k]
        c, s = np.cos(a), np.sin(a)
        m = np.zeros(a.shape + (3, 3))
        i = _AXIS[axis]
        j, l = [(1, 2), (2, 0), (0, 1)][i]
        m[..., i, i] = 1.0
        m[..., j, j] = c
        m[..., l, l] = c
        m[..., j, l] = -s
        m[..., l, j] = s
        out = m @ out  # later rotations act after earlier ones
    return out


def _bad(path: Path, what: str) -> InputError:
    return InputError(f"{path}: not a valid Acclaim {path.suffix or 'ASF/AMC'} file ({what}); "
                      "give the skeleton (.asf) and a motion (.amc) of the same capture")


def _read_asf(path: Path) -> tuple[dict, dict[str, dict], dict[str, list[str]]]:
    lines = read_text_bounded(path, what="ASF file", max_bytes=MAX_MOCAP_BYTES).splitlines()
    root: dict = {"order": ["tx", "ty", "tz", "rx", "ry", "rz"], "axis": "XYZ",
                  "position": np.zeros(3), "orientation": np.zeros(3)}
    bones: dict[str, dict] = {}
    children: dict[str, list[str]] = {}
    section = None
    bone: dict | None = None
    try:
        for raw in lines:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith(":"):
                section = line.split()[0][1:].lower()
                continue
            tok = line.split()
            key = tok[0].lower()
            if section == "root":
                if key == "order":
                    root["order"] = [t.lower() for t in tok[1:]]
                elif key == "axis":
                    root["axis"] = tok[1]
                elif key in ("position", "orientation"):
                    root[key] = np.array([float(v) for v in tok[1:4]])
            elif section == "bonedata":
                if key == "begin":
                    bone = {"dof": [], "axis": np.zeros(3), "order": "XYZ"}
                elif key == "end" and bone is not None:
                    if "name" not in bone or "direction" not in bone or "length" not in bone:
                        raise _bad(path, "a bone lacks name, direction or length")
                    bones[bone["name"]] = bone
                    bone = None
                elif bone is not None:
                    if key == "name":
                        bone["name"] = tok[1]
                    elif key == "direction":
                        bone["direction"] = np.array([float(v) for v in tok[1:4]])
                    elif key == "length":
                        bone["length"] = float(tok[1])
                    elif key == "axis":
                        bone["axis"] = np.array([float(v) for v in tok[1:4]])
                        bone["order"] = tok[4] if len(tok) > 4 else "XYZ"
                    elif key == "dof":
                        bone["dof"] = [t.lower() for t in tok[1:]]
            elif section == "hierarchy":
                if key in ("begin", "end"):
                    continue
                children.setdefault(tok[0], []).extend(tok[1:])
    except (IndexError, ValueError):
        raise _bad(path, "malformed line") from None
    if not bones or "root" not in children:
        raise _bad(path, "no :bonedata or no :hierarchy under root")
    for kids in children.values():
        for k in kids:
            if k not in bones:
                raise _bad(path, f"hierarchy names unknown bone {k!r}")
    return root, bones, children


def _read_amc(path: Path, channels: dict[str, int]) -> dict[str, np.ndarray]:
    lines = read_text_bounded(path, what="AMC file", max_bytes=MAX_MOCAP_BYTES).splitlines()
    frames: list[dict[str, list[float]]] = []
    try:
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith(("#", ":")):
                continue
            tok = line.split()
            if len(tok) == 1 and tok[0].isdigit():
                frames.append({})
                continue
            if not frames:
                raise _bad(path, "values before the first frame number")
            frames[-1][tok[0]] = [float(v) for v in tok[1:]]
    except ValueError:
        raise _bad(path, "non-numeric value") from None
    if not frames:
        raise _bad(path, "no frames")
    out = {}
    for name, n in channels.items():
        arr = np.zeros((len(frames), n))
        for t, f in enumerate(frames):
            vals = f.get(name)
            if vals is None:
                if t == 0 or n == 0:
                    continue
                arr[t] = arr[t - 1]
                continue
            if len(vals) != n:
                raise _bad(path, f"frame {t + 1}: {name} has {len(vals)} values, the skeleton "
                                 f"gives it {n} dof")
            arr[t] = vals
        out[name] = arr
    return out


def read_asf_amc(asf_path: str | Path, amc_path: str | Path, fps: float = CMU_FPS) -> LocalMotion:
    """Read an ASF skeleton and an AMC motion into a :class:`LocalMotion` (see the module
    docstring for the joints it holds).

    Raises:
        InputError: unreadable or malformed files, or an AMC that does not fit the skeleton.
    """
    asf_path, amc_path = Path(asf_path), Path(amc_path)
    root, bones, children = _read_asf(asf_path)
    channels = {"root": len(root["order"])}
    channels.update({b: len(bones[b]["dof"]) for b in bones})
    values = _read_amc(amc_path, channels)
    n = values["root"].shape[0]

    names: list[str] = ["root"]
    parents: list[int] = [-1]
    rots: list[np.ndarray] = []
    transs: list[np.ndarray] = []
    # Root: translation channels and rotation about its axis frame.
    order = root["order"]
    rv = values["root"]
    pos = np.tile(root["position"], (n, 1))
    rot_idx = [k for k, c in enumerate(order) if c.startswith("r")]
    for k, c in enumerate(order):
        if c.startswith("t"):
            pos[:, _AXIS[c[1]]] = rv[:, k]
    c_root = _euler(root["orientation"], root["axis"])
    m_root = _euler(rv[:, rot_idx], "".join(order[k][1] for k in rot_idx)) if rot_idx \
        else np.broadcast_to(np.eye(3), (n, 3, 3))
    rots.append(c_root @ m_root @ c_root.T)
    transs.append(pos)

    end_index = {"root": 0}
    queue = list(children.get("root", []))
    parent_of = {c: "root" for c in queue}
    while queue:
        b = queue.pop(0)
        info = bones[b]
        c = _euler(info["axis"], info["order"])
        dof = info["dof"]
        if dof:
            m = _euler(values[b], "".join(d[1] for d in dof))
        else:
            m = np.broadcast_to(np.eye(3), (n, 3, 3))
        # Hidden start joint: at the parent bone's end, carrying the bone's rotation.
        names.append(f"{b}_start")
        parents.append(end_index[parent_of[b]])
        rots.append(c @ m @ c.T)
        transs.append(np.zeros((n, 3)))
        start = len(names) - 1
        # The bone's end: offset along its rest direction in its own (start joint's) frame.
        names.append(b)
        parents.append(start)
        rots.append(np.broadcast_to(np.eye(3), (n, 3, 3)))
        transs.append(np.broadcast_to(info["direction"] * info["length"], (n, 3)))
        end_index[b] = len(names) - 1
        for kid in children.get(b, []):
            parent_of[kid] = b
            queue.append(kid)
    rot = np.stack([np.broadcast_to(r, (n, 3, 3)) for r in rots], axis=1).copy()
    trans = np.stack([np.broadcast_to(t, (n, 3)) for t in transs], axis=1).copy()
    return LocalMotion(joint_names=tuple(names), parents=tuple(parents), rot=rot, trans=trans,
                       fps=float(fps), source=f"{asf_path}+{amc_path}")
