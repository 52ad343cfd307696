"""Draw the joint-angle definitions of ``pose3d_cli.geometry.angles`` on a real captured pose
(``../shared/mocap``, retargeted to Human3.6M-17) into ``docs/img/joint_angles.png``.

    python tools/angles_figure.py [--shared ../shared] [--out docs/img/joint_angles.png]

Left panel: the body seen from its left side (forward to the right): hip and knee flexion,
elbow flexion, trunk lean. Right panel: seen from the front: shoulder elevation. Values are
the ones ``pose3d export --export angles`` writes for that frame.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LEFT, RIGHT, CENTRE = "#2f6fdf", "#e0483e", "#555555"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "joint_angles.png")
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Arc

    from pose3d_cli.geometry.angles import body_axes, joint_angles
    from pose3d_cli.skeleton import H36M17
    from pose3d_cli.training.mocap import load_mocap

    poses = load_mocap(args.shared / "mocap" / "bvhtools_test.bvh", max_seconds=60).h36m17_m
    ang = joint_angles(poses)
    # Walking (root faster than 0.6 m/s), the left leg swinging forward with the knee bent, the
    # trunk near upright and the left arm down.
    speed = np.r_[0.0, np.linalg.norm(np.diff(poses[:, 0, :2], axis=0), axis=-1) * 50.0]
    score = ang["left_hip_flexion"] + 0.5 * ang["left_knee_flexion"]
    score[(speed < 0.6) | (ang["trunk_lean"] > 12) | (ang["left_shoulder_elevation"] > 50)
          | (ang["left_knee_flexion"] > 60)] = -np.inf
    t = int(np.argmax(score))
    p = poses[t]
    a = {k: float(v[t]) for k, v in ang.items()}
    up_ax, _, fwd = body_axes(p)
    z = np.array([0.0, 0.0, 1.0])
    fwd_h = fwd - fwd @ z * z
    fwd_h /= np.linalg.norm(fwd_h)
    lat_h = np.cross(z, fwd_h)  # the subject's left, horizontal
    j = {n: p[H36M17.index(n)] for n in H36M17.joint_names}

    def side(v):  # seen from the left side: forward to the right, up
        return np.array([v @ fwd_h, v @ z])

    def front(v):  # seen from the front: the subject's left on the viewer's right
        return np.array([v @ lat_h, v @ z])

    fig, axes = plt.subplots(1, 2, figsize=(9.0, 5.4), dpi=100)

    def skeleton(ax, proj, only=None):
        for c, par in enumerate(H36M17.parents):
            if par < 0:
                continue
            s = H36M17.side_of(c)
            if only is not None and s not in only:
                continue
            col = {"left": LEFT, "right": RIGHT}.get(s, CENTRE)
            q0, q1 = proj(p[par]), proj(p[c])
            ax.plot([q0[0], q1[0]], [q0[1], q1[1]], color=col, lw=3, solid_capstyle="round", zorder=2)
        pts = np.array([proj(v) for v in p])
        ax.scatter(pts[:, 0], pts[:, 1], s=12, color="black", zorder=3)

    def arc(ax, proj, at, d1, d2, label, value, r=0.09, offset=(0.03, 0.0), colour="black"):
        c = proj(at)
        a1 = np.degrees(np.arctan2(*(proj(at + d1) - c)[::-1]))
        a2 = np.degrees(np.arctan2(*(proj(at + d2) - c)[::-1]))
        lo, hi = sorted((a1, a2))
        if hi - lo > 180:
            lo, hi = hi, lo + 360
        ax.add_patch(Arc(c, 2 * r, 2 * r, theta1=lo, theta2=hi, color=colour, lw=1.5, zorder=4))
        for d in (d1, d2):
            e = proj(at + d * 0.16 / max(np.linalg.norm(d), 1e-9))
            ax.plot([c[0], e[0]], [c[1], e[1]], ls=":", color=colour, lw=1.2, zorder=4)
        ax.annotate(f"{label}\n{value:.0f}°", c + np.array(offset), fontsize=9, color=colour, zorder=5,
                    va="center")

    ax = axes[0]
    skeleton(ax, side)
    arc(ax, side, j["left_hip"], -up_ax, j["left_knee"] - j["left_hip"], "hip flexion", a["left_hip_flexion"],
        offset=(0.1, -0.05), colour=LEFT)
    thigh = j["left_knee"] - j["left_hip"]
    arc(ax, side, j["left_knee"], thigh, j["left_foot"] - j["left_knee"], "knee flexion", a["left_knee_flexion"],
        offset=(0.1, 0.0), colour=LEFT)
    arc(ax, side, j["left_elbow"], j["left_elbow"] - j["left_shoulder"], j["left_wrist"] - j["left_elbow"],
        "elbow flexion", a["left_elbow_flexion"], offset=(0.1, -0.02), colour=LEFT)
    arc(ax, side, j["hip"], z, j["thorax"] - j["hip"], "trunk lean", a["trunk_lean"], r=0.16,
        offset=(-0.34, 0.12), colour=CENTRE)
    ax.set_title("from the left side (forward →)", fontsize=10)

    ax = axes[1]
    skeleton(ax, front)
    arc(ax, front, j["left_shoulder"], -up_ax, j["left_elbow"] - j["left_shoulder"], "shoulder\nelevation",
        a["left_shoulder_elevation"], offset=(0.08, 0.05), colour=LEFT)
    arc(ax, front, j["right_shoulder"], -up_ax, j["right_elbow"] - j["right_shoulder"], "shoulder\nelevation",
        a["right_shoulder_elevation"], offset=(-0.3, 0.05), colour=RIGHT)
    ax.set_title("from the front (subject's left →)", fontsize=10)

    for ax in axes:
        ax.set_aspect("equal")
        ax.axhline(0, color="#999999", lw=1)
        ax.set_xticks([])
        ax.set_yticks([])
        for s in ax.spines.values():
            s.set_visible(False)
    for ax, proj in ((axes[0], side), (axes[1], front)):
        pts = np.array([proj(v) for v in p])
        cx = (pts[:, 0].min() + pts[:, 0].max()) / 2
        ax.set_xlim(cx - 0.75, cx + 0.75)
        ax.set_ylim(-0.05, pts[:, 1].max() + 0.1)
    fig.suptitle(f"Joint angles on a captured pose (frame {t} of {args.shared.name}/mocap/bvhtools_test.bvh "
                 "at 50 Hz); left side blue, right side red", fontsize=9)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} kB), frame {t}: "
          + ", ".join(f"{k} {v:.1f}" for k, v in a.items()))


if __name__ == "__main__":
    main()
