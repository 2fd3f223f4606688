"""Sinusoidal embeddings of the diffusion timestep and of the frame-stride / fps condition (spec §1.4)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of scalar conditions (timestep or frame stride), cosine half first.

    With half = dim // 2 and frequencies f_k = exp(-ln(max_period) * k / half), k = 0..half-1, the embedding is
    [cos(t * f), sin(t * f)] (DynamiCrafter order, the reverse of the transformer paper's sin-first layout). An odd
    `dim` gets a zero last column. Computed in float32 whatever the dtype of `t`; the caller casts the result.

    Shapes: t (b,) integer or float -> (b dim) float32.
    """
    if t.ndim != 1:
        raise ValueError(f"t must have shape (b,), got {tuple(t.shape)}")
    half = dim // 2
    k = torch.arange(half, dtype=torch.float32, device=t.device)
    freqs = torch.exp(-math.log(max_period) * k / half)
    args = t.float()[:, None] * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


class EmbeddingMLP(nn.Sequential):
    """Linear -> SiLU -> Linear, the `time_embed` / `fps_embedding` MLP (keys `.0.*`, `.2.*`).

    Shapes: (b model_channels) -> (b 4*model_channels).
    """

    def __init__(self, in_dim: int, out_dim: int, *, zero_last: bool = False) -> None:
        super().__init__(nn.Linear(in_dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))
        if zero_last:  # Reference behaviour: the fps MLP starts as a no-op so the base model is unchanged at init.
            nn.init.zeros_(self[2].weight)
            nn.init.zeros_(self[2].bias)
