"""Inception-I3D (Carreira & Zisserman 2017) for FVD, with the state-dict names of the PyTorch port.

The VideoGPT/TATS detector `i3d_pretrained_400.pt` is a state dict of the pytorch-i3d `InceptionI3d` with 400
Kinetics classes (spec §3). The spec does not list its keys, so this module follows the standard pytorch-i3d naming:
top-level end points `Conv3d_1a_7x7`, `Conv3d_2b_1x1`, `Conv3d_2c_3x3`, `Mixed_3b` ... `Mixed_5c` (each conv unit has
`conv3d` and `bn`; inception blocks have branches `b0`, `b1a`, `b1b`, `b2a`, `b2b`, `b3b`), and the classifier
`logits.conv3d` (with bias, no batch norm). Pooling layers hold no weights. Batch norms use eps 1e-3 (TensorFlow's
default, kept by the port). Convolutions and max-pools pad like TensorFlow's "SAME", computed from the input size.

`forward` returns the 400-d logits averaged over the remaining time steps: the VideoGPT FVD embedding.
`I3DConfig.width_divisor` builds the same graph with fewer channels for tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# (name, in_channels of the full model, branch widths b0, b1a, b1b, b2a, b2b, b3b)
_MIXED = (
    ("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128)),
)
# Max-pools inserted before these blocks: (kernel, stride).
_POOL_BEFORE = {
    "Mixed_3b": ((1, 3, 3), (1, 2, 2)),  # MaxPool3d_3a_3x3
    "Mixed_4b": ((3, 3, 3), (2, 2, 2)),  # MaxPool3d_4a_3x3
    "Mixed_5b": ((2, 2, 2), (2, 2, 2)),  # MaxPool3d_5a_2x2
}


@dataclass(frozen=True)
class I3DConfig:
    """num_classes: logits (400 for Kinetics-400). width_divisor: divide every channel count (1 = the real model)."""

    num_classes: int = 400
    width_divisor: int = 1

    def width(self, channels: int) -> int:
        return max(1, math.ceil(channels / self.width_divisor))


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (before, after) for one dimension."""
    total = max(kernel - stride, 0) if size % stride == 0 else max(kernel - size % stride, 0)
    return total // 2, total - total // 2


def _pad_same(x: Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> Tensor:
    pads: list[int] = []
    for size, k, s in reversed(list(zip(x.shape[2:], kernel, stride))):  # F.pad wants the last dim first
        pads.extend(_same_padding(size, k, s))
    return F.pad(x, pads)


class MaxPool3dSame(nn.Module):
    """Max-pool with TensorFlow 'SAME' zero padding (the inputs are post-ReLU, so zeros never win wrongly)."""

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride), self.kernel, self.stride)


class Unit3D(nn.Module):
    """Conv3d (no bias) + BatchNorm3d + ReLU, 'SAME' padding; the classifier variant has a bias and nothing else."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int, int] = (1, 1, 1),
        stride: tuple[int, int, int] = (1, 1, 1),
        *,
        batch_norm: bool = True,
        activation: bool = True,
        bias: bool = False,
    ):
        super().__init__()
        self.kernel, self.stride, self.activation = kernel, stride, activation
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride=stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.01) if batch_norm else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv3d(_pad_same(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.activation else x


class InceptionModule(nn.Module):
    """Four branches concatenated over channels: 1x1; 1x1 -> 3x3x3; 1x1 -> 3x3x3; 3x3x3 max-pool -> 1x1."""

    def __init__(self, in_channels: int, widths: tuple[int, ...]):
        super().__init__()
        b0, b1a, b1b, b2a, b2b, b3b = widths
        self.b0 = Unit3D(in_channels, b0)
        self.b1a = Unit3D(in_channels, b1a)
        self.b1b = Unit3D(b1a, b1b, (3, 3, 3))
        self.b2a = Unit3D(in_channels, b2a)
        self.b2b = Unit3D(b2a, b2b, (3, 3, 3))
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, b3b)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


class InceptionI3d(nn.Module):
    """Inception-I3D up to the Kinetics logits.

    Shapes: x (b 3 f 224 224) in [-1, 1] -> logits (b num_classes), averaged over the time steps left after the
    7x7 average pool (f = 16 leaves 2 of them). Other sizes work as long as the final feature map is >= 2x7x7.
    """

    def __init__(self, config: I3DConfig = I3DConfig()):
        super().__init__()
        self.config = config
        w = config.width
        self.Conv3d_1a_7x7 = Unit3D(3, w(64), (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(w(64), w(64))
        self.Conv3d_2c_3x3 = Unit3D(w(64), w(192), (3, 3, 3))
        self.pools = nn.ModuleDict()
        in_channels = w(192)
        for name, _, widths in _MIXED:
            if name in _POOL_BEFORE:
                self.pools[name] = MaxPool3dSame(*_POOL_BEFORE[name])
            scaled = tuple(w(c) for c in widths)
            setattr(self, name, InceptionModule(in_channels, scaled))
            in_channels = scaled[0] + scaled[2] + scaled[4] + scaled[5]
        self.avg_pool = nn.AvgPool3d((2, 7, 7), stride=(1, 1, 1))
        self.logits = Unit3D(in_channels, config.num_classes, batch_norm=False, activation=False, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"x: expected (b 3 f h w) in [-1, 1], got {tuple(x.shape)}")
        x = self.Conv3d_1a_7x7(x)
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(self.MaxPool3d_2a_3x3(x)))
        for name, _, _ in _MIXED:
            if name in self.pools:
                x = self.pools[name](x)
            x = getattr(self, name)(x)
        logits = self.logits(self.avg_pool(x))  # (b classes t 1 1); dropout is the identity at evaluation
        return logits.squeeze(-1).squeeze(-1).mean(dim=2)
