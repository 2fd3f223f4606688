"""Merging the three released files into one RealCam-I2V state dict (reference loading order, spec §2.2).

base (DynamiCrafter model.ckpt, renamed) ∪ RealCam-I2V file (later wins) ∪ `depth_predictor.` + Depth-Anything-V2 .pth
∪ the ImageNet normaliser buffers. The RealCam file may be the camera plugin alone ("add-on") or a full state dict;
`realcam_file_kind` tells which.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from realcam.checkpoints.keys import DEPTH_NORMALIZER_KEYS, is_camera_key

FULL_MODEL_PROBE_KEY = "model.diffusion_model.input_blocks.0.0.weight"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def realcam_file_kind(state_dict: Mapping[str, Tensor]) -> str:
    """'full' if the RealCam file carries the base UNet too, 'addon' if it holds only the camera plugin (and optionally
    the depth model), 'unknown' otherwise (e.g. an unrelated file)."""
    if FULL_MODEL_PROBE_KEY in state_dict:
        return "full"
    keys = [k for k in state_dict if not k.startswith("depth_predictor")]
    if keys and all(is_camera_key(k) for k in keys):
        return "addon"
    return "unknown"


def depth_normalizer_buffers() -> dict[str, Tensor]:
    """The two (1 3 1 1) ImageNet buffers the reference registers next to the depth model."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)
    return dict(zip(DEPTH_NORMALIZER_KEYS, (mean, std)))


def merge_realcam_state_dicts(
    base: Mapping[str, Tensor] | None,
    realcam: Mapping[str, Tensor] | None,
    depth: Mapping[str, Tensor] | None,
) -> dict[str, Tensor]:
    """Merge in the reference order; later sources override earlier ones.

    Args:
        base: DynamiCrafter state dict with realcam names (`read_dynamicrafter_base`), or None when `realcam` is full.
        realcam: the RealCam-I2V add-on or full state dict, or None for the camera-free base model.
        depth: the Depth-Anything-V2 `.pth` state dict (keys `pretrained.*`, `depth_head.*`), or None.
    """
    merged: dict[str, Tensor] = dict(base or {})
    merged.update(realcam or {})
    if depth is not None:
        merged.update({f"depth_predictor.{key}": value for key, value in depth.items()})
        for key, value in depth_normalizer_buffers().items():
            merged.setdefault(key, value)
    return merged
