"""KL-f8 autoencoder (the LDM / Stable Diffusion 1.x VAE that DynamiCrafter and RealCam-I2V use).

Module attribute names follow the reference state dict under `first_stage_model.` (`encoder.down.N.block.M...`,
`decoder.up.N...`, `quant_conv`, `post_quant_conv`), so a strict load of those keys just works.

Scaling convention: `AutoencoderKL.encode` / `decode` work on *unscaled* latents (the posterior of the network). The
diffusion model sees latents multiplied by `config.scale_factor` (0.18215). The convenience functions
`encode_to_latent` / `decode_latent` apply and undo that factor; nothing else in this module does.

Video layout: frames are folded into the batch frame-major, `(b f)`, as the reference does, and unfolded afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

SD_SCALE_FACTOR = 0.18215  # LDM KL-f8 latent scale (`scale_factor`, `scale_by_std: false` in the reference configs)

# Training-only fields of the reference `first_stage_config.params` that have no effect on inference.
_IGNORED_REFERENCE_PARAMS = frozenset({"monitor", "lossconfig"})
_DDCONFIG_KEYS = frozenset(
    {
        "double_z",
        "z_channels",
        "resolution",
        "in_channels",
        "out_ch",
        "ch",
        "ch_mult",
        "num_res_blocks",
        "attn_resolutions",
        "dropout",
    }
)


@dataclass(frozen=True)
class AutoencoderKLConfig:
    """Sizes of the KL autoencoder (the reference `ddconfig` plus `embed_dim` and the latent scale).

    Fields:
        in_channels / out_channels: pixel channels (3).
        base_channels: `ch`, width of the first level.
        channel_mult: width multiplier per level; len(channel_mult) - 1 downsamplings (f8 for 4 levels).
        num_res_blocks: ResNet blocks per encoder level (the decoder uses one more).
        z_channels: latent channels of the decoder input; the encoder emits 2*z_channels (mean, logvar) if double_z.
        embed_dim: channels after `quant_conv` (4).
        attn_resolutions: feature sizes (relative to `resolution`) that get a self-attention block after each ResNet
            block; empty in every released config (the mid block always has one).
        resolution: nominal image size, only used to place `attn_resolutions`.
        dropout: ResNet dropout (0 for inference).
        scale_factor: latent scale used by `encode_to_latent` / `decode_latent`.
    """

    in_channels: int = 3
    out_channels: int = 3
    base_channels: int = 128
    channel_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    z_channels: int = 4
    embed_dim: int = 4
    double_z: bool = True
    attn_resolutions: tuple[int, ...] = ()
    resolution: int = 256
    dropout: float = 0.0
    scale_factor: float = SD_SCALE_FACTOR

    @classmethod
    def kl_f8(cls) -> AutoencoderKLConfig:
        """The full-size KL-f8 VAE of DynamiCrafter / RealCam-I2V (ch 128, ch_mult 1,2,4,4; 83,653,863 parameters)."""
        return cls()

    @classmethod
    def from_reference_params(
        cls, params: Mapping[str, Any], *, scale_factor: float = SD_SCALE_FACTOR
    ) -> AutoencoderKLConfig:
        """Build from the reference `first_stage_config.params` dict (`embed_dim`, `ddconfig`, training-only keys).

        Unknown keys raise ValueError naming them; `monitor` and `lossconfig` are accepted and ignored (training only).
        """
        unknown = set(params) - {"embed_dim", "ddconfig"} - _IGNORED_REFERENCE_PARAMS
        if unknown:
            raise ValueError(f"first_stage_config.params: unknown keys {sorted(unknown)}")
        missing = {"embed_dim", "ddconfig"} - set(params)
        if missing:
            raise ValueError(f"first_stage_config.params: missing keys {sorted(missing)}")
        dd = params["ddconfig"]
        unknown = set(dd) - _DDCONFIG_KEYS
        missing = _DDCONFIG_KEYS - set(dd)
        if unknown or missing:
            raise ValueError(f"ddconfig: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
        return cls(
            in_channels=int(dd["in_channels"]),
            out_channels=int(dd["out_ch"]),
            base_channels=int(dd["ch"]),
            channel_mult=tuple(int(m) for m in dd["ch_mult"]),
            num_res_blocks=int(dd["num_res_blocks"]),
            z_channels=int(dd["z_channels"]),
            embed_dim=int(params["embed_dim"]),
            double_z=bool(dd["double_z"]),
            attn_resolutions=tuple(int(r) for r in dd["attn_resolutions"]),
            resolution=int(dd["resolution"]),
            dropout=float(dd["dropout"]),
            scale_factor=float(scale_factor),
        )

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.channel_mult) - 1)


def _group_norm(channels: int) -> nn.GroupNorm:
    # Reference: 32 groups, eps 1e-6, affine.
    return nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    """GN -> SiLU -> conv3x3 -> GN -> SiLU -> dropout -> conv3x3, plus a 1x1 `nin_shortcut` when widths differ.

    Shapes: (n c_in h w) -> (n c_out h w).
    """

    def __init__(self, in_channels: int, out_channels: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = _group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = _group_norm(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        skip = x if self.nin_shortcut is None else self.nin_shortcut(x)
        return skip + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all h*w positions with 1x1-conv q/k/v/proj_out and a residual.

    Shapes: (n c h w) -> (n c h w). Scale c^-1/2 (SDPA's default for head width c).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = _group_norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        y = self.norm(x)
        q, k, v = (rearrange(layer(y), "n c h w -> n 1 (h w) c") for layer in (self.q, self.k, self.v))
        out = F.scaled_dot_product_attention(q, k, v)
        out = rearrange(out, "n 1 (h w) c -> n c h w", h=h, w=w)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    """Stride-2 3x3 conv with the reference's asymmetric zero padding (right and bottom only): (n c h w) -> h/2."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest-neighbour x2 then 3x3 conv: (n c h w) -> (n c 2h 2w)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Level(nn.Module):
    """One resolution level: `block` (ResNet blocks), `attn` (possibly empty), and an optional resampler."""

    def __init__(self, blocks: list[nn.Module], attns: list[nn.Module]) -> None:
        super().__init__()
        self.block = nn.ModuleList(blocks)
        self.attn = nn.ModuleList(attns)

    def run_blocks(self, h: Tensor) -> Tensor:
        for i, block in enumerate(self.block):
            h = block(h)
            if len(self.attn) > 0:
                h = self.attn[i](h)
        return h


class _Mid(nn.Module):
    def __init__(self, channels: int, dropout: float) -> None:
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, dropout)
        self.attn_1 = AttnBlock(channels)
        self.block_2 = ResnetBlock(channels, channels, dropout)

    def forward(self, h: Tensor) -> Tensor:
        return self.block_2(self.attn_1(self.block_1(h)))


class Encoder(nn.Module):
    """Pixels (n 3 H W) -> moments (n 2*z_channels H/f W/f) (or z_channels if not double_z)."""

    def __init__(self, config: AutoencoderKLConfig) -> None:
        super().__init__()
        c = config
        widths = [c.base_channels * m for m in c.channel_mult]
        self.conv_in = nn.Conv2d(c.in_channels, c.base_channels, 3, padding=1)
        self.down = nn.ModuleList()
        block_in, res = c.base_channels, c.resolution
        for level, block_out in enumerate(widths):
            blocks, attns = [], []
            for _ in range(c.num_res_blocks):
                blocks.append(ResnetBlock(block_in, block_out, c.dropout))
                block_in = block_out
                if res in c.attn_resolutions:
                    attns.append(AttnBlock(block_in))
            stage = _Level(blocks, attns)
            if level != len(widths) - 1:
                stage.downsample = Downsample(block_in)
                res //= 2
            self.down.append(stage)
        self.mid = _Mid(block_in, c.dropout)
        self.norm_out = _group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, 2 * c.z_channels if c.double_z else c.z_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv_in(x)
        for stage in self.down:
            h = stage.run_blocks(h)
            if hasattr(stage, "downsample"):
                h = stage.downsample(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """Latent (n z_channels h w) -> pixels (n 3 h*f w*f). `up[i]` is level i (index 0 = full resolution)."""

    def __init__(self, config: AutoencoderKLConfig) -> None:
        super().__init__()
        c = config
        widths = [c.base_channels * m for m in c.channel_mult]
        block_in = widths[-1]
        res = c.resolution // c.downsample_factor
        self.conv_in = nn.Conv2d(c.z_channels, block_in, 3, padding=1)
        self.mid = _Mid(block_in, c.dropout)
        levels: list[_Level] = []
        for level in reversed(range(len(widths))):
            blocks, attns = [], []
            for _ in range(c.num_res_blocks + 1):
                blocks.append(ResnetBlock(block_in, widths[level], c.dropout))
                block_in = widths[level]
                if res in c.attn_resolutions:
                    attns.append(AttnBlock(block_in))
            stage = _Level(blocks, attns)
            if level != 0:
                stage.upsample = Upsample(block_in)
                res *= 2
            levels.insert(0, stage)
        self.up = nn.ModuleList(levels)
        self.norm_out = _group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, c.out_channels, 3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.mid(self.conv_in(z))
        for stage in reversed(self.up):
            h = stage.run_blocks(h)
            if hasattr(stage, "upsample"):
                h = stage.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class DiagonalGaussian:
    """Posterior N(mean, exp(logvar)) of the encoder, in the layout of the encoded input.

    Shapes: mean, logvar (b c f h w) for a video or (n c h w) for images; logvar is clamped to [-30, 20] (reference).
    Latents here are unscaled (multiply by `scale_factor` for the diffusion model).
    """

    def __init__(self, mean: Tensor, logvar: Tensor) -> None:
        if mean.shape != logvar.shape:
            raise ValueError(f"mean and logvar must have one shape, got {tuple(mean.shape)} and {tuple(logvar.shape)}")
        self.mean = mean
        self.logvar = logvar.clamp(-30.0, 20.0)

    @property
    def std(self) -> Tensor:
        return torch.exp(0.5 * self.logvar)

    def mode(self) -> Tensor:
        """The posterior mean (same shape as `mean`)."""
        return self.mean

    def sample(self, generator: torch.Generator | None = None, *, noise: Tensor | None = None) -> Tensor:
        """mean + std * eps, with eps ~ N(0, 1) drawn from `generator`, or the given `noise` (same shape as mean).

        For a video, eps is drawn in the reference's folded order `((b f) c h w)` and then unfolded, so a generator
        seeded like the reference's global RNG yields the reference's sample.
        """
        if noise is None:
            noise = self._draw(generator)
        elif noise.shape != self.mean.shape:
            raise ValueError(f"noise must have shape {tuple(self.mean.shape)}, got {tuple(noise.shape)}")
        return self.mean + self.std * noise

    def _draw(self, generator: torch.Generator | None) -> Tensor:
        m = self.mean
        if m.ndim == 5:
            b, c, f, h, w = m.shape
            eps = torch.randn((b * f, c, h, w), generator=generator, device=m.device, dtype=m.dtype)
            return rearrange(eps, "(b f) c h w -> b c f h w", b=b, f=f)
        return torch.randn(m.shape, generator=generator, device=m.device, dtype=m.dtype)


class AutoencoderKL(nn.Module):
    """KL-regularised autoencoder with 8x spatial downsampling (for the released configs).

    `encode` takes pixels in [-1, 1], `(b 3 f H W)` or `(n 3 H W)`, and returns the unscaled posterior in the same
    layout; `decode` inverts it for unscaled latents. `encode_to_latent` / `decode_latent` add the scale factor.
    """

    def __init__(self, config: AutoencoderKLConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        moments = 2 * config.z_channels if config.double_z else config.z_channels
        self.quant_conv = nn.Conv2d(moments, 2 * config.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(config.embed_dim, config.z_channels, 1)

    def _check_pixels(self, x: Tensor) -> None:
        f = self.config.downsample_factor
        if x.ndim not in (4, 5) or x.shape[1] != self.config.in_channels:
            raise ValueError(
                f"pixels must be (b {self.config.in_channels} f H W) or (n {self.config.in_channels} H W), "
                f"got {tuple(x.shape)}"
            )
        if x.shape[-2] % f or x.shape[-1] % f:
            raise ValueError(f"pixel height and width must be multiples of {f}, got {tuple(x.shape[-2:])}")

    def encode(self, x: Tensor, *, chunk_frames: int | None = None) -> DiagonalGaussian:
        """Posterior of pixels in [-1, 1]. Shapes: (b 3 f H W) -> (b 4 f H/8 W/8), or (n 3 H W) -> (n 4 H/8 W/8).

        `chunk_frames` encodes at most that many folded images per network call (None: all at once, as the
        reference does with `perframe_ae: false`); every layer is per image, so results do not depend on it.
        """
        self._check_pixels(x)
        images = rearrange(x, "b c f h w -> (b f) c h w") if x.ndim == 5 else x
        moments = _chunked(lambda t: self.quant_conv(self.encoder(t)), images, chunk_frames)
        mean, logvar = moments.chunk(2, dim=1)
        if x.ndim == 5:
            mean, logvar = (rearrange(t, "(b f) c h w -> b c f h w", b=x.shape[0]) for t in (mean, logvar))
        return DiagonalGaussian(mean, logvar)

    def decode(self, z: Tensor, *, chunk_frames: int | None = 4) -> Tensor:
        """Unscaled latents to pixels. Shapes: (b 4 f h w) -> (b 3 f 8h 8w), or (n 4 h w) -> (n 3 8h 8w).

        Decodes at most `chunk_frames` folded images per network call to bound activation memory (None: all at once).
        """
        if z.ndim not in (4, 5) or z.shape[1] != self.config.embed_dim:
            raise ValueError(f"latents must be (b {self.config.embed_dim} f h w) or (n .. h w), got {tuple(z.shape)}")
        images = rearrange(z, "b c f h w -> (b f) c h w") if z.ndim == 5 else z
        out = _chunked(lambda t: self.decoder(self.post_quant_conv(t)), images, chunk_frames)
        if z.ndim == 5:
            out = rearrange(out, "(b f) c h w -> b c f h w", b=z.shape[0])
        return out

    def encode_to_latent(
        self,
        video: Tensor,
        generator: torch.Generator | None = None,
        *,
        noise: Tensor | None = None,
        chunk_frames: int | None = None,
    ) -> Tensor:
        """Scaled diffusion latent of pixels in [-1, 1]: scale_factor * posterior draw.

        Shapes: video (b 3 f H W) -> (b 4 f H/8 W/8) (or images (n 3 H W) -> (n 4 H/8 W/8)).
        Reference behaviour: the reference always uses a posterior *sample*. Pass `generator` (or recorded `noise`,
        shaped like the latent, unscaled N(0,1)) for that; with neither, the posterior mode is returned
        (deterministic, no hidden global RNG). `chunk_frames` bounds memory as in `encode`.
        """
        posterior = self.encode(video, chunk_frames=chunk_frames)
        if generator is None and noise is None:
            z = posterior.mode()
        else:
            z = posterior.sample(generator, noise=noise)
        return self.config.scale_factor * z

    def decode_latent(self, z: Tensor, *, chunk_frames: int | None = 4) -> Tensor:
        """Pixels from scaled diffusion latents: decode(z / scale_factor). Shapes: (b 4 f h w) -> (b 3 f 8h 8w)."""
        return self.decode(z / self.config.scale_factor, chunk_frames=chunk_frames)


def _chunked(fn: Callable[[Tensor], Tensor], x: Tensor, chunk: int | None) -> Tensor:
    """Apply `fn` to `x` in slices of `chunk` along dim 0 and concatenate (None: one call)."""
    if chunk is not None and chunk < 1:
        raise ValueError(f"chunk_frames must be a positive integer or None, got {chunk}")
    if chunk is None or chunk >= x.shape[0]:
        return fn(x)
    return torch.cat([fn(part) for part in x.split(chunk, dim=0)], dim=0)
