"""Attention layers of the 3D UNet: multi-head (cross-)attention with the dual text/image cross-attention, and the
CamI2V epipolar attention with register tokens (spec §1.3, §1.9(e)).

Every layer goes through `torch.nn.functional.scaled_dot_product_attention`; the slow einsum-softmax twin lives in
the tests. Tokens are `b n c` (batch, tokens, channels) throughout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


def multihead_attention(q: Tensor, k: Tensor, v: Tensor, heads: int, mask: Tensor | None = None) -> Tensor:
    """Scaled dot-product attention over `heads` heads, scale 1/sqrt(channels per head).

    `mask` is boolean, True = the query may attend to that key; it is shared by all heads.

    Shapes: q (b n h*d), k and v (b m h*d), mask (b n m) or (1 n m) or None -> (b n h*d).
    """
    if q.shape[-1] % heads:
        raise ValueError(f"channels {q.shape[-1]} not divisible by heads {heads}")
    q, k, v = (rearrange(x, "b n (h d) -> b h n d", h=heads) for x in (q, k, v))
    if mask is not None:
        if mask.dtype != torch.bool:
            raise ValueError(f"mask must be boolean, got {mask.dtype}")
        mask = mask[:, None]  # one mask for every head
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return rearrange(out, "b h n d -> b n (h d)")


class CrossAttention(nn.Module):
    """Multi-head attention with bias-free q/k/v projections and a biased output projection (key `to_out.0`).

    Self-attention when no context is given. With `image_cross_attention`, the context is split into the first
    `text_context_len` text tokens (through `to_k`/`to_v`) and the image tokens after them (through `to_k_ip`/
    `to_v_ip`); both attend with the same queries and the outputs are summed as text + m * image before `to_out`,
    where m = tanh(alpha) + 1 with a learnable scalar `alpha` (256 model) or m = 1 (512 model).

    Shapes: x (b n query_dim), context (b m context_dim) or None -> (b n query_dim).
    """

    def __init__(
        self,
        query_dim: int,
        heads: int,
        dim_head: int,
        *,
        context_dim: int | None = None,
        image_cross_attention: bool = False,
        image_scale_learnable: bool = False,
        text_context_len: int = 77,
    ) -> None:
        super().__init__()
        inner = heads * dim_head
        context_dim = query_dim if context_dim is None else context_dim
        self.heads = heads
        self.dim_head = dim_head
        self.text_context_len = text_context_len
        self.image_cross_attention = image_cross_attention
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, query_dim))
        if image_cross_attention:
            self.to_k_ip = nn.Linear(context_dim, inner, bias=False)
            self.to_v_ip = nn.Linear(context_dim, inner, bias=False)
            if image_scale_learnable:
                self.alpha = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        q = self.to_q(x)
        if context is None:
            return self.to_out(multihead_attention(q, self.to_k(x), self.to_v(x), self.heads))
        if not self.image_cross_attention:
            return self.to_out(multihead_attention(q, self.to_k(context), self.to_v(context), self.heads))
        text, image = context[:, : self.text_context_len], context[:, self.text_context_len :]
        out = multihead_attention(q, self.to_k(text), self.to_v(text), self.heads)
        out_image = multihead_attention(q, self.to_k_ip(image), self.to_v_ip(image), self.heads)
        if hasattr(self, "alpha"):
            out_image = out_image * (torch.tanh(self.alpha) + 1)
        return self.to_out(out + out_image)


class EpipolarCrossAttention(nn.Module):
    """CamI2V epipolar attention: every token of the clip attends to the register tokens and to the tokens its
    epipolar mask allows (spec §1.9(e)).

    Keys and values are [register tokens ; tokens]; the boolean mask is left-padded with True columns for the
    registers, so no query row is ever empty. A mask that already has the r register columns (`b n (r+n)`, as
    `CameraCondition.mask_for_height(h, r)` returns it, padded once per generation) is used as it is. `mask=None`
    means full attention over all tokens.

    Shapes: x (b n c), mask (b n n) or (1 n n) or (b|1 n r+n) or None -> (b n c).
    """

    def __init__(self, dim: int, heads: int, dim_head: int, num_register_tokens: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.register_tokens = nn.Parameter(torch.randn(1, num_register_tokens, dim))
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim))
        nn.init.zeros_(self.to_out[0].weight)  # Reference behaviour: the plug-in starts as a no-op.
        nn.init.zeros_(self.to_out[0].bias)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        b, n, _ = x.shape
        registers = self.register_tokens.to(x.dtype).expand(b, -1, -1)
        keys = torch.cat([registers, x], dim=1)
        if mask is not None:
            r = registers.shape[1]
            if mask.shape[-2] != n or mask.shape[-1] not in (n, n + r) or mask.shape[0] not in (1, b):
                raise ValueError(f"epipolar mask must be ({b} or 1, {n}, {n} or {n + r}), got {tuple(mask.shape)}")
            if mask.shape[-1] == n:
                mask = torch.cat([mask.new_ones(mask.shape[0], n, r), mask], dim=2)
        out = multihead_attention(self.to_q(x), self.to_k(keys), self.to_v(keys), self.heads, mask)
        return self.to_out(out)


class Epipolar(nn.Module):
    """Wrapper that lays temporal-block tokens out as one sequence per clip for the epipolar attention.

    The key path `epipolar.epipolar_attn.*` follows the reference checkpoint.

    Shapes: x ((b h w) f c) -> ((b h w) f c); mask (b (f h w) (f h w)) with tokens frame-major then row-major.
    """

    def __init__(self, dim: int, heads: int, dim_head: int, num_register_tokens: int) -> None:
        super().__init__()
        self.epipolar_attn = EpipolarCrossAttention(dim, heads, dim_head, num_register_tokens)

    def forward(self, x: Tensor, mask: Tensor | None, *, batch: int, height: int, width: int) -> Tensor:
        tokens = rearrange(x, "(b h w) f c -> b (f h w) c", b=batch, h=height, w=width)
        out = self.epipolar_attn(tokens, mask)
        return rearrange(out, "b (f h w) c -> (b h w) f c", h=height, w=width)
