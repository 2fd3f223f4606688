"""Modes: loop paths, interpolation concat, continuation chaining (paste-overlap) and the paste hooks."""

from __future__ import annotations

import io

import pytest
import torch

from realcam.diffusion.ddim import generator_noise
from realcam.diffusion.schedule import DiffusionSchedule
from realcam.geometry.se3 import invert_se3
from realcam.pipeline import conditioning as cond
from realcam.pipeline.i2v import GenerationSettings, RealCamPipeline, ShapingSettings
from realcam.pipeline.modes import generate_long, is_closed, loop_trajectory
from realcam.pipeline.sampling import Continuation, continuation_hooks
from realcam.pipeline.tiny import tiny_model, tiny_tokenizer
from realcam.scene.demo import demo_scene
from realcam.trajectory import make_preset
from realcam.trajectory.keyframes import SampledTrajectory


def test_loop_trajectory_returns_to_start_and_keeps_closed_paths():
    path = make_preset("orbit-left").sample(16)
    assert not is_closed(path)
    loop = loop_trajectory(path)
    assert loop.num_frames == 16 and is_closed(loop)
    torch.testing.assert_close(loop.c2w[0], path.c2w[0])
    torch.testing.assert_close(loop.c2w[7], path.c2w[15])  # out to the end of the path ...
    torch.testing.assert_close(loop.c2w[8:], loop.c2w[:8].flip(0))  # ... and back
    closed = SampledTrajectory(c2w=torch.cat([path.c2w[:15], path.c2w[:1]]))
    assert is_closed(closed) and loop_trajectory(closed) is closed


def test_continuation_hooks_paste_known_frames():
    schedule = DiffusionSchedule.make("eps", zero_terminal_snr=False)
    known = torch.randn(1, 4, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    on_step, on_pred_x0 = continuation_hooks(Continuation(known), schedule)
    x = torch.randn(1, 4, 8, 2, 2, generator=torch.Generator().manual_seed(1))
    noise = generator_noise(torch.Generator().manual_seed(2))
    eps = torch.randn(known.shape, generator=torch.Generator().manual_seed(2))
    out = on_step(x, 500, noise)
    a = schedule.sqrt_alphas_cumprod_f32()[500]
    s = schedule.sqrt_one_minus_alphas_cumprod_f32()[500]
    torch.testing.assert_close(out[:, :, :3], a * known + s * eps)
    assert torch.equal(out[:, :, 3:], x[:, :, 3:])
    pred = on_pred_x0(x, 500)
    assert torch.equal(pred[:, :, :3], known) and torch.equal(pred[:, :, 3:], x[:, :, 3:])


@pytest.fixture(scope="module")
def pipe():
    return RealCamPipeline(tiny_model("256", seed=1), tiny_tokenizer())


def test_interp_uses_the_end_latent_in_the_last_frame(pipe):
    scene = demo_scene(64, 64)
    settings = GenerationSettings(steps=1, seed=0, mode="interp", shaping=ShapingSettings(enabled=False))
    prepared = pipe.prepare_image(scene.image, scene.K)
    end = pipe.prepare_image(scene.image[:, ::-1].copy(), scene.K)
    conditions = pipe.encode_conditions(prepared, None, settings, torch.Generator().manual_seed(0), end)
    assert conditions.z_end is not None and not torch.equal(conditions.z_end, conditions.z_cond)
    concat = cond.concat_latent_interp(conditions.z_cond, conditions.z_end, 16)
    assert torch.equal(concat[:, :, 15], conditions.z_end) and concat[:, :, 1:15].abs().sum() == 0
    with pytest.raises(ValueError, match="end image"):
        pipe(scene.image, "orbit-left", settings, K=scene.K, depth=scene.depth)


@pytest.mark.slow
def test_generate_long_chains_clips_through_one_cloud(pipe):
    scene = demo_scene(64, 64)
    settings = GenerationSettings(steps=2, seed=4, shaping=ShapingSettings(t0=500))
    long = generate_long(
        pipe, scene.image, "truck-right", settings, segments=2, overlap=4, K=scene.K, depth=scene.depth
    )
    first, second = long.segments
    assert long.frames.shape == (28, 64, 64, 3)
    assert torch.equal(second.latents[:, :, :4], first.latents[:, :, 12:])  # pasted overlap
    assert torch.equal(long.frames[12:16], first.frames[12:16])
    # The second clip's cameras are relative to its first frame (global frame 12), in metres.
    path = make_preset("truck-right").sample(28).c2w.float()
    expected = invert_se3(path[12:13]) @ path[12:28]
    torch.testing.assert_close(second.c2w, expected, atol=1e-5, rtol=0)


def test_generate_long_estimates_depth_once_and_shows_one_progress_bar(pipe, monkeypatch):
    scene = demo_scene(64, 64)
    calls = []
    estimate = pipe.estimate_depth

    def counted(image):
        calls.append(image)
        return estimate(image)

    monkeypatch.setattr(pipe, "estimate_depth", counted)
    bar_text = io.StringIO()
    pipe.set_progress_bar_config(file=bar_text, mininterval=0)
    try:
        settings = GenerationSettings(steps=1, seed=0, shaping=ShapingSettings(enabled=False))
        long = generate_long(pipe, scene.image, "truck-right", settings, segments=2, overlap=12, K=scene.K)
    finally:
        pipe.set_progress_bar_config()
    assert len(calls) == 1  # no depth given: estimated once, for the first clip and the shared cloud
    assert long.metadata["depth_source"] == "model" and long.frames.shape == (20, 64, 64, 3)
    text = bar_text.getvalue()
    assert "2/2" in text and "/1 " not in text  # one bar over both clips' steps, not one bar per clip


def test_progress_bar_counts_steps_and_can_be_disabled(pipe):
    scene = demo_scene(64, 64)
    settings = GenerationSettings(steps=2, seed=0, shaping=ShapingSettings(enabled=False))
    bar_text = io.StringIO()
    pipe.set_progress_bar_config(file=bar_text, mininterval=0, desc="gen")
    try:
        pipe(scene.image, "orbit-left", settings, K=scene.K, depth=scene.depth)
        shown = bar_text.getvalue()
        pipe.set_progress_bar_config(file=bar_text, disable=True)
        bar_text.truncate(0)
        bar_text.seek(0)
        pipe(scene.image, "orbit-left", settings, K=scene.K, depth=scene.depth)
    finally:
        pipe.set_progress_bar_config()
    assert "gen" in shown and "2/2" in shown
    assert bar_text.getvalue() == ""


def test_loop_mode_conditions_the_last_frame_on_the_start_image_along_a_closed_path(pipe, monkeypatch):
    scene = demo_scene(64, 64)
    seen = {}
    encode = pipe.encode_conditions

    def spy_encode(image, preview, settings, generator, end_image=None):
        seen["image"], seen["end"] = image, end_image
        return encode(image, preview, settings, generator, end_image)

    interp = cond.concat_latent_interp

    def spy_interp(z_cond, z_end, frames):
        seen["concat"] = interp(z_cond, z_end, frames)
        seen["z_end"] = z_end
        return seen["concat"]

    monkeypatch.setattr(pipe, "encode_conditions", spy_encode)
    monkeypatch.setattr(cond, "concat_latent_interp", spy_interp)
    settings = GenerationSettings(steps=1, seed=0, mode="loop", shaping=ShapingSettings(enabled=False))
    result = pipe(scene.image, "orbit-left", settings, K=scene.K, depth=scene.depth)
    assert seen["end"] is not None and torch.equal(seen["end"].pixels, seen["image"].pixels)  # end image = start
    assert torch.equal(seen["concat"][:, :, -1], seen["z_end"])  # ... conditions the last frame
    assert seen["concat"][:, :, 1:-1].abs().sum() == 0
    torch.testing.assert_close(result.c2w[-1], torch.eye(4), atol=1e-5, rtol=0)  # the path returns to its start
    assert not torch.allclose(result.c2w[7], torch.eye(4), atol=1e-3)  # ... after going somewhere
    assert result.metadata["settings"]["mode"] == "loop" and result.frames.shape == (16, 64, 64, 3)
    with pytest.raises(ValueError, match="only used in mode 'interp'"):
        pipe(scene.image, "orbit-left", settings, end_image=scene.image, K=scene.K, depth=scene.depth)
