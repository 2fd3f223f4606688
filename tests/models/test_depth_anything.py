"""Depth-Anything-V2 metric depth: checkpoint contract, parity item f (stage by stage), .pth loading, the estimator."""

from __future__ import annotations

import numpy as np
import parity
import pytest
import torch
from reference_keys import reference_key_shapes

from realcam.errors import CheckpointMismatchError
from realcam.models.depth.depth_anything import (
    DepthAnythingConfig,
    DepthAnythingV2,
    MetricDepthEstimator,
    load_depth_anything_pth,
)
from realcam.models.depth.dinov2 import DinoV2Config


def _micro_config(variant: str) -> DepthAnythingConfig:
    config = parity.variant_config(variant)
    params = config["model"]["params"]["depth_predictor_config"]["params"]
    return DepthAnythingConfig.from_reference_params(params, config["depth_vitl_encoder"])


def _micro_estimator(variant: str) -> MetricDepthEstimator:
    estimator = MetricDepthEstimator(DepthAnythingV2(_micro_config(variant)))
    state = {k: v for k, v in parity.variant_state_dict(variant).items() if k.startswith("depth_predictor")}
    estimator.load_state_dict(state, strict=True)  # reference key names, no renaming
    return estimator.eval()


def _tiny_config(max_depth: float = 20.0) -> DepthAnythingConfig:
    encoder = DinoV2Config(embed_dim=16, depth=4, num_heads=2, img_size=70)
    return DepthAnythingConfig(encoder, features=8, out_channels=(4, 8, 16, 16), max_depth=max_depth,
                               intermediate_layers=(0, 1, 2, 3))  # fmt: skip


def test_full_size_keys_shapes_and_count_on_meta():
    with torch.device("meta"):
        estimator = MetricDepthEstimator(DepthAnythingV2(DepthAnythingConfig.vitl_hypersim()))
    ours = {k: tuple(v.shape) for k, v in estimator.state_dict().items()}
    assert ours == reference_key_shapes(None, "depth_predictor", strip_prefix=False)
    assert len(ours) == 409
    assert sum(p.numel() for p in estimator.parameters()) == 335_315_649


@pytest.mark.parametrize("preset", ["vits", "vitb", "vitl_vkitti"])
def test_other_presets_build(preset):
    config = getattr(DepthAnythingConfig, preset)()
    with torch.device("meta"):
        model = DepthAnythingV2(config)
    assert model.pretrained.pos_embed.shape == (1, 1370, config.encoder.embed_dim)
    assert model.depth_head.scratch.layer4_rn.weight.shape == (config.features, config.out_channels[3], 3, 3)
    assert DepthAnythingConfig.vitl_vkitti().max_depth == 80.0


def test_normalizer_buffers_match_reference():
    state = parity.variant_state_dict("256")
    estimator = MetricDepthEstimator(DepthAnythingV2(_micro_config("256")))
    for name in ("depth_predictor_normalizer_mean", "depth_predictor_normalizer_std"):
        torch.testing.assert_close(estimator.state_dict()[name], state[name], atol=0, rtol=0)


@pytest.mark.parametrize("variant", parity.VARIANTS)
def test_parity_item_f_stage_by_stage(variant):
    item = parity.fixture(variant, "f_depth")
    estimator = _micro_estimator(variant)
    frame = (item["inputs"]["video"][:, :, int(item["inputs"]["cond_frame_index"])] + 1) / 2
    H, W = frame.shape[-2:]

    x = estimator.preprocess(frame)
    assert x.shape == item["depth_predictor_input"].shape
    torch.testing.assert_close(x, item["depth_predictor_input"], atol=0, rtol=0)

    grid = tuple(item["encoder_patch_grid"])
    assert grid == (x.shape[-2] // 14, x.shape[-1] // 14)
    with torch.no_grad():
        table = estimator.model.pretrained.interpolate_pos_encoding(*grid)
        torch.testing.assert_close(table, item["encoder_pos_embed_interpolated"], atol=1e-6, rtol=0)
        layers = estimator.model.pretrained.intermediate_layers(x, estimator.model.config.intermediate_layers)
        for (patch, cls), ref in zip(layers, item["encoder_intermediate_layers"]):
            for ours, theirs in ((patch, ref["patch_tokens"]), (cls, ref["class_token"])):
                assert (ours - theirs).abs().max() <= 1e-4 * (1 + theirs.abs().max())
        depth = estimator.infer(x)
        ref = item["depth_predictor_output"]
        assert depth.shape == ref.shape
        assert (depth - ref).abs().max() <= 1e-4 * (1 + ref.abs().max())
        assert item["max_depth"] == estimator.max_depth == 20.0

        resized = estimator.postprocess(ref, H, W)[0]
        torch.testing.assert_close(resized.double(), item["depth_at_HW"], atol=1e-5, rtol=0)
        full = estimator.estimate(frame)[0]
        assert (full.double() - item["depth_at_HW"]).abs().max() <= 1e-4 * (1 + item["depth_at_HW"].abs().max())


def test_uint8_interface_and_sizes():
    torch.manual_seed(0)
    estimator = MetricDepthEstimator(DepthAnythingV2(_tiny_config())).eval()
    image = np.random.default_rng(0).integers(0, 256, size=(30, 45, 3), dtype=np.uint8)
    depth = estimator(image)
    assert depth.shape == (30, 45) and depth.dtype == torch.float32
    assert (depth > 0).all() and (depth < 20).all()
    torch.testing.assert_close(estimator(image), depth, atol=0, rtol=0)
    assert estimator.network_size(256, 256) == (252, 252)
    assert estimator.network_size(320, 512) == (322, 518)
    assert estimator.network_size(64, 128) == (70, 126)
    with pytest.raises(ValueError, match="uint8"):
        estimator(image.astype(np.float32))
    with pytest.raises(ValueError, match="uint8"):
        estimator(torch.zeros(30, 45, 3, dtype=torch.uint8))


def test_short_side_option():
    model = DepthAnythingV2(_tiny_config()).eval()
    estimator = MetricDepthEstimator(model, resize="short_side", input_size=42)
    assert MetricDepthEstimator(model, resize="short_side").network_size(320, 512) == (518, 826)
    assert MetricDepthEstimator(model, resize="short_side").network_size(256, 256) == (518, 518)
    assert estimator.network_size(30, 45) == (42, 56)  # 63 / 14 = 4.5 rounds half-to-even, as np.round
    image = np.random.default_rng(1).integers(0, 256, size=(30, 45, 3), dtype=np.uint8)
    assert estimator(image).shape == (30, 45)
    with pytest.raises(ValueError, match="resize"):
        MetricDepthEstimator(model, resize="bicubic")
    with pytest.raises(ValueError, match="max_depth"):
        MetricDepthEstimator(model, max_depth=80.0)


def test_load_depth_anything_pth_round_trip_and_errors(tmp_path):
    torch.manual_seed(0)
    config = _tiny_config()
    source = DepthAnythingV2(config).eval()
    path = tmp_path / "depth_anything_v2_metric_hypersim_tiny.pth"
    torch.save(source.state_dict(), path)
    loaded = load_depth_anything_pth(path, config)
    x = torch.randn(1, 3, 28, 42, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), source(x), atol=0, rtol=0)

    broken = dict(source.state_dict())
    broken.pop("pretrained.mask_token")
    broken["depth_head.extra.weight"] = torch.zeros(1)
    broken["pretrained.norm.weight"] = torch.zeros(3)
    torch.save(broken, path)
    with pytest.raises(CheckpointMismatchError) as error:
        load_depth_anything_pth(path, config)
    message = str(error.value)
    assert "missing (1): pretrained.mask_token" in message
    assert "unexpected (1): depth_head.extra.weight" in message
    assert "mis-shaped (1): pretrained.norm.weight" in message

    torch.save({f"depth_predictor.{k}": v for k, v in source.state_dict().items()}, path)
    with pytest.raises(CheckpointMismatchError, match="depth_predictor"):
        load_depth_anything_pth(path, config)
    with pytest.raises(FileNotFoundError):
        load_depth_anything_pth(tmp_path / "absent.pth", config)


def test_from_reference_params_is_strict():
    params = parity.variant_config("512")["model"]["params"]["depth_predictor_config"]["params"]
    assert DepthAnythingConfig.from_reference_params(params).encoder == DinoV2Config.vitl()
    with pytest.raises(ValueError, match="unknown keys"):
        DepthAnythingConfig.from_reference_params({**params, "bogus": 1})
    with pytest.raises(ValueError, match="use_bn"):
        DepthAnythingConfig.from_reference_params({**params, "use_bn": True})
    with pytest.raises(ValueError, match="encoder"):
        DepthAnythingConfig.from_reference_params({**params, "encoder": "vitg"})
    with pytest.raises(ValueError, match="intermediate_layers"):
        DepthAnythingConfig(intermediate_layers=(4, 11, 17, 24))


@pytest.mark.weights
def test_released_hypersim_vitl_loads_and_gives_plausible_depth():
    from realcam.checkpoints.hub import WEIGHT_FILES, locate

    path = locate(WEIGHT_FILES["depth-indoor"])
    if path is None:
        pytest.skip("depth_anything_v2_metric_hypersim_vitl.pth is not in the weights cache")
    estimator = MetricDepthEstimator(load_depth_anything_pth(path, DepthAnythingConfig.vitl_hypersim())).eval()
    # A synthetic ramp image: the result only has to be finite metric depth in (0, 20) m at the image size.
    ramp = np.linspace(0, 255, 256, dtype=np.float32)
    image = np.stack([np.tile(ramp, (256, 1)), np.tile(ramp[:, None], (1, 256)), np.full((256, 256), 128.0)], -1)
    depth = estimator(image.astype(np.uint8))
    assert depth.shape == (256, 256) and torch.isfinite(depth).all()
    assert (depth > 0).all() and (depth < 20).all()
