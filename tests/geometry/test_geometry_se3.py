import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from realcam.errors import InputError
from realcam.geometry.conventions import opencv_to_opengl_c2w, opengl_to_opencv_c2w
from realcam.geometry.se3 import (
    invert_se3,
    look_at,
    matrix_to_quat_wxyz,
    quat_wxyz_to_matrix,
    relative_c2w,
    rotation_angle_deg,
    slerp,
    so3_exp,
    so3_log,
    validate_c2w,
)

F64 = torch.float64
finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False)
vec3 = st.tuples(finite, finite, finite)
quat = st.tuples(finite, finite, finite, finite).filter(lambda q: sum(x * x for x in q) > 1e-3)
# Rotation vectors with angle below π - 1e-3 (the log is unique there).
rotvec = st.tuples(st.floats(-1, 1), st.floats(-1, 1), st.floats(-1, 1), st.floats(0, math.pi - 1e-3)).filter(
    lambda v: v[0] ** 2 + v[1] ** 2 + v[2] ** 2 > 1e-4
)


def _rotation(q) -> torch.Tensor:
    return quat_wxyz_to_matrix(torch.tensor(q, dtype=F64))


def _pose(q, t) -> torch.Tensor:
    T = torch.eye(4, dtype=F64)
    T[:3, :3] = _rotation(q)
    T[:3, 3] = torch.tensor(t, dtype=F64)
    return T


def _axis_angle(v) -> torch.Tensor:
    axis = torch.tensor(v[:3], dtype=F64)
    return axis / axis.norm() * v[3]


@settings(max_examples=60, deadline=None)
@given(quat, vec3)
def test_invert_se3_is_inverse(q, t):
    T = _pose(q, t)
    eye = torch.eye(4, dtype=F64)
    torch.testing.assert_close(invert_se3(T) @ T, eye, atol=1e-12, rtol=0)
    torch.testing.assert_close(T @ invert_se3(T), eye, atol=1e-12, rtol=0)
    torch.testing.assert_close(invert_se3(T), torch.linalg.inv(T), atol=1e-12, rtol=0)


@settings(max_examples=60, deadline=None)
@given(quat)
def test_quaternion_matrix_round_trip(q):
    R = _rotation(q)
    torch.testing.assert_close(R.T @ R, torch.eye(3, dtype=F64), atol=1e-12, rtol=0)
    assert float(torch.linalg.det(R)) == pytest.approx(1.0, abs=1e-12)
    q2 = matrix_to_quat_wxyz(R)
    assert q2[0] >= 0
    q1 = torch.tensor(q, dtype=F64)
    q1 = q1 / q1.norm()
    assert min((q2 - q1).abs().max(), (q2 + q1).abs().max()) < 1e-9
    torch.testing.assert_close(quat_wxyz_to_matrix(q2), R, atol=1e-12, rtol=0)


@settings(max_examples=60, deadline=None)
@given(rotvec)
def test_so3_log_exp_round_trip(v):
    w = _axis_angle(v)
    R = so3_exp(w)
    torch.testing.assert_close(R.T @ R, torch.eye(3, dtype=F64), atol=1e-12, rtol=0)
    torch.testing.assert_close(so3_log(R), w, atol=1e-8, rtol=0)
    assert float(rotation_angle_deg(R)) == pytest.approx(math.degrees(v[3]), abs=1e-7)


@settings(max_examples=60, deadline=None)
@given(quat)
def test_so3_exp_log_round_trip_any_rotation(q):
    R = _rotation(q)
    torch.testing.assert_close(so3_exp(so3_log(R)), R, atol=1e-9, rtol=0)


def test_so3_small_and_pi_angles():
    for angle in (0.0, 1e-9, 1e-5, math.pi - 1e-9, math.pi):
        w = torch.tensor([0.0, 0.6, 0.8], dtype=F64) * angle
        R = so3_exp(w)
        back = so3_exp(so3_log(R))
        torch.testing.assert_close(back, R, atol=1e-9, rtol=0)
    # Rodrigues by hand: 90° about z sends x to y.
    R = so3_exp(torch.tensor([0.0, 0.0, math.pi / 2], dtype=F64))
    torch.testing.assert_close(R @ torch.tensor([1.0, 0, 0], dtype=F64), torch.tensor([0.0, 1, 0], dtype=F64))


@settings(max_examples=40, deadline=None)
@given(quat, quat, st.floats(0, 1))
def test_slerp_geodesic(q0, q1, s):
    R0, R1 = _rotation(q0), _rotation(q1)
    Rs = slerp(R0, R1, s)
    torch.testing.assert_close(Rs.T @ Rs, torch.eye(3, dtype=F64), atol=1e-12, rtol=0)
    total = float(rotation_angle_deg(R0.T @ R1))
    # On the geodesic: angle(R0, Rs) = s·total and angle(Rs, R1) = (1 − s)·total.
    assert float(rotation_angle_deg(R0.T @ Rs)) == pytest.approx(s * total, abs=1e-6)
    assert float(rotation_angle_deg(Rs.T @ R1)) == pytest.approx((1 - s) * total, abs=1e-6)


def test_slerp_endpoints():
    R0 = so3_exp(torch.tensor([0.1, 0.2, 0.3], dtype=F64))
    R1 = so3_exp(torch.tensor([-1.0, 0.5, 2.0], dtype=F64))
    torch.testing.assert_close(slerp(R0, R1, 0.0), R0, atol=1e-12, rtol=0)
    torch.testing.assert_close(slerp(R0, R1, 1.0), R1, atol=1e-12, rtol=0)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(quat, vec3), min_size=2, max_size=5), st.data())
def test_relative_c2w_makes_cond_identity(poses, data):
    c2w = torch.stack([_pose(q, t) for q, t in poses])[None]
    cond = data.draw(st.integers(0, len(poses) - 1))
    rel = relative_c2w(c2w, cond)
    torch.testing.assert_close(rel[0, cond], torch.eye(4, dtype=F64), atol=1e-12, rtol=0)
    # Relative poses do not depend on the world frame.
    T = _pose((0.3, -0.2, 0.9, 0.1), (1.0, -2.0, 0.5))
    torch.testing.assert_close(relative_c2w(T @ c2w, cond), rel, atol=1e-9, rtol=0)
    torch.testing.assert_close(rel[0], torch.linalg.inv(c2w[0, cond]) @ c2w[0], atol=1e-9, rtol=0)


@settings(max_examples=30, deadline=None)
@given(quat, vec3)
def test_opengl_opencv_round_trip(q, t):
    c2w = _pose(q, t)
    torch.testing.assert_close(opengl_to_opencv_c2w(opencv_to_opengl_c2w(c2w)), c2w, atol=0, rtol=0)
    gl = opencv_to_opengl_c2w(c2w)
    # Same centre; OpenGL looks down −z, so its −z column is OpenCV's +z column; its +y is OpenCV's −y.
    torch.testing.assert_close(gl[:3, 3], c2w[:3, 3])
    torch.testing.assert_close(-gl[:3, 2], c2w[:3, 2])
    torch.testing.assert_close(-gl[:3, 1], c2w[:3, 1])
    assert float(torch.linalg.det(gl[:3, :3])) == pytest.approx(1.0)


def test_validate_accepts_good_poses():
    c2w = torch.stack([_pose((1, 0, 0, 0), (0, 0, 0)), _pose((0.2, 0.5, -0.1, 0.7), (1, 2, 3))])
    out, report = validate_c2w(c2w)
    assert out is c2w and not report.fixed and report.num_poses == 2
    assert report.min_det == pytest.approx(1.0)


def test_validate_rejects_nan():
    c2w = torch.eye(4, dtype=F64).repeat(3, 1, 1)
    c2w[2, 0, 3] = float("nan")
    with pytest.raises(InputError, match="pose 2 contains NaN"):
        validate_c2w(c2w)
    with pytest.raises(InputError, match="NaN"):
        validate_c2w(c2w, fix=True)


def test_validate_rejects_improper_and_non_orthonormal():
    improper = torch.diag(torch.tensor([1.0, 1.0, -1.0, 1.0], dtype=F64))
    with pytest.raises(InputError, match="improper rotation"):
        validate_c2w(improper, name="poses")
    skewed = torch.eye(4, dtype=F64)
    skewed[0, 1] = 0.01
    with pytest.raises(InputError, match="not orthonormal"):
        validate_c2w(skewed)
    bottom = torch.eye(4, dtype=F64)
    bottom[3, 0] = 1.0
    with pytest.raises(InputError, match="bottom row"):
        validate_c2w(bottom)


def test_validate_fix_reorthonormalises_and_reports():
    good = _pose((0.9, 0.1, 0.3, -0.2), (1, 2, 3))
    noisy = good.clone()
    noisy[:3, :3] += 1e-3 * torch.tensor([[0.3, -0.2, 0.1], [0.5, 0.1, -0.4], [0.2, 0.2, 0.3]], dtype=F64)
    c2w = torch.stack([good, noisy])
    out, report = validate_c2w(c2w, fix=True)
    assert report.fixed_indices == (1,) and "pose 1 re-orthonormalised" in report.messages[0]
    R = out[1, :3, :3]
    torch.testing.assert_close(R.T @ R, torch.eye(3, dtype=F64), atol=1e-12, rtol=0)
    assert float(torch.linalg.det(R)) == pytest.approx(1.0)
    assert (R - good[:3, :3]).abs().max() < 2e-3  # the nearest rotation, not an arbitrary one
    torch.testing.assert_close(out[0], good, atol=0, rtol=0)
    torch.testing.assert_close(out[1, :3, 3], noisy[:3, 3], atol=0, rtol=0)
    # Improper input becomes proper and says it was a reflection.
    out, report = validate_c2w(torch.diag(torch.tensor([1.0, 1.0, -1.0, 1.0], dtype=F64)), fix=True)
    assert float(torch.linalg.det(out[:3, :3])) == pytest.approx(1.0) and "improper" in report.messages[0]


def test_shape_errors_name_the_argument():
    with pytest.raises(ValueError, match="c2w: expected shape"):
        relative_c2w(torch.eye(4))
    with pytest.raises(ValueError, match="cond_index"):
        relative_c2w(torch.eye(4).repeat(1, 3, 1, 1), 3)


def test_look_at():
    eye = torch.eye(4, dtype=F64)
    torch.testing.assert_close(look_at(torch.zeros(3, dtype=F64), torch.tensor([0, 0, 5.0], dtype=F64)), eye)
    position = torch.tensor([-3.0, 0.0, 3.0], dtype=F64)
    c2w = look_at(position, torch.tensor([0.0, 0.0, 3.0], dtype=F64))
    torch.testing.assert_close(c2w[:3, 2], torch.tensor([1.0, 0, 0], dtype=F64))  # looks toward +x
    torch.testing.assert_close(c2w[:3, 1], torch.tensor([0.0, 1, 0], dtype=F64))  # stays upright (y down)
    validate_c2w(c2w)
    with pytest.raises(ValueError, match="parallel"):
        look_at(torch.zeros(3, dtype=F64), torch.tensor([0.0, -2.0, 0.0], dtype=F64))
