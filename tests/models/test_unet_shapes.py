"""Tiny-config behaviour of the UNet: shapes, batching (CFG calls it with batch 2-3), the camera-free path, masks,
dtypes, config parsing and input errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from parity import variant_config
from torch.testing import assert_close

from realcam.models.camera.condition import CameraCondition
from realcam.models.unet import UNET_256, UNET_512, CameraInjectionConfig, UNetConfig, UNetModel
from realcam.models.unet.blocks import GroupNorm32, ResBlock

TINY = UNetConfig(
    model_channels=32,
    attention_resolutions=(1, 2),
    channel_mult=(1, 2),
    num_head_channels=16,
    context_dim=16,
    image_cross_attention_scale_learnable=True,
    default_fs=3,
    camera=CameraInjectionConfig(num_register_tokens=2),
)
F_, H, W, N_IMG = 2, 4, 6, 3  # frames, latent height/width, image tokens per frame


def randomize(model: UNetModel, seed: int) -> UNetModel:
    """Draw every parameter, including the zero-initialised ones, so that every path is live."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) / max(1, p[0].numel() if p.ndim > 1 else 1) ** 0.5 * 0.5)
    return model.eval()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return randomize(UNetModel(TINY), 0)


def inputs(b: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 8, F_, H, W, generator=g)
    t = torch.randint(0, 1000, (b,), generator=g)
    context = torch.randn(b, 77 + F_ * N_IMG, 16, generator=g)
    return x, t, context


def camera(b: int, seed: int = 2, masks: bool = True) -> CameraCondition:
    g = torch.Generator().manual_seed(seed)
    features = (torch.randn(b, 32, F_, H, W, generator=g), torch.randn(b, 64, F_, H // 2, W // 2, generator=g))
    epipolar = {}
    if masks:  # pixel size 32 x 48: stride 8 for the finest level, 16 for the coarse one
        for stride, (h, w) in ((8, (H, W)), (16, (H // 2, W // 2))):
            n = F_ * h * w
            epipolar[stride] = torch.rand(b, n, n, generator=g) > 0.5
    return CameraCondition(features=features, epipolar_masks=epipolar, origin_hw=(8 * H, 8 * W))


def test_output_shape_and_determinism(model):
    x, t, context = inputs(2)
    with torch.no_grad():
        out = model(x, t, context, torch.tensor([3, 5]), camera(2))
        again = model(x, t, context, torch.tensor([3, 5]), camera(2))
    assert out.shape == (2, 4, F_, H, W)
    assert torch.equal(out, again)


@pytest.mark.parametrize("with_camera", [False, True])
def test_batch_items_are_independent(model, with_camera):
    x, t, context = inputs(3)
    fs = torch.tensor([3, 4, 9])
    cam = camera(3) if with_camera else None
    with torch.no_grad():
        batched = model(x, t, context, fs, cam)
        for i in range(3):
            single_cam = None
            if cam is not None:
                single_cam = CameraCondition(
                    features=tuple(f[i : i + 1] for f in cam.features),
                    epipolar_masks={d: m[i : i + 1] for d, m in cam.epipolar_masks.items()},
                    origin_hw=cam.origin_hw,
                )
            single = model(x[i : i + 1], t[i : i + 1], context[i : i + 1], fs[i : i + 1], single_cam)
            assert_close(batched[i : i + 1], single, rtol=1e-5, atol=1e-5)


def test_camera_of_batch_one_broadcasts(model):
    x, t, context = inputs(2)
    cam1 = camera(1)
    cam2 = CameraCondition(
        features=tuple(f.expand(2, -1, -1, -1, -1) for f in cam1.features),
        epipolar_masks={d: m.expand(2, -1, -1) for d, m in cam1.epipolar_masks.items()},
        origin_hw=cam1.origin_hw,
    )
    with torch.no_grad():
        assert_close(model(x, t, context, None, cam1), model(x, t, context, None, cam2))


def test_camera_changes_output_and_masks_matter(model):
    x, t, context = inputs(1)
    with torch.no_grad():
        free = model(x, t, context)
        masked = model(x, t, context, camera=camera(1))
        unmasked = model(x, t, context, camera=camera(1, masks=False))
        all_true = camera(1)
        all_true = dataclasses.replace(
            all_true, epipolar_masks={d: torch.ones_like(m) for d, m in all_true.epipolar_masks.items()}
        )
        full = model(x, t, context, camera=all_true)
    assert (free - masked).abs().max() > 1e-3
    assert (masked - unmasked).abs().max() > 1e-3
    assert_close(unmasked, full)  # a missing mask level means full attention


def test_full_attention_config_ignores_masks(model):
    full_model = UNetModel(dataclasses.replace(TINY, camera=CameraInjectionConfig(2, full_attention=True)))
    full_model.load_state_dict(model.state_dict())
    x, t, context = inputs(1)
    with torch.no_grad():
        assert_close(
            full_model.eval()(x, t, context, camera=camera(1)), model(x, t, context, camera=camera(1, masks=False))
        )


def test_fresh_camera_plugin_is_a_no_op():
    torch.manual_seed(5)
    fresh = UNetModel(TINY).eval()
    with torch.no_grad():  # make the base network non-trivial; the plug-in keeps its zero-initialised outputs
        for name, p in fresh.named_parameters():
            if "pluker_projection" not in name and "epipolar" not in name and p.abs().max() == 0:
                p.normal_(0, 0.1)
    x, t, context = inputs(1)
    with torch.no_grad():
        free = fresh(x, t, context)
        assert free.abs().max() > 0
        assert_close(fresh(x, t, context, camera=camera(1)), free)


def test_default_fs_is_used_when_fs_is_none(model):
    x, t, context = inputs(2)
    with torch.no_grad():
        assert_close(model(x, t, context, None), model(x, t, context, torch.tensor([3, 3])))
        assert (model(x, t, context, None) - model(x, t, context, torch.tensor([4, 4]))).abs().max() > 1e-4


def test_bfloat16_model_close_to_float32(model):
    half = UNetModel(TINY)
    half.load_state_dict(model.state_dict())
    half = half.to(torch.bfloat16).eval()
    norms = [m for m in half.modules() if isinstance(m, ResBlock)]
    assert norms and all(isinstance(r.in_layers[0], GroupNorm32) for r in norms)
    assert isinstance(half.out[0], GroupNorm32)
    x, t, context = inputs(1)
    cam = camera(1)
    cam16 = dataclasses.replace(cam, features=tuple(f.bfloat16() for f in cam.features))
    with torch.no_grad():
        out = half(x.bfloat16(), t, context.bfloat16(), None, cam16)
        ref = model(x, t, context, None, cam)
    assert out.dtype == torch.bfloat16
    assert (out.float() - ref).abs().max() < 0.1 * (1 + ref.abs().max())


def test_state_dict_round_trip(model, tmp_path):
    path = tmp_path / "unet.pt"
    torch.save(model.state_dict(), path)
    other = UNetModel(TINY)
    other.load_state_dict(torch.load(path, weights_only=True), strict=True)
    x, t, context = inputs(1)
    with torch.no_grad():
        assert torch.equal(other.eval()(x, t, context), model(x, t, context))


def test_input_errors(model):
    x, t, context = inputs(1)
    with pytest.raises(ValueError, match="x must be"):
        model(x[:, :4], t, context)
    with pytest.raises(ValueError, match="t must have shape"):
        model(x, t[0], context)
    with pytest.raises(ValueError, match="multiples"):
        model(x[..., :3], t, context)
    with pytest.raises(ValueError, match="text tokens"):
        model(x, t, context[:, :-1])
    with pytest.raises(ValueError, match="fs must have shape"):
        model(x, t, context, torch.tensor([3, 3]))
    cam = camera(1)
    with pytest.raises(ValueError, match="levels"):
        model(x, t, context, camera=dataclasses.replace(cam, features=cam.features[:1]))
    with pytest.raises(ValueError, match=r"camera.features\[0\]"):
        model(x, t, context, camera=dataclasses.replace(cam, features=(cam.features[0][:, :16], cam.features[1])))
    free = UNetModel(dataclasses.replace(TINY, camera=None))
    with pytest.raises(ValueError, match="without the camera plug-in"):
        free(x, t, context, camera=cam)


def full_size_reference_params(variant: str) -> dict:
    """The micro YAML's unet params with the released widths restored (README §3 table)."""
    params = dict(variant_config(variant)["model"]["params"]["unet_config"]["params"])
    params.update(model_channels=320, channel_mult=[1, 2, 4, 4], num_head_channels=64, context_dim=1024)
    return params


@pytest.mark.parametrize(("variant", "preset"), [("256", UNET_256), ("512", UNET_512)])
def test_presets_equal_the_reference_yaml(variant, preset):
    model_params = variant_config(variant)["model"]["params"]
    camera = {**model_params["epipolar_config"], "add_type": model_params["add_type"]}
    assert UNetConfig.from_reference_params(full_size_reference_params(variant), camera=camera) == preset
    assert UNetConfig.from_reference_params(full_size_reference_params(variant), camera=None).camera is None


def test_reference_params_errors():
    params = full_size_reference_params("256")
    with pytest.raises(ValueError, match="bogus_key"):
        UNetConfig.from_reference_params({**params, "bogus_key": 1}, camera=None)
    with pytest.raises(ValueError, match="use_relative_position"):
        UNetConfig.from_reference_params({**params, "use_relative_position": True}, camera=None)
    with pytest.raises(ValueError, match="add_type"):
        UNetConfig.from_reference_params(params, camera={"add_type": "x", "num_register_tokens": 4})
    with pytest.raises(ValueError, match="mystery"):
        UNetConfig.from_reference_params(
            params, camera={"mystery": 1, "add_type": "add_to_main_branch", "num_register_tokens": 4}
        )
    with pytest.raises(ValueError, match="unknown UNet preset"):
        UNetConfig.preset("1024")


def test_reference_params_missing_keys_raise():
    params = full_size_reference_params("256")
    del params["model_channels"]
    with pytest.raises(ValueError, match="missing unet_config.params keys: \\['model_channels'\\]"):
        UNetConfig.from_reference_params(params, camera=None)
    with pytest.raises(ValueError, match="num_register_tokens"):
        UNetConfig.from_reference_params(full_size_reference_params("256"), camera={"add_type": "add_to_main_branch"})


def test_config_rejects_widths_that_do_not_split():
    with pytest.raises(ValueError, match="32 groups"):
        UNetConfig(model_channels=48, channel_mult=(1, 2), num_head_channels=16)


def test_gradients_reach_the_camera_plugin(model):
    trainable = UNetModel(TINY)
    trainable.load_state_dict(model.state_dict())
    trainable.eval()
    x, t, context = inputs(1)
    trainable(x, t, context, camera=camera(1)).square().mean().backward()
    block = trainable.input_blocks[1][2].transformer_blocks[0]
    for p in (block.pluker_projection.weight, block.epipolar.epipolar_attn.register_tokens):
        assert p.grad is not None and p.grad.abs().max() > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_half_matches_cpu_float32(model, dtype):
    gpu = UNetModel(TINY)
    gpu.load_state_dict(model.state_dict())
    gpu = gpu.to("cuda", dtype).eval()
    x, t, context = inputs(2)
    cam = camera(2)
    cam_gpu = CameraCondition(
        features=tuple(f.to("cuda", dtype) for f in cam.features),
        epipolar_masks={d: m.cuda() for d, m in cam.epipolar_masks.items()},
        origin_hw=cam.origin_hw,
    )
    with torch.no_grad():
        out = gpu(x.to("cuda", dtype), t.cuda(), context.to("cuda", dtype), None, cam_gpu).float().cpu()
        ref = model(x, t, context, None, cam)
    assert (out - ref).abs().max() < 0.05 * (1 + ref.abs().max())
