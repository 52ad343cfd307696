"""``pose3d train`` and ``pose3d evaluate`` end to end on a small dataset generated from the real
captures in ``../shared/mocap`` (the paper's file formats), with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pose3d_cli.cli import main

TINY = ["--arch", "3,3", "--channels", "32", "--batch-size", "128", "--downsample", "8", "--device", "cpu"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread):
    """Every test here runs with one torch thread (see tests/conftest.py)."""


@pytest.fixture(scope="module")
def files(mocap_files) -> dict[str, Path]:
    return mocap_files


def _one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("pose3d: error:") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, (n, err)
    return err


@pytest.mark.slow
def test_train_then_resume_then_evaluate(files, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", "--data-3d", str(files["3d"]), "--data-2d", str(files["det"]), "--out", str(out), *TINY]
    assert main(base + ["--epochs", "2"]) == 0
    text = capsys.readouterr().out
    assert "9-frame model" in text and "coco17 -> h36m17" in text
    assert "epoch   1/2" in text and "epoch   2/2" in text and "samples/s" in text
    for name in ("last.pt", "best.pt", "curve.png", "log.json"):
        assert (out / name).is_file(), name
    # The same --out again without --resume is refused in one line (4: an output that exists).
    assert main(base + ["--epochs", "2"]) == 4
    _one_line_error(capsys, str(out), "--resume")
    # Resume to 3 epochs: only the third runs, the log holds all three.
    assert main(base + ["--epochs", "3", "--resume", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    log = json.loads((out / "log.json").read_text())
    assert log["epochs_run"] == 3 and len(log["curves"]["valid_mpjpe_m"]) == 3
    assert log["config"]["filter_widths"] == [3, 3] and log["layout_in"] == "coco17"

    report_path = tmp_path / "eval.json"
    assert main(["evaluate", "--checkpoint", str(out / "best.pt"), "--data-3d", str(files["3d"]),
                 "--data-2d", str(files["det"]), "--json", str(report_path), "--device", "cpu",
                 "--downsample", "8"]) == 0
    text = capsys.readouterr().out
    assert "flip augmentation: off" in text and "flip augmentation: on" in text
    assert "P1 MPJPE" in text and "P2 P-MPJPE" in text and "P3 N-MPJPE" in text and "MPJVE" in text
    report = json.loads(report_path.read_text())
    assert report["subjects"] == ["S9", "S11"] and report["units"] == "mm"
    for key in ("no_flip", "flip"):
        table = report["tables"][key]
        rows = table["actions"]
        assert {r["action"] for r in rows} <= {"Walking", "InPlace"} and rows
        # The paper's average is the mean over actions; the frame-weighted one is separate.
        assert table["average"]["mpjpe_mm"] == pytest.approx(np.mean([r["mpjpe_mm"] for r in rows]))
        weights = np.array([r["frames"] for r in rows])
        assert table["all_frames"]["mpjpe_mm"] == pytest.approx(
            np.average([r["mpjpe_mm"] for r in rows], weights=weights))
        for r in rows:
            # Similarity alignment can only help: P2 <= P3 <= P1.
            assert r["p_mpjpe_mm"] <= r["n_mpjpe_mm"] + 1e-6 <= r["mpjpe_mm"] + 2e-6
    # The logged best validation error is the evaluation's all-frames protocol-1 error without flip.
    assert report["tables"]["no_flip"]["all_frames"]["mpjpe_mm"] == pytest.approx(
        log["best_valid_mpjpe_mm"], rel=1e-4)
    # An existing --json is not clobbered.
    assert main(["evaluate", "--checkpoint", str(out / "best.pt"), "--data-3d", str(files["3d"]),
                 "--data-2d", str(files["det"]), "--json", str(report_path), "--flip", "off"]) == 4
    _one_line_error(capsys, "--overwrite")


@pytest.mark.slow
def test_train_and_evaluate_errors_are_one_line(files, tmp_path, capsys):
    common = ["--data-3d", str(files["3d"]), "--data-2d", str(files["det"])]
    assert main(["train", *common, "--out", str(tmp_path / "a"), "--subjects-train", "S1,S42", *TINY]) == 2
    _one_line_error(capsys, "S42", "--subjects-train", str(files["3d"]))
    assert main(["train", *common, "--out", str(tmp_path / "b"), "--subjects-train", "S1,S9", *TINY]) == 2
    _one_line_error(capsys, "S9", "--subjects-test")
    assert main(["train", *common, "--out", str(tmp_path / "c"), "--resume", *TINY]) == 2
    _one_line_error(capsys, "last.pt", "drop --resume")
    assert main(["train", *common, "--out", str(tmp_path / "d"), "--subset", "0", *TINY]) == 2
    _one_line_error(capsys, "--subset")
    not_npz = tmp_path / "data_2d_bad.npz"
    not_npz.write_text("not a zip")
    assert main(["train", "--data-3d", str(files["3d"]), "--data-2d", str(not_npz),
                 "--out", str(tmp_path / "e"), *TINY]) == 2
    _one_line_error(capsys, str(not_npz))
    with pytest.raises(SystemExit):
        main(["train", *common, "--out", str(tmp_path / "f"), "--arch", "3,4"])
    capsys.readouterr()
    # Evaluate: a checkpoint taking COCO-17 against H36M-layout 2D is refused with the fix.
    assert main(["train", *common, "--out", str(tmp_path / "g"), "--epochs", "1", "--quiet", *TINY]) == 0
    assert main(["evaluate", "--checkpoint", str(tmp_path / "g" / "best.pt"), "--data-3d", str(files["3d"]),
                 "--data-2d", str(files["gt"])]) == 2
    _one_line_error(capsys, "h36m17", "coco17")
    assert main(["evaluate", "--checkpoint", str(tmp_path / "missing.pt"), *common]) == 2
    _one_line_error(capsys, "missing.pt")


def test_help_defaults_are_train_config_defaults():
    """The train options take their defaults from TrainConfig (one declaration); the numbers the
    help prints must be those."""
    import argparse

    from pose3d_cli.cli import train as train_cli
    from pose3d_cli.lifting.model import ArchSpec
    from pose3d_cli.training.trainer import TrainConfig

    parser = train_cli.add_parser(argparse.ArgumentParser().add_subparsers())
    helps = {a.dest: a.help for a in parser._actions}
    defaults = TrainConfig()
    for option, field_name in train_cli.CONFIG_OPTIONS.items():
        value = getattr(defaults, field_name)
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else f"{value:g}"
        assert f"(default {shown}" in helps[option], (option, shown, helps[option])
    # a run without the options gets exactly TrainConfig's values
    args = parser.parse_args(["--data-3d", "a", "--data-2d", "b", "--out", "c"])
    assert not any(hasattr(args, o) for o in train_cli.CONFIG_OPTIONS)
    # the architecture ones are ArchSpec's, except the 27-frame widths of the paper's training script
    assert (defaults.channels, defaults.dropout, defaults.causal) == (ArchSpec.channels, ArchSpec.dropout,
                                                                      ArchSpec.causal)
    assert defaults.filter_widths == (3, 3, 3)
