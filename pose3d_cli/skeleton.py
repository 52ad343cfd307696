"""Joint layouts by name: COCO-17, Human3.6M-17, HumanEva-15.

A :class:`Layout` holds joint names, parents, left/right joint lists and the edges to draw.
Everything is keyed by joint *name*; indices are derived. Conversions between layouts are
functions over arrays of shape ``(*, J, C)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from pose3d_cli.errors import InputError


@dataclass(frozen=True)
class Layout:
    """A skeleton layout.

    Attributes:
        name: registry name (``"coco17"``, ``"h36m17"``, ``"humaneva15"``).
        joint_names: one name per joint, in array order.
        parents: parent index per joint, ``-1`` for the root (or for joints drawn without one).
        left: indices of the joints on the subject's left side.
        right: indices of the matching right-side joints, same order as ``left``.
        edges: pairs of joint indices to draw as bones.
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    edges: tuple[tuple[int, int], ...] = field(default=())

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def index(self, joint_name: str) -> int:
        """Index of a joint by name; raises :class:`KeyError` with the known names."""
        try:
            return self.joint_names.index(joint_name)
        except ValueError:
            raise KeyError(f"layout {self.name!r} has no joint {joint_name!r}; "
                           f"joints: {', '.join(self.joint_names)}") from None

    def flip_permutation(self) -> np.ndarray:
        """Index array that swaps every left joint with its right twin (others stay)."""
        perm = np.arange(self.num_joints)
        perm[list(self.left)] = self.right
        perm[list(self.right)] = self.left
        return perm

    def side_of(self, j: int) -> str:
        """``"left"``, ``"right"`` or ``"centre"`` for joint index ``j``."""
        if j in self.left:
            return "left"
        if j in self.right:
            return "right"
        return "centre"

    def edge_side(self, edge: tuple[int, int]) -> str:
        """Side of a bone for colouring: the side of its child joint."""
        a, b = edge
        sides = {self.side_of(a), self.side_of(b)} - {"centre"}
        return sides.pop() if len(sides) == 1 else "centre"


def _edges_from_parents(parents: Sequence[int]) -> tuple[tuple[int, int], ...]:
    return tuple((p, j) for j, p in enumerate(parents) if p >= 0)


COCO17 = Layout(
    name="coco17",
    joint_names=("nose", "left_eye", "right_eye", "left_ear", "right_ear",
                 "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                 "left_wrist", "right_wrist", "left_hip", "right_hip",
                 "left_knee", "right_knee", "left_ankle", "right_ankle"),
    # A drawing tree rooted at the nose; COCO keypoints have no kinematic root.
    parents=(-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14),
    left=(1, 3, 5, 7, 9, 11, 13, 15),
    right=(2, 4, 6, 8, 10, 12, 14, 16),
    edges=((0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10),
           (5, 11), (6, 12), (11, 12), (11, 13), (13, 15), (12, 14), (14, 16)),
)

_H36M_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
H36M17 = Layout(
    name="h36m17",
    joint_names=("hip", "right_hip", "right_knee", "right_foot", "left_hip", "left_knee",
                 "left_foot", "spine", "thorax", "neck_nose", "head", "left_shoulder",
                 "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist"),
    parents=_H36M_PARENTS,
    left=(4, 5, 6, 11, 12, 13),
    right=(1, 2, 3, 14, 15, 16),
    edges=_edges_from_parents(_H36M_PARENTS),
)

_HUMANEVA_PARENTS = (-1, 0, 1, 2, 3, 1, 5, 6, 0, 8, 9, 0, 11, 12, 1)
HUMANEVA15 = Layout(
    name="humaneva15",
    joint_names=("pelvis", "thorax", "left_shoulder", "left_elbow", "left_wrist",
                 "right_shoulder", "right_elbow", "right_wrist", "left_hip", "left_knee",
                 "left_ankle", "right_hip", "right_knee", "right_ankle", "head"),
    parents=_HUMANEVA_PARENTS,
    left=(2, 3, 4, 8, 9, 10),
    right=(5, 6, 7, 11, 12, 13),
    edges=_edges_from_parents(_HUMANEVA_PARENTS),
)

LAYOUTS: dict[str, Layout] = {lay.name: lay for lay in (COCO17, H36M17, HUMANEVA15)}
_ALIASES = {"coco": "coco17", "h36m": "h36m17", "humaneva": "humaneva15", "humaneva15": "humaneva15"}

#: Indices of the 17 joints kept from the 32-joint Human3.6M mocap skeleton.
H36M32_KEPT = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)


def get_layout(name: str) -> Layout:
    """Layout by name (``coco17``/``coco``, ``h36m17``/``h36m``, ``humaneva15``)."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in LAYOUTS:
        raise InputError(f"unknown joint layout {name!r}; known layouts: {', '.join(LAYOUTS)}")
    return LAYOUTS[key]


def h36m32_to_h36m17(poses: np.ndarray) -> np.ndarray:
    """Select the 17 kept joints from ``(*, 32, C)`` Human3.6M mocap arrays."""
    if poses.shape[-2] != 32:
        raise InputError(f"expected 32 Human3.6M joints on axis -2, got shape {poses.shape}")
    return poses[..., list(H36M32_KEPT), :]


def coco17_to_h36m17(kpts: np.ndarray) -> np.ndarray:
    """Approximate H36M-17 joints from COCO-17 keypoints, ``(*, 17, C)`` → ``(*, 17, C)``.

    Hip = mid-hips, thorax = mid-shoulders, spine = midway hip–thorax, neck/nose = nose,
    head = midpoint of the eyes/ears pushed above the nose. Used for drawing and for feeding
    a COCO track to an H36M-input model; it is not what the paper trained its COCO model on
    (that model takes COCO-17 directly).
    """
    if kpts.shape[-2] != 17:
        raise InputError(f"expected 17 COCO joints on axis -2, got shape {kpts.shape}")
    c = {n: kpts[..., i, :] for i, n in enumerate(COCO17.joint_names)}
    hip = (c["left_hip"] + c["right_hip"]) / 2
    thorax = (c["left_shoulder"] + c["right_shoulder"]) / 2
    ears = (c["left_ear"] + c["right_ear"]) / 2
    head = ears + (ears - thorax) * 0.25
    out = [hip, c["right_hip"], c["right_knee"], c["right_ankle"], c["left_hip"], c["left_knee"],
           c["left_ankle"], (hip + thorax) / 2, thorax, c["nose"], head, c["left_shoulder"],
           c["left_elbow"], c["left_wrist"], c["right_shoulder"], c["right_elbow"], c["right_wrist"]]
    return np.stack(out, axis=-2)


def check_poses(pose_world_m: np.ndarray, layout: Layout) -> np.ndarray:
    """``(T, J, 3)`` finite poses of ``layout`` as float64, else :class:`InputError`."""
    p = np.asarray(pose_world_m, np.float64)
    if p.ndim != 3 or p.shape[1:] != (layout.num_joints, 3):
        raise InputError(f"poses must have shape (T, {layout.num_joints}, 3) for layout {layout.name}, "
                         f"got {p.shape}")
    if p.shape[0] < 1:
        raise InputError("no frames to export")
    if not np.isfinite(p).all():
        raise InputError("poses hold NaN or infinite values; cannot export them")
    return p
