"""DINOv2 vision transformer backbone as used by Depth-Anything-V2 (Oquab et al. 2023, arXiv:2304.07193).

Only what Depth-Anything-V2 runs: patch embedding, class token, positional table resized to the input grid,
pre-norm blocks with LayerScale, the final LayerNorm and `intermediate_layers` (the outputs of chosen blocks after
the final norm, split into patch tokens and class token). Attribute names follow the released checkpoints
(`cls_token`, `pos_embed`, `mask_token`, `patch_embed.proj`, `blocks.N.{norm1, attn.qkv, attn.proj, ls1.gamma,
norm2, mlp.fc1, mlp.fc2, ls2.gamma}`, `norm`). No register tokens, no SwiGLU (ViT-g) path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

LAYER_NORM_EPS = 1e-6


@dataclass(frozen=True)
class DinoV2Config:
    """ViT sizes. `img_size` fixes the stored positional table ((img_size/patch)^2 + 1 rows); `interpolate_offset`
    is DINOv2's +0.1 added to the target grid when the table is resized by a scale factor."""

    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    patch_size: int = 14
    img_size: int = 518
    interpolate_offset: float = 0.1
    interpolate_antialias: bool = False

    def __post_init__(self) -> None:
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} must be divisible by num_heads {self.num_heads}")
        if self.img_size % self.patch_size:
            raise ValueError(f"img_size {self.img_size} must be a multiple of patch_size {self.patch_size}")

    @classmethod
    def vits(cls) -> DinoV2Config:
        return cls(embed_dim=384, depth=12, num_heads=6)

    @classmethod
    def vitb(cls) -> DinoV2Config:
        return cls(embed_dim=768, depth=12, num_heads=12)

    @classmethod
    def vitl(cls) -> DinoV2Config:
        return cls(embed_dim=1024, depth=24, num_heads=16)


class PatchEmbed(nn.Module):
    """Non-overlapping patch projection. Shapes: (b 3 H W) -> (b gh*gw c), row-major over the patch grid."""

    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return rearrange(self.proj(x), "b c h w -> b (h w) c")


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection. Shapes: (b n c) -> (b n c)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = rearrange(self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.num_heads)
        out = F.scaled_dot_product_attention(q, k, v)  # scale head_dim ** -0.5
        return self.proj(rearrange(out, "b h n d -> b n (h d)"))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class LayerScale(nn.Module):
    """Per-channel residual scale `gamma` (initialised to 1.0 as in the released models)."""

    def __init__(self, dim: int, init_value: float = 1.0) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), init_value))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Block(nn.Module):
    """x <- x + ls1(attn(norm1(x))); x <- x + ls2(mlp(norm2(x)))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attn = Attention(dim, num_heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.ls2 = LayerScale(dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class DinoVisionTransformer(nn.Module):
    """DINOv2 ViT (no registers). Input height/width must be multiples of the patch size."""

    def __init__(self, config: DinoV2Config) -> None:
        super().__init__()
        self.config = config
        c = config.embed_dim
        grid = config.img_size // config.patch_size
        self.patch_embed = PatchEmbed(config.patch_size, c)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, c))
        self.mask_token = nn.Parameter(torch.zeros(1, c))  # unused at inference; kept for the strict load
        self.blocks = nn.ModuleList([Block(c, config.num_heads, config.mlp_ratio) for _ in range(config.depth)])
        self.norm = nn.LayerNorm(c, eps=LAYER_NORM_EPS)

    def interpolate_pos_encoding(self, grid_h: int, grid_w: int) -> Tensor:
        """The positional table resized to a gh x gw patch grid, class row first.

        Reference behaviour: DINOv2 resizes the M x M table by bicubic interpolation with a *scale factor*
        (g + offset) / M per axis, not to a target size; the output size is floor(M * scale) = g, but the sampling
        positions depend on the scale, so a size-based resize gives different values. Returned unchanged when the
        grid is the stored M x M. Shapes: -> (1 1+gh*gw c) in the table's dtype.
        """
        table = self.pos_embed
        n = table.shape[1] - 1
        m = int(math.sqrt(n))
        if grid_h == m and grid_w == m:
            return table
        patch_table = rearrange(table[:, 1:].float(), "1 (h w) c -> 1 c h w", h=m, w=m)
        scale = ((grid_h + self.config.interpolate_offset) / m, (grid_w + self.config.interpolate_offset) / m)
        patch_table = F.interpolate(
            patch_table, scale_factor=scale, mode="bicubic", antialias=self.config.interpolate_antialias
        )
        if patch_table.shape[-2:] != (grid_h, grid_w):
            raise AssertionError(f"resized table {tuple(patch_table.shape[-2:])} != grid {(grid_h, grid_w)}")
        patch_table = rearrange(patch_table, "1 c h w -> 1 (h w) c")
        return torch.cat([table[:, :1].float(), patch_table], dim=1).to(table.dtype)

    def tokens(self, x: Tensor) -> Tensor:
        """Patch tokens with the class token prepended and the positional table added. (b 3 H W) -> (b 1+n c)."""
        p = self.config.patch_size
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[-2] % p or x.shape[-1] % p:
            raise ValueError(f"image must be (b 3 H W) with H, W multiples of {p}, got {tuple(x.shape)}")
        grid_h, grid_w = x.shape[-2] // p, x.shape[-1] // p
        tokens = self.patch_embed(x)
        tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        return tokens + self.interpolate_pos_encoding(grid_h, grid_w)

    def intermediate_layers(self, x: Tensor, layer_indices: tuple[int, ...]) -> list[tuple[Tensor, Tensor]]:
        """Outputs of the chosen blocks, each after the final LayerNorm, as (patch tokens, class token).

        Shapes: x (b 3 H W) -> per index ((b gh*gw c), (b c)), patch tokens row-major over the grid.
        """
        if any(i < 0 or i >= len(self.blocks) for i in layer_indices):
            raise ValueError(f"layer indices {layer_indices} out of range for {len(self.blocks)} blocks")
        h = self.tokens(x)
        outputs = []
        for i, block in enumerate(self.blocks[: max(layer_indices) + 1]):
            h = block(h)
            if i in layer_indices:
                normed = self.norm(h)
                outputs.append((normed[:, 1:], normed[:, 0]))
        return outputs
