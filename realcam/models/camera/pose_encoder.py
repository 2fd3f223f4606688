"""Camera pose encoder of the CamI2V plugin: Plücker map -> one feature map per UNet level.

Architecture (model spec §1.9(c)): fold frames into the batch, pixel-unshuffle by 8 to the latent grid, a 3x3 input
conv, then per level `nums_rb` pairs of (residual conv block, temporal transformer over the frames). The output of each
level's last pair is that level's feature. Attribute names follow the reference state-dict keys (`encoder_conv_in`,
`encoder_down_conv_blocks.L.j.{in_conv,block1,block2}`, `encoder_down_attention_blocks.L.j.{attention_blocks.0.*,
norms.0, ff.net.0.proj, ff.net.2, ff_norm}`) so released checkpoints load strictly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


@dataclass(frozen=True)
class PoseEncoderConfig:
    """Sizes of the camera pose encoder.

    Fields:
        downscale_factor: pixel-unshuffle factor (8: pixels -> latent grid).
        channels: width of each of the 4 levels; level L > 0 halves the grid with a 2x2 average pool.
        nums_rb: (residual block, temporal block) pairs per level.
        cin: channels after the unshuffle, 6 * downscale_factor**2.
        ksize: kernel of the 1x1 width-changing conv (`in_conv`) and of `block2`.
        num_heads: heads of the temporal self-attention (head width = channels // num_heads).
        max_frames: rows of the sinusoidal temporal position table `pos_encoder.pe`.
    """

    downscale_factor: int = 8
    channels: tuple[int, ...] = (320, 640, 1280, 1280)
    nums_rb: int = 2
    cin: int = 384
    ksize: int = 1
    num_heads: int = 8
    max_frames: int = 16

    def __post_init__(self) -> None:
        if self.cin != 6 * self.downscale_factor**2:
            raise ValueError(f"cin must be 6 * downscale_factor**2 = {6 * self.downscale_factor**2}, got {self.cin}")
        for c in self.channels:
            if c % self.num_heads or c % 2:
                raise ValueError(f"channels {self.channels} must be even and divisible by num_heads={self.num_heads}")
        if self.ksize % 2 != 1:
            raise ValueError(f"ksize must be odd, got {self.ksize}")

    @classmethod
    def full(cls) -> PoseEncoderConfig:
        """The released CamI2V / RealCam-I2V pose encoder (199,262,400 parameters)."""
        return cls()

    @classmethod
    def from_reference_params(cls, params: Mapping[str, Any]) -> PoseEncoderConfig:
        """Build from the reference YAML's `pose_encoder_config.params`; unknown keys or unsupported options raise."""
        fixed = {
            "sk": True,
            "use_conv": False,
            "compression_factor": 1,
            "attention_block_types": ["Temporal_Self"],
            "temporal_position_encoding": True,
        }
        mapped = {
            "downscale_factor": "downscale_factor",
            "channels": "channels",
            "nums_rb": "nums_rb",
            "cin": "cin",
            "ksize": "ksize",
            "temporal_attention_nhead": "num_heads",
            "temporal_position_encoding_max_len": "max_frames",
        }
        unknown = sorted(set(params) - set(fixed) - set(mapped))
        if unknown:
            raise ValueError(f"pose_encoder_config.params: unknown keys {unknown}")
        for key, supported in fixed.items():
            if key in params and _plain(params[key]) != supported:
                got = params[key]
                raise ValueError(f"pose_encoder_config.params.{key}: only {supported!r} is supported, got {got!r}")
        kwargs = {mapped[k]: v for k, v in params.items() if k in mapped}
        if "channels" in kwargs:
            kwargs["channels"] = tuple(int(c) for c in kwargs["channels"])
        return cls(**kwargs)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def sinusoidal_table(max_len: int, dim: int) -> Tensor:
    """Fixed temporal position table: sin on even channels, cos on odd ones, base 10000.

    Shapes: -> (1 max_len dim) float32; row k, channels (2m, 2m+1) = (sin, cos)(k / 10000**(2m/dim)).
    """
    position = torch.arange(max_len, dtype=torch.float32)[:, None]
    inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(1, max_len, dim)
    table[0, :, 0::2] = torch.sin(position * inv_freq)
    table[0, :, 1::2] = torch.cos(position * inv_freq)
    return table


class _PositionTable(nn.Module):
    """Holds the persistent `pe` buffer (it is part of the released checkpoint)."""

    def __init__(self, max_len: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("pe", sinusoidal_table(max_len, dim), persistent=True)


class TemporalSelfAttention(nn.Module):
    """Self-attention over frames with the sinusoidal table added to its (normalised) input.

    Shapes: x (n f c) -> (n f c), n = b*h*w independent token sequences of f frames.
    """

    def __init__(self, dim: int, num_heads: int, max_frames: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])
        self.pos_encoder = _PositionTable(max_frames, dim)

    def forward(self, x: Tensor) -> Tensor:
        frames = x.shape[1]
        if frames > self.pos_encoder.pe.shape[1]:
            raise ValueError(f"at most {self.pos_encoder.pe.shape[1]} frames are supported, got {frames}")
        x = x + self.pos_encoder.pe[:, :frames]
        heads = self.num_heads
        q, k, v = (rearrange(proj(x), "n f (h d) -> n h f d", h=heads) for proj in (self.to_q, self.to_k, self.to_v))
        out = F.scaled_dot_product_attention(q, k, v)  # scale (c / heads) ** -0.5
        return self.to_out[0](rearrange(out, "n h f d -> n f (h d)"))


class GEGLU(nn.Module):
    """Gated GELU projection: split proj(x) into (value, gate) and return value * gelu(gate)."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: Tensor) -> Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    """GEGLU feed-forward, inner width 4*dim. Keys `net.0.proj`, `net.2`."""

    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class TemporalTransformerBlock(nn.Module):
    """h <- h + Attn(PE(LN(h))); h <- h + FF(LN(h)). Shapes: (n f c) -> (n f c)."""

    def __init__(self, dim: int, num_heads: int, max_frames: int) -> None:
        super().__init__()
        self.attention_blocks = nn.ModuleList([TemporalSelfAttention(dim, num_heads, max_frames)])
        self.norms = nn.ModuleList([nn.LayerNorm(dim)])
        self.ff = FeedForward(dim)
        self.ff_norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        for attention, norm in zip(self.attention_blocks, self.norms):
            x = attention(norm(x)) + x
        return self.ff(self.ff_norm(x)) + x


class ResidualConvBlock(nn.Module):
    """[2x2 avg-pool if down] -> [in_conv if width changes] -> x + block2(relu(block1(x))).

    Shapes: (n c_in h w) -> (n c_out h' w'), h' = h // 2 when down.
    """

    def __init__(self, in_channels: int, out_channels: int, down: bool, ksize: int) -> None:
        super().__init__()
        self.down = down
        self.in_conv = None
        if in_channels != out_channels:
            self.in_conv = nn.Conv2d(in_channels, out_channels, ksize, padding=ksize // 2)
        self.block1 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.block2 = nn.Conv2d(out_channels, out_channels, ksize, padding=ksize // 2)

    def forward(self, x: Tensor) -> Tensor:
        if self.down:
            x = F.avg_pool2d(x, kernel_size=2, stride=2)
        if self.in_conv is not None:
            x = self.in_conv(x)
        return x + self.block2(F.relu(self.block1(x)))


class CameraPoseEncoder(nn.Module):
    """Plücker map -> multi-scale camera features for the UNet levels (ds 1, 2, 4, 8).

    Computed once per generation. Frames are folded frame-major, `(b f)`, as in the reference.
    """

    def __init__(self, config: PoseEncoderConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.encoder_conv_in = nn.Conv2d(config.cin, c[0], 3, padding=1)
        self.encoder_down_conv_blocks = nn.ModuleList()
        self.encoder_down_attention_blocks = nn.ModuleList()
        for level, width in enumerate(c):
            convs, temporals = nn.ModuleList(), nn.ModuleList()
            for j in range(config.nums_rb):
                in_width = (c[level - 1] if level > 0 else c[0]) if j == 0 else width
                convs.append(ResidualConvBlock(in_width, width, down=(j == 0 and level > 0), ksize=config.ksize))
                temporals.append(TemporalTransformerBlock(width, config.num_heads, config.max_frames))
            self.encoder_down_conv_blocks.append(convs)
            self.encoder_down_attention_blocks.append(temporals)

    def forward(self, plucker: Tensor) -> tuple[Tensor, ...]:
        """Shapes: plucker (b 6 f H W) -> one (b c_L f h_L w_L) per level, h_0 = H / 8, h_L = h_0 / 2**L."""
        s = self.config.downscale_factor
        if plucker.ndim != 5 or plucker.shape[1] != 6:
            raise ValueError(f"plucker must be (b 6 f H W), got {tuple(plucker.shape)}")
        b, _, f, height, width = plucker.shape
        min_side = s * 2 ** (len(self.config.channels) - 1)
        if height % min_side or width % min_side:
            raise ValueError(f"plucker H, W must be multiples of {min_side}, got {height}x{width}")
        x = F.pixel_unshuffle(rearrange(plucker, "b c f H W -> (b f) c H W"), s)
        x = self.encoder_conv_in(x)
        features = []
        for convs, temporals in zip(self.encoder_down_conv_blocks, self.encoder_down_attention_blocks):
            for conv, temporal in zip(convs, temporals):
                x = conv(x)
                h, w = x.shape[-2:]
                x = rearrange(x, "(b f) c h w -> (b h w) f c", b=b)
                x = temporal(x)
                x = rearrange(x, "(b h w) f c -> (b f) c h w", b=b, h=h, w=w)
            features.append(rearrange(x, "(b f) c h w -> b c f h w", b=b, f=f))
        return tuple(features)
