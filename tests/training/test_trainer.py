"""Training on a small dataset generated from the real captures in ``../shared/mocap`` (paper's
file formats, real Human3.6M cameras, detector-like noise): the validation error falls, resuming
reproduces an uninterrupted run bit for bit, semi-supervised training uses all its losses, and
two CPU processes train under DistributedDataParallel (gloo)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from pose3d_cli.errors import BackendUnavailableError, CheckpointError, InputError
from pose3d_cli.lifting.checkpoint import load_checkpoint
from pose3d_cli.lifting.model import TemporalModel
from pose3d_cli.training.recipe import (
    build_training_data,
    inspect_dataset,
    resolve_split,
)
from pose3d_cli.training.trainer import (
    BEST,
    LAST,
    TrainConfig,
    bn_momentum,
    train,
    validation_mpjpe,
)

# A 9-frame, 64-channel model; with ~130 steps per epoch the BatchNorm statistics are renewed
# often enough (bn_min_refresh) for the validation error to follow the weights epoch by epoch.
TINY = dict(filter_widths=(3, 3), channels=64, batch_size=128, bn_min_refresh=8.0, device="cpu")


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread):
    """Every test here runs with one torch thread (see tests/conftest.py)."""



def _data(files, config: TrainConfig, *, two_d: str = "det", train=("S1", "S5", "S6", "S7", "S8"),
          unlabelled=(), downsample: int = 2, subset: float = 1.0):
    info = inspect_dataset(files["3d"], files[two_d])
    split = resolve_split(info, train, unlabelled, ("S9", "S11"), config.semi_supervised, "test")
    arch = config.arch(17, 17)
    return build_training_data(files["3d"], files[two_d], arch, batch_size=config.batch_size, split=split,
                               semi_supervised=config.semi_supervised, downsample=downsample, subset=subset,
                               seed=config.seed, info=info)


def test_bn_momentum_schedule_is_exponential():
    assert bn_momentum(0, 80) == pytest.approx(0.1)
    assert bn_momentum(40, 80) == pytest.approx(0.01)  # geometric midpoint of 0.1 and 0.001
    assert bn_momentum(80, 80) == pytest.approx(0.001)
    values = [bn_momentum(e, 10) for e in range(10)]
    ratios = np.array(values[1:]) / np.array(values[:-1])
    assert np.allclose(ratios, 0.01 ** (1 / 10))


@pytest.mark.slow
def test_supervised_training_reduces_validation_mpjpe(mocap_files, tmp_path):
    config = TrainConfig(epochs=4, **TINY)
    data = _data(mocap_files, config)
    torch.manual_seed(0)
    untrained = validation_mpjpe(TemporalModel(config.arch(17, 17)).eval(), data.validation,
                                 data.layout_in, data.layout_out)
    result = train(config, data, tmp_path / "run", progress=False)
    valid = result.curves["valid_mpjpe_m"]
    assert len(valid) == 4 and all(np.isfinite(valid))
    # Each epoch is better than the untrained model, the error falls overall and every epoch
    # is within 5 % of the best so far (no divergence).
    assert valid[0] < untrained
    assert valid[-1] < 0.8 * valid[0], valid
    assert all(v <= 1.05 * min(valid[:i + 1]) for i, v in enumerate(valid)), valid
    train_loss = result.curves["train_loss_m"]
    assert train_loss[-1] < train_loss[0]
    assert result.curves["lr"] == pytest.approx([1e-3 * 0.95 ** e for e in range(4)])
    # Outputs: resumable last.pt, best.pt with the best epoch's error in its meta, PNG, JSON log.
    best = load_checkpoint(tmp_path / "run" / BEST)
    assert best.layout_in == "coco17" and best.layout_out == "h36m17" and best.arch.receptive_field == 9
    assert best.meta["best_valid_mpjpe_mm"] == pytest.approx(min(valid) * 1000)
    assert best.training_state is None
    last = load_checkpoint(tmp_path / "run" / LAST)
    assert last.training_state["epoch"] == 4
    # The best checkpoint, re-evaluated, reproduces the logged validation error.
    again = validation_mpjpe(best.model_pos, data.validation, data.layout_in, data.layout_out)
    assert again == pytest.approx(min(valid), rel=1e-4)
    assert (tmp_path / "run" / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import json

    log = json.loads((tmp_path / "run" / "log.json").read_text())
    assert log["epochs_run"] == 4 and log["data"]["subjects_test"] == ["S9", "S11"]
    assert log["curves"]["valid_mpjpe_m"] == pytest.approx(valid)


class _Interrupt(Exception):
    pass


def _stop_after(epoch: int):
    def callback(done: int, stats: dict) -> None:
        if done == epoch:
            raise _Interrupt()
    return callback


@pytest.mark.slow
def test_resume_matches_uninterrupted_run(mocap_files, tmp_path):
    """Kill a semi-supervised run after epoch 2 of 3 (after its first back-projection epoch, so
    both samplers, both models and the optimiser carry state), resume from last.pt with the
    global RNG scrambled: weights, optimiser state and curves equal the uninterrupted run's
    exactly."""
    semi = True
    config = TrainConfig(epochs=3, semi_supervised=semi, warmup=1, seed=3, **TINY)
    kw = dict(train=("S1",), unlabelled=("S5", "S6"), downsample=4)
    full = train(config, _data(mocap_files, config, **kw), tmp_path / "full", progress=False)
    with pytest.raises(_Interrupt):
        train(config, _data(mocap_files, config, **kw), tmp_path / "cut", progress=False,
              on_epoch=_stop_after(2))
    torch.manual_seed(12345)  # the resumed run must not depend on the global RNG it finds
    resumed = train(config, _data(mocap_files, config, **kw), tmp_path / "cut", progress=False,
                    resume=tmp_path / "cut" / LAST)
    assert resumed.epochs_run == 3
    for key in ("valid_mpjpe_m", "train_loss_m", "lr", "bn_momentum"):
        assert resumed.curves[key] == full.curves[key], key
    a = load_checkpoint(tmp_path / "full" / LAST).training_state
    b = load_checkpoint(tmp_path / "cut" / LAST).training_state
    for part in ("model_pos", "model_traj") if semi else ("model_pos",):
        for name, tensor in a[part].items():
            assert torch.equal(tensor, b[part][name]), f"{part}.{name}"
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(sa["exp_avg"], sb["exp_avg"])
    assert a["sampler"] == b["sampler"]


@pytest.mark.slow
def test_semi_supervised_uses_back_projection_after_warmup(mocap_files, tmp_path):
    config = TrainConfig(epochs=2, semi_supervised=True, warmup=1, **TINY)
    data = _data(mocap_files, config, train=("S1",), unlabelled=("S5", "S6", "S7", "S8"), downsample=4)
    assert data.unlabelled is not None and data.description["unlabelled_frames"] > 0
    result = train(config, data, tmp_path / "semi", progress=False)
    c = result.curves
    # Warm-up epoch: labelled losses only; afterwards reprojection and bone losses are active.
    assert c["train_reproj_loss"][0] == 0 and c["train_bone_loss_m"][0] == 0
    assert c["train_reproj_loss"][1] > 0 and c["train_bone_loss_m"][1] > 0
    assert c["train_traj_loss"][0] > 0
    ck = load_checkpoint(tmp_path / "semi" / BEST)
    assert ck.model_traj is not None and ck.model_traj.arch.joints_out == 1
    # The trajectory model learns: its 1/z-weighted error falls, and it puts the test subject
    # in front of the camera.
    assert c["train_traj_loss"][1] < c["train_traj_loss"][0]
    seq = data.validation[0]
    pad = 4  # (receptive field 9 - 1) / 2, edge frames repeated as predict() does
    x = torch.from_numpy(np.concatenate([np.repeat(seq.kpts_norm[:1], pad, 0), seq.kpts_norm,
                                         np.repeat(seq.kpts_norm[-1:], pad, 0)]))[None]
    with torch.no_grad():
        traj = ck.model_traj(x)[0, :, 0].numpy()
    assert traj.shape == (seq.num_frames, 3)
    assert np.median(traj[:, 2]) > 0.5


def test_bad_settings_are_one_line_errors(mocap_files, tmp_path):
    config = TrainConfig(epochs=1, **TINY)
    data = _data(mocap_files, config, downsample=8)
    with pytest.raises(BackendUnavailableError, match="--amp"):
        train(TrainConfig(epochs=1, amp=True, **TINY), data, tmp_path / "amp", progress=False)
    with pytest.raises(InputError, match="unlabelled"):
        train(TrainConfig(epochs=1, semi_supervised=True, **TINY), data, tmp_path / "semi", progress=False)
    with pytest.raises(InputError, match="--epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(InputError, match="--arch"):
        TrainConfig(filter_widths=(3, 4)).arch(17, 17)
    train(config, data, tmp_path / "one", progress=False)
    with pytest.raises(CheckpointError, match="no training state"):
        train(config, data, tmp_path / "two", progress=False, resume=tmp_path / "one" / BEST)
    other = TrainConfig(epochs=2, **{**TINY, "channels": 32})
    with pytest.raises(CheckpointError, match="channels"):
        train(other, data, tmp_path / "one", progress=False, resume=tmp_path / "one" / LAST)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, files: dict, out: str) -> None:
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    config = TrainConfig(epochs=1, **TINY)
    data = _data(files, config, downsample=8)
    try:
        result = train(config, data, out, progress=False)
        # Gradients are averaged across ranks, so each rank ends with the same weights.
        flat = torch.cat([v.flatten().float() for k, v in sorted(result.model_pos.state_dict().items())
                          if "running" not in k and "num_batches" not in k])
        torch.save(flat, Path(out) / f"rank{rank}_weights.pt")
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_distributed_data_parallel_on_two_cpu_processes(mocap_files, tmp_path):
    """Two processes under gloo, as torchrun would start them (RANK/WORLD_SIZE/LOCAL_RANK)."""
    import torch.multiprocessing as mp

    files = {k: str(v) for k, v in mocap_files.items()}
    mp.spawn(_ddp_worker, args=(2, _free_port(), files, str(tmp_path / "ddp")), nprocs=2, join=True)
    ck = load_checkpoint(tmp_path / "ddp" / LAST)
    assert ck.training_state["epoch"] == 1
    assert np.isfinite(ck.meta["valid_mpjpe_mm"])
    a = torch.load(tmp_path / "ddp" / "rank0_weights.pt", weights_only=True)
    b = torch.load(tmp_path / "ddp" / "rank1_weights.pt", weights_only=True)
    assert torch.equal(a, b)
    # ... and they are what rank 0 saved (its BatchNorm statistics aside, which are per rank).
    saved = ck.training_state["model_pos"]
    flat = torch.cat([v.flatten().float() for k, v in sorted(saved.items())
                      if "running" not in k and "num_batches" not in k])
    assert torch.equal(flat, a)
