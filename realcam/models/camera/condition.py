"""The camera condition handed to the UNet: the contract between the camera plugin and the backbone.

The pose encoder (realcam.models.camera) turns the Plücker map into one feature map per UNet level, and the epipolar
mask builder turns the relative cameras into boolean attention masks per pixel stride. Both are computed once per
generation and reused at every denoising step. `None` in place of a CameraCondition means the camera-free path
(plain DynamiCrafter), used by `init_attn` and the camera-free guidance branch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass(frozen=True)
class CameraCondition:
    """Per-generation camera condition.

    Fields:
        features: pose-encoder outputs, one per UNet level (ds 1, 2, 4, 8), each `b c f h w` (channels of that level,
            latent grid of that level). Blocks at ds 1/2/4 use index log2(ds); the middle block uses the last one.
        epipolar_masks: boolean masks keyed by pixel stride d (64, 32, 16, 8 for the 256 model; no 8 for 512),
            each `b (f h w) (f h w)` with queries and keys frame-major then row-major; True = may attend.
            A stride missing from the dict means full attention at that level (reference behaviour for the
            512 model's finest level).
        origin_hw: pixel size (H, W) the masks were built for; a feature map of height h uses stride origin_hw[0] // h.
    """

    features: tuple[Tensor, ...]
    epipolar_masks: dict[int, Tensor]
    origin_hw: tuple[int, int]
    _padded: dict[tuple[int, int], Tensor] = field(default_factory=dict, init=False, repr=False, compare=False)

    def mask_for_height(self, feature_height: int, register_tokens: int = 0) -> Tensor | None:
        """The epipolar mask for a feature map of this height, or None (full attention) if none was built.

        With `register_tokens` = r > 0 the mask comes left-padded with r True columns (every query may attend to the
        register tokens), shape `b n (r+n)`. The padded copy is built once per condition and reused by every block
        and every denoising step (the stride-8 mask of the 256 model is 256 MiB; padding it per call would copy it
        six times per UNet pass).
        """
        stride = self.origin_hw[0] // feature_height
        mask = self.epipolar_masks.get(stride)
        if mask is None or register_tokens == 0:
            return mask
        key = (stride, register_tokens)
        if key not in self._padded:
            pad = torch.ones(*mask.shape[:-1], register_tokens, dtype=mask.dtype, device=mask.device)
            self._padded[key] = torch.cat([pad, mask], dim=-1)
        return self._padded[key]
