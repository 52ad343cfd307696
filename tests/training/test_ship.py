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
from tools.ship_builtin import ship_builtin
from pose3d_cli.training.synth import generate_mocap_files
from pose3d_cli.training.trainer import TrainConfig, train

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
    assert "pose3d train" in desc["training_command"]
    # The file's own meta carries the same provenance.
    assert ck.meta["measured_error"][0]["mpjpe_mm"] == desc["mpjpe_mm"]
    assert ck.meta["trained_by"] == "pose3d train" and ck.meta["name"] == desc["name"]
    assert desc["input_source"] == "mocap-noisy"


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
