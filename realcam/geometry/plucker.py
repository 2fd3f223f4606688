"""Plücker ray embedding of a camera trajectory: the camera condition fed to the pose encoder (spec §1.9(b))."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor

__all__ = ["plucker_embedding", "pixel_ray_directions"]


def pixel_ray_directions(K: Tensor, height: int, width: int) -> Tensor:
    """Unit camera-frame ray directions through the pixel centres.

    For column i and row j, (u, v) = (i + 0.5, j + 0.5) and d = normalise(((u − cx)/fx, (v − cy)/fy, 1)).
    Shapes: K (... 3 3) -> (... H W 3), in K's dtype.
    """
    dtype, device = K.dtype, K.device
    v, u = torch.meshgrid(
        torch.arange(height, dtype=dtype, device=device) + 0.5,
        torch.arange(width, dtype=dtype, device=device) + 0.5,
        indexing="ij",
    )
    fx = K[..., 0, 0, None, None]
    fy = K[..., 1, 1, None, None]
    cx = K[..., 0, 2, None, None]
    cy = K[..., 1, 2, None, None]
    x = (u - cx) / fx
    y = (v - cy) / fy
    d = torch.stack([x, y, torch.ones_like(x)], dim=-1)
    return d / d.norm(dim=-1, keepdim=True)


def plucker_embedding(c2w: Tensor, K: Tensor, height: int, width: int) -> Tensor:
    """Plücker map of each frame's pixel rays, at full pixel resolution, in float32.

    With [R | t] = c2w (usually the trace-scaled poses relative to the condition frame), the ray of a pixel has
    direction d = R·d_cam (`pixel_ray_directions`, pixel centres at +0.5) and origin o = t. The embedding is
    [o × d, d]: channels 0-2 the moment, 3-5 the direction (spec §1.9(b)).
    Shapes: c2w (b f 4 4), K (b f 3 3) pixels of the H×W image -> (b 6 f H W) float32.
    """
    if c2w.ndim != 4 or c2w.shape[-2:] != (4, 4):
        raise ValueError(f"c2w: expected shape (b f 4 4), got {tuple(c2w.shape)}")
    if K.shape != (*c2w.shape[:2], 3, 3):
        raise ValueError(f"K: expected shape {(*c2w.shape[:2], 3, 3)} to match c2w, got {tuple(K.shape)}")
    c2w = c2w.float()
    K = K.float()
    with torch.autocast(device_type=c2w.device.type, enabled=False):
        d_cam = pixel_ray_directions(K, height, width)  # b f H W 3
        R = c2w[:, :, None, None, :3, :3]
        d = (R @ d_cam[..., None]).squeeze(-1)
        o = c2w[:, :, None, None, :3, 3].expand_as(d)
        embedding = torch.cat([torch.linalg.cross(o, d, dim=-1), d], dim=-1)
    return rearrange(embedding, "b f h w c -> b c f h w").contiguous()
