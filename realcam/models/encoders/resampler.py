"""Perceiver Resampler (IP-Adapter style) that turns CLIP image tokens into the UNet's image context.

Keys: `latents`, `proj_in`, `layers.i.0.{norm1, norm2, to_q, to_kv, to_out}` (attention),
`layers.i.1.{0, 1, 3}` (feed-forward: LayerNorm, Linear, GELU, Linear), `proj_out`, `norm_out`;
`image_proj_model.*` in the checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


@dataclass(frozen=True)
class ResamplerConfig:
    """Sizes of the resampler (the reference `image_proj_stage_config.params`, same names).

    The module holds num_queries * video_length learned queries (256 = 16 per frame x 16 frames at full size).
    """

    dim: int = 1024
    depth: int = 4
    dim_head: int = 64
    heads: int = 12
    num_queries: int = 16
    embedding_dim: int = 1280
    output_dim: int = 1024
    ff_mult: int = 4
    video_length: int | None = 16

    @property
    def total_queries(self) -> int:
        return self.num_queries * (self.video_length or 1)

    @classmethod
    def dynamicrafter(cls) -> ResamplerConfig:
        """Full-size resampler of DynamiCrafter / RealCam-I2V (48,787,456 parameters)."""
        return cls()

    @classmethod
    def from_reference_params(cls, params: Mapping[str, Any]) -> ResamplerConfig:
        """Build from `image_proj_stage_config.params`; unknown or missing keys raise ValueError naming them."""
        names = {f.name for f in fields(cls)}
        unknown, missing = set(params) - names, names - set(params) - {"video_length"}
        if unknown or missing:
            raise ValueError(
                f"image_proj_stage_config.params: unknown keys {sorted(unknown)}, missing {sorted(missing)}"
            )
        return cls(**{k: (None if v is None else int(v)) for k, v in params.items()})


class PerceiverAttention(nn.Module):
    """Latents attend to [inputs ; latents]. Shapes: x (b n dim), latents (b l dim) -> (b l dim).

    Reference behaviour: LayerNorm on both, queries from the latents, keys/values from the concatenation, no biases,
    scale dim_head^-1/2 (the reference splits it as dim_head^-1/4 on q and k and runs the softmax in float32;
    SDPA computes the same up to rounding).
    """

    def __init__(self, dim: int, dim_head: int, heads: int) -> None:
        super().__init__()
        inner = dim_head * heads
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, 2 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, x: Tensor, latents: Tensor) -> Tensor:
        x, latents = self.norm1(x), self.norm2(latents)
        q = self.to_q(latents)
        k, v = self.to_kv(torch.cat([x, latents], dim=1)).chunk(2, dim=-1)
        q, k, v = (rearrange(t, "b n (h d) -> b h n d", h=self.heads) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out(rearrange(out, "b h n d -> b n (h d)"))


def feed_forward(dim: int, mult: int) -> nn.Sequential:
    """LayerNorm -> Linear dim->mult*dim (no bias) -> GELU -> Linear back (no bias); indices 0, 1, 2, 3."""
    return nn.Sequential(
        nn.LayerNorm(dim), nn.Linear(dim, dim * mult, bias=False), nn.GELU(), nn.Linear(dim * mult, dim, bias=False)
    )


class Resampler(nn.Module):
    """CLIP image tokens -> a fixed number of context tokens.

    forward: tokens (b n embedding_dim) -> (b total_queries output_dim); (b 257 1280) -> (b 256 1024) at full size.
    Steps: proj_in on the tokens; per layer latents += attn(tokens, latents), latents += ff(latents); proj_out;
    norm_out. The query order is frame-major (queries [16k, 16k+16) belong to frame k; see `context.build_context`).
    """

    def __init__(self, config: ResamplerConfig) -> None:
        super().__init__()
        c = config
        self.config = config
        self.latents = nn.Parameter(torch.randn(1, c.total_queries, c.dim) / c.dim**0.5)
        self.proj_in = nn.Linear(c.embedding_dim, c.dim)
        self.proj_out = nn.Linear(c.dim, c.output_dim)
        self.norm_out = nn.LayerNorm(c.output_dim)
        self.layers = nn.ModuleList(
            [
                nn.ModuleList([PerceiverAttention(c.dim, c.dim_head, c.heads), feed_forward(c.dim, c.ff_mult)])
                for _ in range(c.depth)
            ]
        )

    def forward(self, tokens: Tensor) -> Tensor:
        if tokens.ndim != 3 or tokens.shape[-1] != self.config.embedding_dim:
            raise ValueError(f"tokens must be (b n {self.config.embedding_dim}), got {tuple(tokens.shape)}")
        x = self.proj_in(tokens)
        latents = self.latents.expand(tokens.shape[0], -1, -1)
        for attn, ff in self.layers:
            latents = latents + attn(x, latents)
            latents = latents + ff(latents)
        return self.norm_out(self.proj_out(latents))
