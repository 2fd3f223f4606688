"""Hand-checked numerics of the UNet parts: timestep embedding, attention vs a naive softmax twin, the epipolar
attention with register tokens, the dual text/image cross-attention, float32 GroupNorm and the per-frame context."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from realcam.models.unet import split_context
from realcam.models.unet.attention import CrossAttention, EpipolarCrossAttention, multihead_attention
from realcam.models.unet.blocks import GroupNorm32
from realcam.models.unet.embeddings import timestep_embedding


def naive_attention(q, k, v, heads, mask=None):
    """Slow twin: explicit per-head softmax(q k^T / sqrt(d)) v with masked logits set to -inf."""
    b, n, c = q.shape
    d = c // heads
    out = torch.empty_like(q)
    for i in range(b):
        for h in range(heads):
            sl = slice(h * d, (h + 1) * d)
            logits = q[i, :, sl] @ k[i, :, sl].T / math.sqrt(d)
            if mask is not None:
                logits = logits.masked_fill(~mask[min(i, mask.shape[0] - 1)], float("-inf"))
            out[i, :, sl] = torch.softmax(logits, dim=-1) @ v[i, :, sl]
    return out


def test_timestep_embedding_by_hand():
    t = torch.tensor([2, 0])
    emb = timestep_embedding(t, 4)  # half = 2: frequencies 1 and 10000^(-1/2) = 0.01
    expected = torch.tensor(
        [[math.cos(2), math.cos(0.02), math.sin(2), math.sin(0.02)], [1.0, 1.0, 0.0, 0.0]], dtype=torch.float32
    )
    assert_close(emb, expected)
    assert emb.dtype == torch.float32


def test_timestep_embedding_full_width_cos_first():
    t = torch.tensor([637.0])
    emb = timestep_embedding(t, 320)
    assert emb.shape == (1, 320)
    assert_close(emb[0, 0], torch.tensor(math.cos(637.0)))  # k = 0: frequency 1, cosine first
    assert_close(emb[0, 160], torch.tensor(math.sin(637.0)))
    assert_close(emb[0, 159], torch.tensor(math.cos(637.0 * 10000 ** (-159 / 160))), rtol=0, atol=1e-5)
    odd = timestep_embedding(torch.tensor([3]), 5)
    assert odd.shape == (1, 5) and odd[0, 4] == 0


def test_timestep_embedding_rejects_bad_shape():
    with pytest.raises(ValueError, match="shape"):
        timestep_embedding(torch.tensor(5), 8)


@pytest.mark.parametrize("masked", [False, True])
def test_multihead_attention_matches_naive_softmax(masked):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, n, 12, generator=g, dtype=torch.float64) for n in (5, 7, 7))
    mask = None
    if masked:
        mask = torch.rand(2, 5, 7, generator=g) > 0.5
        mask[:, :, 0] = True  # no empty rows
    out = multihead_attention(q, k, v, heads=3, mask=mask)
    assert_close(out, naive_attention(q, k, v, 3, mask))
    if masked:  # a masked key must not influence its row
        v2 = v.clone()
        v2[0, ~mask[0, 0]] += 100.0
        assert_close(multihead_attention(q, k, v2, heads=3, mask=mask)[0, 0], out[0, 0])


def test_multihead_attention_rejects_float_mask():
    q = torch.randn(1, 2, 4)
    with pytest.raises(ValueError, match="boolean"):
        multihead_attention(q, q, q, heads=2, mask=torch.ones(1, 2, 2))


def test_epipolar_attention_registers_and_mask_padding():
    torch.manual_seed(1)
    layer = EpipolarCrossAttention(dim=8, heads=2, dim_head=4, num_register_tokens=3).double()
    torch.nn.init.normal_(layer.to_out[0].weight)  # zero-initialised in the reference; make it observable
    x = torch.randn(2, 6, 8, dtype=torch.float64)
    mask = torch.rand(2, 6, 6) > 0.6
    mask[0, 2] = False  # an all-False row still sees the registers: no NaN
    out = layer(x, mask)
    keys = torch.cat([layer.register_tokens.expand(2, -1, -1), x], dim=1)
    padded = torch.cat([torch.ones(2, 6, 3, dtype=torch.bool), mask], dim=2)
    expected = layer.to_out(naive_attention(layer.to_q(x), layer.to_k(keys), layer.to_v(keys), 2, padded))
    assert_close(out, expected)
    assert torch.isfinite(out).all()
    # mask=None is full attention, the same as an all-True mask
    assert_close(layer(x, None), layer(x, torch.ones(1, 6, 6, dtype=torch.bool)))
    with pytest.raises(ValueError, match="epipolar mask"):
        layer(x, torch.ones(2, 5, 5, dtype=torch.bool))


def test_epipolar_attention_starts_as_zero():
    layer = EpipolarCrossAttention(dim=8, heads=2, dim_head=4, num_register_tokens=4)
    assert layer(torch.randn(1, 3, 8), None).abs().max() == 0


@pytest.mark.parametrize("learnable", [False, True])
def test_dual_cross_attention_text_plus_scaled_image(learnable):
    torch.manual_seed(2)
    layer = CrossAttention(8, 2, 4, context_dim=6, image_cross_attention=True, image_scale_learnable=learnable)
    layer = layer.double()
    if learnable:
        with torch.no_grad():
            layer.alpha.fill_(0.3)
    x = torch.randn(3, 5, 8, dtype=torch.float64)
    text, image = torch.randn(3, 77, 6, dtype=torch.float64), torch.randn(3, 4, 6, dtype=torch.float64)
    out = layer(x, torch.cat([text, image], dim=1))
    q = layer.to_q(x)
    text_out = naive_attention(q, layer.to_k(text), layer.to_v(text), 2)
    image_out = naive_attention(q, layer.to_k_ip(image), layer.to_v_ip(image), 2)
    scale = math.tanh(0.3) + 1 if learnable else 1.0
    assert_close(out, layer.to_out(text_out + scale * image_out))
    assert hasattr(layer, "alpha") == learnable


def test_self_attention_without_context():
    torch.manual_seed(3)
    layer = CrossAttention(8, 2, 4).double()
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    assert_close(layer(x), layer.to_out(naive_attention(layer.to_q(x), layer.to_k(x), layer.to_v(x), 2)))


def test_groupnorm32_runs_in_float32_for_half_inputs():
    torch.manual_seed(4)
    norm = GroupNorm32(2, 4).half()
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([1.0, 0.5, 2.0, 1.5]))
        norm.bias.copy_(torch.tensor([0.1, -0.2, 0.0, 0.3]))
    # a large common offset: statistics in float16 would lose the small variations
    x32 = 600.0 + torch.randn(2, 4, 3, 3)
    x = x32.half()
    out = norm(x)
    assert out.dtype == torch.float16
    expected = F.group_norm(x.float(), 2, norm.weight.float(), norm.bias.float(), norm.eps).half()
    assert torch.equal(out, expected)
    exact = F.group_norm(x.double(), 2, norm.weight.double(), norm.bias.double(), norm.eps)
    assert (out.double() - exact).abs().max() < 2e-2  # float16 output rounding only


def test_split_context_per_frame():
    b, f, n, d = 2, 3, 4, 5
    context = torch.arange(b * (77 + f * n), dtype=torch.float32)[:, None].repeat(1, d).view(b, 77 + f * n, d)
    split = split_context(context, f)
    assert split.shape == (b * f, 77 + n, d)
    for i in range(b):
        for k in range(f):
            row = split[i * f + k]  # frames folded frame-major inside each batch item
            assert torch.equal(row[:77], context[i, :77])
            assert torch.equal(row[77:], context[i, 77 + n * k : 77 + n * (k + 1)])


@pytest.mark.parametrize("length", [77, 77 + 16 * 3 + 1])
def test_split_context_rejects_bad_length(length):
    with pytest.raises(ValueError, match="text tokens"):
        split_context(torch.zeros(1, length, 4), 16)
