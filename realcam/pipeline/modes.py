"""Generation modes beyond plain image-to-video (spec §7; docs/modes.md says what the released weights support).

- interp: a second (end) image conditions the last frame through the concat layout of the reference's `interp_mode`
  (frame 0 = start latent, frame f-1 = end latent, zeros between; CLIP tokens from the start image). `RealCamPipeline`
  does it with `GenerationSettings(mode="interp")` and `end_image=`.
- loop: interp with end image = start image, on a path that returns to its start (`loop_trajectory`).
- continuation: `generate_long` chains clips along ONE trajectory through the SAME metric point cloud; each clip
  after the first takes its first `overlap` frames from the previous clip (the reference's paste-overlap).
The released RealCam-I2V weights were trained only for image-to-video with the condition in frame 0; interp/loop
use a concat layout they never saw, and continuation relies on the sampler-side paste alone.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from realcam.geometry.se3 import invert_se3, rotation_angle_deg
from realcam.pipeline.sampling import Continuation
from realcam.trajectory.keyframes import SampledTrajectory

if TYPE_CHECKING:
    from realcam.pipeline.i2v import (
        GenerationResult,
        GenerationSettings,
        PreparedImage,
        RealCamPipeline,
        TrajectoryLike,
    )
    from realcam.scene.pointcloud import PointCloud

# A path "returns to its start" when the last camera is within these of the first.
LOOP_TOLERANCE_M = 0.01
LOOP_TOLERANCE_DEG = 1.0


def is_closed(sampled: SampledTrajectory) -> bool:
    """Whether the last camera is within 1 cm and 1 degree of the first."""
    delta = invert_se3(sampled.c2w[0]) @ sampled.c2w[-1]
    return bool(delta[:3, 3].norm() <= LOOP_TOLERANCE_M and rotation_angle_deg(delta[:3, :3]) <= LOOP_TOLERANCE_DEG)


def loop_trajectory(sampled: SampledTrajectory) -> SampledTrajectory:
    """A path for loop mode: kept as is when it already returns to its start (`is_closed`), else made out-and-back:
    f/2 cameras spread evenly along the path (first and last included), then the same cameras in reverse, so the
    last frame is the first camera again (the turnaround camera repeats once). Shapes: c2w (f 4 4) -> (f 4 4)."""
    if is_closed(sampled):
        return sampled
    f = sampled.num_frames
    half = f // 2
    index = torch.linspace(0, f - 1, half).round().long()
    order = torch.cat([index, index.flip(0)])
    if f % 2:  # odd length: hold the start camera once more at the end
        order = torch.cat([order, index[:1]])
    fov = sampled.fov_deg[order] if sampled.fov_deg is not None else None
    return SampledTrajectory(c2w=sampled.c2w[order], fov_deg=fov, intrinsics=sampled.intrinsics)


@dataclass(frozen=True)
class LongResult:
    """A chained video. Shapes: frames (F H W 3) uint8 with F = f + (segments-1)·(f - overlap); segments: the clips."""

    frames: Tensor
    segments: list[GenerationResult]
    metadata: dict[str, Any]


def generate_long(
    pipe: RealCamPipeline,
    image: np.ndarray | str,
    trajectory: TrajectoryLike,
    settings: GenerationSettings,
    *,
    segments: int,
    overlap: int = 4,
    K: Tensor | None = None,
    depth: Tensor | None = None,
) -> LongResult:
    """Chain `segments` clips along one trajectory sampled at F frames, through one metric point cloud.

    Clip s covers global frames [s·(f−k), s·(f−k)+f). Its condition image is the previous clip's frame at its start,
    its cameras are relative to that frame (metric, same scale), its preview renders the original cloud from the
    global cameras, and its first k latents are pasted from the previous clip (`Continuation`). Seeds: clip s uses
    settings.seed + s. Without `depth` the depth network runs once, on the start image. One progress bar covers the
    steps of all clips (`pipe.set_progress_bar_config`).
    """
    from realcam.pipeline.i2v import resolve_trajectory

    if settings.mode != "i2v":
        raise ValueError(f"continuation chains image-to-video clips; mode must be 'i2v', got {settings.mode!r}")
    f = pipe.model.config.frames
    if not 1 <= overlap < f:
        raise ValueError(f"overlap must be in [1, {f - 1}], got {overlap}")
    if segments < 1:
        raise ValueError(f"segments must be >= 1, got {segments}")
    stride = f - overlap
    total = f + (segments - 1) * stride
    path = resolve_trajectory(trajectory, total)
    prepared = pipe.prepare_image(image, K)
    world_c2w, world_K = pipe.cameras(path, prepared.K, settings.translation_scale)
    with pipe.progress_bar(settings.steps * segments):
        depth_start = time.perf_counter()
        depth_map = pipe._depth(prepared, depth)  # estimated once, reused by the first clip and the shared cloud
        depth_s = time.perf_counter() - depth_start
        first = pipe(image, _window(path, 0, f), settings, K=K, depth=depth_map)
        cloud = pipe.build_scene(
            prepared, depth_map, remove_outliers=settings.remove_outliers, outlier_statistic=settings.outlier_statistic
        )
        results = _chain(pipe, first, cloud, prepared, world_c2w, world_K, settings, segments=segments, overlap=overlap)
    frames = torch.cat([results[0].frames, *[r.frames[overlap:] for r in results[1:]]], dim=0)
    metadata = {"segments": segments, "overlap": overlap, "frames": int(frames.shape[0]), **first.metadata}
    metadata["depth_source"] = "given" if depth is not None else "model"
    metadata["timings_s"] = {**metadata["timings_s"], "depth": round(depth_s, 4)}
    return LongResult(frames=frames, segments=results, metadata=metadata)


def _chain(
    pipe: RealCamPipeline,
    first: GenerationResult,
    cloud: PointCloud,
    prepared: PreparedImage,
    world_c2w: Tensor,
    world_K: Tensor,
    settings: GenerationSettings,
    *,
    segments: int,
    overlap: int,
) -> list[GenerationResult]:
    """Clips 1..segments-1 of `generate_long` after `first`. Shapes: world_c2w (F 4 4), world_K (F 3 3)."""
    from realcam.pipeline.i2v import GenerationResult, PreparedImage

    f = pipe.model.config.frames
    stride = f - overlap
    results = [first]
    for s in range(1, segments):
        start = s * stride
        previous = results[-1]
        rgb = previous.frames[stride].numpy()
        pixels = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        seg_image = PreparedImage(rgb=rgb, pixels=pixels, K=prepared.K)
        c2w, K_frames = world_c2w[start : start + f], world_K[start : start + f]
        seg_settings = dataclasses.replace(settings, seed=settings.seed + s)
        generator = torch.Generator().manual_seed(seg_settings.seed)
        preview = pipe.render_preview(cloud, c2w, K_frames, settings.shaping)
        conditions = pipe.encode_conditions(seg_image, preview, seg_settings, generator)
        relative = invert_se3(c2w[:1]) @ c2w  # translations already scaled: scaling commutes with this
        camera = pipe.build_camera_condition(relative, K_frames, generator)
        known = Continuation(previous.latents[:, :, stride:].to(pipe.device))
        latents = pipe.denoise(conditions, camera, preview, seg_settings, generator, continuation=known)
        frames = pipe.decode(latents, settings.decode_chunk)
        metadata = {
            "segment": s,
            "global_frames": [start, start + f],
            "coverage_per_frame": [round(float(x), 4) for x in preview.coverage],
        }
        results.append(GenerationResult(frames, latents.cpu(), preview, relative, K_frames, metadata))
    return results


def _window(path: SampledTrajectory, start: int, length: int) -> SampledTrajectory:
    fov = path.fov_deg[start : start + length] if path.fov_deg is not None else None
    return SampledTrajectory(c2w=path.c2w[start : start + length], fov_deg=fov, intrinsics=path.intrinsics)
