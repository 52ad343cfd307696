"""Joint angles from 3D joint positions (Human3.6M-17), in degrees, as pure numpy functions.

Convention: poses ``(*, 17, 3)`` in metres in the world frame of the pose file (z up; any
horizontal axes). Joints by name (:data:`pose3d_cli.skeleton.H36M17`). Segments:

- *trunk axis* ``U``: unit vector from ``hip`` (pelvis centre) to ``thorax``;
- *lateral axis* ``L``: ``left_hip − right_hip`` with its component along ``U`` removed;
- *forward axis* ``F = L × U`` (the direction the pelvis faces).

Angles (every one is defined in the body's own frame, so it does not depend on where the
camera was, except the trunk lean, which is measured against the world vertical):

=========================== ==================================================================
``{side}_hip_flexion``      thigh (hip → knee) in the trunk's sagittal plane (``F``, ``U``):
                            ``atan2(d·F, −d·U)``; 0° thigh along the trunk axis pointing down
                            (standing), +90° thigh forward and horizontal (sitting), negative
                            behind the trunk (extension). The pelvis has no joints of its own
                            in H36M-17, so the trunk axis stands in for it.
``{side}_knee_flexion``     180° − the angle at the knee between thigh and shank (knee → ankle):
                            0° straight leg, grows as the knee bends. Unsigned (no
                            hyperextension sign).
``{side}_elbow_flexion``    the same at the elbow (upper arm, forearm): 0° straight arm.
``{side}_shoulder_elevation`` angle between the upper arm (shoulder → elbow) and ``−U``: 0° arm
                            hanging along the trunk, 90° horizontal (abducted or flexed), 180°
                            straight overhead; any plane of elevation (thoracohumeral
                            elevation).
``trunk_lean``              angle between the trunk axis ``U`` and the world vertical: 0°
                            upright, whichever way the trunk tilts.
``trunk_lean_forward``      the trunk axis tilted towards ``F_h`` (``F`` made horizontal) in the
                            vertical plane through ``F_h``: ``atan2(U·F_h, U·z)``, positive
                            leaning forward, negative leaning back.
=========================== ==================================================================

Ankle flexion is **not** given: the Human3.6M-17 skeleton ends at the ankle (its ``*_foot``
joints) with no toe or heel point, so the foot's direction, and with it any ankle angle, is not
measured by the model.
"""

from __future__ import annotations

import numpy as np

from pose3d_cli.errors import InputError
from pose3d_cli.skeleton import Layout, get_layout

#: The angles :func:`joint_angles` returns, in this order.
ANGLE_NAMES = (
    "left_hip_flexion", "right_hip_flexion", "left_knee_flexion", "right_knee_flexion",
    "left_elbow_flexion", "right_elbow_flexion", "left_shoulder_elevation", "right_shoulder_elevation",
    "trunk_lean", "trunk_lean_forward",
)


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return v / n


def angle_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Unsigned angle in degrees (0–180) between vectors ``u`` and ``v`` ``(*, 3)`` → ``(*)``.

    Computed with ``atan2(|u × v|, u · v)`` (accurate near 0° and 180°). NaN where a vector is
    NaN or zero-length.
    """
    u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
    cross = np.linalg.norm(np.cross(u, v), axis=-1)
    dot = (u * v).sum(-1)
    out = np.degrees(np.arctan2(cross, dot))
    zero = (np.linalg.norm(u, axis=-1) == 0) | (np.linalg.norm(v, axis=-1) == 0)
    return np.where(zero, np.nan, out)


def flexion_angle(proximal: np.ndarray, joint: np.ndarray, distal: np.ndarray) -> np.ndarray:
    """Flexion at ``joint`` between the segments ``proximal → joint`` and ``joint → distal``:
    0° when the three points are in line (straight limb), 180° folded back. Points ``(*, 3)``
    → degrees ``(*)``."""
    return angle_between(np.asarray(joint) - proximal, np.asarray(distal) - joint)


def body_axes(pose_m: np.ndarray, layout: str | Layout = "h36m17") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trunk axis ``U``, lateral axis ``L`` and forward axis ``F`` (unit vectors ``(*, 3)``) of
    poses ``(*, J, 3)`` (see the module docstring)."""
    lay = _check(pose_m, layout)
    p = np.asarray(pose_m, np.float64)
    j = lay.index
    up = _unit(p[..., j("thorax"), :] - p[..., j("hip"), :])
    lat = p[..., j("left_hip"), :] - p[..., j("right_hip"), :]
    lat = _unit(lat - (lat * up).sum(-1, keepdims=True) * up)
    fwd = np.cross(lat, up)
    return up, lat, fwd


def _check(pose_m: np.ndarray, layout: str | Layout) -> Layout:
    lay = get_layout(layout) if isinstance(layout, str) else layout
    if lay.name != "h36m17":
        raise InputError(f"joint angles are defined for the h36m17 layout, got {lay.name}")
    shape = np.shape(pose_m)
    if len(shape) < 2 or shape[-2:] != (lay.num_joints, 3):
        raise InputError(f"poses must have shape (*, {lay.num_joints}, 3) for joint angles, got {shape}")
    return lay


def joint_angles(pose_m: np.ndarray, layout: str | Layout = "h36m17",
                 up: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> dict[str, np.ndarray]:
    """Every angle of :data:`ANGLE_NAMES` for poses ``(*, 17, 3)`` → name → degrees ``(*)``.

    Args:
        pose_m: joint positions in metres (Human3.6M-17); NaN poses give NaN angles.
        layout: the joint layout (``h36m17``).
        up: the world's vertical (unit vector) for the trunk lean; ``(0, 0, 1)`` for the pose
            file's world frame.

    Example:
        >>> from pose3d_cli.geometry.angles import joint_angles
        >>> import numpy as np
        >>> stand = np.zeros((17, 3)); names = ["hip", "right_hip", "right_knee", "right_foot",
        ...     "left_hip", "left_knee", "left_foot", "spine", "thorax", "neck_nose", "head",
        ...     "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist"]
        >>> at = {"hip": (0, 0, 1), "right_hip": (-.1, 0, 1), "right_knee": (-.1, 0, .5),
        ...       "right_foot": (-.1, 0, .1), "left_hip": (.1, 0, 1), "left_knee": (.1, -.4, .7),
        ...       "left_foot": (.1, -.4, .3), "spine": (0, 0, 1.2), "thorax": (0, 0, 1.5),
        ...       "neck_nose": (0, 0, 1.6), "head": (0, 0, 1.7), "left_shoulder": (.2, 0, 1.5),
        ...       "left_elbow": (.5, 0, 1.5), "left_wrist": (.8, 0, 1.5), "right_shoulder": (-.2, 0, 1.5),
        ...       "right_elbow": (-.2, 0, 1.2), "right_wrist": (-.2, -.3, 1.2)}
        >>> pose = np.array([at[n] for n in names], float)
        >>> a = joint_angles(pose)  # this body faces -y: forward = left × up
        >>> round(float(a["left_hip_flexion"])), round(float(a["left_knee_flexion"]))
        (53, 53)
        >>> round(float(a["left_shoulder_elevation"])), round(float(a["right_elbow_flexion"]))
        (90, 90)
    """
    lay = _check(pose_m, layout)
    p = np.asarray(pose_m, np.float64)

    def at(name: str) -> np.ndarray:
        return p[..., lay.index(name), :]

    up_ax, _, fwd = body_axes(p, lay)
    out: dict[str, np.ndarray] = {}
    for side in ("left", "right"):
        thigh = _unit(at(f"{side}_knee") - at(f"{side}_hip"))
        out[f"{side}_hip_flexion"] = np.degrees(np.arctan2((thigh * fwd).sum(-1), -(thigh * up_ax).sum(-1)))
        out[f"{side}_knee_flexion"] = flexion_angle(at(f"{side}_hip"), at(f"{side}_knee"), at(f"{side}_foot"))
        out[f"{side}_elbow_flexion"] = flexion_angle(at(f"{side}_shoulder"), at(f"{side}_elbow"),
                                                     at(f"{side}_wrist"))
        out[f"{side}_shoulder_elevation"] = angle_between(at(f"{side}_elbow") - at(f"{side}_shoulder"), -up_ax)
    vertical = np.broadcast_to(np.asarray(up, np.float64) / np.linalg.norm(up), up_ax.shape)
    out["trunk_lean"] = angle_between(up_ax, vertical)
    fwd_h = _unit(fwd - (fwd * vertical).sum(-1, keepdims=True) * vertical)
    out["trunk_lean_forward"] = np.degrees(np.arctan2((up_ax * fwd_h).sum(-1), (up_ax * vertical).sum(-1)))
    return {name: out[name] for name in ANGLE_NAMES}
