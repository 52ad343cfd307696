"""Pure-torch stand-ins for torchvision's C++ operators ``nms`` and ``roi_align``.

PyPI's torchvision wheels are CUDA builds; beside a CPU-only torch their C++ extension does not
load and ``import torchvision`` fails with "operator torchvision::nms does not exist". Keypoint
R-CNN needs two of those operators, so they are defined here with :mod:`torch.library` (under
the ``torchvision`` namespace, where torchvision looks them up) before torchvision is imported.
When the extension *does* load (a matching torchvision build), nothing is registered.

Semantics follow torchvision's documentation: ``nms`` keeps boxes in decreasing score order and
drops every later box whose IoU with a kept one is *greater* than the threshold; ``roi_align``
averages ``sampling_ratio²`` bilinear samples per output bin (adaptive ``ceil(roi/bin)`` when
``sampling_ratio <= 0``), samples more than one pixel outside the map count as zero, and
``aligned=True`` shifts box coordinates by −0.5 pixel.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

_LIB: torch.library.Library | None = None  # must stay referenced, or torch drops the operators


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression.

    Args:
        boxes: ``(N, 4)`` x1, y1, x2, y2. scores: ``(N,)``. iou_threshold: suppress IoU above it.

    Returns:
        ``(K,) int64`` indices of the kept boxes, highest score first.
    """
    n = boxes.shape[0]
    if n == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    order = torch.argsort(scores, descending=True)
    b = boxes[order].float()
    area = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    over = np.empty((n, n), dtype=bool)
    step = 1024
    for s in range(0, n, step):  # (step, N) IoU rows at a time keeps memory bounded
        r = b[s:s + step]
        lt = torch.maximum(r[:, None, :2], b[None, :, :2])
        rb = torch.minimum(r[:, None, 2:], b[None, :, 2:])
        inter = (rb - lt).clamp(min=0).prod(-1)
        union = area[s:s + step, None] + area[None, :] - inter
        iou = torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))
        over[s:s + step] = (iou > iou_threshold).cpu().numpy()
    suppressed = np.zeros(n, dtype=bool)
    keep = []
    for i in range(n):
        if not suppressed[i]:
            keep.append(i)
            suppressed |= over[i]
    return order[torch.as_tensor(keep, dtype=torch.long, device=boxes.device)]


def _axis_samples(start: torch.Tensor, bin_size: torch.Tensor, pooled: int, grid: int, size: int):
    """Sample coordinates along one axis and their bilinear corners and weights.

    Returns ``lo, hi`` (int64), ``w_lo, w_hi`` (float) and ``valid`` (bool), each ``(K, pooled*grid)``.
    """
    offs = (torch.arange(pooled, device=start.device, dtype=start.dtype)[:, None]
            + (torch.arange(grid, device=start.device, dtype=start.dtype)[None, :] + 0.5) / grid).reshape(-1)
    pos = start[:, None] + offs[None, :] * bin_size[:, None]
    valid = (pos >= -1.0) & (pos <= size)
    pos = pos.clamp(min=0.0)
    lo = pos.floor().long()
    at_edge = lo >= size - 1
    lo = torch.where(at_edge, torch.full_like(lo, size - 1), lo)
    hi = torch.where(at_edge, lo, lo + 1)
    pos = torch.where(at_edge, lo.to(pos.dtype), pos)
    frac = pos - lo.to(pos.dtype)
    return lo, hi, 1.0 - frac, frac, valid


def roi_align(inp: torch.Tensor, rois: torch.Tensor, spatial_scale: float, pooled_height: int,
              pooled_width: int, sampling_ratio: int, aligned: bool) -> torch.Tensor:
    """RoIAlign: ``(B, C, H, W)`` features, ``(K, 5)`` rois (batch index, x1, y1, x2, y2) → ``(K, C, PH, PW)``."""
    b, c, h, w = inp.shape
    k = rois.shape[0]
    out = inp.new_zeros((k, c, pooled_height, pooled_width))
    if k == 0:
        return out
    rois = rois.to(inp.dtype)
    offset = 0.5 if aligned else 0.0
    x1 = rois[:, 1] * spatial_scale - offset
    y1 = rois[:, 2] * spatial_scale - offset
    roi_w = rois[:, 3] * spatial_scale - offset - x1
    roi_h = rois[:, 4] * spatial_scale - offset - y1
    if not aligned:
        roi_w = roi_w.clamp(min=1.0)
        roi_h = roi_h.clamp(min=1.0)
    bin_w, bin_h = roi_w / pooled_width, roi_h / pooled_height
    if sampling_ratio > 0:
        grids = torch.full((k, 2), sampling_ratio, dtype=torch.long)
    else:
        grids = torch.stack([torch.ceil(roi_h / pooled_height), torch.ceil(roi_w / pooled_width)], 1).long().cpu()
        grids = grids.clamp(min=1)
    flat = inp.permute(0, 2, 3, 1).reshape(b * h * w, c)
    batch = rois[:, 0].long()
    for gh, gw in {tuple(g) for g in grids.tolist()}:
        idx_all = torch.nonzero((grids[:, 0] == gh) & (grids[:, 1] == gw)).reshape(-1).to(inp.device)
        per_roi = pooled_height * gh * pooled_width * gw * c
        chunk = max(1, (1 << 24) // max(per_roi, 1))
        for s in range(0, idx_all.numel(), chunk):
            idx = idx_all[s:s + chunk]
            ylo, yhi, wyl, wyh, vy = _axis_samples(y1[idx], bin_h[idx], pooled_height, gh, h)
            xlo, xhi, wxl, wxh, vx = _axis_samples(x1[idx], bin_w[idx], pooled_width, gw, w)
            base = (batch[idx] * h * w)[:, None, None]
            valid = (vy[:, :, None] & vx[:, None, :]).to(inp.dtype)
            n = idx.numel()
            acc = inp.new_zeros((n * vy.shape[1] * vx.shape[1], c))
            for yi, wy in ((ylo, wyl), (yhi, wyh)):
                for xi, wx in ((xlo, wxl), (xhi, wxh)):
                    lin = (base + yi[:, :, None] * w + xi[:, None, :]).reshape(-1)  # (n·Sy·Sx,)
                    weight = (wy[:, :, None] * wx[:, None, :] * valid).reshape(-1, 1)
                    acc.addcmul_(flat.index_select(0, lin), weight)
            acc = acc.reshape(n, pooled_height, gh, pooled_width, gw, c).mean(dim=(2, 4))
            out[idx] = acc.permute(0, 3, 1, 2)
    return out


def register_fallbacks() -> None:
    """Define ``torchvision::nms``/``roi_align`` (+ ``qnms`` schema) in pure torch; idempotent."""
    global _LIB
    if _LIB is not None:
        return
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
               "SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor")
    lib.impl("nms", nms, "CompositeExplicitAutograd")
    lib.impl("roi_align", roi_align, "CompositeExplicitAutograd")
    _LIB = lib


def import_torchvision():
    """Import torchvision, registering the pure-torch operators first when its C++ ops are missing.

    Raises:
        ImportError: torchvision is not installed (or fails for another reason).
    """
    if _LIB is None and "torchvision" not in sys.modules:
        try:
            import torchvision

            return torchvision
        except RuntimeError as exc:
            if "torchvision::" not in str(exc):
                raise ImportError(f"torchvision fails to import: {exc}") from None
            for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
                del sys.modules[name]
            register_fallbacks()
    import torchvision
    import torchvision.extension as ext

    if _LIB is not None and not ext._has_ops():
        # torchvision's Python wrappers refuse to call the operators unless its extension loaded
        # (and roi_align would fall back to a torch.compile'd version: a minute of compiling).
        # The operators exist now (defined above): let the wrappers through, in every module
        # that imported the check by name.
        original = ext._has_ops
        for name, module in list(sys.modules.items()):
            if name.startswith("torchvision") and getattr(module, "_has_ops", None) is original:
                module._has_ops = _ops_present
    return torchvision


def _ops_present() -> bool:
    return True
