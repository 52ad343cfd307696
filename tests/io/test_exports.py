"""The export registry (write_exports), JSON and CSV (read back with pandas), the angles CSV,
and BVH exports checked by forward kinematics on the written file (read back with
``io/bvh.py``'s reader; ``test_bvh_export.py`` adds an independent reader)."""

import json

import numpy as np
import pytest

from pose3d_cli.errors import InputError
from pose3d_cli.geometry.rotations import matrix_to_euler_zxy
from pose3d_cli.io.bvh import (
    WORLD_TO_BVH,
    bvh_positions,
    read_bvh,
    solve_bvh,
    write_bvh,
)
from pose3d_cli.io.exports import (
    EXPORT_FORMATS,
    export_paths,
    fill_gaps,
    parse_exports,
    parse_people,
    person_path,
    person_span,
    select_people,
    write_csv,
    write_exports,
    write_json,
)
from pose3d_cli.skeleton import H36M17


def _rot(axis, a):
    c, s = np.cos(a), np.sin(a)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    m = np.eye(3)
    m[i, i] = m[j, j] = c
    m[i, j], m[j, i] = -s, s
    return m


def _walk(t=120, fps=50.0):
    """A rigid-bone walk: legs and arms swing, the pelvis turns and moves forward."""
    base = np.array([[0, 0, .95], [-.12, 0, .95], [-.12, 0, .5], [-.12, 0, .05], [.12, 0, .95], [.12, 0, .5],
                     [.12, 0, .05], [0, 0, 1.2], [0, 0, 1.45], [0, -.05, 1.55], [0, 0, 1.7], [.17, 0, 1.45],
                     [.17, 0, 1.15], [.17, 0, .9], [-.17, 0, 1.45], [-.17, 0, 1.15], [-.17, 0, .9]])
    time_s = np.arange(t) / fps
    out = np.zeros((t, 17, 3))
    for k, ts in enumerate(time_s):
        p = base.copy()
        limbs = ((1, 2, 3, 11, 12, 13, 0.0), (4, 5, 6, 14, 15, 16, np.pi))
        for hip, knee, foot, arm_top, arm_mid, arm_end, ph in limbs:
            r = _rot(0, 0.5 * np.sin(2 * np.pi * ts + ph))
            bend = _rot(0, -0.4 * max(0.0, np.sin(2 * np.pi * ts + ph)))
            p[knee] = p[hip] + r @ (base[knee] - base[hip])
            p[foot] = p[knee] + r @ bend @ (base[foot] - base[knee])
            ra = _rot(0, -0.3 * np.sin(2 * np.pi * ts + ph))
            p[arm_mid] = p[arm_top] + ra @ (base[arm_mid] - base[arm_top])
            p[arm_end] = p[arm_mid] + ra @ (base[arm_end] - base[arm_mid])
        turn = _rot(2, 0.3 * np.sin(np.pi * ts))
        out[k] = (p - [0, 0, .95]) @ turn.T + [0, 1.2 * ts, .95]
    return out


def _read_back(path):
    bvh = read_bvh(path)
    pos = bvh_positions(bvh)[:, [bvh.index(n) for n in H36M17.joint_names]]
    return bvh, pos @ WORLD_TO_BVH  # BVH axes -> world (z up)


def test_parse_exports():
    assert parse_exports("npz, JSON,bvh,npz") == ("npz", "json", "bvh")
    assert parse_exports(["csv"]) == ("csv",)
    assert parse_exports("all") == EXPORT_FORMATS == ("npz", "json", "csv", "bvh", "trc", "angles", "html")
    assert parse_exports("bvh,all") == ("bvh", "npz", "json", "csv", "trc", "angles", "html")
    with pytest.raises(InputError, match="--export 'fbx'"):
        parse_exports("npz,fbx")


def test_paths_and_people_selection(tmp_path):
    paths = export_paths(tmp_path / "clip.pose3d", "angles,trc,html")
    assert [p.name for p in paths.values()] == ["clip.pose3d.angles.csv", "clip.pose3d.trc", "clip.pose3d.html"]
    assert person_path(tmp_path / "clip.pose3d.bvh", 3).name == "clip.pose3d.p3.bvh"
    assert parse_people(None) is None and parse_people("Main") == "main" and parse_people("all") == "all"
    assert parse_people("4, 1,4") == (4, 1) and parse_people([2]) == (2,)
    for bad in ("first", "1,x", ""):
        with pytest.raises(InputError, match="--person"):
            parse_people(bad)
    assert person_span(np.array([0, 0, 1, 0, 1, 0], bool)) == (2, 5) and person_span(np.zeros(3, bool)) is None
    poses = np.arange(5 * 2 * 3, dtype=float).reshape(5, 2, 3)
    present = np.array([0, 1, 0, 0, 1], bool)
    filled = fill_gaps(np.where(present[:, None, None], poses, np.nan), present)
    np.testing.assert_allclose(filled[2], poses[1] + (poses[4] - poses[1]) / 3)  # linear between present frames
    np.testing.assert_allclose(filled[0], poses[1])  # held before the first


def test_select_people(two_people):
    seq = two_people
    only4 = select_people(seq, [4])
    assert only4.person_ids.tolist() == [4] and only4.main_person == 0
    np.testing.assert_array_equal(only4.people_present[0], seq.people_present[1])
    assert select_people(seq, "main").person_ids.tolist() == [1]
    assert select_people(seq, "all") is seq and select_people(seq, None) is seq
    both = select_people(seq, [4, 1])
    assert both.person_ids.tolist() == [4, 1] and both.main_person == 1  # id 1 stays main
    with pytest.raises(InputError, match="no person with id 9"):
        select_people(seq, [9])


def test_euler_zxy_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(50):
        z, x, y = rng.uniform(-np.pi, np.pi), rng.uniform(-1.5, 1.5), rng.uniform(-np.pi, np.pi)
        m = _rot(2, z) @ _rot(0, x) @ _rot(1, y)
        np.testing.assert_allclose(np.radians(matrix_to_euler_zxy(m)), [z, x, y], atol=1e-9)


def test_bvh_round_trip_is_exact_for_rigid_bones(tmp_path):
    poses = _walk()
    path = write_bvh(tmp_path / "walk.bvh", poses, 50.0)
    bvh, back = _read_back(path)
    assert bvh.num_frames == len(poses) and bvh.fps == pytest.approx(50.0)
    np.testing.assert_allclose(back, poses, atol=1e-4)


def test_bvh_round_trip_on_real_mocap(shared_dir, tmp_path):
    """Real captured walking (retargeted to H36M-17): the constant-bone skeleton reproduces it
    to millimetres on average; the thorax's three children are a least-squares fit."""
    from pose3d_cli.training.mocap import load_mocap

    poses = load_mocap(shared_dir / "mocap" / "bvhtools_test.bvh").h36m17_m[:600]
    path = write_bvh(tmp_path / "mocap.bvh", poses, 50.0)
    _, back = _read_back(path)
    err = np.linalg.norm(back - poses, axis=-1)
    assert err.mean() < 0.015 and err.max() < 0.08
    assert err[:, 0].max() < 1e-5  # the root is written exactly


def test_bvh_has_constant_bone_lengths_at_the_median(tmp_path):
    rng = np.random.default_rng(1)
    poses = _walk()
    noisy = poses + rng.normal(0, 0.01, poses.shape)  # bone lengths wobble like a model's output
    sol = solve_bvh(noisy)
    lengths = np.linalg.norm(sol.offsets_m, axis=1)
    par = np.array(H36M17.parents)
    raw = np.linalg.norm(noisy[:, 1:] - noisy[:, par[1:]], axis=-1)
    np.testing.assert_allclose(lengths[1:], np.median(raw, axis=0), rtol=1e-9)
    _, back = _read_back(write_bvh(tmp_path / "n.bvh", noisy, 50.0))
    got = np.linalg.norm(back[:, 1:] - back[:, par[1:]], axis=-1)
    np.testing.assert_allclose(got, np.broadcast_to(lengths[1:], got.shape), atol=1e-4)


def test_bvh_rest_pose_is_upright_facing_z(tmp_path):
    sol = solve_bvh(_walk())
    up = H36M17.index("spine"), H36M17.index("right_knee"), H36M17.index("left_hip")
    assert sol.offsets_m[up[0], 1] > 0.2  # spine goes up (+y in BVH)
    assert sol.offsets_m[up[1], 1] < -0.3  # thigh goes down
    assert sol.offsets_m[up[2], 0] > 0.1  # left hip is on +x


def test_bvh_rejects_nan(tmp_path):
    poses = _walk(10)
    poses[3, 4] = np.nan
    with pytest.raises(InputError, match="NaN"):
        write_bvh(tmp_path / "x.bvh", poses, 50.0)
    assert not (tmp_path / "x.bvh").exists()


def test_json_v2_carries_every_person(two_people, tmp_path):
    seq = two_people
    doc = json.loads(write_json(tmp_path / "p.json", seq).read_text())
    assert doc["format"] == "pose3d-web" and doc["format_version"] == 2
    assert doc["num_frames"] == 240 and doc["fps"] == 50.0 and doc["start_frame"] == 10
    assert doc["model"] == "pose3d-27f.mocap-coco" and doc["keypoint_layout"] == "coco17"
    assert doc["joint_names"] == list(H36M17.joint_names) and len(doc["keypoint_names"]) == 17
    np.testing.assert_allclose(doc["time_s"], (10 + np.arange(240)) / 50.0)
    assert [p["id"] for p in doc["people"]] == [1, 4] and doc["main_person_id"] == 1
    p1, p4 = doc["people"]
    assert (p4["first_frame"], p4["last_frame"]) == (40, 239)
    assert p4["poses_3d_world"][0] is None and p4["poses_3d_world"][160] is None
    assert p4["keypoints_px"][150] is None and p4["keypoint_scores"][169] is None
    got = np.array(p4["poses_3d_world"][40:150], float)
    np.testing.assert_allclose(got, seq.people_poses_3d_world[1, 40:150], atol=6e-4)
    np.testing.assert_allclose(np.array(p1["keypoints_px"]), seq.people_keypoints_px[0], atol=0.06)
    np.testing.assert_allclose(np.array(p1["keypoint_scores"]), 0.9, atol=1e-3)
    assert p1["filled"][100:104] == [True, True, True, False] and not any(p4["filled"])
    assert doc["frames"] == p1["poses_3d_world"]  # the version-1 name holds the main person


def test_csv_is_tidy_for_pandas(two_people, tmp_path):
    pd = pytest.importorskip("pandas")
    seq = two_people
    df = pd.read_csv(write_csv(tmp_path / "p.csv", seq))
    assert list(df.columns) == ["person_id", "frame", "time_s", "space", "joint", "x", "y", "z", "score",
                                "filled", "model"]
    assert len(df) == int(seq.people_present.sum()) * (17 + 17)
    assert not df.duplicated(["person_id", "frame", "space", "joint"]).any()
    world = df[df.space == "world"].set_index(["person_id", "frame", "joint"])
    image = df[df.space == "image"].set_index(["person_id", "frame", "joint"])
    assert world.score.isna().all() and image.z.isna().all()
    frames4 = sorted(set(world.xs(4, level="person_id").index.get_level_values("frame")))
    assert frames4 == [10 + t for t in range(240) if seq.people_present[1, t]]
    r = world.loc[(4, 10 + 60, "head")]
    np.testing.assert_allclose(r[["x", "y", "z"]].to_numpy(float), seq.people_poses_3d_world[1, 60, 10], atol=6e-5)
    assert r.time_s == pytest.approx(70 / 50.0)
    k = image.loc[(1, 10 + 5, "left_wrist")]
    np.testing.assert_allclose(k[["x", "y"]].to_numpy(float), seq.people_keypoints_px[0, 5, 9], atol=0.06)
    assert k.score == pytest.approx(0.9)
    assert world.xs(1, level="person_id").filled.groupby(level="frame").first().loc[110:112].tolist() == [1, 1, 1]
    assert set(df.model) == {"pose3d-27f.mocap-coco"}


def test_angles_csv_matches_the_angle_functions(two_people, tmp_path):
    pd = pytest.importorskip("pandas")
    from pose3d_cli.geometry.angles import ANGLE_NAMES, joint_angles

    seq = two_people
    out = write_exports(seq, export_paths(tmp_path / "c", "angles"))
    df = pd.read_csv(out["angles"])
    assert list(df.columns) == ["person_id", "frame", "time_s", "angle", "degrees"]
    assert len(df) == int(seq.people_present.sum()) * len(ANGLE_NAMES)
    table = df.pivot_table(index=["person_id", "frame"], columns="angle", values="degrees")
    ref = joint_angles(seq.people_poses_3d_world[1, 40:150])
    for name in ANGLE_NAMES:
        np.testing.assert_allclose(table.loc[4][name].loc[50:159].to_numpy(), ref[name], atol=6e-3)
    # Real walking: knees bend through a walking range, the trunk stays near upright.
    knee = table["left_knee_flexion"]
    assert 0 <= knee.min() < 15 and 35 < knee.max() < 90
    assert table["trunk_lean"].median() < 15


def test_write_exports_per_person_files_and_guards(two_people, tmp_path):
    seq = two_people
    paths = export_paths(tmp_path / "clip.pose3d", "all")
    out = write_exports(seq, paths)  # default: every person in shared files, BVH/TRC for the main one
    assert set(out) == set(EXPORT_FORMATS)
    assert out["bvh"] == paths["bvh"] and out["trc"] == paths["trc"]
    assert not (tmp_path / "clip.pose3d.p4.bvh").exists()
    from pose3d_cli.errors import OutputExistsError
    from pose3d_cli.io.pose_file import load_poses

    assert load_poses(out["npz"]).person_ids.tolist() == [1, 4]
    before = {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        write_exports(seq, paths, people="all")  # the new p4 files would be fine, the old ones exist
    assert not (tmp_path / "clip.pose3d.p4.trc").exists()  # nothing was written
    assert {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before
    out = write_exports(seq, paths, ["bvh", "trc"], people="all", overwrite=True)
    assert out["bvh"] == [paths["bvh"], tmp_path / "clip.pose3d.p4.bvh"]
    assert out["trc"] == [paths["trc"], tmp_path / "clip.pose3d.p4.trc"]
    # One person who is not the main one: the file names say whose it is.
    only = write_exports(seq, export_paths(tmp_path / "x", "bvh,npz"), people=[4])
    assert only["bvh"] == tmp_path / "x.p4.bvh"
    assert load_poses(only["npz"]).person_ids.tolist() == [4]
    # An output may never be an input, whatever overwrite says.
    with pytest.raises(InputError, match="would replace the input"):
        write_exports(seq, {"npz": paths["npz"]}, overwrite=True, protect=[tmp_path / "." / "clip.pose3d.npz"])
    with pytest.raises(InputError, match="both --export json and csv"):
        write_exports(seq, {"json": tmp_path / "same.txt", "csv": tmp_path / "same.txt"})
    with pytest.raises(InputError, match="no output path given for --export trc"):
        write_exports(seq, {"bvh": tmp_path / "a.bvh"}, ["trc"])


def test_exports_refuse_to_clobber(two_people, tmp_path):
    from pose3d_cli.errors import OutputExistsError

    p = tmp_path / "p.json"
    p.write_text("mine")
    with pytest.raises(OutputExistsError):
        write_json(p, two_people, overwrite=False)
    assert p.read_text() == "mine"
