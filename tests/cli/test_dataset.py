"""``pose3d dataset``: mocap generation, info, and one-line errors (real captures, real files)."""

from __future__ import annotations

import numpy as np

from pose3d_cli.cli import main


def test_mocap_then_info(shared_dir, tmp_path, capsys):
    bvh = str(shared_dir / "mocap" / "bvhtools_test3.bvh")
    args = ["dataset", "mocap", "--bvh", bvh, "--out-dir", str(tmp_path), "--name", "tiny",
            "--max-seconds", "20", "--seed", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "S11:" in out and "data_2d_tiny_det.npz" in out
    for name in ("data_3d_tiny.npz", "data_2d_tiny_gt.npz", "data_2d_tiny_det.npz"):
        assert (tmp_path / name).is_file()
    det = np.load(tmp_path / "data_2d_tiny_det.npz", allow_pickle=True)
    assert det["metadata"].item()["layout_name"] == "coco"
    # an existing output is not clobbered: one line, exit code 4 (an output that cannot be written)
    assert main(args) == 4
    err = capsys.readouterr().err
    assert err.startswith("pose3d: error:") and "--overwrite" in err and err.count("\n") == 1
    assert main(args + ["--overwrite", "--noise", "none", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["dataset", "info", str(tmp_path / "data_3d_tiny.npz")]) == 0
    assert "32 joints" in capsys.readouterr().out


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "bad.bvh"
    bad.write_text("HIERARCHY\nnonsense\n")
    assert main(["dataset", "mocap", "--bvh", str(bad), "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "bad.bvh" in err and err.count("\n") == 1
    assert main(["dataset", "convert-h36m", "--source", str(tmp_path), "--out-dir", str(tmp_path)]) == 2
    assert "D3_Positions" in capsys.readouterr().err
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"xx")
    assert main(["dataset", "info", str(junk)]) == 2
