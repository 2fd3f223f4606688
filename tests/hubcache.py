"""Build a local Hugging Face hub cache in the real on-disk layout, for offline tests of download/check/require."""

from __future__ import annotations

import hashlib
from pathlib import Path


def add_to_hub_cache(cache: Path, repo_id: str, filename: str, data: bytes, commit: str = "0" * 40) -> Path:
    """`<cache>/models--org--name/{blobs/<sha256>, refs/main, snapshots/<commit>/<file> -> ../../blobs/<sha256>}`."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    link = repo / "snapshots" / commit / filename
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.exists() or link.is_symlink():
        link.unlink()
    link.symlink_to(Path("../..") / "blobs" / blob.name)
    return link
