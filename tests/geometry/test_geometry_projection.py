import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from realcam.geometry.projection import project, unproject
from realcam.geometry.se3 import so3_exp

F64 = torch.float64


def _c2w(rotvec, t):
    c2w = torch.eye(4, dtype=F64)
    c2w[:3, :3] = so3_exp(torch.tensor(rotvec, dtype=F64))
    c2w[:3, 3] = torch.tensor(t, dtype=F64)
    return c2w


small = st.floats(-2, 2, allow_nan=False)


@settings(max_examples=30, deadline=None)
@given(st.tuples(small, small, small), st.tuples(small, small, small), st.integers(0, 2**31 - 1))
def test_project_unproject_returns_pixel_centres(rotvec, t, seed):
    g = torch.Generator().manual_seed(seed)
    h, w = 5, 7
    depth = 0.5 + 5 * torch.rand(1, 1, h, w, generator=g, dtype=F64)
    K = torch.tensor([[9.0, 0, 3.1], [0, 8.0, 2.4], [0, 0, 1]], dtype=F64)
    c2w = _c2w(rotvec, t)
    points = unproject(depth, K[None], c2w[None])
    assert points.shape == (1, h * w, 3)
    uv, z = project(points[0], c2w[None], K[None])
    rows, cols = torch.meshgrid(torch.arange(h, dtype=F64), torch.arange(w, dtype=F64), indexing="ij")
    expected = torch.stack([cols + 0.5, rows + 0.5], dim=-1).reshape(h * w, 2)
    torch.testing.assert_close(uv[0], expected, atol=1e-9, rtol=0)
    torch.testing.assert_close(z[0], depth.reshape(-1), atol=1e-9, rtol=0)


@settings(max_examples=30, deadline=None)
@given(st.tuples(small, small, small), st.tuples(small, small, small), st.floats(0.1, 50))
def test_point_on_optical_axis_lands_on_principal_point(rotvec, t, distance):
    c2w = _c2w(rotvec, t)
    K = torch.tensor([[100.0, 0, 37.5], [0, 90.0, 21.25], [0, 0, 1]], dtype=F64)
    point = c2w[:3, 3] + distance * c2w[:3, 2]  # along the camera's +z
    uv, z = project(point[None], c2w[None], K[None])
    torch.testing.assert_close(uv[0, 0], torch.tensor([37.5, 21.25], dtype=F64), atol=1e-9, rtol=0)
    assert abs(float(z[0, 0]) - distance) < 1e-9


def test_unproject_reference_integer_pixels():
    depth = torch.full((1, 1, 2, 2), 2.0, dtype=F64)
    K = torch.tensor([[1.0, 0, 1.0], [0, 1.0, 1.0], [0, 0, 1]], dtype=F64)
    pts = unproject(depth, K[None], torch.eye(4, dtype=F64)[None], pixel_offset=0.0)
    # Pixel (0, 0) at integer coordinates: ((0 − 1)·2, (0 − 1)·2, 2).
    torch.testing.assert_close(pts[0, 0], torch.tensor([-2.0, -2.0, 2.0], dtype=F64))
    pts = unproject(depth, K[None], torch.eye(4, dtype=F64)[None])
    torch.testing.assert_close(pts[0, 3], torch.tensor([1.0, 1.0, 2.0], dtype=F64))  # pixel (1, 1) centre (1.5, 1.5)
