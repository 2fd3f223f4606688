"""The built-in demo scene: deterministic, exact metric depth, textured enough for SIFT, renders in place."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from realcam.scene.demo import BOXES, ROOM_MAX, ROOM_MIN, demo_scene
from realcam.scene.lift import depth_to_pointcloud
from realcam.scene.render import render_points


def test_demo_scene_is_deterministic_with_the_documented_shapes():
    a, b = demo_scene(64, 96), demo_scene(64, 96)
    assert a.image.shape == (64, 96, 3) and a.image.dtype == np.uint8
    assert a.depth.shape == (64, 96) and a.depth.dtype == torch.float32
    assert a.K.shape == (3, 3) and a.K[0, 0] == 48.0 and a.K[0, 2] == 48.0 and a.K[1, 2] == 32.0
    np.testing.assert_array_equal(a.image, b.image)
    assert torch.equal(a.depth, b.depth)
    a.image[:] = 0  # callers get copies: mutating one does not change the next
    assert demo_scene(64, 96).image.any()


def test_every_lifted_demo_point_lies_on_a_scene_surface():
    scene = demo_scene(80, 128)
    points = depth_to_pointcloud(scene.image, scene.depth, scene.K, remove_outliers=False).points.double()
    assert points.shape[0] == 80 * 128
    eps = 1e-4
    lo, hi = torch.tensor(ROOM_MIN, dtype=torch.float64), torch.tensor(ROOM_MAX, dtype=torch.float64)
    assert bool(((points >= lo - eps) & (points <= hi + eps)).all())
    on_surface = ((points - lo).abs() < eps).any(dim=1) | ((points - hi).abs() < eps).any(dim=1)
    for box_lo, box_hi, _ in BOXES:
        blo, bhi = torch.tensor(box_lo, dtype=torch.float64), torch.tensor(box_hi, dtype=torch.float64)
        inside = ((points >= blo - eps) & (points <= bhi + eps)).all(dim=1)
        on_face = ((points - blo).abs() < eps).any(dim=1) | ((points - bhi).abs() < eps).any(dim=1)
        on_surface |= inside & on_face
    assert bool(on_surface.all())
    assert float(scene.depth.min()) > 2.0 and float(scene.depth.max()) <= 6.5


def test_demo_rerenders_in_place_under_the_identity_camera():
    scene = demo_scene(48, 64)
    cloud = depth_to_pointcloud(scene.image, scene.depth, scene.K, remove_outliers=False)
    result = render_points(cloud, torch.eye(4)[None], scene.K, 48, 64, point_size=1)
    assert bool(result.visible.all())
    np.testing.assert_array_equal(result.rgb[0].numpy(), scene.image)


def test_demo_image_has_many_sift_features():
    pycolmap = pytest.importorskip("pycolmap")
    scene = demo_scene(160, 256)  # half size keeps the test fast; the full 320x512 image gives ~850 features
    gray = (scene.image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)) / 255.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        keypoints, _ = pycolmap.Sift().extract(np.ascontiguousarray(gray, dtype=np.float32))
    assert keypoints.shape[0] > 200


def test_demo_rejects_silly_sizes():
    with pytest.raises(ValueError, match="height"):
        demo_scene(4, 64)


def test_identity_frame_of_the_demo_constrains_every_latent_cell():
    from realcam.scene.masks import latent_mask

    scene = demo_scene(64, 96)
    cloud = depth_to_pointcloud(scene.image, scene.depth, scene.K, remove_outliers=False)
    c2w = torch.eye(4).repeat(2, 1, 1)
    c2w[1, 0, 3] = 0.4  # truck right: the right border opens up
    result = render_points(cloud, c2w, scene.K, 64, 96, point_size=2)
    mask = latent_mask(result.visible)
    assert mask.coverage[0].item() == 1.0
    assert mask.coverage[1].item() < 1.0


def test_demo_cache_location_follows_the_environment(monkeypatch, tmp_path):
    from realcam.scene.demo import demo_cache_dir

    monkeypatch.setenv("REALCAM_DEMO_CACHE", str(tmp_path / "demo"))
    monkeypatch.setenv("REALCAM_CACHE", str(tmp_path / "rc"))
    assert demo_cache_dir() == tmp_path / "demo"
    monkeypatch.delenv("REALCAM_DEMO_CACHE")
    assert demo_cache_dir() == tmp_path / "rc" / "demo-scene"
    monkeypatch.delenv("REALCAM_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert demo_cache_dir() == tmp_path / "xdg" / "realcam" / "demo-scene"


def test_demo_cache_of_another_version_or_size_is_regenerated(monkeypatch, tmp_path):
    from realcam.scene import demo

    monkeypatch.setenv("REALCAM_CACHE", str(tmp_path))
    fresh = demo.demo_scene(16, 24, cache=False)
    path = demo.demo_cache_path(16, 24)
    path.parent.mkdir(parents=True)
    stale = {"image": np.zeros((16, 24, 3), np.uint8), "depth": np.ones((16, 24), np.float32)}
    for version, arrays in (("old-version", stale), (demo._version(), {**stale, "depth": np.ones((8, 8), np.float32)})):
        np.savez(path, version=np.array(version), **arrays)
        demo._render_cached.cache_clear()
        np.testing.assert_array_equal(demo.demo_scene(16, 24).image, fresh.image)
        with np.load(path) as data:
            assert str(data["version"]) == demo._version()
            np.testing.assert_array_equal(data["depth"], fresh.depth.numpy())
    demo._render_cached.cache_clear()


def test_demo_generation_restores_the_torch_thread_count():
    from realcam.scene import demo

    before = torch.get_num_threads()
    demo._render(16, 16)
    assert torch.get_num_threads() == before
