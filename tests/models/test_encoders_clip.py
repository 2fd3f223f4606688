"""OpenCLIP text and image towers: full-size key contract, micro parity (item i), attention, preprocessing."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from parity import fixture, variant_config, variant_state_dict
from reference_keys import reference_key_shapes

from realcam.models.encoders.clip_config import OpenCLIPConfig
from realcam.models.encoders.clip_image import CLIPImageEmbedder, resize_bicubic_antialias
from realcam.models.encoders.clip_text import CLIPTextEncoder
from realcam.models.encoders.clip_transformer import MultiheadSelfAttention


def close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """README section 7 tolerance for one network call: max|diff| <= 1e-4 * (1 + max|ref|)."""
    torch.testing.assert_close(actual, expected, atol=1e-4 * (1 + expected.abs().max().item()), rtol=0)


def strip(state: dict, prefix: str) -> dict:
    return {k[len(prefix) :]: t for k, t in state.items() if k.startswith(prefix)}


@pytest.fixture(scope="module", params=["256", "512"])
def micro(request):
    v = request.param
    config = OpenCLIPConfig.from_reference_params(variant_config(v)["clip_model_config"])
    state = variant_state_dict(v)
    text = CLIPTextEncoder(config).eval()
    text.load_state_dict(strip(state, "cond_stage_model."), strict=True)
    image = CLIPImageEmbedder(config).eval()
    image.load_state_dict(strip(state, "embedder."), strict=True)
    return text, image, fixture(v, "i_conditioning")


def test_full_size_text_keys_shapes_and_count():
    with torch.device("meta"):
        model = CLIPTextEncoder(OpenCLIPConfig.vit_h_14())
    assert {k: tuple(t.shape) for k, t in model.state_dict().items()} == reference_key_shapes(None, "cond_stage_model.")
    assert sum(p.numel() for p in model.parameters()) == 354_032_641


def test_full_size_image_keys_shapes_and_count():
    with torch.device("meta"):
        model = CLIPImageEmbedder(OpenCLIPConfig.vit_h_14())
    assert {k: tuple(t.shape) for k, t in model.state_dict().items()} == reference_key_shapes(None, "embedder.")
    visual = sum(p.numel() for p in model.model.visual.parameters())
    assert visual == 632_076_800
    assert sum(p.numel() for p in model.parameters()) - visual == 51_723_265


def test_full_size_output_shapes_on_meta():
    config = OpenCLIPConfig.vit_h_14()
    with torch.device("meta"):
        text = CLIPTextEncoder(config)(torch.zeros(2, 77, dtype=torch.long))
        image = CLIPImageEmbedder(config)(torch.zeros(2, 3, 320, 512))
    assert text.shape == (2, 77, 1024) and image.shape == (2, 257, 1280)


def test_float64_matches_float32():
    torch.manual_seed(3)
    config = OpenCLIPConfig.from_reference_params(variant_config("256")["clip_model_config"])
    text, image = CLIPTextEncoder(config).eval(), CLIPImageEmbedder(config).eval()
    ids = torch.randint(0, 512, (1, 77))
    pixels = torch.rand(1, 3, 40, 60) * 2 - 1
    with torch.no_grad():
        t32, i32 = text(ids), image(pixels)
        t64, i64 = text.double()(ids), image.double()(pixels.double())
    assert t64.dtype == i64.dtype == torch.float64
    torch.testing.assert_close(t64.float(), t32, atol=1e-4, rtol=0)
    torch.testing.assert_close(i64.float(), i32, atol=1e-4, rtol=0)


def test_micro_text_context(micro):
    text, _, f = micro
    assert f["vocab_size"] == text.config.text.vocab_size
    torch.testing.assert_close(f["text_encoder_input_ids"], f["tokens"] % f["vocab_size"], atol=0, rtol=0)
    with torch.no_grad():
        close(text(f["text_encoder_input_ids"]), f["text_context"])


def test_micro_image_preprocessing_and_tokens(micro):
    _, image, f = micro
    with torch.no_grad():
        close(image.preprocess(f["inputs"]["image"]), f["clip_preprocessed_image"])
        tokens = image(f["inputs"]["image"])
        uncond = image(torch.zeros_like(f["inputs"]["image"]))  # the unconditional image is mid-grey (zeros)
    assert tokens.shape == (1, 257, 32)
    close(tokens, f["clip_image_tokens"])
    close(uncond, f["uncond_image_tokens"])


def test_resize_antialias_case_at_full_size_factors(micro):
    case = micro[2]["resize_antialias_case"]
    assert case["kwargs"] == {"interpolation": "bicubic", "align_corners": True, "antialias": True}
    out = resize_bicubic_antialias(case["input"], tuple(case["size"]))
    torch.testing.assert_close(out, case["output"], atol=1e-5, rtol=0)


def test_resize_blur_only_when_shrinking():
    x = torch.rand(1, 3, 20, 30, generator=torch.Generator().manual_seed(0))
    up = resize_bicubic_antialias(x, (40, 45))
    torch.testing.assert_close(up, F.interpolate(x, size=(40, 45), mode="bicubic", align_corners=True))
    down = resize_bicubic_antialias(x, (10, 10))
    assert (down - F.interpolate(x, size=(10, 10), mode="bicubic", align_corners=True)).abs().max() > 1e-3
    assert resize_bicubic_antialias(x, (20, 30)) is x


def test_self_attention_matches_hand_written_softmax():
    torch.manual_seed(1)
    attn = MultiheadSelfAttention(width=8, heads=2).eval()
    torch.nn.init.normal_(attn.in_proj_bias)
    x = torch.randn(3, 5, 8)
    with torch.no_grad():
        q, k, v = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).split(8, dim=-1)
        heads = [slice(0, 4), slice(4, 8)]
        for causal in (False, True):
            outs = []
            for s in heads:
                scores = q[..., s] @ k[..., s].transpose(1, 2) / math.sqrt(4)  # (b n n)
                if causal:
                    scores = scores.masked_fill(torch.ones(5, 5, dtype=torch.bool).triu(1), float("-inf"))
                outs.append(torch.softmax(scores, dim=-1) @ v[..., s])
            expected = attn.out_proj(torch.cat(outs, dim=-1))
            torch.testing.assert_close(attn(x, causal=causal), expected, atol=1e-5, rtol=0)
        # Causal: the first token's output does not depend on later tokens.
        y = x.clone()
        y[:, 1:] += 1.0
        torch.testing.assert_close(attn(y, causal=True)[:, 0], attn(x, causal=True)[:, 0])


def test_text_encoder_uses_penultimate_block_then_ln_final():
    torch.manual_seed(2)
    config = OpenCLIPConfig.from_reference_params(variant_config("256")["clip_model_config"])
    encoder = CLIPTextEncoder(config).eval()
    ids = torch.randint(0, 512, (2, 77))
    m = encoder.model
    with torch.no_grad():
        x = m.token_embedding(ids) + m.positional_embedding
        expected = m.ln_final(m.transformer.resblocks[0](x, causal=True))  # 2 blocks: only block 0 runs
        torch.testing.assert_close(encoder(ids), expected)
    with pytest.raises(ValueError, match="token_ids"):
        encoder(ids[:, :10])
    with pytest.raises(ValueError, match="token_ids"):
        encoder(ids.int())


def test_image_embedder_rejects_bad_input():
    config = OpenCLIPConfig.from_reference_params(variant_config("256")["clip_model_config"])
    with pytest.raises(ValueError, match="images"):
        CLIPImageEmbedder(config).preprocess(torch.zeros(1, 4, 32, 32))


def test_config_presets_and_strictness():
    full = OpenCLIPConfig.vit_h_14()
    assert (full.text.width, full.text.layers, full.text.heads, full.text.vocab_size) == (1024, 24, 16, 49408)
    assert (full.vision.width, full.vision.layers, full.vision.heads, full.vision.patch_size) == (1280, 32, 16, 14)
    assert full.vision.num_tokens == 257
    open_clip_json = {
        "embed_dim": 1024,
        "vision_cfg": {"image_size": 224, "layers": 32, "width": 1280, "head_width": 80, "patch_size": 14},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 1024, "heads": 16, "layers": 24},
    }
    assert OpenCLIPConfig.from_reference_params(open_clip_json) == full
    micro = variant_config("256")["clip_model_config"]
    with pytest.raises(ValueError, match="quick_gelu"):
        OpenCLIPConfig.from_reference_params({**micro, "quick_gelu": True})
    with pytest.raises(ValueError, match="ls_init_value"):
        OpenCLIPConfig.from_reference_params({**micro, "vision_cfg": {**micro["vision_cfg"], "ls_init_value": 0.1}})
    with pytest.raises(ValueError, match="layers"):
        text_cfg = {k: v for k, v in micro["text_cfg"].items() if k != "layers"}
        OpenCLIPConfig.from_reference_params({**micro, "text_cfg": text_cfg})
