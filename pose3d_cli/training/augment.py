"""Training windows drawn on the fly from real motion capture, seen by cameras like real ones.

Every batch is made afresh from :class:`~pose3d_cli.training.sources.Clip` point sets:

1. **Motion**: a clip and a time, played at a random speed (``speed``; linear interpolation
   between frames), mirrored (left/right swapped) half of the time.
2. **Body**: a standing height drawn from ``height_m`` and a length factor per bone group
   (thighs, shins, upper arms, forearms, pelvis, spine, shoulders, neck, head; the same on both
   sides) drawn from ``N(1, bone_sd)``: every bone is rescaled along its own direction, so bone
   lengths stay constant over a window and the feet stay on the floor.
3. **Camera**: the person turned to any heading; a static pinhole camera at a distance of
   ``distance_m`` from the person, an elevation of ``elevation_deg`` (slightly below to steeply
   above), a field of view from telephoto to action camera (``hfov_deg``, across the long side)
   and a frame of any ``aspects`` (landscape and portrait); the person anywhere in the frame
   (``off_centre``), small roll. Windows whose points leave the frame are drawn again.
4. **2D**: the COCO-17 points projected, then detector-like noise in units of the person's
   size in the image (:class:`DetectorNoise`).

Targets: the Human3.6M-17 pose of the target frame in the camera frame (root-relative) and the
root's position in the camera frame *of a camera with the canonical focal length*
:data:`CANONICAL_FOCAL`: ``(x, y, z · CANONICAL_FOCAL / f)``. The 2D input does not tell the
focal length, but it does tell that point exactly (its projection through the canonical camera
is the root's 2D position), so the trajectory model learns a well-posed target; with a known
focal length ``f`` the true depth is ``z · f / CANONICAL_FOCAL``.

Convention:
    world: metres, z up, floor z = 0. Camera frame: metres, x right, y down, z forward. 2D:
    normalised screen coordinates (``x_n = 2x/w − 1``, ``y_n = 2y/w − h/w``); the principal
    point is the frame centre, so a focal length in pixels ``f_px`` is ``f = 2 f_px / w``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from pose3d_cli.skeleton import COCO17, H36M17
from pose3d_cli.training.sources import (
    COCO_FROM_POINTS,
    POINT_PARENTS,
    POINTS_LEFT,
    POINTS_RIGHT,
    Clip,
)

#: Focal length (normalised: ``2 f_px / w``) of the canonical camera the trajectory target
#: refers to: a 53° field of view across the frame width.
CANONICAL_FOCAL = 2.0
#: Standing height the clips are scaled to (metres; see ``sources``).
CLIP_HEIGHT_M = 1.75
#: Per-keypoint COCO OKS sigmas (the COCO keypoint benchmark's published constants).
COCO_SIGMAS = np.array((0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062,
                        0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089))

# Bone groups: every non-root point's bone (to its parent) belongs to one group.
_GROUPS = {
    "pelvis": ("right_hip", "left_hip"), "thigh": ("right_knee", "left_knee"),
    "shin": ("right_foot", "left_foot"), "spine": ("spine", "thorax"),
    "neck": ("neck_nose",), "head": ("head", "nose", "left_eye", "right_eye", "left_ear", "right_ear"),
    "shoulder": ("left_shoulder", "right_shoulder"), "upper_arm": ("left_elbow", "right_elbow"),
    "forearm": ("left_wrist", "right_wrist"),
}
_POINT_NAMES = H36M17.joint_names + ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
_GROUP_NAMES = tuple(_GROUPS)
_BONE_GROUP = np.array([_GROUP_NAMES.index(next(g for g, ms in _GROUPS.items() if n in ms))
                        if POINT_PARENTS[i] >= 0 else -1 for i, n in enumerate(_POINT_NAMES)])
_MIRROR = np.arange(len(_POINT_NAMES))
_MIRROR[list(POINTS_LEFT)] = POINTS_RIGHT
_MIRROR[list(POINTS_RIGHT)] = POINTS_LEFT


@dataclass(frozen=True)
class DetectorNoise:
    """2D noise like a keypoint detector's, in units of ``σ_j · size`` (``size``: the larger
    side of the person's box in that frame; ``σ_j``: the keypoint's COCO sigma).

    Attributes:
        white: i.i.d. jitter std per coordinate.
        drift: std of a slowly varying error (AR(1), coefficient ``rho`` per 50 Hz frame).
        level: per-window multiplier of ``white`` and ``drift``, log-uniform in this range.
        outlier_p: probability per keypoint and frame of a gross error of up to
            ``outlier_radius · size``.
        swap_p: probability per frame that a left/right confusion starts; it lasts
            1–``swap_frames`` frames (legs only in ``swap_legs`` of them, else every pair).
        drop_p: probability per keypoint and window of a run of 2–``drop_frames`` frames that
            the detector scored low; the pipeline interpolates such runs linearly
            (:func:`pose3d_cli.keypoints.tracking.fill_gaps`), which is what is applied.
        frame_drop_p: probability per window of a run of 2–``frame_drop_frames`` frames with no
            detection at all (every keypoint interpolated).

    The defaults follow what the default detector (mediapipe BlazePose, full model) does on the
    real clips of ``../shared/media`` (see the model card): high-frequency jitter of 0.01–0.07
    ``σ_j · size`` (``white`` 0.06 times a level of 0.5–2), a left/right confusion starting in
    about 1 % of frames, and whole-frame gaps when people cross.
    """

    white: float = 0.06
    drift: float = 0.15
    rho: float = 0.9
    level: tuple[float, float] = (0.5, 2.0)
    outlier_p: float = 0.003
    outlier_radius: float = 0.25
    swap_p: float = 0.005
    swap_frames: int = 12
    swap_legs: float = 0.6
    drop_p: float = 0.02
    drop_frames: int = 12
    frame_drop_p: float = 0.1
    frame_drop_frames: int = 15


@dataclass(frozen=True)
class ViewConfig:
    """Camera, body and motion augmentation (see the module docstring).

    Attributes:
        distance_m: camera distance range (log-uniform), metres.
        elevation_deg: camera elevation range above the person's hips, degrees; a fraction
            ``steep_p`` of views is drawn from ``steep_deg`` instead.
        hfov_deg: horizontal field of view across the frame's long side, degrees
            (log-uniform in the focal length).
        aspects: frame height / width choices (landscape 9/16 and 3/4, square, portrait 16/9).
        off_centre: the root lands uniformly within this fraction of the frame's half-extents.
        roll_deg: std of the camera roll.
        height_m: (mean, std, min, max) of the person's standing height.
        bone_sd: std of the per-group bone length factors.
        speed: playback speed range (log-uniform).
        mirror_p: probability of a mirrored window.
        camera_height_min_m: lowest camera height above the floor.
    """

    distance_m: tuple[float, float] = (2.0, 10.0)
    elevation_deg: tuple[float, float] = (-10.0, 35.0)
    steep_p: float = 0.15
    steep_deg: tuple[float, float] = (35.0, 70.0)
    hfov_deg: tuple[float, float] = (30.0, 100.0)
    aspects: tuple[float, ...] = (9 / 16, 9 / 16, 3 / 4, 1.0, 16 / 9, 16 / 9)
    off_centre: float = 0.6
    roll_deg: float = 3.0
    height_m: tuple[float, float, float, float] = (1.70, 0.09, 1.45, 2.0)
    bone_sd: float = 0.05
    speed: tuple[float, float] = (0.75, 1.35)
    mirror_p: float = 0.5
    camera_height_min_m: float = 0.2

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Views:
    """Windows (or whole sequences) seen by cameras.

    Attributes:
        kpts_norm: ``(B, W, 17, 2)`` float32 noisy COCO-17, normalised screen coordinates.
        kpts_clean: ``(B, W, 17, 2)`` the same without noise.
        pose_cam_m: ``(B, W, 17, 3)`` float32 Human3.6M-17 in the camera frame (absolute).
        focal: ``(B,)`` normalised focal length of each camera.
        aspect: ``(B,)`` frame height / width.
    """

    kpts_norm: np.ndarray
    kpts_clean: np.ndarray
    pose_cam_m: np.ndarray
    focal: np.ndarray
    aspect: np.ndarray

    def trajectory_target(self) -> np.ndarray:
        """``(B, W, 1, 3)`` root in the canonical camera: ``(x, y, z · CANONICAL_FOCAL / f)``."""
        root = self.pose_cam_m[:, :, :1].copy()
        root[..., 2] *= (CANONICAL_FOCAL / self.focal)[:, None, None]
        return root


# ----------------------------------------------------------------------------------- body


def rescale_bones(points_m: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Rescale every bone of ``(B, W, 22, 3)`` points by its group's factor, along its own
    direction, from the root outwards (the root stays where it is).

    Args:
        points_m: ``(B, W, 22, 3)``.
        factors: ``(B, G)`` one factor per bone group (``G`` groups, see ``_GROUPS``).
    Returns:
        ``(B, W, 22, 3)``: every bone's length multiplied by its factor in every frame.
    """
    out = np.empty_like(points_m)
    out[:, :, 0] = points_m[:, :, 0]
    for j in range(1, points_m.shape[2]):
        p = POINT_PARENTS[j]
        k = factors[:, _BONE_GROUP[j]][:, None, None]
        out[:, :, j] = out[:, :, p] + (points_m[:, :, j] - points_m[:, :, p]) * k
    return out


def _leg_factor(factors: np.ndarray) -> np.ndarray:
    """How much longer the legs became: length-weighted mean of thigh and shin factors."""
    return 0.5 * (factors[:, _GROUP_NAMES.index("thigh")] + factors[:, _GROUP_NAMES.index("shin")])


def draw_body(rng: np.random.Generator, n: int, cfg: ViewConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(scale (n,), factors (n, G))``: overall scale (height / clip height) and bone factors."""
    mean, sd, lo, hi = cfg.height_m
    height = np.clip(rng.normal(mean, sd, n), lo, hi)
    factors = np.clip(rng.normal(1.0, cfg.bone_sd, (n, len(_GROUP_NAMES))), 0.8, 1.2)
    return height / CLIP_HEIGHT_M, factors


def apply_body(points_m: np.ndarray, scale: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Resize ``(B, W, 22, 3)`` world points (z up, floor 0): bones by ``factors``, everything
    by ``scale`` about the floor origin; the root rises or sinks with the legs so the feet
    keep their height above the floor."""
    leg = _leg_factor(factors)
    root = points_m[:, :, :1]
    body = rescale_bones(points_m - root, factors)
    root_new = root * leg[:, None, None, None]
    return (body + root_new) * scale[:, None, None, None]


# ----------------------------------------------------------------------------------- cameras


def _rot_x(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _rot_y(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rot_z(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _turn(points: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """Rotate ``(n, *, 3)`` points by ``rot (n, 3, 3)`` (one rotation per leading index)."""
    flat = points.reshape(points.shape[0], -1, 3)
    return (flat @ np.swapaxes(rot, 1, 2).astype(points.dtype)).reshape(points.shape)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


@dataclass(frozen=True)
class Cameras:
    """``n`` pinhole cameras: world-to-camera rotation ``rot (n, 3, 3)`` (camera = rot @ (X − centre)),
    ``centre (n, 3)`` world metres, normalised focal ``focal (n,)``, ``aspect (n,)`` = h / w."""

    rot: np.ndarray
    centre: np.ndarray
    focal: np.ndarray
    aspect: np.ndarray

    def to_camera(self, x_world: np.ndarray) -> np.ndarray:
        """``(n, *, 3)`` world points → camera frame."""
        shape = x_world.shape
        flat = x_world.reshape(shape[0], -1, 3) - self.centre[:, None].astype(x_world.dtype)
        return (flat @ np.swapaxes(self.rot, 1, 2).astype(x_world.dtype)).reshape(shape)

    def project(self, x_cam: np.ndarray) -> np.ndarray:
        """``(n, *, 3)`` camera-frame points → ``(n, *, 2)`` normalised screen coordinates."""
        f = self.focal.reshape(-1, *([1] * (x_cam.ndim - 1)))
        z = np.maximum(x_cam[..., 2:], 1e-3)
        return x_cam[..., :2] / z * f


def draw_cameras(rng: np.random.Generator, target_m: np.ndarray, cfg: ViewConfig,
                 distance_scale: np.ndarray | None = None) -> Cameras:
    """Cameras looking at ``target_m (n, 3)`` (world points, usually the root), the target
    landing off-centre in the frame.

    ``distance_scale`` (n,) multiplies the drawn distance (used to back off when the person
    does not fit)."""
    n = target_m.shape[0]
    long_side_fov = np.deg2rad(rng.uniform(*cfg.hfov_deg, n))
    aspect = np.asarray(cfg.aspects)[rng.integers(0, len(cfg.aspects), n)]
    # Normalised focal 2 f_px / w: the frame's long side spans the field of view.
    tan_half = np.tan(long_side_fov / 2)
    focal = np.where(aspect <= 1, 1.0 / tan_half, aspect / tan_half)
    focal = np.exp(rng.uniform(np.log(focal * 0.9), np.log(focal * 1.1)))
    dist = _log_uniform(rng, *cfg.distance_m, n)
    if distance_scale is not None:
        dist = dist * distance_scale
    steep = rng.random(n) < cfg.steep_p
    elev = np.deg2rad(np.where(steep, rng.uniform(*cfg.steep_deg, n), rng.uniform(*cfg.elevation_deg, n)))
    azim = rng.uniform(0, 2 * np.pi, n)
    horiz = dist * np.cos(elev)
    centre = target_m + np.stack([horiz * np.cos(azim), horiz * np.sin(azim), dist * np.sin(elev)], -1)
    centre[:, 2] = np.maximum(centre[:, 2], cfg.camera_height_min_m)
    # Look at the target: camera z along (target - centre), x horizontal, y down.
    fwd = target_m - centre
    fwd /= np.linalg.norm(fwd, axis=-1, keepdims=True)
    right = np.cross(fwd, np.array([0.0, 0.0, 1.0]))
    right /= np.maximum(np.linalg.norm(right, axis=-1, keepdims=True), 1e-9)
    down = np.cross(fwd, right)
    look = np.stack([right, down, fwd], 1)  # rows: camera axes in world coordinates
    # Put the target off-centre: turn the camera so the target lands at (u, v).
    half_w, half_h = 1.0, aspect
    u = rng.uniform(-1, 1, n) * cfg.off_centre * half_w
    v = rng.uniform(-1, 1, n) * cfg.off_centre * half_h
    pan = np.arctan2(u, focal)
    tilt = np.arctan2(v, focal)
    roll = np.deg2rad(rng.normal(0, cfg.roll_deg, n))
    turn = _rot_z(roll) @ _rot_x(tilt) @ _rot_y(-pan)
    return Cameras(rot=turn @ look, centre=centre, focal=focal, aspect=aspect)


def in_frame(kpts_norm: np.ndarray, aspect: np.ndarray, margin: float = 0.02) -> np.ndarray:
    """``(n, *, 17, 2)`` → ``(n,)`` bool: every point of every frame inside the frame."""
    a = aspect.reshape(-1, *([1] * (kpts_norm.ndim - 2)))
    ok = (np.abs(kpts_norm[..., 0]) <= 1 - margin) & (np.abs(kpts_norm[..., 1]) <= a - margin)
    return ok.reshape(ok.shape[0], -1).all(axis=1)


def see(points_m: np.ndarray, rng: np.random.Generator, cfg: ViewConfig, target_frame: int,
        tries: int = 4) -> tuple[Cameras, np.ndarray, np.ndarray]:
    """Cameras for world windows ``(B, W, 22, 3)`` that keep every point in frame.

    Returns ``(cameras, points_cam (B, W, 22, 3), kpts_norm (B, W, 17, 2) clean COCO-17)``.
    Windows that do not fit are drawn again (farther away each try)."""
    b = points_m.shape[0]
    target = points_m[:, target_frame, 0].copy()
    cams = draw_cameras(rng, target, cfg)
    rot, centre, focal, aspect = cams.rot.copy(), cams.centre.copy(), cams.focal.copy(), cams.aspect.copy()
    todo = np.arange(b)
    coco = list(COCO_FROM_POINTS)
    for attempt in range(tries + 1):
        sub = Cameras(rot[todo], centre[todo], focal[todo], aspect[todo])
        pc = sub.to_camera(points_m[todo])
        kp = sub.project(pc[:, :, coco])
        ok = in_frame(kp, aspect[todo]) & (pc[..., 2].reshape(len(todo), -1).min(axis=1) > 0.3)
        todo = todo[~ok]
        if not todo.size or attempt == tries:
            break
        scale = np.full(todo.size, 1.5 ** (attempt + 1))
        # Farther away; from the second retry on, with the person centred.
        retry_cfg = cfg if attempt == 0 else ViewConfig(**{**cfg.to_dict(), "off_centre": 0.0})
        new = draw_cameras(rng, target[todo], retry_cfg, distance_scale=scale)
        rot[todo], centre[todo], focal[todo], aspect[todo] = new.rot, new.centre, new.focal, new.aspect
    cams = Cameras(rot, centre, focal, aspect)
    pc = cams.to_camera(points_m)
    return cams, pc, cams.project(pc[:, :, coco])


# ----------------------------------------------------------------------------------- 2D noise


def add_noise(kpts_norm: np.ndarray, rng: np.random.Generator, noise: DetectorNoise,
              frame_rate_factor: np.ndarray | None = None) -> np.ndarray:
    """Detector-like noise on clean COCO-17 windows ``(B, W, 17, 2)`` (see :class:`DetectorNoise`).

    ``frame_rate_factor`` (B,): the window's playback speed, so that the drift's correlation
    time stays fixed in frames (as a detector's is) whatever the motion speed."""
    b, w, j, _ = kpts_norm.shape
    kp = kpts_norm.astype(np.float32)
    size = np.maximum(np.ptp(kp[..., 0], axis=2), np.ptp(kp[..., 1], axis=2))  # (B, W)
    level = _log_uniform(rng, *noise.level, b)
    scale = (COCO_SIGMAS[None, None, :, None] * size[..., None, None]
             * level[:, None, None, None]).astype(np.float32)
    out = kp + rng.standard_normal(size=kp.shape, dtype=np.float32) * np.float32(noise.white) * scale
    # AR(1) drift along the window, started from its stationary distribution.
    drift = rng.standard_normal(size=kp.shape, dtype=np.float32)
    innov = np.float32(np.sqrt(1 - noise.rho ** 2))
    rho = np.float32(noise.rho)
    for t in range(1, w):
        drift[:, t] = rho * drift[:, t - 1] + innov * drift[:, t]
    out += drift * np.float32(noise.drift) * scale
    # Gross errors.
    hit = rng.random((b, w, j)) < noise.outlier_p
    if hit.any():
        n = int(hit.sum())
        ang = rng.uniform(0, 2 * np.pi, n)
        rad = np.sqrt(rng.random(n)) * noise.outlier_radius * np.broadcast_to(size[..., None], hit.shape)[hit]
        out[hit] += np.stack([np.cos(ang), np.sin(ang)], -1) * rad[:, None]
    # Low-score runs (one keypoint, or every keypoint of a frame when the person is missed),
    # filled by linear interpolation as the pipeline does.
    runs = [(int(bi), [int(ji)], noise.drop_frames)
            for bi, ji in np.argwhere(rng.random((b, j)) < noise.drop_p)]
    runs += [(int(bi), list(range(j)), noise.frame_drop_frames)
             for bi in np.flatnonzero(rng.random(b) < noise.frame_drop_p)]
    for bi, joints, max_len in runs:
        length = int(rng.integers(2, max_len + 1))
        s0 = int(rng.integers(-length + 1, w))
        a, e_ = max(s0, 0), min(s0 + length, w)
        lo, hi = a - 1, e_
        if e_ <= a or (lo < 0 and hi >= w):
            continue
        left = out[bi, lo, joints] if lo >= 0 else out[bi, hi, joints]
        right = out[bi, hi, joints] if hi < w else out[bi, lo, joints]
        frac = ((np.arange(a, e_) - lo) / max(hi - lo, 1)).astype(np.float32)
        out[bi, a:e_][:, joints] = left[None] + (right - left)[None] * frac[:, None, None]
    # Left/right confusions.
    legs = [(11, 12), (13, 14), (15, 16)]
    allp = list(zip(COCO17.left, COCO17.right))
    for bi, s0 in np.argwhere(rng.random((b, w)) < noise.swap_p):
        length = int(rng.integers(1, noise.swap_frames + 1))
        pairs = legs if rng.random() < noise.swap_legs else allp
        a = [p[0] for p in pairs]
        c = [p[1] for p in pairs]
        seg = slice(int(s0), min(w, int(s0) + length))
        out[bi, seg, a + c] = out[bi, seg, c + a]
    return out.astype(np.float32)


# ----------------------------------------------------------------------------------- the sampler


@dataclass
class WindowBatch:
    """One training batch (numpy float32), as the trainer reads it (see ``trainer.BatchLike``).

    ``kpts_2d (B, rf + L - 1, 17, 2)``; ``pose_3d (B, L, 17, 3)`` camera frame (absolute; the
    trainer makes it root-relative); ``traj_3d (B, L, 1, 3)`` root in the canonical camera;
    ``intrinsics (B, 9)`` pinhole f, c = 0, no distortion."""

    kpts_2d: np.ndarray
    pose_3d: np.ndarray
    traj_3d: np.ndarray
    intrinsics: np.ndarray


@dataclass
class OnlineSampler:
    """Endless augmented windows from clips; ``batches_per_epoch`` batches per iteration.

    Each window holds ``receptive_field + outputs - 1`` 2D frames and the 3D targets of its
    ``outputs`` frames (for the whole-sequence :class:`~pose3d_cli.lifting.model.TemporalModel`,
    which computes them with shared intermediate activations): one camera, body and speed per
    window. Resumable: batch ``i`` of epoch ``e`` comes from ``default_rng([seed, e, i])``.

    Args:
        clips: training clips.
        receptive_field: frames the model sees per output.
        outputs: target frames per window.
        causal: each output's frame is the last of its receptive field (else the centre).
        batch_size, batches_per_epoch: sizes.
        view, noise: augmentation settings.
        source_weight_power: clips are drawn with probability ∝ frames, and each source's
            total is rescaled to ``frames ** power`` (0.5: a source with 4× the frames is drawn
            2× as often), so one large source does not drown the others.
        seed: seed.
    """

    clips: Sequence[Clip]
    receptive_field: int
    outputs: int = 1
    causal: bool = False
    batch_size: int = 512
    batches_per_epoch: int = 200
    view: ViewConfig = field(default_factory=ViewConfig)
    noise: DetectorNoise = field(default_factory=DetectorNoise)
    source_weight_power: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.clips:
            raise ValueError("OnlineSampler needs at least one clip")
        self._points = np.concatenate([c.points_m for c in self.clips]).astype(np.float32)
        self._lengths = np.array([c.num_frames for c in self.clips], np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(self._lengths)[:-1]])
        by_source: dict[str, int] = {}
        for c in self.clips:
            by_source[c.source] = by_source.get(c.source, 0) + c.num_frames
        w = np.array([c.num_frames / by_source[c.source] * by_source[c.source] ** self.source_weight_power
                      for c in self.clips])
        self._clip_p = w / w.sum()
        self.epoch = 0
        self.batch_in_epoch = 0
        pad = self.receptive_field - 1
        width = self.receptive_field + self.outputs - 1
        #: index of the first target frame in the window
        self.first_target = pad if self.causal else pad // 2
        self.target_frame = self.first_target + self.outputs // 2  # the camera aims here
        self._rel = (np.arange(width) - self.target_frame).astype(np.float64)

    def __len__(self) -> int:
        return self.batches_per_epoch

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])

    def windows(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(points (n, rf, 22, 3) world, speed (n,))``: raw windows, speed-changed and mirrored."""
        clip = rng.choice(len(self.clips), size=n, p=self._clip_p)
        length = self._lengths[clip]
        speed = _log_uniform(rng, *self.view.speed, n)
        centre = rng.random(n) * (length - 1)
        t = np.clip(centre[:, None] + speed[:, None] * self._rel[None], 0, (length - 1)[:, None])
        i0 = np.floor(t).astype(np.int64)
        a = (t - i0)[..., None, None].astype(np.float32)
        i1 = np.minimum(i0 + 1, (length - 1)[:, None])
        base = self._offsets[clip][:, None]
        pts = self._points[base + i0] * (1 - a) + self._points[base + i1] * a
        mirror = rng.random(n) < self.view.mirror_p
        if mirror.any():
            m = pts[mirror][:, :, _MIRROR]
            m[..., 0] *= -1
            pts[mirror] = m
        return pts, speed

    def make_batch(self, rng: np.random.Generator, n: int) -> tuple[WindowBatch, Views]:
        pts, speed = self.windows(rng, n)
        scale, factors = draw_body(rng, n, self.view)
        pts = apply_body(pts, scale.astype(np.float32), factors.astype(np.float32))
        # Any heading; the target frame's root over the floor origin.
        yaw = rng.uniform(0, 2 * np.pi, n)
        origin = pts[:, self.target_frame, 0].copy()
        origin[:, 2] = 0
        pts = _turn(pts - origin[:, None, None], _rot_z(yaw))
        cams, pc, clean = see(pts, rng, self.view, self.target_frame)
        noisy = add_noise(clean, rng, self.noise)
        h36m = pc[:, :, :17].astype(np.float32)
        views = Views(kpts_norm=noisy, kpts_clean=clean.astype(np.float32), pose_cam_m=h36m,
                      focal=cams.focal, aspect=cams.aspect)
        sl = slice(self.first_target, self.first_target + self.outputs)
        intr = np.zeros((n, 9), np.float32)
        intr[:, 0] = intr[:, 1] = cams.focal
        batch = WindowBatch(kpts_2d=noisy, pose_3d=h36m[:, sl],
                            traj_3d=views.trajectory_target()[:, sl].astype(np.float32),
                            intrinsics=intr)
        return batch, views

    def next_epoch(self):
        while self.batch_in_epoch < self.batches_per_epoch:
            rng = np.random.default_rng([self.seed, self.epoch, self.batch_in_epoch])
            self.batch_in_epoch += 1
            yield self.make_batch(rng, self.batch_size)[0]
        self.epoch += 1
        self.batch_in_epoch = 0

    def __iter__(self):
        yield from self.next_epoch()


# ----------------------------------------------------------------------------------- evaluation views


@dataclass(frozen=True)
class ViewSequence:
    """A whole test sequence seen by one static camera (what ``trainer.ClipLike`` needs, plus
    the trajectory and provenance).

    ``kpts_norm (T, 17, 2)`` noisy COCO-17; ``kpts_clean (T, 17, 2)``; ``pose_cam_m (T, 17, 3)``
    absolute camera frame; ``traj_cam_m (T, 1, 3)`` root in the canonical camera; ``focal``;
    ``aspect``; ``source``/``name``; ``start`` frame in the clip; ``pose_world_m (T, 17, 3)``."""

    kpts_norm: np.ndarray
    kpts_clean: np.ndarray
    pose_cam_m: np.ndarray
    traj_cam_m: np.ndarray
    focal: float
    aspect: float
    source: str
    name: str
    start: int
    pose_world_m: np.ndarray


def view_sequences(clips: Sequence[Clip], *, seed: int, views_per_segment: int = 2,
                   segment_frames: int = 500, view: ViewConfig | None = None,
                   noise: DetectorNoise | None = None, body: bool = False) -> list[ViewSequence]:
    """Fixed test views of whole clips: each clip is cut into segments of at most
    ``segment_frames`` (50 Hz), each seen by ``views_per_segment`` static cameras drawn from
    ``view`` (the person stays in frame), with ``noise`` (``None``: exact 2D). ``body``: also
    draw a body size (else the clip's own). Deterministic for a seed."""
    view = view or ViewConfig()
    out: list[ViewSequence] = []
    for ci, clip in enumerate(clips):
        n = clip.num_frames
        bounds = list(range(0, n, segment_frames))
        for s0 in bounds:
            s1 = min(n, s0 + segment_frames)
            if s1 - s0 < 50:
                continue
            seg = clip.points_m[s0:s1].astype(np.float64)
            for k in range(views_per_segment):
                rng = np.random.default_rng([seed, ci, s0, k])
                pts = seg[None]
                if body:
                    scale, factors = draw_body(rng, 1, view)
                    pts = apply_body(pts, scale, factors)
                yaw = rng.uniform(0, 2 * np.pi, 1)
                mid = (s1 - s0) // 2
                origin = pts[:, :, 0].mean(axis=1)
                origin[:, 2] = 0
                pts = _turn(pts - origin[:, None, None], _rot_z(yaw))
                cams, pc, clean = see(pts, rng, view, mid, tries=8)
                noisy = clean if noise is None else add_noise(clean, rng, noise)
                h36m = pc[0, :, :17]
                traj = h36m[:, :1].copy()
                traj[..., 2] *= CANONICAL_FOCAL / cams.focal[0]
                out.append(ViewSequence(
                    kpts_norm=noisy[0].astype(np.float32), kpts_clean=clean[0].astype(np.float32),
                    pose_cam_m=h36m.astype(np.float32), traj_cam_m=traj.astype(np.float32),
                    focal=float(cams.focal[0]), aspect=float(cams.aspect[0]), source=clip.source,
                    name=clip.name, start=s0, pose_world_m=pts[0, :, :17].astype(np.float32)))
    return out
