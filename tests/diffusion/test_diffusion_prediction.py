"""eps / v / x0 conversions: hand-computed values and round trips."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from realcam.diffusion.prediction import (
    eps_and_x0,
    eps_from_v,
    eps_from_x0,
    q_sample,
    v_from_eps,
    v_target,
    x0_from_eps,
    x0_from_v,
)

# ᾱ = 0.36: a = √ᾱ = 0.6, s = √(1−ᾱ) = 0.8.
A = torch.tensor(0.6, dtype=torch.float64)
S = torch.tensor(0.8, dtype=torch.float64)


def test_hand_computed_conversions():
    x0 = torch.tensor([1.0, -2.0], dtype=torch.float64)
    eps = torch.tensor([0.5, 1.0], dtype=torch.float64)
    x_t = q_sample(x0, eps, A, S)  # 0.6·x0 + 0.8·eps
    torch.testing.assert_close(x_t, torch.tensor([1.0, -0.4], dtype=torch.float64))
    v = v_target(x0, eps, A, S)  # 0.6·eps − 0.8·x0
    torch.testing.assert_close(v, torch.tensor([-0.5, 2.2], dtype=torch.float64))
    torch.testing.assert_close(x0_from_v(x_t, v, A, S), x0)  # 0.6·1 − 0.8·(−0.5) = 1
    torch.testing.assert_close(eps_from_v(x_t, v, A, S), eps)  # 0.6·(−0.5) + 0.8·1 = 0.5
    torch.testing.assert_close(v_from_eps(x_t, eps, A, S), v)  # (0.5 − 0.8·1)/0.6 = −0.5
    torch.testing.assert_close(x0_from_eps(x_t, eps, A, S), x0)  # (1 − 0.4)/0.6 = 1
    torch.testing.assert_close(eps_from_x0(x_t, x0, A, S), eps)  # (1 − 0.6)/0.8 = 0.5


def test_v_conversions_are_defined_at_zero_terminal_snr():
    # ᾱ = 0: x_t is pure noise, so eps = x_t and x0 = −v.
    x_t, v = torch.tensor([0.3]), torch.tensor([-1.5])
    zero, one = torch.tensor(0.0), torch.tensor(1.0)
    eps, x0 = eps_and_x0("v", x_t, v, zero, one)
    assert torch.equal(eps, x_t) and torch.equal(x0, -v)


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=0.001, max_value=0.999), st.integers(min_value=0, max_value=2**31 - 1))
def test_round_trips(alpha_cumprod, seed):
    g = torch.Generator().manual_seed(seed)
    x0, eps = torch.randn(2, 3, 4, generator=g, dtype=torch.float64).unbind(0)
    a = torch.tensor(alpha_cumprod, dtype=torch.float64).sqrt()
    s = torch.tensor(1.0 - alpha_cumprod, dtype=torch.float64).sqrt()
    x_t = q_sample(x0, eps, a, s)
    v = v_target(x0, eps, a, s)
    for parameterization, output in (("eps", eps), ("v", v)):
        eps_hat, x0_hat = eps_and_x0(parameterization, x_t, output, a, s)
        torch.testing.assert_close(eps_hat, eps, rtol=1e-9, atol=1e-9 / alpha_cumprod)
        torch.testing.assert_close(x0_hat, x0, rtol=1e-9, atol=1e-9 / alpha_cumprod)
    torch.testing.assert_close(v_from_eps(x_t, eps_from_v(x_t, v, a, s), a, s), v, rtol=1e-9, atol=1e-9 / alpha_cumprod)
