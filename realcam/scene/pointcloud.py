"""The metric point cloud that the preview renderer draws and the editor shows."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class PointCloud:
    """Coloured points in metres.

    Shapes: points (n 3) float32, world frame = the condition camera's OpenCV frame (x right, y down, z forward)
    unless the lift was given a c2w; colors (n 3) float32 in [0, 1], RGB, row i belongs to point i.
    """

    points: Tensor
    colors: Tensor

    def __post_init__(self) -> None:
        if not isinstance(self.points, Tensor) or self.points.ndim != 2 or self.points.shape[1] != 3:
            raise ValueError(f"points: expected a tensor of shape (n, 3), got {_describe(self.points)}")
        if not isinstance(self.colors, Tensor) or self.colors.shape != self.points.shape:
            raise ValueError(f"colors: expected shape {tuple(self.points.shape)}, got {_describe(self.colors)}")
        if self.points.dtype != torch.float32 or self.colors.dtype != torch.float32:
            raise ValueError(f"points/colors: expected float32, got {self.points.dtype} / {self.colors.dtype}")
        if self.points.device != self.colors.device:
            raise ValueError(f"points and colors on different devices: {self.points.device} / {self.colors.device}")

    def __len__(self) -> int:
        return int(self.points.shape[0])

    @property
    def device(self) -> torch.device:
        return self.points.device

    def to(self, device: str | torch.device) -> PointCloud:
        """The same cloud on `device` (a new object; this one is unchanged)."""
        return PointCloud(self.points.to(device), self.colors.to(device))

    def select(self, keep: Tensor) -> PointCloud:
        """The points where `keep` (n,) bool is true, or the rows named by an int64 index tensor."""
        return PointCloud(self.points[keep], self.colors[keep])

    def bounds(self) -> tuple[Tensor, Tensor]:
        """Axis-aligned bounding box: (min (3,), max (3,)) in metres. Raises on an empty cloud."""
        if len(self) == 0:
            raise ValueError("bounds of an empty point cloud")
        return self.points.amin(dim=0), self.points.amax(dim=0)


def _describe(x: object) -> str:
    if isinstance(x, Tensor):
        return f"tensor {tuple(x.shape)} {x.dtype}"
    return type(x).__name__
