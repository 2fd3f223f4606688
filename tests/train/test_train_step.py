"""The pure training step: trainable subset, CFG dropout bands, relative poses, noising/targets (eps, v, dynamic
rescale, zero-terminal SNR), and one real forward/backward of the tiny 512 model (v + rescale)."""

import math

import pytest
import torch
from train_synthetic import SyntheticClips, make_model

from realcam.checkpoints.keys import is_camera_key
from realcam.data.dataset import collate
from realcam.diffusion.schedule import DiffusionSchedule
from realcam.pipeline.tiny import tiny_tokenizer
from realcam.train.step import (
    FROZEN_EVAL_MODULES,
    StepOptions,
    camera_parameter_names,
    dropout_masks,
    freeze_all_but_camera,
    noisy_latent_and_target,
    relative_to_condition_frame,
    training_step,
)

SCHEDULE_256 = DiffusionSchedule.make("eps", zero_terminal_snr=False)
SCHEDULE_512 = DiffusionSchedule.make("v", zero_terminal_snr=True, dynamic_rescale_base_scale=0.7)


def test_freeze_selects_exactly_the_camera_plugin():
    model = make_model("256")
    params = freeze_all_but_camera(model)
    names = camera_parameter_names(model)
    assert len(params) == len(names) > 0
    assert {n for n, p in model.named_parameters() if p.requires_grad} == set(names)
    assert all(is_camera_key(n) for n in names)
    assert any(n.startswith("pose_encoder.") for n in names)
    assert any(".pluker_projection." in n for n in names) and any(".epipolar." in n for n in names)
    assert model.unet.training and model.pose_encoder.training
    for name in FROZEN_EVAL_MODULES:
        module = getattr(model, name, None)
        assert module is None or not module.training, name


def test_dropout_bands_follow_the_reference():
    p = 0.05
    drop_text, drop_image = dropout_masks(200_000, p, torch.Generator().manual_seed(0))
    text_only = (drop_text & ~drop_image).float().mean().item()
    both = (drop_text & drop_image).float().mean().item()
    image_only = (~drop_text & drop_image).float().mean().item()
    for share in (text_only, both, image_only):
        assert abs(share - p) < 0.003
    # Band edges with the same draws: r < p text only, p <= r < 2p both, 2p <= r < 3p image only.
    r = torch.rand(1000, generator=torch.Generator().manual_seed(1))
    drop_text, drop_image = dropout_masks(1000, 0.2, torch.Generator().manual_seed(1))
    assert torch.equal(drop_text, r < 0.4)
    assert torch.equal(drop_image, (r >= 0.2) & (r < 0.6))
    with pytest.raises(ValueError, match="uncond_prob"):
        StepOptions(uncond_prob=0.4)


def test_relative_to_condition_frame_per_sample_and_idempotent():
    g = torch.Generator().manual_seed(2)
    c2w = torch.eye(4).repeat(2, 5, 1, 1)
    c2w[..., :3, 3] = torch.randn(2, 5, 3, generator=g)
    angle = torch.randn(2, 5, generator=g)
    c2w[..., 0, 0], c2w[..., 0, 1], c2w[..., 1, 0], c2w[..., 1, 1] = angle.cos(), -angle.sin(), angle.sin(), angle.cos()
    cond = torch.tensor([3, 0])
    rel = relative_to_condition_frame(c2w, cond)
    torch.testing.assert_close(rel[0, 3], torch.eye(4), atol=1e-6, rtol=0)
    torch.testing.assert_close(rel[1, 0], torch.eye(4), atol=1e-6, rtol=0)
    torch.testing.assert_close(rel[0], torch.linalg.inv(c2w[0, 3]) @ c2w[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(relative_to_condition_frame(rel, cond), rel, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="cond_index"):
        relative_to_condition_frame(c2w, torch.tensor([5, 0]))


def test_eps_target_and_noising():
    g = torch.Generator().manual_seed(3)
    x0, eps = torch.randn(2, 4, 3, 2, 2, generator=g), torch.randn(2, 4, 3, 2, 2, generator=g)
    t = torch.tensor([0, 999])
    x_t, target = noisy_latent_and_target(x0, t, eps, SCHEDULE_256)
    acp = SCHEDULE_256.alphas_cumprod
    for i, ti in enumerate(t.tolist()):
        expected = math.sqrt(acp[ti]) * x0[i] + math.sqrt(1 - acp[ti]) * eps[i]
        torch.testing.assert_close(x_t[i], expected, atol=1e-6, rtol=1e-6)
    assert target is eps


def test_v_target_with_dynamic_rescale_and_zero_terminal_snr():
    g = torch.Generator().manual_seed(4)
    x0, eps = torch.randn(3, 4, 2, 2, 2, generator=g), torch.randn(3, 4, 2, 2, 2, generator=g)
    t = torch.tensor([0, 199, 999])
    x_t, v = noisy_latent_and_target(x0, t, eps, SCHEDULE_512)
    acp, scale = SCHEDULE_512.alphas_cumprod, SCHEDULE_512.scale_arr
    assert scale[0] == 1.0 and abs(scale[199] - (1 - 0.3 * 199 / 399)) < 1e-12
    for i, ti in enumerate(t.tolist()):
        a, s = math.sqrt(acp[ti]), math.sqrt(1 - acp[ti])
        torch.testing.assert_close(x_t[i], a * float(scale[ti]) * x0[i] + s * eps[i], atol=1e-6, rtol=1e-6)
        # Reference behaviour: the v target uses the unscaled x0.
        torch.testing.assert_close(v[i], a * eps[i] - s * x0[i], atol=1e-6, rtol=1e-6)
    # Zero terminal SNR: at t = 999 the input is pure noise and v = -x0.
    torch.testing.assert_close(x_t[2], eps[2], atol=1e-6, rtol=0)
    torch.testing.assert_close(v[2], -x0[2], atol=1e-6, rtol=0)


def test_bad_batches_are_rejected():
    model = make_model("256")
    batch = collate([SyntheticClips(1)[0]])
    with pytest.raises(ValueError, match="missing 'K'"):
        training_step(
            model,
            {k: v for k, v in batch.items() if k != "K"},
            SCHEDULE_256,
            torch.Generator(),
            tokenizer=tiny_tokenizer(),
        )
    bad = dict(batch, rel_c2w=batch["rel_c2w"][:, :2])
    with pytest.raises(ValueError, match="rel_c2w"):
        training_step(model, bad, SCHEDULE_256, torch.Generator(), tokenizer=tiny_tokenizer())


def test_training_step_512_grads_only_on_the_plugin_and_deterministic():
    torch.set_num_threads(1)
    model = make_model("512")
    schedule = model.config.schedule()
    assert schedule.parameterization == "v" and schedule.scale_arr is not None
    freeze_all_but_camera(model)
    batch = collate([SyntheticClips(1, variant="512")[0]])
    torch.manual_seed(0)  # the frozen UNet's dropout draws from the global RNG
    loss = training_step(model, batch, schedule, torch.Generator().manual_seed(7), tokenizer=tiny_tokenizer())
    assert loss.ndim == 0 and torch.isfinite(loss) and loss.requires_grad
    loss.backward()
    for name, param in model.named_parameters():
        if is_camera_key(name):
            assert param.grad is not None, name
        else:
            assert param.grad is None, name
    assert any(p.grad.abs().sum() > 0 for n, p in model.named_parameters() if ".pluker_projection." in n)
    # Same generator seed and global seed, eval-free: the same loss again.
    torch.manual_seed(0)
    again = training_step(model, batch, schedule, torch.Generator().manual_seed(7), tokenizer=tiny_tokenizer())
    assert again.item() == loss.item()
