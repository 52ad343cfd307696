"""Converting original Human3.6M pose files (.cdf as distributed, .h5 as in h36m.zip).

Human3.6M cannot be downloaded here, so the source files are written by the test in the real
formats (with the real cdflib / h5py writers) from retargeted real motion capture, in
millimetres and with the original folder layout and file names."""

from __future__ import annotations

import numpy as np
import pytest

from pose3d_cli.errors import InputError
from pose3d_cli.skeleton import H36M32_KEPT
from pose3d_cli.training.data import load_dataset_3d, prepare_sequences
from pose3d_cli.training.h36m_source import (
    canonical_action,
    convert_h36m,
    detect_format,
)
from pose3d_cli.training.mocap import load_mocap
from pose3d_cli.training.synth import h36m17_to_h36m32


@pytest.fixture(scope="module")
def poses_mm(shared_dir) -> dict[str, np.ndarray]:
    clip = load_mocap(shared_dir / "mocap" / "bvhtools_test3.bvh", max_seconds=6)
    p32 = h36m17_to_h36m32(clip.h36m17_m, clip.toes_m) * 1000.0
    return {"Walking 1": p32[:150], "TakingPhoto": p32[150:], "Walking_ALL": p32}


def _write_cdf(root, poses_mm):
    from cdflib.cdfwrite import CDF

    for subject in ("S1", "S9"):
        folder = root / subject / "MyPoseFeatures" / "D3_Positions"
        folder.mkdir(parents=True)
        for action, p in poses_mm.items():
            t = p.shape[0]
            cdf = CDF(folder / f"{action}.cdf", cdf_spec={"Majority": "row_major"}, delete=True)
            cdf.write_var({"Variable": "Pose", "Data_Type": CDF.CDF_FLOAT, "Num_Elements": 1,
                           "Rec_Vary": True, "Dim_Sizes": [t, 96]},
                          var_data=p.reshape(1, t, 96).astype(np.float32))
            cdf.close()


def _write_h5(root, poses_mm):
    import h5py

    for subject in ("S1", "S9"):
        folder = root / subject / "MyPoses" / "3D_positions"
        folder.mkdir(parents=True)
        for action, p in poses_mm.items():
            with h5py.File(folder / f"{action}.h5", "w") as f:
                f["3D_positions"] = p.reshape(-1, 96).T


@pytest.mark.parametrize("fmt", ["cdf", "h5"])
def test_convert_both_layouts(fmt, poses_mm, tmp_path):
    pytest.importorskip("cdflib" if fmt == "cdf" else "h5py")
    src = tmp_path / "src"
    (_write_cdf if fmt == "cdf" else _write_h5)(src, poses_mm)
    assert detect_format(src) == fmt
    paths = convert_h36m(src, tmp_path / "out", "h36m")
    pos = load_dataset_3d(paths["3d"])
    assert sorted(pos) == ["S1", "S9"]
    assert sorted(pos["S1"]) == ["Photo", "Walking 1"]  # renamed as the paper's files; _ALL skipped
    np.testing.assert_allclose(pos["S9"]["Walking 1"], poses_mm["Walking 1"] / 1000.0, atol=1e-6)
    # the projected ground-truth 2D pairs with the 3D and round-trips through the cameras
    pairs = prepare_sequences(paths["3d"], paths["gt"], ["S9"])
    assert len(pairs) == 8
    world17 = pos["S9"]["Walking 1"][:, list(H36M32_KEPT)]
    assert pairs[-1].num_frames == world17.shape[0]
    assert np.abs(pairs[-1].kpts_norm).max() < 1.0


def test_errors(tmp_path):
    with pytest.raises(InputError, match="no Human3.6M pose files"):
        detect_format(tmp_path)
    with pytest.raises(InputError, match="not a folder"):
        convert_h36m(tmp_path / "missing", tmp_path / "out")
    assert canonical_action("WalkingDog 1") == "WalkDog 1"
