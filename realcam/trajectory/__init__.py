"""Camera trajectories: keyframes -> frames (SO(3) SQUAD + Kochanek-Bartels splines, arc-length timing), metric
presets, read-outs and file formats. Poses are OpenCV camera-to-world float64 in metres; FOVs vertical in degrees.

Public names are re-exported here: `Keyframe`, `InterpolationSettings`, `Intrinsics`, `Trajectory`,
`SampledTrajectory`; `make_preset`, `PRESETS`; `load_trajectory`, `save_trajectory`; `path_stats`, `PathStats`.
"""

from realcam.trajectory.io import load_trajectory, save_trajectory
from realcam.trajectory.keyframes import (
    DEFAULT_FOV_DEG,
    DEFAULT_NUM_FRAMES,
    InterpolationSettings,
    Intrinsics,
    Keyframe,
    SampledTrajectory,
    Trajectory,
)
from realcam.trajectory.metrics import PathStats, path_stats
from realcam.trajectory.presets import PRESETS, PresetSpec, make_preset

__all__ = [
    "DEFAULT_FOV_DEG",
    "DEFAULT_NUM_FRAMES",
    "PRESETS",
    "InterpolationSettings",
    "Intrinsics",
    "Keyframe",
    "PathStats",
    "PresetSpec",
    "SampledTrajectory",
    "Trajectory",
    "load_trajectory",
    "make_preset",
    "path_stats",
    "save_trajectory",
]
