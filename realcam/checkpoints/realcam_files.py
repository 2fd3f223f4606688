"""Loading the released files into a `RealCamI2V`: DynamiCrafter base + RealCam-I2V file + Depth-Anything-V2 metric.

The RealCam-I2V file is one of two kinds (`realcam_file_kind`):
- "addon": the camera plugin only (the released `{256,512}_realcam-i2v_50k.safetensors`, and what `realcam train`
  writes). It needs the DynamiCrafter base of the same resolution.
- "full": the whole model state dict (it has `model.diffusion_model.input_blocks.0.0.weight`). No base is needed.
  If a base is passed as well it is not read, and an INFO log line says so: in the reference merge order the RealCam
  file overrides every base key anyway, and filling keys the full file lacks from a base would hide an incomplete
  full file, which the strict check reports instead.

Resolution of an add-on: the 256 and 512 camera plugins have identical key sets and shapes, so the weights alone
cannot tell them apart. `addon_resolution` uses the two signals that exist: the safetensors metadata `model` entry
("256"/"512", written by `realcam train`) and the released file-name prefix `256_`/`512_`. If either disagrees with
the model being built, loading raises with the file to use instead. A renamed file without metadata cannot be
checked (documented limit; it loads and produces poor videos). Full files and bases need no such check: the 256
model has the learnable image-attention `attn2.alpha` scales and the 512 model has `scale_arr`, so a strict load of
the wrong one fails, and `diagnose` names the right file.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from realcam.checkpoints.assemble import merge_realcam_state_dicts, realcam_file_kind
from realcam.checkpoints.hub import WEIGHT_FILES
from realcam.checkpoints.load import compare_keys, diagnose, format_report, read_dynamicrafter_base, read_state_dict
from realcam.errors import CheckpointMismatchError, WeightsMissingError
from realcam.models.realcam_i2v import RealCamI2V, RealCamI2VConfig

log = logging.getLogger(__name__)

RESOLUTIONS = ("256", "512")
# The released add-ons are named `256_realcam-i2v_50k.safetensors` / `512_realcam-i2v_50k.safetensors`.
_RELEASED_NAME_PREFIX = re.compile(r"^(256|512)_")


def safetensors_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The `__metadata__` strings of a `.safetensors` header ({} for other formats or none)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        return {}
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})


def addon_resolution(path: str | os.PathLike) -> tuple[str | None, str]:
    """Which model ('256' / '512') a camera-plugin file was trained for, and the evidence; (None, reason) if unknown.

    Metadata `model` (written by `realcam train`) wins over the file name; the name counts only with the released
    prefix `256_` / `512_`. The tensors carry no signal: both resolutions have the same keys and shapes.
    """
    name = Path(path).name
    model = safetensors_metadata(path).get("model")
    if model in RESOLUTIONS:
        return model, f"its safetensors metadata says model={model}"
    match = _RELEASED_NAME_PREFIX.match(name)
    if match:
        return match.group(1), f"its file name {name!r} starts with {match.group(1)}_"
    return None, f"neither its metadata nor its file name {name!r} names a resolution"


def check_addon_resolution(path: str | os.PathLike, model: str) -> None:
    """Raise CheckpointMismatchError if the add-on at `path` is known to be for the other resolution than `model`.

    Unknown resolution (renamed file, no metadata) passes silently apart from a DEBUG line: see the module docstring.
    """
    found, evidence = addon_resolution(path)
    if found is None:
        log.debug("cannot tell the resolution of the camera plugin %s: %s", path, evidence)
        return
    if found != model:
        raise CheckpointMismatchError(
            f"{path} is the RealCam-I2V camera plugin of the {found} model ({evidence}), but the {model} model is "
            f"being built: the two have identical shapes, so it would load and give poor videos. Pass "
            f"{model}_realcam-i2v_50k.safetensors (`realcam weights download --model {model}`), or build the "
            f"{found} model (--model {found}); if the file is really for {model}, fix its name or metadata."
        )


def read_realcam_state_dict(files: Mapping[str, str | os.PathLike], *, model: str, depth: str) -> dict[str, Tensor]:
    """Read and merge (spec §2.2) the files keyed like `hub.files_for`: `realcam-{model}` (required), `base-{model}`
    (required for an add-on, not read for a full file), `depth-{depth}` (optional; strict loading reports it missing
    if the model has a depth network that no file supplies)."""
    realcam_path = files.get(f"realcam-{model}")
    if realcam_path is None:
        raise WeightsMissingError(f"no RealCam-I2V file given: expected the key 'realcam-{model}', got {sorted(files)}")
    realcam = read_state_dict(realcam_path)
    kind = realcam_file_kind(realcam)
    base_path = files.get(f"base-{model}")
    base = None
    if kind == "full":
        if base_path is not None:
            log.info("%s holds the whole model: the base %s is not needed and is not read", realcam_path, base_path)
    else:
        if kind == "addon":
            check_addon_resolution(realcam_path, model)
        if base_path is None:
            base_file = WEIGHT_FILES.get(f"base-{model}")
            where = f" ({base_file.repo_id}/{base_file.filename})" if base_file else ""
            raise WeightsMissingError(
                f"{realcam_path} holds only the camera plugin (an add-on), so the DynamiCrafter base is needed too: "
                f"pass 'base-{model}'{where}, fetched by `realcam weights download --model {model}`, or pass a full "
                "RealCam-I2V file instead"
            )
        base = read_dynamicrafter_base(base_path)
    depth_path = files.get(f"depth-{depth}")
    return merge_realcam_state_dicts(base, realcam, read_state_dict(depth_path) if depth_path is not None else None)


def load_realcam_weights(
    config: RealCamI2VConfig, files: Mapping[str, str | os.PathLike], *, model: str, depth: str
) -> RealCamI2V:
    """Read the files (module docstring; keys like `hub.files_for`), merge them (spec §2.2) and load strictly into a
    model built on `meta`. Returns the float32 model on the CPU.

    Schedule buffers are recomputed from the config (the reference re-registers them for the 512 model), so they
    may be absent from the files. On a mismatch, the hints of `diagnose` are computed from the keys as read,
    schedule buffers included: `scale_arr` is what tells a 512 base from a 256 one.
    """
    state = read_realcam_state_dict(files, model=model, depth=depth)
    with torch.device("meta"):
        network = RealCamI2V(config)
    expected = {k: tuple(v.shape) for k, v in network.state_dict().items()}
    schedule_keys = set(config.schedule().reference_buffers())
    loadable = {k: v for k, v in state.items() if k not in schedule_keys}
    report = compare_keys({k: s for k, s in expected.items() if k not in schedule_keys}, loadable)
    if not report.ok:
        hints = diagnose(compare_keys(expected, state))
        raise CheckpointMismatchError(format_report(report, what=f"RealCam-I2V {model}", hints=hints))
    network.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in loadable.items()}, strict=False, assign=True
    )
    network.reset_schedule_buffers()
    restore_constant_buffers(network)
    return network


def restore_constant_buffers(network: RealCamI2V) -> None:
    """Non-persistent buffers are not in any file; after a `meta` build, set them from their constants."""
    from realcam.models.encoders.clip_image import CLIP_MEAN, CLIP_STD

    network.embedder.mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    network.embedder.std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    left = [name for name, tensor in [*network.named_parameters(), *network.named_buffers()] if tensor.is_meta]
    if left:
        raise RuntimeError(f"tensors left unloaded after assembling the model: {left[:8]}")
