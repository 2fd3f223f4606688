"""The UNet cross-attention context: text states followed by per-frame image tokens.

Layout (reference `get_batch_input` / `new_forward_for_unet`): context = [77 text tokens ; f*n image tokens], 333
tokens at full size (77 + 16 frames x 16). The UNet splits it back: frame k attends to all text tokens (shared by
every frame) plus image tokens [77 + n*k, 77 + n*(k+1)). `split_context` is that inverse.
"""

from __future__ import annotations

import torch
from torch import Tensor


def build_context(text: Tensor, image_tokens: Tensor) -> Tensor:
    """Concatenate text states and resampled image tokens along the token axis.

    Shapes: text (b 77 d), image_tokens (b f*n d) frame-major -> (b 77+f*n d); (b 333 1024) at full size.
    """
    if text.ndim != 3 or image_tokens.ndim != 3:
        raise ValueError(f"text and image_tokens must be (b n d), got {tuple(text.shape)}, {tuple(image_tokens.shape)}")
    if text.shape[0] != image_tokens.shape[0] or text.shape[2] != image_tokens.shape[2]:
        raise ValueError(
            f"text {tuple(text.shape)} and image_tokens {tuple(image_tokens.shape)} must agree in batch and width"
        )
    return torch.cat([text, image_tokens], dim=1)


def split_context(context: Tensor, *, text_tokens: int = 77, frames: int = 16) -> tuple[Tensor, Tensor]:
    """Inverse of `build_context`, per frame: (b T+f*n d) -> text (b T d), image (b f n d)."""
    b, total, d = context.shape
    rest = total - text_tokens
    if rest <= 0 or rest % frames:
        raise ValueError(
            f"context of {total} tokens does not split into {text_tokens} text + {frames} x n image tokens"
        )
    return context[:, :text_tokens], context[:, text_tokens:].reshape(b, frames, rest // frames, d)
