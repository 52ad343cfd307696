"""Checkpoints: the published VideoPose3D layout loads as is (golden outputs), the pose3d format
round-trips, and bad files are refused with one clear message."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from _reference import reference_forward, seeded_state_dict
from make_golden import golden_case

from pose3d_cli.errors import CheckpointError
from pose3d_cli.lifting.checkpoint import (
    load_checkpoint,
    save_checkpoint,
    save_videopose3d_checkpoint,
)
from pose3d_cli.lifting.model import ArchSpec, TemporalModel
from pose3d_cli.lifting.predict import predict

GOLDEN = Path(__file__).parent / "data" / "golden_27f.npz"


@pytest.fixture(scope="module")
def golden():
    return np.load(GOLDEN)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_published_format_gives_pinned_outputs(tmp_path, golden, legacy):
    model, kpts = golden_case()
    np.testing.assert_array_equal(kpts, golden["kpts_norm"])
    traj = TemporalModel(ArchSpec(filter_widths=(3, 3, 3), channels=64, joints_out=1))
    path = save_videopose3d_checkpoint(tmp_path / "pretrained.bin", model, model_traj=traj,
                                       epoch=80, lr=0.0005, legacy_format=legacy)
    ck = load_checkpoint(path)
    assert ck.source_format == "videopose3d"
    assert ck.arch.filter_widths == (3, 3, 3) and ck.arch.channels == 64
    assert (ck.arch.joints_in, ck.arch.joints_out) == (17, 17)
    assert ck.model_traj is not None and ck.model_traj.arch.joints_out == 1
    assert (ck.layout_in, ck.layout_out) == ("coco17", "h36m17")
    assert ck.meta["epoch"] == 80
    for flip in (False, True):
        out = predict(ck.model_pos, kpts, layout_in="coco17", layout_out="h36m17", flip=flip)
        np.testing.assert_allclose(out, golden[f"flip{int(flip)}"], rtol=0, atol=2e-5)


def test_model_matches_independent_numpy_reference():
    model, kpts = golden_case()
    sd = {k: v.double().numpy() for k, v in model.state_dict().items()}
    ref = reference_forward(sd, kpts, (3, 3, 3))
    with torch.no_grad():
        out = model(torch.from_numpy(kpts)[None])[0].numpy()
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-4)


def test_causal_model_matches_reference():
    arch = ArchSpec(filter_widths=(3, 3, 3), channels=16, causal=True)
    model = TemporalModel(arch)
    model.load_state_dict({k: torch.as_tensor(v) for k, v in seeded_state_dict(model, 5).items()})
    model.eval()
    x = np.random.RandomState(0).normal(0, 0.3, (40, 17, 2)).astype(np.float32)
    sd = {k: v.double().numpy() for k, v in model.state_dict().items()}
    with torch.no_grad():
        out = model(torch.from_numpy(x)[None])[0].numpy()
    np.testing.assert_allclose(out, reference_forward(sd, x, (3, 3, 3), causal=True), atol=1e-4)


def test_pose3d_format_round_trip_gives_identical_outputs(tmp_path, golden):
    model, kpts = golden_case()
    published = save_videopose3d_checkpoint(tmp_path / "a.bin", model)
    ck = load_checkpoint(published)
    own = save_checkpoint(tmp_path / "b.pt", ck.model_pos, layout_in=ck.layout_in,
                          layout_out=ck.layout_out, meta={"trained_on": "test", "epochs": 3})
    ck2 = load_checkpoint(own)
    assert ck2.source_format == "pose3d"
    assert ck2.arch == ck.arch and ck2.meta == {"trained_on": "test", "epochs": 3}
    for k, v in ck.model_pos.state_dict().items():
        assert torch.equal(v, ck2.model_pos.state_dict()[k]), k
    a = predict(ck.model_pos, kpts, layout_in="coco17", layout_out="h36m17")
    b = predict(ck2.model_pos, kpts, layout_in=ck2.layout_in, layout_out=ck2.layout_out)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(b, golden["flip1"], atol=2e-5)


def test_own_format_records_causal_and_layouts(tmp_path):
    arch = ArchSpec(filter_widths=(3, 3), channels=8, causal=True, joints_in=17, joints_out=17)
    path = save_checkpoint(tmp_path / "c.pt", TemporalModel(arch), layout_in="h36m17", layout_out="h36m17",
                           training_state={"epoch": 2, "losses": [0.5, 0.4]})
    ck = load_checkpoint(path)
    assert ck.arch.causal and ck.layout_in == "h36m17"
    assert ck.training_state == {"epoch": 2, "losses": [0.5, 0.4]}
    with pytest.raises(CheckpointError, match="trained causal"):
        load_checkpoint(path, causal=False)


def test_float16_shipping_copy_loads_as_float32(tmp_path):
    model, kpts = golden_case()
    path = save_checkpoint(tmp_path / "h.pt", model, layout_in="coco17", layout_out="h36m17", dtype=torch.float16)
    ck = load_checkpoint(path)
    assert all(p.dtype == torch.float32 for p in ck.model_pos.parameters())
    out = predict(ck.model_pos, kpts, layout_in="coco17", layout_out="h36m17")
    ref = predict(model, kpts, layout_in="coco17", layout_out="h36m17")
    assert np.abs(out - ref).max() < 0.05 * np.abs(ref).max()


def test_missing_empty_truncated_and_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.bin")
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty file"):
        load_checkpoint(empty)
    model, _ = golden_case()
    for legacy in (False, True):
        good = save_videopose3d_checkpoint(tmp_path / f"good{legacy}.bin", model, legacy_format=legacy)
        data = good.read_bytes()
        cut = tmp_path / f"cut{legacy}.bin"
        cut.write_bytes(data[: len(data) // 2])
        with pytest.raises(CheckpointError, match="truncated or corrupt"):
            load_checkpoint(cut)
    text = tmp_path / "notes.bin"
    text.write_text("hello, not a checkpoint\n")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(text)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="no 'model_pos'"):
        load_checkpoint(other)
    torch.save({"model_pos": {"foo.weight": torch.zeros(3)}}, other)
    with pytest.raises(CheckpointError, match="expand_conv.weight"):
        load_checkpoint(other)


class _Payload:
    """Unpickling this would create a marker file: it must never run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_pickle_carrying_code_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.bin"
    model, _ = golden_case()
    torch.save({"model_pos": model.state_dict(), "extra": _Payload(str(marker))}, path)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint(path)
    assert not marker.exists()
    # a bare pickle (not torch's format) with the payload is refused too
    raw = tmp_path / "evil2.bin"
    raw.write_bytes(pickle.dumps({"model_pos": _Payload(str(marker))}))
    with pytest.raises(CheckpointError):
        load_checkpoint(raw)
    assert not marker.exists()


def test_unexpected_architecture(tmp_path):
    model16 = TemporalModel(ArchSpec(filter_widths=(3, 3), channels=8, joints_in=16, joints_out=16))
    path = save_videopose3d_checkpoint(tmp_path / "j16.bin", model16)
    with pytest.raises(CheckpointError, match="16 input joints match no known layout"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="layout coco17 has 17"):
        load_checkpoint(path, layout_in="coco17", layout_out="h36m17")
    model = TemporalModel(ArchSpec(filter_widths=(3, 3), channels=8))
    path = save_videopose3d_checkpoint(tmp_path / "small.bin", model)
    with pytest.raises(CheckpointError, match=r"filter_widths \(3, 3\) \(expected \(3, 3, 3, 3, 3\)\)"):
        load_checkpoint(path, expect=ArchSpec())
