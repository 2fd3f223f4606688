import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from realcam.geometry.se3 import quat_wxyz_to_matrix, rotation_angle_deg, so3_exp
from realcam.trajectory import InterpolationSettings, Keyframe, Trajectory
from realcam.trajectory.interpolate import spline_parameters

F64 = torch.float64
coord = st.floats(-3, 3, allow_nan=False)
quat = st.tuples(coord, coord, coord, coord).filter(lambda q: sum(x * x for x in q) > 1e-2)
keyframe_data = st.lists(st.tuples(quat, st.tuples(coord, coord, coord)), min_size=2, max_size=6)
settings_strategy = st.builds(
    InterpolationSettings,
    tension=st.floats(-0.5, 1.0),
    closed=st.booleans(),
    timing=st.sampled_from(["arc", "keys"]),
    ease=st.sampled_from(["none", "in", "out", "in-out"]),
)


def _keyframe(q, t, **kw) -> Keyframe:
    c2w = torch.eye(4, dtype=F64)
    c2w[:3, :3] = quat_wxyz_to_matrix(torch.tensor(q, dtype=F64))
    c2w[:3, 3] = torch.tensor(t, dtype=F64)
    return Keyframe(c2w, **kw)


@settings(max_examples=30, deadline=None)
@given(keyframe_data, settings_strategy, st.integers(1, 24))
def test_sampled_rotations_are_orthonormal_and_parameters_monotonic(data, interp, num_frames):
    trajectory = Trajectory(tuple(_keyframe(q, t) for q, t in data), interp)
    sampled = trajectory.sample(num_frames)
    assert sampled.c2w.shape == (num_frames, 4, 4) and sampled.c2w.dtype == F64
    R = sampled.c2w[:, :3, :3]
    torch.testing.assert_close(R.transpose(-1, -2) @ R, torch.eye(3, dtype=F64).expand_as(R), atol=1e-6, rtol=0)
    assert (torch.linalg.det(R) - 1).abs().max() < 1e-6
    torch.testing.assert_close(sampled.c2w[:, 3], torch.tensor([0, 0, 0, 1.0], dtype=F64).expand(num_frames, 4))
    u = spline_parameters(trajectory, num_frames)
    assert (u[1:] - u[:-1] >= -1e-12).all()
    if not interp.closed and num_frames > 1:
        # Open paths start on the first keyframe and end on the last.
        torch.testing.assert_close(sampled.c2w[0], trajectory.keyframes[0].c2w, atol=1e-9, rtol=0)
        torch.testing.assert_close(sampled.c2w[-1], trajectory.keyframes[-1].c2w, atol=1e-9, rtol=0)


@settings(max_examples=30, deadline=None)
@given(keyframe_data, st.floats(-0.5, 1.0), st.booleans())
def test_spline_passes_through_keyframes(data, tension, closed):
    keys = tuple(_keyframe(q, t) for q, t in data)
    trajectory = Trajectory(keys, InterpolationSettings(tension=tension, closed=closed, timing="keys"))
    n = len(keys)
    # Uniform key times: with n frames (open) or n frames over the loop (closed), frame i sits on keyframe i.
    sampled = trajectory.sample(n)
    for i, key in enumerate(keys):
        torch.testing.assert_close(sampled.c2w[i], key.c2w, atol=1e-9, rtol=0)


def test_keyframe_times_control_timing():
    keys = tuple(_keyframe((1, 0, 0, 0), (0, 0, z), time=t) for z, t in ((0, 0.0), (1, 1.0), (2, 3.0)))
    trajectory = Trajectory(keys, InterpolationSettings(timing="keys"))
    sampled = trajectory.sample(4)  # times 0, 1, 2, 3
    torch.testing.assert_close(sampled.c2w[1, :3, 3], keys[1].c2w[:3, 3], atol=1e-12, rtol=0)
    torch.testing.assert_close(sampled.c2w[3, :3, 3], keys[2].c2w[:3, 3], atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="increase"):
        Trajectory(tuple(reversed(keys)), InterpolationSettings(timing="keys"))


def test_arc_timing_gives_constant_speed_over_uneven_legs():
    # Legs of 0.2 m and 3 m: keyframe timing would change speed 15-fold; arc timing keeps it constant.
    points = [(0, 0, 0), (0.2, 0, 0), (3.2, 0, 0)]
    keys = tuple(_keyframe((1, 0, 0, 0), p) for p in points)
    arc = Trajectory(keys, InterpolationSettings(timing="arc")).sample(16)
    steps = arc.c2w[1:, :3, 3].sub(arc.c2w[:-1, :3, 3]).norm(dim=-1)
    assert float(steps.max() / steps.min()) < 1.01
    assert float(steps.sum()) == pytest.approx(3.2, abs=1e-6)
    keyed = Trajectory(keys, InterpolationSettings(timing="keys")).sample(16)
    key_steps = keyed.c2w[1:, :3, 3].sub(keyed.c2w[:-1, :3, 3]).norm(dim=-1)
    assert float(key_steps.max() / key_steps.min()) > 5


def test_rotation_only_path_has_constant_angular_speed():
    keys = tuple(Keyframe(_pose_from_rotvec((0, a, 0))) for a in (0.0, 0.1, 1.2))
    sampled = Trajectory(keys).sample(16)
    angles = rotation_angle_deg(sampled.c2w[:-1, :3, :3].transpose(-1, -2) @ sampled.c2w[1:, :3, :3])
    assert float(angles.max() / angles.min()) < 1.01


def _pose_from_rotvec(rotvec, t=(0.0, 0.0, 0.0)):
    c2w = torch.eye(4, dtype=F64)
    c2w[:3, :3] = so3_exp(torch.tensor(rotvec, dtype=F64))
    c2w[:3, 3] = torch.tensor(t, dtype=F64)
    return c2w


def test_closed_loop_has_no_pinch():
    # A square loop of 4 keys: the step across the seam (last frame -> first frame) matches the others.
    corners = [(1, 0, 0), (0, 0, 1), (-1, 0, 0), (0, 0, -1)]
    keys = tuple(_keyframe((1, 0, 0, 0), c) for c in corners)
    sampled = Trajectory(keys, InterpolationSettings(closed=True)).sample(16)
    positions = sampled.c2w[:, :3, 3]
    loop = torch.cat([positions, positions[:1]])
    steps = (loop[1:] - loop[:-1]).norm(dim=-1)
    assert float(steps.max() / steps.min()) < 1.02
    # Catmull-Rom through four points on the unit circle stays close to it (no cusp at the seam).
    assert float((positions.norm(dim=-1) - 1).abs().max()) < 0.15


def test_ease_in_out_slows_the_ends():
    keys = (Keyframe(torch.eye(4, dtype=F64)), Keyframe(_pose_from_rotvec((0, 0, 0), (0, 0, 1.0))))
    sampled = Trajectory(keys, InterpolationSettings(ease="in-out")).sample(16)
    steps = sampled.c2w[1:, 2, 3] - sampled.c2w[:-1, 2, 3]
    assert (steps > 0).all()
    assert float(steps[0]) < float(steps[7]) / 5 and float(steps[-1]) < float(steps[7]) / 5
    assert float(sampled.c2w[-1, 2, 3]) == pytest.approx(1.0)


def test_pivot_mode_keeps_orbit_radius():
    pivot = torch.tensor([0.5, -0.2, 3.0], dtype=F64)
    keys = []
    for angle in (0.0, 0.4, 0.7, 1.4):
        R = so3_exp(torch.tensor([0.2, 1.0, 0.1], dtype=F64) * angle)
        keys.append(Keyframe(_pose(R, pivot + R @ torch.tensor([0.0, 0.0, -2.5], dtype=F64))))
    sampled = Trajectory(tuple(keys), InterpolationSettings(pivot=tuple(pivot.tolist()))).sample(16)
    radius = (sampled.c2w[:, :3, 3] - pivot).norm(dim=-1)
    assert float((radius - 2.5).abs().max()) < 1e-9
    # And the camera keeps looking at the pivot.
    to_pivot = (pivot - sampled.c2w[:, :3, 3]) / radius[:, None]
    torch.testing.assert_close(to_pivot, sampled.c2w[:, :3, 2], atol=1e-9, rtol=0)


def _pose(R, t):
    c2w = torch.eye(4, dtype=F64)
    c2w[:3, :3] = R
    c2w[:3, 3] = t
    return c2w


def test_fov_interpolation_and_K_for():
    keys = (Keyframe(torch.eye(4, dtype=F64), fov_deg=60.0), Keyframe(torch.eye(4, dtype=F64), fov_deg=30.0))
    sampled = Trajectory(keys).sample(16)
    assert sampled.fov_deg is not None
    assert float(sampled.fov_deg[0]) == pytest.approx(60.0) and float(sampled.fov_deg[-1]) == pytest.approx(30.0)
    assert (sampled.fov_deg[1:] < sampled.fov_deg[:-1]).all()  # zoom-only path spreads over the frames
    K = sampled.K_for(320, 512)
    assert K.shape == (16, 3, 3)
    assert float(K[0, 1, 1]) == pytest.approx(160 / math.tan(math.radians(30)))
    assert float(K[0, 0, 2]) == 256 and float(K[0, 1, 2]) == 160


def test_single_keyframe_and_validation():
    sampled = Trajectory((Keyframe(torch.eye(4, dtype=F64)),)).sample(16)
    torch.testing.assert_close(sampled.c2w, torch.eye(4, dtype=F64).expand(16, 4, 4))
    with pytest.raises(ValueError, match="num_frames"):
        Trajectory((Keyframe(torch.eye(4, dtype=F64)),)).sample(0)
    with pytest.raises(ValueError, match="at least one"):
        Trajectory(())
    with pytest.raises(ValueError, match="improper"):
        Keyframe(torch.diag(torch.tensor([1.0, -1.0, 1.0, 1.0])))
    with pytest.raises(ValueError, match="tension"):
        InterpolationSettings(tension=2.0)


def test_intrinsics_follow_resize_and_crop():
    from realcam.trajectory import Intrinsics, SampledTrajectory

    K = torch.tensor([[960.0, 0, 960], [0, 960.0, 540], [0, 0, 1]], dtype=F64)
    intrinsics = Intrinsics(K, 1920, 1080)
    # Same aspect: a pure scale.
    torch.testing.assert_close(
        intrinsics.K_for(540, 960), torch.tensor([[480.0, 0, 480], [0, 480, 270], [0, 0, 1]], dtype=F64)
    )
    # Square crop of the 16:9 frame: height matches (256), width 455 is cropped by 99 px on the left.
    K_sq = intrinsics.K_for(256, 256)
    # Per-axis ratios of the actual resize (455/1920 across, 256/1080 down), as the pixels themselves scale.
    torch.testing.assert_close(K_sq[0, 0], torch.tensor(960 * 455 / 1920, dtype=F64))
    torch.testing.assert_close(K_sq[1, 1], torch.tensor(960 * 256 / 1080, dtype=F64))
    torch.testing.assert_close(K_sq[0, 2], torch.tensor(960 * (455 / 1920) - 99, dtype=F64))
    sampled = SampledTrajectory(torch.eye(4, dtype=F64).expand(3, 4, 4), None, intrinsics)
    torch.testing.assert_close(sampled.K_for(256, 256), K_sq.expand(3, 3, 3))
    assert intrinsics.fov_deg == pytest.approx(2 * math.degrees(math.atan(540 / 960)))


def test_arc_timing_is_metric_when_the_camera_translates_and_turns():
    # 1 m straight, then 1 m while turning 90°: the old rule (1 rad = 1 m everywhere) gave the second metre 2.57×
    # the frames; metric timing gives every frame the same step.
    keys = (
        Keyframe(_pose_from_rotvec((0, 0, 0))),
        Keyframe(_pose_from_rotvec((0, 0, 0), (0.0, 0.0, 1.0))),
        Keyframe(_pose_from_rotvec((0, math.pi / 2, 0), (0.0, 0.0, 2.0))),
    )
    sampled = Trajectory(keys).sample(16)
    steps = sampled.c2w[1:, :3, 3].sub(sampled.c2w[:-1, :3, 3]).norm(dim=-1)
    assert float(steps.max() / steps.min()) < 1.02
    assert float(steps.sum()) == pytest.approx(2.0, abs=1e-6)
    torch.testing.assert_close(sampled.c2w[-1], keys[-1].c2w, atol=1e-12, rtol=0)


def test_arc_timing_gives_a_pan_leg_inside_a_moving_path_its_time():
    # 1 m dolly, then a 90° pan in place (1 rad counts as 1 m): the pan gets 1.571/2.571 of the playback, at
    # constant angular speed, and the dolly keeps constant metric speed.
    keys = (
        Keyframe(_pose_from_rotvec((0, 0, 0))),
        Keyframe(_pose_from_rotvec((0, 0, 0), (0.0, 0.0, 1.0))),
        Keyframe(_pose_from_rotvec((0, math.pi / 2, 0), (0.0, 0.0, 1.0))),
    )
    trajectory = Trajectory(keys)
    u = spline_parameters(trajectory, 1001)
    fraction_on_pan = float((u > 1).double().mean())
    assert fraction_on_pan == pytest.approx((math.pi / 2) / (1 + math.pi / 2), abs=2e-3)
    sampled = trajectory.sample(31)
    u_frames = spline_parameters(trajectory, 31)
    angles = rotation_angle_deg(sampled.c2w[:-1, :3, :3].transpose(-1, -2) @ sampled.c2w[1:, :3, :3])
    on_pan = u_frames[:-1] >= 1  # steps that start on the pan leg
    assert int(on_pan.sum()) >= 15 and float(angles[on_pan].max() / angles[on_pan].min()) < 1.01
