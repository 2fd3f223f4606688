"""Depth -> point cloud: parity item f (point-cloud part), outlier removal against an Open3D-style twin, filters."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from parity import fixture

import realcam.scene.lift as lift
from realcam.scene.lift import depth_edges, depth_to_pointcloud, remove_statistical_outliers
from realcam.scene.pointcloud import PointCloud


@pytest.mark.parametrize("variant", ["256", "512"])
def test_point_cloud_equals_parity_item_f(variant):
    f = fixture(variant, "f_depth")
    frame0 = (f["inputs"]["video"][0, :, 0].permute(1, 2, 0) + 1) / 2  # (H W 3) in [0, 1]
    cloud = depth_to_pointcloud(frame0, f["depth_at_HW"].float(), f["inputs"]["K"][0, 0], remove_outliers=False)
    assert len(cloud) == f["points"].shape[0]
    torch.testing.assert_close(cloud.points.double(), f["points"], atol=1e-5, rtol=0)
    torch.testing.assert_close(cloud.colors.double(), f["colors"], atol=1e-6, rtol=0)


def open3d_style_outliers(points: np.ndarray, nb_neighbors: int, std_ratio: float) -> np.ndarray:
    """Per point: mean distance to its k nearest points (itself included), then mean + ratio * sample std."""
    mean_dist = np.empty(len(points))
    for i, p in enumerate(points):
        d = np.sqrt(((points - p) ** 2).sum(axis=1))
        mean_dist[i] = np.sort(d)[:nb_neighbors].mean()
    threshold = mean_dist.mean() + std_ratio * mean_dist.std(ddof=1)
    return mean_dist < threshold


def _noisy_cloud(seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    points = torch.randn(400, 3, generator=generator) * 0.2
    points[:6] += torch.tensor([3.0, -2.0, 4.0])  # a few far-away outliers
    return points


@pytest.mark.parametrize(("nb_neighbors", "std_ratio"), [(16, 3.0), (8, 1.0)])
def test_outlier_removal_matches_open3d_style_twin(nb_neighbors, std_ratio):
    points = _noisy_cloud(nb_neighbors)
    keep = remove_statistical_outliers(points, nb_neighbors, std_ratio)
    expected = open3d_style_outliers(points.double().numpy(), nb_neighbors, std_ratio)
    np.testing.assert_array_equal(keep.numpy(), expected)
    if std_ratio == 3.0:
        assert not bool(keep[:6].any()) and int(keep.sum()) > 380


def test_bruteforce_knn_equals_kdtree_knn(monkeypatch):
    points = _noisy_cloud(1)
    monkeypatch.setattr(lift, "_KNN_CHUNK_ELEMENTS", 4000)  # several chunks
    brute = lift._knn_mean_distance_bruteforce(points, 16)
    torch.testing.assert_close(brute, lift.knn_mean_distance(points, 16), rtol=1e-9, atol=1e-9)


def test_lift_drops_missing_depth_applies_c2w_and_removes_outliers():
    height, width = 20, 30
    depth = torch.full((height, width), 2.0)
    depth[0, 0] = 0.0  # missing
    depth[10, 10] = 15.0  # a flying pixel far behind the wall
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[..., 0] = 200
    K = torch.tensor([[25.0, 0.0, 15.0], [0.0, 25.0, 10.0], [0.0, 0.0, 1.0]])
    cloud = depth_to_pointcloud(image, depth, K, remove_outliers=False)
    assert len(cloud) == height * width - 1
    assert torch.allclose(cloud.colors[:, 0], torch.tensor(200 / 255))
    cleaned = depth_to_pointcloud(image, depth, K)
    assert len(cleaned) == height * width - 2 and float(cleaned.points[:, 2].max()) == 2.0
    c2w = torch.eye(4, dtype=torch.float64)
    c2w[:3, :3] = torch.tensor([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]], dtype=torch.float64)
    c2w[:3, 3] = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    moved = depth_to_pointcloud(image, depth, K, c2w=c2w, remove_outliers=False)
    expected = cloud.points.double() @ c2w[:3, :3].T + c2w[:3, 3]
    torch.testing.assert_close(moved.points.double(), expected, atol=1e-6, rtol=0)


def test_depth_edge_filter_drops_both_sides_of_a_step():
    depth = torch.full((8, 10), 2.0)
    depth[:, 5:] = 4.0
    edges = depth_edges(depth, 0.1)
    assert bool(edges[:, 4:6].all()) and int(edges.sum()) == 16
    cloud = depth_to_pointcloud(
        np.zeros((8, 10, 3), np.uint8), depth, torch.eye(3), edge_threshold=0.1, remove_outliers=False
    )
    assert len(cloud) == 80 - 16


@pytest.mark.parametrize(
    ("depth", "match"),
    [
        (torch.tensor([[1.0, float("nan")], [1.0, 1.0]]), "NaN"),
        (torch.tensor([[1.0, -1.0], [1.0, 1.0]]), "negative"),
        (torch.zeros(2, 2), "every pixel"),
        (torch.ones(1, 2, 2), "shape"),
        (torch.full((2, 2), 5000.0), "millimetres"),
    ],
)
def test_lift_rejects_bad_depth(depth, match):
    with pytest.raises(ValueError, match=match):
        depth_to_pointcloud(np.zeros((2, 2, 3), np.uint8), depth, torch.eye(3))


def test_lift_rejects_mismatched_image_and_bad_K():
    with pytest.raises(ValueError, match="image"):
        depth_to_pointcloud(np.zeros((3, 2, 3), np.uint8), torch.ones(2, 2), torch.eye(3))
    with pytest.raises(ValueError, match="K"):
        depth_to_pointcloud(np.zeros((2, 2, 3), np.uint8), torch.ones(2, 2), torch.eye(4))


def test_point_cloud_dataclass_contract():
    cloud = PointCloud(torch.zeros(4, 3), torch.ones(4, 3))
    assert len(cloud) == 4 and cloud.to("cpu").points.shape == (4, 3)
    assert len(cloud.select(torch.tensor([True, False, True, False]))) == 2
    with pytest.raises(ValueError, match="float32"):
        PointCloud(torch.zeros(4, 3, dtype=torch.float64), torch.ones(4, 3))
    with pytest.raises(ValueError, match="colors"):
        PointCloud(torch.zeros(4, 3), torch.ones(3, 3))


@pytest.mark.parametrize("shift", [False, True])
def test_resize_lift_K_renders_the_resized_and_cropped_image_in_place(shift):
    """Integer-centre convention end to end: a plane lifted at 40x60 and rendered at 3x with a centre crop to 120x120
    (point size 3 = one 3x3 block per source pixel) is exactly the nearest-neighbour 3x resize, cropped."""
    from realcam.geometry.intrinsics import scale_K
    from realcam.scene.lift import resize_lift_K
    from realcam.scene.render import render_points

    image = torch.randint(0, 256, (40, 60, 3), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    K = torch.tensor([[50.0, 0.0, 30.0], [0.0, 50.0, 20.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    cloud = depth_to_pointcloud(image, torch.full((40, 60), 3.0), K, remove_outliers=False)
    K_out = resize_lift_K(K, 3.0, 3.0, left=30.0, top=0.0)
    expected = image.repeat_interleave(3, dim=0).repeat_interleave(3, dim=1)[:, 30:150]
    if shift:  # the half-pixel convention of scale_K is 0.5*(s - 1) = 1 pixel off here: the test must see it
        K_out = scale_K(K, 3.0, 3.0, left=30.0, top=0.0)
    rendered = render_points(cloud, torch.eye(4)[None], K_out, 120, 120, point_size=3).rgb[0]
    assert torch.equal(rendered, expected) != shift
    np.testing.assert_allclose(K_out[0, 2].item(), 3 * 30 + (0 if shift else 1) - 30)


def _strip_scene(columns: int, far: float):
    """A 256x256 wall at 3 m with a far region (a window) on the last `columns` columns."""
    depth = torch.full((256, 256), 3.0)
    depth[:, 256 - columns :] = far
    K = torch.tensor([[128.0, 0.0, 128.0], [0.0, 128.0, 128.0], [0.0, 0.0, 1.0]])
    return np.zeros((256, 256, 3), np.uint8), depth, K


@pytest.mark.parametrize("far", [6.0, 20.0])
def test_metric_statistic_removes_a_small_far_region_whole_relative_keeps_it(far):
    image, depth, K = _strip_scene(12, far)
    n_far = 12 * 256
    metric = depth_to_pointcloud(image, depth, K)  # the default: the reference's statistic
    relative = depth_to_pointcloud(image, depth, K, outlier_statistic="relative")
    assert int((metric.points[:, 2] > far - 0.01).sum()) == 0  # the reference drops every point of the window
    assert int((relative.points[:, 2] > far - 0.01).sum()) > 0.8 * n_far


def test_both_statistics_remove_isolated_flying_pixels():
    image, depth, K = _strip_scene(40, 9.0)
    depth[100, 60], depth[30, 20] = 1.4, 4.6  # single pixels far off the wall at 3 m
    for statistic in ("metric", "relative"):
        cloud = depth_to_pointcloud(image, depth, K, outlier_statistic=statistic)
        z = cloud.points[:, 2]
        assert not bool(((z - 1.4).abs() < 1e-4).any()) and not bool(((z - 4.6).abs() < 1e-4).any()), statistic
    with pytest.raises(ValueError, match="outlier_statistic"):
        depth_to_pointcloud(image, depth, K, outlier_statistic="median")


def test_relative_statistic_divides_by_the_given_scale():
    points = _noisy_cloud(0)
    scale = torch.full((len(points),), 2.0)
    torch.testing.assert_close(
        remove_statistical_outliers(points, 16, 3.0, scale=scale), remove_statistical_outliers(points, 16, 3.0)
    )  # a constant scale changes nothing
    with pytest.raises(ValueError, match="positive"):
        remove_statistical_outliers(points, 16, 3.0, scale=torch.zeros(len(points)))
