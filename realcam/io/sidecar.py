"""Sidecar JSON written next to every output: settings, seed, inputs, versions and timings, so a run can be redone."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from realcam.io.atomic import write_text_atomic


def environment_versions() -> dict[str, str]:
    """Versions of realcam, Python and the main libraries (those importable now)."""
    import importlib.metadata as md

    import realcam

    versions = {"realcam": realcam.__version__, "python": sys.version.split()[0], "platform": platform.platform()}
    for name in ("torch", "numpy", "av", "safetensors", "pycolmap", "viser", "accelerate"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return versions


def sidecar_path(output: str | os.PathLike) -> Path:
    """`out.mp4` -> `out.json` (the sidecar sits beside the output with the same stem)."""
    return Path(output).with_suffix(".json")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy arrays and torch tensors
        return value.tolist()
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses

        return _jsonable(dataclasses.asdict(value))
    return value


def write_sidecar(output: str | os.PathLike, record: dict[str, Any], path: str | os.PathLike | None = None) -> Path:
    """Write `record` plus versions and a timestamp as JSON beside `output`, atomically. Returns the sidecar path."""
    full = {
        "output": str(Path(output).name),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": environment_versions(),
        **_jsonable(record),
    }
    target = Path(path) if path is not None else sidecar_path(output)
    write_text_atomic(target, json.dumps(full, indent=2, sort_keys=False) + "\n")
    return target
