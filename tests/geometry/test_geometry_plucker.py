import math

import torch

from realcam.geometry.plucker import plucker_embedding
from realcam.geometry.se3 import so3_exp


def _slow_plucker(c2w, K, height, width):
    """Obvious twin: one pixel at a time, in float64."""
    b, f = c2w.shape[:2]
    out = torch.zeros(b, 6, f, height, width, dtype=torch.float64)
    for bi in range(b):
        for fi in range(f):
            R, t = c2w[bi, fi, :3, :3].double(), c2w[bi, fi, :3, 3].double()
            k = K[bi, fi].double()
            for j in range(height):
                for i in range(width):
                    d = torch.tensor([(i + 0.5 - k[0, 2]) / k[0, 0], (j + 0.5 - k[1, 2]) / k[1, 1], 1.0])
                    d = R @ (d / d.norm())
                    out[bi, :3, fi, j, i] = torch.linalg.cross(t, d)
                    out[bi, 3:, fi, j, i] = d
    return out


def test_plucker_hand_computed():
    # Camera at (1, 0, 0) looking down +z, fx = fy = 2, principal point (1, 1), 2×2 image.
    c2w = torch.eye(4)
    c2w[0, 3] = 1.0
    K = torch.tensor([[2.0, 0.0, 1.0], [0.0, 2.0, 1.0], [0.0, 0.0, 1.0]])
    out = plucker_embedding(c2w[None, None], K[None, None], 2, 2)
    assert out.shape == (1, 6, 1, 2, 2) and out.dtype == torch.float32
    # Pixel (column 1, row 0): centre (1.5, 0.5) -> ((0.5)/2, (−0.5)/2, 1) = (0.25, −0.25, 1), |.| = √1.125.
    n = math.sqrt(1.125)
    d = torch.tensor([0.25, -0.25, 1.0]) / n
    # o × d with o = (1, 0, 0): (0·d_z − 0·d_y, 0·d_x − 1·d_z, 1·d_y − 0·d_x) = (0, −d_z, d_y).
    moment = torch.tensor([0.0, -1.0, -0.25]) / n
    torch.testing.assert_close(out[0, 3:, 0, 0, 1], d)
    torch.testing.assert_close(out[0, :3, 0, 0, 1], moment)
    # Pixel (column 0, row 1): direction (−0.25, 0.25, 1)/n.
    torch.testing.assert_close(out[0, 3:, 0, 1, 0], torch.tensor([-0.25, 0.25, 1.0]) / n)


def test_plucker_matches_slow_twin_and_is_unit():
    torch.manual_seed(0)
    c2w = torch.eye(4, dtype=torch.float64).repeat(2, 3, 1, 1)
    c2w[..., :3, :3] = so3_exp(torch.randn(2, 3, 3, dtype=torch.float64))
    c2w[..., :3, 3] = torch.randn(2, 3, 3, dtype=torch.float64)
    K = torch.tensor([[7.0, 0.0, 3.3], [0.0, 6.0, 2.1], [0.0, 0.0, 1.0]]).repeat(2, 3, 1, 1)
    out = plucker_embedding(c2w, K, 5, 7)
    assert out.shape == (2, 6, 3, 5, 7)
    torch.testing.assert_close(out.double(), _slow_plucker(c2w, K, 5, 7), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[:, 3:].norm(dim=1), torch.ones(2, 3, 5, 7), atol=1e-6, rtol=0)
    # The moment is orthogonal to the direction.
    assert (out[:, :3] * out[:, 3:]).sum(1).abs().max() < 1e-5
