"""Metric read-outs of a trajectory: path length (m), speeds (m/s), angular speeds (deg/s), and warnings."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from realcam.geometry.se3 import rotation_angle_deg
from realcam.trajectory.keyframes import SampledTrajectory, Trajectory

__all__ = ["PathStats", "SegmentStats", "keyframe_segment_lengths", "keyframe_segment_stats", "path_stats"]

# Thresholds for warnings. The model was trained on RealEstate10K clips, whose cameras move smoothly.
MAX_DEG_PER_FRAME = 15.0
MAX_FOV_CHANGE_DEG_PER_FRAME = 10.0


@dataclass(frozen=True)
class PathStats:
    """Read-outs of sampled frames played at `fps`.

    segment_lengths_m: camera travel between consecutive frames (f−1 values), metres (chords between frames).
    total_length_m: their sum. duration_s = (f−1)/fps.
    max_speed_mps / mean_speed_mps: per-step travel × fps / total over the duration.
    max_angular_speed_dps / mean_angular_speed_dps: rotation angle between consecutive frames × fps, degrees/s.
    total_rotation_deg: sum of those angles. max_distance_from_start_m: farthest camera centre from frame 0.
    fov_range_deg: (min, max) vertical FOV when the frames carry FOVs, else None.
    warnings: human-readable problems (fast rotation, no motion, ...).
    """

    num_frames: int
    fps: float
    duration_s: float
    total_length_m: float
    segment_lengths_m: tuple[float, ...]
    max_speed_mps: float
    mean_speed_mps: float
    max_angular_speed_dps: float
    mean_angular_speed_dps: float
    total_rotation_deg: float
    max_distance_from_start_m: float
    fov_range_deg: tuple[float, float] | None
    warnings: tuple[str, ...]


def _step_angles_deg(c2w: Tensor) -> Tensor:
    relative = c2w[:-1, :3, :3].transpose(-1, -2) @ c2w[1:, :3, :3]
    return rotation_angle_deg(relative)


def path_stats(sampled: SampledTrajectory, fps: float) -> PathStats:
    """Metric read-outs of sampled frames at `fps` frames per second (the reference app writes 8 fps videos)."""
    if not fps > 0:
        raise ValueError(f"fps: expected a positive number, got {fps}")
    c2w = sampled.c2w
    f = c2w.shape[0]
    positions = c2w[:, :3, 3]
    steps = (positions[1:] - positions[:-1]).norm(dim=-1)
    angles = _step_angles_deg(c2w) if f > 1 else torch.zeros(0, dtype=torch.float64)
    duration = (f - 1) / fps
    total = float(steps.sum())
    total_rotation = float(angles.sum())
    fov_range = None
    warnings: list[str] = []
    if sampled.fov_deg is not None:
        fov_range = (float(sampled.fov_deg.min()), float(sampled.fov_deg.max()))
        if f > 1:
            fov_step = float((sampled.fov_deg[1:] - sampled.fov_deg[:-1]).abs().max())
            if fov_step > MAX_FOV_CHANGE_DEG_PER_FRAME:
                warnings.append(
                    f"FOV changes by up to {fov_step:.1f}° between frames (> {MAX_FOV_CHANGE_DEG_PER_FRAME}°)"
                )
    if f > 1 and float(angles.max()) > MAX_DEG_PER_FRAME:
        warnings.append(
            f"fast rotation: up to {float(angles.max()):.1f}° between frames (> {MAX_DEG_PER_FRAME}°); "
            "the model saw smooth RealEstate10K motion"
        )
    if f > 1 and total < 1e-9 and total_rotation < 1e-9 and (fov_range is None or fov_range[0] == fov_range[1]):
        warnings.append("the camera does not move")
    if f == 1:
        warnings.append("a single frame: no motion to measure")
    if f != 16:
        warnings.append(f"{f} frames; the model generates 16 (the path will be resampled)")
    return PathStats(
        num_frames=f,
        fps=float(fps),
        duration_s=duration,
        total_length_m=total,
        segment_lengths_m=tuple(float(s) for s in steps),
        max_speed_mps=float(steps.max()) * fps if f > 1 else 0.0,
        mean_speed_mps=total / duration if f > 1 else 0.0,
        max_angular_speed_dps=float(angles.max()) * fps if f > 1 else 0.0,
        mean_angular_speed_dps=total_rotation / duration if f > 1 else 0.0,
        total_rotation_deg=total_rotation,
        max_distance_from_start_m=float((positions - positions[:1]).norm(dim=-1).max()),
        fov_range_deg=fov_range,
        warnings=tuple(warnings),
    )


def keyframe_segment_lengths(trajectory: Trajectory, samples_per_segment: int = 256) -> Tensor:
    """Arc length (m) of each segment between consecutive keyframes of the interpolated path (the closing segment
    included for loops), by dense sampling. Shape (s,)."""
    from realcam.trajectory.interpolate import evaluate

    n = len(trajectory.keyframes)
    num_segments = n if trajectory.settings.closed and n > 1 else n - 1
    lengths = []
    for i in range(num_segments):
        u = torch.linspace(i, i + 1, samples_per_segment + 1, dtype=torch.float64)
        c2w, _ = evaluate(trajectory, u)
        lengths.append((c2w[1:, :3, 3] - c2w[:-1, :3, 3]).norm(dim=-1).sum())
    return torch.stack(lengths) if lengths else torch.zeros(0, dtype=torch.float64)


@dataclass(frozen=True)
class SegmentStats:
    """Read-outs of the interpolated path between keyframe `start` and keyframe `end` (0 for a loop's closing
    segment), played as `num_frames` frames at `fps`.

    length_m: arc length of the camera centre (metres); rotation_deg: rotation accumulated along the segment.
    start_s / duration_s: when the segment starts and how long it lasts, following the path's timing and easing.
    speed_mps / angular_speed_dps: mean over the segment (length / duration, rotation / duration); None when the
    segment takes no time (a single frame, or a keyframe time step of zero).
    """

    start: int
    end: int
    length_m: float
    rotation_deg: float
    start_s: float
    duration_s: float
    speed_mps: float | None
    angular_speed_dps: float | None


def keyframe_segment_stats(
    trajectory: Trajectory, num_frames: int, fps: float, samples_per_segment: int = 256
) -> tuple[SegmentStats, ...]:
    """Length, rotation, timing and mean speeds of each segment between consecutive keyframes.

    Playback: `num_frames` frames at `fps`, so an open path lasts (f−1)/fps seconds (first to last frame, as in
    `path_stats`) and a loop f/fps (back to its first frame). A segment's duration is the playback time between the
    spline parameters of its two keyframes under the path's timing and easing. Lengths and rotations are measured by
    dense sampling (`samples_per_segment` steps), like `keyframe_segment_lengths`.
    """
    from realcam.trajectory.interpolate import evaluate, keyframe_playback_fractions

    if int(num_frames) != num_frames or num_frames < 1:
        raise ValueError(f"num_frames: expected a positive integer, got {num_frames}")
    if not fps > 0:
        raise ValueError(f"fps: expected a positive number, got {fps}")
    n = len(trajectory.keyframes)
    closed = trajectory.settings.closed
    num_segments = n if closed and n > 1 else n - 1
    if num_segments == 0:
        return ()
    total_s = (num_frames if closed else num_frames - 1) / fps
    boundaries = keyframe_playback_fractions(trajectory) * total_s
    stats = []
    for i in range(num_segments):
        grid = torch.linspace(i, i + 1, samples_per_segment + 1, dtype=torch.float64)
        c2w, _ = evaluate(trajectory, grid)
        length = float((c2w[1:, :3, 3] - c2w[:-1, :3, 3]).norm(dim=-1).sum())
        rotation = float(_step_angles_deg(c2w).sum())
        duration = float(boundaries[i + 1] - boundaries[i])
        moving = duration > 1e-12
        stats.append(
            SegmentStats(
                start=i,
                end=(i + 1) % n,
                length_m=length,
                rotation_deg=rotation,
                start_s=float(boundaries[i]),
                duration_s=duration,
                speed_mps=length / duration if moving else None,
                angular_speed_dps=rotation / duration if moving else None,
            )
        )
    return tuple(stats)
