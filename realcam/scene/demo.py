"""The built-in demo scene: a procedurally textured room with furniture-like boxes, ray-cast with exact metric depth.

It ships as code (no asset), is deterministic, and is the default scene of `realcam preview --demo`, the editor and
the tests, so the preview path runs on a fresh machine without weights. The textures (wooden floor planks, a patterned
rug, wallpaper, framed "paintings" of random blobs, a chequered board, crates) give SIFT plenty of corners and blobs, so
the camera-evaluation self-test can run structure-from-motion on videos rendered from it.

Geometry (metres, OpenCV frame of the demo camera at the origin: x right, y down, z forward): the room spans
x in [-2.6, 2.6], y in [-1.4, 1.5] (ceiling above, floor below), z in [-1, 6.5]; three boxes stand on the floor.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import math
import os
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

log = logging.getLogger(__name__)

ROOM_MIN = (-2.6, -1.4, -1.0)
ROOM_MAX = (2.6, 1.5, 6.5)
# (min corner, max corner, material id) of each box; all stand on the floor at y = 1.5.
BOXES = (
    ((-1.7, 0.75, 3.0), (-0.4, 1.5, 4.0), 10),  # low table
    ((1.0, -0.3, 4.3), (2.1, 1.5, 5.1), 11),  # tall cabinet
    ((-0.15, 1.05, 2.2), (0.55, 1.5, 2.8), 12),  # crate
)
_LIGHT = (0.3, -1.2, 2.8)
_SUBPIXEL = ((-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25))
# Pixels per tracing chunk (x4 sub-pixel rays): small enough for the texture temporaries to stay in cache.
_CHUNK_PIXELS = 1 << 13


@dataclass(frozen=True)
class DemoScene:
    """A scene to preview without a depth model.

    Shapes: image (h w 3) uint8 numpy RGB; depth (h w) float32 tensor, camera z in metres (exact, from ray casting);
    K (3 3) float32 pixels for (h, w), with the lift's integer-pixel-centre convention; name a short label.
    """

    image: np.ndarray
    depth: Tensor
    K: Tensor
    name: str


def demo_K(height: int, width: int) -> Tensor:
    """Intrinsics of the demo camera: fx = fy = 0.5*max(h, w), principal point (w/2, h/2), as the reference's default
    (spec §5.3; the long side spans 90 degrees). Shapes: -> (3 3) float32."""
    f = 0.5 * max(height, width)
    return torch.tensor([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]], dtype=torch.float32)


def demo_scene(height: int = 320, width: int = 512, *, cache: bool = True) -> DemoScene:
    """The demo room rendered at (height, width). Deterministic: the same size always gives the same arrays.

    The colour of a pixel averages 4 sub-pixel rays (anti-aliasing); its depth is the z of the ray through the pixel
    centre, so `depth_to_pointcloud(image, depth, K)` puts every point exactly on a scene surface.

    Generating takes seconds (about 3 s at 320x512 on 2 busy cores), so the arrays are kept in memory and, with
    `cache` (default), in `demo_cache_dir()` as one .npz per size, keyed by a hash of this module's source: any code
    change invalidates it, and an unreadable or corrupted file is regenerated and overwritten.
    """
    if not (isinstance(height, int) and isinstance(width, int) and 8 <= height <= 4096 and 8 <= width <= 4096):
        raise ValueError(f"height/width: expected integers in [8, 4096], got {height!r} x {width!r}")
    image, depth = _render_cached(height, width, cache)
    return DemoScene(image=image.copy(), depth=depth.clone(), K=demo_K(height, width), name="demo-room")


def demo_cache_dir() -> Path:
    """Folder of the cached demo scenes: `$REALCAM_DEMO_CACHE` if set, else `$REALCAM_CACHE/demo-scene`, else
    `$XDG_CACHE_HOME/realcam/demo-scene`, else `~/.cache/realcam/demo-scene`."""
    if os.environ.get("REALCAM_DEMO_CACHE"):
        return Path(os.environ["REALCAM_DEMO_CACHE"]).expanduser()
    if os.environ.get("REALCAM_CACHE"):
        return Path(os.environ["REALCAM_CACHE"]).expanduser() / "demo-scene"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "realcam" / "demo-scene"


def demo_cache_path(height: int, width: int) -> Path:
    """The cache file of one size (it may not exist yet)."""
    return demo_cache_dir() / f"demo-room-{height}x{width}.npz"


@functools.lru_cache(maxsize=1)
def _version() -> str:
    """Cache key: the hash of this module's source, so editing the scene or its textures invalidates old files."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


@functools.lru_cache(maxsize=4)
def _render_cached(height: int, width: int, cache: bool) -> tuple[np.ndarray, Tensor]:
    path = demo_cache_path(height, width) if cache else None
    if path is not None:
        loaded = _load_cached(path, height, width)
        if loaded is not None:
            return loaded
    image, depth = _render(height, width)
    if path is not None:
        _save_cached(path, image, depth)
    return image, depth


def _load_cached(path: Path, height: int, width: int) -> tuple[np.ndarray, Tensor] | None:
    """The cached arrays if `path` holds a valid file of this version and size; None otherwise (logged)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            version, image, depth = str(data["version"]), data["image"], data["depth"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        log.warning("demo scene cache %s is unreadable (%s): regenerating it", path, error)
        return None
    if version != _version():
        log.info("demo scene cache %s is from another version of the scene: regenerating it", path)
        return None
    valid = (
        image.shape == (height, width, 3)
        and image.dtype == np.uint8
        and depth.shape == (height, width)
        and depth.dtype == np.float32
        and bool(np.isfinite(depth).all())
        and bool((depth > 0).all())
    )
    if not valid:
        log.warning("demo scene cache %s holds invalid arrays: regenerating it", path)
        return None
    return image, torch.from_numpy(depth)


def _save_cached(path: Path, image: np.ndarray, depth: Tensor) -> None:
    """Write atomically (temporary file + rename), so a reader never sees half a file. A cache that cannot be written
    (read-only home, full disk) is not an error: the scene is just regenerated next time."""
    temporary: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.stem, suffix=".tmp", delete=False) as handle:
            temporary = Path(handle.name)
            np.savez(handle, version=np.array(_version()), image=image, depth=depth.numpy())
        os.replace(temporary, path)
    except OSError as error:
        log.warning("cannot write the demo scene cache %s (%s); it will be regenerated next time", path, error)
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def _render(height: int, width: int) -> tuple[np.ndarray, Tensor]:
    """Ray-cast the room. Shapes: -> (image (h w 3) uint8 numpy, depth (h w) float32)."""
    K = demo_K(height, width).double()
    v, u = torch.meshgrid(
        torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing="ij"
    )
    u, v = u.reshape(-1), v.reshape(-1)
    depth = torch.empty(u.shape[0], dtype=torch.float64)
    color = torch.empty(u.shape[0], 3, dtype=torch.float64)
    # Hundreds of small elementwise operations per chunk: on one thread, over cache-sized chunks of pixels. Measured
    # ~10x faster than torch's default threads on a busy 2-core machine (its OpenMP workers wait for each other on
    # every operation) and as fast on an idle one. A pixel's values do not depend on the chunking.
    with _single_thread():
        for start in range(0, u.shape[0], _CHUNK_PIXELS):
            cu, cv = u[start : start + _CHUNK_PIXELS], v[start : start + _CHUNK_PIXELS]
            n = cu.shape[0]
            depth[start : start + n] = _hit(_ray_directions(cu, cv, K))[0]  # centre ray: geometry only
            # Colour: the mean of the 4 sub-pixel rays.
            rgb = _trace(torch.cat([cu + du for du, _ in _SUBPIXEL]), torch.cat([cv + dv for _, dv in _SUBPIXEL]), K)
            color[start : start + n] = rgb.reshape(len(_SUBPIXEL), n, 3).mean(dim=0)
    image = (color.clamp(0, 1) * 255).round().to(torch.uint8).reshape(height, width, 3).numpy()
    return image, depth.float().reshape(height, width)


@contextlib.contextmanager
def _single_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _ray_directions(u: Tensor, v: Tensor, K: Tensor) -> Tensor:
    """Pixel coordinates (n,) -> ray directions (n 3) with unit z, so the hit distance t is the depth z."""
    return torch.stack(((u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], torch.ones_like(u)), dim=-1)


def _hit(d: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Nearest surface along rays d (n 3) -> (depth z (n,), normal axis (n,), normal sign (n,), material (n,))."""
    depth, normal_axis, normal_sign, material = _room_hit(d)
    for lo, hi, mat in BOXES:
        t, axis, sign = _box_hit(d, torch.tensor(lo, dtype=d.dtype), torch.tensor(hi, dtype=d.dtype))
        closer = t < depth
        depth = torch.where(closer, t, depth)
        normal_axis = torch.where(closer, axis, normal_axis)
        normal_sign = torch.where(closer, sign, normal_sign)
        material = torch.where(closer, torch.full_like(material, mat), material)
    return depth, normal_axis, normal_sign, material


def _trace(u: Tensor, v: Tensor, K: Tensor) -> Tensor:
    """Ray-cast pixel coordinates (n,) -> shaded colour (n 3) in [0, 1]."""
    d = _ray_directions(u, v, K)
    depth, normal_axis, normal_sign, material = _hit(d)
    p = d * depth[:, None]
    normal = torch.zeros_like(p)
    normal.scatter_(1, normal_axis[:, None], normal_sign[:, None])
    albedo = _albedo(p, normal_axis, material)
    return albedo * _shading(p, normal)


def _room_hit(d: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """First wall hit from inside the room: per axis the plane the ray runs towards; the nearest of the three."""
    lo, hi = torch.tensor(ROOM_MIN, dtype=d.dtype), torch.tensor(ROOM_MAX, dtype=d.dtype)
    safe = torch.where(d.abs() < 1e-12, torch.full_like(d, 1e-12), d)
    t_axis = torch.where(d > 0, hi / safe, lo / safe)
    t_axis = torch.where(d.abs() < 1e-12, torch.full_like(d, math.inf), t_axis)
    depth, axis = t_axis.min(dim=1)
    sign = -torch.sign(d.gather(1, axis[:, None])[:, 0])  # the wall faces the camera
    # Materials: 0/1 side walls (x-), (x+); 2 ceiling; 3 floor; 4 front wall (behind camera); 5 back wall.
    positive = d.gather(1, axis[:, None])[:, 0] > 0
    material = axis * 2 + positive.long()
    material = torch.where(axis == 1, torch.where(positive, 3, 2), material)
    material = torch.where(axis == 2, torch.where(positive, 5, 4), material)
    return depth, axis, sign, material


def _box_hit(d: Tensor, lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Slab test of rays from the origin against an axis-aligned box; inf where missed."""
    safe = torch.where(d.abs() < 1e-12, torch.full_like(d, 1e-12), d)
    t1, t2 = lo / safe, hi / safe
    t_near = torch.minimum(t1, t2)
    t_far = torch.maximum(t1, t2)
    t_enter, axis = t_near.max(dim=1)
    t_exit = t_far.min(dim=1).values
    hit = (t_enter <= t_exit) & (t_enter > 0)
    sign = -torch.sign(d.gather(1, axis[:, None])[:, 0])
    return torch.where(hit, t_enter, torch.full_like(t_enter, math.inf)), axis, sign


def _shading(p: Tensor, normal: Tensor) -> Tensor:
    """Ambient plus a soft Lambertian point light near the ceiling. Shapes: (n 3) -> (n 1)."""
    to_light = torch.tensor(_LIGHT, dtype=p.dtype) - p
    dist = to_light.norm(dim=1, keepdim=True)
    lambert = ((to_light / dist) * normal).sum(dim=1, keepdim=True).clamp_min(0)
    return 0.38 + 0.9 * lambert / (1 + 0.04 * dist**2)


def _albedo(p: Tensor, axis: Tensor, material: Tensor) -> Tensor:
    """Procedural textures per material, in surface coordinates (the two world axes along the surface)."""
    coords = {
        0: (p[:, 2], p[:, 1]),
        1: (p[:, 0], p[:, 2]),
        2: (p[:, 0], p[:, 1]),
    }
    s = torch.zeros_like(p[:, 0])
    t = torch.zeros_like(p[:, 0])
    for a, (cs, ct) in coords.items():
        s = torch.where(axis == a, cs, s)
        t = torch.where(axis == a, ct, t)
    out = torch.zeros_like(p)
    painters = {
        0: _wallpaper,
        1: _wallpaper,
        5: _wallpaper,
        4: _wallpaper,
        2: _ceiling,
        3: _floor,
        10: _table,
        11: _cabinet,
        12: _crate,
    }
    for mat, painter in painters.items():
        sel = material == mat
        if bool(sel.any()):
            out[sel] = painter(s[sel], t[sel], mat, axis[sel])
    return out.clamp(0, 1)


def _hash(ix: Tensor, iy: Tensor, seed: int) -> Tensor:
    """Deterministic pseudo-random value in [0, 1) per integer lattice point."""
    return _hash_mixed(ix * 374761393 + iy * 668265263 + seed * 2147483647)


def _hash_mixed(h: Tensor) -> Tensor:
    """The mixing steps of `_hash`, given the linear combination of the lattice coordinates (int64, consumed)."""
    h.bitwise_and_(0xFFFFFFFF)
    h = (h ^ (h >> 13)).mul_(1274126177).bitwise_and_(0xFFFFFFFF)
    h ^= h >> 16
    return h.bitwise_and_(0xFFFFFF).double().div_(float(1 << 24))


def _noise(s: Tensor, t: Tensor, scale: float, seed: int) -> Tensor:
    """Smooth value noise in [0, 1) with lattice spacing `scale` metres."""
    x, y = s / scale, t / scale
    ix, iy = torch.floor(x), torch.floor(y)
    fx, fy = x - ix, y - iy
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    # The 4 corner hashes share their linear parts: (ix + 1) * A = ix * A + A (exact int64 arithmetic).
    hx = ix.long().mul_(374761393)
    hy = iy.long().mul_(668265263).add_(seed * 2147483647)
    h00 = hx + hy
    a, b = _hash_mixed(h00 + 0), _hash_mixed(h00 + 374761393)
    h00 += 668265263
    c, d = _hash_mixed(h00 + 0), _hash_mixed(h00.add_(374761393))
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def _fbm(s: Tensor, t: Tensor, scale: float, seed: int, octaves: int = 4) -> Tensor:
    total, weight, norm = torch.zeros_like(s), 1.0, 0.0
    for k in range(octaves):
        total += weight * _noise(s, t, scale / 2**k, seed + 17 * k)
        norm += weight
        weight *= 0.5
    return total / norm


def _mix(a: tuple[float, float, float], b: tuple[float, float, float], w: Tensor) -> Tensor:
    ta, tb = torch.tensor(a, dtype=w.dtype), torch.tensor(b, dtype=w.dtype)
    return ta + (tb - ta) * w[:, None]


def _wallpaper(s: Tensor, t: Tensor, mat: int, axis: Tensor) -> Tensor:
    base = _mix((0.78, 0.72, 0.62), (0.62, 0.66, 0.70), _fbm(s, t, 0.9, 100 + mat, 3))
    # Small printed motifs: a lattice of dots of random colour and size.
    cs, ct = torch.floor(s / 0.22), torch.floor(t / 0.22)
    ds, dt = s / 0.22 - cs - 0.5, t / 0.22 - ct - 0.5
    radius = 0.12 + 0.18 * _hash(cs.long(), ct.long(), 200 + mat)
    dot = (ds * ds + dt * dt) < radius**2
    hue = _hash(cs.long(), ct.long(), 300 + mat)
    dot_color = _palette(hue)
    out = torch.where(dot[:, None], 0.55 * base + 0.45 * dot_color, base)
    # Framed paintings of random blobs on each wall.
    for k, (s0, t0, sw, th) in enumerate(_PAINTINGS.get(mat, ())):
        inside = (s >= s0) & (s <= s0 + sw) & (t >= t0) & (t <= t0 + th)
        if not bool(inside.any()):
            continue
        ps, pt = s[inside] - s0, t[inside] - t0  # only the pixels of this painting are painted
        art = _painting(ps, pt, 1000 + 10 * mat + k)
        frame = ~((ps >= 0.06) & (ps <= sw - 0.06) & (pt >= 0.06) & (pt <= th - 0.06))
        out[inside] = torch.where(frame[:, None], torch.tensor((0.18, 0.12, 0.08), dtype=s.dtype), art)
    return out


# Paintings per wall material: (s0, t0, width, height) in surface coordinates (metres).
_PAINTINGS = {
    0: ((1.2, -0.9, 1.1, 0.8), (3.4, -0.6, 0.7, 1.0)),
    1: ((1.8, -1.0, 1.3, 0.9), (4.0, -0.2, 0.6, 0.6)),
    5: ((-2.1, -1.0, 1.2, 0.9), (-0.5, -1.1, 1.4, 1.0), (1.1, -0.5, 0.6, 0.8)),
    4: ((-1.0, -0.8, 1.5, 1.0),),
}


def _painting(s: Tensor, t: Tensor, seed: int) -> Tensor:
    """Colourful overlapping discs and squares on a noisy ground: many corners and blobs for SIFT."""
    out = _mix((0.9, 0.85, 0.7), (0.3, 0.45, 0.6), _fbm(s, t, 0.3, seed, 3))
    generator = torch.Generator().manual_seed(seed)
    cx, cy, r, hue, kind = torch.rand(24, 5, generator=generator, dtype=torch.float64).unbind(dim=1)
    cx, cy, r = cx * 1.4, cy * 1.0, 0.03 + 0.12 * r
    ds, dt = s[:, None] - cx, t[:, None] - cy  # (n 24)
    disc = ds * ds + dt * dt < r * r
    rect = (ds.abs() < r) & (dt.abs() < 0.7 * r)
    covered = torch.where(kind < 0.5, disc, rect)
    # Later shapes are painted over earlier ones: the highest covering index wins.
    top = (covered * torch.arange(1, 25, dtype=torch.int64)).amax(dim=1)
    shape_color = _palette(hue[(top - 1).clamp_min(0)])
    return torch.where((top > 0)[:, None], shape_color, out)


def _palette(hue: Tensor) -> Tensor:
    """Saturated colours along a hue circle. Shapes: (n,) in [0, 1) -> (n 3)."""
    angle = 2 * math.pi * hue[:, None] + torch.tensor((0.0, 2.1, 4.2), dtype=hue.dtype)
    return 0.5 + 0.45 * torch.cos(angle)


def _ceiling(s: Tensor, t: Tensor, mat: int, axis: Tensor) -> Tensor:
    panel = ((torch.remainder(s, 1.2) < 0.03) | (torch.remainder(t, 1.2) < 0.03)).double()
    base = _mix((0.86, 0.86, 0.84), (0.74, 0.74, 0.72), _fbm(s, t, 0.5, 400, 3))
    return base * (1 - 0.35 * panel[:, None])


def _floor(s: Tensor, t: Tensor, mat: int, axis: Tensor) -> Tensor:
    # Planks 0.2 m wide along z, each with its own tone, grain and staggered joints.
    plank = torch.floor(s / 0.2)
    offset = _hash(plank.long(), torch.zeros_like(plank).long(), 500) * 1.5
    segment = torch.floor((t + offset) / 1.5)
    tone = _hash(plank.long(), segment.long(), 501)
    grain = _fbm(s * 6.0, t * 0.6, 0.25, 502, 4)
    wood = _mix((0.55, 0.36, 0.2), (0.34, 0.2, 0.1), 0.6 * tone + 0.4 * grain)
    seam = (torch.remainder(s, 0.2) < 0.012) | (torch.remainder(t + offset, 1.5) < 0.012)
    wood = torch.where(seam[:, None], wood * 0.45, wood)
    # A rug with a diamond pattern and a border.
    rug = (s > -1.2) & (s < 1.4) & (t > 1.6) & (t < 3.6)
    diamond = torch.remainder(torch.floor((s + t) / 0.25) + torch.floor((s - t) / 0.25), 2)
    rug_color = _mix((0.62, 0.12, 0.14), (0.93, 0.8, 0.45), diamond)
    rug_color = rug_color * (0.8 + 0.2 * _fbm(s, t, 0.05, 503, 2))[:, None]
    border = rug & ~((s > -1.05) & (s < 1.25) & (t > 1.75) & (t < 3.45))
    rug_color = torch.where(border[:, None], torch.tensor((0.15, 0.2, 0.45), dtype=s.dtype), rug_color)
    return torch.where(rug[:, None], rug_color, wood)


def _table(s: Tensor, t: Tensor, mat: int, axis: Tensor) -> Tensor:
    wood = _mix((0.45, 0.28, 0.16), (0.25, 0.14, 0.08), _fbm(s * 4, t, 0.3, 600, 4))
    # A chequered board on the table top (the y = const face).
    board = (axis == 1) & (s > -1.35) & (s < -0.75) & (t > 3.2) & (t < 3.8)
    cells = torch.remainder(torch.floor((s + 1.35) / 0.075) + torch.floor((t - 3.2) / 0.075), 2)
    board_color = _mix((0.95, 0.93, 0.85), (0.08, 0.08, 0.08), cells)
    return torch.where(board[:, None], board_color, wood)


def _cabinet(s: Tensor, t: Tensor, mat: int, axis: Tensor) -> Tensor:
    base = _mix((0.2, 0.38, 0.36), (0.12, 0.26, 0.25), _fbm(s, t, 0.2, 700, 3))
    drawers = torch.remainder(t + 0.3, 0.45) < 0.025
    knobs = ((torch.remainder(t + 0.3, 0.45) - 0.22) ** 2 + (torch.remainder(s, 0.55) - 0.27) ** 2) < 0.03**2
    out = torch.where(drawers[:, None], base * 0.4, base)
    return torch.where(knobs[:, None], torch.tensor((0.85, 0.7, 0.3), dtype=s.dtype), out)


def _crate(s: Tensor, t: Tensor, mat: int, axis: Tensor) -> Tensor:
    slats = torch.floor(t / 0.09)
    tone = _hash(slats.long(), axis.long(), 800)
    wood = _mix((0.72, 0.55, 0.32), (0.5, 0.36, 0.2), 0.5 * tone + 0.5 * _fbm(s * 3, t, 0.2, 801, 3))
    gap = torch.remainder(t, 0.09) < 0.008
    return torch.where(gap[:, None], wood * 0.35, wood)
