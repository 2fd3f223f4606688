"""Conditioning encoders: OpenCLIP ViT-H-14 text and image towers, the CLIP tokenizer, the Perceiver resampler and
the UNet context layout (text states + per-frame image tokens)."""

from realcam.models.encoders.clip_config import CLIPTextConfig, CLIPVisionConfig, OpenCLIPConfig
from realcam.models.encoders.clip_image import CLIPImageEmbedder, resize_bicubic_antialias
from realcam.models.encoders.clip_text import CLIPTextEncoder
from realcam.models.encoders.context import build_context, split_context
from realcam.models.encoders.resampler import Resampler, ResamplerConfig
from realcam.models.encoders.tokenizer import CLIPTokenizer

__all__ = [
    "CLIPImageEmbedder",
    "CLIPTextConfig",
    "CLIPTextEncoder",
    "CLIPTokenizer",
    "CLIPVisionConfig",
    "OpenCLIPConfig",
    "Resampler",
    "ResamplerConfig",
    "build_context",
    "resize_bicubic_antialias",
    "split_context",
]
