"""Camera pose encoder: checkpoint contract (full size on meta), parity item c, config strictness."""

from __future__ import annotations

import parity
import pytest
import torch
from reference_keys import reference_key_shapes

from realcam.models.camera.pose_encoder import CameraPoseEncoder, PoseEncoderConfig, sinusoidal_table

PREFIX = "pose_encoder."


def _micro(variant: str) -> CameraPoseEncoder:
    params = parity.variant_config(variant)["model"]["params"]["pose_encoder_config"]["params"]
    model = CameraPoseEncoder(PoseEncoderConfig.from_reference_params(params))
    state = {k[len(PREFIX) :]: v for k, v in parity.variant_state_dict(variant).items() if k.startswith(PREFIX)}
    model.load_state_dict(state, strict=True)
    return model.eval()


def test_full_size_keys_shapes_and_counts_on_meta():
    with torch.device("meta"):
        model = CameraPoseEncoder(PoseEncoderConfig.full())
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == reference_key_shapes(None, PREFIX)
    assert sum(p.numel() for p in model.parameters()) == 199_262_400
    assert sum(b.numel() for b in model.buffers()) == 112_640
    assert len(ours) == 150


def test_position_table_matches_reference_buffers():
    state = parity.variant_state_dict("256")
    pe_keys = [k for k in state if k.endswith("pos_encoder.pe")]
    assert len(pe_keys) == 8
    for key in pe_keys:
        ref = state[key]
        torch.testing.assert_close(sinusoidal_table(ref.shape[1], ref.shape[2]), ref, atol=0, rtol=0)


@pytest.mark.parametrize("variant", parity.VARIANTS)
def test_parity_item_c(variant):
    item = parity.fixture(variant, "c_pose_encoder")
    with torch.no_grad():
        features = _micro(variant)(item["inputs"]["plucker"])
    assert len(features) == 4
    for ours, ref in zip(features, item["features"]):
        assert ours.shape == ref.shape
        tol = 1e-4 * (1 + ref.abs().max().item())
        assert (ours - ref).abs().max().item() <= tol


def test_deterministic_and_checks_input():
    torch.manual_seed(0)
    config = PoseEncoderConfig(channels=(16, 16, 32, 32), num_heads=8, max_frames=4)
    model = CameraPoseEncoder(config).eval()
    plucker = torch.randn(2, 6, 3, 64, 128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = model(plucker), model(plucker)
    assert [tuple(x.shape) for x in a] == [(2, 16, 3, 8, 16), (2, 16, 3, 4, 8), (2, 32, 3, 2, 4), (2, 32, 3, 1, 2)]
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, atol=0, rtol=0)
    # Batch elements are independent (frames are folded batch-major, not mixed across the batch).
    with torch.no_grad():
        single = model(plucker[1:])
    torch.testing.assert_close(single[0], a[0][1:], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="plucker"):
        model(plucker[:, :5])
    with pytest.raises(ValueError, match="multiples"):
        model(plucker[..., :60, :])
    with pytest.raises(ValueError, match="frames"):
        model(torch.zeros(1, 6, 5, 64, 64))


def test_from_reference_params_is_strict():
    params = dict(parity.variant_config("256")["model"]["params"]["pose_encoder_config"]["params"])
    assert PoseEncoderConfig.from_reference_params(params).channels == (32, 32, 32, 64)
    with pytest.raises(ValueError, match="unknown keys"):
        PoseEncoderConfig.from_reference_params({**params, "bogus": 1})
    with pytest.raises(ValueError, match="sk"):
        PoseEncoderConfig.from_reference_params({**params, "sk": False})
    with pytest.raises(ValueError, match="cin"):
        PoseEncoderConfig(cin=64)
