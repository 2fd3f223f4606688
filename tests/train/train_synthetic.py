"""Shared pieces of the training tests: a tiny synthetic dataset in the `realcam.data` item format, the tiny model
and a small config. Imported by the tests and by the 2-process script (`ddp_train_script.py`)."""

from __future__ import annotations

import functools
import json
import math

import torch
from torch.utils.data import Dataset

from realcam.models.realcam_i2v import RealCamI2V
from realcam.pipeline.tiny import TINY_PIXEL_HW, tiny_config, tiny_model
from realcam.train.config import LoopConfig, TrainConfig

FRAMES = 4  # fewer than the released 16 to keep CPU tests fast; every module handles f <= 16


class SyntheticClips(Dataset):
    """`n` seeded clips with the keys of `realcam.data.dataset.ITEM_KEYS`: video (3 f H W) in [-1, 1], caption,
    rel_c2w (f 4 4) metric and relative to the condition frame, K (f 3 3) pixels, cond_index, fs (stride 3 at 30 fps),
    clip_id, ... A camera dollying forward 0.1 m/frame with a small yaw, so the epipolar masks are non-trivial."""

    def __init__(self, n: int = 4, variant: str = "256", frames: int = FRAMES, seed: int = 0) -> None:
        self.n, self.frames, self.seed = n, frames, seed
        self.pixel_hw = TINY_PIXEL_HW[variant]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict:
        g = torch.Generator().manual_seed(self.seed * 1000 + index)
        h, w = self.pixel_hw
        f = self.frames
        video = torch.rand(3, f, h, w, generator=g) * 2 - 1
        c2w = torch.eye(4).repeat(f, 1, 1)
        for k in range(f):
            cos, sin = math.cos(0.05 * k), math.sin(0.05 * k)
            c2w[k, 0, 0], c2w[k, 0, 2], c2w[k, 2, 0], c2w[k, 2, 2] = cos, sin, -sin, cos
            c2w[k, 2, 3] = 0.1 * k
        cond_index = int(torch.randint(0, f, (1,), generator=g))
        rel_c2w = torch.linalg.inv(c2w[cond_index]) @ c2w
        K = torch.tensor([[0.8 * w, 0, w / 2], [0, 0.8 * w, h / 2], [0, 0, 1.0]]).repeat(f, 1, 1)
        return {
            "video": video,
            "caption": f"a synthetic room {index}",
            "rel_c2w": rel_c2w,
            "K": K,
            "cond_index": cond_index,
            "fs": 3,
            "frame_stride": 3,
            "fps": 10,
            "frame_indices": 3 * torch.arange(f),
            "clip_id": f"clip{index:03d}",
            "video_path": f"synthetic/clip{index:03d}.mp4",
            "metric_scale": torch.ones(f),
            "cond_scale": 1.0,
        }


@functools.cache
def _tiny_state(variant: str, seed: int) -> dict[str, torch.Tensor]:
    return tiny_model(variant, seed=seed, depth=False).state_dict()


def make_model(variant: str = "256", seed: int = 0) -> RealCamI2V:
    """A fresh tiny model (no depth network) with the seeded random weights of `tiny_model`, eval mode."""
    model = RealCamI2V(tiny_config(variant, depth=False))
    model.load_state_dict(_tiny_state(variant, seed))
    return model.eval()


def small_config(output_dir, **loop) -> TrainConfig:
    base = dict(
        max_steps=2,
        batch_size=1,
        grad_accum=1,
        mixed_precision="no",
        seed=123,
        num_workers=0,
        log_every=1,
        validate_every=0,
        validation_batches=1,
        checkpoint_every=2,
    )
    base.update(loop)
    return TrainConfig(model="tiny-256", output_dir=str(output_dir), loop=LoopConfig(**base))


def make_manifest(root, clips: int = 2, num_frames: int = 12, height: int = 48, width: int = 80):
    """A tiny RealEstate10K-layout folder (metadata + H.264 clips) and its metric manifest, through realcam.data.
    Returns the manifest path."""
    import numpy as np

    from realcam.data.manifest import build_records, with_scales, write_manifest
    from realcam.data.realestate10k import ClipMetadata, PoseRows, write_metadata_file
    from realcam.io.video import write_video

    rng = np.random.default_rng(0)
    scales = {}
    for k in range(clips):
        clip_id, youtube_id = f"clip{k}", f"yt{k}"
        c2w = np.tile(np.eye(4), (num_frames, 1, 1))
        c2w[:, 2, 3] = 0.1 * np.arange(num_frames)
        intr = np.tile([0.9, 0.9 * width / height, 0.5, 0.5], (num_frames, 1))
        rows = PoseRows(np.arange(num_frames, dtype=np.int64) * 33_366, intr, c2w)
        meta = ClipMetadata(clip_id, f"https://example.invalid/{youtube_id}", f"{youtube_id}/{clip_id}", "", rows)
        write_metadata_file(root / "valid_metadata" / f"{clip_id}.txt", meta)
        frames = rng.integers(0, 256, size=(num_frames, height, width, 3), dtype=np.uint8)
        write_video(root / "video_clips" / youtube_id / f"{clip_id}.mp4", frames, fps=30)
        scales[clip_id] = np.full(num_frames, 1.5)
    records, dropped = build_records(
        root / "valid_metadata",
        root / "video_clips",
        captions={f"clip{k}": f"a room {k}" for k in range(clips)},
        min_frames=num_frames,
    )
    assert not dropped, dropped
    return write_manifest(root / "train.jsonl", with_scales(records, scales), split="train")


def released_weight_files(directory, addon_path, donor_seed: int = 99) -> tuple[dict, dict]:
    """The pipeline's weight files around a trained add-on: a DynamiCrafter-layout base `.ckpt` ({"state_dict": ...})
    and a Depth-Anything `.pth`, both cut from a tiny donor model, plus tiny CLIP tokenizer files
    (Hugging Face layout). Returns (files keyed like `RealCamPipeline.from_pretrained(paths=...)`, the donor's full
    state dict)."""
    from realcam.checkpoints.keys import DC_BASE, source_of
    from realcam.pipeline.tiny import tiny_tokenizer

    donor = tiny_model("256", seed=donor_seed).state_dict()
    schedule = set(tiny_config("256").schedule().reference_buffers())
    base = {k: v for k, v in donor.items() if source_of(k) == DC_BASE and k not in schedule}
    depth = {k.removeprefix("depth_predictor."): v for k, v in donor.items() if k.startswith("depth_predictor.")}
    torch.save({"state_dict": base}, directory / "model.ckpt")
    torch.save(depth, directory / "depth.pth")
    encoder = dict(tiny_tokenizer().encoder)
    encoder["<|startoftext|>"] = encoder.pop("<start_of_text>")
    encoder["<|endoftext|>"] = encoder.pop("<end_of_text>")
    (directory / "vocab.json").write_text(json.dumps(encoder))
    (directory / "merges.txt").write_text("#version: 0.2\n")
    files = {
        "base-256": directory / "model.ckpt",
        "realcam-256": addon_path,
        "depth-indoor": directory / "depth.pth",
        "clip-vocab": directory / "vocab.json",
        "clip-merges": directory / "merges.txt",
    }
    return files, donor

