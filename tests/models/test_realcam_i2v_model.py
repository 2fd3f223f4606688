"""The assembled RealCam-I2V model: full-size key contract, parameter counts, strict loading of the micro model."""

import pytest
import torch
from parity import micro_model_config, variant_state_dict
from reference_keys import reference_key_shapes

from realcam.checkpoints.load import load_state_dict_strict
from realcam.errors import CheckpointMismatchError
from realcam.models.realcam_i2v import RealCamI2V, RealCamI2VConfig, expected_state_shapes, parameter_counts


@pytest.mark.parametrize("variant,count", [("256", 3222), ("512", 3207)])
def test_full_size_keys_and_shapes_equal_reference_table(variant, count):
    expected = reference_key_shapes(variant)
    got = expected_state_shapes(RealCamI2VConfig.preset(variant))
    assert len(expected) == count
    assert sorted(set(expected) - set(got)) == []
    assert sorted(set(got) - set(expected)) == []
    assert {k: v for k, v in got.items() if expected[k] != v} == {}


@pytest.mark.parametrize("variant,unet_base", [("256", 1_438_854_996), ("512", 1_438_854_980)])
def test_full_size_parameter_counts(variant, unet_base):
    with torch.device("meta"):
        model = RealCamI2V(RealCamI2VConfig.preset(variant))
    counts = parameter_counts(model)
    assert counts["unet"] == unet_base
    assert counts["camera_plugin"] == 261_289_280  # pose encoder + 16 injected blocks (spec §1.1)
    assert counts["vae"] == 83_653_863
    assert counts["resampler"] == 48_787_456
    assert counts["depth"] == 335_315_649


@pytest.mark.parametrize("variant", ["256", "512"])
def test_micro_reference_state_dict_loads_strictly(variant):
    model = RealCamI2V(micro_model_config(variant))
    state = variant_state_dict(variant)
    load_state_dict_strict(model, state, what=f"micro {variant}")
    # The recomputed schedule buffers equal the reference's recorded ones.
    for name, value in model.config.schedule().reference_buffers().items():
        torch.testing.assert_close(value, state[name], rtol=0, atol=0)


def test_micro_512_rejects_256_weights_with_hint():
    model = RealCamI2V(micro_model_config("512"))
    with pytest.raises(CheckpointMismatchError, match="256 DynamiCrafter base"):
        state = variant_state_dict("256")
        state.pop("scale_arr", None)
        load_state_dict_strict(model, state)
