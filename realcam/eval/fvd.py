"""Fréchet Video Distance with the two I3D detectors of the reference's FVD library (spec §3).

- "videogpt": each frame resized to 224x224 (bilinear, align_corners False, aspect not kept), pixels to [-1, 1],
  through realcam's `InceptionI3d` loaded strictly from the user's `i3d_pretrained_400.pt`; the embedding is the
  400-d logits averaged over time.
- "stylegan": short side resized to 128 (the other side rounded up), centre crop 128x128, [-1, 1], through the
  StyleGAN-V TorchScript detector `i3d_torchscript.pt` called with `rescale=False, resize=True,
  return_features=True` (its own internal resize then applies).

The Fréchet distance FD = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^½ Σ₂ Σ₁^½)^½ uses means and unbiased covariances
and is computed in float64 with symmetric eigendecompositions (negative round-off eigenvalues clipped to 0). The
reference computes the same formula in float32 with SVD square roots, which loses digits for large embeddings.
"""

from __future__ import annotations

import logging
import math
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from realcam.errors import InputError
from realcam.eval.i3d import I3DConfig, InceptionI3d

logger = logging.getLogger(__name__)

VARIANTS = ("videogpt", "stylegan")


# ----------------------------------------------------------------------------------------------- Fréchet distance


def embedding_statistics(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and unbiased covariance (d d) of embeddings (n d), float64. Needs n >= 2."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"embeddings: expected (n d) with n >= 2, got {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False, ddof=1).reshape(x.shape[1], x.shape[1])


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (round-off negatives clipped)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2). Shapes: mu (d,), sigma (d d); float64.

    tr (Σ₁Σ₂)^½ is computed as Σ sqrt(eig(Σ₁^½ Σ₂ Σ₁^½)), a symmetric PSD matrix with the same eigenvalues as Σ₁Σ₂.
    """
    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    sigma1, sigma2 = np.asarray(sigma1, dtype=np.float64), np.asarray(sigma2, dtype=np.float64)
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        shapes = f"{mu1.shape}, {sigma1.shape}, {mu2.shape}, {sigma2.shape}"
        raise ValueError(f"expected mu (d,) and sigma (d d) for both sets, got {shapes}")
    root1 = _sqrt_psd(sigma1)
    inner = root1 @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh((inner + inner.T) / 2)
    trace_sqrt = float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


def fvd_from_embeddings(real: np.ndarray, fake: np.ndarray) -> float:
    """FVD of two embedding sets (n d) and (m d)."""
    return frechet_distance(*embedding_statistics(real), *embedding_statistics(fake))


# ----------------------------------------------------------------------------------------------- preprocessing


def _frames_to_float(videos: Tensor) -> Tensor:
    """uint8 (b f h w 3) -> float32 (b*f 3 h w) in [0, 255]."""
    if videos.dtype != torch.uint8 or videos.ndim != 5 or videos.shape[-1] != 3:
        raise ValueError(f"videos: expected uint8 (b f h w 3), got {videos.dtype} {tuple(videos.shape)}")
    b, f, h, w, _ = videos.shape
    return videos.reshape(b * f, h, w, 3).permute(0, 3, 1, 2).float()


def preprocess_videogpt(videos: Tensor) -> Tensor:
    """uint8 (b f h w 3) -> (b 3 f 224 224) in [-1, 1]: bilinear resize, aspect not kept (spec §3)."""
    b, f = videos.shape[:2]
    x = F.interpolate(_frames_to_float(videos), size=(224, 224), mode="bilinear", align_corners=False)
    x = 2.0 * x / 255.0 - 1.0
    return x.reshape(b, f, 3, 224, 224).permute(0, 2, 1, 3, 4).contiguous()


def preprocess_stylegan(videos: Tensor, size: int = 128) -> Tensor:
    """uint8 (b f h w 3) -> (b 3 f 128 128) in [-1, 1]: short side to 128 (other side rounded up), centre crop."""
    b, f, h, w = videos.shape[:4]
    scale = size / min(h, w)
    new_h, new_w = (size, math.ceil(w * scale)) if h <= w else (math.ceil(h * scale), size)
    x = F.interpolate(_frames_to_float(videos), size=(new_h, new_w), mode="bilinear", align_corners=False)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    x = x[:, :, top : top + size, left : left + size]
    x = 2.0 * x / 255.0 - 1.0
    return x.reshape(b, f, 3, size, size).permute(0, 2, 1, 3, 4).contiguous()


# ----------------------------------------------------------------------------------------------- detectors


@dataclass(frozen=True)
class Detector:
    """An FVD embedding network: `embed(videos uint8 (b f h w 3)) -> (b d)` float64 numpy."""

    variant: str
    model: nn.Module
    preprocess: Callable[[Tensor], Tensor]
    device: torch.device

    def embed(self, videos: Tensor) -> np.ndarray:
        return _embed_preprocessed(self, self.preprocess(torch.as_tensor(videos)))


def detect_variant(path: str | Path) -> str:
    """'stylegan' for a TorchScript archive (it holds `constants.pkl` and `code/`), else 'videogpt' (a state dict)."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if any(name.endswith("constants.pkl") or "/code/" in name for name in archive.namelist()):
                return "stylegan"
    return "videogpt"


def load_videogpt_i3d(path: str | Path, config: I3DConfig = I3DConfig()) -> InceptionI3d:
    """Build `InceptionI3d(config)` and load `i3d_pretrained_400.pt` strictly (weights-only unpickling).

    `num_batches_tracked` counters absent from older files are filled with 0 (batch-norm bookkeeping that
    evaluation never reads); every other missing, unexpected or mis-shaped key raises CheckpointMismatchError.
    """
    from realcam.checkpoints.load import load_state_dict_strict, read_state_dict

    state_dict = read_state_dict(path)
    model = InceptionI3d(config)
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked") and key not in state_dict:
            state_dict[key] = torch.zeros_like(value)
    load_state_dict_strict(model, state_dict, what=f"I3D detector {Path(path).name}")
    return model.eval()


def load_stylegan_i3d(path: str | Path) -> nn.Module:
    """Load the StyleGAN-V TorchScript detector `i3d_torchscript.pt` on the CPU."""
    import warnings

    try:
        with warnings.catch_warnings():  # the public detector is TorchScript; torch deprecates the format, not us
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu").eval()
    except RuntimeError as error:
        raise InputError(f"{path}: not a TorchScript archive ({error})") from error


def load_detector(
    path: str | Path,
    variant: str | None = None,
    *,
    device: str | torch.device = "cpu",
    i3d_config: I3DConfig = I3DConfig(),
) -> Detector:
    """Load an FVD detector from a user-provided file; `variant` None picks it from the file's format."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"detector file not found: {path} (FVD needs the public i3d_pretrained_400.pt or i3d_torchscript.pt)"
        )
    variant = variant or detect_variant(path)
    if variant not in VARIANTS:
        raise ValueError(f"variant: expected one of {VARIANTS}, got {variant!r}")
    device = torch.device(device)
    if variant == "videogpt":
        return Detector(variant, load_videogpt_i3d(path, i3d_config).to(device), preprocess_videogpt, device)
    return Detector(variant, load_stylegan_i3d(path).to(device), preprocess_stylegan, device)


# ----------------------------------------------------------------------------------------------- videos


def list_videos(folder: str | Path) -> list[Path]:
    """Every `*.mp4` in `folder`, sorted by name (FVD is a set statistic; order does not matter)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    videos = sorted(folder.glob("*.mp4"))
    if len(videos) < 2:
        raise InputError(f"{folder}: FVD needs at least 2 videos (*.mp4), found {len(videos)}")
    return videos


def embed_videos(
    paths: Sequence[Path],
    detector: Detector,
    *,
    batch_size: int = 16,
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Embeddings (n d) of the videos, `batch_size` at a time. Every video must have the same frame count."""
    from realcam.eval.layout import read_frames

    chunks, frame_count = [], None
    for start in range(0, len(paths), batch_size):
        batch = []
        for path in paths[start : start + batch_size]:
            frames = read_frames(path)
            if frame_count is None:
                frame_count = len(frames)
            if len(frames) != frame_count:
                raise InputError(f"{path}: {len(frames)} frames, but the first video has {frame_count}")
            # Resize per video first, so videos of different sizes can share a batch.
            batch.append(detector.preprocess(torch.from_numpy(frames)[None]))
        chunks.append(_embed_preprocessed(detector, torch.cat(batch)))
        if on_batch is not None:
            on_batch(len(batch))
    return np.concatenate(chunks)


@torch.no_grad()
def _embed_preprocessed(detector: Detector, x: Tensor) -> np.ndarray:
    x = x.to(detector.device)
    if detector.variant == "stylegan":
        features = detector.model(x, rescale=False, resize=True, return_features=True)
    else:
        features = detector.model(x)
    if features.ndim != 2 or features.shape[0] != x.shape[0]:
        raise ValueError(f"{detector.variant} detector returned {tuple(features.shape)}, expected (b d)")
    return features.double().cpu().numpy()


@dataclass(frozen=True)
class FvdResult:
    fvd: float
    variant: str
    real_videos: int
    fake_videos: int
    embedding_dim: int


def compute_fvd(
    real_dir: str | Path,
    fake_dir: str | Path,
    detector: Detector,
    *,
    batch_size: int = 16,
    on_batch: Callable[[int], None] | None = None,
) -> FvdResult:
    """FVD between the videos of two folders with one detector (computed once; there are no trials)."""
    real = embed_videos(list_videos(real_dir), detector, batch_size=batch_size, on_batch=on_batch)
    fake = embed_videos(list_videos(fake_dir), detector, batch_size=batch_size, on_batch=on_batch)
    return FvdResult(fvd_from_embeddings(real, fake), detector.variant, len(real), len(fake), int(real.shape[1]))
