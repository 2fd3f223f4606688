import math

import pytest
import torch

from realcam.geometry.se3 import so3_exp
from realcam.trajectory import InterpolationSettings, Keyframe, SampledTrajectory, Trajectory, path_stats
from realcam.trajectory.metrics import keyframe_segment_lengths, keyframe_segment_stats

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


def test_keyframe_segment_stats_follow_keyframe_times():
    # Keys 1 m apart, at 0 s, 1 s and 3 s, turning 0°, 0°, 40° about y: played as 9 frames at 4 fps (2 s), the
    # first segment takes 1/3 of the playback and the second 2/3.
    keys = []
    for z, t, deg in ((0.0, 0.0, 0.0), (1.0, 1.0, 0.0), (2.0, 3.0, 40.0)):
        c2w = torch.eye(4, dtype=F64)
        c2w[:3, :3] = so3_exp(torch.tensor([0.0, math.radians(deg), 0.0], dtype=F64))
        c2w[2, 3] = z
        keys.append(Keyframe(c2w, None, t))
    trajectory = Trajectory(tuple(keys), InterpolationSettings(timing="keys"))
    first, second = keyframe_segment_stats(trajectory, num_frames=9, fps=4)
    assert (first.start, first.end, second.start, second.end) == (0, 1, 1, 2)
    assert first.duration_s == pytest.approx(2 / 3) and second.duration_s == pytest.approx(4 / 3)
    assert second.start_s == pytest.approx(2 / 3)
    assert first.rotation_deg == pytest.approx(0.0, abs=1e-9) and second.rotation_deg == pytest.approx(40.0)
    assert first.speed_mps == pytest.approx(first.length_m * 1.5)
    assert second.angular_speed_dps == pytest.approx(30.0)
    lengths = keyframe_segment_lengths(trajectory)
    assert [first.length_m, second.length_m] == pytest.approx(lengths.tolist())
    loop = keyframe_segment_stats(Trajectory(tuple(keys), InterpolationSettings(closed=True)), 8, 4)
    assert len(loop) == 3 and loop[2].end == 0
    assert sum(s.duration_s for s in loop) == pytest.approx(2.0)  # a loop of 8 frames at 4 fps lasts 2 s
    single = keyframe_segment_stats(trajectory, num_frames=1, fps=4)
    assert all(s.duration_s == 0 and s.speed_mps is None for s in single)
