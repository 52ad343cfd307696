"""The one ``predict``: whole-sequence inference used by ``lift``, ``infer``, ``evaluate`` and
training validation (keypoint tracks go through :mod:`pose3d_cli.lifting.sequence`, which calls it).

- Edge padding: ``(receptive_field - 1) / 2`` replicated frames on each side (a causal model puts
  all ``receptive_field - 1`` before the first frame), so there is one pose per input frame, even
  for clips shorter than the receptive field.
- Test-time flip augmentation (on by default): the input is mirrored (x negated, left/right
  keypoints swapped), lifted, mirrored back (x negated, left/right joints swapped) and averaged
  with the unflipped prediction. Both run as one batch of two.
- Long sequences are lifted in chunks of ``chunk_frames`` output frames (each with its
  ``receptive_field - 1`` frames of context) so memory stays bounded.
- Inference folds each BatchNorm into the convolution before it (:func:`fuse_batchnorm`; the
  model's own forward pass runs on the folded copy).
"""

from __future__ import annotations

import copy
import logging
import weakref

import numpy as np
import torch
from torch import nn

from pose3d_cli.errors import InputError
from pose3d_cli.lifting.model import ArchSpec, TemporalModel
from pose3d_cli.skeleton import Layout, get_layout

log = logging.getLogger(__name__)


def _fold(conv: nn.Conv1d, bn: nn.BatchNorm1d) -> nn.Conv1d:
    scale = bn.weight.detach() / torch.sqrt(bn.running_var.detach() + bn.eps)
    fused = nn.Conv1d(conv.in_channels, conv.out_channels, conv.kernel_size[0], stride=conv.stride[0],
                      dilation=conv.dilation[0], bias=True).to(conv.weight.device, conv.weight.dtype)
    with torch.no_grad():
        fused.weight.copy_(conv.weight.detach() * scale[:, None, None])
        bias = bn.bias.detach() - bn.running_mean.detach() * scale
        if conv.bias is not None:
            bias = bias + conv.bias.detach() * scale
        fused.bias.copy_(bias)
    return fused


def fuse_batchnorm(model: TemporalModel) -> TemporalModel:
    """An inference copy of ``model`` with every BatchNorm (running statistics) folded into the
    convolution before it and replaced by an identity: the same forward pass, fewer operations,
    equal to ``model.eval()`` to float precision."""
    fused = copy.deepcopy(model).eval()
    fused.expand_conv = _fold(model.expand_conv, model.expand_bn)
    fused.expand_bn = nn.Identity()
    fused.layers_conv = nn.ModuleList(_fold(c, bn) for c, bn in zip(model.layers_conv, model.layers_bn))
    fused.layers_bn = nn.ModuleList(nn.Identity() for _ in model.layers_bn)
    return fused


#: model → (weights stamp, device, folded copy): folding is done once per weights, not per call
#: (a clip with many people lifts many short runs).
_FUSED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _fused_for(model: TemporalModel, device: torch.device) -> TemporalModel:
    """The folded copy of ``model`` on ``device``, made again whenever a weight or running
    statistic changed since (training validation between epochs)."""
    stamp = tuple(t._version for t in (*model.parameters(), *model.buffers())) + tuple(
        t.data_ptr() for t in model.parameters())
    cached = _FUSED.get(model)
    if cached is not None and cached[0] == stamp and cached[1] == device:
        return cached[2]
    fused = fuse_batchnorm(model).to(device)
    _FUSED[model] = (stamp, device, fused)
    return fused


def _as_layout(layout: Layout | str) -> Layout:
    return layout if isinstance(layout, Layout) else get_layout(layout)


def predict(model: TemporalModel, kpts_norm: np.ndarray | torch.Tensor, *,
            layout_in: Layout | str, layout_out: Layout | str, flip: bool = True,
            chunk_frames: int = 8192, device: torch.device | str | None = None,
            fuse: bool = True) -> np.ndarray:
    """Lift a 2D keypoint sequence to 3D, one pose per input frame.

    Args:
        model: a :class:`TemporalModel` (its train/eval mode is restored afterwards).
        kpts_norm: ``(T, J_in, 2)`` keypoints in normalised screen coordinates.
        layout_in, layout_out: joint layouts of the input and output (for flip swaps).
        flip: test-time flip augmentation.
        chunk_frames: output frames per forward pass (bounds memory).
        device: where to run (default: the model's device).
        fuse: fold BatchNorm into the convolutions (faster, same result to float precision).
    Returns:
        ``(T, J_out, 3)`` float32 camera-frame positions in metres, root-relative as trained
        (the raw output: joint 0 is near, not at, the origin).
    """
    arch: ArchSpec = model.arch
    lay_in, lay_out = _as_layout(layout_in), _as_layout(layout_out)
    x = kpts_norm.detach().cpu().numpy() if isinstance(kpts_norm, torch.Tensor) else np.asarray(kpts_norm)
    if x.ndim != 3 or x.shape[-1] != 2:
        raise InputError(f"keypoints must have shape (T, J, 2), got {x.shape}")
    if x.shape[1] != arch.joints_in:
        raise InputError(f"the lifter takes {arch.joints_in} joints but the keypoints have {x.shape[1]} "
                         f"({lay_in.name} has {lay_in.num_joints}); use a checkpoint for this layout")
    if lay_in.num_joints != arch.joints_in or lay_out.num_joints != arch.joints_out:
        raise InputError(f"layouts {lay_in.name}/{lay_out.name} do not match the model's "
                         f"{arch.joints_in}/{arch.joints_out} joints")
    if x.shape[0] < 1:
        raise InputError("no frames to lift")
    bad = ~np.isfinite(x).all(axis=(1, 2))
    if bad.any():
        frames = np.flatnonzero(bad)
        raise InputError(f"keypoints are NaN or infinite in {bad.sum()} frame(s) (first: {frames[0]}); "
                         "fill the gaps first (pose3d detect does) or cut those frames")
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    x = x.astype(np.float32)
    rf = arch.receptive_field
    half = (rf - 1) // 2
    before, after = (rf - 1, 0) if arch.causal else (half, half)
    padded = np.concatenate([np.repeat(x[:1], before, 0), x, np.repeat(x[-1:], after, 0)], 0)
    batch = padded[None]
    if flip:
        mirrored = padded.copy()
        mirrored[..., 0] *= -1
        mirrored = mirrored[:, lay_in.flip_permutation()]
        batch = np.stack([padded, mirrored])
    was_training = model.training
    model.eval()
    try:
        net = _fused_for(model, dev) if fuse else model.to(dev)
        inp = torch.from_numpy(batch).to(dev)
        t = x.shape[0]
        outs = []
        with torch.inference_mode():
            for start in range(0, t, chunk_frames):
                stop = min(start + chunk_frames, t)
                outs.append(net(inp[:, start: stop + rf - 1]).float().cpu())
        out = torch.cat(outs, 1).numpy()
    finally:
        model.train(was_training)
    if flip:
        back = out[1].copy()
        back[..., 0] *= -1
        back = back[:, lay_out.flip_permutation()]
        result = (out[0] + back) / 2
    else:
        result = out[0]
    return result.astype(np.float32)
