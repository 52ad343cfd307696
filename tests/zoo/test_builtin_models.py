"""Every built-in model the registry lists (each ``pose3d_cli/zoo/weights/*.json``): the file
is the one described (size, sha256, architecture, layouts), it loads safely, runs forward and
backward, and still computes the golden output recorded when it was shipped."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from pose3d_cli.lifting.checkpoint import load_checkpoint
from pose3d_cli.zoo.golden import golden_input, golden_output
from pose3d_cli.zoo.registry import load_registry, weights_dir

BUILTINS = sorted(e.name for e in load_registry(include_user=False) if e.kind == "builtin")


def _description(name: str) -> dict:
    for path in weights_dir().glob("*.json"):
        doc = json.loads(path.read_text())
        if doc.get("name") == name:
            return doc
    raise AssertionError(f"no description for {name}")


def test_there_are_builtins():
    assert BUILTINS, "the package ships no built-in lifter"


@pytest.mark.parametrize("name", BUILTINS)
def test_file_matches_its_description(name):
    entry = load_registry(include_user=False).get(name)
    desc = _description(name)
    assert entry.path.stat().st_size == desc["size"]
    assert hashlib.sha256(entry.path.read_bytes()).hexdigest() == desc["sha256"]
    ck = load_checkpoint(entry.path)
    assert ck.training_state is None
    assert (ck.layout_in, ck.layout_out) == (desc["layout_in"], desc["layout_out"])
    assert list(ck.arch.filter_widths) == desc["arch"]["filter_widths"]
    assert ck.arch.channels == desc["arch"]["channels"] and ck.arch.causal == desc["arch"]["causal"]


@pytest.mark.parametrize("name", BUILTINS)
def test_golden_output(name):
    entry = load_registry(include_user=False).get(name)
    ck = load_checkpoint(entry.path)
    recorded = _description(name).get("golden_output")
    assert recorded is not None, f"{name}: ship it with tools/ship_builtin.py (records golden_output)"
    np.testing.assert_allclose(np.array(golden_output(ck)), np.array(recorded), atol=2e-4)


@pytest.mark.parametrize("name", BUILTINS)
def test_forward_and_backward(name):
    entry = load_registry(include_user=False).get(name)
    ck = load_checkpoint(entry.path)
    model = ck.model_pos.train()
    x = torch.from_numpy(golden_input(ck.arch.joints_in, frames=ck.arch.receptive_field + 4))[None]
    out = model(x)
    assert out.shape == (1, 5, ck.arch.joints_out, 3) and torch.isfinite(out).all()
    out.square().mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
