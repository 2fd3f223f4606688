"""Epipolar attention masks of the CamI2V plugin (model spec §1.9(e)).

Pure functions: relative cameras -> pairwise poses -> fundamental matrices -> boolean masks per pixel stride.
The reference materialises every (query, key) distance at once (~1 GiB at 256x256, stride 8); here the masks are
filled one (query frame, key frame) block at a time, so the only large tensor is the boolean output itself.

Conventions: OpenCV cameras, `rel_c2w` (b f 4 4) relative to the conditioning camera (already scaled), K (b f 3 3) in
pixels of the full-resolution frame (height x width). Mask layout per stride d: `b (f h w) (f h w)`, rows = query
tokens, columns = key tokens, both frame-major then row-major over the (height/d) x (width/d) grid; True = may attend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

# Reference behaviour: translations whose 3 components are all below this magnitude (every same-frame pair, and
# every pair of a rotation-only path, whose float noise stays ~5e-7) are replaced by N(0, 1) * this value, which
# gives those pairs a random epipolar line through each query point instead of an all-False (degenerate) block.
ZERO_TRANSLATION_EPS = 1e-6
# Seed of the zero-translation perturbation when `epipolar_masks` is given no generator.
DEFAULT_PERTURBATION_SEED = 0


def _check_cameras(rel_c2w: Tensor, K: Tensor) -> None:
    if rel_c2w.ndim != 4 or rel_c2w.shape[-2:] != (4, 4):
        raise ValueError(f"rel_c2w must be (b f 4 4), got {tuple(rel_c2w.shape)}")
    if K.shape != (*rel_c2w.shape[:2], 3, 3):
        raise ValueError(f"K must be (b f 3 3) matching rel_c2w {tuple(rel_c2w.shape)}, got {tuple(K.shape)}")


def pairwise_relative_poses(rel_c2w: Tensor) -> Tensor:
    """Pose of camera i expressed in camera j: P[b, i, j] = inv(c2w_j) @ c2w_i (maps camera-i to camera-j coords).

    Shapes: rel_c2w (b f 4 4) -> (b f f 4 4), indexed [b, i (query frame), j (key frame)].
    """
    if rel_c2w.ndim != 4 or rel_c2w.shape[-2:] != (4, 4):
        raise ValueError(f"rel_c2w must be (b f 4 4), got {tuple(rel_c2w.shape)}")
    w2c = torch.linalg.inv(rel_c2w)
    return w2c[:, None, :, :, :] @ rel_c2w[:, :, None, :, :]


def perturb_zero_translations(t: Tensor, generator: torch.Generator | None) -> Tensor:
    """Replace every translation whose components are all below 1e-6 in magnitude by N(0, 1) * 1e-6.

    The noise for the whole tensor is drawn in one call from `generator` (then selected), so the result is a
    function of the generator state only. Shapes: t (... 3 1) -> (... 3 1).
    """
    noise = torch.randn(t.shape, generator=generator, dtype=t.dtype, device=t.device) * ZERO_TRANSLATION_EPS
    is_zero = (t.abs() < ZERO_TRANSLATION_EPS).all(dim=-2, keepdim=True)
    return torch.where(is_zero, noise, t)


def skew(t: Tensor) -> Tensor:
    """Cross-product matrix [t]x with [t]x @ v = t x v. Shapes: t (... 3 1) or (... 3) -> (... 3 3)."""
    t = t.squeeze(-1) if t.shape[-1] == 1 and t.ndim >= 2 and t.shape[-2] == 3 else t
    x, y, z = t.unbind(-1)
    zero = torch.zeros_like(x)
    rows = [torch.stack(r, dim=-1) for r in ((zero, -z, y), (z, zero, -x), (-y, x, zero))]
    return torch.stack(rows, dim=-2)


def fundamental_matrices(pairs_c2w: Tensor, K: Tensor, t: Tensor | None = None) -> Tensor:
    """Fundamental matrices F[b, i, j] mapping a homogeneous pixel of frame i to its epipolar line in frame j.

    F_ij = K_j^-T [t_ij]x R_ij K_i^-1 (Hartley & Zisserman eq. 9.2 with E = [t]x R), so that q^T F_ij p = 0 for the
    projections p (frame i) and q (frame j) of one 3D point. R_ij, t_ij come from `pairs_c2w`; pass `t` to use
    another translation column (e.g. the zero-translation perturbation).
    Reference deviation: the reference uses one K on both sides; this equals ours whenever the intrinsics are the
    same for all frames (every released use), and ours stays correct for per-frame intrinsics.

    Shapes: pairs_c2w (b f f 4 4), K (b f 3 3) pixels, t (b f f 3 1) or None -> (b f f 3 3).
    """
    b, f = pairs_c2w.shape[:2]
    if pairs_c2w.shape != (b, f, f, 4, 4):
        raise ValueError(f"pairs_c2w must be (b f f 4 4), got {tuple(pairs_c2w.shape)}")
    if K.shape != (b, f, 3, 3):
        raise ValueError(f"K must be ({b} {f} 3 3), got {tuple(K.shape)}")
    if t is None:
        t = pairs_c2w[..., :3, 3:]
    elif t.shape != (b, f, f, 3, 1):
        raise ValueError(f"t must be ({b} {f} {f} 3 1), got {tuple(t.shape)}")
    K_inv = torch.linalg.inv(K)
    essential = skew(t) @ pairs_c2w[..., :3, :3]
    return K_inv[:, None, :, :, :].transpose(-1, -2) @ essential @ K_inv[:, :, None, :, :]


def grid_points(height: int, width: int, stride: int, *, dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """Homogeneous pixel coordinates of the stride-d grid: (c*d + d/2 - 0.5, r*d + d/2 - 0.5, 1).

    Shapes: -> (h*w 3), h = height // d, w = width // d, row-major (r, then c).
    """
    if height % stride or width % stride:
        raise ValueError(f"height and width must be multiples of stride {stride}, got {height}x{width}")
    ys = torch.arange(height // stride, dtype=dtype, device=device) * stride + (stride / 2 - 0.5)
    xs = torch.arange(width // stride, dtype=dtype, device=device) * stride + (stride / 2 - 0.5)
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1), torch.ones_like(x).reshape(-1)], dim=-1)


def masks_from_fundamental(F: Tensor, height: int, width: int, strides: Sequence[int]) -> dict[int, Tensor]:
    """Epipolar masks: key q (frame j) is visible to query p (frame i) iff dist(q, line F_ij p) < d * sqrt(2) / 2.

    The line l = F_ij p is normalised by sqrt(l0^2 + l1^2), so |l . q| is the point-line distance in pixels.
    Blocks are filled one (i, j) pair at a time: peak intermediate is O(h*w*h*w) floats for one pair.

    Shapes: F (b f f 3 3) -> {d: bool (b, f*h*w, f*h*w)} with h = height // d, w = width // d.
    """
    b, f = F.shape[:2]
    if F.shape != (b, f, f, 3, 3):
        raise ValueError(f"F must be (b f f 3 3), got {tuple(F.shape)}")
    masks = {}
    for stride in strides:
        points = grid_points(height, width, stride, dtype=F.dtype, device=F.device)  # (n 3)
        n = points.shape[0]
        threshold = stride * math.sqrt(2) / 2
        mask = torch.empty(b, f * n, f * n, dtype=torch.bool, device=F.device)
        for i in range(f):
            for j in range(f):
                lines = F[:, i, j] @ points.T  # (b 3 n_query)
                lines = lines / torch.linalg.vector_norm(lines[:, :2], dim=1, keepdim=True)
                distance = (points @ lines).abs()  # (b n_key n_query)
                mask[:, i * n : (i + 1) * n, j * n : (j + 1) * n] = (distance < threshold).transpose(1, 2)
        masks[int(stride)] = mask
    return masks


def epipolar_masks(
    rel_c2w: Tensor,
    K: Tensor,
    height: int,
    width: int,
    strides: Sequence[int],
    *,
    generator: torch.Generator | None,
    perturb_zero_translation: bool = True,
) -> dict[int, Tensor]:
    """Boolean epipolar attention masks for the given pixel strides (e.g. 64, 32, 16, 8 for the 256 model).

    Steps: pairwise poses -> (optional) zero-translation perturbation drawn from `generator` -> F -> masks.
    Without the perturbation, zero-translation pairs (every same-frame pair) have F = 0 and their blocks are empty.
    `generator=None` never uses the global RNG: the perturbation is then drawn from a fresh generator on the tensors'
    device seeded with `DEFAULT_PERTURBATION_SEED` (0), so the masks are a function of the inputs alone (the same on
    every call, per device type). Pass the generation's generator to tie them to its seed instead.

    Shapes: rel_c2w (b f 4 4) scaled relative c2w, K (b f 3 3) pixels of the height x width frame
    -> {d: bool (b, f*(height/d)*(width/d), same)}; rows = queries, columns = keys, frame-major then row-major.
    """
    _check_cameras(rel_c2w, K)
    # Built in float32 whatever the model dtype, as the reference does (fp16 lines would flip many bits).
    rel_c2w, K = rel_c2w.float(), K.float()
    pairs = pairwise_relative_poses(rel_c2w)
    t = pairs[..., :3, 3:]
    if perturb_zero_translation:
        if generator is None:
            generator = torch.Generator(device=rel_c2w.device).manual_seed(DEFAULT_PERTURBATION_SEED)
        t = perturb_zero_translations(t, generator)
    return masks_from_fundamental(fundamental_matrices(pairs, K, t), height, width, strides)
