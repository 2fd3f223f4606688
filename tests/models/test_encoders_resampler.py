"""Perceiver resampler and the UNet context: full-size key contract, micro parity (item i), attention twin."""

from __future__ import annotations

import pytest
import torch
from parity import fixture, variant_config, variant_state_dict
from reference_keys import reference_key_shapes

from realcam.models.encoders.context import build_context, split_context
from realcam.models.encoders.resampler import PerceiverAttention, Resampler, ResamplerConfig

PREFIX = "image_proj_model."


def close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """README section 7 tolerance for one network call: max|diff| <= 1e-4 * (1 + max|ref|)."""
    torch.testing.assert_close(actual, expected, atol=1e-4 * (1 + expected.abs().max().item()), rtol=0)


def micro_config(v: str) -> ResamplerConfig:
    return ResamplerConfig.from_reference_params(
        variant_config(v)["model"]["params"]["image_proj_stage_config"]["params"]
    )


@pytest.fixture(scope="module", params=["256", "512"])
def micro(request):
    v = request.param
    model = Resampler(micro_config(v)).eval()
    model.load_state_dict({k[len(PREFIX) :]: t for k, t in variant_state_dict(v).items() if k.startswith(PREFIX)})
    return model, fixture(v, "i_conditioning")


def test_full_size_keys_shapes_count_and_output_shape():
    config = ResamplerConfig.dynamicrafter()
    with torch.device("meta"):
        model = Resampler(config)
        out = model(torch.empty(2, 257, 1280))
    assert {k: tuple(t.shape) for k, t in model.state_dict().items()} == reference_key_shapes(None, PREFIX)
    assert sum(p.numel() for p in model.parameters()) == 48_787_456
    assert out.shape == (2, 256, 1024)


def test_micro_image_context_and_full_context(micro):
    model, f = micro
    with torch.no_grad():
        image_context = model(f["clip_image_tokens"])
        uncond_context = model(f["uncond_image_tokens"])
    close(image_context, f["image_context"])
    close(uncond_context, f["uncond_image_context"])
    # Context from the recorded pieces: [text of prompt k ; image tokens] (333 tokens).
    torch.testing.assert_close(build_context(f["text_context"][:1], f["image_context"]), f["context_cond"])
    torch.testing.assert_close(build_context(f["text_context"][1:], f["uncond_image_context"]), f["context_uncond"])


def test_perceiver_attention_matches_reference_style_twin():
    """Slow twin in the reference's form: q and k each scaled by dim_head^-1/4, float32 softmax, explicit matmuls."""
    torch.manual_seed(0)
    attn = PerceiverAttention(dim=12, dim_head=4, heads=3).eval()
    x, latents = torch.randn(2, 7, 12), torch.randn(2, 5, 12)
    with torch.no_grad():
        xn, ln = attn.norm1(x), attn.norm2(latents)
        q = attn.to_q(ln)
        k, v = attn.to_kv(torch.cat([xn, ln], dim=1)).chunk(2, dim=-1)

        def heads(t):  # (b n (h d)) -> (b h n d)
            return t.reshape(t.shape[0], t.shape[1], 3, 4).transpose(1, 2)

        scale = 4**-0.25
        w = torch.softmax(((heads(q) * scale) @ (heads(k) * scale).transpose(-2, -1)).float(), dim=-1)
        out = (w @ heads(v)).transpose(1, 2).reshape(2, 5, 12)
        torch.testing.assert_close(attn(x, latents), attn.to_out(out), atol=1e-5, rtol=0)


def test_resampler_is_per_sample_and_checks_input():
    torch.manual_seed(1)
    model = Resampler(micro_config("256")).eval()
    tokens = torch.randn(3, 257, 32)
    with torch.no_grad():
        batch = model(tokens)
        single = model(tokens[1:2])
    assert batch.shape == (3, 256, 32)
    torch.testing.assert_close(batch[1:2], single, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="tokens"):
        model(torch.randn(1, 257, 31))


def test_context_layout_per_frame():
    text = torch.randn(2, 77, 8)
    image = torch.arange(2 * 256 * 8, dtype=torch.float32).reshape(2, 256, 8)
    context = build_context(text, image)
    assert context.shape == (2, 333, 8)
    text_back, per_frame = split_context(context, text_tokens=77, frames=16)
    torch.testing.assert_close(text_back, text)
    assert per_frame.shape == (2, 16, 16, 8)
    torch.testing.assert_close(per_frame[:, 3], image[:, 48:64])  # frame k owns image tokens [16k, 16k+16)
    with pytest.raises(ValueError, match="agree"):
        build_context(text, image[:, :, :4])
    with pytest.raises(ValueError, match="split"):
        split_context(context[:, :300], frames=16)


def test_config_strictness():
    params = dict(variant_config("512")["model"]["params"]["image_proj_stage_config"]["params"])
    config = ResamplerConfig.from_reference_params(params)
    assert config.total_queries == 256 and config.dim == 32 and config.heads == 2
    with pytest.raises(ValueError, match="bogus"):
        ResamplerConfig.from_reference_params({**params, "bogus": 1})
    with pytest.raises(ValueError, match="depth"):
        ResamplerConfig.from_reference_params({k: v for k, v in params.items() if k != "depth"})
