"""Access to the parity fixtures recorded from the reference implementation (see tests/fixtures/parity/PROVENANCE.md).

Usage: `fixture("256", "a_plucker")` returns the resolved dict of item a for the 256 variant;
`variant_state_dict("512")` returns the micro model's full state dict (float32) for that variant;
`variant_config("256")` returns the parsed `{v}_config.json`; `micro_model_config("256")` the micro model's
RealCamI2VConfig.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from realcam.models.realcam_i2v import RealCamI2VConfig

PARITY_DIR = Path(__file__).parent / "fixtures" / "parity"
VARIANTS = ("256", "512")


@functools.cache
def _raw(name: str):
    return torch.load(PARITY_DIR / name, weights_only=True)


def _resolve(x):
    if isinstance(x, dict):
        if "__ref__" in x:
            y = _raw(x["__ref__"])
            for key in x["path"]:
                y = y[key]
            return _resolve(y)
        return {k: _resolve(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_resolve(v) for v in x]
    return x


def fixture(variant: str, item: str) -> dict:
    """Item file `{variant}_{item}.pt` with every `__ref__` resolved. `item` e.g. 'a_plucker', 'j_ddim_run'."""
    return _resolve(_raw(f"{variant}_{item}.pt"))


@functools.cache
def variant_config(variant: str) -> dict:
    return json.loads((PARITY_DIR / f"{variant}_config.json").read_text())


def variant_state_dict(variant: str) -> dict[str, torch.Tensor]:
    """Reference state dict of the micro model of `variant`, float32 (params without the variant's excluded keys,
    plus its buffers)."""
    from safetensors.torch import load_file

    params = load_file(PARITY_DIR / "params.safetensors")
    skip = set(variant_config(variant)["weights"]["params_file_keys_not_in_this_variant"])
    state = {k: v.float() for k, v in params.items() if k not in skip}
    state.update(load_file(PARITY_DIR / f"{variant}_buffers.safetensors"))
    return state


def micro_model_config(variant: str) -> RealCamI2VConfig:
    """The `RealCamI2VConfig` of the recorded micro model of `variant` (named `micro-{variant}`), built from its
    reference config the way a reference YAML is read."""
    from realcam.models.realcam_i2v import RealCamI2VConfig

    cfg = variant_config(variant)
    return RealCamI2VConfig.from_reference(
        cfg["model"]["params"],
        pixel_hw=tuple(cfg["pixel_hw"]),
        clip=cfg["clip_model_config"],
        depth_encoder=cfg["depth_vitl_encoder"],
        name=f"micro-{variant}",
    )


def unpack_mask(packed: dict) -> torch.Tensor:
    """Unpack a `{"packed": uint8, "shape": [...], "count_true": int}` boolean mask (big-endian bit order)."""
    import numpy as np

    shape = [int(s) for s in packed["shape"]]
    bits = np.unpackbits(packed["packed"].numpy(), count=int(np.prod(shape))).reshape(shape).astype(bool)
    return torch.from_numpy(bits)
