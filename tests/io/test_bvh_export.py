"""BVH for animators: T-pose rest, Mixamo/CMU bone names, one file per person. Every file is
read back by the project's reader and by an independent one (``bvhio`` from PyPI), and forward
kinematics reproduces the exported positions within the tolerance ``docs/outputs.md`` states."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pose3d_cli.io.bvh import (
    WORLD_TO_BVH,
    animator_skeleton,
    bvh_positions,
    read_bvh,
    write_bvh,
)
from pose3d_cli.io.exports import export_paths, write_exports
from pose3d_cli.skeleton import H36M17

#: Where each Human3.6M joint is in the animator file (``Head_end``: the Head's End Site).
ANIMATOR_OF = {"hip": "Hips", "right_hip": "RightUpLeg", "right_knee": "RightLeg", "right_foot": "RightFoot",
               "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_foot": "LeftFoot", "spine": "Spine",
               "thorax": "Spine1", "neck_nose": "Head", "head": "Head_end", "left_shoulder": "LeftArm",
               "left_elbow": "LeftForeArm", "left_wrist": "LeftHand", "right_shoulder": "RightArm",
               "right_elbow": "RightForeArm", "right_wrist": "RightHand"}
#: Mean / max error (mm) of FK positions from the file vs the exported positions, on real
#: mocap; docs/outputs.md quotes what benchmarks/bvh_accuracy.py measures.
TOLERANCE_MM = {"h36m": (12.0, 60.0), "animator": (5.0, 25.0)}


def _names(names: str) -> list[str]:
    return [ANIMATOR_OF[n] if names == "animator" else n for n in H36M17.joint_names]


def _fk_world(path, names: str) -> np.ndarray:
    bvh = read_bvh(path)
    return bvh_positions(bvh)[:, [bvh.index(n) for n in _names(names)]] @ WORLD_TO_BVH


def _bvhio_world(path, names: str, frames) -> tuple[np.ndarray, list[int]]:
    """World positions of the joints (End Sites aside: bvhio's hierarchy leaves them out) from
    the independent reader, and the H36M indices they stand for."""
    bvhio = pytest.importorskip("bvhio")
    root = bvhio.readAsHierarchy(str(path))
    joints = {j.Name: j for j, _, _ in root.layout()}
    keep = [i for i, n in enumerate(_names(names)) if not n.endswith("_end")]
    out = []
    for f in frames:
        root.loadPose(int(f))
        out.append([np.array(joints[_names(names)[i]].PositionWorld, float) for i in keep])
    return np.array(out) @ WORLD_TO_BVH, keep


@pytest.mark.parametrize("rest", ["clip", "tpose"])
@pytest.mark.parametrize("names", ["h36m", "animator"])
def test_two_readers_reproduce_the_positions(mocap_clip, tmp_path, rest, names):
    poses = mocap_clip.h36m17_m[:400]
    path = write_bvh(tmp_path / "m.bvh", poses, 50.0, rest=rest, names=names)
    err_mm = np.linalg.norm(_fk_world(path, names) - poses, axis=-1) * 1000
    mean_tol, max_tol = TOLERANCE_MM[names]
    assert err_mm.mean() < mean_tol and err_mm.max() < max_tol
    assert err_mm[:, 0].max() < 1e-2  # the root is written exactly
    frames = [0, 137, 399]
    independent, keep = _bvhio_world(path, names, frames)
    assert len(keep) >= 16
    np.testing.assert_allclose(independent, poses[frames][:, keep], atol=max_tol / 1000)
    np.testing.assert_allclose(independent, _fk_world(path, names)[frames][:, keep], atol=2e-4)


def test_animator_names_and_hierarchy(mocap_clip, tmp_path):
    path = write_bvh(tmp_path / "a.bvh", mocap_clip.h36m17_m[:50], 50.0, rest="tpose", names="animator")
    bvh = read_bvh(path)
    parent = {n: (bvh.joint_names[p] if p >= 0 else None) for n, p in zip(bvh.joint_names, bvh.parents)}
    chains = [["Hips", "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftFoot_end"],
              ["Hips", "Spine", "Spine1", "Neck", "Head", "Head_end"],
              ["Spine1", "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand", "LeftHand_end"],
              ["Spine1", "RightShoulder", "RightArm", "RightForeArm", "RightHand"],
              ["Hips", "RightUpLeg", "RightLeg", "RightFoot"]]
    for chain in chains:
        for a, b in itertools.pairwise(chain):
            assert parent[b] == a
    assert len([n for n in bvh.joint_names if not n.endswith("_end")]) == 19
    # The inserted joints sit on their bones: Neck 20 % of the way from the thorax to the
    # neck/nose joint, each clavicle joint 30 % of the way to its shoulder.
    pos, lay = animator_skeleton(mocap_clip.h36m17_m[:5])
    h = {n: mocap_clip.h36m17_m[:5, H36M17.index(n)] for n in ("thorax", "neck_nose", "left_shoulder")}
    np.testing.assert_allclose(pos[:, lay.index("Neck")], h["thorax"] + 0.2 * (h["neck_nose"] - h["thorax"]))
    np.testing.assert_allclose(pos[:, lay.index("LeftShoulder")],
                               h["thorax"] + 0.3 * (h["left_shoulder"] - h["thorax"]))


@pytest.mark.parametrize("names", ["h36m", "animator"])
def test_tpose_rest(mocap_clip, tmp_path, names):
    """All channels zero is a T-pose facing +z: legs straight down, arms straight out, spine and
    head up; the feet's End Sites point forward like foot bones."""
    bvh = read_bvh(write_bvh(tmp_path / "t.bvh", mocap_clip.h36m17_m[:100], 50.0, rest="tpose", names=names))
    n = dict(zip(H36M17.joint_names, _names(names)))
    off = {name: bvh.offsets[i] / np.linalg.norm(bvh.offsets[i]) for i, name in enumerate(bvh.joint_names)
           if np.linalg.norm(bvh.offsets[i]) > 0}
    down, up, x = np.array([0, -1.0, 0]), np.array([0, 1.0, 0]), np.array([1.0, 0, 0])
    for side, sign in (("left", 1), ("right", -1)):
        np.testing.assert_allclose(off[n[f"{side}_knee"]], down, atol=1e-6)  # thigh
        np.testing.assert_allclose(off[n[f"{side}_foot"]], down, atol=1e-6)  # shin
        np.testing.assert_allclose(off[n[f"{side}_elbow"]], sign * x, atol=1e-6)  # upper arm
        np.testing.assert_allclose(off[n[f"{side}_wrist"]], sign * x, atol=1e-6)  # forearm
        np.testing.assert_allclose(off[n[f"{side}_foot"] + "_end"], [0, 0, 1.0], atol=1e-6)
        assert sign * off[n[f"{side}_hip"]][0] > 0.8 and sign * off[n[f"{side}_shoulder"]][0] > 0.5
    np.testing.assert_allclose(off[n["thorax"]], up, atol=1e-6)
    np.testing.assert_allclose(off[n["head"] if names == "h36m" else "Head_end"], up, atol=1e-6)
    assert off[n["spine"]][1] > 0.9


def test_one_bvh_per_person_over_their_span(two_people, tmp_path):
    seq = two_people
    out = write_exports(seq, export_paths(tmp_path / "clip.pose3d", "bvh"), people="all", bvh_rest="tpose",
                        bvh_names="animator")
    main, other = out["bvh"]
    assert other.name == "clip.pose3d.p4.bvh"
    assert read_bvh(main).num_frames == 240
    bvh4 = read_bvh(other)
    assert bvh4.num_frames == 200 and bvh4.fps == pytest.approx(50.0)  # frames 40..239
    back = _fk_world(other, "animator")
    present = seq.people_present[1, 40:]
    err_mm = np.linalg.norm(back[present] - seq.people_poses_3d_world[1, 40:][present], axis=-1) * 1000
    assert err_mm.mean() < TOLERANCE_MM["animator"][0]
    # Frames 150–169 (out of view) are interpolated: the root moves smoothly through the gap.
    root = back[:, 0]
    gap = root[150 - 40 - 1:170 - 40 + 1]
    steps = np.linalg.norm(np.diff(gap, axis=0), axis=-1)
    assert np.allclose(steps, steps[0], atol=1e-4)
