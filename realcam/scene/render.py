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

from dataclasses import dataclass

import torch
from torch import Tensor

from realcam.scene.pointcloud import PointCloud

_EMPTY = torch.iinfo(torch.int64).max
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
    w2c = _invert_c2w(c2w.to(device)).float()
    K = K.to(device=device, dtype=torch.float32)
    buffer = torch.full((f * height * width,), _EMPTY, dtype=torch.int64, device=device)
    frames_per_chunk = max(1, _MAX_SAMPLES_PER_CHUNK // max(1, n * point_size * point_size))
    for first in range(0, f, frames_per_chunk):
        frames = torch.arange(first, min(f, first + frames_per_chunk), device=device)
        _splat(buffer, cloud.points, w2c[frames], K[frames], frames, height, width, point_size, near)
    return _resolve(buffer, cloud.colors, f, height, width, bg)


def _splat(
    buffer: Tensor,
    points: Tensor,
    w2c: Tensor,
    K: Tensor,
    frames: Tensor,
    height: int,
    width: int,
    size: int,
    near: float,
) -> None:
    """Scatter-min packed (depth bits, point index) keys of one chunk of frames into the flat z-buffer."""
    # Element-wise rather than a matmul, so a frame's result does not depend on how frames are chunked or batched.
    px, py, pz = points[:, 0], points[:, 1], points[:, 2]
    cam = [
        w2c[:, i, 0, None] * px + w2c[:, i, 1, None] * py + w2c[:, i, 2, None] * pz + w2c[:, i, 3, None]
        for i in range(3)
    ]
    z = cam[2]
    zs = z.clamp_min(near)  # keeps the division finite; culled below anyway
    x_n, y_n = cam[0] / zs, cam[1] / zs
    x = K[:, 0, 0, None] * x_n + K[:, 0, 1, None] * y_n + K[:, 0, 2, None]
    y = K[:, 1, 1, None] * y_n + K[:, 1, 2, None]
    col0 = torch.ceil(x - size / 2)
    row0 = torch.ceil(y - size / 2)
    alive = (z > near) & (col0 > -size) & (col0 < width) & (row0 > -size) & (row0 < height)
    frame_local, point = alive.nonzero(as_tuple=True)
    col0 = col0[frame_local, point].long()
    row0 = row0[frame_local, point].long()
    # Positive float32 depths order like their bit patterns read as integers, so (bits << 32 | index) sorts by depth
    # first and index second; one amin scatter then yields both the nearest depth and a deterministic winner.
    key = (z[frame_local, point].contiguous().view(torch.int32).long() << 32) | point
    frame_offset = frames[frame_local] * (height * width)
    for dy in range(size):
        rows = row0 + dy
        for dx in range(size):
            cols = col0 + dx
            inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
            target = (frame_offset + rows * width + cols)[inside]
            buffer.scatter_reduce_(0, target, key[inside], reduce="amin", include_self=True)


def _resolve(buffer: Tensor, colors: Tensor, f: int, height: int, width: int, bg: Tensor) -> RenderResult:
    visible = buffer != _EMPTY
    index = torch.where(visible, buffer & 0xFFFFFFFF, 0)
    depth_bits = torch.where(visible, buffer >> 32, 0).to(torch.int32)
    depth = depth_bits.view(torch.float32)
    if colors.shape[0] > 0:
        rgb = (colors[index] * 255.0).round().clamp(0, 255).to(torch.uint8)
    else:
        rgb = torch.zeros(index.shape + (3,), dtype=torch.uint8, device=buffer.device)
    rgb = torch.where(visible[:, None], rgb, bg.to(buffer.device))
    return RenderResult(
        rgb=rgb.reshape(f, height, width, 3),
        visible=visible.reshape(f, height, width),
        depth=depth.reshape(f, height, width),
    )


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
