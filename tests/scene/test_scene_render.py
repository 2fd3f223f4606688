"""Preview renderer: slow per-point twin, identity re-render, pinhole placement, occlusion, culling, devices."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from realcam.scene.lift import depth_to_pointcloud
from realcam.scene.pointcloud import PointCloud
from realcam.scene.render import RenderResult, render_points, visible_from_rgb


def slow_render(cloud: PointCloud, c2w: torch.Tensor, K: torch.Tensor, height: int, width: int, point_size: int):
    """Obvious per-point z-buffer in Python: the twin of render_points (same pixel and tie conventions)."""
    f = c2w.shape[0]
    K = K.expand(f, 3, 3) if K.ndim == 2 else K
    zbuf = np.full((f, height, width), np.inf)
    owner = np.full((f, height, width), -1)
    for i in range(f):
        w2c = torch.linalg.inv(c2w[i].double()).float()
        for n in range(len(cloud)):
            x, y, z = (w2c[:3, :3] @ cloud.points[n] + w2c[:3, 3]).tolist()
            if not z > 1e-3:
                continue
            z32 = torch.tensor(z, dtype=torch.float32)
            u = float(K[i, 0, 0] * (torch.tensor(x) / z32) + K[i, 0, 1] * (torch.tensor(y) / z32) + K[i, 0, 2])
            v = float(K[i, 1, 1] * (torch.tensor(y) / z32) + K[i, 1, 2])
            c0, r0 = math.ceil(u - point_size / 2), math.ceil(v - point_size / 2)
            for r in range(r0, r0 + point_size):
                for c in range(c0, c0 + point_size):
                    if (
                        0 <= r < height
                        and 0 <= c < width
                        and (z < zbuf[i, r, c] or (z == zbuf[i, r, c] and n < owner[i, r, c]))
                    ):
                        zbuf[i, r, c], owner[i, r, c] = z, n
    visible = owner >= 0
    rgb = np.zeros((f, height, width, 3), dtype=np.uint8)
    colors = (cloud.colors * 255).round().to(torch.uint8).numpy()
    rgb[visible] = colors[owner[visible]]
    return rgb, visible, np.where(visible, zbuf, 0.0)


def random_cameras(f: int, generator: torch.Generator) -> torch.Tensor:
    """Small random rotations and translations around the identity, (f 4 4) float64."""
    c2w = torch.eye(4, dtype=torch.float64).repeat(f, 1, 1)
    for i in range(f):
        axis = torch.randn(3, generator=generator, dtype=torch.float64)
        angle = 0.15 * torch.rand((), generator=generator, dtype=torch.float64)
        w = axis / axis.norm() * angle
        W = torch.tensor([[0, -w[2], w[1]], [w[2], 0, -w[0]], [-w[1], w[0], 0]], dtype=torch.float64)
        c2w[i, :3, :3] = torch.linalg.matrix_exp(W)
        c2w[i, :3, 3] = 0.3 * torch.randn(3, generator=generator, dtype=torch.float64)
    return c2w


@pytest.mark.parametrize("point_size", [1, 2, 3])
def test_render_matches_slow_per_point_twin(point_size):
    generator = torch.Generator().manual_seed(7)
    n, height, width = 250, 20, 28
    points = torch.rand(n, 3, generator=generator) * torch.tensor([4.0, 3.0, 3.0]) - torch.tensor([2.0, 1.5, -0.5])
    points[:10, 2] = -1.0  # behind the camera
    cloud = PointCloud(points, torch.rand(n, 3, generator=generator))
    c2w = random_cameras(4, generator)
    K = torch.tensor([[20.0, 0.3, 13.0], [0.0, 18.0, 9.5], [0.0, 0.0, 1.0]])
    fast = render_points(cloud, c2w, K, height, width, point_size=point_size)
    rgb, visible, depth = slow_render(cloud, c2w, K, height, width, point_size)
    assert fast.visible.numpy().sum() > 100
    np.testing.assert_array_equal(fast.visible.numpy(), visible)
    np.testing.assert_array_equal(fast.rgb.numpy(), rgb)
    np.testing.assert_allclose(fast.depth.numpy(), depth, rtol=1e-6)


def test_identity_reproduces_the_input_image_exactly():
    generator = torch.Generator().manual_seed(1)
    height, width = 24, 40
    image = torch.randint(0, 256, (height, width, 3), generator=generator, dtype=torch.uint8)
    depth = 1.0 + 4.0 * torch.rand(height, width, generator=generator)
    K = torch.tensor([[30.0, 0.0, 20.0], [0.0, 33.0, 12.0], [0.0, 0.0, 1.0]])
    cloud = depth_to_pointcloud(image, depth, K, remove_outliers=False)
    result = render_points(cloud, torch.eye(4)[None], K, height, width, point_size=1)
    assert bool(result.visible.all())
    assert torch.equal(result.rgb[0], image)
    torch.testing.assert_close(result.depth[0], depth)


def _index_colors(n: int) -> torch.Tensor:
    """Colours that encode the point index (base 256), so a render tells which point won each pixel."""
    index = torch.arange(n)
    digits = torch.stack((index % 256, (index // 256) % 256, index // 65536), dim=1)
    return digits.float() / 255.0


def _decode_index(rgb: torch.Tensor) -> torch.Tensor:
    rgb = rgb.long()
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


@pytest.mark.parametrize("t", [(0.13, -0.07, 0.0), (-0.31, 0.2, 0.45), (0.05, 0.11, -0.8)])
def test_plane_pixels_land_where_the_pinhole_formula_puts_them(t):
    Z, height, width = 3.0, 48, 64
    K = torch.tensor([[50.0, 0.0, 31.7], [0.0, 46.0, 23.2], [0.0, 0.0, 1.0]])
    xs = torch.linspace(-6, 6, 300)
    ys = torch.linspace(-5, 5, 250)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack((gx, gy, torch.full_like(gx, Z)), dim=-1).reshape(-1, 3)
    cloud = PointCloud(points, _index_colors(points.shape[0]))
    c2w = torch.eye(4)
    c2w[:3, 3] = torch.tensor(t)
    result = render_points(cloud, c2w[None], K, height, width, point_size=1)
    rows, cols = torch.nonzero(result.visible[0], as_tuple=True)
    assert rows.numel() > 0.5 * height * width
    winner = points[_decode_index(result.rgb[0, rows, cols])].double()
    rel = winner - torch.tensor(t, dtype=torch.float64)
    u = K[0, 0].double() * rel[:, 0] / rel[:, 2] + K[0, 2].double()
    v = K[1, 1].double() * rel[:, 1] / rel[:, 2] + K[1, 2].double()
    assert float((u - cols.double()).abs().max()) <= 0.5 + 1e-4
    assert float((v - rows.double()).abs().max()) <= 0.5 + 1e-4
    torch.testing.assert_close(result.depth[0, rows, cols].double(), rel[:, 2], rtol=1e-6, atol=1e-6)


def test_near_box_occludes_far_plane():
    height, width = 40, 40
    K = torch.tensor([[40.0, 0.0, 20.0], [0.0, 40.0, 20.0], [0.0, 0.0, 1.0]])
    g = torch.linspace(-4, 4, 400)
    gy, gx = torch.meshgrid(g, g, indexing="ij")
    far = torch.stack((gx, gy, torch.full_like(gx, 6.0)), dim=-1).reshape(-1, 3)
    b = torch.linspace(-0.3, 0.3, 60)
    by, bx = torch.meshgrid(b, b, indexing="ij")
    near = torch.stack((bx, by, torch.full_like(bx, 2.0)), dim=-1).reshape(-1, 3)
    # Near points come last, so the winner is decided by depth and not by index order.
    points = torch.cat((far, near))
    colors = torch.cat((torch.tensor([1.0, 0, 0]).expand_as(far), torch.tensor([0, 1.0, 0]).expand_as(near)))
    c2w = torch.eye(4).repeat(2, 1, 1)
    c2w[1, 0, 3] = 0.5  # move right: the box shifts left in the image
    result = render_points(PointCloud(points, colors), c2w, K, height, width, point_size=2)
    for i, tx in enumerate((0.0, 0.5)):
        # Box centre projects to u = 40*(0 - tx)/2 + 20; its half-width is 40*0.3/2 = 6 px.
        u0 = 40 * (0 - tx) / 2.0 + 20
        inner = result.rgb[i, 16:24, int(u0) - 4 : int(u0) + 4]
        assert bool((inner[..., 1] == 255).all()) and bool((inner[..., 0] == 0).all())
        assert torch.allclose(result.depth[i, 16:24, int(u0) - 4 : int(u0) + 4], torch.tensor(2.0))
        outside = result.rgb[i, :, : max(0, int(u0) - 8)]
        assert bool((outside[..., 0] == 255).all())


def test_points_behind_or_too_near_are_culled_and_empty_frames_are_valid():
    points = torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, 0.0005], [0.0, 0.0, 2.0]])
    cloud = PointCloud(points, torch.ones(3, 3))
    c2w = torch.eye(4).repeat(2, 1, 1)
    c2w[1, 2, 3] = 5.0  # second camera is past every point
    result = render_points(cloud, c2w, torch.tensor([[10.0, 0, 5], [0, 10.0, 5], [0, 0, 1]]), 10, 10, near=1e-3)
    assert int(result.visible[0].sum()) == 4  # only the z = 2 point, as a 2 x 2 splat
    assert not bool(result.visible[1].any())
    assert bool((result.rgb[1] == 0).all()) and bool((result.depth[1] == 0).all())
    empty = render_points(PointCloud(torch.zeros(0, 3), torch.zeros(0, 3)), c2w, torch.eye(3), 4, 5)
    assert empty.rgb.shape == (2, 4, 5, 3) and not bool(empty.visible.any())


def test_background_and_the_reference_non_black_rule():
    points = torch.tensor([[0.0, 0.0, 2.0], [0.5, 0.0, 2.0]])
    colors = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])  # a genuinely black scene point
    K = torch.tensor([[10.0, 0, 5], [0, 10.0, 5], [0, 0, 1]])
    result = render_points(
        PointCloud(points, colors), torch.eye(4)[None], K, 10, 10, point_size=1, background=(9, 8, 7)
    )
    assert bool(result.visible[0, 5, 5]) and bool(result.visible[0, 5, 7])
    assert result.rgb[0, 0, 0].tolist() == [9, 8, 7]
    black = render_points(PointCloud(points, colors), torch.eye(4)[None], K, 10, 10, point_size=1)
    compat = black.compat_visible()
    assert not bool(compat[0, 5, 5]) and bool(compat[0, 5, 7])  # the black point is a hole by the reference's rule
    assert torch.equal(compat, visible_from_rgb(black.rgb))


def test_render_result_shapes_dtypes_and_chunking(monkeypatch):
    import realcam.scene.render as render_module

    generator = torch.Generator().manual_seed(3)
    points = torch.randn(500, 3, generator=generator) + torch.tensor([0, 0, 4.0])
    cloud = PointCloud(points, torch.rand(500, 3, generator=generator))
    c2w = random_cameras(5, generator)
    K = torch.tensor([[30.0, 0, 16], [0, 30.0, 12], [0, 0, 1]])
    whole = render_points(cloud, c2w, K, 24, 32)
    monkeypatch.setattr(render_module, "_MAX_SAMPLES_PER_CHUNK", 2100)  # one frame per chunk
    chunked = render_points(cloud, c2w, K.expand(5, 3, 3), 24, 32)
    assert isinstance(whole, RenderResult)
    assert whole.rgb.shape == (5, 24, 32, 3) and whole.rgb.dtype == torch.uint8
    assert whole.visible.dtype == torch.bool and whole.depth.dtype == torch.float32
    assert torch.equal(whole.rgb, chunked.rgb) and torch.equal(whole.depth, chunked.depth)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(c2w=torch.eye(4)), "c2w"),
        (dict(K=torch.eye(3).repeat(2, 1, 1)), "K"),
        (dict(point_size=0), "point_size"),
        (dict(near=0.0), "near"),
        (dict(background=300), "background"),
        (dict(height=0), "height"),
    ],
)
def test_render_rejects_bad_arguments(kwargs, match):
    args = dict(c2w=torch.eye(4)[None], K=torch.eye(3), height=4, width=4)
    args.update(kwargs)
    cloud = PointCloud(torch.zeros(1, 3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match=match):
        render_points(cloud, args.pop("c2w"), args.pop("K"), args.pop("height"), args.pop("width"), **args)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_render_equals_cpu_render():
    generator = torch.Generator().manual_seed(5)
    points = torch.randn(20000, 3, generator=generator) + torch.tensor([0, 0, 5.0])
    cloud = PointCloud(points, torch.rand(20000, 3, generator=generator))
    c2w = random_cameras(16, generator)
    K = torch.tensor([[60.0, 0, 32], [0, 60.0, 32], [0, 0, 1]])
    cpu = render_points(cloud, c2w, K, 64, 64)
    gpu = render_points(cloud.to("cuda"), c2w, K, 64, 64)
    assert torch.equal(cpu.visible, gpu.visible.cpu())
    assert (cpu.rgb.int() - gpu.rgb.cpu().int()).abs().max() <= 1


@settings(max_examples=40, deadline=None)
@given(
    fx=st.floats(5.0, 200.0),
    fy=st.floats(5.0, 200.0),
    cx=st.floats(0.0, 31.0),
    cy=st.floats(0.0, 23.0),
    z=st.floats(0.05, 50.0),
)
def test_point_on_the_optical_axis_renders_at_the_principal_point(fx, fy, cx, cy, z):
    K = torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=torch.float64)
    cloud = PointCloud(torch.tensor([[0.0, 0.0, z]]), torch.ones(1, 3))
    result = render_points(cloud, torch.eye(4)[None], K, 24, 32, point_size=1)
    rows, cols = torch.nonzero(result.visible[0], as_tuple=True)
    assert rows.tolist() == [math.ceil(torch.tensor(cy).float().item() - 0.5)]
    assert cols.tolist() == [math.ceil(torch.tensor(cx).float().item() - 0.5)]
    assert abs(float(result.depth[0, rows[0], cols[0]]) - z) <= 1e-6 * z
