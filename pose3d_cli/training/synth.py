"""Datasets in the paper's file formats generated from real motion capture.

The captures are retargeted to Human3.6M-17 (:mod:`pose3d_cli.training.mocap`), cut into
subjects and actions, placed in the Human3.6M capture volume and seen through each subject's
four real Human3.6M cameras. Three files are written (see ``docs/datasets.md``):

- ``data_3d_<name>.npz``: ``positions_3d`` subject → action → ``(T, 32, 3)`` world metres;
- ``data_2d_<name>_gt.npz``: exact projections of the 17 Human3.6M joints (layout ``h36m``);
- ``data_2d_<name>_det.npz``: projections of virtual COCO-17 points with a detector-like noise
  model (layout ``coco``), or without noise when the model is ``None``.

Split: every capture is cut into seven equal consecutive time portions, one per subject
(S1, S5, S6, S7, S8 for training, S9 and S11 for testing), so test motion never overlaps
training motion in time. A portion is cut into actions whose root stays within a disc of
:data:`VOLUME_RADIUS_M` (so the person stays in view of all four cameras when centred in the
capture volume), each turned by a seeded random yaw. Actions are named by their mean root
speed: ``"Walking N"`` (≥ 0.4 m/s) or ``"InPlace N"``.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from pose3d_cli.errors import InputError
from pose3d_cli.geometry.camera import Camera
from pose3d_cli.geometry.h36m import h36m_cameras
from pose3d_cli.io.atomic import check_writable
from pose3d_cli.skeleton import COCO17, H36M17
from pose3d_cli.training.data import save_dataset_files
from pose3d_cli.training.mocap import DEFAULT_HEIGHT_M, load_mocap

#: Subjects in the paper's split: training, then testing.
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
SUBJECTS = TRAIN_SUBJECTS + TEST_SUBJECTS
#: Standing height given to each generated subject (metres; a choice of the generator).
SUBJECT_HEIGHT_M = {"S1": 1.65, "S5": 1.60, "S6": 1.78, "S7": 1.63, "S8": 1.80,
                    "S9": 1.73, "S11": 1.83}
#: Radius of the floor disc an action's root path must fit in (metres).
VOLUME_RADIUS_M = 1.2
#: Shortest and longest action (frames at 50 Hz).
MIN_ACTION_FRAMES = 100
MAX_ACTION_FRAMES = 1500
#: Margin kept between every projected joint and the image border (pixels).
IMAGE_MARGIN_PX = 10.0

#: Human3.6M 32-joint parents (the mocap skeleton of the paper's 3D files).
H36M32_PARENTS = (-1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14, 12, 16, 17, 18, 19, 20,
                  19, 22, 12, 24, 25, 26, 27, 28, 27, 30)
#: Per-keypoint COCO OKS sigmas (the COCO keypoint benchmark's published constants).
COCO_SIGMAS = (0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
               0.107, 0.107, 0.087, 0.087, 0.089, 0.089)


@dataclass(frozen=True)
class NoiseModel:
    """Detector-like 2D noise, in units of the person's size in the image.

    ``size`` is the larger side of the box around the clean keypoints in that frame (pixels),
    and ``σ_j`` the joint's COCO OKS sigma, so noise is larger on hips than on eyes and grows
    with the person's size in the image.

    Attributes:
        white: i.i.d. Gaussian jitter, std ``white · σ_j · size`` per coordinate.
        correlated: temporally correlated drift, an AR(1) process with coefficient ``rho`` per
            frame (50 Hz) and stationary std ``correlated · σ_j · size``.
        rho: AR(1) coefficient of the drift.
        joint_outlier_p: probability per joint and frame of a gross error: the joint moves by a
            uniform random offset within ``joint_outlier_radius · size``.
        frame_outlier_p: probability per frame of a bad box: all joints scaled about their
            centroid by ``U(1 − frame_outlier_scale, 1 + frame_outlier_scale)`` and shifted by
            ``N(0, frame_outlier_shift · size)``.
        swap_p: probability per frame that a left/right confusion starts; it lasts
            ``1…swap_max_frames`` frames and swaps the legs (``swap_legs_fraction`` of events)
            or every left/right pair.
    """

    white: float = 0.12
    correlated: float = 0.15
    rho: float = 0.9
    joint_outlier_p: float = 0.003
    joint_outlier_radius: float = 0.25
    frame_outlier_p: float = 0.002
    frame_outlier_scale: float = 0.15
    frame_outlier_shift: float = 0.08
    swap_p: float = 0.0015
    swap_max_frames: int = 8
    swap_legs_fraction: float = 0.6

    def apply(self, kpts_px: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Noisy copy of COCO-17 keypoints ``(T, 17, 2)`` pixels (float64 out)."""
        kp = np.asarray(kpts_px, np.float64)
        t, j, _ = kp.shape
        if j != 17:
            raise ValueError(f"the noise model is defined for COCO-17 keypoints, got {j} joints")
        size = np.maximum(np.ptp(kp[..., 0], axis=1), np.ptp(kp[..., 1], axis=1))  # (T,)
        scale = np.asarray(COCO_SIGMAS)[None, :, None] * size[:, None, None]  # (T, 17, 1)
        out = kp + rng.normal(size=kp.shape) * self.white * scale
        # AR(1) drift via a truncated exponential filter (exact stationary std).
        k = int(np.ceil(np.log(1e-3) / np.log(self.rho))) if 0 < self.rho < 1 else 1
        kernel = self.rho ** np.arange(k) * np.sqrt(1 - self.rho ** 2)
        drive = rng.normal(size=(t + k - 1, j * 2))
        drift = np.stack([np.convolve(drive[:, c], kernel, mode="valid") for c in range(j * 2)], -1)
        out += drift.reshape(t, j, 2) * self.correlated * scale
        # Gross joint errors.
        hit = rng.random((t, j)) < self.joint_outlier_p
        n = int(hit.sum())
        if n:
            ang = rng.uniform(0, 2 * np.pi, n)
            rad = np.sqrt(rng.random(n)) * self.joint_outlier_radius * np.repeat(size[:, None], j, 1)[hit]
            out[hit] += np.stack([np.cos(ang), np.sin(ang)], -1) * rad[:, None]
        # Bad boxes.
        bad = np.flatnonzero(rng.random(t) < self.frame_outlier_p)
        if bad.size:
            centre = out[bad].mean(axis=1, keepdims=True)
            s = rng.uniform(1 - self.frame_outlier_scale, 1 + self.frame_outlier_scale, (bad.size, 1, 1))
            shift = rng.normal(size=(bad.size, 1, 2)) * self.frame_outlier_shift * size[bad, None, None]
            out[bad] = centre + (out[bad] - centre) * s + shift
        # Left/right confusions.
        starts = np.flatnonzero(rng.random(t) < self.swap_p)
        legs = [(11, 12), (13, 14), (15, 16)]
        allp = list(zip(COCO17.left, COCO17.right))
        for s0 in starts:
            length = int(rng.integers(1, self.swap_max_frames + 1))
            pairs = legs if rng.random() < self.swap_legs_fraction else allp
            a = [p[0] for p in pairs]
            b = [p[1] for p in pairs]
            seg = slice(s0, min(t, s0 + length))
            out[seg, a + b] = out[seg, b + a]
        return out


@dataclass(frozen=True)
class ActionInfo:
    """Where a generated action came from: capture, frame range (at 50 Hz), yaw (radians)."""

    subject: str
    action: str
    source: str
    start: int
    end: int
    yaw: float


@dataclass
class MocapDataset:
    """A generated dataset in memory, in the paper's dict layouts.

    Attributes:
        positions_3d: subject → action → ``(T, 32, 3)`` float32 world metres.
        positions_2d_gt: subject → action → 4 × ``(T, 17, 2)`` float32 pixels (H36M-17).
        positions_2d_det: subject → action → 4 × ``(T, 17, 2)`` float32 pixels (COCO-17).
        actions: provenance of every action.
        noise: the noise model used for ``det`` (``None`` for exact projections).
        seed: the generator seed.
    """

    positions_3d: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    positions_2d_gt: dict[str, dict[str, list[np.ndarray]]] = field(default_factory=dict)
    positions_2d_det: dict[str, dict[str, list[np.ndarray]]] = field(default_factory=dict)
    actions: list[ActionInfo] = field(default_factory=list)
    noise: NoiseModel | None = None
    seed: int = 0

    @property
    def num_frames(self) -> int:
        return sum(p.shape[0] for a in self.positions_3d.values() for p in a.values())


def h36m17_to_h36m32(h36m17_m: np.ndarray, toes_m: np.ndarray) -> np.ndarray:
    """Fill the 32-joint Human3.6M skeleton from the 17 joints and the toes.

    Args:
        h36m17_m: ``(T, 17, 3)``; toes_m: ``(T, 2, 3)`` left, right toe points.
    Returns:
        ``(T, 32, 3)``: the 17 joints at the kept indices; toes at 4/5 (right) and 9/10 (left);
        joint 11 = hip, 16 and 24 = thorax (the shoulders' parents in the 32-joint tree); the
        hand points 20–23 / 28–31 a few centimetres beyond the wrists along the forearm.
    """
    t = h36m17_m.shape[0]
    out = np.zeros((t, 32, 3), h36m17_m.dtype)
    kept = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
    out[:, list(kept)] = h36m17_m
    out[:, 4] = out[:, 5] = toes_m[:, 1]
    out[:, 9] = out[:, 10] = toes_m[:, 0]
    out[:, 11] = h36m17_m[:, 0]
    out[:, 16] = out[:, 24] = h36m17_m[:, 8]
    for wrist, elbow, first in ((13, 12, 20), (16, 15, 28)):
        d = h36m17_m[:, wrist] - h36m17_m[:, elbow]
        d = d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-9)
        out[:, first] = out[:, first + 1] = h36m17_m[:, wrist] + 0.04 * d
        out[:, first + 2] = out[:, first + 3] = h36m17_m[:, wrist] + 0.08 * d
    return out


@lru_cache(maxsize=16)
def volume_centre(subject: str) -> tuple[float, float]:
    """Floor point (x, y) in metres at the centre of the area where a standing person is seen
    whole by all four of the subject's Human3.6M cameras."""
    cams = h36m_cameras(subject)
    xs = np.linspace(-4, 4, 81)
    gx, gy = np.meshgrid(xs, xs)
    ok = np.ones(gx.shape, bool)
    for z in (0.0, 1.9):
        pts = np.stack([gx, gy, np.full_like(gx, z)], -1).reshape(-1, 3)
        for cam in cams:
            ok &= _in_image(cam, pts, IMAGE_MARGIN_PX * 3).reshape(gx.shape)
    if not ok.any():
        return 0.0, 0.0
    return float(gx[ok].mean()), float(gy[ok].mean())


def _in_image(cam: Camera, pts_world_m: np.ndarray, margin_px: float) -> np.ndarray:
    pc = np.asarray(cam.world_to_camera(pts_world_m.astype(np.float32)))
    px = cam.project_px(pc)
    w, h = cam.intrinsics.width, cam.intrinsics.height
    return ((pc[..., 2] > 0.5) & (px[..., 0] > margin_px) & (px[..., 0] < w - margin_px)
            & (px[..., 1] > margin_px) & (px[..., 1] < h - margin_px))


def project_px(cam: Camera, pts_world_m: np.ndarray) -> np.ndarray:
    """World points ``(*, 3)`` metres → pixels ``(*, 2)`` through a camera (with distortion)."""
    pc = np.asarray(cam.world_to_camera(np.asarray(pts_world_m, np.float32)))
    return cam.project_px(pc)


def segment_actions(root_xy_m: np.ndarray, radius_m: float = VOLUME_RADIUS_M,
                    min_frames: int = MIN_ACTION_FRAMES,
                    max_frames: int = MAX_ACTION_FRAMES) -> list[tuple[int, int]]:
    """Cut a root path ``(T, 2)`` into consecutive ``[start, end)`` ranges whose floor
    bounding box has a half-diagonal ≤ ``radius_m`` and length ≤ ``max_frames``; ranges
    shorter than ``min_frames`` are dropped."""
    out = []
    t = root_xy_m.shape[0]
    s = 0
    lo = hi = root_xy_m[0].copy()
    for i in range(1, t + 1):
        if i < t:
            nlo, nhi = np.minimum(lo, root_xy_m[i]), np.maximum(hi, root_xy_m[i])
            fits = np.linalg.norm(nhi - nlo) / 2 <= radius_m and i - s < max_frames
        else:
            fits = False
        if fits:
            lo, hi = nlo, nhi
            continue
        if i - s >= min_frames:
            out.append((s, i))
        if i < t:
            s = i
            lo = hi = root_xy_m[i].copy()
    return out


def _rotz(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _stable_seed(*parts: object) -> int:
    return zlib.crc32("/".join(str(p) for p in parts).encode())


def build_mocap_dataset(bvh_paths: Sequence[str | Path | tuple[str | Path, str | Path]], *,
                        seed: int = 0, noise: NoiseModel | None = NoiseModel(),
                        max_seconds: float | None = None,
                        subjects: Sequence[str] = SUBJECTS,
                        amc_fps: float | None = None) -> MocapDataset:
    """Generate a dataset from motion captures (see the module docstring).

    Args:
        bvh_paths: BVH files (rigs known to :mod:`pose3d_cli.training.mocap`) and/or
            ``(skeleton.asf, motion.amc)`` pairs.
        seed: seeds yaw angles and detector noise; the same inputs and seed give identical files.
        noise: noise model of the ``det`` 2D, or ``None`` for exact COCO-17 projections.
        max_seconds: use only the first ``max_seconds`` of each capture (fast small datasets).
        subjects: subject names the time portions go to, in order.
        amc_fps: frame rate of AMC motions (default 120 Hz, the CMU database's).
    Returns:
        :class:`MocapDataset`.
    Raises:
        InputError: no BVH given, unreadable or unknown rig, or nothing long enough to use.
    """
    if not bvh_paths:
        raise InputError("no motion capture given; pass --bvh FILE [FILE ...] or --asf/--amc")
    ds = MocapDataset(noise=noise, seed=seed)
    for s in subjects:
        ds.positions_3d[s], ds.positions_2d_gt[s], ds.positions_2d_det[s] = {}, {}, {}
    counters: dict[tuple[str, str], int] = {}
    for clip_index, path in enumerate(bvh_paths):
        base = load_mocap(path, height_m=DEFAULT_HEIGHT_M, max_seconds=max_seconds, amc_fps=amc_fps)
        n = base.num_frames
        bounds = np.linspace(0, n, len(subjects) + 1).astype(int)
        for si, subject in enumerate(subjects):
            # Scale the capture to the subject's height (about the floor origin).
            k = SUBJECT_HEIGHT_M.get(subject, DEFAULT_HEIGHT_M) / DEFAULT_HEIGHT_M
            p0, p1 = bounds[si], bounds[si + 1]
            h36m = base.h36m17_m[p0:p1] * k
            coco = base.coco17_m[p0:p1] * k
            toes = base.toes_m[p0:p1] * k
            cams = h36m_cameras(subject)
            cx, cy = volume_centre(subject)
            for a0, a1 in segment_actions(h36m[:, 0, :2]):
                rng = np.random.default_rng([seed, _stable_seed(subject, clip_index, p0 + a0)])
                yaw = float(rng.uniform(0, 2 * np.pi))
                rot = _rotz(yaw)
                root = h36m[a0:a1, 0, :2]
                centre = np.array([(root[:, 0].min() + root[:, 0].max()) / 2,
                                   (root[:, 1].min() + root[:, 1].max()) / 2, 0.0])
                target = np.array([cx, cy, 0.0])
                pos17, pcoco, ptoes = ((x[a0:a1] - centre) @ rot.T + target
                                       for x in (h36m, coco, toes))
                # Keep only frames where every point is inside all four images.
                allpts = np.concatenate([pos17, pcoco], axis=1)
                inview = np.ones(a1 - a0, bool)
                for cam in cams:
                    inview &= _in_image(cam, allpts, IMAGE_MARGIN_PX).all(axis=1)
                for r0, r1 in _runs(inview, MIN_ACTION_FRAMES):
                    speed = float(np.linalg.norm(np.diff(pos17[r0:r1, 0, :2], axis=0), axis=-1).mean()
                                  * base.fps)
                    label = "Walking" if speed >= 0.4 else "InPlace"
                    counters[(subject, label)] = counters.get((subject, label), 0) + 1
                    action = f"{label} {counters[(subject, label)]}"
                    seg17 = pos17[r0:r1]
                    ds.positions_3d[subject][action] = h36m17_to_h36m32(
                        seg17, ptoes[r0:r1]).astype(np.float32)
                    gt, det = [], []
                    for ci, cam in enumerate(cams):
                        gt.append(project_px(cam, seg17).astype(np.float32))
                        clean = project_px(cam, pcoco[r0:r1])
                        if noise is not None:
                            nrng = np.random.default_rng([seed, _stable_seed(subject, action, ci)])
                            clean = noise.apply(clean, nrng)
                        det.append(clean.astype(np.float32))
                    ds.positions_2d_gt[subject][action] = gt
                    ds.positions_2d_det[subject][action] = det
                    src = "+".join(map(str, path)) if isinstance(path, tuple) else str(path)
                    ds.actions.append(ActionInfo(subject, action, src, int(p0 + a0 + r0),
                                                 int(p0 + a0 + r1), yaw))
    if ds.num_frames == 0:
        raise InputError(f"no usable motion in {', '.join(map(str, bvh_paths))}: every piece was "
                         f"shorter than {MIN_ACTION_FRAMES} frames or out of view; give longer captures")
    for s in list(ds.positions_3d):
        if not ds.positions_3d[s]:
            raise InputError(f"subject {s} received no motion; give longer or more BVH captures "
                             "(each capture is split across all subjects)")
    return ds


def _runs(mask: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    """``[start, end)`` runs of True at least ``min_len`` long."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return [(int(a), int(b)) for a, b in zip(starts, ends) if b - a >= min_len]


def _metadata(layout: str, ds: MocapDataset, kind: str) -> dict:
    lay = COCO17 if layout == "coco" else H36M17
    meta = {"layout_name": layout, "num_joints": 17,
            "keypoints_symmetry": [list(lay.left), list(lay.right)],
            "fps": 50.0, "generator": "pose3d dataset mocap", "kind": kind, "seed": int(ds.seed)}
    if kind == "det" and ds.noise is not None:
        meta["noise"] = asdict(ds.noise)
    return meta


def write_dataset(ds: MocapDataset, out_dir: str | Path, name: str = "mocap", *,
                  overwrite: bool = False) -> dict[str, Path]:
    """Write the three files (atomically) and return ``{"3d", "gt", "det"}`` → path."""
    out_dir = Path(out_dir)
    paths = {"3d": out_dir / f"data_3d_{name}.npz", "gt": out_dir / f"data_2d_{name}_gt.npz",
             "det": out_dir / f"data_2d_{name}_det.npz"}
    contents = {
        "3d": {"positions_3d": ds.positions_3d},
        "gt": {"positions_2d": ds.positions_2d_gt, "metadata": _metadata("h36m", ds, "gt")},
        "det": {"positions_2d": ds.positions_2d_det, "metadata": _metadata("coco", ds, "det")},
    }
    return save_dataset_files(contents, paths, overwrite)


def generate_mocap_files(bvh_paths: Sequence[str | Path | tuple[str | Path, str | Path]],
                         out_dir: str | Path, name: str = "mocap", *, seed: int = 0,
                         noise: NoiseModel | None = NoiseModel(),
                         max_seconds: float | None = None, amc_fps: float | None = None,
                         overwrite: bool = False) -> dict[str, Path]:
    """Build a dataset from BVH captures and write its three files (``pose3d dataset mocap``).

    Returns ``{"3d", "gt", "det"}`` → path. A small dataset for tests and benchmarks, from the
    shared captures, takes about a second: ``generate_mocap_files(sorted(glob("…/mocap/*.bvh")),
    tmp, max_seconds=40)``.
    """
    for p in (Path(out_dir) / f"data_3d_{name}.npz", Path(out_dir) / f"data_2d_{name}_gt.npz",
              Path(out_dir) / f"data_2d_{name}_det.npz"):
        check_writable(p, overwrite)
    ds = build_mocap_dataset(bvh_paths, seed=seed, noise=noise, max_seconds=max_seconds,
                             amc_fps=amc_fps)
    return write_dataset(ds, out_dir, name, overwrite=overwrite)
