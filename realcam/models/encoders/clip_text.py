"""OpenCLIP text tower as DynamiCrafter uses it (`FrozenOpenCLIPEmbedder`, `layer: penultimate`).

Keys: `CLIPTextEncoder.model.{token_embedding.weight, positional_embedding, transformer.resblocks.N.*, ln_final,
text_projection, logit_scale}`, i.e. `cond_stage_model.model.*` in the checkpoint. `text_projection` and
`logit_scale` are loaded but unused (the reference conditions on the per-token states, not the pooled embedding).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from realcam.models.encoders.clip_config import OpenCLIPConfig
from realcam.models.encoders.clip_transformer import Transformer


def add_text_embeddings(module: nn.Module, config: OpenCLIPConfig) -> None:
    """Register OpenCLIP's text-side tensors other than the transformer on `module`.

    Adds `token_embedding` (vocab width), `positional_embedding` (context width), `ln_final`, `text_projection`
    (width embed_dim) and `logit_scale` (). The image embedder carries these too, unused, because the reference
    deletes only the text *transformer* from its copy of CLIP and loads strictly.
    """
    t = config.text
    module.token_embedding = nn.Embedding(t.vocab_size, t.width)
    module.positional_embedding = nn.Parameter(torch.empty(t.context_length, t.width))
    module.ln_final = nn.LayerNorm(t.width)
    module.text_projection = nn.Parameter(torch.empty(t.width, config.embed_dim))
    module.logit_scale = nn.Parameter(torch.full((), math.log(1 / 0.07)))
    nn.init.normal_(module.token_embedding.weight, std=0.02)
    nn.init.normal_(module.positional_embedding, std=0.01)
    nn.init.normal_(module.text_projection, std=t.width**-0.5)


class CLIPTextModel(nn.Module):
    """The text half of an OpenCLIP model (no visual tower)."""

    def __init__(self, config: OpenCLIPConfig) -> None:
        super().__init__()
        t = config.text
        add_text_embeddings(self, config)
        self.transformer = Transformer(t.width, t.layers, t.heads, t.mlp_ratio)


class CLIPTextEncoder(nn.Module):
    """Per-token text states from the penultimate block, then `ln_final` (the reference's `layer: penultimate`).

    forward: token_ids (b context) int64 -> (b context width); (b 77 1024) at full size.
    Steps: token embedding + positional embedding; causal blocks 0 .. layers-2 (the last block is skipped);
    `ln_final` on every token.
    """

    def __init__(self, config: OpenCLIPConfig) -> None:
        super().__init__()
        self.config = config
        self.model = CLIPTextModel(config)

    def forward(self, token_ids: Tensor) -> Tensor:
        t = self.config.text
        if token_ids.ndim != 2 or token_ids.shape[1] != t.context_length or token_ids.dtype != torch.long:
            raise ValueError(
                f"token_ids must be (b {t.context_length}) int64, got {tuple(token_ids.shape)} {token_ids.dtype}"
            )
        m = self.model
        x = m.token_embedding(token_ids) + m.positional_embedding
        x = m.transformer(x, causal=True, num_blocks=t.layers - 1)
        return m.ln_final(x)
