import math

import pytest
import torch

from realcam.geometry.se3 import so3_exp
from realcam.trajectory import InterpolationSettings, Keyframe, SampledTrajectory, Trajectory, path_stats
from realcam.trajectory.metrics import keyframe_segment_lengths

F64 = torch.float64


def test_path_stats_by_hand():
    # Frames at z = 0, 1, 3 (steps 1 m and 2 m), rotating 0°, 10°, 30° about y; 4 fps.
    c2w = torch.eye(4, dtype=F64).repeat(3, 1, 1)
    c2w[:, 2, 3] = torch.tensor([0.0, 1.0, 3.0], dtype=F64)
    for i, deg in enumerate((0.0, 10.0, 30.0)):
        c2w[i, :3, :3] = so3_exp(torch.tensor([0.0, math.radians(deg), 0.0], dtype=F64))
    stats = path_stats(SampledTrajectory(c2w), fps=4)
    assert stats.segment_lengths_m == pytest.approx((1.0, 2.0))
    assert stats.total_length_m == pytest.approx(3.0)
    assert stats.duration_s == pytest.approx(0.5)
    assert stats.max_speed_mps == pytest.approx(8.0)
    assert stats.mean_speed_mps == pytest.approx(6.0)
    assert stats.max_angular_speed_dps == pytest.approx(80.0)
    assert stats.mean_angular_speed_dps == pytest.approx(60.0)
    assert stats.total_rotation_deg == pytest.approx(30.0)
    assert any("fast rotation" in w for w in stats.warnings)
    assert any("3 frames" in w for w in stats.warnings)
    with pytest.raises(ValueError, match="fps"):
        path_stats(SampledTrajectory(c2w), fps=0)


def test_keyframe_segment_lengths():
    keys = []
    for z in (0.0, 0.5, 2.0):
        c2w = torch.eye(4, dtype=F64)
        c2w[2, 3] = z
        keys.append(Keyframe(c2w))
    lengths = keyframe_segment_lengths(Trajectory(tuple(keys)))
    torch.testing.assert_close(lengths, torch.tensor([0.5, 1.5], dtype=F64), atol=1e-9, rtol=0)
    loop = keyframe_segment_lengths(Trajectory(tuple(keys), InterpolationSettings(closed=True)))
    assert loop.shape == (3,) and float(loop[2]) >= 2.0 - 1e-9
