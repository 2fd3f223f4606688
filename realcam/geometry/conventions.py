"""Camera-axis conventions at the edges. Inside realcam every pose is an OpenCV camera-to-world matrix
(x right, y down, z forward). OpenGL / nerfstudio / Blender cameras use x right, y up, z backward (looking down −z).

Converting between them flips the camera's y and z axes, i.e. right-multiplies c2w by diag(1, −1, −1, 1); the world
frame is untouched. The map is its own inverse.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["opencv_to_opengl_c2w", "opengl_to_opencv_c2w"]


def _flip_yz(c2w: Tensor) -> Tensor:
    if c2w.shape[-2:] != (4, 4):
        raise ValueError(f"c2w: expected shape (... 4 4), got {tuple(c2w.shape)}")
    flip = torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=c2w.dtype, device=c2w.device)
    return c2w * flip  # scales columns: c2w @ diag(flip)


def opengl_to_opencv_c2w(c2w: Tensor) -> Tensor:
    """OpenGL camera-to-world (x right, y up, z back) -> OpenCV camera-to-world. Shapes: (... 4 4)."""
    return _flip_yz(c2w)


def opencv_to_opengl_c2w(c2w: Tensor) -> Tensor:
    """OpenCV camera-to-world (x right, y down, z forward) -> OpenGL camera-to-world. Shapes: (... 4 4)."""
    return _flip_yz(c2w)
