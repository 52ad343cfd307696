"""Monocular lifting of real video against a four-camera reconstruction of the same motion.

    python benchmarks/multiview.py --cache mocap-cache [--json multiview.json]

The clip: the single-person demo of Pose2Sim (PyPI wheel ``pose2sim==0.10.49``, BSD-3-Clause;
fetched with ``pip download``, its sha256 checked): one person moving freely on a treadmill,
filmed by four calibrated, synchronised portrait cameras (1080x1920, 60 fps, 100 frames); the
calibration is the Qualisys ``Calib.qca.txt`` beside the videos.

Reference: each camera's video goes through a 2D detector; the 12 limb keypoints (shoulders,
elbows, wrists, hips, knees, ankles) are undistorted with the calibration and triangulated
(score-weighted DLT over the views that see the joint with a score of at least 0.3, two views at
least). Two references are built from two different detectors, the default
(``movenet-blazepose``: BlazePose landmarks on MoveNet crops) and ``movenet`` (MoveNet's own
keypoints); their disagreement bounds how exactly the reference is known. The calibration's axis
convention is chosen from the data (the candidate with the smallest reprojection error), the
videos' frame offsets too (each camera against the first, within 10 frames: the smallest
two-view reprojection error), and the reprojection error is printed.

Lifted: each camera's default-detector keypoints go through the same path as ``pose3d infer``
(``lifting.sequence.lift_people``: cleaning, 60 -> 50 fps resampling, flip, the default
smoothing) with each lifter; the error is P-MPJPE on the 12 limb joints (each frame's pose
aligned to the reference by a similarity transform), millimetres, averaged over frames and over
the four cameras.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from mocap_data import fetch_archive, unpack  # noqa: E402

WHEEL = "pose2sim-0.10.49-py3-none-any.whl"
DEMO = "Pose2Sim/Demo_SinglePerson"
CAMERAS = ("cam01", "cam02", "cam03", "cam04")
MEMBERS = [f"{DEMO}/calibration/Calib.qca.txt"] + [f"{DEMO}/videos/{c}.mp4" for c in CAMERAS]
#: COCO-17 indices of the 12 limb joints and the Human3.6M-17 indices of the same joints.
COCO_LIMBS = (5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
H36M_LIMBS = (11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3)
MIN_SCORE = 0.3


@dataclass
class Camera:
    name: str
    K: np.ndarray  # (3, 3) pixels
    dist: np.ndarray  # (5,) k1 k2 p1 p2 k3
    rot: np.ndarray  # (3, 3) as written in the file
    pos: np.ndarray  # (3,) metres, as written in the file


def read_qca(path: Path) -> list[Camera]:
    """Cameras of a Qualisys ``.qca.txt`` calibration (sensor units are 1/64 pixel)."""
    cams = []
    for cam in ET.parse(path).getroot().iter("camera"):
        tr, it = cam.find("transform").attrib, cam.find("intrinsic").attrib
        fov = cam.find("fov_video").attrib

        def f(key: str, it: dict = it) -> float:
            return float(it[key]) / 64.0

        K = np.array([[f("focalLengthU"), 0.0, f("centerPointU") - float(fov["left"])],
                      [0.0, f("focalLengthV"), f("centerPointV") - float(fov["top"])],
                      [0.0, 0.0, 1.0]])
        dist = np.array([float(it["radialDistortion1"]), float(it["radialDistortion2"]),
                         float(it["tangentalDistortion1"]), float(it["tangentalDistortion2"]),
                         float(it["radialDistortion3"])])
        rot = np.array([[float(tr[f"r{i}{j}"]) for j in (1, 2, 3)] for i in (1, 2, 3)])
        pos = np.array([float(tr[k]) for k in "xyz"]) / 1000.0
        cams.append(Camera(cam.attrib["serial"], K, dist, rot, pos))
    return cams


def conventions(cam: Camera) -> list[tuple[str, np.ndarray]]:
    """World-to-camera rotations the file's matrix may stand for (as written or transposed, each
    with the four proper axis flips between a camera frame looking along +z or -z)."""
    out = []
    for label, base in (("R", cam.rot), ("R^T", cam.rot.T)):
        for flip in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)):
            out.append((f"{label} flip{flip}", np.diag(flip).astype(float) @ base))
    return out


def undistort(cam: Camera, px: np.ndarray) -> np.ndarray:
    """Pixel points ``(..., 2)`` → normalised, undistorted image coordinates."""
    flat = px.reshape(-1, 1, 2).astype(np.float64)
    ok = np.isfinite(flat).all(axis=-1)[:, 0]
    out = np.full_like(flat, np.nan)
    if ok.any():
        out[ok] = cv2.undistortPoints(flat[ok], cam.K, cam.dist)
    return out.reshape(px.shape)


def triangulate(norm: np.ndarray, weight: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Weighted DLT. ``norm (C, T, J, 2)`` normalised points, ``weight (C, T, J)`` (0: unused),
    ``R (C, 3, 3)``, ``t (C, 3)`` world-to-camera. Returns ``(T, J, 3)``, NaN where fewer than
    two views have weight."""
    P = np.concatenate([R, t[:, :, None]], axis=2)  # (C, 3, 4)
    x = np.nan_to_num(norm)
    w = np.where(np.isfinite(norm).all(-1), weight, 0.0)
    rows_x = x[..., 0:1] * P[:, None, None, 2] - P[:, None, None, 0]  # (C, T, J, 4)
    rows_y = x[..., 1:2] * P[:, None, None, 2] - P[:, None, None, 1]
    A = np.concatenate([rows_x * w[..., None], rows_y * w[..., None]], axis=0)  # (2C, T, J, 4)
    A = np.moveaxis(A, 0, 2)  # (T, J, 2C, 4)
    _, _, vt = np.linalg.svd(A)
    X = vt[..., -1, :]
    with np.errstate(divide="ignore", invalid="ignore"):  # joints no view sees: set to NaN below
        pts = X[..., :3] / X[..., 3:4]
    pts[(w > 0).sum(0) < 2] = np.nan
    return pts


def project(cam: Camera, R: np.ndarray, t: np.ndarray, X: np.ndarray) -> np.ndarray:
    """World points ``(T, J, 3)`` → pixels ``(T, J, 2)`` with the lens distortion."""
    flat = X.reshape(-1, 3)
    ok = np.isfinite(flat).all(-1)
    out = np.full((len(flat), 2), np.nan)
    if ok.any():
        rvec, _ = cv2.Rodrigues(R)
        out[ok] = cv2.projectPoints(flat[ok], rvec, t, cam.K, cam.dist)[0][:, 0]
    return out.reshape(X.shape[:-1] + (2,))


def detections(videos: dict[str, Path], detector: str):
    """Main person's track per camera (``KeypointTrack``), and the seconds it took."""
    from pose3d_cli.keypoints import detect_people

    tracks, t0 = {}, time.perf_counter()
    for name, path in videos.items():
        tracks[name] = detect_people(path, detector=detector, progress=False).main_track
    return tracks, time.perf_counter() - t0


def weights_of(track) -> np.ndarray:
    w = np.where(track.scores >= MIN_SCORE, track.scores, 0.0).astype(np.float64)
    if track.filled_joints is not None:
        w[track.filled_joints] = 0.0
    if track.filled_frames is not None:
        w[track.filled_frames] = 0.0
    return w


def reconstruct(cams: list[Camera], tracks: dict, R: np.ndarray, t: np.ndarray):
    """Reference ``(T, 12, 3)`` (metres) and the median reprojection error in pixels."""
    names = [c.name for c in cams]
    norm = np.stack([undistort(c, tracks[c.name].keypoints_px[:, COCO_LIMBS]) for c in cams])
    w = np.stack([weights_of(tracks[n])[:, COCO_LIMBS] for n in names])
    X = triangulate(norm, w, R, t)
    errs = []
    for i, c in enumerate(cams):
        px = project(c, R[i], t[i], X)
        d = np.linalg.norm(px - tracks[c.name].keypoints_px[:, COCO_LIMBS], axis=-1)
        errs.append(d[w[i] > 0])
    e = np.concatenate(errs)
    return X, float(np.nanmedian(e)) if np.isfinite(e).any() else float("inf")


def choose_convention(cams: list[Camera], tracks: dict):
    """(label, R, t) of the convention with the smallest reprojection error, and every candidate's."""
    tried = {}
    best = None
    per_cam = [conventions(c) for c in cams]
    for k in range(len(per_cam[0])):
        label = per_cam[0][k][0]
        R = np.stack([pc[k][1] for pc in per_cam])
        t = np.stack([-R[i] @ c.pos for i, c in enumerate(cams)])
        X, err = reconstruct(cams, tracks, R, t)
        # points must lie in front of every camera
        depth = np.einsum("cab,tjb->ctja", R, np.nan_to_num(X))[..., 2] + t[:, None, None, 2]
        if np.nanmedian(depth) <= 0:
            err = float("inf")
        tried[label] = err
        if best is None or err < best[3]:
            best = (label, R, t, err)
    return best, tried


def shift(a: np.ndarray, offset: int, fill) -> np.ndarray:
    """``a`` on the first camera's timeline: ``out[i] = a[i + offset]`` (``fill`` outside)."""
    out = np.full_like(a, fill)
    n = len(a)
    if offset >= 0:
        out[:n - offset] = a[offset:]
    else:
        out[-offset:] = a[:n + offset]
    return out


def shifted_track(track, offset: int):
    """The track on the first camera's timeline (frames outside the clip unseen)."""
    from dataclasses import replace

    w = weights_of(track)
    return replace(track, keypoints_px=shift(track.keypoints_px, offset, np.nan),
                   scores=shift(np.where(w > 0, track.scores, 0.0), offset, 0.0).astype(np.float32),
                   filled_joints=None, filled_frames=None)


def estimate_offsets(cams: list[Camera], tracks: dict, R: np.ndarray, t: np.ndarray,
                     max_shift: int = 10) -> dict[str, int]:
    """Frame offset of every camera against the first (the videos are not guaranteed to be
    synchronised): the shift giving the smallest two-view reprojection error with it."""
    offsets = {cams[0].name: 0}
    first = shifted_track(tracks[cams[0].name], 0)
    for k in range(1, len(cams)):
        best = None
        for off in range(-max_shift, max_shift + 1):
            pair = {cams[0].name: first, cams[k].name: shifted_track(tracks[cams[k].name], off)}
            _, err = reconstruct([cams[0], cams[k]], pair, R[[0, k]], t[[0, k]])
            if best is None or err < best[1]:
                best = (off, err)
        offsets[cams[k].name] = best[0]
    return offsets


def p_mpjpe_frames(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per-frame P-MPJPE (mm) of ``pred`` on ``ref`` (both ``(T, 12, 3)``); NaN where either is
    incomplete."""
    from pose3d_cli.metrics import procrustes_align

    ok = np.isfinite(pred).all((1, 2)) & np.isfinite(ref).all((1, 2))
    out = np.full(len(ref), np.nan)
    if ok.any():
        aligned = procrustes_align(pred[ok], ref[ok])
        out[ok] = np.linalg.norm(aligned - ref[ok], axis=-1).mean(-1) * 1000.0
    return out


def old_builtin(tmp: Path) -> Path:
    from lifter_heldout import old_builtin as fetch_old

    return fetch_old(tmp)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="download cache (outside the repo)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    import torch

    from pose3d_cli.io.keypoint_file import PeopleTracks
    from pose3d_cli.lifting.checkpoint import load_checkpoint
    from pose3d_cli.lifting.sequence import LiftOptions, lift_people
    from pose3d_cli.lifting.smoothing import smoothing_for
    from pose3d_cli.zoo import load_lifter

    torch.set_num_threads(max(1, torch.get_num_threads()))
    wheel = fetch_archive(WHEEL, args.cache / "downloads")
    src = args.cache / "pose2sim"
    unpack(wheel, MEMBERS, src)
    cams = read_qca(src / MEMBERS[0])
    cams = [c for c in cams if c.name in CAMERAS]
    videos = {c: src / DEMO / "videos" / f"{c}.mp4" for c in CAMERAS}

    ref_tracks, det_s = detections(videos, "default")
    alt_tracks, alt_s = detections(videos, "movenet")
    (label, R, t, _), tried = choose_convention(cams, alt_tracks)
    offsets = estimate_offsets(cams, alt_tracks, R, t)
    ref, reproj = reconstruct(cams, {n: shifted_track(tr, offsets[n]) for n, tr in ref_tracks.items()}, R, t)
    alt, alt_reproj = reconstruct(cams, {n: shifted_track(tr, offsets[n]) for n, tr in alt_tracks.items()}, R, t)
    frames = len(ref)
    complete = np.isfinite(ref).all((1, 2))
    agree = float(np.nanmean(p_mpjpe_frames(alt, ref)))
    bone = np.linalg.norm(ref[:, [8, 10]] - ref[:, [6, 8]], axis=-1)  # knee-ankle, hip-knee (left)
    print(f"clip: {DEMO} of {WHEEL}: {len(cams)} cameras, {frames} frames at 60 fps; detection "
          f"{det_s:.0f} s (default) and {alt_s:.0f} s (movenet) for the four videos")
    print(f"calibration convention: {label} (other candidates' reprojection errors: "
          + ", ".join(f"{k} {v:.0f} px" for k, v in tried.items() if k != label) + "); frame offsets against "
          + f"{CAMERAS[0]}: " + ", ".join(f"{k} {v:+d}" for k, v in offsets.items() if k != CAMERAS[0])
          + f"; median reprojection error {reproj:.1f} px (default 2D), {alt_reproj:.1f} px (movenet 2D)")
    print(f"reference: {complete.sum()} of {frames} frames with all 12 limb joints triangulated; "
          f"left thigh {np.nanmedian(bone[:, 1]) * 100:.1f} cm, shin {np.nanmedian(bone[:, 0]) * 100:.1f} cm; "
          f"the two references (default vs movenet 2D) differ by P-MPJPE {agree:.1f} mm")

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        lifters = [("pose3d-27f.mocap-coco", None), ("pose3d-27f-causal.mocap-coco", None)]
        try:
            lifters.append(("previous built-in (bvhtools only)", old_builtin(Path(tmp))))
        except (OSError, subprocess.CalledProcessError) as exc:  # no git history (e.g. an sdist): skip that row
            print(f"previous built-in not measured: {exc}")
        for name, path in lifters:
            if path is None:
                ck, _ = load_lifter(name, quiet=True)
            else:
                ck = load_checkpoint(path)
            per_cam = {}
            for cam in CAMERAS:
                people = PeopleTracks.one(ref_tracks[cam])
                opts = LiftOptions(flip=True, smooth=smoothing_for("default", causal=bool(ck.arch.causal),
                                                                    fps=people.fps))
                seq = lift_people(people, ck, options=opts)
                pred = seq.people_poses_3d_camera[seq.main_person][:, H36M_LIMBS].astype(np.float64)
                pred = shift(pred, offsets[cam], np.nan)  # on the reference's timeline
                per_cam[cam] = {"vs_default_ref": float(np.nanmean(p_mpjpe_frames(pred, ref))),
                                "vs_movenet_ref": float(np.nanmean(p_mpjpe_frames(pred, alt)))}
            mean = {k: float(np.mean([v[k] for v in per_cam.values()])) for k in ("vs_default_ref", "vs_movenet_ref")}
            results[name] = {"cameras": per_cam, "mean": mean}

    print("\nP-MPJPE on the 12 limb joints (mm), lifted from one camera's default-detector 2D, against the "
          "4-camera reconstruction (default-detector 2D / movenet 2D)")
    print(f"{'lifter':38s} " + " ".join(f"{c:>13s}" for c in CAMERAS) + f" {'mean':>13s}")
    for name, r in results.items():
        cells = [f"{r['cameras'][c]['vs_default_ref']:6.1f}/{r['cameras'][c]['vs_movenet_ref']:<6.1f}"
                 for c in CAMERAS]
        print(f"{name:38s} " + " ".join(f"{c:>13s}" for c in cells)
              + f" {r['mean']['vs_default_ref']:6.1f}/{r['mean']['vs_movenet_ref']:<6.1f}")
    if args.json:
        args.json.write_text(json.dumps({
            "clip": {"wheel": WHEEL, "demo": DEMO, "frames": frames, "cameras": list(CAMERAS)},
            "convention": label, "frame_offsets": offsets, "reprojection_px": {"default": reproj, "movenet": alt_reproj},
            "candidates_px": tried, "reference_frames_complete": int(complete.sum()),
            "references_agree_p_mpjpe_mm": agree, "lifters": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
