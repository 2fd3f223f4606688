"""Building blocks of the DynamiCrafter 3D UNet (spec §1.3) with the CamI2V camera plug-in (spec §1.9(d)).

Attribute names follow the reference checkpoint keys (including the misspelt `temopral_conv` and `pluker_projection`)
so that the released weights load strictly. Frames travel folded into the batch, `(b f) c h w`, frame-major, except
inside the temporal layers, which unfold them to `b c f h w`.
"""

from __future__ import annotations

import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from realcam.models.camera.condition import CameraCondition
from realcam.models.unet.attention import CrossAttention, Epipolar

GROUPS = 32


class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in float32 whatever the input and parameter dtypes, result cast back to the input dtype.

    Reference behaviour (`GroupNormSpecific`): the ResBlock and output-head norms of half-precision models run in
    float32, because the statistics of large activations lose too many bits in float16.
    """

    def forward(self, x: Tensor) -> Tensor:
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        return F.group_norm(x.float(), self.num_groups, weight, bias, self.eps).to(x.dtype)


def _zero(module: nn.Module) -> nn.Module:
    """Zero every parameter of `module` (reference zero-init for residual outputs) and return it."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class TemporalConvBlock(nn.Module):
    """Four chained (GroupNorm -> SiLU -> [Dropout] -> Conv3d over time, kernel (3, 1, 1)) stages plus a residual.

    The norms are plain GroupNorm (not forced to float32), normalising each group over frames and pixels together.
    Stage 4 is zero-initialised. Shapes: x (b c f h w) -> (b c f h w).
    """

    def __init__(self, channels: int, dropout: float) -> None:
        super().__init__()

        def conv() -> nn.Conv3d:
            return nn.Conv3d(channels, channels, (3, 1, 1), padding=(1, 0, 0))

        self.conv1 = nn.Sequential(nn.GroupNorm(GROUPS, channels), nn.SiLU(), conv())
        self.conv2 = nn.Sequential(nn.GroupNorm(GROUPS, channels), nn.SiLU(), nn.Dropout(dropout), conv())
        self.conv3 = nn.Sequential(nn.GroupNorm(GROUPS, channels), nn.SiLU(), nn.Dropout(dropout), conv())
        self.conv4 = nn.Sequential(nn.GroupNorm(GROUPS, channels), nn.SiLU(), nn.Dropout(dropout), conv())
        _zero(self.conv4[3])

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv4(self.conv3(self.conv2(self.conv1(x))))


class ResBlock(nn.Module):
    """Residual block: GN -> SiLU -> conv3x3, + projected embedding, GN -> SiLU -> Dropout -> conv3x3 (zero-init),
    plus the (1x1 when the width changes) skip; then, frames unfolded, the temporal conv block.

    Shapes: x ((b f) c_in h w), emb ((b f) emb_channels) -> ((b f) c_out h w); `batch` = b.
    """

    def __init__(
        self, channels: int, emb_channels: int, out_channels: int, *, dropout: float, temporal_conv: bool
    ) -> None:
        super().__init__()
        self.in_layers = nn.Sequential(
            GroupNorm32(GROUPS, channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1)
        )
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, out_channels))
        self.out_layers = nn.Sequential(
            GroupNorm32(GROUPS, out_channels),
            nn.SiLU(),
            nn.Dropout(dropout),
            _zero(nn.Conv2d(out_channels, out_channels, 3, padding=1)),
        )
        self.skip_connection = nn.Identity() if channels == out_channels else nn.Conv2d(channels, out_channels, 1)
        if temporal_conv:
            self.temopral_conv = TemporalConvBlock(out_channels, dropout)

    def forward(self, x: Tensor, emb: Tensor, batch: int) -> Tensor:
        h = self.in_layers(x)
        h = h + self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        h = self.skip_connection(x) + self.out_layers(h)
        if hasattr(self, "temopral_conv"):
            h = rearrange(h, "(b f) c h w -> b c f h w", b=batch)
            h = self.temopral_conv(h)
            h = rearrange(h, "b c f h w -> (b f) c h w")
        return h


class Downsample(nn.Module):
    """Strided 3x3 convolution halving height and width. Shapes: ((b f) c h w) -> ((b f) c h/2 w/2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x)


class Upsample(nn.Module):
    """Nearest-neighbour x2 then a 3x3 convolution. Shapes: ((b f) c h w) -> ((b f) c 2h 2w)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class GEGLU(nn.Module):
    """Gated GELU: one projection to twice the width, split as [value, gate], value * GELU(gate)."""

    def __init__(self, dim: int, inner: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, 2 * inner)

    def forward(self, x: Tensor) -> Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    """GEGLU (dim -> 4 dim) -> Dropout(0) -> Linear (4 dim -> dim); keys `net.0.proj`, `net.2`."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, 4 * dim), nn.Dropout(0.0), nn.Linear(4 * dim, dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class BasicTransformerBlock(nn.Module):
    """Pre-LayerNorm transformer block: attn1 (self), attn2 (cross to the context, or self when none), feed-forward.

    With `num_register_tokens` set (a camera-injected temporal block), it also holds `pluker_projection` (zero-init)
    and `epipolar`. Given pose features p, the first step becomes (spec §1.9(d), "add to main branch"):
    n = norm1(x); x <- x + attn1(n) + pluker_projection(n + p) + epipolar(n + p). Without them it is the plain
    DynamiCrafter step x <- x + attn1(n).

    Shapes: x (B n dim), context (B m context_dim) or None -> (B n dim). For the camera path x is ((b h w) f dim),
    p the same, mask (b (f h w) (f h w)) or None (full attention).
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        dim_head: int,
        *,
        context_dim: int | None = None,
        image_cross_attention: bool = False,
        image_scale_learnable: bool = False,
        text_context_len: int = 77,
        num_register_tokens: int | None = None,
    ) -> None:
        super().__init__()
        self.attn1 = CrossAttention(dim, heads, dim_head)
        self.ff = FeedForward(dim)
        self.attn2 = CrossAttention(
            dim,
            heads,
            dim_head,
            context_dim=context_dim,
            image_cross_attention=image_cross_attention,
            image_scale_learnable=image_scale_learnable,
            text_context_len=text_context_len,
        )
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.has_camera = num_register_tokens is not None
        if self.has_camera:
            self.pluker_projection = _zero(nn.Linear(dim, dim))
            self.epipolar = Epipolar(dim, heads, dim_head, num_register_tokens)

    def forward(
        self,
        x: Tensor,
        context: Tensor | None = None,
        *,
        pose: Tensor | None = None,
        mask: Tensor | None = None,
        grid: tuple[int, int, int] | None = None,
    ) -> Tensor:
        n = self.norm1(x)
        if pose is None:
            x = x + self.attn1(n)
        else:
            assert self.has_camera and grid is not None
            batch, height, width = grid
            camera_in = n + pose
            camera = self.pluker_projection(camera_in) + self.epipolar(
                camera_in, mask, batch=batch, height=height, width=width
            )
            x = x + self.attn1(n) + camera
        x = x + self.attn2(self.norm2(x), context)
        return x + self.ff(self.norm3(x))


class SpatialTransformer(nn.Module):
    """Per-frame transformer over the h*w tokens of each frame: GN(eps 1e-6) -> proj_in -> block -> proj_out
    (zero-init) -> residual. Cross-attends to the per-frame context (text tokens, then that frame's image tokens).

    Shapes: x ((b f) c h w), context ((b f) m context_dim) -> ((b f) c h w).
    """

    def __init__(
        self,
        channels: int,
        heads: int,
        dim_head: int,
        *,
        context_dim: int,
        use_linear: bool,
        image_cross_attention: bool,
        image_scale_learnable: bool,
        text_context_len: int,
    ) -> None:
        super().__init__()
        inner = heads * dim_head
        self.use_linear = use_linear
        self.norm = nn.GroupNorm(GROUPS, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, inner) if use_linear else nn.Conv2d(channels, inner, 1)
        block = BasicTransformerBlock(
            inner,
            heads,
            dim_head,
            context_dim=context_dim,
            image_cross_attention=image_cross_attention,
            image_scale_learnable=image_scale_learnable,
            text_context_len=text_context_len,
        )
        self.transformer_blocks = nn.ModuleList([block])
        self.proj_out = _zero(nn.Linear(inner, channels) if use_linear else nn.Conv2d(inner, channels, 1))

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        _, _, h, w = x.shape
        tokens = self.norm(x)
        if not self.use_linear:
            tokens = self.proj_in(tokens)
        tokens = rearrange(tokens, "n c h w -> n (h w) c")
        if self.use_linear:
            tokens = self.proj_in(tokens)
        for block in self.transformer_blocks:
            tokens = block(tokens, context)
        if self.use_linear:
            tokens = self.proj_out(tokens)
        tokens = rearrange(tokens, "n (h w) c -> n c h w", h=h, w=w)
        if not self.use_linear:
            tokens = self.proj_out(tokens)
        return x + tokens


class TemporalTransformer(nn.Module):
    """Transformer over time at every pixel (tokens = frames, sequences = b*h*w), self-attention only, no positional
    encoding, no causal mask. GN(eps 1e-6) normalises over frames and pixels together. `use_linear=False` gives the
    Conv1d (kernel 1) projections of `init_attn`.

    With `camera_level` set, the block is camera-injected and reads `camera.features[camera_level]` and the mask
    for its feature height; `camera=None` takes the plain path.

    Shapes: x (b c f h w) -> (b c f h w); camera features[camera_level] (b or 1, c, f, h, w).
    """

    def __init__(
        self,
        channels: int,
        heads: int,
        dim_head: int,
        *,
        use_linear: bool,
        camera_level: int | None = None,
        num_register_tokens: int = 4,
    ) -> None:
        super().__init__()
        inner = heads * dim_head
        if camera_level is not None and inner != channels:
            raise ValueError(f"camera injection needs inner width == channels, got {inner} != {channels}")
        self.use_linear = use_linear
        self.camera_level = camera_level
        self.num_register_tokens = num_register_tokens
        self.norm = nn.GroupNorm(GROUPS, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, inner) if use_linear else nn.Conv1d(channels, inner, 1)
        block = BasicTransformerBlock(
            inner, heads, dim_head, num_register_tokens=None if camera_level is None else num_register_tokens
        )
        self.transformer_blocks = nn.ModuleList([block])
        self.proj_out = _zero(nn.Linear(inner, channels) if use_linear else nn.Conv1d(inner, channels, 1))

    def _pose_tokens(self, camera: CameraCondition, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """The pose features of this level as ((b h w) f c) tokens, and the epipolar mask (or None)."""
        b, c, f, h, w = x.shape
        feature = camera.features[self.camera_level]
        if feature.shape[1:] != (c, f, h, w) or feature.shape[0] not in (1, b):
            raise ValueError(
                f"camera.features[{self.camera_level}] must be ({b} or 1, {c}, {f}, {h}, {w}), "
                f"got {tuple(feature.shape)}"
            )
        feature = feature.to(x.dtype).expand(b, -1, -1, -1, -1)
        mask = camera.mask_for_height(h, self.num_register_tokens)  # padded for the registers once
        return rearrange(feature, "b c f h w -> (b h w) f c"), mask

    def forward(self, x: Tensor, camera: CameraCondition | None = None) -> Tensor:
        b, _, _, h, w = x.shape
        tokens = rearrange(self.norm(x), "b c f h w -> (b h w) c f")
        if self.use_linear:
            tokens = self.proj_in(rearrange(tokens, "n c f -> n f c"))
        else:
            tokens = rearrange(self.proj_in(tokens), "n c f -> n f c")
        pose = mask = None
        if camera is not None and self.camera_level is not None:
            pose, mask = self._pose_tokens(camera, x)
        for block in self.transformer_blocks:
            tokens = block(tokens, pose=pose, mask=mask, grid=(b, h, w))
        if self.use_linear:
            tokens = rearrange(self.proj_out(tokens), "n f c -> n c f")
        else:
            tokens = self.proj_out(rearrange(tokens, "n f c -> n c f"))
        return x + rearrange(tokens, "(b h w) c f -> b c f h w", b=b, h=h, w=w)
