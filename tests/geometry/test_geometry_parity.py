"""Relative poses and Plücker maps against the reference's recorded values (parity item a, both variants).
Tolerance from tests/fixtures/parity/README.md §7: parameter-free float maths, atol 1e-5."""

import pytest
import torch
from parity import fixture

from realcam.geometry.plucker import plucker_embedding
from realcam.geometry.se3 import invert_se3, relative_c2w, scale_translation


@pytest.fixture(scope="module", params=["256", "512"])
def item_a(request):
    return fixture(request.param, "a_plucker")


def test_relative_poses_match_reference(item_a):
    inputs = item_a["inputs"]
    c2w = invert_se3(inputs["w2c"])
    cond = int(inputs["cond_frame_index"][0])
    rel = relative_c2w(c2w, cond)
    torch.testing.assert_close(rel, item_a["relative_c2w"], atol=1e-5, rtol=0)
    scaled = scale_translation(rel, inputs["trace_scale_factor"])
    torch.testing.assert_close(scaled, item_a["relative_c2w_scaled"], atol=1e-5, rtol=0)
    cond5 = item_a["cond5"]
    rel5 = relative_c2w(c2w, int(cond5["cond_frame_index"][0]))
    torch.testing.assert_close(rel5, cond5["relative_c2w"], atol=1e-5, rtol=0)
    torch.testing.assert_close(
        scale_translation(rel5, inputs["trace_scale_factor"]), cond5["relative_c2w_scaled"], atol=1e-5, rtol=0
    )


def test_plucker_matches_reference(item_a):
    inputs = item_a["inputs"]
    rel = scale_translation(relative_c2w(invert_se3(inputs["w2c"]), 0), inputs["trace_scale_factor"])
    out = plucker_embedding(rel, inputs["K"], inputs["H"], inputs["W"])
    assert out.dtype == torch.float32
    assert out.shape == (1, 6, 16, inputs["H"], inputs["W"])
    torch.testing.assert_close(out, item_a["plucker"], atol=1e-5, rtol=0)
    # From the recorded poses the computation is the same, to the bit.
    exact = plucker_embedding(item_a["relative_c2w_scaled"], inputs["K"], inputs["H"], inputs["W"])
    torch.testing.assert_close(exact, item_a["plucker"], atol=1e-6, rtol=0)
