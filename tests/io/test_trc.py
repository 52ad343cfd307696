"""TRC export: read back by OpenSim's own reader (``opensim.TimeSeriesTableVec3``, where the
``opensim`` wheel is installed), by pandas, and by the project's reader."""

from __future__ import annotations

import numpy as np
import pytest

from pose3d_cli.errors import InputError
from pose3d_cli.io.exports import export_paths, write_exports
from pose3d_cli.io.trc import WORLD_TO_TRC, read_trc, write_trc
from pose3d_cli.skeleton import H36M17


@pytest.fixture(scope="module")
def trc_files(two_people, tmp_path_factory):
    out = write_exports(two_people, export_paths(tmp_path_factory.mktemp("trc") / "clip.pose3d", "trc"),
                        people="all")
    return out["trc"]


def test_opensim_reads_the_trc(two_people, trc_files):
    opensim = pytest.importorskip("opensim")
    seq = two_people
    main, other = trc_files
    assert (main.name, other.name) == ("clip.pose3d.trc", "clip.pose3d.p4.trc")
    table = opensim.TimeSeriesTableVec3(str(main))
    assert table.getNumRows() == 240 and table.getNumColumns() == 17
    assert list(table.getColumnLabels()) == list(H36M17.joint_names)
    assert table.getTableMetaDataAsString("Units") == "m"
    assert float(table.getTableMetaDataAsString("DataRate")) == pytest.approx(50.0)
    times = np.array(table.getIndependentColumn())
    np.testing.assert_allclose(times, (10 + np.arange(240)) / 50.0, atol=1e-6)  # video time
    row = table.getRowAtIndex(123)
    got = np.array([[row[j][0], row[j][1], row[j][2]] for j in range(17)])
    want = seq.people_poses_3d_world[0, 123] @ WORLD_TO_TRC.T
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert got[:, 1].min() > -0.05 and got[H36M17.index("head"), 1] > 1.3  # Y up, metres

    table4 = opensim.TimeSeriesTableVec3(str(other))
    assert table4.getNumRows() == 200  # person 4: first seen at frame 40, last at 239
    assert table4.getIndependentColumn()[0] == pytest.approx(50 / 50.0)
    gap = table4.getRowAtIndex(150 - 40)  # out of view: NaN markers
    assert all(np.isnan(gap[j][0]) for j in range(17))
    back = table4.getRowAtIndex(170 - 40)
    np.testing.assert_allclose([back[0][0], back[0][1], back[0][2]],
                               seq.people_poses_3d_world[1, 170, 0] @ WORLD_TO_TRC.T, atol=1e-5)


def test_pandas_and_own_reader(two_people, trc_files):
    pd = pytest.importorskip("pandas")
    seq = two_people
    main, other = trc_files
    header = pd.read_csv(main, sep="\t", skiprows=1, nrows=1)
    assert list(header.columns) == ["DataRate", "CameraRate", "NumFrames", "NumMarkers", "Units", "OrigDataRate",
                                    "OrigDataStartFrame", "OrigNumFrames"]
    assert header.iloc[0].to_dict() == {"DataRate": 50, "CameraRate": 50, "NumFrames": 240, "NumMarkers": 17,
                                        "Units": "m", "OrigDataRate": 50, "OrigDataStartFrame": 11,
                                        "OrigNumFrames": 240}
    rows = pd.read_csv(main, sep="\t", skiprows=6, header=None)
    assert rows.shape == (240, 2 + 17 * 3)
    assert rows[0].tolist() == list(range(11, 251))  # 1-based video frame numbers
    np.testing.assert_allclose(rows.iloc[:, 2:].to_numpy().reshape(240, 17, 3) @ WORLD_TO_TRC,
                               seq.people_poses_3d_world[0], atol=1e-5)

    data = read_trc(other)
    assert data.marker_names == H36M17.joint_names and data.data_rate == 50.0
    assert data.frame_numbers[0] == 51 and len(data.times_s) == 200
    world = data.world_positions_m()
    present = seq.people_present[1, 40:]
    assert np.isnan(world[~present]).all() and np.isfinite(world[present]).all()
    np.testing.assert_allclose(world[present], seq.people_poses_3d_world[1, 40:][present], atol=1e-5)


def test_bad_input(tmp_path):
    poses = np.zeros((3, 2, 3))
    with pytest.raises(InputError, match="shape"):
        write_trc(tmp_path / "a.trc", poses, 30.0, marker_names=["a"])
    with pytest.raises(InputError, match="marker names"):
        write_trc(tmp_path / "a.trc", poses, 30.0, marker_names=["a", "b c"])
    assert not (tmp_path / "a.trc").exists()
    bad = tmp_path / "bad.trc"
    bad.write_text("hello\n")
    with pytest.raises(InputError, match="bad.trc: not a TRC file"):
        read_trc(bad)
