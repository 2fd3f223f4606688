"""Metric depth map -> coloured point cloud (spec §5.2, paper §3.3 "3D point projection")."""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import Tensor

from realcam.geometry.intrinsics import scale_K
from realcam.scene.depth_io import validate_depth
from realcam.scene.pointcloud import PointCloud

log = logging.getLogger(__name__)

# Points per chunk of the brute-force kNN: the distance block is (chunk, n) floats.
_KNN_CHUNK_ELEMENTS = 1 << 24


OUTLIER_STATISTICS = ("metric", "relative")  # what outlier removal measures: see `depth_to_pointcloud`


def depth_to_pointcloud(
    image: np.ndarray | Tensor,
    depth: Tensor,
    K: Tensor,
    *,
    c2w: Tensor | None = None,
    remove_outliers: bool = True,
    nb_neighbors: int = 16,
    std_ratio: float = 3.0,
    outlier_statistic: str = "metric",
    edge_threshold: float | None = None,
) -> PointCloud:
    """Lift every pixel with a depth to a 3D point carrying that pixel's colour.

    X = (u - cx)/fx * D, Y = (v - cy)/fy * D, Z = D on **integer** pixel coordinates u = 0..w-1, v = 0..h-1 (spec §5.2:
    the reference does not add 0.5 here, unlike the Plücker rays; the renderer uses the same convention, so a lifted
    cloud re-renders in place). Computed in float64, stored as float32. Rows are row-major over pixels (v, then u),
    minus the dropped pixels.

    Shapes: image (h w 3) uint8 (numpy or tensor) or float in [0, 1]; depth (h w) metres, 0 = missing (dropped);
    K (3 3) pixels for this h, w; c2w (4 4) optional, maps the camera frame to the world frame of the result
    (default: the world is the camera's OpenCV frame). Returns a PointCloud on depth's device.

    Filters: `edge_threshold` drops pixels whose depth differs from a 4-neighbour by more than that fraction of their
    own depth (flying pixels at occlusion edges); `remove_outliers` runs the statistical outlier removal of
    `remove_statistical_outliers` (the reference's Open3D defaults: 16 neighbours, std ratio 3.0) on the statistic
    `outlier_statistic`:
    - "metric" (default, the reference's Open3D statistic): each point's mean neighbour distance in metres. Far points
      are sparser (points lifted from a depth map lie ~z/f apart), so a far region that covers a few percent of the
      photo (a window, a doorway to another room) is removed whole: every point of a 12-column strip at 6 m beside a
      wall at 3 m in a 256x256 photo, leaving holes in the preview that noise shaping then cannot constrain.
    - "relative": that distance divided by the point's depth, i.e. the spacing in pixels, so a far surface is judged
      like a near one (83 % of that strip is kept; isolated flying pixels are still removed). The price: a compact
      far blob of outliers now looks like a small far surface and keeps its interior, and on noise-free depth the
      image corners (one-sided neighbourhoods) can be dropped.
    """
    depth = validate_depth(depth)
    height, width = depth.shape
    colors = _image_to_colors(image, height, width).to(depth.device)
    _check_K(K)
    K64 = K.to(device=depth.device, dtype=torch.float64)
    fx, fy, cx, cy = K64[0, 0], K64[1, 1], K64[0, 2], K64[1, 2]
    v, u = torch.meshgrid(
        torch.arange(height, dtype=torch.float64, device=depth.device),
        torch.arange(width, dtype=torch.float64, device=depth.device),
        indexing="ij",
    )
    d = depth.double()
    points = torch.stack(((u - cx) / fx * d, (v - cy) / fy * d, d), dim=-1).reshape(-1, 3)
    if c2w is not None:
        _check_c2w(c2w)
        c2w64 = c2w.to(device=depth.device, dtype=torch.float64)
        points = points @ c2w64[:3, :3].T + c2w64[:3, 3]
    keep = (depth > 0).reshape(-1)
    if edge_threshold is not None:
        keep &= ~depth_edges(depth, edge_threshold).reshape(-1)
    cloud = PointCloud(points[keep].float(), colors.reshape(-1, 3)[keep])
    if outlier_statistic not in OUTLIER_STATISTICS:
        raise ValueError(f"outlier_statistic: expected one of {OUTLIER_STATISTICS}, got {outlier_statistic!r}")
    if remove_outliers and len(cloud) > nb_neighbors:
        scale = d.reshape(-1)[keep].float() if outlier_statistic == "relative" else None
        cloud = cloud.select(remove_statistical_outliers(cloud.points, nb_neighbors, std_ratio, scale=scale))
    return cloud


def resize_lift_K(K: Tensor, sx: float, sy: float, left: float = 0.0, top: float = 0.0) -> Tensor:
    """K of an image resized by (sx, sy) and then cropped at (left, top), in the lift/renderer convention.

    The lift and the renderer put pixel i's centre at the coordinate i (spec §5.2); a resize, like PIL's or
    `F.interpolate(align_corners=False)`, maps pixel edges to pixel edges, i.e. the coordinate i + 0.5 to
    s*(i + 0.5). So in integer-centre coordinates u' = s*u + 0.5*(s - 1) - left: this is
    `realcam.geometry.intrinsics.scale_K` (pixel centres at i + 0.5) applied between a +0.5 and a -0.5 shift of the
    principal point. Without the shifts the resized view is off by 0.5*(s - 1) pixels. Shapes: K (... 3 3).
    """
    shifted = K.clone()
    shifted[..., 0, 2] += 0.5
    shifted[..., 1, 2] += 0.5
    out = scale_K(shifted, sx, sy, left=left, top=top)
    out[..., 0, 2] -= 0.5
    out[..., 1, 2] -= 0.5
    return out


def depth_edges(depth: Tensor, threshold: float) -> Tensor:
    """Pixels at a depth discontinuity: |D - D_neighbour| > threshold * D for any 4-neighbour with a depth.

    Shapes: depth (h w) metres -> (h w) bool. Missing (0) neighbours are ignored.
    """
    if not threshold > 0:
        raise ValueError(f"edge_threshold: expected a positive fraction, got {threshold}")
    edges = torch.zeros_like(depth, dtype=torch.bool)
    for dim in (0, 1):
        a, b = depth.narrow(dim, 0, depth.shape[dim] - 1), depth.narrow(dim, 1, depth.shape[dim] - 1)
        jump = (a - b).abs()
        both = (a > 0) & (b > 0)
        edges.narrow(dim, 0, depth.shape[dim] - 1).logical_or_(both & (jump > threshold * a))
        edges.narrow(dim, 1, depth.shape[dim] - 1).logical_or_(both & (jump > threshold * b))
    return edges


def remove_statistical_outliers(
    points: Tensor, nb_neighbors: int = 16, std_ratio: float = 3.0, *, scale: Tensor | None = None
) -> Tensor:
    """Statistical outlier removal with Open3D's statistics, without Open3D.

    For each point, d_i = mean Euclidean distance to its `nb_neighbors` nearest points, the point itself included
    (Open3D's KNN search returns the query as its own first neighbour); with `scale` (n,) > 0, d_i / scale_i instead
    (e.g. the point's depth: see `depth_to_pointcloud`). Keep points with d_i < mean(d) + std_ratio * std(d) (sample
    std, n - 1). Reference behaviour not copied: Open3D also drops points with d_i == 0 (all neighbours coincide);
    those are kept here.

    Shapes: points (n 3) -> keep (n,) bool on points' device. The kNN is exact: scipy's cKDTree when scipy is
    importable on CPU, otherwise a chunked brute force (never an n x n matrix).
    """
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points: expected shape (n, 3), got {tuple(points.shape)}")
    if nb_neighbors < 1:
        raise ValueError(f"nb_neighbors: expected >= 1, got {nb_neighbors}")
    n = points.shape[0]
    if n < 2:
        return torch.ones(n, dtype=torch.bool, device=points.device)
    k = min(nb_neighbors, n)
    mean_dist = knn_mean_distance(points, k)
    if scale is not None:
        if scale.shape != (n,) or not bool((scale > 0).all()):
            raise ValueError(f"scale: expected {n} positive values, got shape {tuple(scale.shape)}")
        mean_dist = mean_dist / scale.to(mean_dist)
    threshold = mean_dist.mean() + std_ratio * mean_dist.std(unbiased=True)
    return mean_dist < threshold


def knn_mean_distance(points: Tensor, k: int) -> Tensor:
    """Mean distance of each point to its k nearest points (itself included). Shapes: (n 3) -> (n,) float64."""
    if points.device.type == "cpu":
        try:
            from scipy.spatial import cKDTree
        except ImportError:
            cKDTree = None
        if cKDTree is not None:
            array = points.double().numpy()
            distances, _ = cKDTree(array).query(array, k=k)
            distances = distances.reshape(len(array), k)
            return torch.from_numpy(distances.mean(axis=1))
        if points.shape[0] > 50_000:
            log.warning("outlier removal of %d points without scipy: brute-force kNN, slow on CPU", points.shape[0])
    return _knn_mean_distance_bruteforce(points, k)


def _knn_mean_distance_bruteforce(points: Tensor, k: int) -> Tensor:
    p = points.double()
    n = p.shape[0]
    chunk = max(1, _KNN_CHUNK_ELEMENTS // n)
    out = torch.empty(n, dtype=torch.float64, device=p.device)
    for start in range(0, n, chunk):
        block = torch.cdist(p[start : start + chunk], p, compute_mode="donot_use_mm_for_euclid_dist")
        out[start : start + chunk] = block.topk(k, dim=1, largest=False).values.mean(dim=1)
    return out


def _image_to_colors(image: np.ndarray | Tensor, height: int, width: int) -> Tensor:
    """(h w 3) uint8 or float [0, 1] -> (h w 3) float32 in [0, 1]."""
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(image if image.flags.writeable else image.copy())
    tensor = image
    if not isinstance(tensor, Tensor):
        raise ValueError(f"image: expected a numpy array or tensor (h, w, 3), got {type(image).__name__}")
    if tuple(tensor.shape) != (height, width, 3):
        raise ValueError(f"image: expected shape ({height}, {width}, 3) to match depth, got {tuple(tensor.shape)}")
    if tensor.dtype == torch.uint8:
        return tensor.float() / 255.0
    if tensor.is_floating_point():
        if bool((tensor < 0).any()) or bool((tensor > 1).any()):
            raise ValueError("image: float images must be in [0, 1]")
        return tensor.float()
    raise ValueError(f"image: expected uint8 or float in [0, 1], got {tensor.dtype}")


def _check_K(K: Tensor) -> None:
    if not isinstance(K, Tensor) or tuple(K.shape) != (3, 3):
        raise ValueError(f"K: expected a tensor of shape (3, 3), got {getattr(K, 'shape', type(K).__name__)}")
    if not bool(torch.isfinite(K).all()) or float(K[0, 0]) <= 0 or float(K[1, 1]) <= 0:
        raise ValueError(f"K: expected finite intrinsics with positive focal lengths, got {K.tolist()}")


def _check_c2w(c2w: Tensor) -> None:
    if not isinstance(c2w, Tensor) or tuple(c2w.shape) != (4, 4):
        raise ValueError(f"c2w: expected a tensor of shape (4, 4), got {getattr(c2w, 'shape', type(c2w).__name__)}")
