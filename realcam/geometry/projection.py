"""Projection of world points into cameras and lifting of depth maps to world points (OpenCV frames, metres).

Pixel convention (as in `realcam.geometry.intrinsics`): image coordinates are continuous; pixel (i, j) (column i,
row j) covers [i, i+1) × [j, j+1) and its centre is (i + 0.5, j + 0.5). `project` returns such coordinates;
`unproject` lifts pixel centres by default (`pixel_offset=0.5`). The reference's point cloud lifts integer pixel
coordinates instead (its quirk, spec §10 item 9); pass `pixel_offset=0.0` to reproduce it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from realcam.geometry.se3 import invert_se3

__all__ = ["project", "unproject"]


def project(points: Tensor, c2w: Tensor, K: Tensor) -> tuple[Tensor, Tensor]:
    """Project world points into each camera.

    x_cam = inv(c2w)·x; (u, v) = (fx·x/z + cx, fy·y/z + cy). Points at or behind the camera (z ≤ 0) get finite but
    meaningless uv; use z to mask them.
    Shapes: points (n 3) world, c2w (f 4 4), K (f 3 3) -> (uv (f n 2) pixels, z (f n) metres along the optical axis).
    """
    if points.ndim != 2 or points.shape[-1] != 3:
        raise ValueError(f"points: expected shape (n 3), got {tuple(points.shape)}")
    if c2w.ndim != 3 or c2w.shape[-2:] != (4, 4):
        raise ValueError(f"c2w: expected shape (f 4 4), got {tuple(c2w.shape)}")
    if K.shape != (c2w.shape[0], 3, 3):
        raise ValueError(f"K: expected shape ({c2w.shape[0]}, 3, 3), got {tuple(K.shape)}")
    w2c = invert_se3(c2w)
    cam = points[None] @ w2c[:, :3, :3].transpose(-1, -2) + w2c[:, None, :3, 3]  # f n 3
    z = cam[..., 2]
    safe_z = torch.where(z.abs() < 1e-12, torch.full_like(z, 1e-12), z)
    pix = cam @ K.transpose(-1, -2)
    uv = pix[..., :2] / safe_z[..., None]
    return uv, z


def unproject(depth: Tensor, K: Tensor, c2w: Tensor, *, pixel_offset: float = 0.5) -> Tensor:
    """Lift a metric depth map to world points (OpenCV frame).

    Pixel (i, j) is lifted at (u, v) = (i + pixel_offset, j + pixel_offset): x_cam = depth·K⁻¹·(u, v, 1) (depth is
    the z coordinate, not the ray length), then x = c2w·x_cam.
    Shapes: depth (b 1 h w) metres, K (b 3 3) pixels, c2w (b 4 4) -> (b h*w 3), row-major over pixels.
    """
    if depth.ndim != 4 or depth.shape[1] != 1:
        raise ValueError(f"depth: expected shape (b 1 h w), got {tuple(depth.shape)}")
    b, _, h, w = depth.shape
    if K.shape != (b, 3, 3):
        raise ValueError(f"K: expected shape ({b}, 3, 3), got {tuple(K.shape)}")
    if c2w.shape != (b, 4, 4):
        raise ValueError(f"c2w: expected shape ({b}, 4, 4), got {tuple(c2w.shape)}")
    dtype, device = depth.dtype, depth.device
    v, u = torch.meshgrid(
        torch.arange(h, dtype=dtype, device=device) + pixel_offset,
        torch.arange(w, dtype=dtype, device=device) + pixel_offset,
        indexing="ij",
    )
    pix = torch.stack([u, v, torch.ones_like(u)], dim=-1).reshape(1, h * w, 3)
    rays = pix @ torch.linalg.inv(K.to(dtype)).transpose(-1, -2)  # b hw 3, z = 1
    cam = rays * depth.reshape(b, h * w, 1)
    R = c2w[:, :3, :3].to(dtype)
    t = c2w[:, :3, 3].to(dtype)
    return cam @ R.transpose(-1, -2) + t[:, None, :]
