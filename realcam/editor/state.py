"""The trajectory editor's model: an immutable keyframe document plus an undo/redo history, with no UI imports.

The web app (`realcam.editor.app`) only reads widgets and calls the methods of `EditorState`; every operation of the
UI is available here from Python ("headless parity"), and the tests drive this class directly.

Conventions: world = the input camera's frame (its c2w is the identity), OpenCV axes (x right, y down, z forward),
metres. A keyframe is a `realcam.trajectory.Keyframe` with a (4 4) float64 c2w. Numeric rotation entry uses
(pan, tilt, roll) in degrees with c2w rotation R = Ry(pan) @ Rx(tilt) @ Rz(roll): pan turns about the world y axis
(positive pans right, towards +x), tilt about the camera x axis (positive tilts up, towards -y), roll about the
optical axis.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from realcam.geometry.se3 import slerp
from realcam.trajectory.keyframes import InterpolationSettings, Intrinsics, Keyframe, Trajectory

if TYPE_CHECKING:
    from realcam.trajectory.keyframes import SampledTrajectory

logger = logging.getLogger(__name__)

# The model generates 16 frames (DynamiCrafter/CamI2V backbone); the editor always resamples the path to this.
MODEL_NUM_FRAMES = 16
# Output videos are written at 8 fps (reference app), so read-outs in m/s and deg/s use this rate by default.
DEFAULT_FPS = 8.0
HISTORY_LIMIT = 200


# ----------------------------------------------------------------------------------------------------------------
# Small rotation helpers (float64, pure torch). Quaternion maths lives in realcam.geometry; these are the editor's
# numeric-entry convention and the look-at construction.


def _rot_x(deg: float) -> Tensor:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]], dtype=torch.float64)


def _rot_y(deg: float) -> Tensor:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=torch.float64)


def _rot_z(deg: float) -> Tensor:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def rotation_from_pan_tilt_roll(pan_deg: float, tilt_deg: float, roll_deg: float) -> Tensor:
    """Camera-to-world rotation from (pan, tilt, roll) in degrees: R = Ry(pan) @ Rx(tilt) @ Rz(roll). Shape (3 3)."""
    return _rot_y(pan_deg) @ _rot_x(tilt_deg) @ _rot_z(roll_deg)


def pan_tilt_roll_from_rotation(R: Tensor) -> tuple[float, float, float]:
    """Inverse of `rotation_from_pan_tilt_roll` for a (3 3) rotation; degrees, tilt in [-90, 90].

    With R = Ry(p) Rx(t) Rz(r): R[1,2] = -sin t, R[0,2] = cos t sin p, R[2,2] = cos t cos p,
    R[1,0] = cos t sin r, R[1,1] = cos t cos r. At tilt = ±90° pan and roll are coupled; roll is then reported as 0.
    """
    R = R.to(torch.float64)
    sin_tilt = float(-R[1, 2].clamp(-1.0, 1.0))
    tilt = math.degrees(math.asin(sin_tilt))
    if abs(sin_tilt) < 1.0 - 1e-9:
        pan = math.degrees(math.atan2(float(R[0, 2]), float(R[2, 2])))
        roll = math.degrees(math.atan2(float(R[1, 0]), float(R[1, 1])))
    else:  # gimbal lock: fold everything into pan
        pan = math.degrees(math.atan2(-float(R[2, 0]), float(R[0, 0])))
        roll = 0.0
    return pan, tilt, roll


def look_at_rotation(position: Tensor, target: Tensor, down: Sequence[float] = (0.0, 1.0, 0.0)) -> Tensor:
    """Camera-to-world rotation (3 3) of an OpenCV camera at `position` (3,) looking at `target` (3,) in metres.

    The camera's y axis is kept as close to the world `down` direction as possible (no roll).
    """
    forward = (target - position).to(torch.float64)
    if float(forward.norm()) < 1e-9:
        raise ValueError("look-at target coincides with the camera position")
    z = forward / forward.norm()
    hint = torch.as_tensor(down, dtype=torch.float64)
    x = torch.linalg.cross(hint, z)
    if float(x.norm()) < 1e-9:  # looking straight up or down: any x orthogonal to z will do
        x = torch.linalg.cross(torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), z)
    x = x / x.norm()
    y = torch.linalg.cross(z, x)
    return torch.stack([x, y, z], dim=1)


def make_c2w(R: Tensor, position: Sequence[float] | Tensor) -> Tensor:
    """Assemble a (4 4) float64 c2w from a (3 3) rotation and a (3,) position in metres."""
    c2w = torch.eye(4, dtype=torch.float64)
    c2w[:3, :3] = R.to(torch.float64)
    c2w[:3, 3] = torch.as_tensor(position, dtype=torch.float64)
    return c2w


def _as_c2w(c2w: Tensor) -> Tensor:
    c2w = torch.as_tensor(c2w, dtype=torch.float64)
    if c2w.shape != (4, 4):
        raise ValueError(f"c2w must have shape (4, 4), got {tuple(c2w.shape)}")
    return c2w.clone()


def nearest_point_to_ray(origin: Sequence[float], direction: Sequence[float], points: Tensor) -> int | None:
    """Index of the point (n 3) closest to the ray `origin + s * direction`, s > 0, or None if no point is in front.

    Closeness is the perpendicular distance divided by the distance along the ray (an angular measure), so a click
    picks what is under the cursor rather than the nearest point in absolute metres.
    """
    o = torch.as_tensor(origin, dtype=torch.float64)
    d = torch.as_tensor(direction, dtype=torch.float64)
    d = d / d.norm()
    rel = points.to(torch.float64) - o
    along = rel @ d
    perpendicular = (rel - along[:, None] * d).norm(dim=1)
    in_front = along > 1e-6
    if not bool(in_front.any()):
        return None
    score = torch.where(in_front, perpendicular / along.clamp_min(1e-6), torch.full_like(along, math.inf))
    return int(torch.argmin(score))


# ----------------------------------------------------------------------------------------------------------------
# Document and history


@dataclass(frozen=True)
class EditorDoc:
    """One immutable editor document: everything undo/redo restores.

    `keyframes` in path order; `settings` the spline/timing options, including the look-at / orbit `pivot` (metres,
    or None); `default_fov_deg` the vertical FOV used by keyframes whose own `fov_deg` is None.
    """

    keyframes: tuple[Keyframe, ...] = ()
    settings: InterpolationSettings = field(default_factory=InterpolationSettings)
    default_fov_deg: float = 60.0

    @property
    def pivot(self) -> tuple[float, float, float] | None:
        return self.settings.pivot


@dataclass(frozen=True)
class HistoryEntry:
    label: str
    doc: EditorDoc
    merge_key: str | None = None


@dataclass(frozen=True)
class FrameWarning:
    """A problem with sampled frame `frame` (0-based): kind is "behind", "too_close" or "low_coverage"."""

    frame: int
    kind: str
    message: str


@dataclass(frozen=True)
class WarningThresholds:
    """When to warn: nearest visible point closer than `near_m` metres; coverage below `min_coverage` (0..1)."""

    near_m: float = 0.3
    min_coverage: float = 0.35


class EditorState:
    """The editor: a current `EditorDoc`, an undo stack and a redo stack, and listeners told of every change.

    Every edit builds a new document and pushes the old one; nothing is mutated in place. Edits that pass the same
    `merge_key` one after another (a gizmo drag sends dozens) collapse into one undo step.
    """

    def __init__(
        self,
        intrinsics: Any,
        *,
        doc: EditorDoc | None = None,
        num_frames: int = MODEL_NUM_FRAMES,
        fps: float = DEFAULT_FPS,
    ) -> None:
        if num_frames < 2:
            raise ValueError(f"num_frames must be >= 2, got {num_frames}")
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.intrinsics = intrinsics
        self.num_frames = num_frames
        self.fps = fps
        if doc is None:  # keys without their own FOV use the input camera's when it is known
            doc = EditorDoc(default_fov_deg=intrinsics.fov_deg) if isinstance(intrinsics, Intrinsics) else EditorDoc()
        self._doc = doc
        self._undo: list[HistoryEntry] = []
        self._redo: list[HistoryEntry] = []
        self._last_merge_key: str | None = None
        self._listeners: list[Callable[[EditorState], None]] = []

    # -- observation ------------------------------------------------------------------------------------------
    @property
    def doc(self) -> EditorDoc:
        return self._doc

    @property
    def keyframes(self) -> tuple[Keyframe, ...]:
        return self._doc.keyframes

    def __len__(self) -> int:
        return len(self._doc.keyframes)

    def on_change(self, callback: Callable[[EditorState], None]) -> Callable[[EditorState], None]:
        """Register `callback(state)`, called after every edit, undo and redo."""
        self._listeners.append(callback)
        return callback

    def _notify(self) -> None:
        for callback in list(self._listeners):
            callback(self)

    # -- history ----------------------------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_labels(self) -> list[str]:
        """Labels of the undoable edits, oldest first."""
        return [entry.label for entry in self._undo]

    def _commit(self, label: str, doc: EditorDoc, merge_key: str | None = None) -> None:
        if merge_key is not None and merge_key == self._last_merge_key and self._undo:
            pass  # same continuous gesture: the undo entry from its start already holds the pre-gesture document
        else:
            self._undo.append(HistoryEntry(label, self._doc, merge_key))
            del self._undo[:-HISTORY_LIMIT]
        self._redo.clear()
        self._last_merge_key = merge_key
        self._doc = doc
        self._notify()

    def end_gesture(self) -> None:
        """Close the current merge group: the next edit starts a new undo step even with the same merge key."""
        self._last_merge_key = None

    def undo(self) -> bool:
        """Restore the document before the last edit; returns False when there is nothing to undo."""
        if not self._undo:
            return False
        entry = self._undo.pop()
        self._redo.append(HistoryEntry(entry.label, self._doc, entry.merge_key))
        self._doc = entry.doc
        self._last_merge_key = None
        self._notify()
        return True

    def redo(self) -> bool:
        """Re-apply the last undone edit; returns False when there is nothing to redo."""
        if not self._redo:
            return False
        entry = self._redo.pop()
        self._undo.append(HistoryEntry(entry.label, self._doc, entry.merge_key))
        self._doc = entry.doc
        self._last_merge_key = None
        self._notify()
        return True

    # -- keyframe edits ---------------------------------------------------------------------------------------
    def _index(self, index: int, *, allow_end: bool = False) -> int:
        n = len(self._doc.keyframes)
        limit = n + 1 if allow_end else n
        if not isinstance(index, int) or not 0 <= index < limit:
            raise ValueError(f"keyframe index must be in [0, {limit - 1}], got {index!r} ({n} keyframes)")
        return index

    def _replace_keys(self, label: str, keys: Sequence[Keyframe], merge_key: str | None = None) -> None:
        self._commit(label, dataclasses.replace(self._doc, keyframes=tuple(keys)), merge_key)

    def add_keyframe(self, c2w: Tensor, fov_deg: float | None = None, index: int | None = None) -> int:
        """Insert a keyframe with pose `c2w` (4 4) at `index` (default: append); returns its index."""
        keys = list(self._doc.keyframes)
        index = len(keys) if index is None else self._index(index, allow_end=True)
        keys.insert(index, Keyframe(c2w=_as_c2w(c2w), fov_deg=_check_fov(fov_deg)))
        self._replace_keys(f"add keyframe {index}", keys)
        return index

    def insert_between(self, index: int) -> int:
        """Insert a keyframe halfway between keys `index` and `index + 1` (or the last and the first on a loop).

        Position and FOV are averaged, rotation is the SO(3) geodesic midpoint. Returns the new key's index.
        """
        keys = list(self._doc.keyframes)
        self._index(index)
        if index + 1 < len(keys):
            a, b = keys[index], keys[index + 1]
        elif self._doc.settings.closed and len(keys) >= 2:
            a, b = keys[index], keys[0]
        else:
            raise ValueError(f"no keyframe after {index} to insert before (there are {len(keys)} keyframes)")
        R = slerp(a.c2w[:3, :3], b.c2w[:3, :3], 0.5)
        position = (a.c2w[:3, 3] + b.c2w[:3, 3]) / 2.0
        fov = None
        if a.fov_deg is not None or b.fov_deg is not None:
            fa = a.fov_deg if a.fov_deg is not None else self._doc.default_fov_deg
            fb = b.fov_deg if b.fov_deg is not None else self._doc.default_fov_deg
            fov = (fa + fb) / 2.0
        keys.insert(index + 1, Keyframe(c2w=make_c2w(R, position), fov_deg=fov))
        self._replace_keys(f"insert keyframe after {index}", keys)
        return index + 1

    def delete_keyframe(self, index: int) -> None:
        keys = list(self._doc.keyframes)
        del keys[self._index(index)]
        self._replace_keys(f"delete keyframe {index}", keys)

    def duplicate_keyframe(self, index: int) -> int:
        """Copy key `index` right after itself; returns the copy's index."""
        keys = list(self._doc.keyframes)
        key = keys[self._index(index)]
        keys.insert(index + 1, Keyframe(c2w=key.c2w.clone(), fov_deg=key.fov_deg, time=key.time))
        self._replace_keys(f"duplicate keyframe {index}", keys)
        return index + 1

    def move_keyframe(self, index: int, new_index: int) -> None:
        """Reorder: take key `index` out and put it at position `new_index` of the result."""
        keys = list(self._doc.keyframes)
        self._index(index)
        self._index(new_index)
        keys.insert(new_index, keys.pop(index))
        self._replace_keys(f"move keyframe {index} to {new_index}", keys)

    def set_c2w(self, index: int, c2w: Tensor, *, merge_key: str | None = None) -> None:
        """Replace the pose of key `index` (gizmo drags pass a merge key so one drag is one undo step)."""
        keys = list(self._doc.keyframes)
        keys[self._index(index)] = dataclasses.replace(keys[index], c2w=_as_c2w(c2w))
        self._replace_keys(f"move keyframe {index}", keys, merge_key)

    def set_position(self, index: int, position: Sequence[float]) -> None:
        """Numeric entry: position (3,) in metres of key `index`."""
        key = self._doc.keyframes[self._index(index)]
        if len(position) != 3:
            raise ValueError(f"position must have 3 values, got {len(position)}")
        self.set_c2w(index, make_c2w(key.c2w[:3, :3], position))

    def set_rotation_deg(self, index: int, pan_deg: float, tilt_deg: float, roll_deg: float) -> None:
        """Numeric entry: rotation of key `index` as (pan, tilt, roll) in degrees (see the module docstring)."""
        key = self._doc.keyframes[self._index(index)]
        self.set_c2w(index, make_c2w(rotation_from_pan_tilt_roll(pan_deg, tilt_deg, roll_deg), key.c2w[:3, 3]))

    def rotation_deg(self, index: int) -> tuple[float, float, float]:
        """(pan, tilt, roll) in degrees of key `index`."""
        return pan_tilt_roll_from_rotation(self._doc.keyframes[self._index(index)].c2w[:3, :3])

    def set_fov(self, index: int, fov_deg: float | None) -> None:
        """Per-keyframe vertical FOV in degrees; None means "use the default FOV"."""
        keys = list(self._doc.keyframes)
        keys[self._index(index)] = dataclasses.replace(keys[index], fov_deg=_check_fov(fov_deg))
        self._replace_keys(f"set fov of keyframe {index}", keys)

    def set_default_fov(self, fov_deg: float) -> None:
        fov = _check_fov(fov_deg)
        self._commit("set default fov", dataclasses.replace(self._doc, default_fov_deg=fov))

    def clear(self) -> None:
        self._replace_keys("clear keyframes", [])

    # -- pivot, look-at and whole-path transforms ---------------------------------------------------------------
    def set_pivot(self, point: Sequence[float] | None) -> None:
        """Set (or clear with None) the look-at / orbit pivot, a world point in metres.

        The trajectory core interpolates the pivot's camera-frame offset when it is set, so keys that look at the
        pivot keep looking at it (and at their distance) between keys: an orbit.
        """
        pivot = None
        if point is not None:
            if len(point) != 3 or not all(math.isfinite(float(v)) for v in point):
                raise ValueError(f"pivot must be 3 finite numbers, got {point!r}")
            pivot = (float(point[0]), float(point[1]), float(point[2]))
        settings = dataclasses.replace(self._doc.settings, pivot=pivot)
        self._commit("set pivot", dataclasses.replace(self._doc, settings=settings))

    def pick_pivot(self, ray_origin: Sequence[float], ray_direction: Sequence[float], points: Tensor) -> int | None:
        """Set the pivot to the cloud point (n 3) under a clicked ray; returns its index or None when none is hit."""
        index = nearest_point_to_ray(ray_origin, ray_direction, points)
        if index is not None:
            self.set_pivot(points[index].tolist())
        return index

    def look_at_pivot(self, indices: Sequence[int] | None = None) -> None:
        """Turn keys `indices` (default: all) to face the pivot, keeping their positions and zero roll."""
        if self._doc.pivot is None:
            raise ValueError("no pivot set: click a point of the cloud (or call set_pivot) first")
        target = torch.tensor(self._doc.pivot, dtype=torch.float64)
        keys = list(self._doc.keyframes)
        chosen = range(len(keys)) if indices is None else [self._index(i) for i in indices]
        for i in chosen:
            position = keys[i].c2w[:3, 3]
            keys[i] = dataclasses.replace(keys[i], c2w=make_c2w(look_at_rotation(position, target), position))
        self._replace_keys("look at pivot", keys)

    def transform_path(
        self,
        translation: Sequence[float] = (0.0, 0.0, 0.0),
        rotation_deg: Sequence[float] = (0.0, 0.0, 0.0),
        scale: float = 1.0,
        about: Sequence[float] | None = None,
    ) -> None:
        """Move the whole path at once: scale positions by `scale` and rotate the path by (pan, tilt, roll) degrees
        about `about` (default: the pivot, else the first key's position), then translate by `translation` metres.

        Camera orientations turn with the path, so the relative motion between keys is preserved up to scale.
        """
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        keys = list(self._doc.keyframes)
        if not keys:
            raise ValueError("the path has no keyframes to transform")
        if about is None:
            about = self._doc.pivot if self._doc.pivot is not None else keys[0].c2w[:3, 3].tolist()
        centre = torch.as_tensor(about, dtype=torch.float64)
        R = rotation_from_pan_tilt_roll(*[float(v) for v in rotation_deg])
        shift = torch.as_tensor(translation, dtype=torch.float64)
        for i, key in enumerate(keys):
            position = centre + scale * (R @ (key.c2w[:3, 3] - centre)) + shift
            keys[i] = dataclasses.replace(key, c2w=make_c2w(R @ key.c2w[:3, :3], position))
        settings = self._doc.settings
        if settings.pivot is not None:  # the pivot moves with the path
            pivot = centre + scale * (R @ (torch.tensor(settings.pivot, dtype=torch.float64) - centre)) + shift
            settings = dataclasses.replace(settings, pivot=tuple(pivot.tolist()))
        self._commit("transform path", dataclasses.replace(self._doc, keyframes=tuple(keys), settings=settings))

    # -- presets, settings, import/export ---------------------------------------------------------------------
    def apply_preset(self, name: str, **params: Any) -> None:
        """Replace the keyframes with those of trajectory preset `name` (they stay editable)."""
        from realcam.trajectory.presets import make_preset

        preset = make_preset(name, **params)
        keys = preset.keyframes if isinstance(preset, Trajectory) else tuple(preset)
        doc = dataclasses.replace(self._doc, keyframes=tuple(keys))
        if isinstance(preset, Trajectory):
            doc = dataclasses.replace(doc, settings=preset.settings)
        self._commit(f"preset {name}", doc)

    def set_settings(self, **changes: Any) -> None:
        """Change interpolation settings (tension, closed, timing "arc"|"keys", ease "none"|"in"|"out"|"in-out",
        pivot); unknown names raise."""
        names = {f.name for f in dataclasses.fields(InterpolationSettings)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown interpolation settings {unknown}; known: {sorted(names)}")
        settings = dataclasses.replace(self._doc.settings, **changes)
        self._commit("change " + ", ".join(sorted(changes)), dataclasses.replace(self._doc, settings=settings))

    def load(self, path: str | Path, format: str | None = None) -> None:
        """Import keyframes and settings from any trajectory file of the trajectory core (realcam JSON, nerfstudio
        JSON, RE10K txt). Per-frame formats import every frame as a keyframe. The file's intrinsics are not adopted:
        the editor keeps the input photo's."""
        from realcam.trajectory.io import load_trajectory

        image_size = None
        if isinstance(self.intrinsics, Intrinsics):
            image_size = (self.intrinsics.height, self.intrinsics.width)
        trajectory = load_trajectory(path, format, image_size=image_size)
        doc = dataclasses.replace(self._doc, keyframes=tuple(trajectory.keyframes), settings=trajectory.settings)
        self._commit(f"import {Path(path).name}", doc)

    def save(self, path: str | Path, format: str | None = None) -> Path:
        """Export the current path ("realcam", "nerfstudio" or "re10k"; from the suffix unless given). Per-frame
        formats get the model's `num_frames` frames at `fps`. Returns the path written."""
        from realcam.trajectory.io import save_trajectory

        return save_trajectory(self.trajectory(), path, format, num_frames=self.num_frames, fps=self.fps)

    # -- derived views ----------------------------------------------------------------------------------------
    def trajectory(self) -> Trajectory:
        """The current path as a trajectory-core `Trajectory` (keys without FOV get the default FOV)."""
        if not self._doc.keyframes:
            raise ValueError("the path has no keyframes: add one from the current view or apply a preset")
        keys = tuple(
            k if k.fov_deg is not None else dataclasses.replace(k, fov_deg=self._doc.default_fov_deg)
            for k in self._doc.keyframes
        )
        return Trajectory(keyframes=keys, settings=self._doc.settings, intrinsics=self.intrinsics)

    def sample(self) -> SampledTrajectory:
        """The path resampled to the model's frame count: c2w (f 4 4), per-frame FOV and intrinsics."""
        return self.trajectory().sample(self.num_frames)

    def readouts(self) -> Readouts:
        """Per-segment (keyframe to keyframe) length (m), duration (s), speed (m/s) and angular speed (deg/s) of the
        path as the model's frames play it at `fps`, plus the trajectory core's totals and warnings."""
        from realcam.trajectory.metrics import path_stats

        trajectory = self.trajectory()
        stats = path_stats(trajectory.sample(self.num_frames), self.fps)
        return Readouts(segments=segment_readouts(trajectory, self.num_frames, self.fps), stats=stats)


@dataclass(frozen=True)
class SegmentReadout:
    """The path from keyframe `index` to the next (the last wraps to the first on a loop), as played."""

    index: int
    length_m: float
    rotation_deg: float
    duration_s: float
    speed_mps: float
    angular_speed_dps: float


@dataclass(frozen=True)
class Readouts:
    """Per-keyframe-segment read-outs and the trajectory core's `PathStats` of the sampled frames."""

    segments: tuple[SegmentReadout, ...]
    stats: Any


def segment_readouts(
    trajectory: Trajectory, num_frames: int, fps: float, samples_per_segment: int = 128
) -> tuple[SegmentReadout, ...]:
    """Length, rotation, duration and speeds of each keyframe-to-keyframe segment.

    A segment's duration is how long the video (num_frames at fps, timing and easing included) takes to traverse its
    spline parameter interval [i, i + 1]; length and rotation are integrated over dense samples of the spline.
    """
    from realcam.geometry.se3 import rotation_angle_deg
    from realcam.trajectory.interpolate import evaluate, interp1d, spline_parameters

    n = len(trajectory.keyframes)
    closed = trajectory.settings.closed and n > 1
    num_segments = n if closed else n - 1
    if num_segments < 1:
        return ()
    # Video time of a fine grid of the normalised time tau, and the spline parameter reached at it.
    fine = 64 * num_frames
    u_fine = spline_parameters(trajectory, fine)
    tau = torch.arange(fine, dtype=torch.float64) / (fine if closed else fine - 1)
    total_s = (num_frames if closed else num_frames - 1) / fps
    if closed:  # the loop's end: tau = 1 reaches u = num_segments
        u_fine = torch.cat([u_fine, torch.tensor([float(num_segments)], dtype=torch.float64)])
        tau = torch.cat([tau, torch.ones(1, dtype=torch.float64)])
    boundaries = torch.arange(num_segments + 1, dtype=torch.float64)
    times = interp1d(boundaries, u_fine, tau * total_s)
    out = []
    for i in range(num_segments):
        u = torch.linspace(i, i + 1, samples_per_segment + 1, dtype=torch.float64)
        c2w, _ = evaluate(trajectory, u)
        length = float((c2w[1:, :3, 3] - c2w[:-1, :3, 3]).norm(dim=-1).sum())
        rotation = float(rotation_angle_deg(c2w[:-1, :3, :3].transpose(-1, -2) @ c2w[1:, :3, :3]).sum())
        duration = float(times[i + 1] - times[i])
        speed = length / duration if duration > 0 else math.inf if length > 0 else 0.0
        angular = rotation / duration if duration > 0 else math.inf if rotation > 0 else 0.0
        out.append(SegmentReadout(i, length, rotation, duration, speed, angular))
    return tuple(out)


def _check_fov(fov_deg: float | None) -> float | None:
    if fov_deg is None:
        return None
    fov = float(fov_deg)
    if not 1.0 <= fov <= 170.0:
        raise ValueError(f"fov_deg must be in [1, 170] degrees, got {fov_deg}")
    return fov
