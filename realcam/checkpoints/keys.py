"""What each state-dict key is: which component of the model it belongs to and which released file supplies it.

The key names are the reference's (RealCam-I2V / DynamiCrafter), so these rules are the interface between realcam's
modules and the released checkpoints.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from realcam.diffusion.schedule import REFERENCE_BUFFER_NAMES

# Sources, as in the reference key table.
DC_BASE = "DC_BASE"  # DynamiCrafter model.ckpt["state_dict"] (after the framestride_embed -> fps_embedding rename)
REALCAM = "REALCAM"  # RealCam-I2V add-on .safetensors: the trained camera plugin
DEPTH = "DEPTH"  # Depth-Anything-V2 metric .pth (+ the two normaliser buffers, which realcam adds itself)

# Component -> state-dict prefix, in the order reports list them.
COMPONENT_PREFIXES = (
    ("unet", "model.diffusion_model."),
    ("pose_encoder", "pose_encoder."),
    ("vae", "first_stage_model."),
    ("text_encoder", "cond_stage_model."),
    ("image_encoder", "embedder."),
    ("resampler", "image_proj_model."),
    ("depth", "depth_predictor."),
)
# The diffusion schedule's buffers (`realcam.diffusion.schedule`) plus the 512 model's dynamic-rescale `scale_arr`.
SCHEDULE_BUFFERS = (*REFERENCE_BUFFER_NAMES, "scale_arr")
DEPTH_NORMALIZER_KEYS = ("depth_predictor_normalizer_mean", "depth_predictor_normalizer_std")
# The camera plugin's keys inside the UNet: two submodules of each temporal transformer block.
CAMERA_UNET_MARKERS = (".pluker_projection.", ".epipolar.")


def is_camera_key(key: str) -> bool:
    """True for the trained camera plugin: the pose encoder and the submodules injected into the UNet."""
    return key.startswith("pose_encoder.") or any(marker in key for marker in CAMERA_UNET_MARKERS)


def component_of(key: str) -> str:
    """Component name of a state-dict key: 'camera_plugin' (pose encoder + injected UNet parts), 'unet', 'vae',
    'text_encoder', 'image_encoder', 'resampler', 'depth', 'schedule', or 'other'."""
    if is_camera_key(key):
        return "camera_plugin"
    if key in DEPTH_NORMALIZER_KEYS:
        return "depth"
    if key in SCHEDULE_BUFFERS:
        return "schedule"
    for name, prefix in COMPONENT_PREFIXES:
        if key.startswith(prefix):
            return name
    return "other"


def source_of(key: str) -> str:
    """Which released file supplies the key: DC_BASE, REALCAM or DEPTH."""
    if is_camera_key(key):
        return REALCAM
    if key.startswith("depth_predictor"):
        return DEPTH
    return DC_BASE


def group_by_component(keys: Iterable[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        groups[component_of(key)].append(key)
    return dict(groups)
