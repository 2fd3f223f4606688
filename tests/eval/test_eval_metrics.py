"""Hand-computed cases for the camera metrics (spec §1.2-§1.5), and a per-frame loop twin of the formulas."""

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from realcam.eval.metrics import (
    camera_condition_check,
    depth_scale_factor,
    metric_translation_error_m,
    pose_errors,
    relative_to_first,
    scale_translations,
)

F = 16


def _poses(rotvecs: np.ndarray, translations: np.ndarray) -> np.ndarray:
    c2w = np.tile(np.eye(4), (len(rotvecs), 1, 1))
    c2w[:, :3, :3] = Rotation.from_rotvec(rotvecs).as_matrix()
    c2w[:, :3, 3] = translations
    return c2w


def _line(direction, length=1.0) -> np.ndarray:
    s = np.linspace(0, 1, F)[:, None]
    return _poses(np.zeros((F, 3)), s * length * np.asarray(direction, dtype=float))


def _random_se3(rng) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.random(random_state=int(rng.integers(1 << 30))).as_matrix()
    T[:3, 3] = rng.normal(size=3)
    return T


def _reference_twin(A: np.ndarray, B: np.ndarray, metric: bool) -> dict[str, float]:
    """The reference's formulas, frame by frame, with its `+ 1e-9` (spec §1.2-§1.3)."""
    A = [np.linalg.inv(A[0]) @ a for a in A]
    B = [np.linalg.inv(B[0]) @ b for b in B]
    s_a = max(np.linalg.norm(a[:3, 3]) for a in A) + 1e-9
    s_b = s_a if metric else max(np.linalg.norm(b[:3, 3]) for b in B) + 1e-9
    rot = trans = cammc = 0.0
    for a, b in zip(A, B):
        cos = (np.trace(a[:3, :3].T @ b[:3, :3]) - 1) / 2
        rot += math.acos(min(1.0, max(-1.0, cos)))
        ta, tb = a[:3, 3] / s_a, b[:3, 3] / s_b
        trans += np.linalg.norm(tb - ta)
        cammc += np.linalg.norm(np.hstack([b[:3, :3], tb[:, None]]) - np.hstack([a[:3, :3], ta[:, None]]))
    return {"rot_err": rot, "trans_err": trans, "cammc": cammc}


def test_identity_gives_zero():
    gt = _line([0.3, 0.1, 1.0], 2.0)
    for metric in (False, True):
        e = pose_errors(gt, gt, metric=metric)
        assert e.rot_err.sum() == pytest.approx(0, abs=1e-7)
        assert e.trans_err.sum() == pytest.approx(0, abs=1e-12)
        assert e.cammc.sum() == pytest.approx(0, abs=1e-7)


def test_frame0_canonicalisation_removes_world_frame_and_scale():
    rng = np.random.default_rng(0)
    gt = _poses(rng.normal(size=(F, 3)) * 0.2, rng.normal(size=(F, 3)))
    # The same trajectory in another world frame and at 7x scale (what SfM returns).
    other = _random_se3(rng) @ scale_translations(gt, 7.0)
    e = pose_errors(gt, other, metric=False)
    assert e.rot_err.sum() == pytest.approx(0, abs=1e-6)
    assert e.trans_err.sum() == pytest.approx(0, abs=1e-7)
    assert relative_to_first(other)[0] == pytest.approx(np.eye(4))


def test_pure_rotation():
    angles = np.linspace(0, 0.3, F)
    gt = _line([1.0, 0.0, 0.0])
    est = gt.copy()
    est[:, :3, :3] = Rotation.from_rotvec(angles[:, None] * np.array([[0.0, 1.0, 0.0]])).as_matrix()
    e = pose_errors(gt, est, metric=False)
    assert e.rot_err == pytest.approx(angles, abs=1e-7)
    assert e.rot_err.sum() == pytest.approx(angles.sum(), abs=1e-6)
    assert e.trans_err.sum() == pytest.approx(0, abs=1e-12)
    # ||R(θ) - I||_F = 2√2 |sin(θ/2)| for a rotation by θ about any axis.
    assert e.cammc == pytest.approx(2 * math.sqrt(2) * np.sin(angles / 2), abs=1e-9)


def test_pure_translation_direction_error():
    gt, est = _line([1.0, 0.0, 0.0], 2.0), _line([0.0, 1.0, 0.0], 5.0)
    e = pose_errors(gt, est, metric=False)
    # Both normalised to unit extent: |t̂_i| = i/15 for each, orthogonal -> error √2 i/15; Σ_i i/15 = 8.
    assert e.trans_err == pytest.approx(math.sqrt(2) * np.arange(F) / (F - 1), abs=1e-9)
    assert e.trans_err.sum() == pytest.approx(8 * math.sqrt(2), abs=1e-8)
    assert e.summary("", "")["trans_err_mean"] == pytest.approx(8 * math.sqrt(2) / (F - 1))
    assert e.rot_err.sum() == 0


def test_scale_only_difference_hidden_by_rel_seen_by_abs():
    gt = _line([0.0, 0.0, 1.0], 2.0)
    est = scale_translations(gt, 3.0)
    rel, abs_ = pose_errors(gt, est, metric=False), pose_errors(gt, est, metric=True)
    assert rel.trans_err.sum() == pytest.approx(0, abs=1e-7)  # up to the reference's 1e-9 epsilon
    # Metric: both divided by the GT extent 2 m -> |t̂_B - t̂_A| = (3 - 1) i/15; Σ = 2 * 8.
    assert abs_.trans_err.sum() == pytest.approx(16.0, abs=1e-7)
    assert abs_.cammc.sum() == pytest.approx(16.0, abs=1e-7)
    assert metric_translation_error_m(gt, est) == pytest.approx(2.0 * 2.0 * 8, abs=1e-7)


def test_static_ground_truth_is_undefined_not_divided_by_zero():
    gt = np.tile(np.eye(4), (F, 1, 1))
    rng = np.random.default_rng(1)
    est = _poses(np.zeros((F, 3)), rng.normal(size=(F, 3)) * 1e-3)
    est[0] = np.eye(4)
    for metric in (False, True):
        e = pose_errors(gt, est, metric=metric)
        assert e.static_reference
        assert np.isnan(e.trans_err[1:]).all() and np.isnan(e.cammc[1:]).all()
        assert e.rot_err.sum() == pytest.approx(0, abs=1e-12)
    # What the reference would report: millimetre noise divided by 1e-9 -> ~1e6 per frame.
    assert _reference_twin(gt, est, metric=True)["trans_err"] > 1e6
    assert metric_translation_error_m(gt, est) == pytest.approx(np.linalg.norm(est[:, :3, 3], axis=1).sum())


@pytest.mark.parametrize("metric", [False, True])
def test_matches_per_frame_reference_twin(metric):
    rng = np.random.default_rng(2 + metric)
    for _ in range(5):
        gt = _random_se3(rng) @ _poses(rng.normal(size=(F, 3)) * 0.3, rng.normal(size=(F, 3)))
        est = _random_se3(rng) @ _poses(rng.normal(size=(F, 3)) * 0.3, rng.normal(size=(F, 3)) * 2)
        if metric:  # metric comparison needs a shared world scale; only the frame-0 canonicalisation differs
            est = gt @ _poses(rng.normal(size=(F, 3)) * 0.05, rng.normal(size=(F, 3)) * 0.1)
        e = pose_errors(gt, est, metric=metric)
        twin = _reference_twin(gt, est, metric)
        assert e.rot_err.sum() == pytest.approx(twin["rot_err"], rel=1e-9, abs=1e-9)
        assert e.trans_err.sum() == pytest.approx(twin["trans_err"], rel=1e-9)
        assert e.cammc.sum() == pytest.approx(twin["cammc"], rel=1e-9)


def test_shape_errors():
    with pytest.raises(ValueError, match="c2w"):
        pose_errors(np.eye(4), np.eye(4)[None], metric=False)
    with pytest.raises(ValueError, match="same frames"):
        pose_errors(_line([1, 0, 0]), _line([1, 0, 0])[:8], metric=False)


def test_depth_scale_factor_samples_the_containing_pixel():
    # Depth map at twice the image resolution: left half 2 m, right half 6 m.
    depth = np.full((40, 60), 2.0)
    depth[:, 30:] = 6.0
    xy = np.array([[5.2, 3.7], [14.9, 19.99], [15.0, 0.5], [29.5, 10.0]])  # image 20x30 (h w)
    z = np.array([0.5, 0.5, 1.5, 1.5])
    # Ratios: 2/0.5, 2/0.5 (col 29 of 60), 6/1.5 (col 30), 6/1.5 -> all 4.
    assert depth_scale_factor(depth, xy, z, (20, 30)) == pytest.approx(4.0)
    # Median, points behind the camera and outside the frame ignored.
    xy2 = np.vstack([xy, [[1.0, 1.0], [100.0, 1.0]]])
    z2 = np.append(z * np.array([1, 1, 2, 2]), [-1.0, 1.0])
    assert depth_scale_factor(depth, xy2, z2, (20, 30)) == pytest.approx(3.0)
    assert math.isnan(depth_scale_factor(depth, np.zeros((0, 2)), np.zeros(0), (20, 30)))


def test_camera_condition_check():
    assert camera_condition_check(3.2, 3.3).flagged  # within 10 % of the no-camera baseline
    assert camera_condition_check(4.0, 3.3).flagged  # worse than the baseline
    check = camera_condition_check(0.4, 3.3)
    assert not check.flagged and check.ratio == pytest.approx(0.4 / 3.3)
    with pytest.raises(ValueError, match="baseline"):
        camera_condition_check(1.0, 0.0)
