"""Depth-Anything-V2 metric depth (Yang et al. 2024, arXiv:2406.09414) and the metric-depth estimator of realcam.

`DepthAnythingV2` = DINOv2 encoder (`pretrained`) + DPT head (`depth_head`) ending in max_depth * sigmoid (metres).
The released RealCam-I2V uses the Hypersim (indoor) ViT-L model with max_depth 20 m (model spec §5.1); the VKITTI
(outdoor) model uses 80 m.

`MetricDepthEstimator` wraps it with the preprocessing and the resize back to the image size. Its state-dict keys are
the reference model's own: `depth_predictor.*` and the two top-level ImageNet buffers
`depth_predictor_normalizer_{mean,std}` (1 3 1 1), so the assembler can load the reference keys into it unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from realcam.errors import CheckpointMismatchError
from realcam.models.depth.dinov2 import DinoV2Config, DinoVisionTransformer
from realcam.models.depth.dpt import DPTHead

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INDOOR_MAX_DEPTH = 20.0  # Hypersim metric model
OUTDOOR_MAX_DEPTH = 80.0  # Virtual KITTI metric model


@dataclass(frozen=True)
class DepthAnythingConfig:
    """Sizes of Depth-Anything-V2. `intermediate_layers` are the encoder blocks fed to the DPT head (increasing)."""

    encoder: DinoV2Config = field(default_factory=DinoV2Config.vitl)
    features: int = 256
    out_channels: tuple[int, ...] = (256, 512, 1024, 1024)
    max_depth: float = INDOOR_MAX_DEPTH
    intermediate_layers: tuple[int, ...] = (4, 11, 17, 23)

    def __post_init__(self) -> None:
        idx = self.intermediate_layers
        if len(idx) != 4 or list(idx) != sorted(set(idx)) or idx[0] < 0 or idx[-1] >= self.encoder.depth:
            depth = self.encoder.depth
            raise ValueError(f"intermediate_layers must be 4 increasing block indices < {depth}, got {idx}")
        if len(self.out_channels) != 4:
            raise ValueError(f"out_channels must have 4 entries, got {self.out_channels}")
        if self.max_depth <= 0:
            raise ValueError(f"max_depth must be positive, got {self.max_depth}")

    @classmethod
    def vitl_hypersim(cls) -> DepthAnythingConfig:
        """The released RealCam-I2V depth model: ViT-L, indoor, 20 m (335,315,649 parameters)."""
        return cls()

    @classmethod
    def vitl_vkitti(cls) -> DepthAnythingConfig:
        """ViT-L outdoor metric model, 80 m."""
        return cls(max_depth=OUTDOOR_MAX_DEPTH)

    @classmethod
    def vitb(cls, max_depth: float = INDOOR_MAX_DEPTH) -> DepthAnythingConfig:
        return cls(DinoV2Config.vitb(), 128, (96, 192, 384, 768), max_depth, (2, 5, 8, 11))

    @classmethod
    def vits(cls, max_depth: float = INDOOR_MAX_DEPTH) -> DepthAnythingConfig:
        return cls(DinoV2Config.vits(), 64, (48, 96, 192, 384), max_depth, (2, 5, 8, 11))

    @classmethod
    def from_reference_params(
        cls, params: Mapping[str, Any], encoder: Mapping[str, Any] | None = None
    ) -> DepthAnythingConfig:
        """From the reference YAML's `depth_predictor_config.params` (encoder name, features, out_channels,
        max_depth, optional use_bn/use_clstoken which must be false). `encoder` overrides the named encoder's sizes
        with a DINOv2 description (the fixtures' `depth_vitl_encoder`); without it the named preset is used."""
        allowed = {"encoder", "features", "out_channels", "max_depth", "use_bn", "use_clstoken"}
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise ValueError(f"depth_predictor_config.params: unknown keys {unknown}")
        for flag in ("use_bn", "use_clstoken"):
            if params.get(flag, False):
                raise ValueError(f"depth_predictor_config.params.{flag}=true is not supported (released models: false)")
        presets = {"vits": cls.vits, "vitb": cls.vitb, "vitl": cls.vitl_hypersim}
        name = params.get("encoder", "vitl")
        if name not in presets:
            raise ValueError(f"depth_predictor_config.params.encoder must be one of {sorted(presets)}, got {name!r}")
        config = presets[name]()
        changes: dict[str, Any] = {}
        if "features" in params:
            changes["features"] = int(params["features"])
        if "out_channels" in params:
            changes["out_channels"] = tuple(int(c) for c in params["out_channels"])
        if "max_depth" in params:
            changes["max_depth"] = float(params["max_depth"])
        if encoder is not None:
            vit, layers = _encoder_from_reference(encoder)
            changes["encoder"] = vit
            if layers is not None:
                changes["intermediate_layers"] = layers
        return replace(config, **changes)


def _encoder_from_reference(d: Mapping[str, Any]) -> tuple[DinoV2Config, tuple[int, ...] | None]:
    fields = {"embed_dim", "depth", "num_heads", "mlp_ratio", "patch_size", "img_size", "interpolate_offset"}
    fields |= {"interpolate_antialias"}
    checked = {"init_values", "num_register_tokens", "ffn_layer", "intermediate_layer_idx"}
    unknown = sorted(set(d) - fields - checked)
    if unknown:
        raise ValueError(f"depth encoder description: unknown keys {unknown}")
    if d.get("num_register_tokens", 0) != 0 or d.get("ffn_layer", "mlp") != "mlp" or d.get("init_values", 1.0) is None:
        raise ValueError("depth encoder: only 0 registers, ffn_layer 'mlp' and LayerScale (init_values) are supported")
    layers = d.get("intermediate_layer_idx")
    return DinoV2Config(**{k: v for k, v in d.items() if k in fields}), (tuple(layers) if layers else None)


class DepthAnythingV2(nn.Module):
    """Shapes: image (b 3 H W) ImageNet-normalised, H, W multiples of 14 -> depth (b H W) metres in (0, max_depth)."""

    def __init__(self, config: DepthAnythingConfig) -> None:
        super().__init__()
        self.config = config
        self.pretrained = DinoVisionTransformer(config.encoder)
        self.depth_head = DPTHead(config.encoder.embed_dim, config.features, config.out_channels)

    def forward(self, x: Tensor) -> Tensor:
        p = self.config.encoder.patch_size
        layers = self.pretrained.intermediate_layers(x, self.config.intermediate_layers)
        relative = self.depth_head(layers, x.shape[-2] // p, x.shape[-1] // p)
        return (relative * self.config.max_depth).squeeze(1)


class MetricDepthEstimator(nn.Module):
    """Image -> metric depth (metres) at the image's own size: the scene's depth interface.

    Preprocessing (`resize`):
    - "reference" (default, model spec §5.1): bilinear (align_corners=True) to (round(h/14)*14, round(w/14)*14), e.g.
      252x252 for 256x256 and 322x518 for 320x512, then ImageNet normalisation.
    - "short_side": Depth-Anything-V2's own higher-resolution input: scale so the short side is `input_size` (each side
      a multiple of 14, at least `input_size`), bicubic, then ImageNet normalisation.
    The depth is resized back to (h, w) bilinearly (align_corners=True) through (D/max_depth - 0.5)*2, as the reference.

    Calling the estimator takes a uint8 numpy image (h w 3); `estimate` takes a float tensor (b 3 h w) in [0, 1].
    """

    def __init__(
        self,
        model: DepthAnythingV2,
        normalizer_mean: Tensor | tuple[float, float, float] = IMAGENET_MEAN,
        normalizer_std: Tensor | tuple[float, float, float] = IMAGENET_STD,
        *,
        input_size: int = 518,
        resize: str = "reference",
        max_depth: float | None = None,
    ) -> None:
        super().__init__()
        if resize not in ("reference", "short_side"):
            raise ValueError(f"resize must be 'reference' or 'short_side', got {resize!r}")
        if input_size <= 0 or input_size % 14:
            raise ValueError(f"input_size must be a positive multiple of 14, got {input_size}")
        if max_depth is not None and max_depth != model.config.max_depth:
            raise ValueError(f"max_depth {max_depth} differs from the model's {model.config.max_depth}")
        self.depth_predictor = model
        self.register_buffer("depth_predictor_normalizer_mean", torch.as_tensor(normalizer_mean).reshape(1, 3, 1, 1))
        self.register_buffer("depth_predictor_normalizer_std", torch.as_tensor(normalizer_std).reshape(1, 3, 1, 1))
        self.input_size = input_size
        self.resize = resize

    @property
    def model(self) -> DepthAnythingV2:
        return self.depth_predictor

    @property
    def max_depth(self) -> float:
        return self.depth_predictor.config.max_depth

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """Network input size for an h x w image (multiples of 14)."""
        if self.resize == "reference":
            # Python's round() is half-to-even like NumPy's, which the reference uses.
            return round(height / 14) * 14, round(width / 14) * 14
        scale = self.input_size / min(height, width)

        def side(x: float) -> int:
            y = round(x / 14) * 14
            return y if y >= self.input_size else int(np.ceil(x / 14)) * 14

        return side(height * scale), side(width * scale)

    def preprocess(self, image: Tensor) -> Tensor:
        """Shapes: image (b 3 h w) float in [0, 1] -> (b 3 hd wd) normalised network input."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"image must be (b 3 h w) in [0, 1], got {tuple(image.shape)}")
        size = self.network_size(*image.shape[-2:])
        if self.resize == "reference":
            x = F.interpolate(image, size=size, mode="bilinear", align_corners=True)
        else:
            x = F.interpolate(image, size=size, mode="bicubic", align_corners=False)
        return (x - self.depth_predictor_normalizer_mean) / self.depth_predictor_normalizer_std

    def infer(self, x: Tensor) -> Tensor:
        """Shapes: x (b 3 hd wd) normalised -> (b hd wd) metres (max_depth * sigmoid)."""
        return self.depth_predictor(x)

    def postprocess(self, depth: Tensor, height: int, width: int) -> Tensor:
        """Resize network depth to the image size. Shapes: (b hd wd) metres -> (b h w) metres, float32."""
        m = self.max_depth
        # Reference behaviour: the resize runs on (D/m - 0.5)*2 and maps back; mathematically the identity wrapper,
        # kept so the float32 results match the reference's to the last bits.
        x = (depth.float()[:, None] / m - 0.5) * 2
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=True)
        return ((x + 1) / 2 * m)[:, 0]

    def estimate(self, image: Tensor) -> Tensor:
        """Shapes: image (b 3 h w) float in [0, 1] -> (b h w) metres, float32."""
        dtype = self.depth_predictor_normalizer_mean.dtype
        x = self.preprocess(image.to(dtype))
        param = next(self.depth_predictor.parameters())
        depth = self.infer(x.to(param.dtype))
        return self.postprocess(depth, *image.shape[-2:])

    @torch.no_grad()
    def __call__(self, image: np.ndarray) -> Tensor:  # type: ignore[override]
        """Shapes: image uint8 (h w 3) RGB -> (h w) float32 metres, on the estimator's device."""
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            got = f"{type(image).__name__} {getattr(image, 'dtype', '')} {getattr(image, 'shape', '')}"
            raise ValueError(f"image must be a uint8 numpy array (h w 3), got {got}")
        device = self.depth_predictor_normalizer_mean.device
        x = torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1)[None].float() / 255.0
        return self.estimate(x)[0].float()


def _check_keys(model: nn.Module, state_dict: Mapping[str, Tensor], source: str) -> None:
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    misshaped = sorted(
        f"{k}: file {tuple(state_dict[k].shape)} vs model {expected[k]}"
        for k in set(expected) & set(state_dict)
        if tuple(state_dict[k].shape) != expected[k]
    )
    if not (missing or unexpected or misshaped):
        return
    lines = [f"{source} does not match Depth-Anything-V2 ({len(expected)} keys expected, {len(state_dict)} given):"]
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
        if keys:
            lines.append(f"  {label} ({len(keys)}): " + ", ".join(keys[:8]) + (", ..." if len(keys) > 8 else ""))
    if unexpected and all(k.startswith("depth_predictor.") for k in unexpected):
        lines.append("  hint: the keys carry the RealCam prefix 'depth_predictor.'; strip it or load the full model")
    if misshaped:
        lines.append("  hint: the file may be another encoder size (vits/vitb/vitl); pick the matching config")
    raise CheckpointMismatchError("\n".join(lines))


def load_depth_anything_pth(path: str | os.PathLike, config: DepthAnythingConfig) -> DepthAnythingV2:
    """Load a released Depth-Anything-V2 `.pth` (plain state dict, keys `pretrained.*`, `depth_head.*`) strictly.

    Unpickled with `weights_only=True`. The model is float32 on the CPU; a mismatch raises CheckpointMismatchError
    listing missing, unexpected and mis-shaped keys.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Depth-Anything-V2 weights not found: {path}")
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state_dict, Mapping) or not all(isinstance(v, Tensor) for v in state_dict.values()):
        raise CheckpointMismatchError(f"{path}: expected a plain state dict of tensors")
    with torch.device("meta"):
        model = DepthAnythingV2(config)
    _check_keys(model, state_dict, str(path))
    model = model.to_empty(device="cpu")
    model.load_state_dict(state_dict, strict=True)
    return model.eval()
