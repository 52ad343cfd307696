"""Evaluation protocols of the paper, on numpy arrays or torch tensors of shape ``(*, J, 3)``.

Each function returns the mean over all leading dimensions and joints, in the input's units
(a Python float for numpy input, a 0-d tensor for torch input so it can be a loss).

- :func:`mpjpe` — protocol 1: mean per-joint position error.
- :func:`p_mpjpe` — protocol 2: error after the optimal similarity transform (rotation,
  translation, uniform scale, no reflection) aligning each predicted pose to its target.
- :func:`n_mpjpe` — protocol 3: error after the optimal uniform scale only.
- :func:`mean_velocity_error` — MPJPE of first differences over time (axis ``-3``).
- :func:`weighted_mpjpe` — per-sample weights, e.g. ``1 / z`` of the target depth.
"""

from __future__ import annotations

from typing import Union

import numpy as np
import torch

Array = Union[np.ndarray, torch.Tensor]


def _check(pred: Array, target: Array, name: str) -> None:
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(f"{name}: pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if pred.shape[-1] != 3 and pred.shape[-1] != 2:
        raise ValueError(f"{name}: expected (*, J, 3) arrays, got {tuple(pred.shape)}")


def _norm(x: Array) -> Array:
    return torch.linalg.norm(x, dim=-1) if isinstance(x, torch.Tensor) else np.linalg.norm(x, axis=-1)


def _mean(x: Array):
    return x.mean() if isinstance(x, torch.Tensor) else float(np.mean(x))


def mpjpe(pred: Array, target: Array):
    """Protocol 1: mean Euclidean distance between predicted and target joints."""
    _check(pred, target, "mpjpe")
    return _mean(_norm(pred - target))


def weighted_mpjpe(pred: Array, target: Array, weights: Array):
    """MPJPE with a weight per pose: ``weights`` has shape ``pred.shape[:-2]`` (or broadcasts to
    ``pred.shape[:-1]``); returns ``mean(w * ||pred - target||)`` over poses and joints."""
    _check(pred, target, "weighted_mpjpe")
    err = _norm(pred - target)
    w = weights
    while w.ndim < err.ndim:
        w = w[..., None]
    return _mean(w * err)


def _similarity_align_np(pred: np.ndarray, target: np.ndarray, scale_only: bool = False) -> np.ndarray:
    """Align ``pred (N, J, 3)`` to ``target`` by similarity (or scale only); float64 inside."""
    p = pred.astype(np.float64)
    t = target.astype(np.float64)
    if scale_only:
        s = (p * t).sum(axis=(-1, -2), keepdims=True) / np.maximum((p * p).sum(axis=(-1, -2), keepdims=True), 1e-12)
        return s * p
    mu_p = p.mean(axis=-2, keepdims=True)
    mu_t = t.mean(axis=-2, keepdims=True)
    p0, t0 = p - mu_p, t - mu_t
    norm_p = np.sqrt((p0 ** 2).sum(axis=(-1, -2), keepdims=True))
    norm_t = np.sqrt((t0 ** 2).sum(axis=(-1, -2), keepdims=True))
    norm_p = np.maximum(norm_p, 1e-12)
    norm_t = np.maximum(norm_t, 1e-12)
    p0 /= norm_p
    t0 /= norm_t
    h = np.matmul(np.swapaxes(t0, -1, -2), p0)  # (N, 3, 3)
    u, s, vt = np.linalg.svd(h)
    v = np.swapaxes(vt, -1, -2)
    r = np.matmul(v, np.swapaxes(u, -1, -2))
    # No reflection: flip the least singular direction where det(R) < 0.
    sign = np.sign(np.expand_dims(np.linalg.det(r), -1))
    v[..., :, -1] *= sign
    s[..., -1] *= sign[..., 0]
    r = np.matmul(v, np.swapaxes(u, -1, -2))
    tr = s.sum(axis=-1)[..., None, None]
    a = tr * norm_t / norm_p
    return a * np.matmul(p - mu_p, r) + mu_t


def _to_numpy(x: Array) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def procrustes_align(pred: Array, target: Array) -> np.ndarray:
    """``pred (*, J, 3)`` aligned to ``target`` by the optimal similarity transform (numpy)."""
    _check(pred, target, "procrustes_align")
    p, t = _to_numpy(pred), _to_numpy(target)
    shape = p.shape
    return _similarity_align_np(p.reshape(-1, *shape[-2:]), t.reshape(-1, *shape[-2:])).reshape(shape)


def p_mpjpe(pred: Array, target: Array) -> float:
    """Protocol 2: MPJPE after per-pose Procrustes alignment with scale (no reflection).

    Not differentiable (computed in float64 numpy); returns a float."""
    _check(pred, target, "p_mpjpe")
    t = _to_numpy(target).astype(np.float64)
    aligned = procrustes_align(pred, target)
    return float(np.mean(np.linalg.norm(aligned - t, axis=-1)))


def n_mpjpe(pred: Array, target: Array):
    """Protocol 3: MPJPE after the optimal per-pose uniform scale of the prediction."""
    _check(pred, target, "n_mpjpe")
    if isinstance(pred, torch.Tensor):
        num = (pred * target).sum(dim=(-1, -2), keepdim=True)
        den = (pred * pred).sum(dim=(-1, -2), keepdim=True).clamp_min(1e-12)
        return mpjpe(num / den * pred, target)
    p, t = _to_numpy(pred), _to_numpy(target)
    shape = p.shape
    scaled = _similarity_align_np(p.reshape(-1, *shape[-2:]), t.reshape(-1, *shape[-2:]), scale_only=True)
    return mpjpe(scaled.reshape(shape), t.astype(np.float64))


def mean_velocity_error(pred: Array, target: Array, axis: int = -3):
    """MPJVE: MPJPE of first differences along the time axis (default ``-3`` for ``(T, J, 3)``)."""
    _check(pred, target, "mean_velocity_error")
    if pred.shape[axis] < 2:
        raise ValueError(f"mean_velocity_error needs at least 2 frames on axis {axis}, got {tuple(pred.shape)}")
    if isinstance(pred, torch.Tensor):
        return mpjpe(torch.diff(pred, dim=axis), torch.diff(target, dim=axis))
    return mpjpe(np.diff(pred, axis=axis), np.diff(target, axis=axis))
