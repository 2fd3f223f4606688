"""The pre-LN transformer shared by OpenCLIP's text and vision towers.

Attribute names follow OpenCLIP (`resblocks.N.{ln_1, attn.in_proj_weight, attn.in_proj_bias, attn.out_proj, ln_2,
mlp.c_fc, mlp.c_proj}`), so checkpoints load strictly. The layout is batch-first throughout; OpenCLIP 2.22 runs
sequence-first, which changes nothing numerically.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


class MultiheadSelfAttention(nn.Module):
    """Self-attention with a packed q/k/v projection, named like `torch.nn.MultiheadAttention`.

    Shapes: x (b n width) -> (b n width); `causal` masks key j > query i. Scale head_dim^-1/2 (SDPA default).
    """

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not a multiple of heads {heads}")
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * width))
        self.out_proj = nn.Linear(width, width)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.in_proj_bias)

    def forward(self, x: Tensor, *, causal: bool = False) -> Tensor:
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = rearrange(qkv, "b n (three h d) -> three b h n d", three=3, h=self.heads)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return self.out_proj(rearrange(out, "b h n d -> b n (h d)"))


class MLP(nn.Module):
    """c_fc -> GELU (exact erf form; ViT-H-14 does not use QuickGELU) -> c_proj."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(width, hidden)
        self.c_proj = nn.Linear(hidden, width)

    def forward(self, x: Tensor) -> Tensor:
        return self.c_proj(F.gelu(self.c_fc(x)))


class ResidualAttentionBlock(nn.Module):
    """x + attn(ln_1(x)), then x + mlp(ln_2(x)). Shapes: (b n width) -> (b n width)."""

    def __init__(self, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = MultiheadSelfAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = MLP(width, int(width * mlp_ratio))

    def forward(self, x: Tensor, *, causal: bool = False) -> Tensor:
        x = x + self.attn(self.ln_1(x), causal=causal)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    """A stack of `layers` residual attention blocks under `resblocks`."""

    def __init__(self, width: int, layers: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads, mlp_ratio) for _ in range(layers)])

    def forward(self, x: Tensor, *, causal: bool = False, num_blocks: int | None = None) -> Tensor:
        """Run the first `num_blocks` blocks (all when None). Shapes: (b n width) -> (b n width)."""
        n = len(self.resblocks) if num_blocks is None else num_blocks
        if not 0 <= n <= len(self.resblocks):
            raise ValueError(f"num_blocks must be in [0, {len(self.resblocks)}], got {n}")
        for block in self.resblocks[:n]:
            x = block(x, causal=causal)
        return x
