"""Reading checkpoint files and loading them strictly, with one grouped, actionable report on any mismatch.

Formats (the released ones):
- DynamiCrafter `model.ckpt`: a Lightning pickle whose `state_dict` entry holds every base key; the 256 base names
  the frame-stride embedding `framestride_embed` (realcam: `fps_embedding`). Unpickled with `weights_only=True`; a
  training checkpoint whose non-tensor extras that loader refuses is read by `load_pickle_tensors_only`, which keeps
  tensors and plain containers and leaves every other object an inert placeholder (no named class is imported).
- RealCam-I2V `*.safetensors`: the camera plugin ("add-on"), or a full state dict.
- Depth-Anything-V2 metric `.pth`: a plain state dict with keys `pretrained.*` and `depth_head.*`.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from realcam.checkpoints.keys import component_of
from realcam.errors import CheckpointMismatchError, InputError

logger = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
# Reference behaviour: the 256 DynamiCrafter base calls the fs embedding `framestride_embed`.
_RENAMED_MODULES = {"framestride_embed": "fps_embedding"}


def read_state_dict(path: str | os.PathLike) -> dict[str, Tensor]:
    """Read a state dict from `.safetensors` or a pickle (`.ckpt/.pt/.pth/.bin`, `weights_only=True`).

    A pickle holding a dict with a `state_dict` (Lightning) or `module` (DeepSpeed) entry is unwrapped. Tensors stay on
    the CPU; pickles are memory-mapped where the format allows, so a 10 GB base costs little RAM until used.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as error:  # safetensors raises its own error types for corrupt headers
            raise InputError(f"{path}: not a readable safetensors file ({error})") from error
    if path.suffix not in PICKLE_SUFFIXES:
        raise InputError(
            f"{path}: unknown checkpoint format {path.suffix!r}; expected .safetensors or one of {PICKLE_SUFFIXES}"
        )
    return _unwrap(_load_pickle(path), path)


def _load_pickle(path: Path):
    try:
        try:
            return _torch_load(path, weights_only=True, mmap=True)
        except RuntimeError as error:  # legacy (non-zip) pickles cannot be memory-mapped
            if "mmap" not in str(error) and "zip" not in str(error):
                raise
            return _torch_load(path, weights_only=True, mmap=False)
    except pickle.UnpicklingError as error:
        # Training checkpoints may carry non-tensor extras (Lightning's hyper-parameter dict, callback states, an
        # OmegaConf config) that torch's weights-only unpickler refuses. Read the tensors and containers anyway, with
        # every other object replaced by an inert placeholder: no class named in the file is ever imported or run.
        try:
            obj, skipped = load_pickle_tensors_only(path)
        except Exception as fallback_error:
            raise _unreadable(path, error) from fallback_error
        logger.warning(
            "%s: holds non-tensor objects that weights-only loading refuses; read its tensors and left these as inert "
            "placeholders (never imported): %s",
            path,
            ", ".join(sorted(skipped)),
        )
        return obj
    except (RuntimeError, EOFError) as error:
        raise _unreadable(path, error) from error


def _torch_load(path: Path, *, weights_only: bool, mmap: bool):
    return torch.load(path, map_location="cpu", weights_only=weights_only, mmap=mmap)


def _unreadable(path: Path, error: BaseException) -> InputError:
    return InputError(
        f"{path}: cannot be read as a weights-only PyTorch checkpoint ({type(error).__name__}: {error}). realcam "
        "never unpickles arbitrary objects; re-save the state dict with torch.save(model.state_dict(), ...)."
    )


class OpaqueObject:
    """Stand-in for an object of a class that a checkpoint names but realcam does not trust (e.g. a Lightning
    `AttributeDict` of hyper-parameters): it records what the pickle tried to build and never runs any of it."""

    qualname = "?"

    def __new__(cls, *args, **kwargs):  # pickle's NEWOBJ builds with __new__ alone, without __init__
        instance = super().__new__(cls)
        instance.args, instance.kwargs, instance.items, instance.state = args, kwargs, {}, None
        return instance

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setitem__(self, key, value) -> None:
        self.items[key] = value

    def append(self, value) -> None:
        self.items[len(self.items)] = value

    def extend(self, values) -> None:
        for value in values:
            self.append(value)

    def __setstate__(self, state) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<opaque {self.qualname}>"


def _safe_globals() -> dict[str, object]:
    """The only globals a tensors-only load may resolve: tensor/parameter rebuilders, dtypes, plain containers."""
    import _codecs
    import collections

    from torch import _utils

    allowed: dict[str, object] = {
        "collections.OrderedDict": collections.OrderedDict,
        "collections.Counter": collections.Counter,
        "torch.Size": torch.Size,
        "torch.Tensor": torch.Tensor,
        "torch.device": torch.device,
        "torch.nn.parameter.Parameter": torch.nn.Parameter,
        "_codecs.encode": _codecs.encode,
        "builtins.set": set,
        "builtins.frozenset": frozenset,
        "builtins.bytearray": bytearray,
        "builtins.complex": complex,
        "torch.serialization._get_layout": torch.serialization._get_layout,
    }
    for name in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter", "_rebuild_parameter_with_state"):
        allowed[f"torch._utils.{name}"] = getattr(_utils, name)
    for name in dir(torch):
        if isinstance(getattr(torch, name, None), torch.dtype):
            allowed[f"torch.{name}"] = getattr(torch, name)
    return allowed


def load_pickle_tensors_only(path: str | os.PathLike) -> tuple[object, set[str]]:
    """Unpickle a PyTorch checkpoint keeping tensors, dtypes and plain containers; every other global becomes an
    `OpaqueObject` subclass named after it (never imported). Returns (object, names of the globals replaced)."""
    import types

    allowed = _safe_globals()
    skipped: set[str] = set()

    class _Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str):
            qualname = f"{module}.{name}"
            if qualname in allowed:
                return allowed[qualname]
            skipped.add(qualname)
            return type("Opaque", (OpaqueObject,), {"qualname": qualname})

    restricted = types.ModuleType("realcam_tensors_only_pickle")
    restricted.Unpickler = _Unpickler
    restricted.Pickler = pickle.Pickler
    restricted.load = lambda file, **kwargs: _Unpickler(file, **kwargs).load()
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False, pickle_module=restricted, mmap=True)
    except RuntimeError as error:
        if "mmap" not in str(error) and "zip" not in str(error):
            raise
        obj = torch.load(path, map_location="cpu", weights_only=False, pickle_module=restricted)
    return obj, skipped


def _unwrap(obj, path: Path) -> dict[str, Tensor]:
    for wrapper in ("state_dict", "module"):
        if isinstance(obj, Mapping) and wrapper in obj and isinstance(obj[wrapper], Mapping):
            obj = obj[wrapper]
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise InputError(f"{path}: expected a state dict of tensors (optionally under 'state_dict'), got {type(obj)}")
    return dict(obj)


def rename_reference_modules(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Apply the reference's module renames (`framestride_embed` -> `fps_embedding`) per dotted path segment."""
    renamed = {}
    for key, value in state_dict.items():
        parts = [_RENAMED_MODULES.get(part, part) for part in key.split(".")]
        renamed[".".join(parts)] = value
    return renamed


def read_dynamicrafter_base(path: str | os.PathLike) -> dict[str, Tensor]:
    """DynamiCrafter `model.ckpt` -> state dict with realcam/reference key names."""
    return rename_reference_modules(read_state_dict(path))


@dataclass
class KeyReport:
    """Differences between an expected key/shape set and a given state dict."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)  # key, expected, got

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)


def compare_keys(expected: Mapping[str, tuple[int, ...]], given: Mapping[str, Tensor]) -> KeyReport:
    """Compare expected `{key: shape}` with a state dict: missing, unexpected and mis-shaped keys (sorted)."""
    report = KeyReport()
    report.missing = sorted(set(expected) - set(given))
    report.unexpected = sorted(set(given) - set(expected))
    for key in sorted(set(expected) & set(given)):
        got = tuple(given[key].shape)
        if tuple(expected[key]) != got:
            report.mismatched.append((key, tuple(expected[key]), got))
    return report


def diagnose(report: KeyReport) -> list[str]:
    """Hints that name the likely cause of a mismatch in words a user can act on."""
    hints = []
    missing_alpha = [k for k in report.missing if k.endswith("attn2.alpha")]
    unexpected_alpha = [k for k in report.unexpected if k.endswith("attn2.alpha")]
    if unexpected_alpha and "scale_arr" in report.missing:
        hints.append(
            "this looks like the 256 DynamiCrafter base (it has the learnable image-attention 'alpha' scales and no "
            "'scale_arr'); the 512 model needs Doubiiu/DynamiCrafter_512 (`realcam weights download --model 512`)"
        )
    if missing_alpha and "scale_arr" in report.unexpected:
        hints.append(
            "this looks like the 512 DynamiCrafter base; the 256 model needs Doubiiu/DynamiCrafter "
            "(`realcam weights download --model 256`)"
        )
    if report.mismatched and any(k.startswith("pose_encoder.") or ".epipolar." in k for k, _, _ in report.mismatched):
        hints.append("camera-plugin shapes differ: is the RealCam-I2V file for the other resolution (256 vs 512)?")
    groups = {component_of(k) for k in report.missing}
    if groups == {"camera_plugin"}:
        hints.append(
            "only the camera plugin is missing: pass the RealCam-I2V add-on .safetensors "
            "(`realcam weights download` fetches it)"
        )
    if groups == {"depth"}:
        hints.append("only the depth model is missing: pass the Depth-Anything-V2 metric .pth")
    return hints


def format_report(report: KeyReport, *, what: str, hints: Iterable[str] = (), limit: int = 8) -> str:
    """One readable message: counts per component for missing / unexpected / mis-shaped keys, a few examples each."""
    lines = [f"{what}: the weights do not match the model (strict load)"]
    for title, keys in (("missing", report.missing), ("unexpected", report.unexpected)):
        if not keys:
            continue
        groups: dict[str, list[str]] = {}
        for key in keys:
            groups.setdefault(component_of(key), []).append(key)
        lines.append(f"  {len(keys)} {title} key(s):")
        for component, members in sorted(groups.items()):
            examples = ", ".join(members[:limit]) + (", ..." if len(members) > limit else "")
            lines.append(f"    {component} ({len(members)}): {examples}")
    if report.mismatched:
        lines.append(f"  {len(report.mismatched)} key(s) with the wrong shape:")
        for key, expected, got in report.mismatched[:limit]:
            lines.append(f"    {key}: model {expected}, file {got}")
        if len(report.mismatched) > limit:
            lines.append("    ...")
    for hint in hints:
        lines.append(f"  hint: {hint}")
    return "\n".join(lines)


def expected_shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    """`{key: shape}` of a module's state dict (works on the `meta` device: nothing is allocated)."""
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


def load_state_dict_strict(module: nn.Module, state_dict: Mapping[str, Tensor], *, what: str = "model") -> None:
    """Load strictly; on any difference raise CheckpointMismatchError with the grouped report and hints.

    Values are converted to each parameter's dtype on copy (e.g. float16 files into float32 modules)."""
    report = compare_keys(expected_shapes(module), state_dict)
    if not report.ok:
        raise CheckpointMismatchError(format_report(report, what=what, hints=diagnose(report)))
    module.load_state_dict(dict(state_dict), strict=True)


def save_safetensors(state_dict: Mapping[str, Tensor], path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Write tensors as `.safetensors`, atomically (contiguous CPU copies; shared storage is duplicated)."""
    from safetensors.torch import save_file

    from realcam.io.atomic import atomic_path

    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={k: str(v) for k, v in (metadata or {}).items()})
