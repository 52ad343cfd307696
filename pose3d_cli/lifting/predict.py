"""The one ``predict``: whole-sequence inference used by ``lift``, ``infer``, ``evaluate`` and
training validation.

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

import numpy as np
import torch
from torch import nn

from pose3d_cli.errors import InputError
from pose3d_cli.lifting.model import ArchSpec, TemporalModel
from pose3d_cli.skeleton import Layout, coco17_to_h36m17, get_layout

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
        net = fuse_batchnorm(model).to(dev) if fuse else model.to(dev)
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


def lift_track(track, ck, *, flip: bool = True, device: torch.device | str | None = None,
               chunk_frames: int = 8192) -> np.ndarray:
    """Lift a :class:`~pose3d_cli.io.keypoint_file.KeypointTrack` with a
    :class:`~pose3d_cli.lifting.checkpoint.LoadedCheckpoint`; returns ``(T, J_out, 3)`` metres.

    A COCO-17 track fed to an H36M-17-input model is converted with
    :func:`pose3d_cli.skeleton.coco17_to_h36m17` (an approximation, logged)."""
    from pose3d_cli.geometry.camera import normalize_screen_coordinates

    kpts_px = track.keypoints_px
    if track.layout != ck.layout_in:
        if track.layout == "coco17" and ck.layout_in == "h36m17":
            log.warning("converting COCO-17 keypoints to H36M-17 for an H36M-input model (approximate)")
            kpts_px = coco17_to_h36m17(kpts_px)
        else:
            raise InputError(f"keypoints are in layout {track.layout} but the lifter takes {ck.layout_in}; "
                             "use a checkpoint trained on this layout")
    kpts_norm = normalize_screen_coordinates(kpts_px.astype(np.float32), track.width, track.height)
    return predict(ck.model_pos, kpts_norm, layout_in=ck.layout_in, layout_out=ck.layout_out,
                   flip=flip, device=device, chunk_frames=chunk_frames)


def pose_sequence(track, ck, pose_cam_m: np.ndarray, *, flip: bool, checkpoint_name: str = "",
                  fps: float | None = None):
    """Package lifted poses of ``track`` as a :class:`~pose3d_cli.io.pose_file.PoseSequence`:
    the camera-frame poses as predicted, plus grounded world-frame poses for display
    (:func:`~pose3d_cli.geometry.camera.camera_to_world_wild`, then
    :func:`~pose3d_cli.geometry.camera.ground_poses`)."""
    from pose3d_cli.geometry.camera import camera_to_world_wild, ground_poses
    from pose3d_cli.io.pose_file import PoseSequence

    pose_world_m = np.asarray(ground_poses(camera_to_world_wild(pose_cam_m)), np.float32)
    lay_out = get_layout(ck.layout_out)
    return PoseSequence.single(
        poses_3d_camera=np.asarray(pose_cam_m, np.float32), poses_3d_world=pose_world_m,
        keypoints_px=track.keypoints_px, keypoint_scores=track.scores, filled_frames=track.filled_frames,
        joint_names=lay_out.joint_names, layout=lay_out.name, keypoint_layout=track.layout,
        fps=float(track.fps if fps is None else fps), width=int(track.width), height=int(track.height),
        checkpoint=checkpoint_name or ck.path, flip=bool(flip), causal=bool(ck.arch.causal))


def poses_from_track(track, ck, *, flip: bool = True, device: torch.device | str | None = None,
                     checkpoint_name: str = "", chunk_frames: int = 8192):
    """Lift a track and package it with :func:`pose_sequence`."""
    pose_cam_m = lift_track(track, ck, flip=flip, device=device, chunk_frames=chunk_frames)
    return pose_sequence(track, ck, pose_cam_m, flip=flip, checkpoint_name=checkpoint_name)
