"""Camera-pose metrics of RealCam-I2V / CamI2V: RotErr, TransErr and CamMC at relative and metric scale.

Pure functions of pose arrays (numpy float64; evaluation sits on top of pycolmap, which speaks numpy). Conventions:
OpenCV camera-to-world `c2w (f 4 4)`; both trajectories are first made relative to their frame 0
(`c2w_0^-1 @ c2w_i`, spec §1.2), so frame 0 is the identity and contributes 0 to every sum. No Umeyama/Sim(3)
alignment is done: canonicalising to frame 0 plus the scale normalisation below is the only alignment (spec §1.2).

Formulas (spec §1.3; A = reference, B = estimate; i over frames):
- RotErr = Σ_i arccos(clamp((tr(R_Aᵢᵀ R_Bᵢ) − 1) / 2, −1, 1)), radians.
- TransErr = Σ_i ‖t̂_Bᵢ − t̂_Aᵢ‖₂ and CamMC = Σ_i ‖[R_Bᵢ | t̂_Bᵢ] − [R_Aᵢ | t̂_Aᵢ]‖_F, where t̂ are translations divided
  by a trajectory scale s = max_i ‖t_i‖ (distance from camera 0 to the farthest camera):
  relative scale ("rel"): A by s_A and B by s_B; metric scale ("abs"): both by s_A (paper eq. 4 with s̃ = s).

Reference behaviour: the reference adds 1e-9 to s. For a static reference (s_A ≈ 0) that divides by ~1e-9 and
turns SfM noise into errors of ~1e9 (spec §8.18). That bug is not copied: a reference whose extent is below
`MetricOptions.static_extent` makes the normalised translation metrics undefined (NaN) and sets
`static_reference`; RotErr stays defined. The estimate keeps the reference's `+ 1e-9` (its own normalisation only
matters for the relative metrics, and a genuinely static estimate then maps to zeros).

Each metric is reported as the per-clip sum (the paper's convention, frame 0 included, which adds 0) and as the
per-frame mean over the f − 1 frames after frame 0.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

# Reference behaviour: `normalize_t` adds this to the trajectory extent.
SCALE_EPS = 1e-9


@dataclass(frozen=True)
class MetricOptions:
    """`static_extent`: a reference trajectory whose camera-0-to-farthest-camera distance is at or below this (in the
    reference's own units) counts as static, and the normalised translation metrics are NaN for it."""

    static_extent: float = 1e-6


def _check_c2w(c2w: np.ndarray, name: str) -> np.ndarray:
    c2w = np.asarray(c2w, dtype=np.float64)
    if c2w.ndim != 3 or c2w.shape[1:] != (4, 4) or c2w.shape[0] < 1:
        raise ValueError(f"{name}: expected c2w of shape (f 4 4), got {tuple(c2w.shape)}")
    if not np.all(np.isfinite(c2w)):
        raise ValueError(f"{name}: c2w contains NaN or inf")
    return c2w


def relative_to_first(c2w: np.ndarray) -> np.ndarray:
    """Poses relative to frame 0: `c2w_0^-1 @ c2w_i` (spec §1.2). Shapes: (f 4 4) -> (f 4 4); frame 0 becomes I."""
    c2w = _check_c2w(c2w, "c2w")
    rel = np.linalg.inv(c2w[0]) @ c2w
    rel[0] = np.eye(4)
    return rel


def trajectory_extent(c2w: np.ndarray) -> float:
    """max_i ‖t_i‖₂ of already-relative poses (f 4 4): the distance from camera 0 to the farthest camera."""
    return float(np.linalg.norm(np.asarray(c2w, dtype=np.float64)[:, :3, 3], axis=-1).max())


def rotation_errors(ref_c2w: np.ndarray, est_c2w: np.ndarray) -> np.ndarray:
    """Per-frame geodesic angle between the rotations, radians. Shapes: (f 4 4), (f 4 4) -> (f,)."""
    R_ref, R_est = ref_c2w[:, :3, :3], est_c2w[:, :3, :3]
    trace = np.einsum("fji,fji->f", R_ref, R_est)  # tr(R_refᵀ R_est)
    return np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0))


def translation_errors(ref_t: np.ndarray, est_t: np.ndarray) -> np.ndarray:
    """Per-frame ‖t_est − t_ref‖₂ of (already normalised) translations. Shapes: (f 3), (f 3) -> (f,)."""
    return np.linalg.norm(est_t - ref_t, axis=-1)


def cammc_errors(ref_c2w: np.ndarray, ref_t: np.ndarray, est_c2w: np.ndarray, est_t: np.ndarray) -> np.ndarray:
    """Per-frame Frobenius norm of `[R_est | t_est] − [R_ref | t_ref]` (12 entries). Shapes: (f 4 4), (f 3) -> (f,)."""
    ref = np.concatenate([ref_c2w[:, :3, :3], ref_t[:, :, None]], axis=-1)
    est = np.concatenate([est_c2w[:, :3, :3], est_t[:, :, None]], axis=-1)
    return np.sqrt(((est - ref) ** 2).sum(axis=(-2, -1)))


@dataclass(frozen=True)
class PoseErrors:
    """Per-frame errors (each (f,), frame 0 first and always 0) and the reference extent they were normalised by."""

    rot_err: np.ndarray
    trans_err: np.ndarray
    cammc: np.ndarray
    ref_extent: float
    est_extent: float
    static_reference: bool

    def summary(self, prefix: str, suffix: str) -> dict[str, float]:
        """`{prefix}rot_err{suffix}` etc. as per-clip sums and per-frame means (frames 1..f-1)."""
        out: dict[str, float] = {}
        for field in ("rot_err", "trans_err", "cammc"):
            values = getattr(self, field)
            total = float(values.sum())
            out[f"{field}{suffix}"] = total
            out[f"{field}{suffix}_mean"] = total / max(len(values) - 1, 1)
        return {f"{prefix}{k}": v for k, v in out.items()}


def pose_errors(
    ref_c2w: np.ndarray, est_c2w: np.ndarray, *, metric: bool, options: MetricOptions = MetricOptions()
) -> PoseErrors:
    """Errors of `est_c2w` against `ref_c2w` at relative (`metric=False`) or metric (`metric=True`) scale.

    Shapes: ref_c2w (f 4 4), est_c2w (f 4 4), OpenCV c2w, any frame-0 pose (both are made relative to frame 0 here).
    Relative scale divides each trajectory by its own extent; metric scale divides both by the reference's extent,
    so the estimate must already be in the reference's units (metres). See the module docstring for the formulas.
    """
    ref = relative_to_first(_check_c2w(ref_c2w, "ref_c2w"))
    est = relative_to_first(_check_c2w(est_c2w, "est_c2w"))
    if ref.shape != est.shape:
        raise ValueError(f"ref_c2w and est_c2w must have the same frames, got {ref.shape} and {est.shape}")
    ref_extent, est_extent = trajectory_extent(ref), trajectory_extent(est)
    static = ref_extent <= options.static_extent
    rot = rotation_errors(ref, est)
    if static:
        nan = np.full(len(ref), math.nan)
        nan[0] = 0.0
        return PoseErrors(rot, nan, nan.copy(), ref_extent, est_extent, True)
    ref_t = ref[:, :3, 3] / (ref_extent + SCALE_EPS)
    est_t = est[:, :3, 3] / ((ref_extent if metric else est_extent) + SCALE_EPS)
    return PoseErrors(
        rot_err=rot,
        trans_err=translation_errors(ref_t, est_t),
        cammc=cammc_errors(ref, ref_t, est, est_t),
        ref_extent=ref_extent,
        est_extent=est_extent,
        static_reference=False,
    )


def metric_translation_error_m(ref_c2w: np.ndarray, est_c2w: np.ndarray) -> float:
    """Σ_i ‖t_est,i − t_ref,i‖₂ in metres, with no normalisation (both trajectories metric, made relative to frame 0).

    Defined for a static reference too. Shapes: (f 4 4), (f 4 4) -> float.
    """
    ref = relative_to_first(_check_c2w(ref_c2w, "ref_c2w"))
    est = relative_to_first(_check_c2w(est_c2w, "est_c2w"))
    return float(translation_errors(ref[:, :3, 3], est[:, :3, 3]).sum())


def scale_translations(c2w: np.ndarray, factor: float) -> np.ndarray:
    """Multiply the translations of `c2w (f 4 4)` by `factor` (SfM units -> metres). Rotations are unchanged."""
    out = np.array(c2w, dtype=np.float64, copy=True)
    out[:, :3, 3] *= factor
    return out


def depth_scale_factor(depth: np.ndarray, xy: np.ndarray, z: np.ndarray, image_hw: tuple[int, int]) -> float:
    """Metric factor α = median(D(x, y) / z) over the SfM points seen in frame 0 (spec §1.5), metres per SfM unit.

    Shapes: depth (H W) metres at any resolution; xy (n 2) COLMAP pixel coordinates in the video frame of size
    `image_hw` (the centre of pixel (0, 0) is (0.5, 0.5)); z (n,) the points' depth in camera 0, SfM units.
    Sampling as the reference: coordinates scaled by depth size / image size, then truncated to the containing pixel
    (nearest pixel, no interpolation). Points with z <= 0 or non-finite / non-positive depth are ignored. Returns NaN
    when no point is usable.
    """
    depth = np.asarray(depth, dtype=np.float64)
    xy, z = np.asarray(xy, dtype=np.float64).reshape(-1, 2), np.asarray(z, dtype=np.float64).reshape(-1)
    if depth.ndim != 2:
        raise ValueError(f"depth: expected (H W), got {depth.shape}")
    if len(xy) != len(z):
        raise ValueError(f"xy and z must have the same length, got {len(xy)} and {len(z)}")
    H, W = depth.shape
    h, w = image_hw
    col = np.floor(xy[:, 0] * (W / w)).astype(np.int64)
    row = np.floor(xy[:, 1] * (H / h)).astype(np.int64)
    inside = (col >= 0) & (col < W) & (row >= 0) & (row < H) & (z > 0) & np.isfinite(z)
    d = depth[row[inside], col[inside]]
    ratio = d / z[inside]
    ratio = ratio[np.isfinite(ratio) & (d > 0)]
    return float(np.median(ratio)) if len(ratio) else math.nan


@dataclass(frozen=True)
class SanityCheck:
    """Camera-condition sanity check: `flagged` when the run's RotErr is within `tolerance` (relative) of the
    no-camera baseline on the same videos, or worse than it: the camera condition then has no visible effect
    (cf. spec §8.19, a reproduction at the no-camera level)."""

    rot_err: float
    baseline_rot_err: float
    ratio: float
    tolerance: float
    flagged: bool

    def as_dict(self) -> dict[str, float | bool]:
        return dataclasses.asdict(self)


def camera_condition_check(rot_err: float, baseline_rot_err: float, tolerance: float = 0.1) -> SanityCheck:
    """Flag a run whose mean RotErr is not clearly below the no-camera baseline's: ratio >= 1 - tolerance."""
    if not baseline_rot_err > 0:
        raise ValueError(f"baseline_rot_err must be > 0, got {baseline_rot_err}")
    ratio = rot_err / baseline_rot_err
    return SanityCheck(rot_err, baseline_rot_err, ratio, tolerance, bool(ratio >= 1.0 - tolerance))
