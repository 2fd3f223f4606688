"""Preview, coverage and warnings of the editor on a synthetic metric scene (a textured wall 2 m in front)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from realcam.editor.feedback import camera_behind_surface, preview_size, render_path_preview, scene_from_image
from realcam.editor.state import WarningThresholds, make_c2w, rotation_from_pan_tilt_roll
from realcam.trajectory.keyframes import Intrinsics, SampledTrajectory

H, W = 96, 128


@pytest.fixture(scope="module")
def wall():
    generator = torch.Generator().manual_seed(0)
    image = (torch.rand(H, W, 3, generator=generator) * 200 + 40).to(torch.uint8).numpy()
    depth = torch.full((H, W), 2.0)
    K = torch.tensor([[80.0, 0.0, W / 2], [0.0, 80.0, H / 2], [0.0, 0.0, 1.0]], dtype=torch.float64)
    return scene_from_image(image, depth, K, name="wall")


def frames(scene, *specs):
    """(z, pan) pairs -> sampled frames on the optical axis with the input camera's intrinsics."""
    c2w = torch.stack([make_c2w(rotation_from_pan_tilt_roll(pan, 0.0, 0.0), (0.0, 0.0, z)) for z, pan in specs])
    return SampledTrajectory(c2w, None, Intrinsics(scene.K, scene.width, scene.height))


def test_scene_lift_and_sizes(wall):
    assert 0.95 * H * W < len(wall.cloud) <= H * W  # the lift's outlier filter may drop a few border pixels
    assert wall.median_depth() == pytest.approx(2.0)
    assert wall.fov_y_deg == pytest.approx(2 * np.degrees(np.arctan(H / 2 / 80.0)))
    assert preview_size(wall) == (96, 128)  # never upscaled
    assert preview_size(wall, max_side=64) == (48, 64)
    with pytest.raises(ValueError, match="match"):
        scene_from_image(np.zeros((4, 4, 3), np.uint8), torch.ones(5, 5), torch.eye(3))


def test_input_view_is_fully_covered_without_warnings(wall):
    preview = render_path_preview(wall, frames(wall, (0.0, 0.0)))
    assert preview.rgb.shape == (1, H, W, 3) and preview.mask.shape == (1, H // 8, W // 8)
    assert float(preview.coverage[0]) > 0.8  # the outlier filter thins the border; the erosion then drops it
    assert preview.warnings == ()


def test_warnings_behind_too_close_and_low_coverage(wall):
    sampled = frames(wall, (0.0, 0.0), (1.9, 0.0), (3.0, 0.0), (0.0, 180.0))
    preview = render_path_preview(wall, sampled, WarningThresholds(near_m=0.3))
    kinds = {(w.frame, w.kind) for w in preview.warnings}
    assert (1, "too_close") in kinds
    assert (2, "behind") in kinds
    assert (3, "low_coverage") in kinds  # looking away from the wall: nothing to constrain
    assert not any(frame == 0 for frame, _ in kinds)
    assert float(preview.coverage[3]) == 0.0


def test_camera_behind_surface_only_inside_the_photo(wall):
    assert camera_behind_surface(wall, torch.tensor([0.0, 0.0, 2.5]))
    assert not camera_behind_surface(wall, torch.tensor([0.0, 0.0, 1.5]))
    assert not camera_behind_surface(wall, torch.tensor([50.0, 0.0, 2.5]))  # outside the input view
    assert not camera_behind_surface(wall, torch.tensor([0.0, 0.0, -1.0]))
