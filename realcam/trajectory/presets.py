"""Metric preset trajectories, each expanding into editable keyframes relative to the identity condition camera
(frame 0 = identity; OpenCV: x right, y down, z forward; metres, degrees).

Two families:
- cinematography names (dolly-forward, pan-left, orbit-right, zoom-in, dolly-zoom-in, ...), with distances in metres,
  angles in degrees, zoom as a focal-length factor;
- the reference app's 16 names ("zoom in", "pan left", "look up", "orbit left", ..., spec §8.4), with spaces as in the
  reference, mapped to the motion each file intends, at the reference's magnitudes, and none of its corrupt rows
  (no 180° flip at the end of "look up/down", no improper rotations, symmetric left/right magnitudes). Note that the
  reference calls a translation "zoom" and "pan": "zoom in" is a 1 m dolly and "pan left" a 1 m truck.

Signs: left = −x, up = −y, forward = +z. Pan left turns the view toward −x; tilt up toward −y; roll right turns the
camera's top toward +x (clockwise as seen from behind the camera, so the image content turns anticlockwise) [inferred
for the reference's "rotate clockwise"]. Orbits circle a pivot `radius` metres in front of the first camera and keep
looking at it; orbit left moves the camera toward −x.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from realcam.geometry.se3 import so3_exp
from realcam.trajectory.keyframes import InterpolationSettings, Keyframe, Trajectory

__all__ = ["PRESETS", "PresetParameter", "PresetSpec", "make_preset", "preset_names"]

DEFAULT_KEYFRAMES = 5
DEFAULT_ZOOM_FOV_DEG = 60.0


@dataclass(frozen=True)
class PresetParameter:
    """A preset parameter: default value, unit and meaning."""

    default: float | None
    unit: str
    description: str


@dataclass(frozen=True)
class PresetSpec:
    """A named preset: description, parameters (name -> PresetParameter) and whether the name is the reference's."""

    name: str
    description: str
    parameters: dict[str, PresetParameter]
    reference_name: bool = False
    _build: Callable[[dict[str, float], int], tuple[list[Tensor], list[float | None], tuple | None]] = field(
        default=None, repr=False, compare=False
    )


_X = (1.0, 0.0, 0.0)
_Y = (0.0, 1.0, 0.0)
_Z = (0.0, 0.0, 1.0)


def _pose(R: Tensor | None = None, t: tuple[float, float, float] | Tensor = (0.0, 0.0, 0.0)) -> Tensor:
    c2w = torch.eye(4, dtype=torch.float64)
    if R is not None:
        c2w[:3, :3] = R
    c2w[:3, 3] = torch.as_tensor(t, dtype=torch.float64)
    return c2w


def _rot(axis: tuple[float, float, float], angle_deg: float) -> Tensor:
    return so3_exp(torch.tensor(axis, dtype=torch.float64) * math.radians(angle_deg))


def _fractions(n: int) -> list[float]:
    return [k / (n - 1) for k in range(n)] if n > 1 else [0.0]


def _translate(direction: tuple[float, float, float]):
    def build(p: dict[str, float], n: int):
        d = torch.tensor(direction, dtype=torch.float64) * p["distance"]
        return [_pose(t=d * s) for s in _fractions(n)], [p["fov_deg"]] * n, None

    return build


def _rotate(axis: tuple[float, float, float], sign: float):
    def build(p: dict[str, float], n: int):
        return [_pose(_rot(axis, sign * p["angle"] * s)) for s in _fractions(n)], [p["fov_deg"]] * n, None

    return build


def _orbit(axis: tuple[float, float, float], sign: float):
    def build(p: dict[str, float], n: int):
        r = p["radius"]
        pivot = torch.tensor([0.0, 0.0, r], dtype=torch.float64)
        poses = []
        for s in _fractions(n):
            R = _rot(axis, sign * p["angle"] * s)
            poses.append(_pose(R, pivot + R @ torch.tensor([0.0, 0.0, -r], dtype=torch.float64)))
        return poses, [p["fov_deg"]] * n, (0.0, 0.0, r)

    return build


def _zoom(direction: float):
    def build(p: dict[str, float], n: int):
        fov0 = p["fov_deg"] if p["fov_deg"] is not None else DEFAULT_ZOOM_FOV_DEG
        half = math.tan(math.radians(fov0) / 2)
        if p["fov_end_deg"] is not None:
            fov1 = p["fov_end_deg"]
            if not (fov1 < fov0 if direction > 0 else fov1 > fov0):
                what = "narrower" if direction > 0 else "wider"
                raise ValueError(
                    f"fov_end_deg: {'zoom-in' if direction > 0 else 'zoom-out'} needs an end FOV {what} than the "
                    f"start {fov0:g}°, got {fov1:g}°"
                )
            zoom = (half / math.tan(math.radians(fov1) / 2)) ** direction  # the focal-length factor it implies
        else:
            zoom = p["zoom"]
            if not (math.isfinite(zoom) and zoom > 0):
                raise ValueError(f"zoom: expected a positive focal-length factor, got {zoom}")
        # Focal length changes geometrically from f0 to f0·zoom (zoom in) or f0/zoom (zoom out).
        fovs = [2 * math.degrees(math.atan(half / zoom ** (direction * s))) for s in _fractions(n)]
        if p["fov_end_deg"] is not None:
            fovs[-1] = p["fov_end_deg"]  # exactly as asked, not through tan/atan
        return [_pose() for _ in range(n)], fovs, None

    return build


def _dolly_zoom(direction: float):
    def build(p: dict[str, float], n: int):
        fov0 = p["fov_deg"] if p["fov_deg"] is not None else DEFAULT_ZOOM_FOV_DEG
        r, d = p["radius"], p["distance"]
        if direction > 0 and not d < r:
            raise ValueError(f"distance: the dolly ({d} m) must stop before the subject at radius {r} m")
        half = math.tan(math.radians(fov0) / 2)
        poses, fovs = [], []
        for s in _fractions(n):
            z = direction * d * s
            poses.append(_pose(t=(0.0, 0.0, z)))
            # Keep the subject plane at distance r the same size: tan(fov/2)·(r − z) = tan(fov0/2)·r.
            fovs.append(2 * math.degrees(math.atan(half * r / (r - z))))
        return poses, fovs, None

    return build


def _static(p: dict[str, float], n: int):
    return [_pose() for _ in range(n)], [p["fov_deg"]] * n, None


def _param(default, unit, description):
    return PresetParameter(default, unit, description)


def _common(num_keyframes: int = DEFAULT_KEYFRAMES) -> dict[str, PresetParameter]:
    return {
        "num_keyframes": _param(num_keyframes, "count", "keyframes the motion is expanded into"),
        "fov_deg": _param(None, "deg", "vertical FOV stored in the keyframes (none: the image's intrinsics decide)"),
    }


def _distance(default: float) -> dict[str, PresetParameter]:
    return {"distance": _param(default, "m", "distance travelled")}


def _angle(default: float) -> dict[str, PresetParameter]:
    return {"angle": _param(default, "deg", "rotation angle")}


def _radius(default: float) -> dict[str, PresetParameter]:
    return {"radius": _param(default, "m", "distance from the camera to the pivot in front of it")}


def _zoom_params() -> dict[str, PresetParameter]:
    return {
        "zoom": _param(1.5, "factor", "focal-length factor (ignored when fov_end_deg is given)"),
        "fov_end_deg": _param(None, "deg", "vertical FOV of the last keyframe, instead of zoom"),
    }


def _spec(name, description, params, build, reference=False, num_keyframes=DEFAULT_KEYFRAMES) -> PresetSpec:
    return PresetSpec(name, description, {**params, **_common(num_keyframes)}, reference, build)


_SPECS = [
    _spec("dolly-forward", "move forward (+z) by `distance` m", _distance(1.0), _translate(_Z)),
    _spec("dolly-back", "move backward (−z) by `distance` m", _distance(1.0), _translate((0.0, 0.0, -1.0))),
    _spec("truck-left", "move left (−x) by `distance` m", _distance(1.0), _translate((-1.0, 0.0, 0.0))),
    _spec("truck-right", "move right (+x) by `distance` m", _distance(1.0), _translate(_X)),
    _spec("pedestal-up", "move up (−y) by `distance` m", _distance(1.0), _translate((0.0, -1.0, 0.0))),
    _spec("pedestal-down", "move down (+y) by `distance` m", _distance(1.0), _translate(_Y)),
    _spec("pan-left", "turn left (yaw) by `angle` degrees in place", _angle(30.0), _rotate(_Y, -1.0)),
    _spec("pan-right", "turn right (yaw) by `angle` degrees in place", _angle(30.0), _rotate(_Y, 1.0)),
    _spec("tilt-up", "tilt up (pitch) by `angle` degrees in place", _angle(20.0), _rotate(_X, 1.0)),
    _spec("tilt-down", "tilt down (pitch) by `angle` degrees in place", _angle(20.0), _rotate(_X, -1.0)),
    _spec("roll-left", "roll the camera's top to the left by `angle` degrees", _angle(30.0), _rotate(_Z, -1.0)),
    _spec("roll-right", "roll the camera's top to the right by `angle` degrees", _angle(30.0), _rotate(_Z, 1.0)),
    _spec(
        "orbit-left",
        "circle left by `angle` degrees around a pivot `radius` m ahead, looking at it",
        {**_angle(45.0), **_radius(2.0)},
        _orbit(_Y, 1.0),
    ),
    _spec(
        "orbit-right",
        "circle right by `angle` degrees around a pivot `radius` m ahead, looking at it",
        {**_angle(45.0), **_radius(2.0)},
        _orbit(_Y, -1.0),
    ),
    _spec(
        "orbit-up",
        "circle upward by `angle` degrees around a pivot `radius` m ahead, looking at it",
        {**_angle(30.0), **_radius(2.0)},
        _orbit(_X, -1.0),
    ),
    _spec(
        "orbit-down",
        "circle downward by `angle` degrees around a pivot `radius` m ahead, looking at it",
        {**_angle(30.0), **_radius(2.0)},
        _orbit(_X, 1.0),
    ),
    _spec(
        "zoom-in",
        "stay in place and multiply the focal length by `zoom` (FOV narrows from `fov_deg`, default 60°), or narrow "
        "the FOV to `fov_end_deg`",
        _zoom_params(),
        _zoom(1.0),
    ),
    _spec(
        "zoom-out",
        "stay in place and divide the focal length by `zoom` (FOV widens from `fov_deg`, default 60°), or widen "
        "the FOV to `fov_end_deg`",
        _zoom_params(),
        _zoom(-1.0),
    ),
    _spec(
        "dolly-zoom-in",
        "move forward by `distance` m while widening the FOV so the plane `radius` m ahead keeps its size",
        {**_distance(0.5), **_radius(2.0)},
        _dolly_zoom(1.0),
    ),
    _spec(
        "dolly-zoom-out",
        "move back by `distance` m while narrowing the FOV so the plane `radius` m ahead keeps its size",
        {**_distance(0.5), **_radius(2.0)},
        _dolly_zoom(-1.0),
    ),
    _spec("static", "hold the camera still (a locked-off shot)", {}, _static, num_keyframes=1),
    # The reference app's 16 names (spec §8.4), at its magnitudes, with the motion each file intends.
    _spec("zoom in", "reference name: dolly forward (+z) 1 m", _distance(1.0), _translate(_Z), True),
    _spec("zoom out", "reference name: dolly back (−z) 1 m", _distance(1.0), _translate((0.0, 0.0, -1.0)), True),
    _spec(
        "pan left",
        "reference name: truck left (−x) 1 m (the reference file moves 2 m left but only 1 m right)",
        _distance(1.0),
        _translate((-1.0, 0.0, 0.0)),
        True,
    ),
    _spec("pan right", "reference name: truck right (+x) 1 m", _distance(1.0), _translate(_X), True),
    _spec(
        "pan up",
        "reference name: pedestal up (−y) 1 m (without the file's incidental 5.7° tilt)",
        _distance(1.0),
        _translate((0.0, -1.0, 0.0)),
        True,
    ),
    _spec("pan down", "reference name: pedestal down (+y) 1 m", _distance(1.0), _translate(_Y), True),
    _spec("look left", "reference name: yaw left 90° in place", _angle(90.0), _rotate(_Y, -1.0), True),
    _spec("look right", "reference name: yaw right 90° in place", _angle(90.0), _rotate(_Y, 1.0), True),
    _spec(
        "look up",
        "reference name: pitch up 90° in place (the file's corrupt 180° last row is not reproduced)",
        _angle(90.0),
        _rotate(_X, 1.0),
        True,
    ),
    _spec(
        "look down",
        "reference name: pitch down 90° in place (the file's corrupt 180° last row is not reproduced)",
        _angle(90.0),
        _rotate(_X, -1.0),
        True,
    ),
    _spec("rotate clockwise", "reference name: roll 90°, top toward +x", _angle(90.0), _rotate(_Z, 1.0), True),
    _spec("rotate anti-clockwise", "reference name: roll 90°, top toward −x", _angle(90.0), _rotate(_Z, -1.0), True),
    _spec(
        "orbit left",
        "reference name: 90° orbit left around a pivot 3 m ahead (ends at (−3, 0, 3))",
        {**_angle(90.0), **_radius(3.0)},
        _orbit(_Y, 1.0),
        True,
    ),
    _spec(
        "orbit right",
        "reference name: 90° orbit right around a pivot 3 m ahead (ends at (3, 0, 3))",
        {**_angle(90.0), **_radius(3.0)},
        _orbit(_Y, -1.0),
        True,
    ),
    _spec(
        "orbit up",
        "reference name: 45° orbit upward around a pivot 2 m ahead",
        {**_angle(45.0), **_radius(2.0)},
        _orbit(_X, -1.0),
        True,
    ),
    _spec("stationary", "reference name: hold the camera still", {}, _static, True, num_keyframes=1),
]

PRESETS: dict[str, PresetSpec] = {spec.name: spec for spec in _SPECS}


def preset_names(*, reference: bool | None = None) -> list[str]:
    """Preset names; `reference=True` only the reference app's 16, False only realcam's own."""
    return [n for n, s in PRESETS.items() if reference is None or s.reference_name == reference]


def make_preset(
    name: str,
    *,
    distance: float | None = None,
    angle: float | None = None,
    radius: float | None = None,
    zoom: float | None = None,
    fov_deg: float | None = None,
    fov_end_deg: float | None = None,
    num_keyframes: int | None = None,
    settings: InterpolationSettings | None = None,
) -> Trajectory:
    """Build preset `name` as keyframes relative to the identity condition camera.

    Parameters left as None take the preset's defaults (see `PRESETS[name].parameters`); a parameter the preset does
    not use raises ValueError. Zoom presets take either `zoom` (focal-length factor) or `fov_end_deg` (vertical FOV of
    the last keyframe, degrees in (0, 180); the start is `fov_deg`, default 60°). `settings` replaces the default
    interpolation settings (arc-length timing); orbit presets keep their pivot unless the given settings name one.
    """
    if name not in PRESETS:
        raise ValueError(f"preset: unknown name {name!r}; known: {', '.join(PRESETS)}")
    spec = PRESETS[name]
    given = {"distance": distance, "angle": angle, "radius": radius, "zoom": zoom, "fov_deg": fov_deg}
    given["fov_end_deg"] = fov_end_deg
    given["num_keyframes"] = num_keyframes
    unused = [k for k, v in given.items() if v is not None and k not in spec.parameters]
    if unused:
        raise ValueError(
            f"preset {name!r} does not take {', '.join(unused)}; its parameters: {', '.join(spec.parameters)}"
        )
    if zoom is not None and fov_end_deg is not None:
        raise ValueError(f"preset {name!r}: give zoom (a focal-length factor) or fov_end_deg (degrees), not both")
    for key in ("fov_deg", "fov_end_deg"):
        value = given[key]
        if value is not None and not (math.isfinite(value) and 0 < value < 180):
            raise ValueError(f"{key}: expected a vertical FOV in (0, 180) degrees, got {value}")
    params = {k: (given[k] if given[k] is not None else p.default) for k, p in spec.parameters.items()}
    for key in ("distance", "radius"):
        if key in params and not (math.isfinite(params[key]) and params[key] >= 0):
            raise ValueError(f"{key}: expected a finite non-negative number of metres, got {params[key]}")
    if "radius" in params and params["radius"] <= 0:
        raise ValueError(f"radius: expected a positive number of metres, got {params['radius']}")
    if "angle" in params and not math.isfinite(params["angle"]):
        raise ValueError(f"angle: expected a finite number of degrees, got {params['angle']}")
    n = int(params["num_keyframes"])
    if n < 1 or n != params["num_keyframes"]:
        raise ValueError(f"num_keyframes: expected a positive integer, got {params['num_keyframes']}")
    if n == 1 and spec._build not in (_static,) and name not in ("static", "stationary"):
        raise ValueError(f"num_keyframes: preset {name!r} needs at least 2 keyframes, got 1")
    poses, fovs, pivot = spec._build(params, n)
    keyframes = tuple(Keyframe(c2w, fov) for c2w, fov in zip(poses, fovs))
    settings = settings if settings is not None else InterpolationSettings()
    if pivot is not None and settings.pivot is None:
        settings = replace(settings, pivot=pivot)
    return Trajectory(keyframes, settings, None)
