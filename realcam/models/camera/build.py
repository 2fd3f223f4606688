"""Assemble the per-generation camera condition: pose-encoder features + epipolar masks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from realcam.models.camera.condition import CameraCondition
from realcam.models.camera.epipolar import epipolar_masks
from realcam.models.camera.pose_encoder import CameraPoseEncoder


def build_camera_condition(
    pose_encoder: CameraPoseEncoder,
    plucker: Tensor,
    rel_c2w: Tensor,
    K: Tensor,
    height: int,
    width: int,
    strides: Sequence[int],
    generator: torch.Generator | None,
) -> CameraCondition:
    """Run the pose encoder once and build the epipolar masks once; both are reused at every denoising step.

    Shapes: plucker (b 6 f H W) built from the same scaled `rel_c2w` (b f 4 4) and K (b f 3 3, pixels of H x W);
    height, width = H, W. `strides` are the mask strides (64, 32, 16, 8 for the 256 model; 64, 32, 16 for 512: the
    missing stride means full attention). `generator` feeds the zero-translation perturbation of the masks.
    """
    if plucker.ndim != 5 or plucker.shape[-2:] != (height, width):
        raise ValueError(f"plucker must be (b 6 f {height} {width}), got {tuple(plucker.shape)}")
    if plucker.shape[0] != rel_c2w.shape[0] or plucker.shape[2] != rel_c2w.shape[1]:
        raise ValueError(
            f"plucker (b 6 f H W) {tuple(plucker.shape)} and rel_c2w (b f 4 4) {tuple(rel_c2w.shape)} disagree on b, f"
        )
    features = pose_encoder(plucker)
    masks = epipolar_masks(rel_c2w, K, height, width, strides, generator=generator)
    return CameraCondition(features=tuple(features), epipolar_masks=masks, origin_hw=(height, width))
