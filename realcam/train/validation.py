"""Validation videos during training (the reference's ImageLogger, spec eval-data §5.6): guided DDIM samples of a few
fixed validation clips, conditioned on their frame 0, caption and ground-truth cameras, written as mp4 with the
ground truth above the sample.

Reference settings: DDIM 25 steps, CFG 7.5 (with rescale 0.7, as the inference configs), unconditional branch =
empty prompt + image tokens of a zero image, same concat latent, fs and camera (realcam.pipeline.sampling).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from realcam.models.realcam_i2v import RealCamI2V
from realcam.pipeline.sampling import SamplerSettings
from realcam.train.step import Tokenizer, relative_to_condition_frame


def sample_clip(
    model: RealCamI2V,
    batch: Mapping[str, Any],
    tokenizer: Tokenizer,
    generator: torch.Generator,
    settings: SamplerSettings = SamplerSettings(),
) -> Tensor:
    """Generate the clips of `batch` from their condition frames, captions and cameras.

    Shapes: batch as in `realcam.train.step.training_step` (video (b 3 f H W)) -> (b 3 f H W) in [-1, 1].
    `generator` lives on the model's device.
    """
    from realcam.pipeline import conditioning as cond
    from realcam.pipeline.sampling import sample_latents

    device = next(model.unet.parameters()).device
    video = batch["video"].to(device=device, dtype=torch.float32)
    b, _, f, height, width = video.shape
    cond_index = torch.as_tensor(batch["cond_index"], dtype=torch.long).to(device)
    rows = torch.arange(b, device=device)
    with torch.no_grad():
        cond_frames = video[rows, :, cond_index]
        z_cond = model.first_stage_model.encode_to_latent(cond_frames, generator).float()
        concat = cond.concat_latent(z_cond, f)
        text = cond.encode_text(model, tokenizer(list(batch["caption"]) + [""] * b))
        context = cond.unet_context(text[:b], cond.encode_image_tokens(model, cond_frames))
        uncond_context = cond.unet_context(text[b:], cond.unconditional_image_tokens(model, cond_frames))
        rel_c2w = relative_to_condition_frame(batch["rel_c2w"].to(device), cond_index)
        camera = cond.camera_condition(model, rel_c2w, batch["K"].to(device), (height, width), generator)
        fs = torch.as_tensor(batch["fs"], dtype=torch.long).to(device)
        shape = (b, concat.shape[1], f, *concat.shape[-2:])
        x_T = torch.randn(shape, generator=generator, device=generator.device).to(device)
        latents = sample_latents(
            model,
            x_T,
            cond.UNetCondition(concat, context, fs, camera),
            cond.UNetCondition(concat, uncond_context, fs, camera),
            settings,
            generator=generator,
        )
        return model.first_stage_model.decode_latent(latents).clamp(-1, 1).float()


def make_sample_hook(
    val_set: Dataset,
    collate_fn: Callable[[list[dict[str, Any]]], dict[str, Any]],
    tokenizer: Tokenizer,
    *,
    clips: int = 2,
    seed: int = 0,
    settings: SamplerSettings = SamplerSettings(),
    fps: int = 8,
) -> Callable[[RealCamI2V, int, Path], None]:
    """A `realcam.train.loop.SampleHook` that samples the first `clips` validation items one at a time, from the same
    seed at every call (so samples of different steps are comparable), and writes `<directory>/<clip_id>.mp4`."""
    from realcam.io.video import write_video

    items = [val_set[i] for i in range(min(clips, len(val_set)))]

    def sample(model: RealCamI2V, step: int, directory: Path) -> None:
        device = next(model.unet.parameters()).device
        generator = torch.Generator(device=device).manual_seed(seed)
        for item in items:
            batch = collate_fn([item])
            generated = sample_clip(model, batch, tokenizer, generator, settings)
            both = torch.cat([batch["video"].to(generated.device), generated], dim=-2)[0]  # 3 f 2H W
            frames = ((both.permute(1, 2, 3, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).cpu()
            write_video(Path(directory) / f"{item['clip_id']}.mp4", frames, fps=fps)

    return sample
