"""How far the BVH export's skeleton is from the poses it was made from.

A BVH holds a skeleton with constant bone lengths (each bone's median over the clip) and joint
rotations; forward kinematics of the written file (read back with ``pose3d_cli.io.bvh``) is
compared with the exported positions, per joint, in millimetres, for each rest pose and naming:

- ``mocap``: real captured motion (``../shared/mocap``, retargeted to Human3.6M-17): bones are
  nearly rigid, so the error shows what the solver itself loses;
- ``lifted``: the built-in lifter's output on the same held-out motion seen through a camera with
  detector-like 2D noise (test subject S9, camera 0): a model's bone lengths vary from frame to
  frame, and the constant-length skeleton cannot follow that exactly;
- ``--pose-file F``: any pose file (e.g. ``pose3d infer`` on a real video), main person.

    python benchmarks/bvh_accuracy.py [--shared ../shared] [--pose-file clip.pose3d.npz]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from pose3d_cli.io.bvh import WORLD_TO_BVH, bvh_positions, read_bvh, write_bvh
from pose3d_cli.skeleton import H36M17

ANIMATOR_OF = {"hip": "Hips", "right_hip": "RightUpLeg", "right_knee": "RightLeg", "right_foot": "RightFoot",
               "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_foot": "LeftFoot", "spine": "Spine",
               "thorax": "Spine1", "neck_nose": "Head", "head": "Head_end", "left_shoulder": "LeftArm",
               "left_elbow": "LeftForeArm", "left_wrist": "LeftHand", "right_shoulder": "RightArm",
               "right_elbow": "RightForeArm", "right_wrist": "RightHand"}
VARIANTS = (("clip", "h36m"), ("tpose", "h36m"), ("tpose", "animator"))


def errors_mm(poses: np.ndarray, fps: float, rest: str, names: str, tmp: Path) -> np.ndarray:
    """``(T, 17)`` distances (mm) between the exported positions and the BVH's FK."""
    path = write_bvh(tmp / f"{rest}-{names}.bvh", poses, fps, rest=rest, names=names)
    bvh = read_bvh(path)
    cols = [bvh.index(ANIMATOR_OF[n] if names == "animator" else n) for n in H36M17.joint_names]
    back = bvh_positions(bvh)[:, cols] @ WORLD_TO_BVH
    return np.linalg.norm(back - poses, axis=-1) * 1000


def lifted_mocap(shared: Path, tmp: Path) -> np.ndarray:
    """The built-in lifter's world-frame output on held-out motion (S9, camera 0)."""
    from pose3d_cli.geometry.camera import camera_to_world_wild, ground_poses
    from pose3d_cli.lifting.predict import predict
    from pose3d_cli.training.data import prepare_sequences
    from pose3d_cli.training.synth import generate_mocap_files
    from pose3d_cli.zoo import load_lifter

    files = generate_mocap_files(sorted((shared / "mocap").glob("*.bvh")), tmp, "mocap", seed=0, max_seconds=120)
    seqs = prepare_sequences(files["3d"], files["det"], ["S9"], cameras=[0])
    ck, _ = load_lifter("pose3d-27f.mocap-coco")
    out = []
    for s in seqs:
        cam = predict(ck.model_pos, s.kpts_norm, layout_in=ck.layout_in, layout_out=ck.layout_out, flip=True)
        out.append(np.asarray(ground_poses(camera_to_world_wild(cam)), np.float64))
    return max(out, key=len)


def report(name: str, poses: np.ndarray, fps: float, tmp: Path) -> None:
    par = np.array(H36M17.parents)
    lengths = np.linalg.norm(poses[:, 1:] - poses[:, par[1:]], axis=-1)
    spread = float((lengths.std(0) / lengths.mean(0)).mean() * 100)
    print(f"\n{name}: {len(poses)} frames at {fps:g} fps; bone lengths vary by {spread:.1f} % (std/mean) "
          "over the clip")
    print(f"{'rest, names':<18} {'mean mm':>8} {'max mm':>8} {'p95 mm':>8}   worst joints (mean mm)")
    for rest, names in VARIANTS:
        e = errors_mm(poses, fps, rest, names, tmp)
        worst = np.argsort(e.mean(0))[::-1][:3]
        joints = ", ".join(f"{H36M17.joint_names[j]} {e[:, j].mean():.1f}" for j in worst)
        print(f"{rest + ', ' + names:<18} {e.mean():>8.1f} {e.max():>8.1f} {np.percentile(e, 95):>8.1f}   {joints}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    ap.add_argument("--pose-file", type=Path, default=None)
    args = ap.parse_args()
    from pose3d_cli.training.mocap import load_mocap

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for cap in sorted((args.shared / "mocap").glob("*.bvh")):
            report(f"mocap {cap.name}", load_mocap(cap, max_seconds=60).h36m17_m, 50.0, tmp)
        report("lifted (built-in lifter, held-out S9 camera 0, noisy 2D)", lifted_mocap(args.shared, tmp), 50.0, tmp)
        if args.pose_file is not None:
            from pose3d_cli.io.exports import fill_gaps
            from pose3d_cli.io.pose_file import load_poses

            seq = load_poses(args.pose_file)
            poses = fill_gaps(seq.poses_3d_world, seq.people_present[seq.main_person])
            report(f"pose file {args.pose_file.name}", poses, seq.fps, tmp)


if __name__ == "__main__":
    main()
