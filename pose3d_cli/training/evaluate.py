"""Evaluation as the paper reports it: a per-action table of protocol 1 (MPJPE), protocol 2
(P-MPJPE), protocol 3 (N-MPJPE) and the velocity error (MPJVE), with and without test-time flip
augmentation.

Each sequence (subject, action, camera) is lifted whole through the one
:func:`pose3d_cli.lifting.predict.predict`; the raw output is compared with the root-relative
ground truth (not re-centred, as in the paper). Actions are grouped by their first word
(``"Walking 1"`` and ``"Walking"`` are one row); within an action errors are averaged over all
frames of all its sequences; the bottom "Average" row is the mean over actions (the paper's
convention), and "All frames" the frame-weighted mean.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from pose3d_cli.errors import InputError
from pose3d_cli.io.atomic import atomic_path
from pose3d_cli.metrics import mean_velocity_error, mpjpe, n_mpjpe, p_mpjpe
from pose3d_cli.training.data import SequencePair

PROTOCOLS = ("mpjpe_mm", "p_mpjpe_mm", "n_mpjpe_mm", "mpjve_mm")
_HEADERS = {"mpjpe_mm": "P1 MPJPE", "p_mpjpe_mm": "P2 P-MPJPE", "n_mpjpe_mm": "P3 N-MPJPE",
            "mpjve_mm": "MPJVE"}


@dataclass(frozen=True)
class ActionErrors:
    """Errors of one action (or of an average row), millimetres.

    ``mpjve_mm`` is ``None`` when every sequence of the action has a single frame."""

    action: str
    frames: int
    sequences: int
    mpjpe_mm: float
    p_mpjpe_mm: float
    n_mpjpe_mm: float
    mpjve_mm: float | None


@dataclass(frozen=True)
class EvaluationTable:
    """Per-action rows plus the "Average" (mean over actions) and "All frames" rows."""

    flip: bool
    rows: tuple[ActionErrors, ...]
    average: ActionErrors
    all_frames: ActionErrors

    def to_dict(self) -> dict:
        return {"flip": self.flip, "actions": [asdict(r) for r in self.rows],
                "average": asdict(self.average), "all_frames": asdict(self.all_frames)}


@dataclass(frozen=True)
class EvaluationReport:
    """Both tables (without and with flip augmentation) and what was evaluated."""

    tables: tuple[EvaluationTable, ...]
    subjects: tuple[str, ...]
    checkpoint: str
    receptive_field: int
    layout_in: str
    layout_out: str

    def to_dict(self) -> dict:
        return {"checkpoint": self.checkpoint, "subjects": list(self.subjects),
                "receptive_field": self.receptive_field, "layout_in": self.layout_in,
                "layout_out": self.layout_out, "units": "mm",
                "tables": {("flip" if t.flip else "no_flip"): t.to_dict() for t in self.tables}}


def action_group(action: str) -> str:
    """The paper's action row of a sequence: the first word (``"Walking 1"`` → ``"Walking"``)."""
    return action.split(" ")[0]


def _sequence_errors(pred_m: np.ndarray, target_m: np.ndarray) -> dict[str, float | None]:
    """Sums over frames (not means) so that rows can be frame-weighted."""
    t = len(target_m)
    return {
        "mpjpe_mm": float(mpjpe(pred_m, target_m)) * 1000 * t,
        "p_mpjpe_mm": float(p_mpjpe(pred_m, target_m)) * 1000 * t,
        "n_mpjpe_mm": float(n_mpjpe(pred_m, target_m)) * 1000 * t,
        # Velocity: T - 1 differences; weighted by them.
        "mpjve_mm": float(mean_velocity_error(pred_m, target_m)) * 1000 * (t - 1) if t > 1 else None,
    }


def _row(action: str, sums: dict, frames: int, vel_frames: int, sequences: int) -> ActionErrors:
    return ActionErrors(action=action, frames=frames, sequences=sequences,
                        mpjpe_mm=sums["mpjpe_mm"] / frames, p_mpjpe_mm=sums["p_mpjpe_mm"] / frames,
                        n_mpjpe_mm=sums["n_mpjpe_mm"] / frames,
                        mpjve_mm=sums["mpjve_mm"] / vel_frames if vel_frames else None)


def lifted_sequences(model, sequences: Sequence, layout_in: str, layout_out: str, flip: bool,
                     device=None) -> Iterator[tuple[object, np.ndarray, np.ndarray]]:
    """The one evaluation loop (``pose3d evaluate`` and training validation): per sequence
    (anything with ``kpts_norm (T, J_in, 2)`` and ``pose_cam_m (T, J_out, 3)``), yield
    ``(sequence, prediction, target)`` as float64 metres, the prediction through the project's
    :func:`~pose3d_cli.lifting.predict.predict` and the target made root-relative (the raw
    output is not re-centred, as in the paper)."""
    from pose3d_cli.lifting.predict import predict

    for seq in sequences:
        pred = predict(model, seq.kpts_norm, layout_in=layout_in, layout_out=layout_out, flip=flip,
                       device=device).astype(np.float64)
        target = seq.pose_cam_m.astype(np.float64)
        yield seq, pred, target - target[:, :1]


def evaluate_table(model, sequences: Sequence[SequencePair], layout_in: str, layout_out: str,
                   flip: bool, device=None) -> EvaluationTable:
    """Per-action errors of ``model`` (a :class:`~pose3d_cli.lifting.model.TemporalModel`) on
    ``sequences`` (root-relative camera-frame targets, metres), in millimetres."""
    if not sequences:
        raise InputError("no sequences to evaluate; check --subjects-test and --actions")
    groups: dict[str, dict] = {}
    for seq, pred, target in lifted_sequences(model, sequences, layout_in, layout_out, flip, device):
        errs = _sequence_errors(pred, target)
        g = groups.setdefault(action_group(seq.action), {"sums": dict.fromkeys(PROTOCOLS, 0.0),
                                                         "frames": 0, "vel": 0, "n": 0})
        for k, v in errs.items():
            if v is not None:
                g["sums"][k] += v
        g["frames"] += len(target)
        g["vel"] += len(target) - 1
        g["n"] += 1
    rows = tuple(_row(a, g["sums"], g["frames"], g["vel"], g["n"]) for a, g in sorted(groups.items()))
    vel_rows = [r.mpjve_mm for r in rows if r.mpjve_mm is not None]
    average = ActionErrors(
        action="Average", frames=sum(r.frames for r in rows), sequences=sum(r.sequences for r in rows),
        mpjpe_mm=float(np.mean([r.mpjpe_mm for r in rows])),
        p_mpjpe_mm=float(np.mean([r.p_mpjpe_mm for r in rows])),
        n_mpjpe_mm=float(np.mean([r.n_mpjpe_mm for r in rows])),
        mpjve_mm=float(np.mean(vel_rows)) if vel_rows else None)
    total = dict.fromkeys(PROTOCOLS, 0.0)
    for g in groups.values():
        for k in PROTOCOLS:
            total[k] += g["sums"][k]
    all_frames = _row("All frames", total, sum(g["frames"] for g in groups.values()),
                      sum(g["vel"] for g in groups.values()), len(sequences))
    return EvaluationTable(flip=flip, rows=rows, average=average, all_frames=all_frames)


def evaluate_checkpoint(ck, sequences: Sequence[SequencePair], flips: Sequence[bool] = (False, True),
                        device=None, subjects: Sequence[str] = ()) -> EvaluationReport:
    """Evaluate a :class:`~pose3d_cli.lifting.checkpoint.LoadedCheckpoint` without and with flip."""
    if sequences and sequences[0].kpts_norm.shape[1] != ck.arch.joints_in:
        raise InputError(f"the 2D data has {sequences[0].kpts_norm.shape[1]} joints but the checkpoint "
                         f"{ck.path} takes {ck.arch.joints_in} ({ck.layout_in}); use a matching --data-2d")
    if sequences and sequences[0].pose_cam_m.shape[1] != ck.arch.joints_out:
        raise InputError(f"the 3D data has {sequences[0].pose_cam_m.shape[1]} joints but the checkpoint "
                         f"{ck.path} outputs {ck.arch.joints_out} ({ck.layout_out})")
    tables = tuple(evaluate_table(ck.model_pos, sequences, ck.layout_in, ck.layout_out, flip, device)
                   for flip in flips)
    return EvaluationReport(tables=tables, subjects=tuple(subjects), checkpoint=str(ck.path),
                            receptive_field=ck.arch.receptive_field, layout_in=ck.layout_in,
                            layout_out=ck.layout_out)


def format_table(table: EvaluationTable) -> str:
    """A fixed-width text table (one row per action, then Average and All frames)."""
    name_w = max(12, *(len(r.action) for r in table.rows))
    head = f"{'Action':<{name_w}} {'frames':>8} " + " ".join(f"{_HEADERS[p]:>11}" for p in PROTOCOLS)
    lines = [f"flip augmentation: {'on' if table.flip else 'off'} (errors in mm)", head, "-" * len(head)]

    def fmt(r: ActionErrors) -> str:
        vals = [getattr(r, p) for p in PROTOCOLS]
        cells = " ".join(f"{v:>11.1f}" if v is not None else f"{'-':>11}" for v in vals)
        return f"{r.action:<{name_w}} {r.frames:>8d} {cells}"

    lines += [fmt(r) for r in table.rows]
    lines.append("-" * len(head))
    lines += [fmt(table.average), fmt(table.all_frames)]
    return "\n".join(lines)


def write_report_json(path: str | Path, report: EvaluationReport, overwrite: bool = True) -> Path:
    """Write the report as JSON (atomically)."""
    with atomic_path(path, overwrite) as tmp:
        tmp.write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    return Path(path)
