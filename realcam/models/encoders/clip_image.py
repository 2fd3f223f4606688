"""OpenCLIP vision tower as DynamiCrafter uses it (`FrozenOpenCLIPImageEmbedderV2`), with its preprocessing.

Keys: `CLIPImageEmbedder.model.visual.{class_embedding, positional_embedding, conv1.weight, ln_pre,
transformer.resblocks.N.*, ln_post, proj}` plus the unused text leftovers `model.{token_embedding,
positional_embedding, ln_final, text_projection, logit_scale}`, i.e. `embedder.model.*` in the checkpoint.
The output is every token after the last block, *before* `ln_post` and `proj` (which are loaded but unused).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor, nn

from realcam.models.encoders.clip_config import OpenCLIPConfig
from realcam.models.encoders.clip_text import add_text_embeddings
from realcam.models.encoders.clip_transformer import Transformer

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _gaussian_kernel1d(size: int, sigma: float, *, dtype: torch.dtype, device: torch.device) -> Tensor:
    x = torch.arange(size, dtype=dtype, device=device) - size // 2
    if size % 2 == 0:
        x = x + 0.5
    g = torch.exp(-x.pow(2) / (2.0 * sigma**2))
    return g / g.sum()


def _blur_axis(x: Tensor, kernel: Tensor, dim: int) -> Tensor:
    """Correlate the last-two-dims image `x` (n c h w) with a 1-D kernel along dim -1 or -2, reflect padding."""
    k = kernel.numel()
    lo, hi = (k - 1) // 2, k // 2
    n, c, h, w = x.shape
    if dim == -1:
        x = F.pad(x, (lo, hi, 0, 0), mode="reflect")
        weight = kernel.view(1, 1, 1, k)
    else:
        x = F.pad(x, (0, 0, lo, hi), mode="reflect")
        weight = kernel.view(1, 1, k, 1)
    out = F.conv2d(x.reshape(n * c, 1, *x.shape[-2:]), weight)
    return out.reshape(n, c, *out.shape[-2:])


def resize_bicubic_antialias(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bicubic resize (align_corners=True) with kornia's antialiasing, as the reference preprocessing calls it.

    Shapes: x (n c h w) -> (n c size[0] size[1]).
    Reference behaviour (kornia `resize(..., antialias=True)`): only when some axis shrinks, the image is first
    blurred with a separable Gaussian, sigma_axis = max((factor_axis - 1) / 2, 0.001) with factor = in / out,
    kernel size int(max(4 * sigma, 3)) made odd, reflect padding; then plain bicubic interpolation. This is not
    PyTorch's own `antialias=True` (a different filter), so it is written out here.
    """
    if x.ndim != 4:
        raise ValueError(f"x must be (n c h w), got {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if (h, w) == tuple(size):
        return x
    factors = (h / size[0], w / size[1])
    if max(factors) > 1:
        sigmas = [max((f - 1.0) / 2.0, 0.001) for f in factors]
        sizes = [int(max(4.0 * s, 3)) for s in sigmas]
        sizes = [k + 1 if k % 2 == 0 else k for k in sizes]
        kx = _gaussian_kernel1d(sizes[1], sigmas[1], dtype=x.dtype, device=x.device)
        ky = _gaussian_kernel1d(sizes[0], sigmas[0], dtype=x.dtype, device=x.device)
        x = _blur_axis(_blur_axis(x, kx, dim=-1), ky, dim=-2)
    return F.interpolate(x, size=tuple(size), mode="bicubic", align_corners=True)


class VisionTransformer(nn.Module):
    """OpenCLIP ViT: patch conv, class token, learned positions, ln_pre, transformer (ln_post/proj kept for keys)."""

    def __init__(self, config: OpenCLIPConfig) -> None:
        super().__init__()
        v = config.vision
        self.conv1 = nn.Conv2d(3, v.width, kernel_size=v.patch_size, stride=v.patch_size, bias=False)
        scale = v.width**-0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(v.width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(v.num_tokens, v.width))
        self.ln_pre = nn.LayerNorm(v.width)
        self.transformer = Transformer(v.width, v.layers, v.heads, v.mlp_ratio)
        self.ln_post = nn.LayerNorm(v.width)
        self.proj = nn.Parameter(scale * torch.randn(v.width, config.embed_dim))

    def tokens(self, pixels: Tensor) -> Tensor:
        """All tokens after the last block, before ln_post. Shapes: (b 3 S S) normalised -> (b 1+g*g width)."""
        x = rearrange(self.conv1(pixels), "b c gh gw -> b (gh gw) c")
        cls = repeat(self.class_embedding, "c -> b 1 c", b=x.shape[0]).to(x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        return self.transformer(self.ln_pre(x))


class CLIPVisionModel(nn.Module):
    """The reference's CLIP copy inside the image embedder: `visual` plus the text leftovers (no text transformer)."""

    def __init__(self, config: OpenCLIPConfig) -> None:
        super().__init__()
        self.visual = VisionTransformer(config)
        add_text_embeddings(self, config)


class CLIPImageEmbedder(nn.Module):
    """Image tokens for the resampler: preprocess to 224x224, then every ViT token before `ln_post`.

    forward: images (b 3 h w) in [-1, 1] -> (b 257 width); (b 257 1280) at full size.
    """

    def __init__(self, config: OpenCLIPConfig) -> None:
        super().__init__()
        self.config = config
        self.model = CLIPVisionModel(config)
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, images: Tensor) -> Tensor:
        """Reference preprocessing: (b 3 h w) in [-1, 1] -> (b 3 S S), S = image_size (224).

        Resize to S x S without cropping (aspect is distorted; reference behaviour) with `resize_bicubic_antialias`,
        map to [0, 1] by (x + 1) / 2, normalise with the CLIP mean and std.
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (b 3 h w) in [-1, 1], got {tuple(images.shape)}")
        s = self.config.vision.image_size
        x = resize_bicubic_antialias(images, (s, s))
        x = (x + 1.0) / 2.0
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def forward(self, images: Tensor) -> Tensor:
        return self.model.visual.tokens(self.preprocess(images))
