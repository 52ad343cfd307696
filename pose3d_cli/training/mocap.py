"""Retargeting motion capture to the Human3.6M-17 skeleton (plus virtual COCO-17 points).

A rig map names, for each Human3.6M joint, the rig joints it is taken from (a weighted
average, so a joint can sit between two rig joints). The neck/nose and head joints and the
COCO face points (nose, eyes, ears) are placed in a head frame that turns with the rig's head
joint, so head motion is kept even when a rig has no face joints.

Convention:
    output positions are in metres in a world frame with z up and the floor at z = 0 (the
    Human3.6M world frame is z up, so its cameras apply), sampled at 50 Hz (Human3.6M's rate).
    The body is scaled to a given standing height. The rig's up axis is detected from the
    body (feet → thorax), so y-up and z-up files both work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pose3d_cli.errors import InputError
from pose3d_cli.geometry.kinematics import (
    LocalMotion,
    forward_kinematics,
    resample_local,
)
from pose3d_cli.io.bvh import BvhMotion, bvh_local_motion, read_bvh
from pose3d_cli.skeleton import COCO17, H36M17

#: Human3.6M's frame rate (Hz).
TARGET_FPS = 50.0
#: Standing height the retargeted body is scaled to unless told otherwise (metres).
DEFAULT_HEIGHT_M = 1.75
#: (leg length + hip-to-thorax) / standing height of an adult: how height is estimated from a rig.
_BODY_TO_HEIGHT = 0.77

Weighted = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class RigMap:
    """How one family of rigs maps to Human3.6M-17.

    Attributes:
        name: rig family name.
        joints: Human3.6M-17 joint name → weighted rig joints, for every H36M joint except
            ``neck_nose`` and ``head``.
        head_base: weighted rig joints at the top of the neck (base of the skull); it becomes
            the ``neck_nose`` joint, and the head and face points are placed from it.
        head_joint: rig joint whose orientation turns the head.
        floor: rig joints that may touch the floor (toes, feet); those present put the floor at
            z = 0 (the feet when none is).
        toes: candidate (left, right) toe joint pairs; the first present is used for the
            32-joint file (the feet when none is).

    Joint names are matched without a namespace prefix (``mixamorig:Hips`` → ``Hips``).
    """

    name: str
    joints: Mapping[str, Weighted]
    head_base: Weighted
    head_joint: str
    floor: tuple[str, ...] = ()
    toes: tuple[tuple[str, str], ...] = ()

    def required(self) -> set[str]:
        names = {n for w in self.joints.values() for n, _ in w}
        names |= {n for n, _ in self.head_base}
        return names | {self.head_joint}


def _one(name: str) -> Weighted:
    return ((name, 1.0),)


#: Hips-rooted rigs (Mixamo/MotionBuilder naming, as in the bvhtools test files).
HIPS_RIG = RigMap(
    name="hips",
    joints={
        "hip": (("LeftUpLeg", 0.5), ("RightUpLeg", 0.5)),
        "right_hip": _one("RightUpLeg"), "right_knee": _one("RightLeg"),
        "right_foot": _one("RightFoot"),
        "left_hip": _one("LeftUpLeg"), "left_knee": _one("LeftLeg"), "left_foot": _one("LeftFoot"),
        "spine": (("Spine1", 0.5), ("Spine2", 0.5)), "thorax": _one("Neck"),
        "left_shoulder": _one("LeftArm"), "left_elbow": _one("LeftForeArm"),
        "left_wrist": _one("LeftHand"),
        "right_shoulder": _one("RightArm"), "right_elbow": _one("RightForeArm"),
        "right_wrist": _one("RightHand"),
    },
    head_base=_one("Head"), head_joint="Head",
    floor=("LeftToe", "RightToe", "LeftToeBase", "RightToeBase", "LeftToeBase_end",
           "RightToeBase_end", "LeftFoot", "RightFoot"),
    toes=(("LeftToe", "RightToe"), ("LeftToeBase", "RightToeBase")),
)

#: Blender (Rigify-style metarig) naming, as in the bvhtools Blender export.
BLENDER_RIG = RigMap(
    name="blender",
    joints={
        "hip": (("thigh.L", 0.5), ("thigh.R", 0.5)),
        "right_hip": _one("thigh.R"), "right_knee": _one("shin.R"), "right_foot": _one("foot.R"),
        "left_hip": _one("thigh.L"), "left_knee": _one("shin.L"), "left_foot": _one("foot.L"),
        "spine": _one("spine.001"), "thorax": _one("neck"),
        "left_shoulder": _one("upper_arm.L"), "left_elbow": _one("forearm.L"),
        "left_wrist": _one("forearm.L_end"),
        "right_shoulder": _one("upper_arm.R"), "right_elbow": _one("forearm.R"),
        "right_wrist": _one("forearm.R_end"),
    },
    head_base=(("neck", 0.45), ("face", 0.55)), head_joint="face",
    floor=("foot.L_end", "foot.R_end", "foot.L", "foot.R"),
    toes=(("foot.L_end", "foot.R_end"),),
)

#: Rigs with Chest/Collar/Hip/Knee/Ankle naming (as in the MocapBank BVH exports).
COLLAR_RIG = RigMap(
    name="collar",
    joints={
        "hip": (("LeftHip", 0.5), ("RightHip", 0.5)),
        "right_hip": _one("RightHip"), "right_knee": _one("RightKnee"),
        "right_foot": _one("RightAnkle"),
        "left_hip": _one("LeftHip"), "left_knee": _one("LeftKnee"), "left_foot": _one("LeftAnkle"),
        "spine": _one("Chest2"), "thorax": _one("Neck"),
        "left_shoulder": _one("LeftShoulder"), "left_elbow": _one("LeftElbow"),
        "left_wrist": _one("LeftWrist"),
        "right_shoulder": _one("RightShoulder"), "right_elbow": _one("RightElbow"),
        "right_wrist": _one("RightWrist"),
    },
    head_base=_one("Head"), head_joint="Head",
    floor=("LeftAnkle_end", "RightAnkle_end", "LeftAnkle", "RightAnkle"),
    toes=(("LeftAnkle_end", "RightAnkle_end"),),
)

#: CMU Acclaim skeletons (ASF/AMC; joints named by bone, placed at the bone's end).
ACCLAIM_RIG = RigMap(
    name="acclaim",
    joints={
        "hip": (("lhipjoint", 0.5), ("rhipjoint", 0.5)),
        "right_hip": _one("rhipjoint"), "right_knee": _one("rfemur"), "right_foot": _one("rtibia"),
        "left_hip": _one("lhipjoint"), "left_knee": _one("lfemur"), "left_foot": _one("ltibia"),
        "spine": (("lowerback", 0.5), ("upperback", 0.5)), "thorax": _one("thorax"),
        "left_shoulder": _one("lclavicle"), "left_elbow": _one("lhumerus"),
        "left_wrist": _one("lradius"),
        "right_shoulder": _one("rclavicle"), "right_elbow": _one("rhumerus"),
        "right_wrist": _one("rradius"),
    },
    head_base=_one("upperneck"), head_joint="head",
    floor=("ltoes", "rtoes", "lfoot", "rfoot"),
    toes=(("lfoot", "rfoot"),),
)

RIG_MAPS: dict[str, RigMap] = {r.name: r for r in (HIPS_RIG, BLENDER_RIG, COLLAR_RIG, ACCLAIM_RIG)}


def _base_name(name: str) -> str:
    """A joint name without its namespace prefix (``mixamorig:LeftArm`` → ``LeftArm``)."""
    return name.rsplit(":", 1)[-1]


def _joint_lookup(bvh: BvhMotion | LocalMotion) -> dict[str, int]:
    return {_base_name(n): i for i, n in enumerate(bvh.joint_names)}

# Head-frame placement of face points, in metres for a 1.75 m person:
# (up, forward, left) offsets from the head base (top of the neck).
_HEAD_POINTS_M = {
    "head": (0.13, 0.02, 0.0),
    "nose": (0.06, 0.10, 0.0),
    "left_eye": (0.095, 0.085, 0.032), "right_eye": (0.095, 0.085, -0.032),
    "left_ear": (0.075, 0.0, 0.075), "right_ear": (0.075, 0.0, -0.075),
}


@dataclass(frozen=True)
class MocapClip:
    """A retargeted capture.

    Attributes:
        h36m17_m: ``(T, 17, 3)`` float64 Human3.6M-17 joints, world metres, z up, floor z = 0.
        coco17_m: ``(T, 17, 3)`` float64 virtual COCO-17 points in the same frame.
        toes_m: ``(T, 2, 3)`` float64 left and right toe points (for the 32-joint file).
        fps: frames per second (50).
        name: clip name (file stem).
        rig: rig family.
        scale: file units → metres factor applied.
    """

    h36m17_m: np.ndarray
    coco17_m: np.ndarray
    toes_m: np.ndarray
    fps: float
    name: str
    rig: str
    scale: float

    @property
    def num_frames(self) -> int:
        return int(self.h36m17_m.shape[0])


def detect_rig(bvh: BvhMotion | LocalMotion) -> RigMap:
    """The rig map whose joints all exist in ``bvh`` (a BVH or any :class:`LocalMotion`).

    Raises:
        InputError: no known rig matches; the message lists the rigs and what is missing.
    """
    names = set(_joint_lookup(bvh))
    missing = {}
    for rig in RIG_MAPS.values():
        lack = rig.required() - names
        if not lack:
            return rig
        missing[rig.name] = sorted(lack)
    detail = "; ".join(f"{k} rig lacks {', '.join(v[:4])}" for k, v in missing.items())
    raise InputError(f"{bvh.source}: unknown rig ({detail}); supported rigs use Mixamo "
                     "(Hips, LeftUpLeg, …), Blender (pelvis, thigh.L, …), Chest/Collar "
                     "(Hips, LeftHip, LeftKnee, LeftAnkle, …) or CMU Acclaim (lfemur, ltibia, …) "
                     "joint names")


def _weighted(pos: np.ndarray, lookup: Mapping[str, int], w: Weighted) -> np.ndarray:
    return sum(pos[:, lookup[n]] * k for n, k in w)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def up_axis_rotation(up_dir: np.ndarray) -> np.ndarray:
    """A proper rotation (a signed axis permutation) taking the file axis closest to ``up_dir``
    to +z. ``up_dir``: ``(3,)`` in file axes. Returns ``(3, 3)``; world = R @ file."""
    u = int(np.argmax(np.abs(up_dir)))
    s = 1.0 if up_dir[u] > 0 else -1.0
    rot = np.zeros((3, 3))
    rot[2, u] = s
    rot[0, (u + 1) % 3] = s  # negate one horizontal axis with the up axis: det stays +1
    rot[1, (u + 2) % 3] = 1.0
    return rot


def retarget(motion: BvhMotion | LocalMotion, *, height_m: float = DEFAULT_HEIGHT_M,
             fps: float = TARGET_FPS, rig: RigMap | None = None,
             max_seconds: float | None = None) -> MocapClip:
    """Retarget a capture (BVH, or any :class:`LocalMotion` such as an ASF/AMC one) to
    Human3.6M-17 (and virtual COCO-17) in metres at ``fps``.

    Local rotations are resampled (quaternion interpolation) before forward kinematics, so bone
    lengths stay constant. ``max_seconds`` keeps only the start of the capture.
    Returns a :class:`MocapClip`.
    """
    rig = rig or detect_rig(motion)
    if isinstance(motion, BvhMotion):
        if max_seconds is not None:
            keep = max(2, int(np.ceil(max_seconds * motion.fps)) + 1)
            motion = replace(motion, motion=motion.motion[:keep])
        motion = bvh_local_motion(motion)
    elif max_seconds is not None:
        motion = motion.truncated(max_seconds)
    bvh = motion  # names, parents, source
    rot, trans = motion.rot, motion.trans
    if abs(fps - motion.fps) > 1e-6:
        rot, trans = resample_local(rot, trans, motion.fps, fps)
    pos, grot = forward_kinematics(motion.parents, rot, trans)

    lookup = _joint_lookup(bvh)
    named = {n: _weighted(pos, lookup, w) for n, w in rig.joints.items()}
    base = _weighted(pos, lookup, rig.head_base)
    floor_names = [n for n in rig.floor if n in lookup]
    floor_pts = (np.stack([pos[:, lookup[n]] for n in floor_names], axis=1) if floor_names
                 else np.stack([named["left_foot"], named["right_foot"]], axis=1))
    toe_pair = next((pair for pair in rig.toes if all(n in lookup for n in pair)), None)
    toes = (np.stack([pos[:, lookup[n]] for n in toe_pair], axis=1) if toe_pair
            else np.stack([named["left_foot"], named["right_foot"]], axis=1))

    # Axes: file → world z-up.
    ankles = (named["left_foot"] + named["right_foot"]) / 2
    axes = up_axis_rotation((named["thorax"] - ankles).mean(axis=0))

    def to_world(x: np.ndarray) -> np.ndarray:
        return x @ axes.T

    named = {k: to_world(v) for k, v in named.items()}
    base, floor_pts, toes = to_world(base), to_world(floor_pts), to_world(toes)
    g_head = np.einsum("ab,tbc->tac", axes, grot[:, lookup[rig.head_joint]])

    # Scale: estimate the standing height in file units from leg and torso lengths.
    def seg(a: str, b: str) -> float:
        return float(np.median(np.linalg.norm(named[a] - named[b], axis=-1)))

    leg = 0.5 * (seg("left_hip", "left_knee") + seg("left_knee", "left_foot")
                 + seg("right_hip", "right_knee") + seg("right_knee", "right_foot"))
    torso = seg("hip", "thorax")
    if not leg + torso > 0:
        raise InputError(f"{bvh.source}: degenerate skeleton (zero leg and torso length)")
    scale = height_m * _BODY_TO_HEIGHT / (leg + torso)
    named = {k: v * scale for k, v in named.items()}
    base, floor_pts, toes = base * scale, floor_pts * scale, toes * scale

    # Head frame: body axes per frame, expressed in the head joint's frame, averaged over the
    # clip; then turned by the head joint per frame.
    up_b = _unit(named["thorax"] - named["hip"])
    left_b = named["left_shoulder"] - named["right_shoulder"]
    left_b = _unit(left_b - (left_b * up_b).sum(-1, keepdims=True) * up_b)
    fwd_b = np.cross(left_b, up_b)
    up_l = _unit(np.einsum("tba,tb->a", g_head, up_b))
    fwd_l = np.einsum("tba,tb->a", g_head, fwd_b)
    fwd_l = _unit(fwd_l - (fwd_l @ up_l) * up_l)
    left_l = np.cross(up_l, fwd_l)
    up_h, fwd_h, left_h = (np.einsum("tab,b->ta", g_head, v) for v in (up_l, fwd_l, left_l))
    head_scale = height_m / DEFAULT_HEIGHT_M

    def head_point(key: str) -> np.ndarray:
        u, f, l = _HEAD_POINTS_M[key]
        return base + head_scale * (u * up_h + f * fwd_h + l * left_h)

    named["neck_nose"] = base  # the top of the neck: rigid to the thorax like Human3.6M's joint
    named["head"] = head_point("head")

    floor_z = np.percentile(floor_pts[..., 2].min(axis=1), 1.0)
    shift = np.array([0.0, 0.0, floor_z])
    h36m = np.stack([named[n] for n in H36M17.joint_names], axis=1) - shift
    coco_src = {
        "nose": head_point("nose"), "left_eye": head_point("left_eye"),
        "right_eye": head_point("right_eye"), "left_ear": head_point("left_ear"),
        "right_ear": head_point("right_ear"),
        "left_ankle": named["left_foot"], "right_ankle": named["right_foot"],
    }
    for side in ("left", "right"):
        for part in ("shoulder", "elbow", "wrist", "hip", "knee"):
            coco_src[f"{side}_{part}"] = named[f"{side}_{part}"]
    coco = np.stack([coco_src[n] for n in COCO17.joint_names], axis=1) - shift
    return MocapClip(h36m17_m=h36m, coco17_m=coco, toes_m=toes - shift, fps=float(fps),
                     name=Path(bvh.source).stem if bvh.source else "clip", rig=rig.name,
                     scale=float(scale))



def load_mocap(source: str | Path | tuple[str | Path, str | Path], *,
               height_m: float = DEFAULT_HEIGHT_M, fps: float = TARGET_FPS,
               max_seconds: float | None = None, amc_fps: float | None = None) -> MocapClip:
    """Read a capture and retarget it (see :func:`retarget`).

    Args:
        source: a ``.bvh`` path, or an ``(skeleton.asf, motion.amc)`` pair.
        amc_fps: frame rate of an AMC motion (default: 120 Hz, the CMU database's).
    """
    if isinstance(source, tuple):
        from pose3d_cli.training.asf import CMU_FPS, read_asf_amc

        motion = read_asf_amc(source[0], source[1], fps=amc_fps or CMU_FPS)
        clip = retarget(motion, height_m=height_m, fps=fps, max_seconds=max_seconds)
        return replace(clip, name=Path(source[1]).stem)
    return retarget(read_bvh(source), height_m=height_m, fps=fps, max_seconds=max_seconds)


def bone_lengths(pose_m: np.ndarray, parents: Sequence[int] = H36M17.parents) -> np.ndarray:
    """Bone lengths ``(*, J-1)`` of poses ``(*, J, 3)`` (one per non-root joint, in joint order)."""
    idx = [j for j, p in enumerate(parents) if p >= 0]
    par = [parents[j] for j in idx]
    return np.linalg.norm(pose_m[..., idx, :] - pose_m[..., par, :], axis=-1)


def head_height(clip: MocapClip) -> float:
    """Median height of the Human3.6M head joint above the floor over the clip (metres); the
    top of the skull is about 0.1 m higher for an adult."""
    return float(np.median(clip.h36m17_m[:, H36M17.index("head"), 2]))
