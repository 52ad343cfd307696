"""From camera-frame poses (and a root trajectory) to a world frame that stands on the ground.

:func:`world_poses` places every pose at its root position (when a trajectory model gave one;
without it the body stays on the spot, as before), turns the camera frame into a z-up world
frame with :func:`~pose3d_cli.geometry.camera.camera_to_world_wild`, levels it with the ground
the feet walk on, puts that ground at z = 0 and the first root position over the origin, and
optionally scales everything to a subject height.

The ground is found from the feet over the whole clip, not from the single lowest joint: in
every frame the lower ankle is the foot most likely on the ground; a low percentile of those
heights, less the ankle's height above the sole, is the ground. When the person travels far
enough the ground's tilt is fitted to the ground contacts (the lower ankle while it is slow), so
a camera tilted unlike the in-the-wild default does not make the person walk up or down a slope.

Convention:
    Human3.6M-17 poses, metres. Camera frame x right, y down, z forward; world frame z up,
    ground z = 0. Heights: the standing height is estimated from bone lengths (legs and
    hip-to-thorax, ratio :data:`BODY_TO_HEIGHT`, the same rule that sized the training data), so
    it does not depend on the posture; the top of the head lies :data:`HEAD_TOP_FACTOR` times the
    neck-to-head vector beyond the head joint; the ankle sits :data:`ANKLE_HEIGHT_FRACTION` of
    the height above the sole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pose3d_cli.errors import InputError
from pose3d_cli.geometry.camera import camera_to_world_wild
from pose3d_cli.geometry.rotations import min_rotation
from pose3d_cli.skeleton import H36M17

#: (leg length + hip-to-thorax distance) / standing height of an adult (the training data's rule).
BODY_TO_HEIGHT = 0.77
#: The top of the head is this many times the ``neck_nose → head`` vector beyond ``head``
#: (the built-in skeleton's head joint is about 0.1 m below the crown; 0.13 m neck-to-head).
HEAD_TOP_FACTOR = 0.75
#: Ankle height above the sole of a foot on the ground, as a fraction of standing height.
ANKLE_HEIGHT_FRACTION = 0.045
#: Percentile of the per-frame lower-ankle heights taken as "on the ground".
GROUND_PERCENTILE = 20.0
#: Horizontal extent of ground contacts (metres) above which the ground's tilt is fitted.
MIN_TRAVEL_FOR_TILT_M = 1.0
#: Time scale (seconds) above which :func:`plant_feet` keeps the trajectory model's motion.
PLANT_BLEND_S = 0.5
#: Largest tilt correction applied (degrees).
MAX_TILT_DEG = 25.0

_HIP, _THORAX = H36M17.index("hip"), H36M17.index("thorax")
_NECK, _HEAD = H36M17.index("neck_nose"), H36M17.index("head")
_FEET = (H36M17.index("left_foot"), H36M17.index("right_foot"))
_LEGS = ((H36M17.index("left_hip"), H36M17.index("left_knee"), H36M17.index("left_foot")),
         (H36M17.index("right_hip"), H36M17.index("right_knee"), H36M17.index("right_foot")))


def _check(pose_m: np.ndarray, what: str) -> np.ndarray:
    p = np.asarray(pose_m, np.float64)
    if p.ndim != 3 or p.shape[1:] != (17, 3):
        raise InputError(f"{what}: expected Human3.6M-17 poses of shape (T, 17, 3), got {p.shape}")
    if p.shape[0] < 1 or not np.isfinite(p).all():
        raise InputError(f"{what}: poses are empty or hold NaN/infinite values")
    return p


def estimate_height_m(pose_m: np.ndarray) -> float:
    """Standing height (metres) of the body in ``(T, 17, 3)`` Human3.6M-17 poses (any frame),
    from median bone lengths: ``(mean leg length + hip-to-thorax distance) / BODY_TO_HEIGHT``."""
    p = _check(pose_m, "estimate_height_m")
    legs = [np.median(np.linalg.norm(p[:, h] - p[:, k], axis=-1) + np.linalg.norm(p[:, k] - p[:, f], axis=-1))
            for h, k, f in _LEGS]
    torso = np.median(np.linalg.norm(p[:, _THORAX] - p[:, _HIP], axis=-1))
    return float((np.mean(legs) + torso) / BODY_TO_HEIGHT)


def head_top(pose_m: np.ndarray) -> np.ndarray:
    """``(T, 3)`` top of the head: the head joint plus ``HEAD_TOP_FACTOR`` times the
    ``neck_nose → head`` vector."""
    p = _check(pose_m, "head_top")
    return p[:, _HEAD] + HEAD_TOP_FACTOR * (p[:, _HEAD] - p[:, _NECK])


def ground_contacts(pose_world_m: np.ndarray, fps: float, max_speed_m_s: float = 0.25) -> np.ndarray:
    """``(N, 3)`` positions of the lower ankle in the frames where it moves slower than
    ``max_speed_m_s`` horizontally (a foot planted on the ground)."""
    p = _check(pose_world_m, "ground_contacts")
    feet = p[:, list(_FEET)]
    low = np.argmin(feet[..., 2], axis=1)
    pos = feet[np.arange(len(p)), low]
    if len(p) < 2:
        return pos
    speed = np.zeros(len(p))
    same = low[1:] == low[:-1]
    step = np.linalg.norm(np.diff(feet[:, :, :2], axis=0)[np.arange(len(p) - 1), low[1:]], axis=-1) * fps
    speed[1:] = np.where(same, step, np.inf)
    speed[0] = speed[1] if len(p) > 1 else 0.0
    return pos[speed < max_speed_m_s]


def ground_tilt(contacts_m: np.ndarray) -> np.ndarray | None:
    """Unit normal (z > 0) of the plane through ground contacts ``(N, 3)``, fitted by least
    squares with one pass of outlier rejection; ``None`` when the contacts span less than
    :data:`MIN_TRAVEL_FOR_TILT_M` horizontally or the fit tilts more than :data:`MAX_TILT_DEG`."""
    c = np.asarray(contacts_m, np.float64)
    if len(c) < 10:
        return None
    xy = c[:, :2] - c[:, :2].mean(0)
    spread = np.linalg.svd(xy, compute_uv=False)[0] / np.sqrt(len(c)) * 2
    if spread < MIN_TRAVEL_FOR_TILT_M / 2:
        return None
    keep = np.ones(len(c), bool)
    for _ in range(2):
        a = np.c_[c[keep, :2], np.ones(keep.sum())]
        coef, *_ = np.linalg.lstsq(a, c[keep, 2], rcond=None)
        resid = np.abs(np.c_[c[:, :2], np.ones(len(c))] @ coef - c[:, 2])
        keep = resid <= max(np.percentile(resid, 80), 1e-3)
    n = np.array([-coef[0], -coef[1], 1.0])
    n /= np.linalg.norm(n)
    if np.degrees(np.arccos(n[2])) > MAX_TILT_DEG:
        return None
    return n


def _gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along axis 0, ``sigma`` in frames; the ends are extended by point
    reflection (``2 x[0] − x[i]``), so a linear trend passes unchanged up to the last frame."""
    if sigma <= 0 or len(x) < 2:
        return x.copy()
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    idx = np.arange(1, r + 1)
    head = 2 * x[0] - x[np.minimum(idx, len(x) - 1)][::-1]
    tail = 2 * x[-1] - x[np.maximum(len(x) - 1 - idx, 0)]
    pad = np.concatenate([head, x, tail])
    out = np.zeros_like(x, dtype=np.float64)
    for i, w in enumerate(k):
        out += w * pad[i:i + len(x)]
    return out


def plant_feet(pose_world_m: np.ndarray, fps: float, *, blend_s: float = PLANT_BLEND_S,
               max_height_m: float = 0.15) -> np.ndarray:
    """Re-time the horizontal root motion so the supporting foot stays put.

    Step by step, the root's horizontal displacement is taken from the legs: while the same foot
    is the lower one (and within ``max_height_m`` of the ground) the body moves by minus that
    foot's motion relative to the root (leg odometry); the slow part of the difference between
    the given motion and the odometry (Gaussian low-pass, ``blend_s`` seconds) is added back, so
    the distance travelled over a few steps is the given trajectory's. Heights are not changed.

    Args:
        pose_world_m: ``(T, 17, 3)`` world poses (z up, ground z = 0) placed at their trajectory.
        fps: frame rate.
    Returns:
        ``(T, 17, 3)`` float64 poses, shifted horizontally per frame.
    """
    p = _check(pose_world_m, "plant_feet")
    t = len(p)
    if t < 3:
        return p.copy()
    root = p[:, 0, :2]
    rel = p[:, list(_FEET), :2] - root[:, None]
    low = np.argmin(p[:, list(_FEET), 2], axis=1)
    step = np.diff(root, axis=0)  # the given motion
    odo = step.copy()
    idx = np.arange(t - 1)
    stance = (low[1:] == low[:-1]) & (p[idx, np.array(_FEET)[low[:-1]], 2] <= max_height_m)
    foot_move = rel[idx + 1, low[:-1]] - rel[idx, low[:-1]]
    odo[stance] = -foot_move[stance]
    given = np.concatenate([[root[0]], root[0] + np.cumsum(step, 0)])
    legs = np.concatenate([[root[0]], root[0] + np.cumsum(odo, 0)])
    slow = _gaussian_smooth(given - legs, blend_s * fps)
    new_root = legs + slow
    out = p.copy()
    out[..., :2] += (new_root - root)[:, None]
    return out


@dataclass(frozen=True)
class WorldPoses:
    """Poses in the world frame.

    Attributes:
        poses_world_m: ``(T, 17, 3)`` float32, z up, ground z = 0.
        trajectory_world_m: ``(T, 3)`` float32, the root (joint 0) per frame (constant x, y
            without a trajectory).
        scale: factor applied to the model's output (``height_m`` / estimated height; 1.0
            without ``height_m``).
        height_m: standing height of the result (estimated after scaling).
        tilt_deg: tilt removed by levelling the ground (0 when not fitted).
        moving: whether a trajectory placed the poses (else on the spot).
    """

    poses_world_m: np.ndarray
    trajectory_world_m: np.ndarray
    scale: float
    height_m: float
    tilt_deg: float
    moving: bool


def _ground_height(poses: np.ndarray, person_height_m: float) -> float:
    """Ground height under ``(N, 17, 3)`` world poses (see the module docstring)."""
    low_ankle = np.nanmin(poses[:, list(_FEET), 2], axis=1)
    return float(np.percentile(low_ankle, GROUND_PERCENTILE) - ANKLE_HEIGHT_FRACTION * person_height_m)


def _grounded(world: np.ndarray) -> np.ndarray:
    """World poses shifted so the ground found from the feet (module docstring) is z = 0."""
    out = world.copy()
    out[..., 2] -= _ground_height(world, estimate_height_m(world))
    return out


def world_poses(pose_cam_m: np.ndarray, trajectory_cam_m: np.ndarray | None = None, *,
                height_m: float | None = None, fps: float = 50.0, plant: bool = True) -> WorldPoses:
    """Camera-frame poses (plus the root trajectory) → grounded world poses.

    Args:
        pose_cam_m: ``(T, 17, 3)`` Human3.6M-17, camera frame, metres, as a lifter outputs them
            (root-relative; the raw output's joint 0 is moved to the origin first).
        trajectory_cam_m: ``(T, 3)`` root positions in the camera frame
            (:func:`pose3d_cli.lifting.trajectory.predict_trajectory`), or ``None``: the body
            stays on the spot (models without a trajectory model).
        height_m: the subject's standing height; poses and trajectory are scaled together
            (a taller person seen the same size in the image stands farther away).
        fps: frame rate (for the ground-contact speeds and foot planting).
        plant: with a trajectory, re-time the horizontal root motion so the supporting foot
            stays put (:func:`plant_feet`); the distance travelled stays the trajectory's.
    Returns:
        :class:`WorldPoses`. Steps: place at the trajectory; scale; rotate with
        :func:`~pose3d_cli.geometry.camera.camera_to_world_wild`; level with the ground contacts
        when the person travels; ground from the feet (see the module docstring); plant the
        feet; first root position over the origin.
    Raises:
        InputError: bad shapes, NaN, a trajectory of another length or a non-positive height.
    """
    p = _check(pose_cam_m, "world_poses")
    rel = p - p[:, :1]
    moving = trajectory_cam_m is not None
    if moving:
        tr = np.asarray(trajectory_cam_m, np.float64)
        if tr.shape != (p.shape[0], 3) or not np.isfinite(tr).all():
            raise InputError(f"world_poses: trajectory must be (T, 3) = ({p.shape[0]}, 3) and finite, "
                             f"got {tr.shape}")
        cam = rel + tr[:, None]
    else:
        cam = rel
    scale = 1.0
    if height_m is not None:
        if not height_m > 0:
            raise InputError(f"height must be positive metres, got {height_m}")
        scale = float(height_m) / estimate_height_m(rel)
    cam = cam * scale
    world = np.asarray(camera_to_world_wild(cam), np.float64)
    tilt = 0.0
    if moving:
        # Ground contacts are found on feet planted on a first, unlevelled ground.
        first = plant_feet(_grounded(world), fps) if plant else _grounded(world)
        n = ground_tilt(ground_contacts(first, fps))
        if n is not None:
            rot = min_rotation(n[None], np.array([[0.0, 0.0, 1.0]]))[0]
            world = world @ rot.T
            tilt = float(np.degrees(np.arccos(np.clip(n[2], -1, 1))))
    world = _grounded(world)
    if moving and plant:
        world = plant_feet(world, fps)
    height = estimate_height_m(world)
    world[..., :2] -= world[0, 0, :2]
    traj = world[:, 0].copy()
    return WorldPoses(poses_world_m=world.astype(np.float32), trajectory_world_m=traj.astype(np.float32),
                      scale=scale, height_m=height, tilt_deg=tilt, moving=moving)


def foot_sliding(pose_world_m: np.ndarray, fps: float, *, max_height_m: float = 0.15) -> float:
    """Mean horizontal speed (m/s) of the lower foot while it stays the lower one and is within
    ``max_height_m`` of the ground (z = 0) — zero for feet that stick to the ground; returns 0.0
    for clips with no such frame pair."""
    p = _check(pose_world_m, "foot_sliding")
    if not fps > 0:
        raise InputError(f"foot_sliding: fps must be positive, got {fps}")
    feet = p[:, list(_FEET)]
    low = np.argmin(feet[..., 2], axis=1)
    if len(p) < 2:
        return 0.0
    idx = np.arange(len(p) - 1)
    same = low[1:] == low[:-1]
    near = feet[idx, low[:-1], 2] <= max_height_m
    step = np.linalg.norm(feet[idx + 1, low[:-1], :2] - feet[idx, low[:-1], :2], axis=-1) * fps
    use = same & near
    return float(step[use].mean()) if use.any() else 0.0


@dataclass(frozen=True)
class PeopleWorld:
    """Every person of a clip in one world frame (see :func:`world_people`).

    Attributes:
        poses_world_m: ``(P, T, 17, 3)`` float32, z up, ground z = 0, NaN where absent.
        trajectory_world_m: ``(P, T, 3)`` float32 root positions (NaN where absent), or None
            without a trajectory (people are then each on the spot at the origin).
        scale: factor applied to the model's output (1.0 without ``height_m``).
        height_m: standing height of the main person in the result.
        tilt_deg: tilt removed by levelling the ground (0 when not fitted).
    """

    poses_world_m: np.ndarray
    trajectory_world_m: np.ndarray | None
    scale: float
    height_m: float
    tilt_deg: float


def present_runs(present: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run of True in a ``(T,)`` bool array, in order."""
    p = np.concatenate([[False], np.asarray(present, bool), [False]])
    edges = np.flatnonzero(p[1:] != p[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def world_people(pose_cam_m: np.ndarray, trajectory_cam_m: np.ndarray | None, present: np.ndarray, *,
                 main: int = 0, height_m: float | None = None, fps: float = 50.0,
                 plant: bool = True) -> PeopleWorld:
    """Every person's camera-frame poses (and root trajectories) → one grounded world frame.

    The multi-person form of :func:`world_poses`, with the same steps applied to everyone with
    one transform, so people keep their places relative to each other: place each at their
    trajectory; scale all by the main person's ``height_m`` (when given); rotate with the
    in-the-wild camera orientation; level the ground from everyone's foot contacts (with a
    trajectory); put the ground (a low percentile of the lower ankle over every present frame of
    everyone) at z = 0; the main person's first root position over the origin. Without a
    trajectory each person is grounded on their own and stays at the origin (the relative
    places are unknown).

    Args:
        pose_cam_m: ``(P, T, 17, 3)`` camera frame, metres, NaN where absent.
        trajectory_cam_m: ``(P, T, 3)`` root positions in the camera frame, or None.
        present: ``(P, T)`` bool.
        main: index of the main person (scale and origin).
        height_m: the main person's standing height.
        fps: frame rate (ground-contact speeds, foot planting).
        plant: with a trajectory, plant each person's supporting foot (:func:`plant_feet`, per
            run of presence).
    """
    cam = np.asarray(pose_cam_m, np.float64)
    present = np.asarray(present, bool)
    n_people = cam.shape[0]
    if cam.ndim != 4 or cam.shape[2:] != (17, 3) or present.shape != cam.shape[:2]:
        raise InputError(f"world_people: expected (P, T, 17, 3) poses and (P, T) presence, got {cam.shape} "
                         f"and {present.shape}")
    if not present.any():
        raise InputError("world_people: nobody is present in any frame")
    main = main if present[main].any() else int(np.flatnonzero(present.any(axis=1))[0])
    rel = cam - cam[:, :, :1]
    placed = rel.copy()
    moving = trajectory_cam_m is not None
    if moving:
        placed = rel + np.asarray(trajectory_cam_m, np.float64)[:, :, None]
    scale = 1.0
    if height_m is not None:
        if not (np.isfinite(height_m) and height_m > 0):
            raise InputError(f"--height {height_m}: give the subject's standing height in metres, e.g. 1.70")
        scale = float(height_m) / estimate_height_m(rel[main][present[main]])
    world = np.asarray(camera_to_world_wild(np.nan_to_num(placed * scale)), np.float64)
    world[~present] = np.nan
    tilt = 0.0
    runs = [(p, a, b) for p in range(n_people) for a, b in present_runs(present[p]) if b - a >= 2]
    if moving:
        # Contacts are found on feet planted on a first, unlevelled ground.
        contacts = [ground_contacts(plant_feet(_grounded(world[p, a:b]), fps) if plant
                                    else world[p, a:b], fps) for p, a, b in runs]
        n = ground_tilt(np.concatenate(contacts)) if contacts else None
        if n is not None:
            world = world @ min_rotation(n[None], np.array([[0.0, 0.0, 1.0]]))[0].T
            tilt = float(np.degrees(np.arccos(np.clip(n[2], -1, 1))))
    height = estimate_height_m(world[main][present[main]])

    if moving:
        world[..., 2] -= _ground_height(world[present], height)
        if plant:
            for p, a, b in runs:
                world[p, a:b] = plant_feet(world[p, a:b], fps)
        first = int(np.flatnonzero(present[main])[0])
        world[..., :2] -= world[main, first, 0, :2]
        traj = world[:, :, 0].copy()
    else:
        for p in range(n_people):
            if present[p].any():
                own = world[p][present[p]]
                world[p, ..., 2] -= _ground_height(own, estimate_height_m(own))
        traj = None
    return PeopleWorld(poses_world_m=world.astype(np.float32),
                       trajectory_world_m=None if traj is None else traj.astype(np.float32),
                       scale=scale, height_m=height, tilt_deg=tilt)
