"""Keyframes -> frames: Kochanek-Bartels splines for positions and FOV, SQUAD on unit quaternions for rotations,
and the timing map from frame index to spline parameter (arc length or keyframe times, optional easing).

The spline parameter u runs over [0, S] for S segments; segment i (u in [i, i+1]) goes from keyframe i to keyframe
i+1 (to keyframe 0 for the closing segment of a loop). Everything is float64.
"""

from __future__ import annotations

import torch
from torch import Tensor

from realcam.geometry.se3 import matrix_to_quat_wxyz, quat_slerp, quat_wxyz_to_matrix, so3_log
from realcam.trajectory.keyframes import SampledTrajectory, Trajectory

__all__ = [
    "ARC_METRES_PER_RADIAN",
    "ARC_STILL_TRANSLATION_M",
    "ease",
    "evaluate",
    "hermite",
    "interp1d",
    "keyframe_fovs",
    "kb_tangents",
    "keyframe_playback_fractions",
    "sample_trajectory",
    "spline_parameters",
    "spline_parameters_at",
    "squad_controls",
]

_ARC_SAMPLES_PER_SEGMENT = 128
# Arc-length timing: in a keyframe segment that (almost) does not translate, one radian of camera rotation counts
# like ARC_METRES_PER_RADIAN metres of travel, fading out linearly as the segment's travel grows to
# ARC_STILL_TRANSLATION_M; segments that travel farther are timed by metres alone (see `_arc_parameterisation`).
ARC_METRES_PER_RADIAN = 1.0
ARC_STILL_TRANSLATION_M = 0.02


def _leg_lengths(legs: Tensor, closed: bool) -> tuple[Tensor, Tensor]:
    """Lengths of the legs before and after each key (n), mirrored at open ends. legs: (s) for s segments."""
    if closed:
        return legs.roll(1, 0), legs
    before = torch.cat([legs[:1], legs])
    after = torch.cat([legs, legs[-1:]])
    return before, after


def _side_factors(before: Tensor, after: Tensor) -> tuple[Tensor, Tensor]:
    """Kochanek-Bartels adjustment for uneven spacing: the tangent leaving a key is scaled by 2·L_after/(L_before +
    L_after) and the one arriving by 2·L_before/(L_before + L_after), so a short leg next to a long one does not
    overshoot and double back. Factors are 1 where both legs are empty."""
    total = before + after
    empty = total <= 1e-12
    safe = torch.where(empty, torch.ones_like(total), total)
    out = torch.where(empty, torch.ones_like(total), 2 * after / safe)
    into = torch.where(empty, torch.ones_like(total), 2 * before / safe)
    return out, into


def kb_tangents(points: Tensor, tension: float, closed: bool) -> tuple[Tensor, Tensor]:
    """Kochanek-Bartels tangents (zero continuity and bias) m_i = (1 − tension)/2 · (p_{i+1} − p_{i−1}), adjusted
    for uneven leg lengths (`_side_factors`, legs measured as chord lengths).

    Open ends use mirrored phantom points (p_{−1} = 2p_0 − p_1), so a 2-key path is a straight line at constant
    parametric speed. Shapes: points (n d) -> (outgoing (n d), incoming (n d)).
    """
    n = points.shape[0]
    if n == 1:
        return torch.zeros_like(points), torch.zeros_like(points)
    if closed:
        prev, nxt = points.roll(1, 0), points.roll(-1, 0)
        legs = (nxt - points).norm(dim=-1)
    else:
        prev = torch.cat([2 * points[:1] - points[1:2], points[:-1]])
        nxt = torch.cat([points[1:], 2 * points[-1:] - points[-2:-1]])
        legs = (points[1:] - points[:-1]).norm(dim=-1)
    m = (1 - tension) / 2 * (nxt - prev)
    out, into = _side_factors(*_leg_lengths(legs, closed))
    return m * out[:, None], m * into[:, None]


def hermite(p0: Tensor, p1: Tensor, m0: Tensor, m1: Tensor, s: Tensor) -> Tensor:
    """Cubic Hermite segment. Shapes: p0, p1, m0, m1 (t d), s (t) in [0, 1] -> (t d)."""
    s = s[:, None]
    s2, s3 = s * s, s * s * s
    return (2 * s3 - 3 * s2 + 1) * p0 + (s3 - 2 * s2 + s) * m0 + (-2 * s3 + 3 * s2) * p1 + (s3 - s2) * m1


def _segments(u: Tensor, n: int, closed: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Segment start index, end index and local parameter for spline parameters u. Shapes: (t) each."""
    num_segments = n if closed else n - 1
    i = u.floor().long().clamp(0, num_segments - 1)
    s = (u - i).clamp(0, 1)
    j = (i + 1) % n
    return i, j, s


def _spline(points: Tensor, tension: float, closed: bool, u: Tensor) -> Tensor:
    """Evaluate the KB spline through `points` (n d) at parameters u (t) -> (t d)."""
    if points.shape[0] == 1:
        return points.expand(u.shape[0], -1).clone()
    m_out, m_in = kb_tangents(points, tension, closed)
    i, j, s = _segments(u, points.shape[0], closed)
    return hermite(points[i], points[j], m_out[i], m_in[j], s)


def _qmul(a: Tensor, b: Tensor) -> Tensor:
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        dim=-1,
    )


def _qconj(q: Tensor) -> Tensor:
    return q * torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=q.dtype)


def _qlog(q: Tensor) -> Tensor:
    """Log of unit quaternions as pure-vector (... 3): θ·v/|v| with θ = atan2(|v|, w)."""
    v = q[..., 1:]
    nv = v.norm(dim=-1, keepdim=True)
    theta = torch.atan2(nv, q[..., :1])
    return torch.where(nv < 1e-12, v, v * theta / nv.clamp_min(1e-12))


def _qexp(r: Tensor) -> Tensor:
    """Exp of pure-vector quaternions (... 3) -> unit quaternions (... 4)."""
    nr = r.norm(dim=-1, keepdim=True)
    scale = torch.where(nr < 1e-12, torch.ones_like(nr), torch.sin(nr) / nr.clamp_min(1e-12))
    return torch.cat([torch.cos(nr), r * scale], dim=-1)


def _align_signs(q: Tensor, closed: bool) -> Tensor:
    """Flip quaternion signs so neighbours have a non-negative dot product (shortest arcs). Shapes: (n 4)."""
    out = [q[0]]
    for k in range(1, q.shape[0]):
        out.append(q[k] if (out[-1] * q[k]).sum() >= 0 else -q[k])
    return torch.stack(out)


def squad_controls(q: Tensor, tension: float, closed: bool) -> tuple[Tensor, Tensor]:
    """SQUAD inner control quaternions leaving and arriving at each key.

    With f_i = log(q_i⁻¹q_{i+1}) and b_i = log(q_i⁻¹q_{i−1}) the tangent is T_i = (1 − tension)·(f_i − b_i)/2,
    scaled per side for uneven angles as in `kb_tangents`; then a_i(out) = q_i·exp((T_out − f_i)/2) and
    a_i(in) = q_i·exp((−T_in − b_i)/2). Uniform spacing gives the classic a_i = q_i·exp(−(f_i + b_i)/4). Open ends
    mirror the neighbouring leg. Shapes: q (n 4) sign-aligned unit quaternions -> (outgoing (n 4), incoming (n 4)).
    """
    n = q.shape[0]
    if n == 1:
        return q.clone(), q.clone()
    prev, nxt = q.roll(1, 0), q.roll(-1, 0)
    # Keep the neighbours on q_i's hemisphere so the logs take the short way (matters across the loop seam).
    prev = torch.where(((prev * q).sum(-1, keepdim=True)) < 0, -prev, prev)
    nxt = torch.where(((nxt * q).sum(-1, keepdim=True)) < 0, -nxt, nxt)
    inv = _qconj(q)
    f = _qlog(_qmul(inv, nxt))
    b = _qlog(_qmul(inv, prev))
    if not closed:
        b[0] = -f[0]  # mirrored phantom key before the first
        f[-1] = -b[-1]  # and after the last
    T = (1 - tension) / 2 * (f - b)
    legs = f.norm(dim=-1)[:-1] if not closed else f.norm(dim=-1)
    out, into = _side_factors(*_leg_lengths(legs, closed))
    a_out = _qmul(q, _qexp((T * out[:, None] - f) / 2))
    a_in = _qmul(q, _qexp((-T * into[:, None] - b) / 2))
    return a_out, a_in


def _squad(q: Tensor, a_out: Tensor, a_in: Tensor, closed: bool, u: Tensor) -> Tensor:
    """SQUAD(q_i, a_i, a_j, q_j; s) = slerp(slerp(q_i, q_j, s), slerp(a_i, a_j, s), 2s(1 − s)), with a_i the
    control leaving key i and a_j the one arriving at key j. -> (t 4)."""
    if q.shape[0] == 1:
        return q.expand(u.shape[0], -1).clone()
    i, j, s = _segments(u, q.shape[0], closed)
    qi, qj, ai, aj = q[i], q[j], a_out[i], a_in[j]
    flip = (qi * qj).sum(-1, keepdim=True) < 0  # loop seam: take the short way
    qj = torch.where(flip, -qj, qj)
    aj = torch.where(flip, -aj, aj)
    outer = quat_slerp(qi, qj, s)
    inner = quat_slerp(ai, aj, s)
    return quat_slerp(outer, inner, 2 * s * (1 - s))


def interp1d(x: Tensor, xp: Tensor, fp: Tensor) -> Tensor:
    """Piecewise-linear interpolation (like numpy.interp) for increasing xp. Shapes: x (t), xp (m), fp (m) -> (t)."""
    idx = torch.searchsorted(xp, x.clamp(xp[0], xp[-1]), right=True).clamp(1, xp.shape[0] - 1)
    x0, x1 = xp[idx - 1], xp[idx]
    f0, f1 = fp[idx - 1], fp[idx]
    w = torch.where(x1 > x0, (x - x0) / (x1 - x0).clamp_min(1e-300), torch.zeros_like(x))
    return f0 + w.clamp(0, 1) * (f1 - f0)


def ease(tau: Tensor, mode: str) -> Tensor:
    """Easing of normalised time tau in [0, 1]: quadratic in/out, smoothstep for in-out. Monotonic, fixes 0 and 1."""
    if mode == "none":
        return tau
    if mode == "in":
        return tau * tau
    if mode == "out":
        return 1 - (1 - tau) ** 2
    if mode == "in-out":
        return tau * tau * (3 - 2 * tau)
    raise ValueError(f"ease: expected 'none', 'in', 'out' or 'in-out', got {mode!r}")


def keyframe_fovs(trajectory: Trajectory) -> Tensor | None:
    """Keyframe FOVs (n); missing values copy the previous keyframe's (the next one's before the first)."""
    values = [k.fov_deg for k in trajectory.keyframes]
    if all(v is None for v in values):
        return None
    first = next(v for v in values if v is not None)
    filled, last = [], first
    for v in values:
        last = v if v is not None else last
        filled.append(last)
    return torch.tensor(filled, dtype=torch.float64)


def evaluate(trajectory: Trajectory, u: Tensor) -> tuple[Tensor, Tensor | None]:
    """Poses and FOVs at spline parameters u (t) in [0, S]. -> c2w (t 4 4), fov_deg (t) or None."""
    settings = trajectory.settings
    keys = trajectory.keyframes
    c2w_keys = torch.stack([k.c2w for k in keys])
    q = _align_signs(matrix_to_quat_wxyz(c2w_keys[:, :3, :3]), settings.closed)
    a_out, a_in = squad_controls(q, settings.tension, settings.closed)
    R = quat_wxyz_to_matrix(_squad(q, a_out, a_in, settings.closed, u))
    if settings.pivot is None:
        t = _spline(c2w_keys[:, :3, 3], settings.tension, settings.closed, u)
    else:
        pivot = torch.tensor(settings.pivot, dtype=torch.float64)
        # Pivot in each keyframe's camera frame; interpolated, then mapped back through the interpolated rotation.
        offsets = (c2w_keys[:, :3, :3].transpose(-1, -2) @ (c2w_keys[:, :3, 3] - pivot)[..., None]).squeeze(-1)
        o = _spline(offsets, settings.tension, settings.closed, u)
        t = pivot + (R @ o[..., None]).squeeze(-1)
    c2w = torch.zeros(u.shape[0], 4, 4, dtype=torch.float64)
    c2w[:, :3, :3] = R
    c2w[:, :3, 3] = t
    c2w[:, 3, 3] = 1
    fov_keys = keyframe_fovs(trajectory)
    fov = None
    if fov_keys is not None:
        fov = _spline(fov_keys[:, None], settings.tension, settings.closed, u)[:, 0].clamp(1e-3, 180 - 1e-3)
    return c2w, fov


def _num_segments(trajectory: Trajectory) -> int:
    n = len(trajectory.keyframes)
    return n if trajectory.settings.closed and n > 1 else n - 1


def _arc_parameterisation(trajectory: Trajectory) -> tuple[Tensor, Tensor]:
    """Cumulative path measure over a dense u grid -> (cum (m), u (m)).

    Rule, per keyframe segment with travel d metres (arc length of the camera centre) and per dense step:
        measure = travel + w(d) · ARC_METRES_PER_RADIAN · rotation (radians),
        w(d) = max(0, 1 − d / ARC_STILL_TRANSLATION_M).
    So wherever the camera translates (d ≥ 2 cm) the measure is metres alone and frames move at constant metric
    speed, however much the camera turns on the way (a dolly followed by a dolly-while-turning has equal steps).
    A segment that turns in place (d = 0: a pan, tilt or roll leg) is timed by its rotation, 1 rad like 1 m, so it
    still gets its share of frames inside a moving path and a pure pan turns at constant angular speed; w fades
    linearly in between so the timing never jumps when a keyframe is nudged. Orbits and other translating paths
    are constant in metres. Zoom-only paths use FOV degrees; a path where nothing changes is uniform in u. A floor of
    1e-6 of the mean step keeps the measure strictly increasing, so the last frame lands on the last keyframe.
    """
    num_segments = _num_segments(trajectory)
    u = torch.linspace(0, num_segments, num_segments * _ARC_SAMPLES_PER_SEGMENT + 1, dtype=torch.float64)
    c2w, fov = evaluate(trajectory, u)
    travel = (c2w[1:, :3, 3] - c2w[:-1, :3, 3]).norm(dim=-1)
    turn = so3_log(c2w[:-1, :3, :3].transpose(-1, -2) @ c2w[1:, :3, :3]).norm(dim=-1)
    segment_travel = travel.reshape(num_segments, _ARC_SAMPLES_PER_SEGMENT).sum(-1)
    still = (1 - segment_travel / ARC_STILL_TRANSLATION_M).clamp(0, 1)
    step = travel + still.repeat_interleave(_ARC_SAMPLES_PER_SEGMENT) * ARC_METRES_PER_RADIAN * turn
    if step.sum() <= 1e-9 and fov is not None:
        step = (fov[1:] - fov[:-1]).abs()
    if step.sum() <= 1e-9:
        return u.clone(), u
    step = step + 1e-6 * step.mean()
    return torch.cat([torch.zeros(1, dtype=torch.float64), step.cumsum(0)]), u


def spline_parameters(trajectory: Trajectory, num_frames: int) -> Tensor:
    """Spline parameter u of each output frame (f), following the trajectory's timing and easing.

    Open paths put frame 0 on the first and frame f−1 on the last keyframe; closed paths spread f frames over the
    loop without repeating frame 0 at the end.
    """
    if int(num_frames) != num_frames or num_frames < 1:
        raise ValueError(f"num_frames: expected a positive integer, got {num_frames}")
    k = torch.arange(num_frames, dtype=torch.float64)
    if trajectory.settings.closed:
        tau = k / num_frames
    else:
        tau = k / max(num_frames - 1, 1)
    return spline_parameters_at(trajectory, tau)


def _timing_knots(trajectory: Trajectory) -> tuple[Tensor, Tensor]:
    """Knots of the timing map: eased playback fraction x (m) in [0, 1], increasing, and spline parameter u (m).

    u(x) is piecewise linear between knots. The integers 0..S (the keyframes) are knots of u. Needs S >= 1.
    """
    if trajectory.settings.timing == "arc":
        cum, u = _arc_parameterisation(trajectory)
        return cum / cum[-1], u
    times = [kf.time for kf in trajectory.keyframes]
    if any(t is None for t in times):
        key_t = torch.arange(len(times), dtype=torch.float64)
    else:
        key_t = torch.tensor(times, dtype=torch.float64)
    if trajectory.settings.closed:
        step = (key_t[-1] - key_t[0]) / (len(times) - 1) if len(times) > 1 else torch.tensor(1.0)
        key_t = torch.cat([key_t, key_t[-1:] + step])  # the closing segment lasts one mean segment
    return (key_t - key_t[0]) / (key_t[-1] - key_t[0]), torch.arange(key_t.shape[0], dtype=torch.float64)


def spline_parameters_at(trajectory: Trajectory, tau: Tensor) -> Tensor:
    """Spline parameter u at normalised playback times tau (t) in [0, 1] -> (t), after timing and easing.

    tau = 0 is the first keyframe and tau = 1 the end of the path (the last keyframe, or keyframe 0 again for a loop);
    frame k of f sits at tau = k/(f−1) on an open path and k/f on a loop.
    """
    if _num_segments(trajectory) == 0:
        return torch.zeros_like(tau, dtype=torch.float64)
    x, u = _timing_knots(trajectory)
    return interp1d(ease(tau.to(torch.float64), trajectory.settings.ease), x, u)


def keyframe_playback_fractions(trajectory: Trajectory) -> Tensor:
    """Normalised playback time tau in [0, 1] at which the path reaches each segment boundary: keyframes 0..S (the
    last is keyframe 0 again for a loop). Shape (S+1,); exact for both timings, the easing inverted by bisection."""
    num_segments = _num_segments(trajectory)
    if num_segments == 0:
        return torch.zeros(1, dtype=torch.float64)
    x, u = _timing_knots(trajectory)
    target = interp1d(torch.arange(num_segments + 1, dtype=torch.float64), u, x)
    lo, hi = torch.zeros_like(target), torch.ones_like(target)
    for _ in range(60):  # ease is monotonic on [0, 1]; 60 halvings reach float64 resolution
        mid = (lo + hi) / 2
        below = ease(mid, trajectory.settings.ease) < target
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    tau = (lo + hi) / 2
    tau[0], tau[-1] = 0.0, 1.0
    return tau


def sample_trajectory(trajectory: Trajectory, num_frames: int = 16) -> SampledTrajectory:
    """Frames of the trajectory: c2w (f 4 4) float64 with orthonormal rotations, fov_deg (f) or None."""
    u = spline_parameters(trajectory, num_frames)
    c2w, fov = evaluate(trajectory, u)
    return SampledTrajectory(c2w=c2w, fov_deg=fov, intrinsics=trajectory.intrinsics)
