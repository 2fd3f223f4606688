"""Key coverage of the released files against the model, per component, without loading the weights into memory."""

from __future__ import annotations

import os
from pathlib import Path

from realcam.checkpoints.assemble import depth_normalizer_buffers
from realcam.checkpoints.keys import group_by_component
from realcam.checkpoints.load import compare_keys, rename_reference_modules


class _Shape:
    """Stands in for a tensor where only `.shape` is needed."""

    def __init__(self, shape):
        self.shape = tuple(shape)


def read_key_shapes(path: str | os.PathLike) -> dict[str, _Shape]:
    """`{key: object with .shape}` of a checkpoint file; safetensors headers only, pickles memory-mapped."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            return {key: _Shape(handle.get_slice(key).get_shape()) for key in handle.keys()}
    from realcam.checkpoints.load import read_state_dict

    return {key: _Shape(value.shape) for key, value in read_state_dict(path).items()}


def coverage_report(model: str, paths: dict[str, Path], *, depth: str = "indoor") -> tuple[str, bool]:
    """Text report for the released files of a preset (`paths` keyed like `hub.files_for`)."""
    from realcam.models.realcam_i2v import RealCamI2VConfig

    return file_coverage_report(
        RealCamI2VConfig.preset(model, depth=depth),
        base=paths[f"base-{model}"],
        realcam=paths[f"realcam-{model}"],
        depth=paths[f"depth-{depth}"],
    )


def file_coverage_report(config, *, base: Path, realcam: Path, depth: Path) -> tuple[str, bool]:
    """Text report: for each component, how many expected keys of `config`'s model the three files supply (merged in
    the reference order), and what is off. Returns (text, complete)."""
    from realcam.models.realcam_i2v import expected_state_shapes

    expected = expected_state_shapes(config)
    given: dict[str, _Shape] = {}
    given.update(rename_reference_modules(read_key_shapes(base)))
    given.update(read_key_shapes(realcam))
    given.update({f"depth_predictor.{k}": v for k, v in read_key_shapes(depth).items()})
    for key, value in depth_normalizer_buffers().items():
        given.setdefault(key, _Shape(value.shape))
    report = compare_keys(expected, given)
    lines = ["key coverage (strict):"]
    expected_groups = group_by_component(expected)
    missing_groups = group_by_component(report.missing)
    for component, keys in sorted(expected_groups.items()):
        have = len(keys) - len(missing_groups.get(component, []))
        lines.append(f"  {component:14s} {have:5d}/{len(keys):5d}")
    if report.unexpected:
        lines.append(f"  unexpected keys: {len(report.unexpected)} (e.g. {', '.join(report.unexpected[:3])})")
    if report.mismatched:
        lines.append(f"  wrong shapes: {len(report.mismatched)} (e.g. {report.mismatched[0]})")
    lines.append("  => complete, loads strictly" if report.ok else "  => INCOMPLETE: the model would not load")
    return "\n".join(lines), report.ok
