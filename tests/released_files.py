"""Tiny weights written in the released file formats, for tests of the real loading paths.

`write_released_files` splits a tiny `RealCamI2V` state dict the way the public files are split: the DynamiCrafter
base as a Lightning-style pickle (`{"state_dict": ...}`, no camera plugin, no depth model, no schedule buffers), the
camera plugin as a safetensors add-on, the Depth-Anything-V2 `.pth` (keys without the `depth_predictor.` prefix),
and the OpenCLIP tokenizer files (`vocab.json` with the special tokens at 512/513, an empty `merges.txt`).
`use_tiny_presets` makes `RealCamI2VConfig.preset` return the tiny configs, so `from_pretrained` builds tiny models.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from realcam.checkpoints.keys import is_camera_key
from realcam.checkpoints.load import save_safetensors
from realcam.pipeline.tiny import tiny_config, tiny_model

RELEASED_NAMES = {
    "base": "model.ckpt",
    "addon": "{variant}_realcam-i2v_50k.safetensors",
    "depth": "depth_anything_v2_metric_hypersim_vitl.pth",
}


def split_released(variant: str = "256", seed: int = 3) -> tuple[dict, dict, dict, dict]:
    """(whole state dict, base part, add-on part, depth part) of a seeded tiny model, split like the public files."""
    source = tiny_model(variant, seed=seed).state_dict()
    schedule = set(tiny_config(variant).schedule().reference_buffers())
    depth = {k.removeprefix("depth_predictor."): v for k, v in source.items() if k.startswith("depth_predictor.")}
    addon = {k: v for k, v in source.items() if is_camera_key(k)}
    base = {
        k: v
        for k, v in source.items()
        if not is_camera_key(k) and not k.startswith("depth_predictor") and k not in schedule
    }
    return source, base, addon, depth


def write_tokenizer_files(folder: Path) -> tuple[Path, Path]:
    """`vocab.json` and `merges.txt` in the Hugging Face layout of the OpenCLIP tokenizer, over the tiny vocabulary."""
    from realcam.models.encoders.tokenizer import base_vocabulary

    folder.mkdir(parents=True, exist_ok=True)
    encoder = {token: i for i, token in enumerate(base_vocabulary())} | {"<|startoftext|>": 512, "<|endoftext|>": 513}
    (folder / "vocab.json").write_text(json.dumps(encoder), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return folder / "vocab.json", folder / "merges.txt"


def write_released_files(folder: Path, variant: str = "256", seed: int = 3, names: dict | None = None):
    """Write the four kinds of file into `folder`; returns (source state dict, {hub key: path})."""
    names = {**RELEASED_NAMES, **(names or {})}
    source, base, addon, depth = split_released(variant, seed)
    paths = {
        f"base-{variant}": folder / names["base"],
        f"realcam-{variant}": folder / names["addon"].format(variant=variant),
        "depth-indoor": folder / names["depth"],
    }
    torch.save({"state_dict": base}, paths[f"base-{variant}"])
    save_safetensors(addon, paths[f"realcam-{variant}"])
    torch.save(depth, paths["depth-indoor"])
    paths["clip-vocab"], paths["clip-merges"] = write_tokenizer_files(folder)
    return source, paths


def use_tiny_presets(monkeypatch) -> None:
    """`RealCamI2VConfig.preset(variant, depth)` returns the tiny config of that variant (with or without depth)."""
    from realcam.models.realcam_i2v import RealCamI2VConfig

    configs = {(v, d): tiny_config(v, depth=d) for v in ("256", "512") for d in (True, False)}
    monkeypatch.setattr(
        RealCamI2VConfig, "preset", classmethod(lambda cls, v, depth="indoor": configs[(v, depth is not None)])
    )
