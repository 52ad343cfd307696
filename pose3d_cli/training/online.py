"""Training the built-in lifter and its trajectory model on windows drawn on the fly.

The models are the paper's (:class:`~pose3d_cli.lifting.model.TemporalModel`), trained in their
whole-sequence form on windows of ``receptive_field + outputs − 1`` frames that yield
``outputs`` poses each (:class:`~pose3d_cli.training.augment.OnlineSampler`: a fresh camera,
body, speed and detector noise per window). Losses, as in the paper's semi-supervised setup
(here both supervised):

- pose model: MPJPE of the root-relative Human3.6M-17 pose (camera frame);
- trajectory model (one output joint): the root position in the canonical camera
  (:data:`~pose3d_cli.training.augment.CANONICAL_FOCAL`), MPJPE weighted by ``1 / z`` of the
  target (:func:`~pose3d_cli.training.losses.trajectory_loss`).

Amsgrad, learning rate decayed by ``lr_decay`` per epoch, BatchNorm momentum decayed from 0.1
to 0.001 (floored at two refreshes per epoch). The weights of the last epoch are kept (the
held-out sources are never used to choose an epoch); ``last.pt`` after every epoch holds the
whole state, and a run continues from it with ``resume=True``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from pose3d_cli.io.atomic import atomic_path
from pose3d_cli.lifting.checkpoint import load_checkpoint, save_checkpoint
from pose3d_cli.lifting.model import ArchSpec, TemporalModel
from pose3d_cli.training.augment import (
    CANONICAL_FOCAL,
    DetectorNoise,
    OnlineSampler,
    ViewConfig,
    ViewSequence,
)
from pose3d_cli.training.losses import pose_loss, trajectory_loss
from pose3d_cli.training.sources import Clip

log = logging.getLogger(__name__)

#: The 12 limb joints of Human3.6M-17 (hips, knees, feet, shoulders, elbows, wrists) on which
#: the held-out error is reported.
LIMB_JOINTS = (1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16)


@dataclass(frozen=True)
class OnlineConfig:
    """One run's settings.

    Attributes:
        filter_widths, channels, dropout, causal: the pose model (see :class:`ArchSpec`).
        traj_channels: channels of the trajectory model (same widths; 0: no trajectory model).
        outputs: target frames per window.
        batch_size: windows per step (``batch_size · outputs`` poses).
        batches_per_epoch, epochs: run length.
        lr, lr_decay: Amsgrad learning rate, multiplied by ``lr_decay`` after every epoch.
        traj_weight: weight of the trajectory loss.
        seed: seeds the weights, dropout and every batch.
        view, noise: augmentation.
        source_weight_power: see :class:`OnlineSampler`.
    """

    filter_widths: tuple[int, ...] = (3, 3, 3, 3)
    channels: int = 256
    dropout: float = 0.15
    causal: bool = False
    traj_channels: int = 128
    outputs: int = 16
    batch_size: int = 128
    batches_per_epoch: int = 100
    epochs: int = 60
    lr: float = 1e-3
    lr_decay: float = 0.95
    traj_weight: float = 1.0
    seed: int = 0
    view: ViewConfig = field(default_factory=ViewConfig)
    noise: DetectorNoise = field(default_factory=DetectorNoise)
    source_weight_power: float = 0.5

    def arch(self) -> ArchSpec:
        return ArchSpec(filter_widths=tuple(self.filter_widths), channels=self.channels, joints_in=17,
                        joints_out=17, causal=self.causal, dropout=self.dropout)

    def traj_arch(self) -> ArchSpec | None:
        if self.traj_channels <= 0:
            return None
        return replace(self.arch(), channels=self.traj_channels, joints_out=1)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["filter_widths"] = list(self.filter_widths)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "OnlineConfig":
        d = dict(d)
        d["filter_widths"] = tuple(d["filter_widths"])
        view = dict(d.pop("view"))
        view = {k: tuple(v) if isinstance(v, list) else v for k, v in view.items()}
        noise = dict(d.pop("noise"))
        noise = {k: tuple(v) if isinstance(v, list) else v for k, v in noise.items()}
        return cls(**d, view=ViewConfig(**view), noise=DetectorNoise(**noise))


# ----------------------------------------------------------------------------------- evaluation


def procrustes_errors(pred_m: np.ndarray, target_m: np.ndarray) -> np.ndarray:
    """Per-joint errors ``(N, J)`` after the optimal similarity transform (rotation, translation,
    uniform scale; no reflection) of each predicted pose ``(N, J, 3)`` onto its target."""
    p = pred_m.astype(np.float64)
    t = target_m.astype(np.float64)
    mp, mt = p.mean(1, keepdims=True), t.mean(1, keepdims=True)
    p0, t0 = p - mp, t - mt
    np_, nt = np.sqrt((p0 ** 2).sum((1, 2), keepdims=True)), np.sqrt((t0 ** 2).sum((1, 2), keepdims=True))
    p0, t0 = p0 / np.maximum(np_, 1e-12), t0 / np.maximum(nt, 1e-12)
    h = np.einsum("nji,njk->nik", p0, t0)
    u, s, vt = np.linalg.svd(h)
    v = np.swapaxes(vt, 1, 2)
    d = np.sign(np.linalg.det(v @ np.swapaxes(u, 1, 2)))
    v[:, :, -1] *= d[:, None]
    s[:, -1] *= d
    r = v @ np.swapaxes(u, 1, 2)
    tr = s.sum(1)[:, None, None]
    aligned = tr * nt * np.einsum("nij,nkj->nki", r, p0) + mt
    return np.linalg.norm(aligned - t, axis=-1)


@dataclass(frozen=True)
class HeldOutErrors:
    """Errors of a model over test sequences, millimetres, frame-weighted.

    ``p_mpjpe_limbs_mm``: P-MPJPE over the 12 limb joints (each pose aligned on those joints);
    ``p_mpjpe_mm`` / ``mpjpe_mm``: all 17 joints (MPJPE root-relative, raw output);
    ``traj_rel_err``: mean ``|pred − true| / z_true`` of the trajectory (None without one);
    ``frames``: frames evaluated."""

    p_mpjpe_limbs_mm: float
    p_mpjpe_mm: float
    mpjpe_mm: float
    traj_rel_err: float | None
    frames: int

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_sequences(model_pos: TemporalModel, sequences: Sequence[ViewSequence], *,
                       model_traj: TemporalModel | None = None, flip: bool = True,
                       clean_2d: bool = False) -> HeldOutErrors:
    """Lift every sequence (through the one :func:`~pose3d_cli.lifting.predict.predict`) and
    measure it against its ground truth (see :class:`HeldOutErrors`)."""
    from pose3d_cli.lifting.predict import predict

    sums = {"lim": 0.0, "p": 0.0, "m": 0.0, "traj": 0.0}
    frames = 0
    for seq in sequences:
        kp = seq.kpts_clean if clean_2d else seq.kpts_norm
        pred = predict(model_pos, kp, layout_in="coco17", layout_out="h36m17", flip=flip).astype(np.float64)
        target = seq.pose_cam_m.astype(np.float64)
        target = target - target[:, :1]
        n = len(target)
        sums["lim"] += procrustes_errors(pred[:, LIMB_JOINTS], target[:, LIMB_JOINTS]).mean() * n
        sums["p"] += procrustes_errors(pred, target).mean() * n
        sums["m"] += np.linalg.norm(pred - target, axis=-1).mean() * n
        if model_traj is not None:
            from pose3d_cli.lifting.trajectory import predict_trajectory

            tr = predict_trajectory(model_traj, kp, layout_in="coco17", flip=flip)
            true = seq.traj_cam_m[:, 0].astype(np.float64)
            sums["traj"] += float((np.linalg.norm(tr - true, axis=-1) / true[:, 2]).mean()) * n
        frames += n
    f = max(frames, 1)
    return HeldOutErrors(p_mpjpe_limbs_mm=float(sums["lim"] / f * 1000), p_mpjpe_mm=float(sums["p"] / f * 1000),
                         mpjpe_mm=float(sums["m"] / f * 1000),
                         traj_rel_err=float(sums["traj"] / f) if model_traj is not None else None,
                         frames=int(frames))


# ----------------------------------------------------------------------------------- training


def _bn_momentum(epoch: int, epochs: int, steps: int) -> float:
    m = 0.1 * math.exp(-epoch / epochs * math.log(0.1 / 0.001))
    return max(m, min(0.1, 2.0 / max(steps, 1)))


def _state(model: torch.nn.Module) -> dict:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


@dataclass(frozen=True)
class OnlineResult:
    out_dir: Path
    checkpoint: Path
    curves: dict
    seconds: float


def train_online(config: OnlineConfig, clips: Sequence[Clip], out_dir: str | Path, *,
                 validation: Sequence[ViewSequence] = (), validate_every: int = 5,
                 meta: dict | None = None, resume: bool = False, progress: bool = False,
                 on_epoch: Callable[[int, dict], None] | None = None) -> OnlineResult:
    """Train (see the module docstring); writes ``last.pt`` (with the training state) every
    epoch and ``final.pt`` (weights only) at the end, plus ``log.json``.

    Args:
        config: settings.
        clips: training clips.
        out_dir: output folder.
        validation: test sequences measured every ``validate_every`` epochs (monitoring only).
        meta: extra metadata stored in the checkpoints (data hashes, commands).
        resume: continue from ``out_dir/last.pt`` when it exists.
        progress: print one line per epoch.
        on_epoch: callback ``f(epoch, stats)``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    arch = config.arch()
    model = TemporalModel(arch)
    traj_arch = config.traj_arch()
    traj = TemporalModel(traj_arch) if traj_arch is not None else None
    params = list(model.parameters()) + (list(traj.parameters()) if traj is not None else [])
    opt = torch.optim.Adam(params, lr=config.lr, amsgrad=True)
    sampler = OnlineSampler(clips, receptive_field=arch.receptive_field, outputs=config.outputs,
                            causal=config.causal, batch_size=config.batch_size,
                            batches_per_epoch=config.batches_per_epoch, view=config.view,
                            noise=config.noise, source_weight_power=config.source_weight_power,
                            seed=config.seed)
    curves: dict[str, list] = {"epoch": [], "loss_pose_mm": [], "loss_traj": [], "lr": [], "seconds": [],
                               "valid": []}
    epoch, lr = 0, config.lr
    last = out_dir / "last.pt"
    if resume and last.is_file():
        ck = load_checkpoint(last)
        st = ck.training_state or {}
        saved = dict(st.get("config") or {})
        saved.pop("epochs", None)
        now = config.to_dict()
        now.pop("epochs")
        if saved != now:
            raise ValueError(f"{last}: was trained with other settings (only --epochs may change on "
                             "resume); use a new output folder")
        model.load_state_dict(ck.model_pos.state_dict())
        if traj is not None and ck.model_traj is not None:
            traj.load_state_dict(ck.model_traj.state_dict())
        opt.load_state_dict(st["optimizer"])
        sampler.load_state_dict(st["sampler"])
        torch.set_rng_state(st["torch_rng"])
        epoch, lr, curves = int(st["epoch"]), float(st["lr"]), st["curves"]
    start_all = time.perf_counter()
    first, pad = sampler.first_target, 0
    meta = dict(meta or {})
    while epoch < config.epochs:
        model.train()
        if traj is not None:
            traj.train()
        m = _bn_momentum(epoch, config.epochs, config.batches_per_epoch)
        model.set_bn_momentum(m)
        if traj is not None:
            traj.set_bn_momentum(m)
        for g in opt.param_groups:
            g["lr"] = lr
        t0 = time.perf_counter()
        s_pose = s_traj = 0.0
        nb = 0
        for batch in sampler:
            x = torch.from_numpy(batch.kpts_2d)
            target = torch.from_numpy(batch.pose_3d)
            target = target - target[:, :, :1]
            opt.zero_grad(set_to_none=True)
            pred = model(x)
            loss_pose = pose_loss(pred, target)
            loss = loss_pose
            if traj is not None:
                pred_t = traj(x)
                loss_t = trajectory_loss(pred_t, torch.from_numpy(batch.traj_3d))
                loss = loss + config.traj_weight * loss_t
                s_traj += float(loss_t.detach())
            loss.backward()
            opt.step()
            s_pose += float(loss_pose.detach())
            nb += 1
        epoch += 1
        stats = {"epoch": epoch, "loss_pose_mm": s_pose / nb * 1000, "loss_traj": s_traj / nb,
                 "lr": lr, "seconds": time.perf_counter() - t0, "valid": None}
        lr *= config.lr_decay
        if validation and (epoch % validate_every == 0 or epoch == config.epochs):
            model.eval()
            if traj is not None:
                traj.eval()
            stats["valid"] = evaluate_sequences(model, validation, model_traj=traj, flip=False).to_dict()
        for k, v in stats.items():
            curves[k].append(v)
        run_meta = {**meta, "online_config": config.to_dict(), "epochs_run": epoch,
                    "receptive_field": arch.receptive_field, "canonical_focal": CANONICAL_FOCAL}
        state = {"config": config.to_dict(), "optimizer": opt.state_dict(), "sampler": sampler.state_dict(),
                 "torch_rng": torch.get_rng_state(), "epoch": epoch, "lr": lr, "curves": curves}
        model.eval()
        if traj is not None:
            traj.eval()
        save_checkpoint(last, model, layout_in="coco17", layout_out="h36m17", model_traj=traj,
                        meta=run_meta, training_state=state)
        _write_log(out_dir / "log.json", config, curves, meta)
        if progress:
            v = stats["valid"]
            print(f"epoch {epoch}/{config.epochs}: pose {stats['loss_pose_mm']:.1f} mm, traj "
                  f"{stats['loss_traj']:.3f}, {stats['seconds']:.0f} s"
                  + (f"; valid P-MPJPE limbs {v['p_mpjpe_limbs_mm']:.1f} mm, MPJPE {v['mpjpe_mm']:.1f} mm"
                     + (f", traj {v['traj_rel_err']:.3f}" if v.get("traj_rel_err") is not None else "")
                     if v else ""), flush=True)
        if on_epoch is not None:
            on_epoch(epoch, stats)
    final = out_dir / "final.pt"
    model.eval()
    if traj is not None:
        traj.eval()
    save_checkpoint(final, model, layout_in="coco17", layout_out="h36m17", model_traj=traj,
                    meta={**meta, "online_config": config.to_dict(), "epochs_run": epoch,
                          "receptive_field": arch.receptive_field, "canonical_focal": CANONICAL_FOCAL})
    return OnlineResult(out_dir=out_dir, checkpoint=final, curves=curves,
                        seconds=time.perf_counter() - start_all)


def _write_log(path: Path, config: OnlineConfig, curves: dict, meta: dict) -> None:
    doc = {"config": config.to_dict(), "curves": curves, "meta": meta}
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(doc, indent=1, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
