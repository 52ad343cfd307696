"""`pose3d export`: a pose file into every format, each read back (pose file reader, JSON,
pandas for the CSVs, the BVH and TRC readers, the viewer's embedded data); the guards (an
output never replaces the input, existing outputs kept unless --overwrite) and --json."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from pose3d_cli.cli import main
from pose3d_cli.io.pose_file import PoseSequence, load_poses, save_poses
from pose3d_cli.skeleton import H36M17


@pytest.fixture(scope="module")
def pose_file(shared_dir, tmp_path_factory):
    """Two people of real captured motion, 200 frames at 50 fps from video frame 5: id 2 (main)
    throughout, id 9 in frames 30–199 with a gap at 100–119."""
    from pose3d_cli.training.mocap import load_mocap

    clip = load_mocap(shared_dir / "mocap" / "bvhtools_test3.bvh", max_seconds=12.0)
    t = 200
    world = np.stack([clip.h36m17_m[:t], clip.h36m17_m[250:250 + t] + [1.2, 0.8, 0.0]]).astype(np.float32)
    coco = np.stack([clip.coco17_m[:t], clip.coco17_m[250:250 + t] + [1.2, 0.8, 0.0]])
    kp = np.stack([960 + 900 * coco[..., 0] / (coco[..., 1] + 6), 540 - 900 * (coco[..., 2] - 1) / (coco[..., 1] + 6)],
                  -1).astype(np.float32)
    present = np.ones((2, t), bool)
    present[1, :30] = False
    present[1, 100:120] = False
    world[~present] = np.nan
    kp[~present] = np.nan
    seq = PoseSequence(person_ids=np.array([2, 9]), people_present=present, people_poses_3d_camera=world.copy(),
                       people_poses_3d_world=world, people_keypoints_px=kp,
                       people_keypoint_scores=np.where(present[..., None], 0.8, 0).astype(np.float32).repeat(17, -1),
                       people_filled_frames=np.zeros((2, t), bool), joint_names=H36M17.joint_names, layout="h36m17",
                       keypoint_layout="coco17", fps=50.0, width=1920, height=1080, start_frame=5,
                       checkpoint="pose3d-27f.mocap-coco")
    return save_poses(seq, tmp_path_factory.mktemp("poses") / "clip.pose3d.npz")


def test_export_all_round_trips_every_format(pose_file, tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    from pose3d_cli.geometry.angles import joint_angles
    from pose3d_cli.io.bvh import WORLD_TO_BVH, bvh_positions, read_bvh
    from pose3d_cli.io.trc import read_trc

    seq = load_poses(pose_file)
    out = tmp_path / "out"
    assert main(["export", str(pose_file), "--export", "all", "--out-dir", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["clip.pose3d.npz", "clip.pose3d.json", "clip.pose3d.csv", "clip.pose3d.bvh",
                            "clip.pose3d.p9.bvh", "clip.pose3d.trc", "clip.pose3d.p9.trc",
                            "clip.pose3d.angles.csv", "clip.pose3d.html"])  # no temporary files left
    assert "wrote" in capsys.readouterr().out

    again = load_poses(out / "clip.pose3d.npz")
    np.testing.assert_array_equal(again.people_poses_3d_world, seq.people_poses_3d_world)
    assert again.person_ids.tolist() == [2, 9] and again.start_frame == 5

    doc = json.loads((out / "clip.pose3d.json").read_text())
    p9 = doc["people"][1]
    assert p9["id"] == 9 and p9["first_frame"] == 30 and p9["poses_3d_world"][110] is None
    np.testing.assert_allclose(p9["poses_3d_world"][150], seq.people_poses_3d_world[1, 150], atol=6e-4)

    df = pd.read_csv(out / "clip.pose3d.csv")
    row = df[(df.person_id == 9) & (df.frame == 155) & (df.space == "world") & (df.joint == "left_wrist")]
    np.testing.assert_allclose(row[["x", "y", "z"]].to_numpy()[0], seq.people_poses_3d_world[1, 150, 13], atol=6e-5)
    assert not ((df.person_id == 9) & (df.frame == 5 + 110)).any()

    ang = pd.read_csv(out / "clip.pose3d.angles.csv")
    knee = ang[(ang.person_id == 2) & (ang.angle == "right_knee_flexion")].degrees.to_numpy()
    np.testing.assert_allclose(knee, joint_angles(seq.people_poses_3d_world[0])["right_knee_flexion"], atol=6e-3)

    for name, p, a in (("clip.pose3d.bvh", 0, 0), ("clip.pose3d.p9.bvh", 1, 30)):
        bvh = read_bvh(out / name)
        back = bvh_positions(bvh)[:, [bvh.index(n) for n in H36M17.joint_names]] @ WORLD_TO_BVH
        present = seq.people_present[p, a:]
        err = np.linalg.norm(back[present] - seq.people_poses_3d_world[p, a:][present], axis=-1)
        assert err.mean() < 0.012 and err.max() < 0.06

    trc = read_trc(out / "clip.pose3d.p9.trc")
    assert trc.frame_numbers[0] == 5 + 30 + 1 and trc.marker_names == H36M17.joint_names
    np.testing.assert_allclose(trc.world_positions_m()[150 - 30], seq.people_poses_3d_world[1, 150], atol=1e-5)

    page = (out / "clip.pose3d.html").read_text()
    data = json.loads(re.search(r'id="pose3d-data">(.*?)</script>', page, re.DOTALL).group(1))
    main_p = data["people"][0]
    raw = np.frombuffer(base64.b64decode(main_p["data"]), "<i2").reshape(-1, 17, 3) * data["unit_m"]
    from pose3d_cli.geometry.display import arrange_people
    from pose3d_cli.io.html_viewer import CAMERA_AZIMUTH_DEG

    # no trajectory in this file: the viewer shows the people side by side, as the render does
    shown = arrange_people(seq.people_poses_3d_world, seq.people_keypoints_px, CAMERA_AZIMUTH_DEG)
    np.testing.assert_allclose(raw, shown[0], atol=5.1e-4)


def test_guards_and_overwrite(pose_file, tmp_path, capsys):
    before = pose_file.read_bytes()
    # Beside the input, the pose-file output would be the input itself: refused, nothing written.
    assert main(["export", str(pose_file), "--export", "bvh,npz"]) == 2
    assert "would replace the input" in capsys.readouterr().err
    assert pose_file.read_bytes() == before and not pose_file.with_name("clip.pose3d.bvh").exists()
    # A link to the input counts as the input.
    link_dir = tmp_path / "links"
    link_dir.mkdir()
    (link_dir / "clip.pose3d.npz").symlink_to(pose_file)
    assert main(["export", str(pose_file), "--export", "npz", "--out-dir", str(link_dir), "--overwrite"]) == 2
    assert pose_file.read_bytes() == before

    out = tmp_path / "o"
    assert main(["export", str(pose_file), "--export", "trc,angles", "--out-dir", str(out), "--quiet"]) == 0
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    code = main(["export", str(pose_file), "--export", "trc,angles", "--out-dir", str(out)])
    assert code != 0 and "exists; pass --overwrite" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamp
    assert main(["export", str(pose_file), "--export", "trc,angles", "--out-dir", str(out), "--overwrite",
                 "--quiet"]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} != stamp

    assert main(["export", str(pose_file), "--export", "fbx", "--out-dir", str(out)]) == 2
    assert "--export 'fbx'" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing.npz"), "--export", "bvh"]) == 2
    assert "no such pose file" in capsys.readouterr().err
    assert main(["export", str(pose_file), "--export", "bvh", "--person", "7", "--out-dir", str(out)]) == 2
    assert "no person with id 7" in capsys.readouterr().err


def test_person_smooth_and_json(pose_file, tmp_path, capsys):
    out = tmp_path / "p"
    code = main(["export", str(pose_file), "--export", "npz,bvh", "--out-dir", str(out), "--person", "9",
                 "--smooth", "butterworth:4", "--bvh-rest", "tpose", "--bvh-names", "animator", "--json"])
    assert code == 0
    stdout = capsys.readouterr().out
    assert stdout.count("\n") == 1
    rec = json.loads(stdout)
    assert rec["outputs"] == {"npz": str(out / "clip.pose3d.npz"), "bvh": str(out / "clip.pose3d.p9.bvh")}
    assert rec["people"] == [9] and rec["frames"] == 200 and rec["smooth"].startswith("butterworth 4 Hz")
    sm = load_poses(out / "clip.pose3d.npz")
    src = load_poses(pose_file)
    assert sm.person_ids.tolist() == [9]
    a, b = sm.people_poses_3d_world[0], src.people_poses_3d_world[1]
    assert np.array_equal(np.isnan(a), np.isnan(b))
    ok = sm.people_present[0]
    jerk = lambda x: np.abs(np.diff(x[130:200], 2, axis=0)).mean()
    assert 0 < np.abs(a[ok] - b[ok]).max() < 0.05 and jerk(a) < jerk(b)
    from pose3d_cli.io.bvh import read_bvh

    assert read_bvh(out / "clip.pose3d.p9.bvh").joint_names[:4] == ("Hips", "LeftUpLeg", "LeftLeg", "LeftFoot")
