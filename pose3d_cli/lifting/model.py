"""Temporal dilated convolutional model (Pavllo et al., CVPR 2019, section 3).

The input is a 2D keypoint sequence ``(B, T, J_in, 2)``; joints and coordinates are
flattened joint-major into ``J_in * 2`` channels ``(x0, y0, x1, y1, ...)`` and convolved over
time. An expanding convolution of width ``W0`` is followed by residual blocks, block ``i``
holding a dilated convolution of width ``W_i`` and dilation ``W0 * ... * W_{i-1}`` and a 1×1
convolution, each with BatchNorm, ReLU and dropout. A final 1×1 convolution outputs
``J_out * 3`` channels. Every valid output frame sees ``receptive_field`` input frames, so the
output is ``(B, T - receptive_field + 1, J_out, 3)``.

Two forms share one ``state_dict`` (parameter names and shapes match the published
VideoPose3D checkpoints):

- :class:`TemporalModel` — dilated convolutions over a whole sequence (inference, validation).
- :class:`TemporalModelStrided` — the single-frame training form: the dilations become strides,
  so each window of exactly ``receptive_field`` frames yields one output frame with no wasted
  computation on overlapping windows.

Causal variant: the residual slices and (at inference) all padding move to the past, so frame
``t``'s output depends on frames ``t - receptive_field + 1 .. t`` only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ArchSpec:
    """Architecture of a temporal lifter.

    Attributes:
        filter_widths: temporal kernel width of the expanding convolution then of each block,
            e.g. ``(3, 3, 3, 3, 3)`` for the 243-frame model.
        channels: convolution channels (1024 in the paper).
        joints_in, joints_out: number of input 2D joints and output 3D joints.
        in_features: coordinates per input joint (2).
        causal: causal (past-only) variant.
        dropout: dropout probability (0.25 in the paper).
    """

    filter_widths: tuple[int, ...] = (3, 3, 3, 3, 3)
    channels: int = 1024
    joints_in: int = 17
    joints_out: int = 17
    in_features: int = 2
    causal: bool = False
    dropout: float = 0.25

    def __post_init__(self) -> None:
        object.__setattr__(self, "filter_widths", tuple(int(w) for w in self.filter_widths))
        if not self.filter_widths:
            raise ValueError("filter_widths must name at least one width")
        for w in self.filter_widths:
            if w < 1 or w % 2 == 0:
                raise ValueError(f"filter widths must be odd and positive, got {self.filter_widths}")
        if self.channels < 1 or self.joints_in < 1 or self.joints_out < 1:
            raise ValueError(f"channels and joint counts must be positive: {self}")

    @property
    def pads(self) -> tuple[int, ...]:
        """Half-width (frames each side) that each layer consumes."""
        pads = [self.filter_widths[0] // 2]
        dilation = self.filter_widths[0]
        for w in self.filter_widths[1:]:
            pads.append((w - 1) * dilation // 2)
            dilation *= w
        return tuple(pads)

    @property
    def dilations(self) -> tuple[int, ...]:
        """Dilation of the expanding conv (1) and of each block's dilated conv."""
        out, d = [1], self.filter_widths[0]
        for w in self.filter_widths[1:]:
            out.append(d)
            d *= w
        return tuple(out)

    @property
    def receptive_field(self) -> int:
        """Input frames that one output frame depends on: ``1 + 2 * sum(pads)``."""
        return 1 + 2 * sum(self.pads)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["filter_widths"] = list(self.filter_widths)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ArchSpec":
        known = {k: d[k] for k in ("filter_widths", "channels", "joints_in", "joints_out",
                                   "in_features", "causal", "dropout") if k in d}
        return cls(**known)


class _TemporalBase(nn.Module):
    """Parameters shared by both forms (names match the published checkpoints)."""

    def __init__(self, arch: ArchSpec, strided: bool) -> None:
        super().__init__()
        self.arch = arch
        fw = arch.filter_widths
        c = arch.channels
        self.drop = nn.Dropout(arch.dropout)
        self.relu = nn.ReLU(inplace=True)
        self.expand_conv = nn.Conv1d(arch.joints_in * arch.in_features, c, fw[0], bias=False,
                                     stride=fw[0] if strided else 1)
        self.expand_bn = nn.BatchNorm1d(c, momentum=0.1)
        convs, bns = [], []
        for i, w in enumerate(fw[1:], start=1):
            if strided:
                convs.append(nn.Conv1d(c, c, w, stride=w, bias=False))
            else:
                convs.append(nn.Conv1d(c, c, w, dilation=arch.dilations[i], bias=False))
            bns.append(nn.BatchNorm1d(c, momentum=0.1))
            convs.append(nn.Conv1d(c, c, 1, bias=False))
            bns.append(nn.BatchNorm1d(c, momentum=0.1))
        self.layers_conv = nn.ModuleList(convs)
        self.layers_bn = nn.ModuleList(bns)
        self.shrink = nn.Conv1d(c, arch.joints_out * 3, 1)
        # Frames by which each block's residual is shifted towards the past in the causal form.
        self._causal_shift = [fw[0] // 2 if arch.causal else 0]
        d = fw[0]
        for w in fw[1:]:
            self._causal_shift.append((w // 2) * d if arch.causal else 0)
            d *= w

    @property
    def receptive_field(self) -> int:
        """Input frames per output frame (a property, as on ArchSpec and LoadedCheckpoint)."""
        return self.arch.receptive_field

    def set_bn_momentum(self, momentum: float) -> None:
        """Set the momentum of every BatchNorm layer (the paper decays it during training)."""
        self.expand_bn.momentum = momentum
        for bn in self.layers_bn:
            bn.momentum = momentum

    def _check_input(self, x: torch.Tensor) -> None:
        a = self.arch
        if x.ndim != 4 or x.shape[-2] != a.joints_in or x.shape[-1] != a.in_features:
            raise ValueError(f"expected input (B, T, {a.joints_in}, {a.in_features}), got {tuple(x.shape)}")

    def _residual(self, x: torch.Tensor, block: int) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        b, t = x.shape[:2]
        x = x.reshape(b, t, -1).transpose(1, 2)
        x = self.drop(self.relu(self.expand_bn(self.expand_conv(x))))
        for i in range(len(self.arch.filter_widths) - 1):
            res = self._residual(x, i + 1)
            x = self.drop(self.relu(self.layers_bn[2 * i](self.layers_conv[2 * i](x))))
            x = res + self.drop(self.relu(self.layers_bn[2 * i + 1](self.layers_conv[2 * i + 1](x))))
        x = self.shrink(x)
        return x.transpose(1, 2).reshape(b, -1, self.arch.joints_out, 3)


class TemporalModel(_TemporalBase):
    """Whole-sequence form: ``(B, T, J_in, 2)`` → ``(B, T - receptive_field + 1, J_out, 3)``."""

    def __init__(self, arch: ArchSpec) -> None:
        super().__init__(arch, strided=False)

    def _residual(self, x: torch.Tensor, block: int) -> torch.Tensor:
        pad = self.arch.pads[block]
        shift = self._causal_shift[block]
        return x[:, :, pad + shift: x.shape[2] - pad + shift]


class TemporalModelStrided(_TemporalBase):
    """Single-frame training form: ``(B, receptive_field, J_in, 2)`` → ``(B, 1, J_out, 3)``.

    Identical parameters to :class:`TemporalModel`; load one's ``state_dict`` into the other.
    Longer inputs give one output every ``prod(filter_widths)`` frames.
    """

    def __init__(self, arch: ArchSpec) -> None:
        super().__init__(arch, strided=True)

    def _residual(self, x: torch.Tensor, block: int) -> torch.Tensor:
        w = self.arch.filter_widths[block]
        # In the strided form time is already downsampled, so the causal shift is w // 2 frames.
        shift = w // 2 if self.arch.causal else 0
        return x[:, :, shift + w // 2:: w]
