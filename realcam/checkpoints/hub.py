"""The released weights: where they come from, where they are cached, and one clear message when they are missing.

Files are fetched with `huggingface_hub` into its cache (`HF_HUB_CACHE`, or `REALCAM_CACHE` if set) and resolved
from there without network access afterwards; `HF_HUB_OFFLINE=1` is respected.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from realcam.errors import InputError, WeightsMissingError

MODEL_VARIANTS = ("256", "512")
DEPTH_VARIANTS = ("indoor", "outdoor")


@dataclass(frozen=True)
class WeightFile:
    """One public file: a Hugging Face repository, a file name in it, and what it is."""

    key: str  # realcam's name for it, e.g. "base-256"
    repo_id: str
    filename: str
    description: str
    approx_size_gb: float


WEIGHT_FILES: dict[str, WeightFile] = {
    f.key: f
    for f in (
        WeightFile("base-256", "Doubiiu/DynamiCrafter", "model.ckpt", "DynamiCrafter 256x256 base", 10.4),
        WeightFile("base-512", "Doubiiu/DynamiCrafter_512", "model.ckpt", "DynamiCrafter 512x320 base", 10.4),
        WeightFile(
            "realcam-256", "MuteApo/CamI2V", "256_realcam-i2v_50k.safetensors", "RealCam-I2V camera plugin, 256", 1.0
        ),
        WeightFile(
            "realcam-512", "MuteApo/CamI2V", "512_realcam-i2v_50k.safetensors", "RealCam-I2V camera plugin, 512", 1.0
        ),
        WeightFile(
            "depth-indoor",
            "depth-anything/Depth-Anything-V2-Metric-Hypersim-Large",
            "depth_anything_v2_metric_hypersim_vitl.pth",
            "Depth-Anything-V2 metric, indoor (Hypersim, 20 m)",
            1.3,
        ),
        WeightFile(
            "depth-outdoor",
            "depth-anything/Depth-Anything-V2-Metric-VKITTI-Large",
            "depth_anything_v2_metric_vkitti_vitl.pth",
            "Depth-Anything-V2 metric, outdoor (Virtual KITTI 2, 80 m)",
            1.3,
        ),
        WeightFile(
            "clip-vocab", "laion/CLIP-ViT-H-14-laion2B-s32B-b79K", "vocab.json", "OpenCLIP tokenizer vocabulary", 0.001
        ),
        WeightFile(
            "clip-merges", "laion/CLIP-ViT-H-14-laion2B-s32B-b79K", "merges.txt", "OpenCLIP tokenizer BPE merges", 0.001
        ),
    )
}


COMPONENTS = ("base", "camera", "depth", "tokenizer")


def component_of(file: WeightFile) -> str:
    """Which part of the setup a file belongs to: base, camera (the RealCam-I2V plugin), depth or tokenizer."""
    prefix = file.key.split("-")[0]
    return {"base": "base", "realcam": "camera", "depth": "depth", "clip": "tokenizer"}[prefix]


def files_for(model: str = "256", depth: str = "indoor", only: Sequence[str] | None = None) -> list[WeightFile]:
    """The files one generation setup needs: base + camera plugin of `model`, the depth model, the tokenizer;
    `only` keeps just those components (e.g. `("depth",)` for the depth model alone)."""
    if model not in MODEL_VARIANTS:
        raise InputError(f"model must be one of {MODEL_VARIANTS}, got {model!r}")
    if depth not in DEPTH_VARIANTS:
        raise InputError(f"depth must be one of {DEPTH_VARIANTS}, got {depth!r}")
    unknown = sorted(set(only or ()) - set(COMPONENTS))
    if unknown:
        raise InputError(f"unknown weight component(s) {unknown}; choose from {list(COMPONENTS)}")
    keys = [f"base-{model}", f"realcam-{model}", f"depth-{depth}", "clip-vocab", "clip-merges"]
    files = [WEIGHT_FILES[k] for k in keys]
    return [f for f in files if not only or component_of(f) in only]


def local_paths(
    model: str,
    *,
    base: str | os.PathLike | None = None,
    camera_plugin: str | os.PathLike | None = None,
    depth: str | os.PathLike | None = None,
    depth_variant: str = "indoor",
    tokenizer_dir: str | os.PathLike | None = None,
) -> dict[str, Path]:
    """Local weight files keyed like `files_for` (the `paths=` of `RealCamPipeline.from_pretrained`); a file not
    given is left out, so it comes from the cache. `tokenizer_dir` holds the CLIP `vocab.json` and `merges.txt`."""
    given = {
        f"base-{model}": base,
        f"realcam-{model}": camera_plugin,
        f"depth-{depth_variant}": depth,
        "clip-vocab": None if tokenizer_dir is None else Path(tokenizer_dir) / "vocab.json",
        "clip-merges": None if tokenizer_dir is None else Path(tokenizer_dir) / "merges.txt",
    }
    return {key: Path(value) for key, value in given.items() if value is not None}


def cache_dir() -> Path:
    """Where weights are cached: `$REALCAM_CACHE`, else huggingface_hub's cache (`$HF_HUB_CACHE` / `$HF_HOME/hub`)."""
    if os.environ.get("REALCAM_CACHE"):
        return Path(os.environ["REALCAM_CACHE"]).expanduser()
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def locate(file: WeightFile, *, cache: Path | None = None) -> Path | None:
    """Path of the cached file, or None; never touches the network."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(file.repo_id, file.filename, cache_dir=str(cache or cache_dir()))
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def cache_location(file: WeightFile, *, cache: Path | None = None) -> Path:
    """Where `download` puts the file, whether or not it is there: huggingface_hub's layout
    `<cache>/models--<org>--<name>/snapshots/<revision>/<filename>`; the revision folder is named after the commit
    that is current at download time, so it is shown as the literal `<revision>` here."""
    folder = "models--" + file.repo_id.replace("/", "--")
    return (cache or cache_dir()) / folder / "snapshots" / "<revision>" / file.filename


def _network_error_types() -> tuple[type[BaseException], ...]:
    """Transport-level error classes of the HTTP clients huggingface_hub may use (httpx, its fork, requests)."""
    import importlib

    found = []
    for module, name in (("httpx2", "HTTPError"), ("httpx", "HTTPError"), ("requests", "RequestException")):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def download(file: WeightFile, *, cache: Path | None = None) -> Path:
    """Fetch one file into the cache (or return it from there). Honours `HF_HUB_OFFLINE`.

    Every hub failure becomes one WeightsMissingError that names the file and what to do (`download_failure`)."""
    from huggingface_hub import errors as hub_errors
    from huggingface_hub import hf_hub_download

    where = cache or cache_dir()
    failures = (
        hub_errors.EntryNotFoundError,  # also LocalEntryNotFoundError (offline) and RemoteEntryNotFoundError
        hub_errors.HfHubHTTPError,  # gated, repository / revision not found, other HTTP statuses
        hub_errors.XetDownloadError,
        OSError,  # disk full, permissions, connection resets
        *_network_error_types(),
    )
    try:
        return Path(hf_hub_download(file.repo_id, file.filename, cache_dir=str(where)))
    except failures as error:
        raise WeightsMissingError(
            f"{download_failure(file, where, error)} [{type(error).__name__}: {_first_line(error)}]"
        ) from error


def download_failure(file: WeightFile, cache: Path, error: BaseException) -> str:
    """One sentence saying why `file` could not be fetched into `cache` and what to do about it."""
    from huggingface_hub import errors as hub_errors

    name = f"{file.repo_id}/{file.filename}"
    if isinstance(error, hub_errors.LocalEntryNotFoundError):
        return (
            f"{name} is not in the cache {cache} and cannot be fetched (offline: HF_HUB_OFFLINE is set, or no "
            "network); connect and rerun, or copy the file into the cache"
        )
    if isinstance(error, hub_errors.GatedRepoError):
        return (
            f"{file.repo_id} is a gated repository: accept its terms at https://huggingface.co/{file.repo_id} while "
            "logged in, then run `hf auth login` (or set HF_TOKEN) and rerun"
        )
    if isinstance(error, hub_errors.RepositoryNotFoundError):
        return f"repository {file.repo_id} not found (or private and no valid token is set: `hf auth login`)"
    if isinstance(error, hub_errors.RevisionNotFoundError):
        return f"the requested revision of {file.repo_id} was not found on the hub"
    if isinstance(error, hub_errors.EntryNotFoundError):
        return f"{file.repo_id} has no file {file.filename!r} (the repository layout may have changed)"
    if isinstance(error, hub_errors.HfHubHTTPError):
        status = getattr(getattr(error, "response", None), "status_code", None)
        return f"the hub answered HTTP {status if status is not None else '(no status)'} for {name}; retry later"
    return f"downloading {name} into {cache} failed (network or disk problem); check both and rerun"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "no details"


def download_command(model: str = "256", depth: str = "indoor", only: Sequence[str] | None = None) -> str:
    """The `realcam weights download` line that fetches these files (just the `only` components when given)."""
    parts = sorted(set(only or ()), key=COMPONENTS.index)
    if not parts or set(parts) == set(COMPONENTS):
        return f"realcam weights download --model {model} --depth {depth}"
    words = ["realcam weights download"]
    if {"base", "camera"} & set(parts):
        words.append(f"--model {model}")
    if "depth" in parts:
        words.append(f"--depth {depth}")
    return " ".join([*words, "--only", *parts])


def _whole_set_hint(missing: list[WeightFile], model: str, depth: str) -> str:
    """When only some parts are missing, say how to fetch everything at once (e.g. the depth model for photos)."""
    if {component_of(f) for f in missing} == set(COMPONENTS):
        return ""
    return f"; `{download_command(model, depth)}` fetches the whole set"


def require(files: list[WeightFile], *, model: str = "256", depth: str = "indoor", cache: Path | None = None) -> dict:
    """`{file.key: path}` for every file, or one WeightsMissingError naming all missing files and the command to run."""
    found, missing = {}, []
    for file in files:
        path = locate(file, cache=cache)
        if path is None:
            missing.append(file)
        else:
            found[file.key] = path
    if missing:
        names = "\n".join(f"  - {f.repo_id}/{f.filename} ({f.description}, ~{f.approx_size_gb:g} GB)" for f in missing)
        raise WeightsMissingError(
            f"model weights are missing from {cache or cache_dir()}:\n{names}\n"
            f"run `{download_command(model, depth, [component_of(f) for f in missing])}` to fetch them (or pass local "
            f"files explicitly){_whole_set_hint(missing, model, depth)}"
        )
    return found
