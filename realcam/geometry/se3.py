"""Rigid transforms and rotations: SE(3) inverse, poses relative to a condition frame, SO(3) log/exp, SLERP,
quaternions (wxyz, scalar first) and pose validation.

Convention: `c2w` is an OpenCV camera-to-world 4×4 (x right, y down, z forward) in metres; `w2c` is its inverse.
Every function works on any leading batch shape and keeps the caller's dtype and device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from realcam.errors import InputError

__all__ = [
    "PoseReport",
    "invert_se3",
    "look_at",
    "matrix_to_quat_wxyz",
    "quat_slerp",
    "quat_wxyz_to_matrix",
    "relative_c2w",
    "rotation_angle_deg",
    "scale_translation",
    "skew",
    "slerp",
    "so3_exp",
    "so3_log",
    "validate_c2w",
]


def _check_square(x: Tensor, n: int, name: str) -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim < 2 or x.shape[-2:] != (n, n):
        raise ValueError(f"{name}: expected shape (... {n} {n}), got {tuple(x.shape)}")


def invert_se3(T: Tensor) -> Tensor:
    """Inverse of rigid transforms [R | t; 0 0 0 1] as [Rᵀ | −Rᵀt; 0 0 0 1].

    Shapes: T (... 4 4) -> (... 4 4). Assumes R is a rotation (use `validate_c2w` on untrusted input); the bottom row
    of the result is exactly (0, 0, 0, 1).
    """
    _check_square(T, 4, "T")
    R = T[..., :3, :3]
    t = T[..., :3, 3:]
    Rt = R.transpose(-1, -2)
    out = torch.zeros_like(T)
    out[..., :3, :3] = Rt
    out[..., :3, 3:] = -Rt @ t
    out[..., 3, 3] = 1
    return out


def relative_c2w(c2w: Tensor, cond_index: int = 0) -> Tensor:
    """Poses relative to the condition frame: rel_i = inv(c2w_cond) · c2w_i (spec §1.9(a), "left" mode).

    The condition frame becomes the identity and every camera is expressed in the condition camera's OpenCV frame.
    Shapes: c2w (b f 4 4) -> (b f 4 4).
    """
    _check_square(c2w, 4, "c2w")
    if c2w.ndim != 4:
        raise ValueError(f"c2w: expected shape (b f 4 4), got {tuple(c2w.shape)}")
    num_frames = c2w.shape[1]
    if not -num_frames <= cond_index < num_frames:
        raise ValueError(f"cond_index: expected an index into {num_frames} frames, got {cond_index}")
    cond = c2w[:, cond_index : cond_index + 1] if cond_index >= 0 else c2w[:, cond_index].unsqueeze(1)
    return invert_se3(cond) @ c2w


def look_at(position: Tensor, target: Tensor, up: Tensor | None = None) -> Tensor:
    """OpenCV c2w of a camera at `position` looking at `target`, with image-up along `up` (metres, world frame).

    z = normalise(target − position), x = normalise((−up) × z), y = z × x. The default up is (0, −1, 0): the
    up direction of an OpenCV world whose axes are those of an upright first camera.
    Shapes: position (... 3), target (... 3), up (3,) or (... 3) -> (... 4 4).
    """
    if position.shape[-1:] != (3,) or target.shape[-1:] != (3,):
        raise ValueError(
            f"position, target: expected shape (... 3), got {tuple(position.shape)}, {tuple(target.shape)}"
        )
    if up is None:
        up = torch.tensor([0.0, -1.0, 0.0], dtype=position.dtype, device=position.device)
    forward = target - position
    distance = forward.norm(dim=-1, keepdim=True)
    if (distance < 1e-12).any():
        raise ValueError("target: coincides with position, so the viewing direction is undefined")
    z = forward / distance
    right = torch.linalg.cross(-up.expand_as(z), z, dim=-1)
    norm = right.norm(dim=-1, keepdim=True)
    if (norm < 1e-9).any():
        raise ValueError("up: parallel to the viewing direction, so the camera's roll is undefined")
    x = right / norm
    y = torch.linalg.cross(z, x, dim=-1)
    c2w = torch.zeros(*z.shape[:-1], 4, 4, dtype=z.dtype, device=z.device)
    c2w[..., :3, 0] = x
    c2w[..., :3, 1] = y
    c2w[..., :3, 2] = z
    c2w[..., :3, 3] = position
    c2w[..., 3, 3] = 1
    return c2w


def scale_translation(c2w: Tensor, factor: float) -> Tensor:
    """Multiply the translation column by `factor` (the reference's `trace_scale_factor`). Shapes: (... 4 4)."""
    _check_square(c2w, 4, "c2w")
    out = c2w.clone()
    out[..., :3, 3] = out[..., :3, 3] * factor
    return out


def skew(v: Tensor) -> Tensor:
    """Cross-product matrix [v]ₓ with [v]ₓ·u = v × u. Shapes: v (... 3) -> (... 3 3)."""
    zero = torch.zeros_like(v[..., 0])
    x, y, z = v.unbind(-1)
    rows = [
        torch.stack([zero, -z, y], dim=-1),
        torch.stack([z, zero, -x], dim=-1),
        torch.stack([-y, x, zero], dim=-1),
    ]
    return torch.stack(rows, dim=-2)


def so3_exp(w: Tensor) -> Tensor:
    """Rotation matrix of the axis-angle vector w (radians), Rodrigues' formula.

    R = I + sin θ/θ [w]ₓ + (1 − cos θ)/θ² [w]ₓ², θ = |w|, with Taylor series near θ = 0.
    Shapes: w (... 3) -> (... 3 3).
    """
    if w.shape[-1:] != (3,):
        raise ValueError(f"w: expected shape (... 3), got {tuple(w.shape)}")
    theta2 = (w * w).sum(-1)
    theta = theta2.sqrt()
    small = theta < 1e-4
    safe = torch.where(small, torch.ones_like(theta), theta)
    a = torch.where(small, 1 - theta2 / 6 + theta2 * theta2 / 120, torch.sin(safe) / safe)
    b = torch.where(small, 0.5 - theta2 / 24 + theta2 * theta2 / 720, (1 - torch.cos(safe)) / (safe * safe))
    W = skew(w)
    eye = torch.eye(3, dtype=w.dtype, device=w.device).expand(W.shape)
    return eye + a[..., None, None] * W + b[..., None, None] * (W @ W)


def so3_log(R: Tensor) -> Tensor:
    """Axis-angle vector (radians, angle in [0, π]) of rotation matrices; the inverse of `so3_exp`.

    Computed through the quaternion (robust near 0 and π): w = 2·atan2(|v|, s)·v/|v| for q = (s, v) with s ≥ 0.
    Shapes: R (... 3 3) -> (... 3).
    """
    q = matrix_to_quat_wxyz(R)
    s = q[..., 0]
    v = q[..., 1:]
    norm_v = v.norm(dim=-1)
    angle = 2 * torch.atan2(norm_v, s)
    small = norm_v < 1e-8
    # For tiny angles atan2(|v|, s)/|v| -> 1/s (s ~ 1).
    factor = torch.where(small, 2 / s.clamp_min(1e-12), angle / torch.where(small, torch.ones_like(norm_v), norm_v))
    return v * factor[..., None]


def quat_wxyz_to_matrix(q: Tensor) -> Tensor:
    """Rotation matrix of quaternions (w, x, y, z); the quaternion is normalised first.

    Shapes: q (... 4) -> (... 3 3). q and −q give the same matrix.
    """
    if q.shape[-1:] != (4,):
        raise ValueError(f"q: expected shape (... 4), got {tuple(q.shape)}")
    q = q / q.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    rows = [
        torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], dim=-1),
        torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], dim=-1),
        torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], dim=-1),
    ]
    return torch.stack(rows, dim=-2)


def matrix_to_quat_wxyz(R: Tensor) -> Tensor:
    """Unit quaternion (w, x, y, z) with w ≥ 0 of rotation matrices (Shepperd's method: pick the largest of
    the four squared components to divide by, so the result is accurate for every angle).

    Shapes: R (... 3 3) -> (... 4).
    """
    _check_square(R, 3, "R")
    m = R
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    # 4·q_k² for k = w, x, y, z.
    sq = torch.stack(
        [
            1 + trace,
            1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
        ],
        dim=-1,
    )
    # Each candidate row is 4·q_k·q (up to sign), computed from the off-diagonals.
    cand = torch.stack(
        [
            torch.stack(
                [sq[..., 0], m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1
            ),
            torch.stack(
                [m[..., 2, 1] - m[..., 1, 2], sq[..., 1], m[..., 1, 0] + m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0]], -1
            ),
            torch.stack(
                [m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] + m[..., 0, 1], sq[..., 2], m[..., 2, 1] + m[..., 1, 2]], -1
            ),
            torch.stack(
                [m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] + m[..., 1, 2], sq[..., 3]], -1
            ),
        ],
        dim=-2,
    )
    best = sq.argmax(dim=-1)
    q = torch.gather(cand, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def quat_slerp(q0: Tensor, q1: Tensor, s: Tensor | float) -> Tensor:
    """Spherical linear interpolation of unit quaternions along the shorter arc.

    Shapes: q0, q1 (... 4), s broadcastable to (...) -> (... 4), unit length.
    """
    s = torch.as_tensor(s, dtype=q0.dtype, device=q0.device)
    dot = (q0 * q1).sum(-1)
    q1 = torch.where(dot[..., None] < 0, -q1, q1)
    dot = dot.abs().clamp(max=1.0)
    theta = torch.acos(dot)
    sin_theta = torch.sin(theta)
    near = sin_theta < 1e-9
    safe = torch.where(near, torch.ones_like(sin_theta), sin_theta)
    w0 = torch.where(near, 1 - s, torch.sin((1 - s) * theta) / safe)
    w1 = torch.where(near, s, torch.sin(s * theta) / safe)
    q = w0[..., None] * q0 + w1[..., None] * q1
    return q / q.norm(dim=-1, keepdim=True)


def slerp(R0: Tensor, R1: Tensor, s: Tensor | float) -> Tensor:
    """Geodesic interpolation between rotations: R(s) = R0 · exp(s · log(R0ᵀ R1)), s in [0, 1].

    Done with unit quaternions, so every result is orthonormal to rounding. Shapes: R0, R1 (... 3 3),
    s broadcastable to (...) -> (... 3 3).
    """
    return quat_wxyz_to_matrix(quat_slerp(matrix_to_quat_wxyz(R0), matrix_to_quat_wxyz(R1), s))


def rotation_angle_deg(R: Tensor) -> Tensor:
    """Rotation angle in degrees, in [0, 180]. Shapes: R (... 3 3) -> (...)."""
    return so3_log(R).norm(dim=-1) * (180.0 / math.pi)


@dataclass(frozen=True)
class PoseReport:
    """What `validate_c2w` found and did.

    Fields: num_poses; max_orthonormality_error = max |RᵀR − I|; min_det / max_det of R; fixed_indices = flat indices
    of poses that were re-orthonormalised (empty unless fix=True); messages = human-readable notes.
    """

    num_poses: int
    max_orthonormality_error: float
    min_det: float
    max_det: float
    fixed_indices: tuple[int, ...]
    messages: tuple[str, ...]

    @property
    def fixed(self) -> bool:
        return bool(self.fixed_indices)


def validate_c2w(c2w: Tensor, *, name: str = "c2w", atol: float = 1e-4, fix: bool = False) -> tuple[Tensor, PoseReport]:
    """Check that `c2w` holds finite rigid transforms with proper rotations (RᵀR = I and det R = +1 within atol)
    and bottom row (0, 0, 0, 1).

    Without `fix`, any problem raises `InputError` naming the first bad pose (flat index) and what is wrong. With
    `fix=True`, non-orthonormal or improper rotations are replaced by the nearest proper rotation (SVD: U·diag(1, 1,
    det(UVᵀ))·Vᵀ), the bottom row is set, and the report lists every pose changed; NaN/inf always raise.
    Shapes: c2w (... 4 4) -> (same shape, report).
    """
    _check_square(c2w, 4, name)
    flat = c2w.reshape(-1, 4, 4)
    n = flat.shape[0]
    bad = ~torch.isfinite(flat).all(dim=(-1, -2))
    if bad.any():
        which = f"pose {int(bad.nonzero()[0, 0])} " if c2w.ndim > 2 else ""
        raise InputError(f"{name}: {which}contains NaN or inf")
    R = flat[:, :3, :3].double()
    eye = torch.eye(3, dtype=R.dtype)
    ortho_err = (R.transpose(-1, -2) @ R - eye).abs().amax(dim=(-1, -2))
    det = torch.linalg.det(R)
    bottom = flat[:, 3, :].double()
    bottom_err = (bottom - torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64)).abs().amax(dim=-1)
    problems = []
    for i in range(n):
        why = []
        if ortho_err[i] > atol:
            why.append(f"rotation not orthonormal (max |RᵀR − I| = {float(ortho_err[i]):.3g} > {atol:g})")
        if det[i] < 0:
            why.append(f"improper rotation (det R = {float(det[i]):.6g}, a reflection)")
        elif abs(float(det[i]) - 1) > atol and ortho_err[i] <= atol:
            why.append(f"det R = {float(det[i]):.6g} differs from +1 by more than {atol:g}")
        if bottom_err[i] > atol:
            why.append(f"bottom row is {[round(float(x), 6) for x in bottom[i]]}, expected [0, 0, 0, 1]")
        if why:
            problems.append((i, why))
    messages: list[str] = []
    if not problems:
        report = PoseReport(n, float(ortho_err.max()), float(det.min()), float(det.max()), (), ())
        return c2w, report
    if not fix:
        i, why = problems[0]
        more = f" ({len(problems)} of {n} poses have problems)" if len(problems) > 1 else ""
        which = f"pose {i}: " if c2w.ndim > 2 else ""
        raise InputError(f"{name}: {which}{'; '.join(why)}{more}")
    out = flat.clone()
    indices = tuple(i for i, _ in problems)
    idx = torch.tensor(indices)
    U, _, Vh = torch.linalg.svd(R[idx])
    d = torch.linalg.det(U @ Vh)
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], dim=-1))
    out[idx, :3, :3] = (U @ D @ Vh).to(out.dtype)
    out[idx, 3, :] = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=out.dtype)
    for i, why in problems:
        messages.append(f"{name}: pose {i} re-orthonormalised to the nearest proper rotation: {'; '.join(why)}")
    report = PoseReport(n, float(ortho_err.max()), float(det.min()), float(det.max()), indices, tuple(messages))
    return out.reshape(c2w.shape), report
