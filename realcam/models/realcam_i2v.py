"""The whole RealCam-I2V model: DynamiCrafter backbone + CamI2V camera plugin + Depth-Anything-V2 metric depth.

Attribute names follow the reference's state-dict prefixes (`model.diffusion_model.`, `first_stage_model.`,
`cond_stage_model.`, `embedder.`, `image_proj_model.`, `pose_encoder.`, `depth_predictor.`, schedule buffers), so the
released files load strictly into `RealCamI2V.state_dict()` (see realcam.checkpoints). The module only holds weights;
sampling lives in realcam.diffusion and orchestration in realcam.pipeline.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from realcam.diffusion.schedule import DiffusionSchedule
from realcam.models.camera.pose_encoder import CameraPoseEncoder, PoseEncoderConfig
from realcam.models.depth.depth_anything import IMAGENET_MEAN, IMAGENET_STD, DepthAnythingConfig, DepthAnythingV2
from realcam.models.encoders.clip_config import OpenCLIPConfig
from realcam.models.encoders.clip_image import CLIPImageEmbedder
from realcam.models.encoders.clip_text import CLIPTextEncoder
from realcam.models.encoders.resampler import Resampler, ResamplerConfig
from realcam.models.unet.unet import UNetConfig, UNetModel
from realcam.models.vae import AutoencoderKL, AutoencoderKLConfig


@dataclass(frozen=True)
class RealCamI2VConfig:
    """Every size and setting of one RealCam-I2V model.

    Fields:
        name: preset name ("256", "512") or a free label for custom configs.
        pixel_hw: video size (H, W) the model generates: (256, 256) or (320, 512).
        frames: clip length (16).
        epipolar_strides: pixel strides with an epipolar mask (64, 32, 16, 8 for 256; 64, 32, 16 for 512, whose finest
            level uses full attention, reference behaviour).
        parameterization / zero_terminal_snr / use_dynamic_rescale / base_scale: the diffusion setup (§3).
        fps_condition_type: "fs" (256: frame stride) or "fps" (512: frames per second) for the fs embedding.
        default_fs: value used when the caller gives none.
        depth: the metric depth network, or None for a model without one.
    """

    name: str
    pixel_hw: tuple[int, int]
    unet: UNetConfig
    vae: AutoencoderKLConfig
    clip: OpenCLIPConfig
    resampler: ResamplerConfig
    pose_encoder: PoseEncoderConfig
    depth: DepthAnythingConfig | None
    epipolar_strides: tuple[int, ...]
    parameterization: Literal["eps", "v"]
    zero_terminal_snr: bool
    use_dynamic_rescale: bool
    base_scale: float
    fps_condition_type: Literal["fs", "fps"]
    default_fs: int
    frames: int = 16
    linear_start: float = 0.00085
    linear_end: float = 0.012
    timesteps: int = 1000

    def __post_init__(self) -> None:
        h, w = self.pixel_hw
        f = self.vae.downsample_factor
        if h % (8 * f) or w % (8 * f):  # latent must be divisible by the UNet's 3 downsamplings
            raise ValueError(f"pixel_hw {self.pixel_hw} must be multiples of {8 * f}")

    @property
    def latent_hw(self) -> tuple[int, int]:
        f = self.vae.downsample_factor
        return self.pixel_hw[0] // f, self.pixel_hw[1] // f

    @classmethod
    def preset(cls, name: str, *, depth: str | None = "indoor") -> RealCamI2VConfig:
        """The released models: '256' (256x256, eps, frame stride) or '512' (512x320, v + zero-terminal SNR, fps).
        `depth` is 'indoor' (Hypersim, 20 m), 'outdoor' (VKITTI, 80 m) or None."""
        if name not in ("256", "512"):
            raise ValueError(f"model must be '256' or '512', got {name!r}")
        depth_config = {"indoor": DepthAnythingConfig.vitl_hypersim, "outdoor": DepthAnythingConfig.vitl_vkitti}
        if depth is not None and depth not in depth_config:
            raise ValueError(f"depth must be 'indoor', 'outdoor' or None, got {depth!r}")
        is_256 = name == "256"
        return cls(
            name=name,
            pixel_hw=(256, 256) if is_256 else (320, 512),
            unet=UNetConfig.preset(name),
            vae=AutoencoderKLConfig.kl_f8(),
            clip=OpenCLIPConfig.vit_h_14(),
            resampler=ResamplerConfig.dynamicrafter(),
            pose_encoder=PoseEncoderConfig.full(),
            depth=depth_config[depth]() if depth else None,
            epipolar_strides=(64, 32, 16, 8) if is_256 else (64, 32, 16),
            parameterization="eps" if is_256 else "v",
            zero_terminal_snr=not is_256,
            use_dynamic_rescale=not is_256,
            base_scale=1.0 if is_256 else 0.7,
            fps_condition_type="fs" if is_256 else "fps",
            default_fs=3 if is_256 else 10,
        )

    @classmethod
    def from_reference(
        cls,
        model_params: dict[str, Any],
        *,
        pixel_hw: tuple[int, int],
        clip: dict[str, Any] | None = None,
        depth_encoder: dict[str, Any] | None = None,
        name: str = "custom",
    ) -> RealCamI2VConfig:
        """Build from a reference YAML's `model.params` (field names as in the reference configs).

        `clip` is an OpenCLIP model config dict (default ViT-H-14), `depth_encoder` a DINOv2 description overriding the
        named depth encoder's sizes (used by small test models)."""
        p = model_params
        epipolar = p["epipolar_config"]
        origin = (int(epipolar["origin_h"]), int(epipolar["origin_w"]))
        if origin != tuple(pixel_hw):
            raise ValueError(f"epipolar origin {origin} differs from pixel_hw {tuple(pixel_hw)}")
        unet = UNetConfig.from_reference_model_params(p)
        depth = None
        if "depth_predictor_config" in p:
            depth = DepthAnythingConfig.from_reference_params(p["depth_predictor_config"]["params"], depth_encoder)
        return cls(
            name=name,
            pixel_hw=(int(pixel_hw[0]), int(pixel_hw[1])),
            unet=unet,
            vae=AutoencoderKLConfig.from_reference_params(
                p["first_stage_config"]["params"], scale_factor=p.get("scale_factor", 0.18215)
            ),
            clip=OpenCLIPConfig.from_reference_params(clip) if clip else OpenCLIPConfig.vit_h_14(),
            resampler=ResamplerConfig.from_reference_params(p["image_proj_stage_config"]["params"]),
            pose_encoder=PoseEncoderConfig.from_reference_params(p["pose_encoder_config"]["params"]),
            depth=depth,
            epipolar_strides=tuple(sorted((8 * int(a) for a in epipolar["attention_resolution"]), reverse=True)),
            parameterization=p.get("parameterization", "eps"),
            zero_terminal_snr=bool(p.get("rescale_betas_zero_snr", False)),
            use_dynamic_rescale=bool(p.get("use_dynamic_rescale", False)),
            base_scale=float(p.get("base_scale", 1.0)),
            fps_condition_type=p.get("fps_condition_type", "fs"),
            default_fs=int(unet.default_fs),
            linear_start=float(p.get("linear_start", 0.00085)),
            linear_end=float(p.get("linear_end", 0.012)),
            timesteps=int(p.get("timesteps", 1000)),
        )

    def schedule(self) -> DiffusionSchedule:
        """The diffusion schedule of this model (float64 arrays)."""
        return DiffusionSchedule.make(
            self.parameterization,
            zero_terminal_snr=self.zero_terminal_snr,
            timesteps=self.timesteps,
            linear_start=self.linear_start,
            linear_end=self.linear_end,
            dynamic_rescale_base_scale=self.base_scale if self.use_dynamic_rescale else None,
        )

    def without_depth(self) -> RealCamI2VConfig:
        return dataclasses.replace(self, depth=None)


class RealCamI2V(nn.Module):
    """All weights of RealCam-I2V under the reference's state-dict names. Device and dtype belong to the caller."""

    def __init__(self, config: RealCamI2VConfig) -> None:
        super().__init__()
        self.config = config
        self.model = nn.Module()  # the reference's DiffusionWrapper: only holds the UNet
        self.model.diffusion_model = UNetModel(config.unet)
        self.first_stage_model = AutoencoderKL(config.vae)
        self.cond_stage_model = CLIPTextEncoder(config.clip)
        self.embedder = CLIPImageEmbedder(config.clip)
        self.image_proj_model = Resampler(config.resampler)
        self.pose_encoder = CameraPoseEncoder(config.pose_encoder)
        if config.depth is not None:
            self.depth_predictor = DepthAnythingV2(config.depth)
            self.register_buffer("depth_predictor_normalizer_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            self.register_buffer("depth_predictor_normalizer_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.reset_schedule_buffers()

    @property
    def unet(self) -> UNetModel:
        return self.model.diffusion_model

    def reset_schedule_buffers(self) -> None:
        """(Re-)register the schedule buffers from the config. The reference does this after loading the 512 model,
        overwriting the base checkpoint's buffers with the zero-terminal-SNR ones (spec §2.2 step 6)."""
        device = next(self.parameters()).device
        for name, value in self.config.schedule().reference_buffers().items():
            self.register_buffer(name, value.to(device) if device.type != "meta" else value.to("meta"))


def expected_state_shapes(config: RealCamI2VConfig) -> dict[str, tuple[int, ...]]:
    """`{key: shape}` of the model's state dict, computed on the `meta` device (no memory, no weights)."""
    with torch.device("meta"):
        model = RealCamI2V(config)
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Parameters per component (camera plugin counted separately from the UNet base)."""
    from realcam.checkpoints.keys import component_of

    counts: dict[str, int] = {}
    for key, param in model.named_parameters():
        component = component_of(key)
        counts[component] = counts.get(component, 0) + param.numel()
    return counts
