"""One training step of the camera plugin: batch -> scalar loss (spec eval-data §5.3-§5.5). Pure: no optimiser, no
accelerator, no hidden RNG; every random draw comes from the `generator` argument.

What happens for a batch (reference `CameraControlLVDM.get_batch_input` + `DDPM.p_losses`):
1. x0 = VAE posterior sample of the clip (b 4 f h w), scaled by 0.18215 (frozen, no grad).
2. Classifier-free dropout with r ~ U(0, 1) per sample and p = `uncond_prob` (0.05): the text becomes the empty-prompt
   embedding if r < 2p; the condition image given to CLIP is zeroed if p <= r < 3p. The concat latent and the camera
   are never dropped.
3. Camera: poses made relative to each sample's condition frame, Plücker map -> pose encoder (trained), epipolar masks.
4. t ~ U{0..T-1}, eps ~ N(0, I); x_t = √ᾱ_t·(s_t·x0) + √(1−ᾱ_t)·eps with s_t = scale_arr[t] (dynamic rescale, 512
   model) or 1.
5. Loss = mean squared error between the UNet output and eps (256 model) or v (512 model), over every latent element.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from realcam.checkpoints.keys import is_camera_key
from realcam.diffusion.prediction import q_sample, v_target
from realcam.diffusion.schedule import DiffusionSchedule
from realcam.geometry.se3 import invert_se3
from realcam.models.realcam_i2v import RealCamI2V

Tokenizer = Callable[[list[str]], Tensor]
"""`tokenizer(prompts)` -> (b 77) int64 token ids for the model's text tower (e.g. `CLIPTokenizer`)."""

# Components that never train and run in eval mode (frozen encoders; the reference freezes them with train disabled).
FROZEN_EVAL_MODULES = ("first_stage_model", "cond_stage_model", "embedder", "image_proj_model", "depth_predictor")


@dataclass(frozen=True)
class StepOptions:
    """Options of the training step.

    Fields:
        uncond_prob: p of the classifier-free dropout (0.05 in every released config).
        vae_chunk_frames: frames per VAE encoder call (None: the whole clip at once, as the reference).
    """

    uncond_prob: float = 0.05
    vae_chunk_frames: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.uncond_prob <= 1.0 / 3.0:
            raise ValueError(f"uncond_prob must be in [0, 1/3] (three disjoint dropout bands), got {self.uncond_prob}")


# --------------------------------------------------------------------------------------------------------------------
# Trainable subset
# --------------------------------------------------------------------------------------------------------------------


def camera_parameter_names(model: nn.Module) -> list[str]:
    """Names of the camera-plugin parameters (pose encoder, Plücker projections, epipolar attention), model order."""
    return [name for name, _ in model.named_parameters() if is_camera_key(name)]


def freeze_all_but_camera(model: RealCamI2V) -> list[nn.Parameter]:
    """Set requires_grad only on the camera plugin and return its parameters (model order).

    The frozen encoders go to eval mode. Reference behaviour: the UNet (and the pose encoder) stay in train mode, so
    the frozen UNet's dropout (0.1 in the released configs) is active during training, as under Lightning.
    """
    trainable = []
    for name, param in model.named_parameters():
        param.requires_grad_(is_camera_key(name))
        if param.requires_grad:
            trainable.append(param)
    if not trainable:
        raise ValueError("the model has no camera-plugin parameters to train")
    set_train_mode(model, True)
    return trainable


def set_train_mode(model: RealCamI2V, training: bool) -> None:
    """model.train(training), keeping the frozen encoders in eval mode."""
    model.train(training)
    for name in FROZEN_EVAL_MODULES:
        module = getattr(model, name, None)
        if module is not None:
            module.eval()


# --------------------------------------------------------------------------------------------------------------------
# Pieces of the step
# --------------------------------------------------------------------------------------------------------------------


def dropout_masks(batch_size: int, uncond_prob: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Classifier-free dropout decisions (spec §5.5): r ~ U(0, 1) per sample;
    drop text if r < 2p, drop the condition image if p <= r < 3p (5 % text only, 5 % both, 5 % image only at p = 0.05).

    Shapes: -> (drop_text (b,) bool, drop_image (b,) bool), on the generator's device.
    """
    r = torch.rand(batch_size, generator=generator, device=generator.device)
    drop_text = r < 2 * uncond_prob
    drop_image = (r >= uncond_prob) & (r < 3 * uncond_prob)
    return drop_text, drop_image


def relative_to_condition_frame(c2w: Tensor, cond_index: Tensor) -> Tensor:
    """rel_i = inv(c2w_cond) · c2w_i with a condition frame per sample (spec §5.5 step 2).

    Idempotent: poses already relative to the condition frame (identity there) come back unchanged.
    Shapes: c2w (b f 4 4), cond_index (b,) int -> (b f 4 4) float32.
    """
    if c2w.ndim != 4 or c2w.shape[-2:] != (4, 4):
        raise ValueError(f"c2w must be (b f 4 4), got {tuple(c2w.shape)}")
    b, f = c2w.shape[:2]
    if cond_index.shape != (b,) or int(cond_index.min()) < 0 or int(cond_index.max()) >= f:
        raise ValueError(f"cond_index must be (b,) = ({b},) with values in [0, {f}), got {cond_index.tolist()}")
    c2w = c2w.float()
    cond = c2w[torch.arange(b, device=c2w.device), cond_index.to(c2w.device)]
    return invert_se3(cond).unsqueeze(1) @ c2w


def noisy_latent_and_target(x0: Tensor, t: Tensor, eps: Tensor, schedule: DiffusionSchedule) -> tuple[Tensor, Tensor]:
    """x_t and the regression target for timesteps t (spec §5.4, model spec §3.3).

    x_t = √ᾱ_t·(s_t·x0) + √(1−ᾱ_t)·eps, with s_t = scale_arr[t] when the schedule has dynamic rescale, else 1.
    Target: eps for eps-prediction; v = √ᾱ_t·eps − √(1−ᾱ_t)·x0 for v-prediction.
    Reference behaviour: the rescale lives inside the reference's `q_sample`, so the v target is built from the
    *unscaled* x0 (`get_v(x_start, noise, t)` sees the original x_start). This is our reading of DynamiCrafter's
    `ddpm3d.py` (`q_sample` / `p_losses`); the spec only says "training multiplies x0 by scale_arr[t]" and no parity
    fixture pins it.
    Coefficients are the reference's float32 buffers gathered at t.
    Shapes: x0, eps (b c f h w), t (b,) int64 in [0, T) -> (x_t, target), both (b c f h w).
    """
    if t.ndim != 1 or t.shape[0] != x0.shape[0]:
        raise ValueError(f"t must be (b,) = ({x0.shape[0]},), got {tuple(t.shape)}")
    view = (-1,) + (1,) * (x0.ndim - 1)
    index = t.to("cpu", torch.long)
    sqrt_alpha = schedule.sqrt_alphas_cumprod_f32()[index].view(view).to(device=x0.device, dtype=x0.dtype)
    sqrt_one_minus = schedule.sqrt_one_minus_alphas_cumprod_f32()[index].view(view).to(x0.device, x0.dtype)
    x0_noised = x0
    if schedule.scale_arr is not None:
        scale = schedule.scale_arr.to(torch.float32)[index].view(view).to(device=x0.device, dtype=x0.dtype)
        x0_noised = x0 * scale
    x_t = q_sample(x0_noised, eps, sqrt_alpha, sqrt_one_minus)
    if schedule.parameterization == "eps":
        return x_t, eps
    return x_t, v_target(x0, eps, sqrt_alpha, sqrt_one_minus)


def _randn(shape: Sequence[int], generator: torch.Generator, like: Tensor) -> Tensor:
    """N(0, I) drawn on the generator's device (one seed, same numbers on any device), moved to `like`."""
    return torch.randn(tuple(shape), generator=generator, device=generator.device).to(like.device, like.dtype)


def _check_batch(batch: Mapping[str, Any]) -> None:
    for key in ("video", "caption", "rel_c2w", "K", "cond_index", "fs"):
        if key not in batch:
            raise ValueError(f"batch is missing {key!r}; got keys {sorted(batch)}")
    video = batch["video"]
    if video.ndim != 5 or video.shape[1] != 3:
        raise ValueError(f"batch['video'] must be (b 3 f H W) in [-1, 1], got {tuple(video.shape)}")
    b, _, f = video.shape[:3]
    if tuple(batch["rel_c2w"].shape) != (b, f, 4, 4) or tuple(batch["K"].shape) != (b, f, 3, 3):
        raise ValueError(
            f"batch['rel_c2w'] must be (b f 4 4) and batch['K'] (b f 3 3) for video {tuple(video.shape)}, got "
            f"{tuple(batch['rel_c2w'].shape)} and {tuple(batch['K'].shape)}"
        )
    if len(batch["caption"]) != b:
        raise ValueError(f"batch['caption'] must hold {b} strings, got {len(batch['caption'])}")


# --------------------------------------------------------------------------------------------------------------------
# The step
# --------------------------------------------------------------------------------------------------------------------


def training_step(
    model: RealCamI2V,
    batch: Mapping[str, Any],
    schedule: DiffusionSchedule,
    generator: torch.Generator,
    *,
    tokenizer: Tokenizer,
    options: StepOptions = StepOptions(),
) -> Tensor:
    """The diffusion loss of one batch (spec §5.4): a 0-d float32 tensor with grad through the camera plugin.

    Batch (the `realcam.data` collate): video (b 3 f H W) in [-1, 1]; caption list of b str; rel_c2w (b f 4 4) metric
    OpenCV c2w (re-made relative to the condition frame here); K (b f 3 3) pixels of H x W; cond_index (b,) int; fs (b,)
    int (frame stride for the 256 model, fps for the 512 model).
    `generator` must live on the model's device (the VAE sample and the epipolar perturbation draw there).
    Draw order from `generator`: VAE posterior noise, dropout r, epipolar perturbation, t, eps.
    """
    from realcam.pipeline.conditioning import (
        UNetCondition,
        apply_unet,
        camera_condition,
        concat_latent,
        encode_image_tokens,
        encode_text,
        unet_context,
    )

    _check_batch(batch)
    device = next(model.unet.parameters()).device
    if generator.device.type != device.type:
        raise ValueError(
            f"generator is on {generator.device} but the model on {device}; create it on the model's device"
        )
    video = batch["video"].to(device=device, dtype=torch.float32)
    b, _, f, height, width = video.shape
    cond_index = torch.as_tensor(batch["cond_index"], dtype=torch.long).to(device)
    rows = torch.arange(b, device=device)

    with torch.no_grad():
        vae_dtype = next(model.first_stage_model.parameters()).dtype
        x0 = model.first_stage_model.encode_to_latent(
            video.to(vae_dtype), generator, chunk_frames=options.vae_chunk_frames
        ).float()
        drop_text, drop_image = (m.to(device) for m in dropout_masks(b, options.uncond_prob, generator))
        captions = ["" if drop else caption for caption, drop in zip(batch["caption"], drop_text.tolist())]
        text = encode_text(model, tokenizer(captions))
        cond_frames = video[rows, :, cond_index] * (~drop_image).to(video.dtype).view(b, 1, 1, 1)
        image_tokens = encode_image_tokens(model, cond_frames)
        context = unet_context(text, image_tokens)
        concat = concat_latent(x0[rows, :, cond_index], f)

    rel_c2w = relative_to_condition_frame(batch["rel_c2w"].to(device), cond_index)
    camera = camera_condition(model, rel_c2w, batch["K"].to(device), (height, width), generator)
    t = torch.randint(0, schedule.num_timesteps, (b,), generator=generator, device=generator.device).to(device)
    eps = _randn(x0.shape, generator, x0)
    x_t, target = noisy_latent_and_target(x0, t, eps, schedule)
    fs = torch.as_tensor(batch["fs"], dtype=torch.long).to(device)
    output = apply_unet(model, x_t, t, UNetCondition(concat, context, fs, camera))
    return torch.mean((output.float() - target.float()) ** 2)


class TrainingModule(nn.Module):
    """`training_step` as a module whose forward returns the loss, so accelerate/DDP wrap a forward that does the
    whole step (DDP's gradient hooks are prepared by the wrapped forward). Holds no weights of its own: `model` is
    the RealCamI2V."""

    def __init__(
        self, model: RealCamI2V, schedule: DiffusionSchedule, tokenizer: Tokenizer, options: StepOptions
    ) -> None:
        super().__init__()
        self.model = model
        self.schedule = schedule
        self.tokenizer = tokenizer
        self.options = options

    def forward(self, batch: Mapping[str, Any], generator: torch.Generator) -> Tensor:
        return training_step(
            self.model, batch, self.schedule, generator, tokenizer=self.tokenizer, options=self.options
        )
