"""DPT decoder head of Depth-Anything-V2 (Ranftl et al. 2021, "Vision Transformers for Dense Prediction").

Four ViT token maps are reassembled at 4x, 2x, 1x and 1/2x the patch grid (`projects`, `resize_layers`), projected to
a common width (`scratch.layerN_rn`), fused coarse-to-fine by residual refinement blocks (`scratch.refinenetN`) and
decoded to one channel at the input resolution. The metric variant ends in a sigmoid (the caller scales it by the
maximum depth). Attribute names follow the released checkpoints. No BatchNorm and no class-token readout (the
released models use neither).
"""

from __future__ import annotations

import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


class ResidualConvUnit(nn.Module):
    """x + conv2(relu(conv1(relu(x)))), width preserved."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FeatureFusionBlock(nn.Module):
    """path <- rcu2(path + rcu1(skip)), then bilinear (align_corners=True) to `size` (default 2x), then 1x1 conv."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.out_conv = nn.Conv2d(features, features, 1)
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, path: Tensor, skip: Tensor | None = None, size: tuple[int, int] | None = None) -> Tensor:
        if skip is not None:
            path = path + self.resConfUnit1(skip)
        path = self.resConfUnit2(path)
        if size is None:
            path = F.interpolate(path, scale_factor=2, mode="bilinear", align_corners=True)
        else:
            path = F.interpolate(path, size=size, mode="bilinear", align_corners=True)
        return self.out_conv(path)


class Scratch(nn.Module):
    """Container named as in the checkpoints: `layerN_rn`, `refinenetN`, `output_conv1`, `output_conv2`."""

    def __init__(self, out_channels: tuple[int, ...], features: int) -> None:
        super().__init__()
        for n, width in enumerate(out_channels, start=1):
            setattr(self, f"layer{n}_rn", nn.Conv2d(width, features, 3, padding=1, bias=False))
        for n in range(1, 5):
            setattr(self, f"refinenet{n}", FeatureFusionBlock(features))
        head_width = 32
        self.output_conv1 = nn.Conv2d(features, features // 2, 3, padding=1)
        self.output_conv2 = nn.Sequential(
            nn.Conv2d(features // 2, head_width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(head_width, 1, 1),
            nn.Sigmoid(),
        )


class DPTHead(nn.Module):
    """Shapes: 4 x (b gh*gw c) patch tokens (+ unused class tokens), grid (gh, gw) -> (b 1 14*gh 14*gw) in (0, 1)."""

    def __init__(self, in_channels: int, features: int, out_channels: tuple[int, ...], patch_size: int = 14) -> None:
        super().__init__()
        if len(out_channels) != 4:
            raise ValueError(f"out_channels must have 4 entries, got {out_channels}")
        self.patch_size = patch_size
        self.projects = nn.ModuleList([nn.Conv2d(in_channels, c, 1) for c in out_channels])
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(out_channels[0], out_channels[0], kernel_size=4, stride=4),
                nn.ConvTranspose2d(out_channels[1], out_channels[1], kernel_size=2, stride=2),
                nn.Identity(),
                nn.Conv2d(out_channels[3], out_channels[3], kernel_size=3, stride=2, padding=1),
            ]
        )
        self.scratch = Scratch(tuple(out_channels), features)

    def forward(self, layers: list[tuple[Tensor, Tensor]], grid_h: int, grid_w: int) -> Tensor:
        maps = []
        for (tokens, _class_token), project, resize in zip(layers, self.projects, self.resize_layers):
            x = rearrange(tokens, "b (h w) c -> b c h w", h=grid_h, w=grid_w)
            maps.append(resize(project(x)))
        s = self.scratch
        l1, l2, l3, l4 = (getattr(s, f"layer{n}_rn")(m) for n, m in enumerate(maps, start=1))
        path = s.refinenet4(l4, size=l3.shape[-2:])
        path = s.refinenet3(path, l3, size=l2.shape[-2:])
        path = s.refinenet2(path, l2, size=l1.shape[-2:])
        path = s.refinenet1(path, l1)
        out = s.output_conv1(path)
        out = F.interpolate(
            out, size=(grid_h * self.patch_size, grid_w * self.patch_size), mode="bilinear", align_corners=True
        )
        return s.output_conv2(out)
