"""Supervised and semi-supervised training of the temporal lifter (the paper's recipe).

Supervised: the single-frame strided model (:class:`TemporalModelStrided`) is trained on windows
of ``receptive_field`` 2D frames with the MPJPE loss against root-relative 3D poses; Amsgrad,
learning rate decayed by ``lr_decay`` per epoch, BatchNorm momentum decayed exponentially from
0.1 to 0.001 over the run. After each epoch the weights are copied (``state_dict``) into the
whole-sequence :class:`TemporalModel` and the validation MPJPE is computed through the one
:func:`pose3d_cli.lifting.predict.predict`.

Semi-supervised by back-projection: each step after the warm-up epochs concatenates a labelled
and an unlabelled batch. A trajectory model (same architecture, own weights) predicts the root
position. Labelled half: MPJPE of the pose + 1/z-weighted MPJPE of the trajectory. Unlabelled
half: the pose placed at the predicted trajectory is projected with the sample's intrinsics and
compared with the input 2D keypoints, plus the bone-length prior against the labelled half.

Every epoch writes ``last.pt`` (weights, optimizer, sampler and RNG states, curves: resuming
from it gives the same result as an uninterrupted run), ``best.pt`` on a new best validation
MPJPE, ``curve.png`` and ``log.json``.

Device: CUDA when present (``device="auto"``), optional mixed precision (``amp``, CUDA only);
under ``torchrun`` (``WORLD_SIZE`` > 1) the models are wrapped in
:class:`torch.nn.parallel.DistributedDataParallel` (NCCL on CUDA, gloo on CPU) and each rank
takes its share of every batch; rank 0 validates and writes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol, Sequence

import numpy as np
import torch

from pose3d_cli.errors import BackendUnavailableError, CheckpointError, InputError
from pose3d_cli.io.atomic import atomic_path
from pose3d_cli.lifting.checkpoint import load_checkpoint, save_checkpoint
from pose3d_cli.lifting.model import ArchSpec, TemporalModel, TemporalModelStrided
from pose3d_cli.skeleton import get_layout
from pose3d_cli.training.losses import (
    bone_length_loss,
    pose_loss,
    reprojection_loss,
    shared_joints,
    trajectory_loss,
)

log = logging.getLogger(__name__)

LAST = "last.pt"
BEST = "best.pt"


PAPER_TRAIN_WIDTHS: tuple[int, ...] = (3, 3, 3)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one run; defaults are the paper's.

    Attributes:
        filter_widths, channels, dropout, causal: the architecture (see :class:`ArchSpec`).
        epochs: passes over the labelled training windows.
        batch_size: labelled windows per step (the unlabelled half has as many again).
        lr, lr_decay: Amsgrad learning rate, multiplied by ``lr_decay`` after every epoch.
        bn_momentum_start, bn_momentum_end: BatchNorm momentum, decayed exponentially between
            these over the run.
        bn_min_refresh: lower bound on the momentum of ``bn_min_refresh / steps_per_epoch``, so
            that the running statistics are renewed about that many times per epoch. The
            paper's schedule assumes thousands of steps per epoch (Human3.6M), where this bound
            is below 0.001 and changes nothing; on small datasets a momentum of 0.001 would leave
            the statistics used for validation epochs behind the weights. 0 disables it.
        semi_supervised: train with the unlabelled data by back-projection.
        warmup: semi-supervised only: epochs trained on labelled data alone first.
        linear_projection: reproject without lens distortion.
        seed: seeds the model initialisation and dropout (the samplers carry their own seeds).
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        amp: mixed precision (CUDA only).
        validate_every: validate after every N-th epoch (and always after the last); the
            validation error of the epochs in between is recorded as NaN.
    """

    # The architecture fields are ArchSpec's own defaults, except the widths: the paper's training
    # script defaults to the 27-frame model (ArchSpec's default is the published 243-frame one).
    filter_widths: tuple[int, ...] = PAPER_TRAIN_WIDTHS
    channels: int = ArchSpec.channels
    dropout: float = ArchSpec.dropout
    causal: bool = ArchSpec.causal
    epochs: int = 80
    batch_size: int = 1024
    lr: float = 1e-3
    lr_decay: float = 0.95
    bn_momentum_start: float = 0.1
    bn_momentum_end: float = 0.001
    bn_min_refresh: float = 2.0
    semi_supervised: bool = False
    warmup: int = 1
    linear_projection: bool = False
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    validate_every: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "filter_widths", tuple(int(w) for w in self.filter_widths))
        if self.epochs < 1:
            raise InputError(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {self.batch_size}")
        if not (self.lr > 0 and 0 < self.lr_decay <= 1):
            raise InputError(f"--lr must be > 0 and --lr-decay in (0, 1], got {self.lr}, {self.lr_decay}")
        if self.validate_every < 1:
            raise InputError(f"--validate-every must be at least 1, got {self.validate_every}")
        if self.warmup < 0:
            raise InputError(f"--warmup must be >= 0, got {self.warmup}")

    def arch(self, joints_in: int, joints_out: int) -> ArchSpec:
        """The :class:`ArchSpec` of this run (raises :class:`InputError` for bad widths)."""
        try:
            return ArchSpec(filter_widths=self.filter_widths, channels=self.channels,
                            joints_in=joints_in, joints_out=joints_out, causal=self.causal,
                            dropout=self.dropout)
        except ValueError as exc:
            raise InputError(f"--arch/--channels: {exc}; use odd widths such as 3,3,3") from None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["filter_widths"] = list(self.filter_widths)
        return d


class BatchLike(Protocol):
    """One sampler batch (numpy arrays or tensors).

    ``intrinsics (B, 9)``; ``pose_3d (B, L, J_out, 3)`` camera frame, metres (made root-relative
    here); ``traj_3d (B, L, 1, 3)`` root position, metres; ``kpts_2d (B, L + rf - 1, J_in, 2)``
    normalised screen coordinates (the windows, padding included).
    """

    intrinsics: Any
    pose_3d: Any
    traj_3d: Any
    kpts_2d: Any


class Sampler(Protocol):
    """What the trainer needs from a sampler: one epoch of batches per iteration, and a state
    that, restored at an epoch boundary, replays the same batches."""

    def __iter__(self) -> Iterator[BatchLike]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class ClipLike(Protocol):
    """A whole validation sequence (e.g. :class:`~pose3d_cli.training.data.SequencePair`):
    ``kpts_norm (T, J_in, 2)`` normalised screen coordinates and ``pose_cam_m (T, J_out, 3)``
    camera-frame metres (made root-relative here)."""

    kpts_norm: np.ndarray
    pose_cam_m: np.ndarray


@dataclass
class TrainingData:
    """Everything a run reads: samplers, validation clips and the layouts."""

    labelled: Sampler
    validation: Sequence[ClipLike]
    layout_in: str
    layout_out: str
    unlabelled: Sampler | None = None
    num_labelled_windows: int = 0
    num_unlabelled_windows: int = 0
    description: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TrainResult:
    """What a run produced (``model_pos``: the final weights in a :class:`TemporalModel`)."""

    out_dir: Path
    last_checkpoint: Path
    best_checkpoint: Path
    curves: dict
    best_valid_mpjpe_m: float
    epochs_run: int
    model_pos: TemporalModel | None = None


# --------------------------------------------------------------------------------- devices


@dataclass(frozen=True)
class DistContext:
    """Process group membership; ``world_size == 1`` means not distributed."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def distributed_from_env() -> DistContext:
    """Read ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` as ``torchrun`` sets them."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise InputError(f"bad torchrun environment (RANK/WORLD_SIZE/LOCAL_RANK): {exc}") from None
    return DistContext(rank=rank, world_size=world, local_rank=local)


def pick_device(name: str, dist: DistContext | None = None) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU (:func:`pose3d_cli.device.select_device`);
    under torchrun a bare ``"cuda"`` means the local rank's GPU."""
    from pose3d_cli.device import select_device

    dist = dist or DistContext()
    device = select_device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", dist.local_rank if dist.active else torch.cuda.current_device())
    return device


def bn_momentum(epoch: int, epochs: int, start: float = 0.1, end: float = 0.001) -> float:
    """BatchNorm momentum for ``epoch`` (0-based): ``start · (end/start)^(epoch/epochs)``."""
    return float(start * math.exp(-epoch / epochs * math.log(start / end)))


# --------------------------------------------------------------------------------- helpers


def _tensor(x, device: torch.device) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
    return t.to(device=device, dtype=torch.float32, non_blocking=True)


def _shard(x: torch.Tensor, dist: DistContext) -> torch.Tensor:
    """This rank's rows of a batch every rank drew identically."""
    return x[dist.rank::dist.world_size] if dist.active else x


def _rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _window_targets(kpts: torch.Tensor, length: int, arch: ArchSpec) -> torch.Tensor:
    """The 2D frames of a padded window that the outputs correspond to: ``(B, L, J, 2)``.

    Symmetric models: the centre frames (``pad`` frames of context each side). Causal models:
    the last frames (all context is in the past)."""
    pad = (arch.receptive_field - 1) // 2
    start = 2 * pad if arch.causal else pad
    return kpts[:, start:start + length]


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


# --------------------------------------------------------------------------------- validation


@torch.no_grad()
def validation_mpjpe(model: TemporalModel, clips: Sequence[ClipLike], layout_in: str,
                     layout_out: str, flip: bool = False) -> float:
    """Frame-weighted MPJPE in metres of ``model`` over whole clips, predicted through the
    project's one :func:`~pose3d_cli.lifting.predict.predict` (padding, windows, flip) against
    root-relative targets (the raw output is not re-centred, as in the paper)."""
    from pose3d_cli.training.evaluate import lifted_sequences

    total, frames = 0.0, 0
    for _, pred, target in lifted_sequences(model, clips, layout_in, layout_out, flip):
        total += float(np.linalg.norm(pred - target, axis=-1).mean()) * len(target)
        frames += len(target)
    if frames == 0:
        return float("nan")
    return total / frames


# --------------------------------------------------------------------------------- the loop


@dataclass(frozen=True)
class EpochStats:
    """What one training epoch did (losses are means per labelled sample).

    Attributes:
        train_loss_m: pose loss (MPJPE, metres). train_traj_loss: trajectory loss (1/z weighted).
        train_reproj_loss: back-projection loss (semi-supervised). train_bone_loss_m: bone-length loss.
        samples_per_s: training throughput. seconds: wall time. bn_momentum, lr: the schedule's values.
    """

    train_loss_m: float
    samples_per_s: float
    seconds: float
    bn_momentum: float
    lr: float
    train_traj_loss: float = 0.0
    train_reproj_loss: float = 0.0
    train_bone_loss_m: float = 0.0


class TrainingRun:
    """State of one training run: models, optimiser, samplers, curves. :func:`train` drives it
    epoch by epoch; benchmarks call :meth:`train_epoch` directly."""

    def __init__(self, config: TrainConfig, data: TrainingData, out_dir: Path, dist: DistContext,
                 progress: bool) -> None:
        self.config = config
        self.data = data
        self.out_dir = out_dir
        self.dist = dist
        self.progress = progress and dist.is_main
        self.device = pick_device(config.device, dist)
        if config.amp and self.device.type != "cuda":
            raise BackendUnavailableError("--amp needs a CUDA device; drop --amp on CPU")
        if config.semi_supervised and data.unlabelled is None:
            raise InputError("--semi-supervised needs unlabelled data: give --subjects-unlabeled "
                             "or a 2D file with more subjects than --subjects-train")
        lay_in, lay_out = get_layout(data.layout_in), get_layout(data.layout_out)
        self.parents = lay_out.parents
        self.reproj_joints = shared_joints(lay_out.name, lay_in.name)
        torch.manual_seed(config.seed)
        self.arch = config.arch(lay_in.num_joints, lay_out.num_joints)
        self.model_train = TemporalModelStrided(self.arch).to(self.device)
        self.model_eval = TemporalModel(self.arch).to(self.device)
        params = list(self.model_train.parameters())
        self.traj_train: torch.nn.Module | None = None
        self.traj_eval: TemporalModel | None = None
        if config.semi_supervised:
            # The trajectory model: the same architecture with one output joint (the root).
            self.traj_arch = replace(self.arch, joints_out=1)
            self.traj_train = TemporalModelStrided(self.traj_arch).to(self.device)
            self.traj_eval = TemporalModel(self.traj_arch).to(self.device)
            params += list(self.traj_train.parameters())
        self.optimizer = torch.optim.Adam(params, lr=config.lr, amsgrad=True)
        self.scaler = torch.amp.GradScaler("cuda") if config.amp else None
        self.epoch = 0
        self.lr = config.lr
        self.curves: dict[str, list] = {"epoch": [], "train_loss_m": [], "valid_mpjpe_m": [], "lr": [],
                                        "bn_momentum": [], "samples_per_s": [], "seconds": []}
        if config.semi_supervised:
            self.curves.update({"train_traj_loss": [], "train_reproj_loss": [], "train_bone_loss_m": []})
        self.best = float("inf")
        if dist.active:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model_train = DDP(self.model_train, device_ids=ids)
            if self.traj_train is not None:
                self.traj_train = DDP(self.traj_train, device_ids=ids)

    # ------------------------------------------------------------------ state
    def training_state(self) -> dict:
        """Everything needed to continue exactly where this epoch ended (plain data + tensors)."""
        state = {
            "epoch": self.epoch,
            "lr": self.lr,
            "best": self.best,
            "config": self.config.to_dict(),
            "model_pos": {k: v.detach().cpu().clone() for k, v in _unwrap(self.model_train).state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "sampler": self.data.labelled.state_dict(),
            "sampler_unlabelled": self.data.unlabelled.state_dict() if self.data.unlabelled is not None else None,
            "rng": _rng_state(self.device),
            "curves": self.curves,
        }
        if self.traj_train is not None:
            state["model_traj"] = {k: v.detach().cpu().clone()
                                   for k, v in _unwrap(self.traj_train).state_dict().items()}
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        return state

    def restore(self, state: dict, source: str) -> None:
        saved = dict(state.get("config") or {})
        now = self.config.to_dict()
        keys = ("filter_widths", "channels", "causal", "semi_supervised", "batch_size")
        diffs = [f"{k}={saved.get(k)!r} (now {now[k]!r})" for k in keys if saved.get(k) != now[k]]
        if diffs:
            raise CheckpointError(f"{source}: cannot resume: the run was started with "
                                  f"{', '.join(diffs)}; use the same settings or a new --out")
        try:
            _unwrap(self.model_train).load_state_dict(state["model_pos"])
            if self.traj_train is not None:
                _unwrap(self.traj_train).load_state_dict(state["model_traj"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.data.labelled.load_state_dict(state["sampler"])
            if self.data.unlabelled is not None and state.get("sampler_unlabelled") is not None:
                self.data.unlabelled.load_state_dict(state["sampler_unlabelled"])
            _set_rng_state(state["rng"], self.device)
            if self.scaler is not None and "scaler" in state:
                self.scaler.load_state_dict(state["scaler"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise CheckpointError(f"{source}: training state is incomplete or does not fit this run "
                                  f"({exc.__class__.__name__}: {str(exc)[:120]}); start a new --out") from None
        self.epoch = int(state["epoch"])
        self.lr = float(state["lr"])
        self.best = float(state.get("best", float("inf")))
        self.curves = {k: list(v) for k, v in state["curves"].items()}
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr

    # ------------------------------------------------------------------ one epoch
    def _unlabelled_batches(self) -> Iterator[BatchLike]:
        """The unlabelled sampler cycled for as long as the labelled epoch lasts."""
        assert self.data.unlabelled is not None
        while True:
            empty = True
            for batch in self.data.unlabelled:
                empty = False
                yield batch
            if empty:
                raise InputError("the unlabelled data yields no windows; add longer sequences")

    def train_epoch(self) -> EpochStats:
        cfg, dev = self.config, self.device
        self.model_train.train()
        momentum = bn_momentum(self.epoch, cfg.epochs, cfg.bn_momentum_start, cfg.bn_momentum_end)
        try:
            steps = len(self.data.labelled)  # type: ignore[arg-type]
        except TypeError:
            steps = 0
        if steps and cfg.bn_min_refresh > 0:
            momentum = max(momentum, min(cfg.bn_momentum_start, cfg.bn_min_refresh / steps))
        _unwrap(self.model_train).set_bn_momentum(momentum)
        semi_now = cfg.semi_supervised and self.epoch >= cfg.warmup
        if self.traj_train is not None:
            self.traj_train.train()
            _unwrap(self.traj_train).set_bn_momentum(momentum)
        unlabelled = self._unlabelled_batches() if semi_now else None
        sums = {"loss": 0.0, "traj": 0.0, "reproj": 0.0, "bone": 0.0}
        n_samples = 0
        start = time.perf_counter()
        bar = None
        batches: Iterable[BatchLike] = self.data.labelled
        if self.progress:
            from tqdm import tqdm

            total = None
            try:
                total = len(self.data.labelled)  # type: ignore[arg-type]
            except TypeError:
                pass
            bar = tqdm(batches, total=total, desc=f"epoch {self.epoch + 1}/{cfg.epochs}", unit="batch",
                       leave=False, dynamic_ncols=True)
            batches = bar
        autocast = (torch.autocast(device_type="cuda", dtype=torch.float16) if cfg.amp
                    else torch.autocast(device_type=dev.type, enabled=False))
        for batch in batches:
            x = _shard(_tensor(batch.kpts_2d, dev), self.dist)
            pose = _shard(_tensor(batch.pose_3d, dev), self.dist)
            pose = pose - pose[:, :, :1]
            split = x.shape[0]
            if split == 0:
                continue
            ub = None
            if unlabelled is not None:
                ub = next(unlabelled)
                xu = _shard(_tensor(ub.kpts_2d, dev), self.dist)
                x = torch.cat([x, xu], dim=0)
            self.optimizer.zero_grad(set_to_none=True)
            with autocast:
                pred = self.model_train(x).float()
                loss_pos = pose_loss(pred[:split], pose)
                loss = loss_pos
                if self.traj_train is not None:
                    traj = _shard(_tensor(batch.traj_3d, dev), self.dist)
                    pred_traj = self.traj_train(x).float()
                    loss_traj = trajectory_loss(pred_traj[:split], traj)
                    loss = loss + loss_traj
                    sums["traj"] += float(loss_traj.detach()) * split
                    if ub is not None:
                        intr = _shard(_tensor(ub.intrinsics, dev), self.dist)
                        kpts_u = _window_targets(x[split:], pred.shape[1], self.arch)
                        joints_out, joints_in = self.reproj_joints or (None, None)
                        loss_reproj = reprojection_loss(pred[split:], pred_traj[split:], intr, kpts_u,
                                                        joints_out, joints_in, cfg.linear_projection)
                        loss_bone = bone_length_loss(pred[split:], pred[:split], self.parents)
                        loss = loss + loss_reproj + loss_bone
                        sums["reproj"] += float(loss_reproj.detach()) * split
                        sums["bone"] += float(loss_bone.detach()) * split
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                loss.backward()
                self.optimizer.step()
            n = x.shape[0] * self.dist.world_size
            n_samples += n
            sums["loss"] += float(loss_pos.detach()) * split
            if bar is not None:
                rate = n_samples / max(time.perf_counter() - start, 1e-9)
                bar.set_postfix(loss_mm=f"{float(loss_pos.detach()) * 1000:.1f}", samples_s=f"{rate:.0f}")
        if bar is not None:
            bar.close()
        seconds = time.perf_counter() - start
        labelled = max(n_samples if unlabelled is None else n_samples / 2, 1) / self.dist.world_size
        stats = EpochStats(train_loss_m=sums["loss"] / labelled, samples_per_s=n_samples / max(seconds, 1e-9),
                           seconds=seconds, bn_momentum=momentum, lr=self.lr,
                           train_traj_loss=sums["traj"] / labelled, train_reproj_loss=sums["reproj"] / labelled,
                           train_bone_loss_m=sums["bone"] / labelled)
        if n_samples == 0:
            raise InputError("the training data yields no windows; use longer sequences or a smaller --arch")
        return stats

    def validate(self) -> float:
        self.model_eval.load_state_dict(_unwrap(self.model_train).state_dict())
        self.model_eval.eval()
        return validation_mpjpe(self.model_eval, self.data.validation, self.data.layout_in,
                                self.data.layout_out, flip=False)

    def meta(self) -> dict:
        return {
            "trained_by": "pose3d train",
            "config": self.config.to_dict(),
            "epochs_run": self.epoch,
            "valid_mpjpe_mm": None if not self.curves["valid_mpjpe_m"] else
            _finite_or_none(self.curves["valid_mpjpe_m"][-1] * 1000),
            "best_valid_mpjpe_mm": _finite_or_none(self.best * 1000),
            "data": self.data.description,
            "receptive_field": self.arch.receptive_field,
        }

    def save(self, valid: float) -> None:
        self.model_eval.load_state_dict(_unwrap(self.model_train).state_dict())
        traj_eval = None
        if self.traj_train is not None and self.traj_eval is not None:
            self.traj_eval.load_state_dict(_unwrap(self.traj_train).state_dict())
            traj_eval = self.traj_eval
        kw = dict(layout_in=self.data.layout_in, layout_out=self.data.layout_out, model_traj=traj_eval)
        save_checkpoint(self.out_dir / LAST, self.model_eval, meta=self.meta(),
                        training_state=self.training_state(), **kw)
        # A new best, or (before any validated epoch) a first best.pt so that one always exists.
        if valid <= self.best or (not math.isfinite(self.best) and not (self.out_dir / BEST).exists()):
            save_checkpoint(self.out_dir / BEST, self.model_eval, meta=self.meta(), **kw)


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def train(config: TrainConfig, data: TrainingData, out_dir: str | Path, *, resume: str | Path | None = None,
          progress: bool = True, on_epoch=None) -> TrainResult:
    """Train a lifter; see the module docstring.

    Args:
        config: hyper-parameters.
        data: samplers (seeded; their state is checkpointed), validation clips and layouts.
        out_dir: receives ``last.pt``, ``best.pt``, ``curve.png`` and ``log.json``.
        resume: a ``last.pt`` written by an earlier run with the same settings; training
            continues after its last finished epoch, with identical results to an
            uninterrupted run.
        progress: show a tqdm bar (loss in mm, samples per second).
        on_epoch: optional callback ``f(epoch, stats)`` after each epoch (rank 0).
    Returns:
        :class:`TrainResult`.
    """
    out_dir = Path(out_dir)
    dist = distributed_from_env()
    if dist.active and not torch.distributed.is_initialized():
        backend = "nccl" if (config.device != "cpu" and torch.cuda.is_available()) else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(dist.local_rank)
        torch.distributed.init_process_group(backend=backend)
    run = TrainingRun(config, data, out_dir, dist, progress)
    if resume is not None:
        ck = load_checkpoint(resume)
        if not ck.training_state:
            raise CheckpointError(f"{resume}: holds no training state (only last.pt files written by "
                                  "`pose3d train` can be resumed)")
        run.restore(ck.training_state, str(resume))
    if dist.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    while run.epoch < config.epochs:
        stats = run.train_epoch()
        last_epoch = run.epoch + 1 == config.epochs
        due = (run.epoch + 1) % config.validate_every == 0 or last_epoch
        valid = run.validate() if (dist.is_main and due) else float("nan")
        run.epoch += 1
        for key, value in (("epoch", run.epoch), ("valid_mpjpe_m", valid), *asdict(stats).items()):
            if key in run.curves:
                run.curves[key].append(float(value))
        improved = valid < run.best
        # The paper's schedule: decay the learning rate after every epoch (before saving, so
        # that a resumed run continues with the decayed rate).
        run.lr *= config.lr_decay
        for group in run.optimizer.param_groups:
            group["lr"] = run.lr
        if dist.is_main:
            if improved:
                run.best = valid
            run.save(valid)
            if due:  # the curve changes meaningfully with a validation point; drawing costs ~0.5 s
                write_curve_png(out_dir / "curve.png", run.curves)
            write_log(out_dir / "log.json", run)
            if on_epoch is not None:
                on_epoch(run.epoch, {k: v[-1] for k, v in run.curves.items() if v})
            log.info("epoch %d: train %.1f mm, valid %.1f mm, %.0f samples/s", run.epoch,
                     stats.train_loss_m * 1000, valid * 1000, stats.samples_per_s)
        if dist.active:
            torch.distributed.barrier()
    run.model_eval.load_state_dict(_unwrap(run.model_train).state_dict())
    return TrainResult(out_dir=out_dir, last_checkpoint=out_dir / LAST, best_checkpoint=out_dir / BEST,
                       curves=run.curves, best_valid_mpjpe_m=run.best, epochs_run=run.epoch,
                       model_pos=run.model_eval.eval())


# --------------------------------------------------------------------------------- outputs


def write_curve_png(path: Path, curves: dict) -> Path:
    """Training loss and validation MPJPE (mm) against the epoch, as a PNG (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    epochs = curves["epoch"]
    ax.plot(epochs, np.asarray(curves["train_loss_m"]) * 1000, "o-", label="train MPJPE (strided, dropout)")
    ax.plot(epochs, np.asarray(curves["valid_mpjpe_m"]) * 1000, "s-", label="validation MPJPE")
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (mm)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def write_log(path: Path, run: TrainingRun) -> Path:
    """JSON log: config, data description, curves, best validation error."""
    doc = {"config": run.config.to_dict(), "arch": run.arch.to_dict(), "receptive_field": run.arch.receptive_field,
           "layout_in": run.data.layout_in, "layout_out": run.data.layout_out, "data": run.data.description,
           "epochs_run": run.epoch, "best_valid_mpjpe_mm": _finite_or_none(run.best * 1000),
           "curves": {k: [_finite_or_none(x) for x in v] for k, v in run.curves.items()}, "device": str(run.device), "world_size": run.dist.world_size}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=1, allow_nan=False, default=_json_default) + "\n")
    return path


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
