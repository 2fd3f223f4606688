"""KL-f8 VAE: full-size key contract, micro parity (item e), chunked decode, attention, config strictness."""

from __future__ import annotations

import math

import pytest
import torch
from einops import rearrange
from parity import fixture, variant_config, variant_state_dict
from reference_keys import reference_key_shapes

from realcam.models.vae import AttnBlock, AutoencoderKL, AutoencoderKLConfig, DiagonalGaussian

PREFIX = "first_stage_model."


def close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """README section 7 tolerance for one network call: max|diff| <= 1e-4 * (1 + max|ref|)."""
    tol = 1e-4 * (1 + expected.abs().max().item())
    torch.testing.assert_close(actual, expected, atol=tol, rtol=0)


@pytest.fixture(scope="module", params=["256", "512"])
def micro(request):
    v = request.param
    params = variant_config(v)["model"]["params"]["first_stage_config"]["params"]
    model = AutoencoderKL(AutoencoderKLConfig.from_reference_params(params)).eval()
    state = {k[len(PREFIX) :]: t for k, t in variant_state_dict(v).items() if k.startswith(PREFIX)}
    model.load_state_dict(state, strict=True)
    return v, model, fixture(v, "e_vae")


def test_full_size_keys_shapes_and_count():
    with torch.device("meta"):
        model = AutoencoderKL(AutoencoderKLConfig.kl_f8())
    ours = {k: tuple(t.shape) for k, t in model.state_dict().items()}
    assert ours == reference_key_shapes(None, PREFIX)
    assert sum(p.numel() for p in model.parameters()) == 83_653_863


def test_full_size_shapes_on_meta():
    with torch.device("meta"):
        model = AutoencoderKL(AutoencoderKLConfig.kl_f8())
        z = model.encode_to_latent(torch.zeros(1, 3, 16, 320, 512))
        video = model.decode_latent(torch.zeros(1, 4, 16, 40, 64))
    assert z.shape == (1, 4, 16, 40, 64) and video.shape == (1, 3, 16, 320, 512)


def test_micro_encode_posterior_and_mode(micro):
    _, model, f = micro
    with torch.no_grad():
        post = model.encode(f["inputs"]["video"])
    fold = "b c f h w -> (b f) c h w"
    close(rearrange(post.mean, fold), f["posterior_mean"])
    close(rearrange(post.logvar, fold), f["posterior_logvar_clamped"])
    close(rearrange(post.std, fold), f["posterior_std"])
    close(model.config.scale_factor * post.mode(), f["z_mode"])
    assert f["scale_factor"] == model.config.scale_factor == 0.18215


def test_micro_seeded_sample_and_injected_noise(micro):
    _, model, f = micro
    video = f["inputs"]["video"]
    # The fixture's eps is what a generator seeded with `sample_seed` draws in the folded (b f) c h w shape.
    generator = torch.Generator().manual_seed(f["inputs"]["sample_seed"])
    with torch.no_grad():
        z_seeded = model.encode_to_latent(video, generator, chunk_frames=6)
    close(z_seeded, f["z_sample"])
    assert z_seeded.shape == (1, 4, 16, video.shape[-2] // 8, video.shape[-1] // 8)
    mean = rearrange(f["posterior_mean"], "(b f) c h w -> b c f h w", b=1)
    logvar = rearrange(f["posterior_logvar_clamped"], "(b f) c h w -> b c f h w", b=1)
    noise = rearrange(f["sample_eps"], "(b f) c h w -> b c f h w", b=1)
    injected = DiagonalGaussian(mean, logvar).sample(noise=noise)
    torch.testing.assert_close(f["scale_factor"] * injected, f["z_sample"], atol=1e-6, rtol=0)


def test_micro_decode(micro):
    _, model, f = micro
    with torch.no_grad():
        out = model.decode_latent(f["z_mode"], chunk_frames=5)
    close(out, f["decoded_from_z_mode"])


def tiny_model() -> AutoencoderKL:
    torch.manual_seed(0)
    config = AutoencoderKLConfig(
        base_channels=32, channel_mult=(1, 2), num_res_blocks=1, attn_resolutions=(16,), resolution=16
    )
    return AutoencoderKL(config).eval()


def test_tiny_model_places_attention_by_resolution():
    keys = tiny_model().state_dict().keys()
    assert "encoder.down.0.attn.0.q.weight" in keys and "decoder.up.0.attn.1.q.weight" in keys
    assert not any(k.startswith(("encoder.down.1.attn", "decoder.up.1.attn")) for k in keys)
    assert "encoder.down.1.block.0.nin_shortcut.weight" in keys and "decoder.up.0.block.0.nin_shortcut.weight" in keys


def test_chunked_decode_equals_unchunked_and_shapes():
    model = tiny_model()
    z = torch.randn(2, 4, 3, 4, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full = model.decode(z, chunk_frames=None)
        for chunk in (1, 2, 4, 100):
            torch.testing.assert_close(model.decode(z, chunk_frames=chunk), full, atol=1e-5, rtol=0)
    assert full.shape == (2, 3, 3, 8, 12)
    with pytest.raises(ValueError, match="chunk_frames"):
        model.decode(z, chunk_frames=0)


def test_video_and_image_layouts_agree():
    model = tiny_model()
    video = torch.rand(2, 3, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.no_grad():
        post_video = model.encode(video)
        post_images = model.encode(rearrange(video, "b c f h w -> (b f) c h w"))
    assert post_video.mean.shape == (2, 4, 3, 8, 8)
    torch.testing.assert_close(rearrange(post_video.mean, "b c f h w -> (b f) c h w"), post_images.mean)
    with pytest.raises(ValueError, match="multiples of 2"):
        model.encode(torch.zeros(1, 3, 15, 16))
    with pytest.raises(ValueError, match="pixels"):
        model.encode(torch.zeros(1, 4, 16, 16))


def test_float64_matches_float32():
    model = tiny_model()
    x = torch.rand(1, 3, 2, 16, 16, generator=torch.Generator().manual_seed(5)) * 2 - 1
    with torch.no_grad():
        z32 = model.encode_to_latent(x)
        out32 = model.decode_latent(z32)
        model64 = model.double()
        z64 = model64.encode_to_latent(x.double())
        out64 = model64.decode_latent(z64)
    assert z64.dtype == out64.dtype == torch.float64
    torch.testing.assert_close(z64.float(), z32, atol=1e-4, rtol=0)
    torch.testing.assert_close(out64.float(), out32, atol=1e-4, rtol=0)


def test_posterior_sampling_rules():
    mean = torch.zeros(1, 4, 2, 2, 2)
    post = DiagonalGaussian(mean, torch.full_like(mean, 100.0))
    assert torch.all(post.logvar == 20.0)  # clamped to [-30, 20]
    a = post.sample(torch.Generator().manual_seed(3))
    b = post.sample(torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    eps = torch.randn((2, 4, 2, 2), generator=torch.Generator().manual_seed(3))  # folded (b f) order
    torch.testing.assert_close(a, math.exp(10.0) * rearrange(eps, "(b f) c h w -> b c f h w", b=1))
    with pytest.raises(ValueError, match="noise"):
        post.sample(noise=torch.zeros(1, 4, 2, 2))
    model = tiny_model()
    x = torch.zeros(1, 3, 2, 16, 16)
    with torch.no_grad():  # no generator and no noise: the deterministic mode
        torch.testing.assert_close(model.encode_to_latent(x), 0.18215 * model.encode(x).mode())


def test_attention_block_matches_hand_written_softmax():
    torch.manual_seed(4)
    block = AttnBlock(32).eval()
    x = torch.randn(2, 32, 3, 5)
    with torch.no_grad():
        y = block(x)
        h = block.norm(x)
        q = block.q(h).flatten(2).transpose(1, 2)  # (n hw c)
        k = block.k(h).flatten(2)  # (n c hw)
        v = block.v(h).flatten(2)  # (n c hw)
        weights = torch.softmax(q @ k / math.sqrt(32), dim=-1)  # (n hw hw), query rows
        out = (v @ weights.transpose(1, 2)).reshape(2, 32, 3, 5)
        expected = x + block.proj_out(out)
    torch.testing.assert_close(y, expected, atol=1e-5, rtol=0)


def test_safetensors_round_trip_under_reference_prefix(tmp_path):
    from safetensors.torch import load_file, save_file

    model = tiny_model()
    save_file({PREFIX + k: t.contiguous() for k, t in model.state_dict().items()}, tmp_path / "vae.safetensors")
    loaded = load_file(tmp_path / "vae.safetensors")
    other = AutoencoderKL(model.config).eval()
    other.load_state_dict({k[len(PREFIX) :]: t for k, t in loaded.items()}, strict=True)
    z = torch.randn(1, 4, 2, 4, 4, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        torch.testing.assert_close(other.decode(z), model.decode(z), atol=0, rtol=0)


def test_config_strictness():
    params = dict(variant_config("256")["model"]["params"]["first_stage_config"]["params"])
    config = AutoencoderKLConfig.from_reference_params(params)
    assert config.channel_mult == (1, 1, 1, 2) and config.base_channels == 32 and config.downsample_factor == 8
    with pytest.raises(ValueError, match="bogus"):
        AutoencoderKLConfig.from_reference_params({**params, "bogus": 1})
    with pytest.raises(ValueError, match="attn_type"):
        AutoencoderKLConfig.from_reference_params({**params, "ddconfig": {**params["ddconfig"], "attn_type": "x"}})
    with pytest.raises(ValueError, match="embed_dim"):
        AutoencoderKLConfig.from_reference_params({"ddconfig": params["ddconfig"]})
