"""pycolmap pose estimation on a ray-cast textured room with known metric poses (real SfM, no mocks)."""

import numpy as np
import pytest
import synthetic_room

from realcam.eval.metrics import depth_scale_factor, pose_errors, scale_translations
from realcam.eval.sfm import ComponentInfo, choose_component, estimate_poses

H = W = 256


@pytest.fixture(scope="module")
def room_video():
    K = synthetic_room.intrinsics(H, W)
    c2w = synthetic_room.arc_trajectory()
    frames, depth = synthetic_room.Room(0).render(c2w, K, H, W)
    return frames, depth, K, c2w


def test_choose_component_prefers_frame0_then_most_frames():
    components = [ComponentInfo(False, 12, 900), ComponentInfo(True, 9, 300), ComponentInfo(True, 11, 100)]
    assert choose_component(components) == 2
    assert choose_component([ComponentInfo(True, 11, 100), ComponentInfo(True, 11, 200)]) == 1
    assert choose_component([ComponentInfo(False, 16, 1000)]) == -1
    assert choose_component([]) == -1


def test_room_reconstruction_matches_ground_truth(room_video):
    frames, depth, K, c2w = room_video
    result = estimate_poses(frames, K, seed=0)
    assert result.failure_reason() is None, result.failure_reason()
    assert result.registered.all() and result.num_points > 100
    rel = pose_errors(c2w, result.c2w, metric=False)
    # Measured: RotErr ~0.07 rad summed over 16 frames (~0.25° per frame), TransErr_rel ~0.3.
    assert rel.rot_err.sum() < 0.2
    assert rel.trans_err.sum() < 0.8
    # Metric factor from the exact depth of frame 0 brings SfM units to metres.
    alpha = depth_scale_factor(depth[0], result.frame0_xy, result.frame0_z, (H, W))
    metric = pose_errors(c2w, scale_translations(result.c2w, alpha), metric=True)
    assert metric.trans_err.sum() < 0.8
    extent = np.linalg.norm((np.linalg.inv(c2w[0]) @ c2w[-1])[:3, 3])
    assert metric.est_extent == pytest.approx(extent, rel=0.05)  # metres


def test_blank_video_is_a_failure_not_an_exception():
    frames = np.full((16, 128, 128, 3), 127, dtype=np.uint8)
    result = estimate_poses(frames, synthetic_room.intrinsics(128, 128), seed=0)
    assert result.failure_reason() == "no reconstruction"
    assert not result.registered.any() and np.isnan(result.c2w).all()


def test_input_checks():
    K = synthetic_room.intrinsics(64, 64)
    with pytest.raises(ValueError, match="uint8"):
        estimate_poses(np.zeros((16, 64, 64, 3), dtype=np.float32), K, seed=0)
    with pytest.raises(ValueError, match="pixels"):
        estimate_poses(np.zeros((16, 64, 64, 3), dtype=np.uint8), K / 100, seed=0)
