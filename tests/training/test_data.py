"""Generated datasets in the paper's formats and their loaders, on the real captures in
``../shared/mocap`` (a small dataset is generated once per module, in about a second)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from pose3d_cli.errors import InputError, OutputExistsError
from pose3d_cli.geometry.camera import camera_to_world, image_coordinates, project_to_2d
from pose3d_cli.geometry.h36m import h36m_cameras
from pose3d_cli.skeleton import COCO17, H36M17, H36M32_KEPT
from pose3d_cli.training.data import (
    load_dataset_3d,
    load_detections_2d,
    load_npz_safe,
    prepare_sequences,
)
from pose3d_cli.training.synth import (
    SUBJECTS,
    TEST_SUBJECTS,
    NoiseModel,
    build_mocap_dataset,
    generate_mocap_files,
    h36m17_to_h36m32,
    write_dataset,
)


@pytest.fixture(scope="module")
def bvh_files(shared_dir) -> list[Path]:
    return sorted((shared_dir / "mocap").glob("*.bvh"))


@pytest.fixture(scope="module")
def small(bvh_files, tmp_path_factory) -> dict[str, Path]:
    return generate_mocap_files(bvh_files, tmp_path_factory.mktemp("ds"), "mocap", seed=0,
                                max_seconds=40)


def test_files_follow_the_paper_layout(small):
    # Read as the paper's code does (plain numpy with pickles) to check compatibility.
    raw3 = np.load(small["3d"], allow_pickle=True)["positions_3d"].item()
    assert sorted(raw3) == sorted(SUBJECTS)
    for subject, actions in raw3.items():
        assert actions, subject
        for action, pos in actions.items():
            assert action.split(" ")[0] in ("Walking", "InPlace") and action.split(" ")[1].isdigit()
            assert pos.dtype == np.float32 and pos.ndim == 3 and pos.shape[1:] == (32, 3)
    for kind, layout in (("gt", "h36m"), ("det", "coco")):
        f = np.load(small[kind], allow_pickle=True)
        meta = f["metadata"].item()
        assert meta["layout_name"] == layout and meta["num_joints"] == 17
        lay = COCO17 if layout == "coco" else H36M17
        assert meta["keypoints_symmetry"] == [list(lay.left), list(lay.right)]
        pos2 = f["positions_2d"].item()
        for subject, actions in raw3.items():
            for action, pos in actions.items():
                views = pos2[subject][action]
                assert len(views) == 4
                for v in views:
                    assert v.shape == (pos.shape[0], 17, 2) and v.dtype == np.float32


def test_person_in_view_of_all_cameras(small):
    det = load_detections_2d(small["det"])
    for subject, actions in det.positions_2d.items():
        for views in actions.values():
            for ci, kp in enumerate(views):
                cam = h36m_cameras(subject)[ci].intrinsics
                assert kp[..., 0].min() > -20 and kp[..., 0].max() < cam.width + 20
                assert kp[..., 1].min() > -20 and kp[..., 1].max() < cam.height + 20


def test_32_to_17_selection_and_fill():
    rng = np.random.default_rng(0)
    p17 = rng.normal(size=(5, 17, 3))
    toes = rng.normal(size=(5, 2, 3))
    p32 = h36m17_to_h36m32(p17, toes)
    np.testing.assert_array_equal(p32[:, list(H36M32_KEPT)], p17)
    np.testing.assert_array_equal(p32[:, 16], p17[:, 8])  # left shoulder anchor = thorax
    np.testing.assert_array_equal(p32[:, 4], toes[:, 1])  # right toe


def test_gt_2d_is_the_projection_of_the_3d_and_round_trips(small):
    pairs = prepare_sequences(small["3d"], small["gt"], ["S9"])
    poses = load_dataset_3d(small["3d"])
    assert len(pairs) == 4 * len(poses["S9"])
    for p in pairs[:8]:
        assert p.pose_cam_m.shape == (p.num_frames, 17, 3) and p.traj_cam_m.shape == (p.num_frames, 1, 3)
        assert np.all(p.pose_cam_m[:, 0] == 0)
        # camera → pixels equals the stored ground-truth 2D.
        norm = project_to_2d(p.pose_cam_m + p.traj_cam_m, np.broadcast_to(p.intrinsics, (p.num_frames, 9)))
        np.testing.assert_allclose(norm, p.kpts_norm, atol=2e-5)
        # camera → world gives back the 17 kept joints of the 32-joint file.
        cam = h36m_cameras(p.subject)[p.camera]
        world = camera_to_world(p.pose_cam_m + p.traj_cam_m, np.asarray(cam.orientation, np.float32),
                                np.asarray(cam.translation_m, np.float32))
        np.testing.assert_allclose(world, poses[p.subject][p.action][:, list(H36M32_KEPT)], atol=1e-5)
        assert (p.traj_cam_m[..., 2] > 2.0).all()  # several metres in front of the camera
        # intrinsics normalised as the paper does: f·2/w and c as a normalised point.
        intr = cam.intrinsics
        np.testing.assert_allclose(p.intrinsics[:2], np.array(intr.focal_px) * 2 / intr.width, rtol=1e-6)
        np.testing.assert_allclose(image_coordinates(p.intrinsics[2:4], intr.width, intr.height),
                                   intr.center_px, atol=1e-3)


def test_detector_noise_is_detector_like(small):
    gt = prepare_sequences(small["3d"], small["gt"], list(TEST_SUBJECTS))
    det = prepare_sequences(small["3d"], small["det"], list(TEST_SUBJECTS))
    coco = [COCO17.index(n) for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip",
                                      "left_knee", "right_knee", "left_ankle", "right_ankle")]
    h36m = [H36M17.index(n) for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip",
                                      "left_knee", "right_knee", "left_foot", "right_foot")]
    err_px = np.concatenate([np.linalg.norm(d.kpts_norm[:, coco] - g.kpts_norm[:, h36m], axis=-1).ravel()
                             * d.res_w / 2 for d, g in zip(det, gt)])
    assert 3.0 < np.median(err_px) < 15.0  # a few pixels on ~400-px people, like CPN/Detectron
    assert np.percentile(err_px, 99.9) > 3 * np.median(err_px)  # heavy tail: outliers, swaps
    # temporally correlated: the error in one frame predicts the next (white noise would not)
    d, g = det[0], gt[0]
    err_x = (d.kpts_norm[:, coco] - g.kpts_norm[:, h36m])[..., 0]  # (T, 8)
    assert np.corrcoef(err_x[:-1].ravel(), err_x[1:].ravel())[0, 1] > 0.3


def test_noise_model_pieces():
    rng = np.random.default_rng(0)
    clean = np.tile(rng.uniform(300, 700, size=(1, 17, 2)), (2000, 1, 1))
    off = NoiseModel(white=0, correlated=0, joint_outlier_p=0, frame_outlier_p=0, swap_p=0)
    np.testing.assert_allclose(off.apply(clean, rng), clean)
    swaps = NoiseModel(white=0, correlated=0, joint_outlier_p=0, frame_outlier_p=0, swap_p=0.05)
    out = swaps.apply(clean, np.random.default_rng(1))
    swapped = np.any(out != clean, axis=(1, 2))
    assert 0.02 < swapped.mean() < 0.5
    # a swap exchanges left and right ankles exactly
    f = np.flatnonzero(swapped)[0]
    np.testing.assert_array_equal(out[f, 15], clean[f, 16])
    with pytest.raises(ValueError):
        NoiseModel().apply(np.zeros((3, 15, 2)), rng)


def test_generation_is_reproducible_and_seeded(bvh_files, tmp_path):
    a = build_mocap_dataset(bvh_files[2:], seed=3, max_seconds=25)
    b = build_mocap_dataset(bvh_files[2:], seed=3, max_seconds=25)
    c = build_mocap_dataset(bvh_files[2:], seed=4, max_seconds=25)
    s, act = "S1", next(iter(a.positions_3d["S1"]))
    np.testing.assert_array_equal(a.positions_2d_det[s][act][1], b.positions_2d_det[s][act][1])
    np.testing.assert_array_equal(a.positions_3d[s][act], b.positions_3d[s][act])
    assert not np.array_equal(a.positions_2d_det[s][act][1], c.positions_2d_det[s][act][1])
    none = build_mocap_dataset(bvh_files[2:], seed=3, max_seconds=25, noise=None)
    # Without noise the COCO limbs project exactly where the H36M ones do.
    np.testing.assert_allclose(none.positions_2d_det[s][act][0][:, COCO17.index("left_knee")],
                               none.positions_2d_gt[s][act][0][:, H36M17.index("left_knee")], atol=1e-3)
    paths = write_dataset(a, tmp_path, "x")
    with pytest.raises(OutputExistsError):
        write_dataset(a, tmp_path, "x")
    assert all(p.is_file() for p in paths.values())


def test_prepare_options(small):
    full = prepare_sequences(small["3d"], small["det"], ["S1", "S5"])
    down = prepare_sequences(small["3d"], small["det"], ["S1", "S5"], downsample=2)
    assert [p.num_frames for p in down] == [(p.num_frames + 1) // 2 for p in full]
    np.testing.assert_array_equal(down[0].kpts_norm, full[0].kpts_norm[::2])
    assert down[0].fps == 25.0 and full[0].fps == 50.0
    sub = prepare_sequences(small["3d"], small["det"], ["S1", "S5"], subset=0.25, seed=1)
    sub2 = prepare_sequences(small["3d"], small["det"], ["S1", "S5"], subset=0.25, seed=1)
    assert [p.num_frames for p in sub] == [round(p.num_frames * 0.25) for p in full]
    for a, b in zip(sub, sub2):
        np.testing.assert_array_equal(a.kpts_norm, b.kpts_norm)
    # the subset chunk is a contiguous piece of the full sequence, the same for every camera
    starts = []
    for f, sp in zip(full[:4], sub[:4]):  # the four cameras of the first action
        assert (f.action, f.camera) == (sp.action, sp.camera)
        start = next(i for i in range(f.num_frames) if np.array_equal(f.kpts_norm[i], sp.kpts_norm[0]))
        np.testing.assert_array_equal(f.kpts_norm[start:start + sp.num_frames], sp.kpts_norm)
        starts.append(start)
    assert len(set(starts)) == 1 and {p.camera for p in sub[:4]} == {0, 1, 2, 3}
    cams = prepare_sequences(small["3d"], small["det"], ["S1"], cameras=[0, 2])
    assert {p.camera for p in cams} == {0, 2}
    first = min(p.action for p in full if p.subject == "S1")
    only = prepare_sequences(small["3d"], small["det"], ["S1"], actions=[first.split(" ")[0]])
    assert {p.action.split(" ")[0] for p in only} == {first.split(" ")[0]}


def test_longer_2d_is_trimmed_and_shorter_is_an_error(small, tmp_path):
    pos3 = load_dataset_3d(small["3d"])
    raw = np.load(small["gt"], allow_pickle=True)
    pos2 = raw["positions_2d"].item()
    meta = raw["metadata"].item()
    act = next(iter(pos3["S1"]))
    pos2["S1"][act] = [np.concatenate([v, v[-3:]]) for v in pos2["S1"][act]]
    longer = tmp_path / "longer.npz"
    np.savez_compressed(longer, positions_2d=pos2, metadata=meta)
    pairs = prepare_sequences(small["3d"], longer, ["S1"], actions=[act])
    assert all(p.num_frames == pos3["S1"][act].shape[0] for p in pairs)
    pos2["S1"][act] = [v[:-10] for v in pos2["S1"][act]]
    shorter = tmp_path / "shorter.npz"
    np.savez_compressed(shorter, positions_2d=pos2, metadata=meta)
    with pytest.raises(InputError, match="shorter.npz.*2D frames"):
        prepare_sequences(small["3d"], shorter, ["S1"], actions=[act])


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_loader_refuses_code_in_pickles_and_bad_files(tmp_path, small):
    evil = tmp_path / "evil.npz"
    np.savez(evil, positions_3d=np.array({"S1": _Evil()}, dtype=object))
    with pytest.raises(InputError, match="evil.npz.*could run code"):
        load_npz_safe(evil)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="junk.npz"):
        load_dataset_3d(junk)
    with pytest.raises(InputError, match="not found"):
        load_dataset_3d(tmp_path / "missing.npz")
    with pytest.raises(InputError, match="positions_3d"):
        load_dataset_3d(small["gt"])
    with pytest.raises(InputError, match="no subject 'S2'"):
        prepare_sequences(small["3d"], small["gt"], ["S2"])
    with zipfile.ZipFile(small["3d"]) as zf:
        assert zf.namelist() == ["positions_3d.npy"]


def test_humaneva_shaped_files_with_given_cameras(tmp_path):
    """HumanEva-I layout (15 joints, 3 cameras, 60 Hz); its calibration is not built in, so the
    cameras are passed in (here two made-up pinhole cameras looking at the origin)."""
    from pose3d_cli.geometry.camera import Camera, CameraIntrinsics

    rng = np.random.default_rng(0)
    world = (rng.normal(scale=0.3, size=(40, 15, 3)) + [0, 0, 1]).astype(np.float32)
    # camera-to-world: camera z (forward) along world +y, camera y (down) along world −z
    q = np.array([np.sqrt(0.5), -np.sqrt(0.5), 0, 0])
    intr = CameraIntrinsics(center_px=(320.0, 240.0), focal_px=(500.0, 500.0), width=640, height=480)
    cams = [Camera(intr, tuple(q), (0.0, -4.0, 1.0)), Camera(intr, tuple(q), (0.5, -5.0, 1.0))]
    kp = [cam.project_px(np.asarray(cam.world_to_camera(world))).astype(np.float32) for cam in cams]
    np.savez(tmp_path / "data_3d_humaneva15.npz", positions_3d={"Train/S1": {"Walk 1 chunk0": world}})
    np.savez(tmp_path / "data_2d_humaneva15_gt.npz", positions_2d={"Train/S1": {"Walk 1 chunk0": kp}},
             metadata={"layout_name": "humaneva15", "num_joints": 15,
                       "keypoints_symmetry": [[2, 3, 4, 8, 9, 10], [5, 6, 7, 11, 12, 13]]})
    pairs = prepare_sequences(tmp_path / "data_3d_humaneva15.npz", tmp_path / "data_2d_humaneva15_gt.npz",
                              ["Train/S1"], camera_params={"Train/S1": cams})
    assert len(pairs) == 2 and pairs[0].fps == 60.0
    assert pairs[0].pose_cam_m.shape == (40, 15, 3) and np.all(pairs[0].pose_cam_m[:, 0] == 0)
    norm = project_to_2d(pairs[1].pose_cam_m + pairs[1].traj_cam_m, np.broadcast_to(pairs[1].intrinsics, (40, 9)))
    np.testing.assert_allclose(norm, pairs[1].kpts_norm, atol=1e-5)
    det = load_detections_2d(tmp_path / "data_2d_humaneva15_gt.npz")
    assert det.layout_name == "humaneva15" and det.keypoints_left == (2, 3, 4, 8, 9, 10)
    with pytest.raises(InputError, match="Train/S1"):
        prepare_sequences(tmp_path / "data_3d_humaneva15.npz", tmp_path / "data_2d_humaneva15_gt.npz",
                          ["Train/S1"])
