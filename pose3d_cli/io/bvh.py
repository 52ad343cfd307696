"""BVH files: a reader (motion capture in) and a writer (solved rotations out).

A BVH file holds a joint hierarchy (``ROOT``/``JOINT``/``End Site`` blocks with an ``OFFSET``
and a ``CHANNELS`` list each) and a ``MOTION`` table of one row of channel values per frame.

Convention:
    - Rotation channels are Euler angles in degrees. A joint's local rotation is the product
      of its rotation channels' elementary rotations *in the order they are listed*
      (``Zrotation Xrotation Yrotation`` → ``R = Rz @ Rx @ Ry``), so any order is supported.
    - A joint's translation relative to its parent is its ``OFFSET``; when the joint has
      position channels their values replace the offset (the usual reading: a root's position
      channels hold its absolute position, and rigs exported with per-bone location channels
      repeat the offset there).
    - ``End Site`` blocks become joints named ``<parent>_end`` without channels.
    - Positions come out in the file's own unit and axes (often centimetres, y up);
      :mod:`pose3d_cli.training.mocap` converts them to metres, z up.

Writing (:func:`write_bvh`): a skeleton with constant bone lengths (the median of each bone's
length over the clip) whose joint rotations are solved from the 3D positions (see
:func:`solve_bvh`). Written Y-up in metres (BVH's usual axes: ``bvh = (x, z, -y)`` of the world
frame), 3 Euler channels per joint in ``Zrotation Xrotation Yrotation`` order
(``R = Rz @ Rx @ Ry``), plus the root's position. Blender imports it with File → Import →
Motion Capture (.bvh) at scale 1. Options: a T-pose rest pose (``rest="tpose"``) and the
Mixamo/CMU joint names (``names="animator"``: Hips, LeftUpLeg, …, see
:func:`animator_skeleton`) so retargeting tools map the bones without help.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose3d_cli.errors import InputError
from pose3d_cli.geometry.kinematics import (
    LocalMotion,
    forward_kinematics,
    resample_local,
)
from pose3d_cli.geometry.rotations import (
    axis_rotation,
    frame_from_axes,
    kabsch,
    matrix_to_euler_zxy,
    min_rotation,
    unit,
)
from pose3d_cli.io.atomic import atomic_path
from pose3d_cli.io.bounded import MAX_MOCAP_BYTES, read_text_bounded
from pose3d_cli.skeleton import Layout, check_poses, get_layout

_AXES = {"x": 0, "y": 1, "z": 2}
#: World (x, y, z-up) → BVH (x, y-up, z): a proper rotation.
WORLD_TO_BVH = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
_CHANNEL_RE = re.compile(r"^([XYZxyz])(position|rotation)$")


@dataclass(frozen=True)
class BvhMotion:
    """A parsed BVH file.

    Attributes:
        joint_names: one name per joint, parents before children (End Sites included).
        parents: parent index per joint, ``-1`` for the root.
        offsets: ``(J, 3)`` float64 rest offsets from the parent, in the file's unit.
        channels: per joint, its channel names as written (``"Zrotation"``, ``"Xposition"``, …).
        channel_start: per joint, the column of its first channel in ``motion``.
        frame_time_s: seconds per frame.
        motion: ``(T, C)`` float64 channel values, one row per frame.
        source: the file it came from.
    """

    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    channel_start: tuple[int, ...]
    frame_time_s: float
    motion: np.ndarray
    source: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time_s

    def index(self, name: str) -> int:
        """Joint index by name; raises :class:`KeyError` listing the joints."""
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise KeyError(f"{self.source or 'BVH'} has no joint {name!r}; joints: "
                           f"{', '.join(self.joint_names)}") from None


def _bad(path: str, what: str) -> InputError:
    return InputError(f"{path}: not a valid BVH file ({what}); export the motion as BVH "
                      "(HIERARCHY … MOTION) and try again")


def read_bvh(path: str | Path) -> BvhMotion:
    """Read a BVH file.

    Args:
        path: the ``.bvh`` file.
    Returns:
        :class:`BvhMotion`.
    Raises:
        InputError: missing file, malformed hierarchy, or a motion table whose size does not
        match the channels and frame count.
    """
    path = Path(path)
    text = read_text_bounded(path, what="BVH file", max_bytes=MAX_MOCAP_BYTES)
    src = str(path)
    head, sep, tail = text.partition("MOTION")
    if not sep or "HIERARCHY" not in head:
        raise _bad(src, "no HIERARCHY/MOTION sections")
    tokens = head.split()
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    stack: list[int] = []
    pending: int | None = None  # joint declared, its '{' not yet seen
    i = tokens.index("HIERARCHY") + 1
    try:
        while i < len(tokens):
            tok = tokens[i]
            if tok in ("ROOT", "JOINT"):
                if tok == "ROOT" and names:
                    raise _bad(src, "more than one ROOT")
                names.append(tokens[i + 1])
                parents.append(stack[-1] if stack else -1)
                offsets.append([0.0, 0.0, 0.0])
                channels.append(())
                pending = len(names) - 1
                i += 2
            elif tok == "End":  # End Site
                if not stack:
                    raise _bad(src, "End Site outside a joint")
                names.append(f"{names[stack[-1]]}_end")
                parents.append(stack[-1])
                offsets.append([0.0, 0.0, 0.0])
                channels.append(())
                pending = len(names) - 1
                i += 2
            elif tok == "{":
                if pending is None:
                    raise _bad(src, "'{' without a joint")
                stack.append(pending)
                pending = None
                i += 1
            elif tok == "}":
                if not stack:
                    raise _bad(src, "unbalanced '}'")
                stack.pop()
                i += 1
            elif tok == "OFFSET":
                offsets[stack[-1]] = [float(v) for v in tokens[i + 1:i + 4]]
                i += 4
            elif tok == "CHANNELS":
                n = int(tokens[i + 1])
                chans = tuple(tokens[i + 2:i + 2 + n])
                for c in chans:
                    if not _CHANNEL_RE.match(c):
                        raise _bad(src, f"unknown channel {c!r}")
                channels[stack[-1]] = chans
                i += 2 + n
            else:
                raise _bad(src, f"unexpected token {tok!r}")
    except (IndexError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise _bad(src, "truncated or non-numeric hierarchy") from None
    if not names or stack:
        raise _bad(src, "empty or unbalanced hierarchy")

    m = re.search(r"Frames:\s*(\d+)\s*Frame Time:\s*([0-9.eE+-]+)", tail)
    if not m:
        raise _bad(src, "no 'Frames:'/'Frame Time:' lines")
    n_frames, frame_time = int(m.group(1)), float(m.group(2))
    if not frame_time > 0:
        raise _bad(src, f"frame time {frame_time} is not positive")
    starts = np.cumsum([0] + [len(c) for c in channels])
    n_channels = int(starts[-1])
    try:
        values = np.array(tail[m.end():].split(), dtype=np.float64)
    except ValueError:
        raise _bad(src, "non-numeric motion data") from None
    if n_channels == 0:
        raise _bad(src, "no channels")
    if values.size < n_frames * n_channels:
        raise _bad(src, f"{values.size} motion values for {n_frames} frames × {n_channels} "
                        "channels (file truncated?)")
    motion = values[:n_frames * n_channels].reshape(n_frames, n_channels)
    return BvhMotion(joint_names=tuple(names), parents=tuple(parents),
                     offsets=np.asarray(offsets, np.float64), channels=tuple(channels),
                     channel_start=tuple(int(s) for s in starts[:-1]), frame_time_s=frame_time,
                     motion=motion, source=src)


def local_transforms(bvh: BvhMotion) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame local rotations and translations of every joint.

    Returns:
        ``(rot (T, J, 3, 3), trans (T, J, 3))`` in the file's unit.
    """
    t, j = bvh.num_frames, bvh.num_joints
    rot = np.broadcast_to(np.eye(3), (t, j, 3, 3)).copy()
    trans = np.broadcast_to(bvh.offsets, (t, j, 3)).copy()
    for k, chans in enumerate(bvh.channels):
        start = bvh.channel_start[k]
        r = None
        for n, c in enumerate(chans):
            axis, kind = _AXES[c[0].lower()], c[1:].lower()
            col = bvh.motion[:, start + n]
            if kind == "position":
                trans[:, k, axis] = col
            else:
                m = axis_rotation(axis, np.deg2rad(col))
                r = m if r is None else r @ m
        if r is not None:
            rot[:, k] = r
    return rot, trans


def bvh_local_motion(bvh: BvhMotion) -> LocalMotion:
    """A BVH file's motion as :class:`LocalMotion`."""
    rot, trans = local_transforms(bvh)
    return LocalMotion(bvh.joint_names, bvh.parents, rot, trans, bvh.fps, bvh.source)


def bvh_positions(bvh: BvhMotion, fps: float | None = None) -> np.ndarray:
    """Global joint positions ``(T, J, 3)`` of a BVH file in its own unit and axes,
    optionally resampled to ``fps`` (see :func:`resample_local`)."""
    rot, trans = local_transforms(bvh)
    if fps is not None and abs(fps - bvh.fps) > 1e-6:
        rot, trans = resample_local(rot, trans, bvh.fps, fps)
    return forward_kinematics(bvh.parents, rot, trans)[0]


# --------------------------------------------------------------------------------------------
# Writing: rotations solved from 3D positions

#: Rest poses :func:`write_bvh` offers: the clip's typical posture, or a T-pose.
BVH_RESTS = ("clip", "tpose")
#: Joint naming :func:`write_bvh` offers: the pose file's (Human3.6M-17) or animators'.
BVH_NAMES = ("h36m", "animator")
#: Length of a foot's End Site, pointing forward from the ankle like a foot bone (metres).
FOOT_END_SITE_M = 0.12
#: Where the inserted animator joints sit along their Human3.6M bone (fraction from the thorax).
NECK_FRACTION = 0.2
CLAVICLE_FRACTION = 0.3

# The animator skeleton: (name, parent, source). A source is a Human3.6M-17 joint, or
# (from, to, fraction): a point that far along the bone from one joint to the other.
_ANIMATOR = (
    ("Hips", None, "hip"),
    ("LeftUpLeg", "Hips", "left_hip"), ("LeftLeg", "LeftUpLeg", "left_knee"),
    ("LeftFoot", "LeftLeg", "left_foot"),
    ("RightUpLeg", "Hips", "right_hip"), ("RightLeg", "RightUpLeg", "right_knee"),
    ("RightFoot", "RightLeg", "right_foot"),
    ("Spine", "Hips", "spine"), ("Spine1", "Spine", "thorax"),
    ("Neck", "Spine1", ("thorax", "neck_nose", NECK_FRACTION)), ("Head", "Neck", "neck_nose"),
    ("HeadTop_End", "Head", "head"),
    ("LeftShoulder", "Spine1", ("thorax", "left_shoulder", CLAVICLE_FRACTION)),
    ("LeftArm", "LeftShoulder", "left_shoulder"), ("LeftForeArm", "LeftArm", "left_elbow"),
    ("LeftHand", "LeftForeArm", "left_wrist"),
    ("RightShoulder", "Spine1", ("thorax", "right_shoulder", CLAVICLE_FRACTION)),
    ("RightArm", "RightShoulder", "right_shoulder"), ("RightForeArm", "RightArm", "right_elbow"),
    ("RightHand", "RightForeArm", "right_wrist"),
)
#: Animator joints written as an End Site of their parent rather than a joint.
_ANIMATOR_END_SITES = ("HeadTop_End",)

_X, _Y, _Z = np.eye(3)
#: T-pose direction of each bone (BVH axes: +x the subject's left, +y up, +z forward), by the
#: name of the joint it leads to. Bones from a joint with several children keep the clip's
#: measured directions (see :func:`solve_bvh`).
_TPOSE = {
    # Human3.6M-17 names
    "right_hip": -_X, "right_knee": -_Y, "right_foot": -_Y, "left_hip": _X, "left_knee": -_Y,
    "left_foot": -_Y, "spine": _Y, "thorax": _Y, "neck_nose": _Y, "head": _Y,
    "left_shoulder": _X, "left_elbow": _X, "left_wrist": _X,
    "right_shoulder": -_X, "right_elbow": -_X, "right_wrist": -_X,
    # animator names
    "LeftUpLeg": _X, "LeftLeg": -_Y, "LeftFoot": -_Y, "RightUpLeg": -_X, "RightLeg": -_Y,
    "RightFoot": -_Y, "Spine": _Y, "Spine1": _Y, "Neck": _Y, "Head": _Y, "HeadTop_End": _Y,
    "LeftShoulder": _X, "LeftArm": _X, "LeftForeArm": _X, "LeftHand": _X,
    "RightShoulder": -_X, "RightArm": -_X, "RightForeArm": -_X, "RightHand": -_X,
}


@dataclass(frozen=True)
class BvhSolution:
    """A skeleton with constant bone lengths and per-frame joint rotations.

    Attributes:
        layout: the joint layout (names, parents).
        offsets_m: ``(J, 3)`` rest offset of each joint from its parent (BVH axes, metres);
            the root's is zero.
        local_rot: ``(T, J, 3, 3)`` local rotation of each joint (rotates its children).
        root_pos_m: ``(T, 3)`` root position (BVH axes, metres).
    """

    layout: Layout
    offsets_m: np.ndarray
    local_rot: np.ndarray
    root_pos_m: np.ndarray


def animator_skeleton(pose_world_m: np.ndarray, layout: str | Layout = "h36m17") -> tuple[np.ndarray, Layout]:
    """Human3.6M-17 positions → the animator skeleton's positions and layout.

    The animator skeleton uses the joint names of the Mixamo/CMU convention (``Hips``,
    ``LeftUpLeg``, ``LeftLeg``, ``LeftFoot``, ``Spine``, ``Spine1``, ``Neck``, ``Head``,
    ``LeftShoulder``, ``LeftArm``, ``LeftForeArm``, ``LeftHand``, …). Each is a Human3.6M joint
    (``Spine1`` is the thorax, ``Head`` the neck/nose joint, ``HeadTop_End`` the head top)
    except two kinds it lacks, placed along its bones: ``Neck`` at :data:`NECK_FRACTION` of
    the way from the thorax to the neck/nose joint, and the clavicles ``LeftShoulder`` /
    ``RightShoulder`` at :data:`CLAVICLE_FRACTION` of the way from the thorax to the shoulders.

    Args:
        pose_world_m: ``(T, 17, 3)`` world positions (metres, z up).
    Returns:
        ``(positions (T, 20, 3), layout)``; ``HeadTop_End`` is written as the ``Head``'s End Site.
    """
    lay = get_layout(layout) if isinstance(layout, str) else layout
    if lay.name != "h36m17":
        raise InputError(f"animator BVH names need the h36m17 layout, got {lay.name}")
    p = check_poses(pose_world_m, lay)
    names = [n for n, _, _ in _ANIMATOR]
    cols = []
    for _, _, src in _ANIMATOR:
        if isinstance(src, tuple):
            a, b, f = src
            cols.append(p[:, lay.index(a)] + f * (p[:, lay.index(b)] - p[:, lay.index(a)]))
        else:
            cols.append(p[:, lay.index(src)])
    parents = tuple(-1 if par is None else names.index(par) for _, par, _ in _ANIMATOR)
    left = tuple(i for i, n in enumerate(names) if n.startswith("Left"))
    right = tuple(names.index("Right" + names[i][4:]) for i in left)
    out = Layout(name="bvh-animator", joint_names=tuple(names), parents=parents, left=left, right=right,
                 edges=tuple((par, j) for j, par in enumerate(parents) if par >= 0))
    return np.stack(cols, axis=1), out


def _body_frame(p: np.ndarray, lay: Layout, joint: int, children: list[int]) -> np.ndarray:
    """Per-frame orientation ``(T, 3, 3)`` of a branching joint, from its children: a left/right
    pair gives the lateral axis and a centre child the up axis; otherwise the first two."""
    lefts = [c for c in children if c in lay.left]
    rights = [lay.right[lay.left.index(c)] for c in lefts if lay.right[lay.left.index(c)] in children]
    centre = [c for c in children if c not in lay.left and c not in lay.right]
    if lefts and rights and centre:
        return frame_from_axes(p[:, lefts[0]], p[:, rights[0]], p[:, centre[0]] - p[:, joint])
    a, b = p[:, children[0]] - p[:, joint], p[:, children[1]] - p[:, joint]
    return frame_from_axes(a, np.zeros_like(a), b)


def solve_bvh(pose_world_m: np.ndarray, layout: str | Layout = "h36m17", *, rest: str = "clip") -> BvhSolution:
    """Solve joint rotations on a constant-bone-length skeleton from 3D positions.

    Bone lengths are the medians over the clip. The rest pose (``rest="clip"``): a branching
    joint's children (hips from the pelvis, neck and shoulders from the thorax) sit at their
    median directions in the joint's own body frame; every other bone at its median direction
    in the pelvis frame (so the rest pose is the clip's typical posture, upright, facing +z).
    ``rest="tpose"``: the bones from branching joints as before, every other bone along its
    T-pose direction (legs straight down, arms straight out sideways, spine, neck and head
    straight up; see ``_TPOSE``). Per frame, a branching joint's rotation is the least-squares
    (Kabsch) fit of its children; a joint with one child gets the smallest rotation that points
    its bone along the observed direction, so those bones follow the positions exactly and the
    twist stays continuous.

    Args:
        pose_world_m: ``(T, J, 3)`` world positions (metres, z up).
        layout: the joint layout; parents must come before children.
        rest: ``"clip"`` or ``"tpose"``.
    """
    lay = get_layout(layout) if isinstance(layout, str) else layout
    if rest not in BVH_RESTS:
        raise InputError(f"BVH rest pose {rest!r}: choose {' or '.join(BVH_RESTS)}")
    p = check_poses(pose_world_m, lay) @ WORLD_TO_BVH.T
    t, j_count = p.shape[:2]
    parents = lay.parents
    roots = [j for j in range(j_count) if parents[j] < 0]
    if len(roots) != 1 or any(parents[j] >= j for j in range(j_count) if parents[j] >= 0):
        raise InputError(f"layout {lay.name}: BVH export needs one root and parents listed before children")
    root = roots[0]
    children = {j: [c for c in range(j_count) if parents[c] == j] for j in range(j_count)}
    lengths = np.zeros(j_count)
    for c in range(j_count):
        if parents[c] >= 0:
            lengths[c] = float(np.median(np.linalg.norm(p[:, c] - p[:, parents[c]], axis=-1)))
    lengths = np.maximum(lengths, 1e-4)

    branching = [j for j in range(j_count) if len(children[j]) >= 2]
    frames = {j: _body_frame(p, lay, j, children[j]) for j in branching}
    if root not in frames:
        raise InputError(f"layout {lay.name}: BVH export needs a root with at least two children")
    rest_dir = np.zeros((j_count, 3))
    for c in range(j_count):
        par = parents[c]
        if par < 0:
            continue
        if rest == "tpose" and par not in frames:
            name = lay.joint_names[c]
            if name not in _TPOSE:
                raise InputError(f"layout {lay.name}: no T-pose direction for joint {name!r}; use rest='clip'")
            rest_dir[c] = _TPOSE[name]
            continue
        bone = unit(p[:, c] - p[:, par])
        frame = frames[par] if par in frames else frames[root]
        local = np.einsum("tab,ta->tb", frame, bone)  # bone in the chosen frame's axes
        rest_dir[c] = unit(np.median(local, axis=0))
    offsets = rest_dir * lengths[:, None]

    grot = np.zeros((t, j_count, 3, 3))
    local_rot = np.zeros((t, j_count, 3, 3))
    for j in range(j_count):
        kids = children[j]
        if len(kids) >= 2:
            obs = np.stack([p[:, c] - p[:, j] for c in kids], axis=1)
            grot[:, j] = kabsch(offsets[kids], obs)
        elif len(kids) == 1:
            c = kids[0]
            parent_rot = grot[:, parents[j]] if parents[j] >= 0 else np.broadcast_to(np.eye(3), (t, 3, 3))
            current = np.einsum("tab,b->ta", parent_rot, rest_dir[c])
            grot[:, j] = min_rotation(current, unit(p[:, c] - p[:, j])) @ parent_rot
        else:
            grot[:, j] = grot[:, parents[j]]
        if parents[j] >= 0:
            local_rot[:, j] = np.swapaxes(grot[:, parents[j]], -1, -2) @ grot[:, j]
        else:
            local_rot[:, j] = grot[:, j]
    return BvhSolution(layout=lay, offsets_m=offsets, local_rot=local_rot, root_pos_m=p[:, root].copy())


def _unwrap_deg(angles: np.ndarray) -> np.ndarray:
    """Remove 360° jumps along time (axis 0) so interpolating players don't spin."""
    return np.degrees(np.unwrap(np.radians(angles), axis=0))


def _is_foot(name: str) -> bool:
    return name.lower().endswith("foot")


def write_bvh(path: str | Path, pose_world_m: np.ndarray, fps: float, *, layout: str | Layout = "h36m17",
              overwrite: bool = True, end_site_m: float = 0.08, rest: str = "clip", names: str = "h36m") -> Path:
    """Solve (:func:`solve_bvh`) and write a BVH file.

    Args:
        path: the ``.bvh`` file.
        pose_world_m: ``(T, J, 3)`` metres, z up (finite: interpolate gaps first).
        fps: frame rate (``Frame Time`` is its inverse).
        layout: the joint layout of ``pose_world_m``.
        overwrite: replace an existing file.
        end_site_m: length of the End Site of a leaf joint, along its bone (hands, head); feet
            get an End Site :data:`FOOT_END_SITE_M` forward (+z at rest), like a foot bone.
        rest: ``"clip"`` (the clip's typical posture) or ``"tpose"`` (see :func:`solve_bvh`).
        names: ``"h36m"`` (the layout's joint names) or ``"animator"`` (the Mixamo/CMU names of
            :func:`animator_skeleton`, for retargeting without a manual bone map).
    Returns:
        ``path``.
    """
    if names not in BVH_NAMES:
        raise InputError(f"BVH joint names {names!r}: choose {' or '.join(BVH_NAMES)}")
    end_joints: set[int] = set()
    if names == "animator":
        pose_world_m, layout = animator_skeleton(pose_world_m, layout)
        end_joints = {layout.index(n) for n in _ANIMATOR_END_SITES}
    sol = solve_bvh(pose_world_m, layout, rest=rest)
    lay = sol.layout
    parents = lay.parents
    j_count = lay.num_joints
    children = {j: [c for c in range(j_count) if parents[c] == j] for j in range(j_count)}
    root = parents.index(-1)
    lines = ["HIERARCHY"]
    order: list[int] = []

    def emit(j: int, depth: int) -> None:
        pad = "  " * depth
        if j in end_joints:
            o = sol.offsets_m[j]
            lines.extend([f"{pad}End Site", pad + "{", f"{pad}  OFFSET {o[0]:.6f} {o[1]:.6f} {o[2]:.6f}", pad + "}"])
            return
        order.append(j)
        lines.append(f"{pad}{'ROOT' if j == root else 'JOINT'} {lay.joint_names[j]}")
        lines.append(pad + "{")
        ox, oy, oz = sol.offsets_m[j]
        lines.append(f"{pad}  OFFSET {ox:.6f} {oy:.6f} {oz:.6f}")
        if j == root:
            lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation")
        else:
            lines.append(f"{pad}  CHANNELS 3 Zrotation Xrotation Yrotation")
        for c in children[j]:
            emit(c, depth + 1)
        if not children[j]:
            e = (np.array([0.0, 0.0, FOOT_END_SITE_M]) if _is_foot(lay.joint_names[j])
                 else unit(sol.offsets_m[j]) * end_site_m)
            lines.append(f"{pad}  End Site")
            lines.append(pad + "  {")
            lines.append(f"{pad}    OFFSET {e[0]:.6f} {e[1]:.6f} {e[2]:.6f}")
            lines.append(pad + "  }")
        lines.append(pad + "}")

    emit(root, 0)
    euler = _unwrap_deg(matrix_to_euler_zxy(sol.local_rot))  # (T, J, 3)
    t = euler.shape[0]
    cols = [sol.root_pos_m] + [euler[:, j] for j in order]
    motion = np.concatenate(cols, axis=1)
    lines += ["MOTION", f"Frames: {t}", f"Frame Time: {1.0 / float(fps):.8f}"]
    body = "\n".join(" ".join(f"{v:.6f}" if i < 3 else f"{v:.4f}" for i, v in enumerate(row))
                     for row in motion)
    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        tmp.write_text("\n".join(lines) + "\n" + body + "\n", encoding="ascii")
    return path
