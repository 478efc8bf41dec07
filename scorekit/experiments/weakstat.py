"""The WeakStatSeg benchmark (``scorekit weakstat benchmark``): the paper's loss ablation on
a dataset with masks.

Every configuration trains from the same seed on the same training images (weak masks made
from the references, statistics measured from them) and is scored by IoU on held-out images
whose groups (patients) it never saw. Writes ``results.csv`` (config, image, iou),
``table.md`` (the paper's Table 1 layout) and ``overlays.png``.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scorekit.data.atomic import atomic_path, write_csv_atomic, write_text_atomic
from scorekit.errors import ScoreKitError
from scorekit.experiments.results import empty_output_folder, mean_std, read_results
from scorekit.metrics import iou
from scorekit.progress import Progress, Silent
from scorekit.weakstat.data import Sample, largest_roi_slices, read_dataset, split_by_group
from scorekit.weakstat.model import WeakStatConfig
from scorekit.weakstat.train import predict, train

# name → (losses, weak-mask size); column titles in the paper's order.
CONFIGS = {
    "stat-only": (["stat"], None),
    "stat+weak-4%": (["stat", "weak"], 0.04),
    "stat+weak-8%": (["stat", "weak"], 0.08),
    "stat+weak-12%": (["stat", "weak"], 0.12),
    "weak-only": (["weak"], 0.08),
    "full": (["full"], None),
}
TITLES = {"stat-only": "L_s only", "stat+weak-4%": "L_s + L_ws (4 %)",
          "stat+weak-8%": "L_s + L_ws (8 %)", "stat+weak-12%": "L_s + L_ws (12 %)",
          "weak-only": "L_ws only (8 %)", "full": "Fully supervised"}


@dataclass(frozen=True)
class WeakStatPlan:
    backbone: str
    size: list[int]
    steps: int
    batch: int = 8


WEAKSTAT_PLANS = {
    2: {"quick": WeakStatPlan("unet2d", [128, 128], 400),
        "full": WeakStatPlan("resnet50", [256, 256], 1500)},
    3: {"quick": WeakStatPlan("unet3d", [64, 64, 64], 400, 2),
        "full": WeakStatPlan("unet3d", [64, 64, 64], 1500, 2)},
}


def run_weakstat_benchmark(data: str | os.PathLike, out: str | os.PathLike,
                           quick: bool = False, device: str = "auto",
                           progress: Progress | None = None, configs: list[str] | None = None,
                           plan: WeakStatPlan | None = None, test_fraction: float = 0.27,
                           seed: int = 0, largest_slice: bool = False,
                           backbone_weights: str | None = None) -> Path:
    progress = progress or Silent()
    out = empty_output_folder(out)
    samples = read_dataset(data)
    if largest_slice:
        samples = largest_roi_slices(samples)
    missing = [s.name for s in samples if s.mask is None]
    if missing:
        raise ScoreKitError(f"{missing[0]}: the benchmark needs reference masks for every image")
    names = configs or list(CONFIGS)
    unknown = set(names) - set(CONFIGS)
    if unknown:
        raise ScoreKitError(f"unknown config(s) {', '.join(sorted(unknown))}; one of "
                            + ", ".join(CONFIGS))
    dims = samples[0].dims
    plan = plan or WEAKSTAT_PLANS[dims]["quick" if quick else "full"]
    train_set, test_set = split_by_group(samples, test_fraction, seed)
    progress.log(f"{len(train_set)} training and {len(test_set)} test images; backbone "
                 f"{plan.backbone} at {'x'.join(map(str, plan.size))}, {plan.steps} steps")
    rows, predictions, seconds = [], {}, {}
    for name in names:
        losses, weak_size = CONFIGS[name]
        config = WeakStatConfig(dims=dims, backbone=plan.backbone, size=list(plan.size),
                                losses=list(losses), weak_size=weak_size, steps=plan.steps,
                                batch=plan.batch, seed=seed)
        started = time.perf_counter()
        network = train(train_set, config, device, progress, backbone_weights)
        seconds[name] = time.perf_counter() - started
        device_of = next(network.parameters()).device
        predictions[name] = [predict(network, config, s.image, device_of) > 0.5
                             for s in test_set]
        rows += [{"config": name, "image": s.name, "iou": round(iou(p, s.mask), 5)}
                 for s, p in zip(test_set, predictions[name])]
        mean = np.mean([r["iou"] for r in rows if r["config"] == name])
        progress.log(f"{name}: mean IoU {100 * mean:.1f} ({seconds[name]:.0f} s)")
    write_csv_atomic(out / "results.csv", rows, ["config", "image", "iou"])
    write_text_atomic(out / "table.md", table_markdown(rows, names, Path(data).name, plan,
                                                      seconds))
    if dims == 2:
        _write_overlays(out / "overlays.png", test_set, predictions, names)
    return out


def read_weakstat_results(path: str | os.PathLike) -> list[dict]:
    return read_results(path, numeric=("iou",))


def table_markdown(rows: list[dict], names: list[str], dataset: str, plan: WeakStatPlan,
                   seconds: dict[str, float] | None = None) -> str:
    """Mean IoU % (std) per configuration, one row per dataset, as in the paper's Table 1."""
    scores = {n: 100 * np.array([r["iou"] for r in rows if r["config"] == n]) for n in names}
    header = "| Dataset | " + " | ".join(TITLES[n] for n in names) + " |"
    lines = [header, "|" + "---|" * (len(names) + 1),
             f"| {dataset} | " + " | ".join(mean_std(scores[n], digits=1) for n in names)
             + " |", ""]
    lines.append(f"IoU in %, mean (std) over {len(scores[names[0]])} held-out images; "
                 f"{plan.backbone} at {'x'.join(map(str, plan.size))}, {plan.steps} steps.")
    weak_configs = [n for n in names if n.startswith("stat+weak")]
    if "full" in names and weak_configs:
        best = max(weak_configs, key=lambda n: scores[n].mean())
        ratio = scores[best].mean() / max(scores["full"].mean(), 1e-9)
        lines.append(f"Best L_s + L_ws ({best}) reaches {100 * ratio:.0f} % of the fully "
                     "supervised IoU.")
    if seconds:
        lines.append("Training time: " + ", ".join(f"{n} {seconds[n]:.0f} s" for n in names)
                     + ".")
    return "\n".join(lines) + "\n"


def _write_overlays(path: Path, test_set: list[Sample], predictions: dict, names: list[str],
                    count: int = 4) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = range(min(count, len(test_set)))
    fig, axes = plt.subplots(len(shown), len(names), figsize=(2.2 * len(names), 2.2 * len(shown)),
                             squeeze=False)
    for row in shown:
        sample = test_set[row]
        for column, name in enumerate(names):
            ax = axes[row][column]
            ax.imshow(sample.image, cmap="gray", vmin=0, vmax=1)
            ax.contour(sample.mask, levels=[0.5], colors="lime", linewidths=1)
            if predictions[name][row].any():
                ax.contour(predictions[name][row], levels=[0.5], colors="red", linewidths=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(TITLES[name], fontsize=8)
            if column == 0:
                ax.set_ylabel(sample.name, fontsize=7)
    fig.suptitle("reference (green) and prediction (red) on held-out images", fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
