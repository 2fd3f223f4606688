"""The DynamiCrafter 3D UNet with the CamI2V camera plug-in (spec §1.3, §1.4, §1.7, §1.9(d,e)).

State-dict keys equal the reference checkpoint's `model.diffusion_model.*` keys with that prefix removed, so the
released DynamiCrafter `model.ckpt` (after `framestride_embed` -> `fps_embedding`) and the RealCam plug-in load
strictly.

Context layout (spec §1.7): `context` is (b, T + f*n, d): T = 77 text tokens shared by every frame, then the image
tokens frame-major, n per frame (16 in the released models, so 77 + 16*16 = 333). Frame k cross-attends to
[text tokens ; image tokens n*k .. n*k + n - 1].
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from einops import rearrange, repeat
from torch import Tensor, nn

from realcam.models.camera.condition import CameraCondition
from realcam.models.unet.blocks import (
    GROUPS,
    Downsample,
    GroupNorm32,
    ResBlock,
    SpatialTransformer,
    TemporalTransformer,
    Upsample,
)
from realcam.models.unet.embeddings import EmbeddingMLP, timestep_embedding

TEXT_CONTEXT_LEN = 77


@dataclass(frozen=True)
class CameraInjectionConfig:
    """The CamI2V plug-in inside the UNet: every temporal transformer of the input, middle and output blocks (16 in
    the released models; never `init_attn`) gets `pluker_projection` and an epipolar attention, added to the main
    branch (spec §1.9(d)).

    Reference behaviour, deliberately not copied: the reference injects a temporal block when its width differs
    from `init_attn`'s (8 * num_head_channels), which drops injection at any level of that width in other
    configurations. realcam decides it explicitly by block position; for the released models both give the same 16.

    Fields:
        num_register_tokens: learned tokens prepended to the epipolar keys/values (4 in the released models).
        full_attention: ignore every epipolar mask (reference `is_3d_full_attn`; False in the released models).
    """

    num_register_tokens: int = 4
    full_attention: bool = False


@dataclass(frozen=True)
class UNetConfig:
    """Constructor arguments of `UNetModel`, named as in the reference YAML's `unet_config.params`.

    `image_cross_attention_scale_learnable` adds the per-block `alpha` (256 model); `default_fs` is the frame-stride
    (256) or fps (512) used when `fs` is None; `camera=None` builds the plain DynamiCrafter UNet.
    """

    in_channels: int = 8
    out_channels: int = 4
    model_channels: int = 320
    attention_resolutions: tuple[int, ...] = (4, 2, 1)
    num_res_blocks: int = 2
    channel_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_head_channels: int = 64
    transformer_depth: int = 1
    context_dim: int = 1024
    use_linear: bool = True
    temporal_conv: bool = True
    temporal_attention: bool = True
    addition_attention: bool = True
    image_cross_attention: bool = True
    image_cross_attention_scale_learnable: bool = False
    fs_condition: bool = True
    default_fs: int = 3
    dropout: float = 0.1
    camera: CameraInjectionConfig | None = CameraInjectionConfig()

    def __post_init__(self) -> None:
        if self.model_channels % self.num_head_channels:
            raise ValueError(f"model_channels {self.model_channels} not divisible by {self.num_head_channels}")
        for width in self.level_widths:
            if width % GROUPS:
                raise ValueError(f"level width {width} must be divisible by {GROUPS} groups")

    @property
    def level_widths(self) -> tuple[int, ...]:
        """Channels per UNet level (320, 640, 1280, 1280 at full size)."""
        return tuple(m * self.model_channels for m in self.channel_mult)

    @classmethod
    def preset(cls, name: str) -> UNetConfig:
        """The released RealCam-I2V UNets: '256' (256x256, eps, frame stride) or '512' (512x320, v, fps)."""
        presets = {"256": UNET_256, "512": UNET_512}
        if name not in presets:
            raise ValueError(f"unknown UNet preset {name!r}; expected one of {sorted(presets)}")
        return presets[name]

    @classmethod
    def from_reference_params(cls, unet_params: dict[str, Any], *, camera: dict[str, Any] | None) -> UNetConfig:
        """Build from the reference YAML: `unet_params` = `model.params.unet_config.params`; `camera` = the
        `model.params.epipolar_config` dict with `add_type` merged in (`{**epipolar_config, "add_type": ...}`),
        or None for the camera-free UNet. Unknown keys and unsupported settings raise ValueError naming them.
        """
        params = dict(unet_params)
        unknown = set(params) - _REFERENCE_FIELDS.keys() - _REFERENCE_FIXED.keys() - _REFERENCE_IGNORED
        if unknown:
            raise ValueError(f"unknown unet_config.params keys: {sorted(unknown)}")
        missing = _REFERENCE_FIELDS.keys() - _REFERENCE_OPTIONAL - set(params)
        if missing:
            raise ValueError(f"missing unet_config.params keys: {sorted(missing)}")
        _check_fixed(params, _REFERENCE_FIXED, "unet_config.params")
        values = {field: params[key] for key, field in _REFERENCE_FIELDS.items() if key in params}
        for key in ("attention_resolutions", "channel_mult"):
            if key in values:
                values[key] = tuple(values[key])
        values["camera"] = None if camera is None else _camera_from_reference(camera)
        return dataclasses.replace(cls(), **values)

    @classmethod
    def from_reference_model_params(cls, model_params: dict[str, Any]) -> UNetConfig:
        """Build from the whole reference `model.params` dict (camera plug-in present iff `epipolar_config` is)."""
        camera = None
        if "epipolar_config" in model_params:
            camera = {**model_params["epipolar_config"], "add_type": model_params.get("add_type")}
        return cls.from_reference_params(model_params["unet_config"]["params"], camera=camera)


# Reference YAML key -> UNetConfig field.
_REFERENCE_FIELDS = {f.name: f.name for f in dataclasses.fields(UNetConfig) if f.name != "camera"}
# The only field the released YAMLs may omit (the 512 one does); the reference default is False.
_REFERENCE_OPTIONAL = {"image_cross_attention_scale_learnable"}
# Reference keys realcam supports only at the released value (other values change the architecture).
_REFERENCE_FIXED = {
    "temporal_selfatt_only": True,
    "use_relative_position": False,
    "use_causal_attention": False,
    "use_scale_shift_norm": False,
    "resblock_updown": False,
    "conv_resample": True,
    "tempspatial_aware": False,
    "dims": 2,
    "num_heads": -1,
}
# Training-only or no-op keys: `use_checkpoint` (gradient checkpointing), `use_fp16` (dtype belongs to the caller),
# `temporal_length` (only read by relative-position and causal attention, both off).
_REFERENCE_IGNORED = {"use_checkpoint", "use_fp16", "temporal_length"}

# epipolar_config keys: those the mask builder reads (not the UNet), the dead ones, and the off-by-default variants
# realcam does not implement.
_EPIPOLAR_MASK_BUILDER = {"origin_h", "origin_w", "attention_resolution", "add_small_perturbation_on_zero_T"}
_EPIPOLAR_IGNORED = {"pluker_add_type", "soft_mask_temperature"}
_EPIPOLAR_FIXED = {
    "apply_epipolar_soft_mask": False,
    "epipolar_hybrid_attention": False,
    "epipolar_hybrid_attention_v2": False,
    "only_self_pixel_on_current_frame": False,
    "current_frame_as_register_token": False,
    "only_on_cond_frame": False,
    "compression_factor": 1,
    "add_type": "add_to_main_branch",
}


def _check_fixed(params: dict[str, Any], fixed: dict[str, Any], where: str) -> None:
    bad = {k: params[k] for k, v in fixed.items() if k in params and params[k] != v}
    if bad:
        expected = {k: fixed[k] for k in bad}
        raise ValueError(f"unsupported {where} settings {bad}; realcam implements only {expected}")


def _camera_from_reference(camera: dict[str, Any]) -> CameraInjectionConfig:
    known = (
        _EPIPOLAR_MASK_BUILDER | _EPIPOLAR_IGNORED | _EPIPOLAR_FIXED.keys() | {"num_register_tokens", "is_3d_full_attn"}
    )
    unknown = set(camera) - known
    if unknown:
        raise ValueError(f"unknown epipolar_config keys: {sorted(unknown)}")
    missing = {"num_register_tokens", "add_type"} - set(camera)
    if missing:
        raise ValueError(f"missing epipolar_config keys: {sorted(missing)}")
    _check_fixed(camera, _EPIPOLAR_FIXED, "epipolar_config")
    return CameraInjectionConfig(
        num_register_tokens=int(camera["num_register_tokens"]),
        full_attention=bool(camera.get("is_3d_full_attn", False)),
    )


UNET_256 = UNetConfig(image_cross_attention_scale_learnable=True, default_fs=3)
UNET_512 = UNetConfig(image_cross_attention_scale_learnable=False, default_fs=10)


def split_context(context: Tensor, frames: int, text_len: int = TEXT_CONTEXT_LEN) -> Tensor:
    """Per-frame cross-attention context: the text tokens repeated for every frame, followed by that frame's image
    tokens (frame-major image layout, spec §1.7).

    Shapes: context (b text_len+f*n d) -> ((b f) text_len+n d).
    """
    b, length, _ = context.shape
    n_image = length - text_len
    if n_image <= 0 or n_image % frames:
        raise ValueError(
            f"context must hold {text_len} text tokens then {frames} x n image tokens, got {length} tokens"
        )
    text = repeat(context[:, :text_len], "b l d -> (b f) l d", f=frames)
    image = rearrange(context[:, text_len:], "b (f l) d -> (b f) l d", f=frames)
    return torch.cat([text, image], dim=1)


class UNetBlock(nn.Sequential):
    """One entry of `input_blocks` / `output_blocks` / `middle_block`: routes each layer its inputs.

    Shapes: h ((b f) c h w), emb ((b f) 4*model_channels), context ((b f) m d) -> ((b f) c' h' w').
    """

    def forward(  # type: ignore[override]
        self, h: Tensor, emb: Tensor, context: Tensor, batch: int, camera: CameraCondition | None
    ) -> Tensor:
        for layer in self:
            if isinstance(layer, ResBlock):
                h = layer(h, emb, batch)
            elif isinstance(layer, SpatialTransformer):
                h = layer(h, context)
            elif isinstance(layer, TemporalTransformer):
                h = rearrange(h, "(b f) c h w -> b c f h w", b=batch)
                h = rearrange(layer(h, camera), "b c f h w -> (b f) c h w")
            else:
                h = layer(h)
        return h


class UNetModel(nn.Module):
    """DynamiCrafter 3D UNet (+ CamI2V camera plug-in when `config.camera` is set). Block table: spec §1.3.

    Device and dtype belong to the caller (`model.to(...)`); the ResBlock and head GroupNorms run in float32.
    """

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        mc = config.model_channels
        emb_dim = 4 * mc
        self.time_embed = EmbeddingMLP(mc, emb_dim)
        if config.fs_condition:
            self.fps_embedding = EmbeddingMLP(mc, emb_dim, zero_last=True)
        if config.addition_attention:
            # Reference behaviour: 8 heads of num_head_channels with Conv1d projections, never camera-injected.
            init = TemporalTransformer(mc, 8, config.num_head_channels, use_linear=False)
            self.init_attn = UNetBlock(init)

        self.input_blocks = nn.ModuleList([UNetBlock(nn.Conv2d(config.in_channels, mc, 3, padding=1))])
        skip_widths = [mc]
        ch, ds = mc, 1
        last_level = len(config.channel_mult) - 1
        for level, width in enumerate(config.level_widths):
            for _ in range(config.num_res_blocks):
                layers = [self._resblock(ch, width)]
                ch = width
                if ds in config.attention_resolutions:
                    layers += self._attention(ch, level)
                self.input_blocks.append(UNetBlock(*layers))
                skip_widths.append(ch)
            if level != last_level:
                self.input_blocks.append(UNetBlock(Downsample(ch)))
                skip_widths.append(ch)
                ds *= 2

        self.middle_block = UNetBlock(self._resblock(ch, ch), *self._attention(ch, last_level), self._resblock(ch, ch))

        self.output_blocks = nn.ModuleList()
        for level, width in reversed(list(enumerate(config.level_widths))):
            for i in range(config.num_res_blocks + 1):
                layers = [self._resblock(ch + skip_widths.pop(), width)]
                ch = width
                if ds in config.attention_resolutions:
                    layers += self._attention(ch, level)
                if level and i == config.num_res_blocks:
                    layers.append(Upsample(ch))
                    ds //= 2
                self.output_blocks.append(UNetBlock(*layers))

        out_conv = nn.Conv2d(mc, config.out_channels, 3, padding=1)
        nn.init.zeros_(out_conv.weight)
        nn.init.zeros_(out_conv.bias)
        self.out = nn.Sequential(GroupNorm32(GROUPS, ch), nn.SiLU(), out_conv)

    def _resblock(self, ch: int, out: int) -> ResBlock:
        c = self.config
        return ResBlock(ch, 4 * c.model_channels, out, dropout=c.dropout, temporal_conv=c.temporal_conv)

    def _attention(self, ch: int, level: int) -> list[nn.Module]:
        """Spatial transformer, then (if enabled) the temporal transformer, camera-injected at this feature level."""
        c = self.config
        heads, dim_head = ch // c.num_head_channels, c.num_head_channels
        layers: list[nn.Module] = [
            SpatialTransformer(
                ch,
                heads,
                dim_head,
                context_dim=c.context_dim,
                use_linear=c.use_linear,
                image_cross_attention=c.image_cross_attention,
                image_scale_learnable=c.image_cross_attention_scale_learnable,
                text_context_len=TEXT_CONTEXT_LEN,
            )
        ]
        if c.temporal_attention:
            camera = c.camera
            layers.append(
                TemporalTransformer(
                    ch,
                    heads,
                    dim_head,
                    use_linear=c.use_linear,
                    camera_level=None if camera is None else level,
                    num_register_tokens=4 if camera is None else camera.num_register_tokens,
                )
            )
        return layers

    def embed(self, t: Tensor, fs: Tensor | None, frames: int, dtype: torch.dtype) -> Tensor:
        """Time embedding + fs embedding (fs None -> `default_fs`), repeated per frame.

        Shapes: t (b,), fs (b,) or None -> ((b f) 4*model_channels).
        """
        mc = self.config.model_channels
        emb = self.time_embed(timestep_embedding(t, mc).to(dtype))
        if self.config.fs_condition:
            if fs is None:
                fs = torch.full_like(t, self.config.default_fs, dtype=torch.long)
            if fs.shape != t.shape:
                raise ValueError(f"fs must have shape {tuple(t.shape)}, got {tuple(fs.shape)}")
            emb = emb + self.fps_embedding(timestep_embedding(fs, mc).to(dtype))
        return emb.repeat_interleave(frames, dim=0)

    def _check_inputs(self, x: Tensor, t: Tensor, context: Tensor, camera: CameraCondition | None) -> None:
        c = self.config
        if x.ndim != 5 or x.shape[1] != c.in_channels:
            raise ValueError(f"x must be (b {c.in_channels} f h w), got {tuple(x.shape)}")
        b, _, _, h, w = x.shape
        factor = 2 ** (len(c.channel_mult) - 1)
        if h % factor or w % factor:
            raise ValueError(f"latent height and width must be multiples of {factor}, got {h}x{w}")
        if t.shape != (b,):
            raise ValueError(f"t must have shape ({b},), got {tuple(t.shape)}")
        if context.ndim != 3 or context.shape[0] != b or context.shape[2] != c.context_dim:
            raise ValueError(f"context must be ({b} tokens {c.context_dim}), got {tuple(context.shape)}")
        if camera is not None:
            if c.camera is None:
                raise ValueError("camera condition given to a UNet built without the camera plug-in (config.camera)")
            if len(camera.features) != len(c.channel_mult):
                raise ValueError(f"camera.features must hold {len(c.channel_mult)} levels, got {len(camera.features)}")

    def forward(
        self,
        x: Tensor,
        t: Tensor,
        context: Tensor,
        fs: Tensor | None = None,
        camera: CameraCondition | None = None,
    ) -> Tensor:
        """Predict eps (256) or v (512) for a batch of clips.

        Shapes: x (b in_channels f h w) = [x_t ; condition-frame latent] on channels, t (b,) timesteps in [0, 999],
        context (b 77+f*n context_dim) text then frame-major image tokens, fs (b,) frame stride / fps or None
        (-> default_fs) -> (b out_channels f h w). `camera=None` is the camera-free (plain DynamiCrafter) path.
        """
        self._check_inputs(x, t, context, camera)
        b, _, f, _, _ = x.shape
        if camera is not None and self.config.camera.full_attention:
            camera = dataclasses.replace(camera, epipolar_masks={})
        emb = self.embed(t, fs, f, x.dtype)
        if self.config.image_cross_attention:
            context = split_context(context, f)
        else:
            context = context.repeat_interleave(f, dim=0)
        h = rearrange(x, "b c f h w -> (b f) c h w")
        skips = []
        for index, block in enumerate(self.input_blocks):
            h = block(h, emb, context, b, camera)
            if index == 0 and self.config.addition_attention:
                h = self.init_attn(h, emb, context, b, None)
            skips.append(h)
        h = self.middle_block(h, emb, context, b, camera)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb, context, b, camera)
        return rearrange(self.out(h), "(b f) c h w -> b c f h w", b=b)
