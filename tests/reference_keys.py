"""The full-size reference state-dict key table (`tests/fixtures/state-dict-keys.tsv`) for checkpoint-contract tests.

Usage: `reference_key_shapes("256", "model.diffusion_model.")` returns `{key without prefix: shape}` of the 256 model's
UNet; `reference_key_rows()` returns every row (key, shape, source, res) for tests that need the source column.
The table's header comment says how it was derived; `res` is "both", "256-only" or "512-only".
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

KEY_TABLE = Path(__file__).parent / "fixtures" / "state-dict-keys.tsv"
VARIANTS = ("256", "512")


@dataclass(frozen=True)
class ReferenceKey:
    """One row of the table: key, shape in PyTorch order, source file (DC_BASE / REALCAM / DEPTH), resolution."""

    key: str
    shape: tuple[int, ...]
    source: str
    res: str


def _parse_shape(text: str) -> tuple[int, ...]:
    """'(1280, 320)' -> (1280, 320); '(1280,)' -> (1280,); '()' -> ()."""
    return tuple(int(s) for s in text.strip("()").split(",") if s.strip())


@functools.cache
def reference_key_rows() -> tuple[ReferenceKey, ...]:
    """Every key row of the table in file order (comment lines, the header and blank lines skipped)."""
    rows = []
    for line in KEY_TABLE.read_text().splitlines():
        if not line.strip() or line.startswith(("#", "key\t")):
            continue
        key, shape, source, res = line.split("\t")
        rows.append(ReferenceKey(key, _parse_shape(shape), source, res))
    return tuple(rows)


def reference_key_shapes(
    variant: str | None, prefix: str | None = None, *, strip_prefix: bool = True
) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of the reference state dict of `variant` ("256" / "512"; None: the rows of both resolutions)
    whose key starts with `prefix` (None: all keys). The prefix is removed from the returned keys unless
    `strip_prefix=False`."""
    if variant is not None and variant not in VARIANTS:
        raise ValueError(f"variant: expected one of {VARIANTS} or None, got {variant!r}")
    allowed = ("both", "256-only", "512-only") if variant is None else ("both", f"{variant}-only")
    prefix = prefix or ""
    cut = len(prefix) if strip_prefix else 0
    return {
        row.key[cut:]: row.shape for row in reference_key_rows() if row.res in allowed and row.key.startswith(prefix)
    }
