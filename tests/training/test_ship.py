"""The built-in checkpoint: the shipped file is what BUILTIN.json says, and the ship tool turns a
training run into weights + description that agree with a fresh evaluation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from pose3d_cli.lifting.checkpoint import load_checkpoint
from pose3d_cli.training.recipe import (
    build_training_data,
    inspect_dataset,
    load_test_sequences,
    resolve_split,
)
from pose3d_cli.training.synth import generate_mocap_files
from pose3d_cli.training.trainer import TrainConfig, train
from tools.ship_builtin import ship_builtin

WEIGHTS = Path(__file__).resolve().parents[2] / "pose3d_cli" / "zoo" / "weights"


@pytest.mark.parametrize("description", ["BUILTIN.json", "pose3d-27f-causal.mocap-coco.json"])
def test_shipped_builtin_matches_its_description(description):
    desc = json.loads((WEIGHTS / description).read_text())
    path = WEIGHTS / desc["file_name"]
    assert desc["file"] == desc["file_name"]
    assert path.stat().st_size == desc["size"] < 5_000_000
    assert hashlib.sha256(path.read_bytes()).hexdigest() == desc["sha256"]
    ck = load_checkpoint(path)
    assert ck.training_state is None
    assert (ck.layout_in, ck.layout_out) == (desc["layout_in"], desc["layout_out"]) == ("coco17", "h36m17")
    assert list(ck.arch.filter_widths) == desc["filter_widths"] and ck.arch.channels == desc["channels"]
    assert ck.arch.causal == desc["causal"] and ck.arch.receptive_field == desc["receptive_field"]
    assert desc["fps"] == 50 and 0 < desc["p_mpjpe_mm"] < desc["mpjpe_mm"] < 150
    # The file's own meta carries the same provenance.
    assert ck.meta["measured_error"][0]["mpjpe_mm"] == desc["mpjpe_mm"]
    assert ck.meta["trained_by"] in desc["training_command"] and ck.meta["name"] == desc["name"]
    assert desc["input_source"] == "mocap-noisy"
    if ck.meta["trained_by"] == "tools/train_builtin.py":
        # Trained on registry mocap: every source with its licence and file hashes; a trajectory
        # model; held-out figures only for sources it did not train on.
        assert ck.model_traj is not None and ck.model_traj.arch.joints_out == 1
        assert desc["trajectory_model"]["canonical_focal"] == ck.meta["canonical_focal"] > 0
        for name, src in desc["data_sources"].items():
            assert src["licence"] and src["files"] and all(len(h) == 64 for h in src["files"].values())
            if not src["trainable"]:
                assert name not in desc["train_sources"]
        for name, row in desc["heldout"].items():
            # a held-out row is this model's own (a source it never saw) or a leave-one-source-out
            # model's trained with the same recipe
            assert row["model"] == "loso" or name not in desc["train_sources"]
    else:
        assert "pose3d train" in desc["training_command"]


@pytest.mark.slow
def test_ship_tool_installs_a_run(shared_dir, tmp_path):
    torch.set_num_threads(1)
    bvh = sorted((shared_dir / "mocap").glob("*.bvh"))
    files = generate_mocap_files(bvh, tmp_path / "ds", "mocap", seed=0, max_seconds=30)
    config = TrainConfig(filter_widths=(3, 3), channels=32, batch_size=128, epochs=1, device="cpu")
    info = inspect_dataset(files["3d"], files["det"])
    split = resolve_split(info, (), (), (), False, "test")
    data = build_training_data(files["3d"], files["det"], config.arch(17, 17), batch_size=128, split=split,
                               downsample=8, info=info)
    train(config, data, tmp_path / "run", progress=False)
    desc = ship_builtin(tmp_path / "run", files["3d"], files["det"], name="pose3d-9f.test",
                        commands=["pose3d train --example"], weights_dir=tmp_path / "weights")
    weights = tmp_path / "weights" / "pose3d-9f-test.pt"
    assert desc["file_name"] == weights.name and desc["receptive_field"] == 9
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == desc["sha256"]
    assert json.loads((tmp_path / "weights" / "BUILTIN.json").read_text()) == desc
    assert desc["input_source"] == "mocap-noisy" and not desc["causal"]
    assert "until the published Detectron-COCO model is cached" in desc["description"]
    # The stated error is the evaluation of the shipped weights on all test frames (no flip).
    from pose3d_cli.training.evaluate import evaluate_table

    ck = load_checkpoint(weights)
    table = evaluate_table(ck.model_pos, load_test_sequences(files["3d"], files["det"], ("S9", "S11")),
                           "coco17", "h36m17", flip=False)
    assert desc["mpjpe_mm"] == pytest.approx(table.average.mpjpe_mm, abs=0.06)
    assert ck.meta["training_commands"] == ["pose3d train --example"]


def test_ship_online_installs_a_run_with_its_heldout_figures(shared_dir, tmp_path):
    """A (tiny) tools/train_builtin.py-style run on a real capture, measured by the held-out
    benchmark's JSON, is installed with the figures of the sources it never trained on."""
    import numpy as np

    from pose3d_cli.training.augment import DetectorNoise, view_sequences
    from pose3d_cli.training.mocap import load_mocap
    from pose3d_cli.training.online import (
        OnlineConfig,
        evaluate_sequences,
        train_online,
    )
    from pose3d_cli.training.sources import clip_from_mocap
    from tools.ship_online import ship_online

    torch.set_num_threads(1)
    train = [clip_from_mocap(load_mocap(shared_dir / "mocap" / "bvhtools_test.bvh", max_seconds=20), "bvhtools")]
    test = [clip_from_mocap(load_mocap(shared_dir / "mocap" / "bvhtools_test3.bvh", max_seconds=10), "other")]
    cfg = OnlineConfig(filter_widths=(3, 3), channels=32, traj_channels=16, outputs=4, batch_size=8,
                       batches_per_epoch=3, epochs=2)
    meta = {"trained_by": "tools/train_builtin.py", "command": "python tools/train_builtin.py --example",
            "train_sources": ["bvhtools"], "holdout_sources": ["other"],
            "sources": {"bvhtools": {"package": "bvhtools==1.6.0", "licence": "MIT", "trainable": True,
                                     "frames_50hz": 1000, "archives": {}, "files": {"a.bvh": "0" * 64}}}}
    run = train_online(cfg, train, tmp_path / "run", meta=meta)
    ck = load_checkpoint(run.checkpoint)
    views = {"noisy": view_sequences(test, seed=0, noise=DetectorNoise()), "exact": view_sequences(test, seed=0)}
    measured = {k: evaluate_sequences(ck.model_pos, v, model_traj=ck.model_traj).to_dict() for k, v in views.items()}
    old = {k: {**v, "p_mpjpe_limbs_mm": 99.0} for k, v in measured.items()}
    views["tripod"] = views["exact"]
    measured["tripod"] = measured["exact"]
    old["tripod"] = old["exact"]
    table = {"rows": {"other": {"frames": 500, "trainable": True, "old": old, "old_seen": False,
                                "new_loso": measured}}, "root_motion": {}}
    (tmp_path / "heldout.json").write_text(json.dumps(table))
    desc = ship_online(tmp_path / "run", tmp_path / "heldout.json", name="pose3d-9f.test",
                       weights_dir=tmp_path / "weights")
    weights = tmp_path / "weights" / "pose3d-9f-test.pt"
    assert desc["file_name"] == weights.name and desc["receptive_field"] == 9
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == desc["sha256"]
    assert desc["p_mpjpe_mm"] == round(measured["noisy"]["p_mpjpe_limbs_mm"], 1)
    assert "previous built-in: 99.0 mm" in desc["measured_error"][0]["note"]
    assert list(desc["heldout"]) == ["other"] and desc["train_sources"] == ["bvhtools"]
    shipped = load_checkpoint(weights)
    assert shipped.training_state is None and shipped.model_traj is not None
    x = np.asarray(views["noisy"][0].kpts_norm)
    np.testing.assert_allclose(evaluate_sequences(shipped.model_pos, views["noisy"]).p_mpjpe_limbs_mm,
                               measured["noisy"]["p_mpjpe_limbs_mm"], rtol=1e-5)
    assert x.shape[1:] == (17, 2)
