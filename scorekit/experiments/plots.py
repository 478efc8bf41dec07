"""Figures a person would rather look at than read."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # files only; never opens a window
import matplotlib.pyplot as plt
import numpy as np

from scorekit.data.atomic import atomic_path
from scorekit.data.labelmap import LabelMap
from scorekit.data.volume import Volume

BONE_WINDOW = (-250.0, 1250.0)  # HU shown from black to white


def contour_overview(image: Volume, segmentations: dict[str, LabelMap],
                     path: str | os.PathLike, title: str = "") -> None:
    """Coronal slice through each region's centre, with one contour colour per segmentation.

    ``segmentations`` maps a legend label (e.g. "initial", "refined", "reference") to a label
    map on the image's grid; the first one decides which regions are shown. Later entries
    are drawn first and wider, so a thin contour stays visible on top of the one it should
    match (the reference, drawn last in the legend, is the wide translucent line).
    """
    first = next(iter(segmentations.values()))
    names = first.names
    sz, _, sx = image.geometry.spacing_zyx
    colors = ["#ffb000", "#00c0ff", "#40ff40", "#ff4080"]
    width = max(2.6 * len(names), 4.5)  # room for the legend under a single region
    fig, axes = plt.subplots(1, len(names), figsize=(width, 6), squeeze=False)
    for ax, name in zip(axes[0], names):
        mask = first.mask(name)
        y = int(np.round(np.nonzero(mask)[1].mean())) if mask.any() else mask.shape[1] // 2
        ax.imshow(image.array[:, y, :], cmap="gray", vmin=BONE_WINDOW[0], vmax=BONE_WINDOW[1],
                  origin="lower", aspect=sz / sx, interpolation="nearest")
        drawn = list(zip(colors, segmentations.values()))
        for order, (color, seg) in reversed(list(enumerate(drawn))):
            width, alpha = 1.0 + 1.5 * order / max(len(drawn) - 1, 1), 1.0 - 0.2 * order
            if name in seg.names:
                ax.contour(seg.mask(name)[:, y, :], levels=[0.5], colors=color,
                           linewidths=width, alpha=alpha)
        if mask.any():  # crop to the region, with a margin
            xs = np.nonzero(mask.any(axis=(0, 1)))[0]
            ax.set_xlim(max(xs.min() - 12, 0) - 0.5, min(xs.max() + 12, mask.shape[2] - 1) + 0.5)
        ax.set_title(name, fontsize=10)
        ax.set_axis_off()
    handles = [plt.Line2D([], [], color=c, lw=2) for c, _ in zip(colors, segmentations)]
    fig.legend(handles, list(segmentations), loc="lower center", ncol=len(segmentations),
               fontsize=9, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png", bbox_inches="tight")  # no empty bands
    plt.close(fig)


def boxplots(rows: list[dict], path: str | os.PathLike) -> None:
    """Dice per method (boxes) for each test set (panels), from benchmark result rows."""
    test_sets = list(dict.fromkeys(r["test_set"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig, axes = plt.subplots(1, len(test_sets), figsize=(1.0 + 0.9 * len(methods) * len(test_sets),
                                                         4.2), squeeze=False, sharey=True)
    for ax, test_set in zip(axes[0], test_sets):
        values = [[float(r["dice"]) for r in rows
                   if r["method"] == method and r["test_set"] == test_set] for method in methods]
        ax.boxplot(values, showmeans=True)
        ax.set_xticks(range(1, len(methods) + 1), methods, rotation=60, ha="right", fontsize=8)
        ax.set_title(test_set, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("Dice (per case and region)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
