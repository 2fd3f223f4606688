"""Configuration of the OpenCLIP model the text and image encoders are cut from (ViT-H-14 at full size).

The field names follow OpenCLIP's model-config JSON (`embed_dim`, `vision_cfg`, `text_cfg`), so the parity fixtures'
`clip_model_config` and OpenCLIP's `ViT-H-14.json` both load with `OpenCLIPConfig.from_reference_params`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CLIPTextConfig:
    """Text tower: `context_length` tokens, `vocab_size` entries, `layers` blocks of `width` with `heads` heads."""

    context_length: int = 77
    vocab_size: int = 49408
    width: int = 1024
    heads: int = 16
    layers: int = 24
    mlp_ratio: float = 4.0


@dataclass(frozen=True)
class CLIPVisionConfig:
    """Vision tower: square `image_size` cut in `patch_size` patches; `layers` blocks of `width`, heads of
    `head_width` channels (heads = width / head_width)."""

    image_size: int = 224
    patch_size: int = 14
    width: int = 1280
    layers: int = 32
    head_width: int = 80
    mlp_ratio: float = 4.0

    @property
    def heads(self) -> int:
        return self.width // self.head_width

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_tokens(self) -> int:
        """Class token plus grid*grid patch tokens (257 for ViT-H-14 at 224)."""
        return self.grid * self.grid + 1


_TEXT_KEYS = {"context_length", "vocab_size", "width", "heads", "layers", "mlp_ratio"}
_VISION_KEYS = {"image_size", "patch_size", "width", "layers", "head_width", "mlp_ratio"}


def _strict(section: str, d: Mapping[str, Any], allowed: set[str], required: set[str]) -> None:
    unknown = set(d) - allowed
    missing = required - set(d)
    if unknown or missing:
        raise ValueError(f"{section}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")


@dataclass(frozen=True)
class OpenCLIPConfig:
    """An OpenCLIP model: joint embedding width plus its text and vision towers."""

    embed_dim: int = 1024
    text: CLIPTextConfig = CLIPTextConfig()
    vision: CLIPVisionConfig = CLIPVisionConfig()

    def __post_init__(self) -> None:
        if self.text.width % self.text.heads:
            raise ValueError(f"text width {self.text.width} is not a multiple of heads {self.text.heads}")
        if self.vision.width % self.vision.head_width:
            raise ValueError(
                f"vision width {self.vision.width} is not a multiple of head_width {self.vision.head_width}"
            )
        if self.vision.image_size % self.vision.patch_size:
            raise ValueError(f"image_size {self.vision.image_size} is not a multiple of patch_size")

    @classmethod
    def vit_h_14(cls) -> OpenCLIPConfig:
        """OpenCLIP ViT-H-14 (laion2b_s32b_b79k architecture), as used by DynamiCrafter."""
        return cls()

    @classmethod
    def from_reference_params(cls, config: Mapping[str, Any]) -> OpenCLIPConfig:
        """Build from an OpenCLIP model-config dict (`embed_dim`, `vision_cfg`, `text_cfg`; optional `name`).

        Unknown keys raise ValueError naming them.
        """
        _strict(
            "clip config",
            config,
            {"name", "embed_dim", "vision_cfg", "text_cfg"},
            {"embed_dim", "vision_cfg", "text_cfg"},
        )
        t, v = config["text_cfg"], config["vision_cfg"]
        _strict("text_cfg", t, _TEXT_KEYS, _TEXT_KEYS - {"mlp_ratio"})
        _strict("vision_cfg", v, _VISION_KEYS, _VISION_KEYS - {"mlp_ratio"})
        return cls(
            embed_dim=int(config["embed_dim"]),
            text=CLIPTextConfig(**{k: (float(x) if k == "mlp_ratio" else int(x)) for k, x in t.items()}),
            vision=CLIPVisionConfig(**{k: (float(x) if k == "mlp_ratio" else int(x)) for k, x in v.items()}),
        )
