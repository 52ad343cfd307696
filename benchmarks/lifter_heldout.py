"""Held-out error of built-in lifters on real motion capture they never saw (leave-one-source-out),
and the root-motion and height checks of the trajectory model.

    python benchmarks/lifter_heldout.py --cache mocap-cache \\
        --fold runs/loso-cmu --fold runs/loso-holosoma ... [--full runs/builtin] [--json out.json]

For every source of ``pose3d_cli.training.sources.SOURCES`` the clips are seen through fixed,
seeded cameras like real ones (2 views per 10 s segment; distances 2–10 m, any azimuth,
elevations from below to steeply above, phone to action-camera fields of view, landscape and
portrait, the person off-centre), once with exact 2D and once with detector-like noise, and by lab-like level tripods (3-6 m,
normal lenses, landscape) with exact 2D, closest to a motion-capture lab's calibrated cameras. Each
model is measured only on sources it did not train on: the old built-in (trained on the bvhtools
captures only: every other source is held out for it) and each ``--fold`` run (its
``holdout_sources``); ``--full`` (trained on every trainable source) is measured on the
evaluation-only source and, for reference, on its training sources (marked "seen").

Figures (millimetres, frame-weighted, flip test-time augmentation on as in ``pose3d infer``):
P-MPJPE on the 12 limb joints (each pose aligned on them by a similarity transform) and MPJPE
of all 17 joints, root-relative.

Root motion: held-out walking from the fold that left out the walking captures (``bvhtools``)
is cut into pieces in which the pelvis travels 0.6–0.9 m; each is seen from the side by a level
camera 4 m away; the lifted pose plus trajectory go through ``geometry.world.world_poses`` and
the ratio (pelvis travel / pelvis height above the lower ankle) is compared with the truth's.
Height: with ``height_m=1.70`` the head top's height above the lower ankle (median over frames
where the person stands upright).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from mocap_data import load_clips  # noqa: E402

from pose3d_cli.lifting.checkpoint import load_checkpoint  # noqa: E402
from pose3d_cli.training.augment import DetectorNoise, ViewConfig, view_sequences  # noqa: E402
from pose3d_cli.training.online import evaluate_sequences  # noqa: E402
from pose3d_cli.training.sources import SOURCES  # noqa: E402

#: The commit holding the built-in weights before issue 12 (trained on bvhtools only).
OLD_BUILTIN = ("26109cd54247bc31b58f8a0a6622784b71cebfe9", "pose3d_cli/zoo/weights/pose3d-27f-mocap-coco.pt")
OLD_TRAINED_ON = ("bvhtools",)


def old_builtin(tmp: Path) -> Path:
    """The old built-in weights, taken from git history."""
    out = tmp / "old_builtin.pt"
    data = subprocess.run(["git", "show", f"{OLD_BUILTIN[0]}:{OLD_BUILTIN[1]}"], cwd=ROOT, check=True,
                          capture_output=True).stdout
    out.write_bytes(data)
    return out


#: Lab-like views: level tripods 3-6 m away, normal lenses, landscape frames (like the calibrated
#: cameras of a motion-capture lab); measured with exact 2D.
TRIPOD = ViewConfig(distance_m=(3.0, 6.0), elevation_deg=(0.0, 20.0), steep_p=0.0, hfov_deg=(40.0, 60.0),
                    aspects=(9 / 16, 3 / 4), off_centre=0.3)


def test_views(cache: Path, source: str) -> dict[str, list]:
    clips = load_clips(cache / "clips" / f"{source}.npz")
    return {"noisy": view_sequences(clips, seed=2024, views_per_segment=2, noise=DetectorNoise()),
            "exact": view_sequences(clips, seed=2024, views_per_segment=2, noise=None),
            "tripod": view_sequences(clips, seed=2025, views_per_segment=2, noise=None, view=TRIPOD)}


def measure(ck, views: dict[str, list]) -> dict:
    out = {}
    for kind, seqs in views.items():
        e = evaluate_sequences(ck.model_pos, seqs, model_traj=ck.model_traj, flip=True)
        out[kind] = e.to_dict()
    return out


def root_motion(ck, cache: Path, seed: int = 7) -> dict:
    """Root-motion ratio and head-top height on held-out walking (see the module docstring)."""
    from pose3d_cli.geometry.world import head_top, world_poses
    from pose3d_cli.lifting.predict import predict
    from pose3d_cli.lifting.trajectory import predict_trajectory

    clips = load_clips(cache / "clips" / "bvhtools.npz")
    rng = np.random.default_rng(seed)
    ratios, heads = [], []
    focal = 1.6
    for clip in clips:
        p = clip.points_m.astype(np.float64)
        root = p[:, 0, :2]
        t = 0
        while t + 150 < len(p) and len(ratios) < 40:
            # shortest piece from t in which the pelvis travels 0.75 m
            d = np.linalg.norm(root[t:t + 150] - root[t], axis=-1)
            end = np.flatnonzero(d >= 0.75)
            if not end.size or end[0] < 25:
                t += 50
                continue
            e = t + int(end[0]) + 1
            s0, s1 = max(0, t - 25), min(len(p), e + 25)  # context either side
            seg = p[s0:s1]
            direction = root[e - 1] - root[t]
            direction /= np.linalg.norm(direction)
            # camera 4 m to the side of the walk's midpoint, level, at 1 m height
            mid = np.r_[(root[t] + root[e - 1]) / 2, 0.0]
            side = np.array([-direction[1], direction[0], 0.0]) * (1 if rng.random() < 0.5 else -1)
            centre = mid + side * 4.0 + np.array([0, 0, 1.0])
            fwd = -side
            right = np.cross(fwd, [0, 0, 1.0])
            down = np.cross(fwd, right)
            rot = np.stack([right, down, fwd])
            cam = (seg - centre) @ rot.T
            from pose3d_cli.training.sources import COCO_FROM_POINTS

            kp = cam[:, list(COCO_FROM_POINTS), :2] / cam[:, list(COCO_FROM_POINTS), 2:] * focal
            pose = predict(ck.model_pos, kp.astype(np.float32), layout_in="coco17", layout_out="h36m17")
            traj = predict_trajectory(ck.model_traj, kp.astype(np.float32)) if ck.model_traj is not None else None
            w = world_poses(pose, traj).poses_world_m
            a, b = t - s0, e - 1 - s0

            def ratio(x):
                travel = np.linalg.norm(x[b, 0, :2] - x[a, 0, :2])
                h = np.mean([x[i, 0, 2] - x[i, [3, 6], 2].min() for i in (a, b)])
                return travel / h

            ratios.append((ratio(w), ratio(seg[:, :17])))
            w170 = world_poses(pose, traj, height_m=1.70).poses_world_m
            ht = head_top(w170)[:, 2] - w170[:, [3, 6], 2].min(axis=1)
            heads.append(float(np.median(ht)))
            t = e + 100
    r = np.array(ratios)
    rel = r[:, 0] / r[:, 1]
    return {"pieces": len(r), "true_ratio_mean": float(r[:, 1].mean()), "pred_ratio_mean": float(r[:, 0].mean()),
            "pred_over_true_median": float(np.median(rel)),
            "within_30pct": float(np.mean(np.abs(rel - 1) <= 0.3)),
            "head_top_above_ankle_m_median": float(np.median(heads)),
            "head_top_in_1.45_1.75": float(np.mean((np.array(heads) >= 1.45) & (np.array(heads) <= 1.75)))}


def real_video_motion(ck, video: Path = ROOT / "examples" / "walk.mp4") -> dict:
    """On a real video of a person walking across a side view: pelvis travel / pelvis height
    above the lower ankle, from the default detector's 2D (in a side view both lie nearly in
    the image plane, so the 2D ratio is the truth to within the perspective) and from the lifted
    pose + trajectory in the world frame."""
    from pose3d_cli.geometry.camera import normalize_screen_coordinates
    from pose3d_cli.geometry.world import world_poses
    from pose3d_cli.keypoints import detect_video
    from pose3d_cli.lifting.predict import predict
    from pose3d_cli.lifting.trajectory import predict_trajectory

    track = detect_video(video, progress=False)
    kp = track.keypoints_px.astype(np.float64)
    t_src = np.arange(len(kp)) / track.fps
    t50 = np.arange(0, t_src[-1] + 1e-9, 1 / 50)
    kp50 = np.stack([np.stack([np.interp(t50, t_src, kp[:, j, c]) for c in range(2)], -1)
                     for j in range(kp.shape[1])], 1)
    pelvis2d = (kp50[:, 11] + kp50[:, 12]) / 2
    ankle2d = np.maximum(kp50[:, 15, 1], kp50[:, 16, 1])  # pixels: y down, the lower ankle
    a, b = 0, len(kp50) - 1
    h2d = np.mean([ankle2d[i] - pelvis2d[i, 1] for i in (a, b)])
    true_ratio = abs(pelvis2d[b, 0] - pelvis2d[a, 0]) / h2d
    kn = normalize_screen_coordinates(kp50.astype(np.float32), track.width, track.height)
    pose = predict(ck.model_pos, kn, layout_in="coco17", layout_out="h36m17")
    traj = predict_trajectory(ck.model_traj, kn) if ck.model_traj is not None else None
    w = world_poses(pose, traj).poses_world_m
    travel = np.linalg.norm(w[b, 0, :2] - w[a, 0, :2])
    h = np.mean([w[i, 0, 2] - w[i, [3, 6], 2].min() for i in (a, b)])
    return {"video": video.name, "frames_50hz": len(kp50), "ratio_2d": float(true_ratio),
            "ratio_lifted": float(travel / h), "lifted_over_2d": float(travel / h / true_ratio)}


def output_size(ck, cache: Path, source: str = "bvhtools") -> list[dict]:
    """Estimated standing height of the lifted body (true: 1.75 m) when one walk is seen from
    3, 5 and 8 m with a wide (focal 1.2) and a narrow (2.3, Human3.6M's) lens: a lifter whose
    output size follows the person's size in the image fails this."""
    from pose3d_cli.geometry.world import estimate_height_m
    from pose3d_cli.lifting.predict import predict
    from pose3d_cli.training.sources import COCO_FROM_POINTS

    clip = load_clips(cache / "clips" / f"{source}.npz")[0]
    p = clip.points_m[2000:2500].astype(np.float64)
    p = p - np.r_[p[:, 0, :2].mean(0), 0.0]
    out = []
    for dist in (3.0, 5.0, 8.0):
        for focal in (1.2, 2.3):
            centre = np.array([0.0, -dist, 1.2])
            fwd = np.array([0.0, 1.0, 0.0])
            right = np.cross(fwd, [0, 0, 1.0])
            down = np.cross(fwd, right)
            cam = (p - centre) @ np.stack([right, down, fwd]).T
            kp = cam[:, list(COCO_FROM_POINTS), :2] / cam[:, list(COCO_FROM_POINTS), 2:] * focal
            pose = predict(ck.model_pos, kp.astype(np.float32), layout_in="coco17", layout_out="h36m17")
            out.append({"distance_m": dist, "focal": focal, "image_height": float(np.ptp(kp[:, :, 1], axis=1).mean()),
                        "height_m": estimate_height_m(pose)})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--fold", type=Path, action="append", default=[], help="a LOSO run folder (final.pt)")
    ap.add_argument("--full", type=Path, default=None, help="the run trained on every trainable source")
    ap.add_argument("--checkpoint-name", default="final.pt")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--sources", default="all", help="comma-separated sources to measure (default all)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        old = load_checkpoint(old_builtin(Path(tmp)), layout_in="coco17", layout_out="h36m17")
    folds = {}
    for f in args.fold:
        ck = load_checkpoint(f / args.checkpoint_name)
        for s in ck.meta.get("holdout_sources", []):
            folds[s] = (f, ck)
    full = load_checkpoint(args.full / args.checkpoint_name) if args.full else None
    wanted = list(SOURCES) if args.sources == "all" else args.sources.split(",")
    for source in wanted:
        views = test_views(args.cache, source)
        row = {"frames": sum(len(v.kpts_norm) for v in views["noisy"]), "trainable": SOURCES[source].trainable}
        row["old"] = measure(old, views)
        row["old_seen"] = source in OLD_TRAINED_ON
        if source in folds:
            row["new_loso"] = measure(folds[source][1], views)
            row["fold"] = str(folds[source][0])
        if full is not None:
            row["full"] = measure(full, views)
            row["full_seen"] = source in full.meta.get("train_sources", [])
        rows[source] = row
        print(f"{source}: done", file=sys.stderr, flush=True)
    sizes = {"old": output_size(old, args.cache)}
    if full is not None:
        sizes["full"] = output_size(full, args.cache)
    for s_, ck_ in folds.values():
        sizes[f"fold {Path(s_).name}"] = output_size(ck_, args.cache)
        break
    motion = {}
    walk_model = folds.get("bvhtools", (None, full))[1]
    if walk_model is not None and walk_model.model_traj is not None:
        motion = root_motion(walk_model, args.cache)
        motion["model"] = "fold without bvhtools" if "bvhtools" in folds else "full model (walking seen)"
        motion["real_video"] = real_video_motion(walk_model)
    print_table(rows, motion)
    print("output size (estimated standing height of a 1.75 m walker; distance m / focal):")
    for name, rows_ in sizes.items():
        print(f"  {name:24s} " + "  ".join(f"{r['distance_m']:.0f}/{r['focal']:.1f}: {r['height_m']:.2f}"
                                             for r in rows_))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "root_motion": motion, "output_size": sizes}, indent=1) + "\n")
    return 0


def print_table(rows: dict, motion: dict) -> None:
    def cell(r, key, kind, what="p_mpjpe_limbs_mm"):
        if key not in r:
            return "     —"
        return f"{r[key][kind][what]:6.1f}"

    print("P-MPJPE on the 12 limb joints (mm), flip on; 'seen' marks a source in that model's training data")
    print(f"{'source':11s} {'frames':>6s} | {'old':>6s} {'LOSO':>6s} {'full':>6s} | "
          f"{'old':>6s} {'LOSO':>6s} {'full':>6s} | {'old':>6s} {'LOSO':>6s} {'full':>6s} | "
          f"{'MPJPE old':>9s} {'LOSO':>6s}")
    print(f"{'':11s} {'':6s} | {'noisy 2D':^20s} | {'exact 2D':^20s} | {'lab tripods, exact 2D':^20s} | "
          f"{'noisy 2D, 17 joints':^17s}")
    held_old, held_new, tri_old, tri_new = [], [], [], []
    for s, r in rows.items():
        tag = ("*" if r.get("old_seen") else " ")
        ftag = ("*" if r.get("full_seen") else " ")
        print(f"{s:11s} {r['frames']:6d} | {cell(r, 'old', 'noisy')}{tag}{cell(r, 'new_loso', 'noisy')} "
              f"{cell(r, 'full', 'noisy')}{ftag}| {cell(r, 'old', 'exact')}{tag}{cell(r, 'new_loso', 'exact')} "
              f"{cell(r, 'full', 'exact')}{ftag}| {cell(r, 'old', 'tripod')}{tag}{cell(r, 'new_loso', 'tripod')} "
              f"{cell(r, 'full', 'tripod')}{ftag}| {cell(r, 'old', 'noisy', 'mpjpe_mm'):>9s} "
              f"{cell(r, 'new_loso', 'noisy', 'mpjpe_mm')}")
        if "new_loso" in r and not r.get("old_seen"):
            held_old.append((r["old"]["noisy"]["p_mpjpe_limbs_mm"], r["frames"]))
            held_new.append((r["new_loso"]["noisy"]["p_mpjpe_limbs_mm"], r["frames"]))
            tri_old.append(r["old"]["tripod"]["p_mpjpe_limbs_mm"])
            tri_new.append(r["new_loso"]["tripod"]["p_mpjpe_limbs_mm"])
    if held_new:
        mo = np.mean([x for x, _ in held_old])
        mn = np.mean([x for x, _ in held_new])
        print(f"mean over the {len(held_new)} sources held out from both (noisy 2D): old {mo:.1f} mm, "
              f"new {mn:.1f} mm; lab tripods, exact 2D: old {np.mean(tri_old):.1f} mm, new {np.mean(tri_new):.1f} mm")
    print("(* = the model trained on that source: not a held-out figure)")
    if motion:
        print(f"root motion ({motion['model']}, {motion['pieces']} walking pieces, side view): pelvis travel / "
              f"pelvis height: true {motion['true_ratio_mean']:.2f}, lifted {motion['pred_ratio_mean']:.2f}; "
              f"lifted/true median {motion['pred_over_true_median']:.2f}, within 30 %: "
              f"{motion['within_30pct']:.0%}")
        rv = motion["real_video"]
        print(f"real video {rv['video']}: pelvis travel / pelvis height: 2D (side view) {rv['ratio_2d']:.2f}, "
              f"lifted {rv['ratio_lifted']:.2f} (ratio {rv['lifted_over_2d']:.2f})")
        print(f"height 1.70 m: head top above the lower ankle, median {motion['head_top_above_ankle_m_median']:.2f} m; "
              f"pieces within 1.45–1.75 m: {motion['head_top_in_1.45_1.75']:.0%}")


if __name__ == "__main__":
    sys.exit(main())
