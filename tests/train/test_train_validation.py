"""Validation videos: guided DDIM samples of validation clips (tiny model, 2 steps), written as GT-over-sample mp4."""

import torch
from train_synthetic import SyntheticClips, make_model

from realcam.data.dataset import collate
from realcam.io.video import read_video
from realcam.pipeline.sampling import SamplerSettings
from realcam.pipeline.tiny import TINY_PIXEL_HW, tiny_tokenizer
from realcam.train.validation import make_sample_hook, sample_clip


def test_sample_hook_writes_gt_over_sample_and_is_seeded(tmp_path):
    torch.set_num_threads(1)
    model = make_model()
    clips = SyntheticClips(n=1)
    settings = SamplerSettings(steps=2)
    hook = make_sample_hook(clips, collate, tiny_tokenizer(), clips=1, settings=settings, seed=5)
    hook(model, 10, tmp_path / "step-10")
    frames = read_video(tmp_path / "step-10" / "clip000.mp4")
    h, w = TINY_PIXEL_HW["256"]
    assert frames.shape == (clips.frames, 2 * h, w, 3)
    batch = collate([clips[0]])
    a = sample_clip(model, batch, tiny_tokenizer(), torch.Generator().manual_seed(5), settings)
    b = sample_clip(model, batch, tiny_tokenizer(), torch.Generator().manual_seed(5), settings)
    assert a.shape == batch["video"].shape and torch.equal(a, b)
    assert a.min() >= -1 and a.max() <= 1
