"""Trajectory data: keyframes, interpolation settings, intrinsics and sampled frames (frozen dataclasses).

Poses are OpenCV camera-to-world 4×4 float64 matrices in metres (x right, y down, z forward). FOVs are vertical, in
degrees. Times are seconds. Intrinsics are in pixels of the image size they state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

import torch
from torch import Tensor

from realcam.geometry.intrinsics import K_from_fov, cover_size, scale_K
from realcam.geometry.se3 import invert_se3, validate_c2w

__all__ = [
    "DEFAULT_FOV_DEG",
    "DEFAULT_NUM_FRAMES",
    "InterpolationSettings",
    "Intrinsics",
    "Keyframe",
    "SampledTrajectory",
    "Trajectory",
]

DEFAULT_NUM_FRAMES = 16  # the model's video length
# Vertical FOV used when a trajectory states neither FOV nor intrinsics. 60° is close to the reference default for a
# 16:9 photo shown to the 256² model (fx = 227.5 px on 256 px, a 58.7° FOV; spec §5.3).
DEFAULT_FOV_DEG = 60.0

Timing = Literal["arc", "keys"]
Ease = Literal["none", "in", "out", "in-out"]


@dataclass(frozen=True, eq=False)
class Intrinsics:
    """Pinhole intrinsics K (3 3) float64 in pixels of a width×height image."""

    K: Tensor
    width: int
    height: int

    def __post_init__(self) -> None:
        if not isinstance(self.K, Tensor) or self.K.shape != (3, 3):
            raise ValueError(f"Intrinsics.K: expected a (3 3) tensor, got {getattr(self.K, 'shape', type(self.K))}")
        object.__setattr__(self, "K", self.K.to(torch.float64))
        for name in ("width", "height"):
            value = getattr(self, name)
            if int(value) != value or value <= 0:
                raise ValueError(f"Intrinsics.{name}: expected a positive integer, got {value}")
            object.__setattr__(self, name, int(value))
        if not torch.isfinite(self.K).all() or self.K[0, 0] <= 0 or self.K[1, 1] <= 0:
            raise ValueError(f"Intrinsics.K: expected finite K with positive fx, fy, got {self.K.tolist()}")

    def K_for(self, height: int, width: int) -> Tensor:
        """K for the image resized to cover height×width and centre-cropped (exact for the same aspect ratio)."""
        rh, rw = cover_size(self.height, self.width, height, width)
        return scale_K(self.K, rw / self.width, rh / self.height, (rw - width) // 2, (rh - height) // 2)

    @property
    def fov_deg(self) -> float:
        """Vertical FOV in degrees (from fy)."""
        return math.degrees(2 * math.atan(0.5 * self.height / float(self.K[1, 1])))


@dataclass(frozen=True, eq=False)
class Keyframe:
    """One keyframe: c2w (4 4) float64 (validated: finite, proper rotation), optional vertical FOV (degrees) and
    optional time (seconds)."""

    c2w: Tensor
    fov_deg: float | None = None
    time: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.c2w, Tensor) or self.c2w.shape != (4, 4):
            raise ValueError(f"Keyframe.c2w: expected a (4 4) tensor, got {getattr(self.c2w, 'shape', type(self.c2w))}")
        c2w, _ = validate_c2w(self.c2w.to(torch.float64), name="Keyframe.c2w")
        object.__setattr__(self, "c2w", c2w)
        if self.fov_deg is not None:
            if not 0 < float(self.fov_deg) < 180:
                raise ValueError(f"Keyframe.fov_deg: expected a value in (0, 180) degrees, got {self.fov_deg}")
            object.__setattr__(self, "fov_deg", float(self.fov_deg))
        if self.time is not None:
            if not math.isfinite(float(self.time)):
                raise ValueError(f"Keyframe.time: expected a finite number of seconds, got {self.time}")
            object.__setattr__(self, "time", float(self.time))

    @property
    def position(self) -> Tensor:
        """Camera centre in the world, metres. Shape (3,)."""
        return self.c2w[:3, 3]


@dataclass(frozen=True)
class InterpolationSettings:
    """How keyframes become frames.

    tension: Kochanek-Bartels tension for positions, FOV and the SQUAD rotation controls (0 = Catmull-Rom,
        1 = zero tangents); in [-1, 1].
    closed: the path returns from the last keyframe to the first (a loop; the last frame stops one step short of
        the first so the video loops without a repeated frame).
    timing: "arc" = constant speed along the path: metres of travel where the camera translates, radians of
        rotation (1 rad like 1 m) in segments that turn in place, FOV for zoom-only paths (the exact rule:
        `realcam.trajectory.interpolate._arc_parameterisation`),
        "keys" = keyframe times (uniform when keyframes have no times).
    ease: "none", "in", "out" or "in-out" over the whole path.
    pivot: optional world point (metres). When set, the camera-frame offset of the pivot is interpolated instead of
        the position, so cameras that look at / orbit the pivot keep their distance to it exactly.
    """

    tension: float = 0.0
    closed: bool = False
    timing: Timing = "arc"
    ease: Ease = "none"
    pivot: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        if not -1.0 <= float(self.tension) <= 1.0:
            raise ValueError(f"tension: expected a value in [-1, 1], got {self.tension}")
        if self.timing not in ("arc", "keys"):
            raise ValueError(f"timing: expected 'arc' or 'keys', got {self.timing!r}")
        if self.ease not in ("none", "in", "out", "in-out"):
            raise ValueError(f"ease: expected 'none', 'in', 'out' or 'in-out', got {self.ease!r}")
        if self.pivot is not None:
            pivot = tuple(float(x) for x in self.pivot)
            if len(pivot) != 3 or not all(math.isfinite(x) for x in pivot):
                raise ValueError(f"pivot: expected 3 finite coordinates in metres, got {self.pivot}")
            object.__setattr__(self, "pivot", pivot)


@dataclass(frozen=True, eq=False)
class Trajectory:
    """Keyframes plus interpolation settings and optional intrinsics; `sample(n)` gives n frames."""

    keyframes: tuple[Keyframe, ...]
    settings: InterpolationSettings = field(default_factory=InterpolationSettings)
    intrinsics: Intrinsics | None = None

    def __post_init__(self) -> None:
        keyframes = tuple(self.keyframes)
        if not keyframes:
            raise ValueError("keyframes: a trajectory needs at least one keyframe")
        if not all(isinstance(k, Keyframe) for k in keyframes):
            raise ValueError("keyframes: expected Keyframe instances")
        object.__setattr__(self, "keyframes", keyframes)
        times = [k.time for k in keyframes]
        if self.settings.timing == "keys" and any(t is not None for t in times):
            if any(t is None for t in times):
                raise ValueError("keyframes: with timing='keys', either every keyframe has a time or none has")
            if any(b <= a for a, b in zip(times, times[1:])):
                raise ValueError(f"keyframes: times must increase strictly, got {times}")

    def sample(self, num_frames: int = DEFAULT_NUM_FRAMES) -> SampledTrajectory:
        """Frames along the path. Shapes: -> c2w (f 4 4) float64, fov_deg (f,) or None."""
        from realcam.trajectory.interpolate import sample_trajectory

        return sample_trajectory(self, num_frames)

    def c2w(self) -> Tensor:
        """Keyframe poses stacked. Shape (k 4 4) float64."""
        return torch.stack([k.c2w for k in self.keyframes])

    def transformed(self, T: Tensor) -> Trajectory:
        """Whole-path rigid transform: every keyframe c2w becomes T·c2w (T (4 4), world -> new world)."""
        T = T.to(torch.float64)
        keys = tuple(Keyframe(T @ k.c2w, k.fov_deg, k.time) for k in self.keyframes)
        pivot = self.settings.pivot
        if pivot is not None:
            p = T[:3, :3] @ torch.tensor(pivot, dtype=torch.float64) + T[:3, 3]
            return Trajectory(keys, replace(self.settings, pivot=tuple(p.tolist())), self.intrinsics)
        return Trajectory(keys, self.settings, self.intrinsics)

    def relative_to_first(self) -> Trajectory:
        """The same path with keyframe 0 at the identity (poses relative to the condition camera)."""
        return self.transformed(invert_se3(self.keyframes[0].c2w))


@dataclass(frozen=True, eq=False)
class SampledTrajectory:
    """Frames of a trajectory: c2w (f 4 4) float64 OpenCV metres, optional vertical FOV per frame (f,) degrees."""

    c2w: Tensor
    fov_deg: Tensor | None = None
    intrinsics: Intrinsics | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.c2w, Tensor) or self.c2w.ndim != 3 or self.c2w.shape[-2:] != (4, 4):
            raise ValueError(f"c2w: expected shape (f 4 4), got {getattr(self.c2w, 'shape', type(self.c2w))}")
        object.__setattr__(self, "c2w", self.c2w.to(torch.float64))
        if self.fov_deg is not None:
            fov = torch.as_tensor(self.fov_deg, dtype=torch.float64)
            if fov.shape != (self.c2w.shape[0],):
                raise ValueError(f"fov_deg: expected shape ({self.c2w.shape[0]},), got {tuple(fov.shape)}")
            object.__setattr__(self, "fov_deg", fov)

    @property
    def num_frames(self) -> int:
        return int(self.c2w.shape[0])

    @property
    def w2c(self) -> Tensor:
        """World-to-camera matrices. Shape (f 4 4)."""
        return invert_se3(self.c2w)

    def K_for(self, height: int, width: int, default_fov_deg: float = DEFAULT_FOV_DEG) -> Tensor:
        """Per-frame K (f 3 3) float64 in pixels of a height×width image.

        Precedence: per-frame FOV (vertical: sets fy; fx keeps the intrinsics' pixel aspect fx/fy, 1 without
        intrinsics) with the principal point of the intrinsics (or the image centre); else the intrinsics adapted to
        height×width by resize-to-cover + centre-crop; else `default_fov_deg`. A FOV change is a zoom: it scales fx
        and fy together, so non-square pixels (or a nominal width rounded to whole pixels) stay as they were.
        """
        f = self.num_frames
        if self.intrinsics is not None:
            base = self.intrinsics.K_for(height, width).expand(f, 3, 3).clone()
        else:
            base = K_from_fov(height, width, default_fov_deg).expand(f, 3, 3).clone()
        if self.fov_deg is not None:
            focal = 0.5 * height / torch.tan(torch.deg2rad(self.fov_deg) / 2)
            base[:, 0, 0] = focal * (base[:, 0, 0] / base[:, 1, 1])
            base[:, 1, 1] = focal
        return base
