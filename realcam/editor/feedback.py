"""What the editor shows about a path before any generation: the point-cloud preview of every frame, the share of
each frame that noise shaping will constrain (coverage), and warnings (paper §3.3, Fig. 5 and 7).

No UI imports. World = the input camera's OpenCV frame in metres (its c2w is the identity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from realcam.editor.state import FrameWarning, WarningThresholds
from realcam.scene.pointcloud import PointCloud
from realcam.trajectory.keyframes import SampledTrajectory

# Preview renders use at most this many pixels on the longer side (the 256 model's resolution).
PREVIEW_MAX_SIDE = 256


@dataclass(frozen=True)
class EditorScene:
    """The photo the editor works on, lifted to a metric cloud.

    Shapes: image (h w 3) uint8; depth (h w) float32 metres (0 = missing); K (3 3) float64 pixels of (h, w);
    cloud points (n 3) / colors (n 3) in the input camera's frame. `name` labels the scene in the UI.
    """

    image: np.ndarray
    depth: Tensor
    K: Tensor
    cloud: PointCloud
    name: str = "scene"

    @property
    def height(self) -> int:
        return int(self.depth.shape[0])

    @property
    def width(self) -> int:
        return int(self.depth.shape[1])

    @property
    def fov_y_deg(self) -> float:
        """Vertical field of view of the input camera in degrees."""
        return math.degrees(2.0 * math.atan(self.height / (2.0 * float(self.K[1, 1]))))

    def median_depth(self) -> float:
        valid = self.depth[self.depth > 0]
        return float(valid.median()) if valid.numel() else 1.0


def scene_from_image(image: np.ndarray | Tensor, depth: Tensor, K: Tensor, name: str = "scene") -> EditorScene:
    """Lift a photo with its metric depth into an `EditorScene`.

    Shapes: image (h w 3) uint8 (numpy or tensor) or float [0, 1]; depth (h w) metres; K (3 3) pixels of (h, w).
    """
    from realcam.scene.lift import depth_to_pointcloud

    if isinstance(image, Tensor):
        image = image.detach().cpu().numpy()
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    depth = torch.as_tensor(depth, dtype=torch.float32)
    if depth.ndim == 3 and depth.shape[0] == 1:
        depth = depth[0]
    if depth.ndim != 2 or tuple(image.shape) != (*depth.shape, 3):
        raise ValueError(f"image (h w 3) and depth (h w) must match, got {image.shape} and {tuple(depth.shape)}")
    K = torch.as_tensor(K, dtype=torch.float64)
    if K.shape != (3, 3):
        raise ValueError(f"K must have shape (3, 3), got {tuple(K.shape)}")
    cloud = depth_to_pointcloud(image, depth, K, edge_threshold=0.1)
    return EditorScene(image=image, depth=depth, K=K, cloud=cloud, name=name)


@dataclass(frozen=True)
class PathPreview:
    """The point-cloud render of every sampled frame and what noise shaping will see.

    Shapes: rgb (f h w 3) uint8; visible (f h w) bool; mask (f h8 w8) bool, the latent-resolution noise-shaping mask;
    coverage (f,) float in [0, 1], the share of the mask that is set; warnings one entry per problem.
    """

    rgb: Tensor
    visible: Tensor
    mask: Tensor
    coverage: Tensor
    warnings: tuple[FrameWarning, ...]


def preview_size(scene: EditorScene, max_side: int = PREVIEW_MAX_SIDE) -> tuple[int, int]:
    """(height, width) of the preview: the photo's aspect, the longer side at most `max_side` (never upscaled, a
    sparser cloud would show holes), both multiples of 8 (the latent grid)."""
    scale = min(1.0, max_side / max(scene.height, scene.width))
    return max(8, round(scene.height * scale / 8) * 8), max(8, round(scene.width * scale / 8) * 8)


def render_path_preview(
    scene: EditorScene,
    sampled: SampledTrajectory,
    thresholds: WarningThresholds = WarningThresholds(),
    max_side: int = PREVIEW_MAX_SIDE,
) -> PathPreview:
    """Render the cloud along sampled frames and derive the noise-shaping masks, coverage and warnings.

    Intrinsics per frame come from `sampled.K_for` (per-frame FOV with the input camera's principal point).
    Shapes: sampled.c2w (f 4 4) metres -> PathPreview with (f h w) frames, h, w = `preview_size(scene, max_side)`.
    """
    from realcam.scene.masks import latent_mask
    from realcam.scene.render import render_points

    height, width = preview_size(scene, max_side)
    K = sampled.K_for(height, width, default_fov_deg=scene.fov_y_deg)
    result = render_points(scene.cloud, sampled.c2w, K, height, width)
    shaped = latent_mask(result.visible)
    coverage = torch.as_tensor(shaped.coverage, dtype=torch.float64).reshape(-1)
    warnings = frame_warnings(scene, sampled.c2w, result.depth, coverage, thresholds)
    return PathPreview(result.rgb, result.visible, shaped.mask, coverage, tuple(warnings))


def frame_warnings(
    scene: EditorScene,
    c2w: Tensor,
    rendered_depth: Tensor,
    coverage: Tensor,
    thresholds: WarningThresholds = WarningThresholds(),
) -> list[FrameWarning]:
    """Warnings per frame, in frame order.

    - "behind": the camera centre lies behind the photo's visible surface (its depth along the input ray through it
      exceeds the depth map there), so it looks out from inside or behind the scene;
    - "too_close": the nearest rendered point is closer than `thresholds.near_m`;
    - "low_coverage": less than `thresholds.min_coverage` of the frame will be constrained by noise shaping.

    Shapes: c2w (f 4 4); rendered_depth (f h w) metres, 0 = empty; coverage (f,) in [0, 1].
    """
    warnings: list[FrameWarning] = []
    for frame in range(c2w.shape[0]):
        if camera_behind_surface(scene, c2w[frame, :3, 3]):
            warnings.append(FrameWarning(frame, "behind", f"frame {frame}: camera is behind the scene surface"))
        depth = rendered_depth[frame]
        hit = depth[depth > 0]
        if hit.numel() and float(hit.min()) < thresholds.near_m:
            warnings.append(
                FrameWarning(
                    frame,
                    "too_close",
                    f"frame {frame}: points {float(hit.min()):.2f} m away (< {thresholds.near_m:.2f} m)",
                )
            )
        if float(coverage[frame]) < thresholds.min_coverage:
            warnings.append(
                FrameWarning(
                    frame,
                    "low_coverage",
                    f"frame {frame}: coverage {100 * float(coverage[frame]):.0f}% "
                    f"(< {100 * thresholds.min_coverage:.0f}%)",
                )
            )
    return warnings


def camera_behind_surface(scene: EditorScene, position: Tensor) -> bool:
    """True when the point `position` (3,) metres lies farther along its input-camera ray than the depth map there."""
    x, y, z = (float(v) for v in position)
    if z <= 1e-6:
        return False
    K = scene.K
    u = round(float(K[0, 0]) * x / z + float(K[0, 1]) * y / z + float(K[0, 2]))
    v = round(float(K[1, 1]) * y / z + float(K[1, 2]))
    if not (0 <= u < scene.width and 0 <= v < scene.height):
        return False
    surface = float(scene.depth[v, u])
    return surface > 0 and z > surface
