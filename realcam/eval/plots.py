"""Plots of estimated vs ground-truth camera trajectories (matplotlib, headless Agg backend)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from realcam.eval.metrics import relative_to_first, trajectory_extent


@dataclass(frozen=True)
class PlotEntry:
    """One panel: gt_c2w and est_c2w (f 4 4) OpenCV c2w, each drawn relative to its frame 0 and divided by its own
    extent (the relative-scale view that RotErr/TransErr_rel measure)."""

    label: str
    name: str
    gt_c2w: np.ndarray
    est_c2w: np.ndarray
    rot_err: float
    trans_err_rel: float


def best_and_worst(rows: Sequence, records: Sequence, samples: Mapping[str, object], count: int = 2) -> list[PlotEntry]:
    """Up to `count` best and `count` worst successful samples by CamMC_rel (rotation and translation together),
    each drawn with its first successful trial."""
    usable = [r for r in rows if r.status == "ok" and math.isfinite(r.metrics["cammc_rel"])]
    scored = sorted(usable, key=lambda r: r.metrics["cammc_rel"])
    if not scored:
        return []
    chosen = [("best", r) for r in scored[:count]]
    chosen += [("worst", r) for r in scored[::-1][: min(count, max(len(scored) - count, 0))]]
    entries = []
    for label, row in chosen:
        trials = sorted((t for t in records if t.name == row.name and t.ok and t.est_c2w), key=lambda t: t.trial)
        trial = trials[0] if trials else None
        sample = samples.get(row.name)
        if trial is None or sample is None:
            continue
        entries.append(
            PlotEntry(
                label,
                row.name,
                np.asarray(sample.gt_c2w),
                np.asarray(trial.est_c2w),
                row.metrics["rot_err"],
                row.metrics["trans_err_rel"],
            )
        )
    return entries


def _normalised_positions(c2w: np.ndarray) -> np.ndarray:
    rel = relative_to_first(c2w)
    extent = trajectory_extent(rel)
    return rel[:, :3, 3] / extent if extent > 0 else rel[:, :3, 3]


def _equal_axes(axes, positions: np.ndarray) -> None:
    """Same scale on all three axes (plot coordinates x, z, -y), so shapes are not distorted."""
    plotted = np.stack([positions[:, 0], positions[:, 2], -positions[:, 1]], axis=1)
    centre = (plotted.max(axis=0) + plotted.min(axis=0)) / 2
    half = max(float((plotted.max(axis=0) - plotted.min(axis=0)).max()) / 2, 0.1) * 1.1
    axes.set_xlim(centre[0] - half, centre[0] + half)
    axes.set_ylim(centre[1] - half, centre[1] + half)
    axes.set_zlim(centre[2] - half, centre[2] + half)
    axes.set_box_aspect((1, 1, 1))


def plot_trajectories(entries: Sequence[PlotEntry], path: str | Path) -> None:
    """One 3D panel per entry: ground truth (black) and estimate (red) camera centres with viewing directions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(len(entries), 4)
    rows = math.ceil(len(entries) / cols)
    figure = plt.figure(figsize=(4 * cols, 4 * rows))
    for index, entry in enumerate(entries):
        axes = figure.add_subplot(rows, cols, index + 1, projection="3d")
        for c2w, colour, label in ((entry.gt_c2w, "black", "ground truth"), (entry.est_c2w, "tab:red", "estimate")):
            positions = _normalised_positions(c2w)
            forward = relative_to_first(c2w)[:, :3, 2] * 0.15
            axes.plot(positions[:, 0], positions[:, 2], -positions[:, 1], color=colour, marker="o", ms=2, label=label)
            axes.quiver(
                positions[:, 0], positions[:, 2], -positions[:, 1], forward[:, 0], forward[:, 2], -forward[:, 1],
                color=colour, linewidth=0.5,
            )  # fmt: skip
        axes.set_title(
            f"{entry.label}: {entry.name}\nRotErr {entry.rot_err:.3f} rad, TransErr_rel {entry.trans_err_rel:.3f}",
            fontsize=8,
        )
        _equal_axes(axes, np.concatenate([_normalised_positions(entry.gt_c2w), _normalised_positions(entry.est_c2w)]))
        axes.set_xlabel("x (right)")
        axes.set_ylabel("z (forward)")
        axes.set_zlabel("-y (up)")
        if index == 0:
            axes.legend(fontsize=7)
    figure.suptitle("Camera trajectories relative to frame 0, each scaled by its own extent", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    plt.close(figure)
