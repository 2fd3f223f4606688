"""Camera-plugin checkpoints: the released add-on format plus what a resumed run needs.

Add-on format (what `MuteApo/CamI2V` releases, e.g. `256_realcam-i2v_50k.safetensors`): one `.safetensors` with exactly
the camera-plugin keys under the reference names (`pose_encoder.*` including its positional-encoding buffers,
`*.pluker_projection.*`, `*.epipolar.*`). realcam's loader (`realcam.checkpoints.assemble`) and the reference's
`load_checkpoints` (base ∪ add-on, strict) both read it.

A resume checkpoint is a directory `step-<n>/`:
    camera_plugin.safetensors   the add-on (weights)
    training_state.pt           step, optimiser state, grad-scaler state, the trainable parameter names (strict check)
    rng-rank<k>.pt              the training generator state of process k
    train_config.json           the resolved TrainConfig (sidecar)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from realcam.checkpoints.keys import REALCAM, source_of
from realcam.checkpoints.load import (
    compare_keys,
    diagnose,
    expected_shapes,
    format_report,
    read_state_dict,
    save_safetensors,
)
from realcam.errors import CheckpointMismatchError

ADDON_FILE = "camera_plugin.safetensors"
STATE_FILE = "training_state.pt"
CONFIG_FILE = "train_config.json"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def camera_plugin_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The add-on subset of `model.state_dict()`: camera-plugin parameters and buffers, detached, model order."""
    return {key: value.detach() for key, value in model.state_dict().items() if source_of(key) == REALCAM}


def save_camera_plugin(model: nn.Module, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None) -> Path:
    """Write the add-on `.safetensors` atomically (float32 as trained; metadata strings such as step and model)."""
    path = Path(path)
    meta = {"format": "realcam-camera-plugin", **(metadata or {})}
    save_safetensors(camera_plugin_state_dict(model), path, metadata=meta)
    return path


def load_camera_plugin(model: nn.Module, source: str | os.PathLike | Mapping[str, Tensor]) -> None:
    """Load an add-on into `model` strictly on the camera-plugin subset: the file must hold exactly the model's
    camera-plugin keys with the model's shapes (anything else raises CheckpointMismatchError with the report).
    The rest of the model is untouched."""
    state = read_state_dict(source) if isinstance(source, (str, os.PathLike)) else dict(source)
    expected = {k: s for k, s in expected_shapes(model).items() if source_of(k) == REALCAM}
    report = compare_keys(expected, state)
    if not report.ok:
        what = f"camera plugin {source}" if isinstance(source, (str, os.PathLike)) else "camera plugin"
        raise CheckpointMismatchError(format_report(report, what=what, hints=diagnose(report)))
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and not (set(expected) & set(missing)), (unexpected, missing)


def step_dir(output_dir: str | os.PathLike, step: int) -> Path:
    return Path(output_dir) / "checkpoints" / f"step-{step:07d}"


def list_checkpoints(output_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete resume checkpoints under `output_dir/checkpoints`, ascending by step."""
    root = Path(output_dir) / "checkpoints"
    found = []
    for child in root.iterdir() if root.is_dir() else ():
        match = _STEP_DIR.match(child.name)
        if match and (child / ADDON_FILE).is_file() and (child / STATE_FILE).is_file():
            found.append((int(match.group(1)), child))
    return sorted(found)


def latest_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    found = list_checkpoints(output_dir)
    return found[-1][1] if found else None


def save_training_state(
    directory: Path,
    *,
    step: int,
    optimizer_state: Mapping[str, Any],
    parameter_names: list[str],
    scaler_state: Mapping[str, Any] | None,
) -> None:
    """Write `training_state.pt` atomically (tensors and plain containers only, so it reloads weights-only)."""
    from realcam.io.atomic import atomic_path

    state = {
        "step": int(step),
        "optimizer": dict(optimizer_state),
        "parameter_names": list(parameter_names),
        "scaler": dict(scaler_state) if scaler_state else None,
    }
    with atomic_path(directory / STATE_FILE) as tmp:
        torch.save(state, tmp)


def read_training_state(directory: str | os.PathLike, parameter_names: list[str]) -> dict[str, Any]:
    """Read `training_state.pt` (weights-only) and check it was written for the same trainable parameters."""
    path = Path(directory) / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {STATE_FILE} in {directory}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if list(state["parameter_names"]) != list(parameter_names):
        saved, now = set(state["parameter_names"]), set(parameter_names)
        raise CheckpointMismatchError(
            f"{path}: optimiser state was saved for other trainable parameters ({len(saved)} saved, {len(now)} now; "
            f"{len(saved - now)} only saved, {len(now - saved)} only now, or a different order)"
        )
    return state


def save_rng(directory: Path, rank: int, generator: torch.Generator) -> None:
    """Process `rank`'s training generator and torch's global CPU (and CUDA) RNG, which the frozen UNet's dropout
    draws from."""
    from realcam.io.atomic import atomic_path

    state = {"generator": generator.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    with atomic_path(directory / f"rng-rank{rank}.pt") as tmp:
        torch.save(state, tmp)


def load_rng(directory: str | os.PathLike, rank: int, generator: torch.Generator) -> bool:
    """Restore process `rank`'s generator if its file exists (a resume with more processes starts the new ranks from
    their seeds). Returns whether it was restored."""
    path = Path(directory) / f"rng-rank{rank}.pt"
    if not path.is_file():
        return False
    state = torch.load(path, map_location="cpu", weights_only=True)
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
    return True
