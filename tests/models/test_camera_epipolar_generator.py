"""`epipolar_masks(generator=None)`: a fixed-seed perturbation, never the global RNG (issue 6)."""

import torch

from realcam.models.camera.epipolar import DEFAULT_PERTURBATION_SEED, epipolar_masks


def cameras():
    """Two coincident frames (zero translation: the perturbation decides their block) and one 0.5 m to the right."""
    c2w = torch.eye(4).repeat(1, 3, 1, 1)
    c2w[0, 2, 0, 3] = 0.5
    K = torch.tensor([[16.0, 0, 16], [0, 16, 16], [0, 0, 1]]).repeat(1, 3, 1, 1)
    return c2w, K


def test_no_generator_is_reproducible_and_leaves_the_global_rng_alone():
    c2w, K = cameras()
    torch.manual_seed(1)
    state = torch.get_rng_state()
    first = epipolar_masks(c2w, K, 32, 32, [8], generator=None)[8]
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG was not drawn from
    torch.manual_seed(2)
    second = epipolar_masks(c2w, K, 32, 32, [8], generator=None)[8]
    assert torch.equal(first, second)
    seeded = torch.Generator().manual_seed(DEFAULT_PERTURBATION_SEED)
    assert torch.equal(first, epipolar_masks(c2w, K, 32, 32, [8], generator=seeded)[8])
    # The perturbation matters for the coincident pair: another seed gives another block there.
    other = epipolar_masks(c2w, K, 32, 32, [8], generator=torch.Generator().manual_seed(5))[8]
    n = 16  # (32 / 8) ** 2 grid points per frame
    assert not torch.equal(first[0, :n, n : 2 * n], other[0, :n, n : 2 * n])
    # Frames 0, 1 against the translated frame 2 are not perturbed.
    assert torch.equal(first[0, : 2 * n, 2 * n :], other[0, : 2 * n, 2 * n :])
