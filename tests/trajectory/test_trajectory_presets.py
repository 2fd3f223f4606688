import math

import pytest
import torch

from realcam.trajectory import PRESETS, InterpolationSettings, make_preset, path_stats
from realcam.trajectory.presets import preset_names

F64 = torch.float64
REFERENCE_NAMES = {
    "zoom in",
    "zoom out",
    "pan left",
    "pan right",
    "pan up",
    "pan down",
    "look left",
    "look right",
    "look up",
    "look down",
    "rotate clockwise",
    "rotate anti-clockwise",
    "orbit left",
    "orbit right",
    "orbit up",
    "stationary",
}


def test_names_cover_the_contract():
    own = {
        "dolly-forward", "dolly-back", "truck-left", "truck-right", "pedestal-up", "pedestal-down", "pan-left",
        "pan-right", "tilt-up", "tilt-down", "roll-left", "roll-right", "orbit-left", "orbit-right", "zoom-in",
        "zoom-out", "dolly-zoom-in", "dolly-zoom-out", "static",
    }  # fmt: skip
    assert own <= set(PRESETS)
    assert set(preset_names(reference=True)) == REFERENCE_NAMES
    for spec in PRESETS.values():
        assert spec.description and all(p.unit for p in spec.parameters.values())


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_starts_at_identity_with_proper_rotations(name):
    sampled = make_preset(name).sample(16)
    torch.testing.assert_close(sampled.c2w[0], torch.eye(4, dtype=F64), atol=1e-12, rtol=0)
    R = sampled.c2w[:, :3, :3]
    torch.testing.assert_close(R.transpose(-1, -2) @ R, torch.eye(3, dtype=F64).expand_as(R), atol=1e-6, rtol=0)
    assert float((torch.linalg.det(R) - 1).abs().max()) < 1e-6


def test_dolly_forward_moves_exactly_the_distance():
    sampled = make_preset("dolly-forward", distance=1.0).sample(16)
    stats = path_stats(sampled, fps=8)
    assert round(stats.total_length_m, 3) == 1.000
    torch.testing.assert_close(sampled.c2w[-1, :3, 3], torch.tensor([0, 0, 1.0], dtype=F64), atol=1e-12, rtol=0)
    assert stats.max_speed_mps == pytest.approx(8 / 15, rel=1e-9)  # 1 m over 15 steps at 8 fps
    assert stats.max_angular_speed_dps == 0


@pytest.mark.parametrize(("name", "end"), [("truck-left", (-2.5, 0, 0)), ("pedestal-up", (0, -2.5, 0))])
def test_translations_signs(name, end):
    sampled = make_preset(name, distance=2.5).sample(16)
    torch.testing.assert_close(sampled.c2w[-1, :3, 3], torch.tensor(end, dtype=F64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", ["orbit-left", "orbit-right", "orbit-up", "orbit-down"])
def test_orbit_keeps_the_radius_at_every_frame(name):
    sampled = make_preset(name, angle=90, radius=2.0).sample(16)
    pivot = torch.tensor([0, 0, 2.0], dtype=F64)
    distance = (sampled.c2w[:, :3, 3] - pivot).norm(dim=-1)
    assert float((distance - 2.0).abs().max()) < 1e-6
    # It looks at the pivot and turns by 90°.
    torch.testing.assert_close((pivot - sampled.c2w[:, :3, 3]) / 2.0, sampled.c2w[:, :3, 2], atol=1e-9, rtol=0)
    assert path_stats(sampled, 8).total_rotation_deg == pytest.approx(90.0, abs=1e-6)


def test_orbit_left_matches_reference_endpoint():
    # Spec §8.4: the reference's "orbit left" ends at (−3, 0, 3), looking toward +x at the pivot (0, 0, 3).
    sampled = make_preset("orbit left").sample(16)
    torch.testing.assert_close(sampled.c2w[-1, :3, 3], torch.tensor([-3.0, 0, 3], dtype=F64), atol=1e-9, rtol=0)
    torch.testing.assert_close(sampled.c2w[-1, :3, 2], torch.tensor([1.0, 0, 0], dtype=F64), atol=1e-9, rtol=0)
    sampled = make_preset("orbit right").sample(16)
    torch.testing.assert_close(sampled.c2w[-1, :3, 3], torch.tensor([3.0, 0, 3], dtype=F64), atol=1e-9, rtol=0)


@pytest.mark.parametrize(
    ("name", "forward"),
    [("look left", (-1, 0, 0)), ("look right", (1, 0, 0)), ("look up", (0, -1, 0)), ("look down", (0, 1, 0))],
)
def test_reference_look_presets(name, forward):
    sampled = make_preset(name).sample(16)
    torch.testing.assert_close(sampled.c2w[-1, :3, 2], torch.tensor(forward, dtype=F64), atol=1e-9, rtol=0)
    assert float(sampled.c2w[:, :3, 3].abs().max()) == 0
    # No 180° flip at the end (the reference's corrupt last row of look up/down): steps are all equal.
    stats = path_stats(sampled, 8)
    assert stats.max_angular_speed_dps == pytest.approx(90 / 15 * 8, rel=1e-6)


def test_reference_pan_is_symmetric_and_rotate_is_roll():
    left = make_preset("pan left").sample(16)
    right = make_preset("pan right").sample(16)
    torch.testing.assert_close(left.c2w[-1, :3, 3], -right.c2w[-1, :3, 3])
    cw = make_preset("rotate clockwise").sample(16)
    # Roll about the optical axis: forward unchanged, the camera's up (−y) turns toward +x.
    torch.testing.assert_close(cw.c2w[-1, :3, 2], torch.tensor([0, 0, 1.0], dtype=F64), atol=1e-9, rtol=0)
    torch.testing.assert_close(-cw.c2w[-1, :3, 1], torch.tensor([1.0, 0, 0], dtype=F64), atol=1e-9, rtol=0)


def test_pan_and_tilt_signs():
    pan = make_preset("pan-left", angle=30).sample(16)
    torch.testing.assert_close(
        pan.c2w[-1, :3, 2], torch.tensor([-0.5, 0, math.sqrt(3) / 2], dtype=F64), atol=1e-12, rtol=0
    )
    tilt = make_preset("tilt-up", angle=30).sample(16)
    assert float(tilt.c2w[-1, 1, 2]) == pytest.approx(-0.5)


def test_zoom_and_dolly_zoom():
    zoom = make_preset("zoom-in", zoom=2.0, fov_deg=60.0).sample(16)
    assert float(zoom.fov_deg[0]) == pytest.approx(60.0)
    end = 2 * math.degrees(math.atan(math.tan(math.radians(30)) / 2))
    assert float(zoom.fov_deg[-1]) == pytest.approx(end)
    K = zoom.K_for(256, 256)
    assert float(K[-1, 0, 0] / K[0, 0, 0]) == pytest.approx(2.0)
    dz = make_preset("dolly-zoom-in", distance=1.0, radius=2.0, fov_deg=50.0)
    sampled = dz.sample(16)
    # At every keyframe the subject plane 2 m ahead keeps its size: tan(fov/2)·(2 − z) is constant.
    for key in dz.keyframes:
        z = float(key.c2w[2, 3])
        assert math.tan(math.radians(key.fov_deg) / 2) * (2 - z) == pytest.approx(math.tan(math.radians(25)) * 2)
    assert float(sampled.c2w[-1, 2, 3]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="before the subject"):
        make_preset("dolly-zoom-in", distance=3.0, radius=2.0)


def test_parameter_errors():
    with pytest.raises(ValueError, match="does not take distance"):
        make_preset("pan-left", distance=1.0)
    with pytest.raises(ValueError, match="unknown name"):
        make_preset("fly-through")
    with pytest.raises(ValueError, match="radius"):
        make_preset("orbit-left", radius=0.0)
    with pytest.raises(ValueError, match="num_keyframes"):
        make_preset("dolly-forward", num_keyframes=1)


def test_presets_expand_into_editable_keyframes():
    trajectory = make_preset("orbit-right", angle=60, num_keyframes=7)
    assert len(trajectory.keyframes) == 7
    assert trajectory.settings.pivot == (0.0, 0.0, 2.0)
    static = make_preset("static")
    assert len(static.keyframes) == 1
    assert path_stats(static.sample(16), 8).warnings == ("the camera does not move",)


@pytest.mark.parametrize("name,start,end", [("zoom-in", 70.0, 30.0), ("zoom-out", None, 90.0), ("zoom-in", 120, 1.5)])
@pytest.mark.parametrize("timing", ["arc", "keys"])
def test_zoom_to_a_target_fov(name, start, end, timing):
    trajectory = make_preset(name, fov_deg=start, fov_end_deg=end, settings=InterpolationSettings(timing=timing))
    fov = trajectory.sample(16).fov_deg
    assert float(fov[0]) == pytest.approx(start if start is not None else 60.0, abs=1e-9)
    assert float(fov[-1]) == pytest.approx(end, abs=1e-9)
    assert bool(((fov[1:] - fov[:-1]) * (1 if end > fov[0] else -1) > 0).all())  # monotonic
    # The same path as the focal-length factor it implies.
    start = start if start is not None else 60.0
    factor = math.tan(math.radians(start) / 2) / math.tan(math.radians(end) / 2)
    zoom = factor if name == "zoom-in" else 1 / factor
    same = make_preset(name, fov_deg=start, zoom=zoom, settings=InterpolationSettings(timing=timing))
    torch.testing.assert_close(same.sample(16).fov_deg, fov, atol=1e-9, rtol=0)


def test_zoom_target_fov_errors():
    with pytest.raises(ValueError, match="not both"):
        make_preset("zoom-in", zoom=2.0, fov_end_deg=30.0)
    for bad in (0.0, 180.0, -5.0, float("nan")):
        with pytest.raises(ValueError, match=r"fov_end_deg: expected a vertical FOV in \(0, 180\)"):
            make_preset("zoom-out", fov_end_deg=bad)
    with pytest.raises(ValueError, match="narrower than the start 60°, got 80°"):
        make_preset("zoom-in", fov_end_deg=80.0)
    with pytest.raises(ValueError, match="wider than the start 50°"):
        make_preset("zoom-out", fov_deg=50.0, fov_end_deg=40.0)
    with pytest.raises(ValueError, match="does not take fov_end_deg"):
        make_preset("dolly-forward", fov_end_deg=40.0)
