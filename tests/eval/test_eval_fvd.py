"""FVD: closed-form Fréchet distances, preprocessing, and tiny I3D / TorchScript detectors run end to end."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import Tensor, nn

from realcam.errors import CheckpointMismatchError
from realcam.eval.fvd import (
    compute_fvd,
    detect_variant,
    embed_videos,
    embedding_statistics,
    frechet_distance,
    fvd_from_embeddings,
    list_videos,
    load_detector,
    preprocess_stylegan,
    preprocess_videogpt,
)
from realcam.eval.i3d import I3DConfig, InceptionI3d
from realcam.io.video import write_video

TINY = I3DConfig(num_classes=6, width_divisor=16)


def _frechet_scipy(mu1, s1, mu2, s2):
    """Slow twin: the textbook formula with scipy's general matrix square root."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_identical_sets_give_zero():
    x = np.random.default_rng(0).normal(size=(200, 16))
    assert fvd_from_embeddings(x, x) == pytest.approx(0.0, abs=1e-9)
    assert fvd_from_embeddings(x, x[::-1].copy()) == pytest.approx(0.0, abs=1e-9)  # order-free


def test_gaussian_shift_gives_squared_norm():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 12)) @ rng.normal(size=(12, 12))
    shift = rng.normal(size=12)
    # Same sample covariance, means differ by `shift`: FD = ||shift||^2 exactly.
    assert fvd_from_embeddings(x, x + shift) == pytest.approx(float(shift @ shift), rel=1e-9)


def test_closed_form_diagonal_covariances():
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 2.0])
    expected = 9.0 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()  # ||Δμ||² + Σ (√a − √b)²
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_matches_scipy_twin_and_is_stable_in_float64():
    rng = np.random.default_rng(2)
    for d in (4, 32):
        A, B = rng.normal(size=(d, d)), rng.normal(size=(d, d))
        s1, s2 = A @ A.T / d, B @ B.T / d
        mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_frechet_scipy(mu1, s1, mu2, s2), rel=1e-8)
    # Rank-deficient covariances (n < d, as with 400-d logits of few videos) stay finite and non-negative.
    x, y = rng.normal(size=(10, 64)), rng.normal(size=(10, 64)) + 0.1
    value = fvd_from_embeddings(x, y)
    assert math.isfinite(value) and value >= 0
    mu, sigma = embedding_statistics(x)
    np.testing.assert_allclose(sigma, np.cov(x.T), atol=1e-12)


def test_preprocessing_shapes_range_and_crop():
    videos = torch.zeros(1, 16, 64, 96, 3, dtype=torch.uint8)
    videos[..., :, 40:56, :] = 255  # a bright vertical band in the middle third of the width
    g = preprocess_videogpt(videos)
    assert g.shape == (1, 3, 16, 224, 224) and g.min() == -1 and g.max() == 1
    s = preprocess_stylegan(videos)
    # Short side 64 -> 128, width 96 -> 192, centre crop keeps columns 32..160 of the resized frame.
    assert s.shape == (1, 3, 16, 128, 128)
    assert s[0, 0, 0, 64, 64] == pytest.approx(1.0) and s[0, 0, 0, 64, 2] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="uint8"):
        preprocess_videogpt(videos.float())


def test_full_size_i3d_names_and_shapes():
    with torch.device("meta"):
        state = InceptionI3d().state_dict()
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    assert shapes["Conv3d_1a_7x7.conv3d.weight"] == (64, 3, 7, 7, 7)
    assert shapes["Conv3d_2c_3x3.bn.running_var"] == (192,)
    assert shapes["Mixed_4f.b1b.conv3d.weight"] == (320, 160, 3, 3, 3)
    assert shapes["Mixed_5c.b3b.conv3d.weight"] == (128, 832, 1, 1, 1)
    assert shapes["logits.conv3d.weight"] == (400, 1024, 1, 1, 1) and shapes["logits.conv3d.bias"] == (400,)
    assert "logits.bn.weight" not in shapes
    # The Kinetics-400 Inception-I3D has 12,697,264 weights (excluding batch-norm statistics).
    learned = [k for k in state if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert sum(math.prod(shapes[k]) for k in learned) == 12_697_264


@pytest.fixture(scope="module")
def video_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fvd")
    rng = np.random.default_rng(3)
    for folder, brightness in (("real", 60), ("fake", 180)):
        (root / folder).mkdir()
        for i in range(2):  # 2 videos per set keep the CPU test short (rank-1 covariances are fine)
            frames = np.clip(rng.normal(brightness, 40, size=(16, 48, 64, 3)), 0, 255).astype(np.uint8)
            write_video(root / folder / f"v{i}.mp4", frames, fps=10)
    return root


def test_tiny_i3d_end_to_end_through_the_real_loader(video_dirs, tmp_path):
    torch.manual_seed(0)
    model = InceptionI3d(TINY)
    for module in model.modules():  # non-trivial batch-norm statistics
        if isinstance(module, nn.BatchNorm3d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "i3d_tiny.pt"
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}  # old files
    torch.save(state, path)
    assert detect_variant(path) == "videogpt"
    detector = load_detector(path, i3d_config=TINY)
    result = compute_fvd(video_dirs / "real", video_dirs / "fake", detector, batch_size=2)
    assert result.variant == "videogpt" and result.embedding_dim == 6 and result.real_videos == 2
    assert math.isfinite(result.fvd) and result.fvd > 0
    real = embed_videos(list_videos(video_dirs / "real"), detector, batch_size=2)
    assert fvd_from_embeddings(real, real[::-1].copy()) == pytest.approx(0.0, abs=1e-6)
    # Strict loading: a missing weight is an error, not a warning.
    del state["Mixed_4c.b2b.conv3d.weight"]
    torch.save(state, path)
    with pytest.raises(CheckpointMismatchError, match="Mixed_4c.b2b.conv3d.weight"):
        load_detector(path, i3d_config=TINY)


class _TinyScriptedI3D(nn.Module):
    """Stands in for StyleGAN-V's TorchScript detector: same call signature, (b d) features."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 5, kernel_size=3, stride=2)

    def forward(self, x: Tensor, rescale: bool = True, resize: bool = False, return_features: bool = False) -> Tensor:
        if rescale:
            x = x * 2 - 1
        if resize:
            x = torch.nn.functional.interpolate(x, size=(x.shape[2], 64, 64), mode="trilinear", align_corners=False)
        features = torch.relu(self.conv(x)).mean(dim=(2, 3, 4))
        return features if return_features else features.softmax(dim=1)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_torchscript_detector_end_to_end(video_dirs, tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "i3d_torchscript.pt"
    torch.jit.script(_TinyScriptedI3D()).save(str(path))
    assert detect_variant(path) == "stylegan"
    detector = load_detector(path)
    result = compute_fvd(video_dirs / "real", video_dirs / "fake", detector, batch_size=4)
    assert result.variant == "stylegan" and result.embedding_dim == 5
    assert math.isfinite(result.fvd) and result.fvd > 0
    assert compute_fvd(video_dirs / "fake", video_dirs / "fake", detector).fvd == pytest.approx(0.0, abs=1e-9)


@pytest.mark.weights
@pytest.mark.parametrize("variable,variant", [("REALCAM_I3D_400", "videogpt"), ("REALCAM_I3D_TORCHSCRIPT", "stylegan")])
def test_released_detectors(variable, variant):
    """The public detector files, when the user points at them (env REALCAM_I3D_400 / REALCAM_I3D_TORCHSCRIPT)."""
    import os

    path = os.environ.get(variable)
    if not path:
        pytest.skip(f"set {variable} to the public detector file to run this test")
    detector = load_detector(path)
    assert detector.variant == variant
    videos = torch.from_numpy(np.random.default_rng(0).integers(0, 256, size=(2, 16, 64, 64, 3), dtype=np.uint8))
    features = detector.embed(videos)
    assert features.shape[0] == 2 and np.isfinite(features).all()
    if variant == "videogpt":
        assert features.shape[1] == 400
