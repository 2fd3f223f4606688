"""Key coverage of the released files against the model, per component, without loading the weights into memory."""

from __future__ import annotations

import os
from pathlib import Path

from realcam.checkpoints.assemble import depth_normalizer_buffers, realcam_file_kind
from realcam.checkpoints.keys import group_by_component
from realcam.checkpoints.load import compare_keys, diagnose, rename_reference_modules


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
        model=model,
    )


def file_coverage_report(
    config, *, base: Path | None, realcam: Path, depth: Path, model: str | None = None
) -> tuple[str, bool]:
    """Text report: for each component, how many expected keys of `config`'s model the three files supply (merged in
    the reference order), what is off, and the `diagnose` hints. Returns (text, complete).

    As in `realcam_files.load_realcam_weights`: a full RealCam file makes the base unnecessary (it is not read), and
    an add-on known (metadata / released name) to be for the other resolution than `model` makes the set incomplete.
    """
    from realcam.checkpoints.realcam_files import addon_resolution
    from realcam.models.realcam_i2v import expected_state_shapes

    expected = expected_state_shapes(config)
    realcam_keys = read_key_shapes(realcam)
    kind = realcam_file_kind(realcam_keys)
    notes: list[str] = []
    given: dict[str, _Shape] = {}
    if kind == "full":
        notes.append("  the RealCam-I2V file holds the whole model: the base is not needed (not read)")
    elif base is not None:
        given.update(rename_reference_modules(read_key_shapes(base)))
    wrong_resolution = False
    if kind == "addon" and model is not None:
        found, evidence = addon_resolution(realcam)
        if found is not None and found != model:
            wrong_resolution = True
            notes.append(
                f"  WRONG CAMERA PLUGIN: it is for the {found} model ({evidence}); fetch the {model} one with "
                f"`realcam weights download --model {model}`"
            )
    given.update(realcam_keys)
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
    lines.extend(notes)
    lines.extend(f"  hint: {hint}" for hint in diagnose(report))
    complete = report.ok and not wrong_resolution
    if complete:
        lines.append("  => complete, loads strictly")
    elif report.ok:
        lines.append("  => WRONG FILE: the keys match but the camera plugin is for the other resolution")
    else:
        lines.append("  => INCOMPLETE: the model would not load")
    return "\n".join(lines), complete
