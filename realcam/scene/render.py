"""Pure-PyTorch preview renderer: z-buffered point splatting of a metric point cloud along a camera path (spec §6).

The reference renders the preview with Open3D's offscreen renderer inside a virtual X display (unlit points of size 2,
black background). This renderer needs no display and runs the same on CPU and CUDA.

Pixel convention: pixel (i, j) (column i, row j) has its centre at the continuous image coordinate (i, j), the same
integer-pixel convention the lift uses (spec §5.2), so a cloud lifted from an image re-renders in place under the
identity camera. A point projected to (u, v) with point size s covers the s x s pixels whose centres lie in
[u - s/2, u + s/2) x [v - s/2, v + s/2), i.e. columns ceil(u - s/2) .. ceil(u - s/2) + s - 1 (for s = 1: the
nearest pixel). Among the points covering a pixel the smallest camera depth z wins; exact depth ties go to the lower
point index.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch
from torch import Tensor

from realcam.scene.pointcloud import PointCloud

# Upper bound on splat samples (points x frames x stencil) processed at once; bounds memory to ~1 GB.
_MAX_SAMPLES_PER_CHUNK = 1 << 25


@dataclass(frozen=True)
class RenderResult:
    """Rendered frames.

    Shapes: rgb (f h w 3) uint8; visible (f h w) bool, true where at least one point landed; depth (f h w) float32,
    the winning point's camera z in metres, 0 where nothing landed.
    """

    rgb: Tensor
    visible: Tensor
    depth: Tensor

    def compat_visible(self) -> Tensor:
        """Reference behaviour: the reference infers visibility from the frames, visible iff any channel is non-zero
        (spec §4.2), so black scene points count as holes. Kept only for parity with it. Shapes: -> (f h w) bool."""
        return visible_from_rgb(self.rgb)


def visible_from_rgb(rgb: Tensor) -> Tensor:
    """The reference's visibility rule: a pixel is a hole iff it is exactly black (0, 0, 0).

    Shapes: rgb (f h w 3) uint8 -> (f h w) bool. (The reference tests |x/255*2 - 1 + 1| >= 1e-4 per channel, which
    for uint8 input is the same as x != 0.)
    """
    if rgb.dtype != torch.uint8 or rgb.ndim != 4 or rgb.shape[-1] != 3:
        raise ValueError(f"rgb: expected uint8 (f, h, w, 3), got {tuple(rgb.shape)} {rgb.dtype}")
    return (rgb != 0).any(dim=-1)


def render_points(
    cloud: PointCloud,
    c2w: Tensor,
    K: Tensor,
    height: int,
    width: int,
    *,
    point_size: int = 2,
    near: float = 1e-3,
    background: int | tuple[int, int, int] = 0,
) -> RenderResult:
    """Render `cloud` from each camera of a path by z-buffered point splatting.

    Shapes: cloud points (n 3) metres in the world frame; c2w (f 4 4) camera-to-world (OpenCV, metres; float64 is
    fine, geometry runs in float32); K (f 3 3) or (3 3) pixels for (height, width). Returns RenderResult with
    rgb (f h w 3) uint8, visible (f h w) bool, depth (f h w) float32, on the cloud's device.

    Points with camera z <= `near` (behind or too close) are culled. Frames where nothing lands are valid output
    (all background, visible all false). `background` is a grey level or an RGB triple in 0..255.
    """
    c2w, K = _check_cameras(c2w, K, height, width)
    if not (isinstance(point_size, int) and point_size >= 1):
        raise ValueError(f"point_size: expected a positive integer (pixels), got {point_size!r}")
    if not near > 0:
        raise ValueError(f"near: expected a positive distance in metres, got {near}")
    bg = _background(background)
    device = cloud.device
    f, n = c2w.shape[0], len(cloud)
    if n >= 1 << 32:
        raise ValueError(f"cloud: at most 2**32 - 1 points can be rendered at once, got {n}")
    # Projection matrices P = K [R | t] of the world-to-camera transforms, composed in float64, applied in float32.
    w2c = _invert_c2w(c2w.to(device))
    P = (K.to(device=device, dtype=torch.float64) @ w2c[:, :3, :]).float()
    homogeneous = torch.cat((cloud.points, torch.ones_like(cloud.points[:, :1])), dim=1).T.contiguous()  # (4 n)
    # Frames are padded by `point_size` pixels on every side, so every stencil pixel of a point that touches the frame
    # has a valid buffer index without bounds checks; the padding is cropped away at the end.
    pad = point_size
    padded_h, padded_w = height + 2 * pad, width + 2 * pad
    if padded_h * padded_w >= 1 << 24:
        raise ValueError(
            f"height/width: {height}x{width} is too large (pixel indices are exact in float32 below 2**24)"
        )
    empty = _empty_key(n)
    buffer = torch.full((f * padded_h * padded_w,), empty, dtype=torch.int64, device=device)
    frames_per_chunk = max(1, _MAX_SAMPLES_PER_CHUNK // max(1, n * point_size * point_size))
    for first in range(0, f, frames_per_chunk):
        last = min(f, first + frames_per_chunk)
        _splat(buffer, homogeneous, P[first:last], first, height, width, point_size, near, empty)
    buffer = buffer.view(f, padded_h, padded_w)[:, pad : pad + height, pad : pad + width]
    return _resolve(buffer, cloud.colors, bg, empty)


def _empty_key(n: int) -> int:
    """Key of an empty pixel: larger than every real key (depth bits of +inf), and its index field n points at the
    background row of the palette."""
    return (0x7F800000 << 32) | n


def _splat(
    buffer: Tensor,
    homogeneous: Tensor,
    P: Tensor,
    first: int,
    height: int,
    width: int,
    size: int,
    near: float,
    empty: int,
) -> None:
    """Scatter-min packed (depth bits, point index) keys of the frames first.. into the padded flat z-buffer.

    Shapes: buffer (f*(H+2s)*(W+2s)) int64; homogeneous (4 n) float32 world points (x, y, z, 1); P (fc 3 4).
    Culled samples keep a harmless target (a padding pixel of their frame) and the empty key, so no compaction is
    needed.
    """
    fc, n = P.shape[0], homogeneous.shape[1]
    x, y, w = homogeneous[0], homogeneous[1], homogeneous[2]
    projected = torch.empty(fc, 3, n, dtype=torch.float32, device=homogeneous.device)
    # Row by row with scalar coefficients: measured faster than a matmul of this shape on CPU, and a frame's result
    # never depends on how frames are chunked.
    for i, rows in enumerate(P.tolist()):
        for j, (p0, p1, p2, p3) in enumerate(rows):
            out = torch.mul(x, p0, out=projected[i, j])
            out.add_(y, alpha=p1).add_(w, alpha=p2).add_(p3)
    z = projected[:, 2]
    u = projected[:, 0] / z
    v = projected[:, 1] / z
    # The first covered column is ceil(u - s/2); a point touches the frame iff that lies in (-s, W - 1] (same for rows).
    half = size / 2
    alive = (z > near) & (u > -half) & (u <= width - 1 + half) & (v > -half) & (v <= height - 1 + half)
    padded_h, padded_w = height + 2 * size, width + 2 * size
    # Pixel index inside the padded frame, exact in float32 (checked: below 2**24).
    pixel = torch.ceil(v - half).add_(size).mul_(padded_w).add_(torch.ceil(u - half).add_(size))
    # Culled samples write the empty key (a no-op) to padding pixels of the top rows, spread over a row so that no
    # single address takes all of them (atomics on one address serialise on GPUs).
    spread = torch.remainder(torch.arange(n, device=pixel.device, dtype=torch.float32), padded_w)
    pixel = torch.where(alive, pixel, spread).long()
    pixel += (torch.arange(first, first + fc, device=pixel.device) * (padded_h * padded_w))[:, None]
    # Positive float32 depths order like their bit patterns read as integers, so (bits << 32 | index) sorts by depth
    # first and index second: one amin scatter yields both the nearest depth and a deterministic winner.
    point = torch.arange(n, device=pixel.device)
    key = torch.where(alive, (z.contiguous().view(torch.int32).long() << 32) | point, empty).view(-1)
    pixel = pixel.view(-1)
    for dy in range(size):
        for dx in range(size):
            buffer.scatter_reduce_(0, pixel + (dy * padded_w + dx), key, reduce="amin", include_self=True)


def _resolve(buffer: Tensor, colors: Tensor, bg: Tensor, empty: int) -> RenderResult:
    """Shapes: buffer (f h w) int64 packed keys (a cropped view) -> RenderResult."""
    visible = buffer != empty
    index = buffer & 0xFFFFFFFF  # the empty key's index field is n: the background row of the palette
    depth = torch.where(visible, (buffer >> 32).to(torch.int32).view(torch.float32), 0.0)
    # Colours packed as one int32 per point (r | g << 8 | b << 16), so the gather moves 4 bytes per pixel.
    palette = torch.cat(
        ((colors * 255.0).round().clamp(0, 255).to(torch.int32), bg.to(colors.device, torch.int32)[None])
    )
    packed = palette[:, 0] | (palette[:, 1] << 8) | (palette[:, 2] << 16)
    gathered = packed[index]
    if sys.byteorder == "little":
        rgb = gathered.view(torch.uint8).view(*index.shape, 4)[..., :3].contiguous()
    else:
        rgb = torch.stack([(gathered >> shift) & 0xFF for shift in (0, 8, 16)], dim=-1).to(torch.uint8)
    return RenderResult(rgb=rgb, visible=visible, depth=depth)


def _invert_c2w(c2w: Tensor) -> Tensor:
    """Rigid inverse in float64: w2c = [R^T | -R^T t]. Shapes: (f 4 4) -> (f 4 4)."""
    c2w = c2w.double()
    R_t = c2w[:, :3, :3].transpose(1, 2)
    w2c = torch.zeros_like(c2w)
    w2c[:, :3, :3] = R_t
    w2c[:, :3, 3] = -(R_t @ c2w[:, :3, 3:4])[..., 0]
    w2c[:, 3, 3] = 1.0
    return w2c


def _check_cameras(c2w: Tensor, K: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    if not isinstance(c2w, Tensor) or c2w.ndim != 3 or tuple(c2w.shape[1:]) != (4, 4):
        raise ValueError(f"c2w: expected shape (f, 4, 4), got {getattr(c2w, 'shape', type(c2w).__name__)}")
    if not bool(torch.isfinite(c2w).all()):
        raise ValueError("c2w: contains NaN or infinite values")
    if not isinstance(K, Tensor) or tuple(K.shape[-2:]) != (3, 3) or K.ndim not in (2, 3):
        raise ValueError(f"K: expected shape (f, 3, 3) or (3, 3), got {getattr(K, 'shape', type(K).__name__)}")
    if K.ndim == 2:
        K = K.expand(c2w.shape[0], 3, 3)
    elif K.shape[0] != c2w.shape[0]:
        raise ValueError(f"K: {K.shape[0]} frames but c2w has {c2w.shape[0]}")
    if not bool(torch.isfinite(K).all()) or bool((K[:, 0, 0] <= 0).any()) or bool((K[:, 1, 1] <= 0).any()):
        raise ValueError("K: expected finite intrinsics with positive focal lengths")
    if not (isinstance(height, int) and isinstance(width, int) and height >= 1 and width >= 1):
        raise ValueError(f"height/width: expected positive integers, got {height!r} x {width!r}")
    if c2w.shape[0] * height * width >= 1 << 62:
        raise ValueError("too many pixels to render at once")
    return c2w, K


def _background(background: int | tuple[int, int, int]) -> Tensor:
    values = (background,) * 3 if isinstance(background, int) else tuple(background)
    if len(values) != 3 or not all(isinstance(v, int) and 0 <= v <= 255 for v in values):
        raise ValueError(f"background: expected a grey level or RGB triple in 0..255, got {background!r}")
    return torch.tensor(values, dtype=torch.uint8)
