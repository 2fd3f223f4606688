"""Noise-shaping masks: preview visibility -> latent-grid mask of the cells the preview constrains (spec §4.2).

Reference steps, kept exactly: (1) visibility per pixel; (2) erosion: a pixel stays visible only if its whole k x k
neighbourhood is visible (box sum >= k*k, reflect padding of k//2, per frame at pixel resolution); (3) bilinear
resize with align_corners=True to (H/8, W/8), frames as channels, i.e. point sampling at source coordinates
i*(H-1)/(h-1), not area pooling; (4) value < threshold (0.9) -> 0 else 1.

Borders: reflect padding mirrors the frame's own pixels, so a frame that is visible everywhere stays visible everywhere
(its coverage is 100%); a hole within k//2 pixels of the border is mirrored and erodes the border around it too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class LatentMask:
    """Latent-grid noise-shaping mask.

    Shapes: mask (f h w) bool on the latent grid (h = H/downsample); coverage (f,) float32 in [0, 1], the fraction of
    latent cells that are constrained per frame; eroded (f H W) bool, the eroded pixel visibility.
    """

    mask: Tensor
    coverage: Tensor
    eroded: Tensor


def erode(visible: Tensor, kernel: int = 5) -> Tensor:
    """Binary erosion: true iff all kernel x kernel neighbours are true, with reflect padding of kernel//2.

    Shapes: visible (f H W) bool -> (f H W) bool. The reference's `apply_thresholded_conv(kernel 5, threshold 1.0)`.
    """
    _check_visible(visible)
    if not (isinstance(kernel, int) and kernel >= 1 and kernel % 2 == 1):
        raise ValueError(f"kernel: expected a positive odd integer, got {kernel!r}")
    pad = kernel // 2
    if pad == 0:
        return visible.clone()
    if visible.shape[1] <= pad or visible.shape[2] <= pad:
        raise ValueError(f"visible: frames of {tuple(visible.shape[1:])} are too small for reflect padding {pad}")
    x = F.pad(visible[:, None].float(), (pad, pad, pad, pad), mode="reflect")
    # Box sums of 0/1 values are small integers, exact in float32.
    box = F.avg_pool2d(x, kernel, stride=1, divisor_override=1)
    return (box[:, 0] >= kernel * kernel).contiguous()


def latent_mask(visible: Tensor, *, kernel: int = 5, threshold: float = 0.9, downsample: int = 8) -> LatentMask:
    """Noise-shaping mask on the latent grid from per-pixel preview visibility (spec §4.2, paper §3.3).

    Shapes: visible (f H W) bool, H and W divisible by `downsample` -> LatentMask(mask (f H/d W/d) bool, coverage (f,),
    eroded (f H W)). Use `RenderResult.visible` (explicit), or `RenderResult.compat_visible()` for the reference's
    "non-black" rule.

    Coverage of the input camera's own frame is 100% only when every pixel is covered; erosion widens each hole to
    kernel x kernel pixels. Holes come from pixels without a point whose neighbours' splats do not reach them (point
    size 2 covers an isolated gap, not a cluster): missing depth, `edge_threshold` drops and, with statistical outlier
    removal on (the default for real depth maps), the removed points. That statistic also removes valid far, sparse
    points (neighbour spacing grows with depth), so even an exact depth map loses some frame-0 coverage with it (the
    160x256 demo room: 657 of 40960 points, 97% coverage). `realcam preview` reports the counts in its sidecar
    (`points.outliers_removed`).
    """
    _check_visible(visible)
    height, width = visible.shape[1:]
    if height % downsample or width % downsample:
        raise ValueError(f"visible: frame size {height}x{width} is not divisible by downsample={downsample}")
    eroded = erode(visible, kernel)
    h, w = height // downsample, width // downsample
    sampled = F.interpolate(eroded[None].float(), size=(h, w), mode="bilinear", align_corners=True)[0]
    mask = ~(sampled < threshold)
    coverage = mask.float().mean(dim=(1, 2))
    return LatentMask(mask=mask, coverage=coverage, eroded=eroded)


def _check_visible(visible: Tensor) -> None:
    if not isinstance(visible, Tensor) or visible.dtype != torch.bool or visible.ndim != 3:
        raise ValueError(
            f"visible: expected a bool tensor (f, H, W), got {tuple(getattr(visible, 'shape', ()))} "
            f"{getattr(visible, 'dtype', type(visible).__name__)}"
        )
