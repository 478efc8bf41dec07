"""The WeakStatSeg benchmark (``scorekit weakstat benchmark``): the paper's loss ablation on
a dataset with masks.

Every configuration trains from the same seed on the same training images (weak masks made
from the references, statistics measured from them) and is scored by IoU and Dice on
held-out images whose groups (patients) it never saw: one held-out split, or with
``folds`` = K a K-fold cross-validation by patient (``data.fold_splits``: the dataset's own
folds where it gives them). With ``pretrain``, each fold first pretrains a network on its
training images alone (``pretrain.py``) and every configuration starts from it.

Writes ``results.csv`` (fold, config, image, iou, dice), ``folds.csv`` (per fold and
configuration: images, mean IoU and Dice, ratio to full supervision, seconds), ``table.md``
(the paper's Table 1 layout, mean (std) over folds, then per-fold rows), ``boxplots.png``
and ``overlays.png``.

A folder of CT scans with vertebra masks (``scorekit.data.verse``) gives one volume per
vertebra (``data.py``), so the same benchmark runs in 3D on VerSe-shaped data, folds by scan,
and with ``largest_slice`` on each vertebra's axial slice with the most bone (the paper's 2D
protocol) beside it.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from scorekit import registry
from scorekit.data.atomic import atomic_path, write_csv_atomic, write_text_atomic
from scorekit.errors import ScoreKitError
from scorekit.experiments.results import empty_output_folder, mean_std, read_results
from scorekit.experiments.weakstat_configs import CONFIGS, TITLES
from scorekit.metrics import dice, iou
from scorekit.progress import Progress, Silent
from scorekit.weakstat.data import (
    Sample,
    fold_splits,
    largest_roi_slice,
    largest_roi_slices,
    read_dataset,
    split_by_group,
)
from scorekit.weakstat.model import WeakStatConfig
from scorekit.weakstat.train import predict, train

RESULT_COLUMNS = ["fold", "config", "image", "iou", "dice", "structure"]  # structure: CT cubes
FOLD_COLUMNS = ["fold", "config", "images", "iou", "dice", "ratio_to_full", "seconds"]


@dataclass(frozen=True)
class WeakStatPlan:
    backbone: str
    size: list[int]
    steps: int
    batch: int = 8
    pretrain_steps: int = 0  # used with ``pretrain``
    # the learning rate's cosine decay (config.lr_decay): it helps the long default plan
    # and costs the 300-step quick plans (measured without it) what they have not learnt
    lr_decay: bool = True


WEAKSTAT_PLANS = {
    # quick: 6 configurations × 5 folds of BUS-BRA in ~12 min on one CPU core (docs);
    # full: the default plan of ``weakstat train`` (registry), ~4 min a training on 2 cores.
    2: {"quick": WeakStatPlan("unet2d", [96, 96], 300, 8, 300, lr_decay=False),
        "full": WeakStatPlan(registry.WEAKSTAT_BACKBONES[2][0], list(registry.WEAKSTAT_GRID[2]),
                             registry.WEAKSTAT_STEPS, 8, registry.WEAKSTAT_STEPS)},
    3: {"quick": WeakStatPlan("unet3d", [64, 64, 64], 400, 2, 400, lr_decay=False),
        "full": WeakStatPlan("unet3d", [64, 64, 64], 1500, 2, 1500)},
}


def run_weakstat_benchmark(data: str | os.PathLike, out: str | os.PathLike,
                           quick: bool = False, device: str = "auto",
                           progress: Progress | None = None, configs: list[str] | None = None,
                           plan: WeakStatPlan | None = None, test_fraction: float = 0.27,
                           seed: int = 0, largest_slice: bool = False,
                           backbone_weights: str | None = None, folds: int | None = None,
                           pretrain: bool = False, priors: list[str] | None = None,
                           roi_contrast: str = registry.WEAKSTAT_ROI_CONTRASTS[0],
                           steps: int | None = None, structures: list[str] | None = None
                           ) -> Path:
    """``plan``: the quick or full plan of the data's dimension unless given; ``steps``
    overrides its steps; ``structures``: which a CT folder's cubes hold."""
    progress = progress or Silent()
    out = empty_output_folder(out)
    samples = _benchmark_samples(data, largest_slice, structures)
    names = _config_names(configs)
    plan = plan or WEAKSTAT_PLANS[samples[0].dims]["quick" if quick else "full"]
    if steps:
        plan = replace(plan, steps=steps)
    splits = (fold_splits(samples, folds, seed) if folds
              else [split_by_group(samples, test_fraction, seed)])
    progress.log(f"{len(splits)} fold(s) of {len(samples)} images; backbone {plan.backbone} at "
                 f"{'x'.join(map(str, plan.size))}, {plan.steps} steps"
                 + (f", pretrained {plan.pretrain_steps} steps" if pretrain else ""))
    rows, fold_rows, overlays, started = [], [], {}, time.perf_counter()
    for fold, (train_set, test_set) in enumerate(splits, start=1):
        weights = backbone_weights
        if pretrain:
            weights = _pretrain_fold(train_set, plan, samples[0].dims, seed, device, progress,
                                     out / f"pretrained-fold{fold}.safetensors")
        for name in names:
            masks, seconds = _train_and_predict(name, train_set, test_set, plan, seed, device,
                                                progress, weights, samples[0].dims, priors,
                                                roi_contrast)
            rows += [{"fold": fold, "config": name, "image": s.name,
                      "iou": round(iou(p, s.mask), 5), "dice": round(dice(p, s.mask), 5),
                      "structure": s.structure} for s, p in zip(test_set, masks)]
            fold_rows.append(_fold_row(fold, name, rows, seconds))
            progress.log(f"fold {fold} {name}: IoU {100 * fold_rows[-1]['iou']:.1f} "
                         f"({seconds:.0f} s)")
            if fold == 1:
                overlays[name] = masks
        _add_ratios(fold_rows, fold)
    total = time.perf_counter() - started
    write_csv_atomic(out / "results.csv", rows, RESULT_COLUMNS)
    write_csv_atomic(out / "folds.csv", fold_rows, FOLD_COLUMNS)
    write_text_atomic(out / "table.md", table_markdown(fold_rows, names, Path(data).name, plan,
                                                       total, pretrain)
                      + structure_table(rows, names))
    _write_boxplots(out / "boxplots.png", rows, names)
    _write_overlays(out / "overlays.png", splits[0][1], overlays, names)
    return out


def _benchmark_samples(data, largest_slice: bool, structures: list[str] | None
                       ) -> list[Sample]:
    samples = read_dataset(data, structures)
    if largest_slice:
        samples = largest_roi_slices(samples)
    missing = [s.name for s in samples if s.mask is None]
    if missing:
        raise ScoreKitError(f"{missing[0]}: the benchmark needs reference masks for every image")
    return samples


def _config_names(configs: list[str] | None) -> list[str]:
    names = configs or list(CONFIGS)
    unknown = set(names) - set(CONFIGS)
    if unknown:
        raise ScoreKitError(f"unknown config(s) {', '.join(sorted(unknown))}; one of "
                            + ", ".join(CONFIGS))
    return names


def _pretrain_fold(train_set: list[Sample], plan: WeakStatPlan, dims: int, seed: int,
                   device: str, progress: Progress, path: Path) -> str:
    from scorekit.weakstat.pretrain import pretrain, save_pretrained

    config = WeakStatConfig(dims=dims, backbone=plan.backbone, size=list(plan.size),
                            steps=plan.pretrain_steps, batch=plan.batch, seed=seed)
    network = pretrain([s.image for s in train_set], config, device, progress)
    save_pretrained(network, config, path)
    return str(path)


def _train_and_predict(name: str, train_set: list[Sample], test_set: list[Sample],
                       plan: WeakStatPlan, seed: int, device: str, progress: Progress,
                       backbone_weights: str | None, dims: int, priors: list[str] | None,
                       roi_contrast: str) -> tuple[list[np.ndarray], float]:
    losses, weak_size = CONFIGS[name]
    config = WeakStatConfig(dims=dims, backbone=plan.backbone, size=list(plan.size),
                            losses=list(losses), weak_size=weak_size, steps=plan.steps,
                            batch=plan.batch, seed=seed, lr_decay=plan.lr_decay,
                            priors=list(registry.WEAKSTAT_PRIORS if priors is None else priors),
                            roi_contrast=roi_contrast)
    config.check()
    started = time.perf_counter()
    network = train(train_set, config, device, progress, backbone_weights)
    device_of = next(network.parameters()).device
    masks = [predict(network, config, s.image, device_of) > 0.5 for s in test_set]
    return masks, time.perf_counter() - started


def _fold_row(fold: int, name: str, rows: list[dict], seconds: float) -> dict:
    mine = [r for r in rows if r["fold"] == fold and r["config"] == name]
    return {"fold": fold, "config": name, "images": len(mine),
            "iou": round(float(np.mean([r["iou"] for r in mine])), 5),
            "dice": round(float(np.mean([r["dice"] for r in mine])), 5),
            "ratio_to_full": "", "seconds": round(seconds, 1)}


RATIO_FLOOR = 0.05  # below this IoU full supervision learnt nothing: no ratio to it


def _add_ratios(fold_rows: list[dict], fold: int) -> None:
    """Each configuration's mean IoU over the fully supervised one's, within ``fold``
    (left empty where that one is below ``RATIO_FLOOR``)."""
    mine = [r for r in fold_rows if r["fold"] == fold]
    full = next((r["iou"] for r in mine if r["config"] == "full"), None)
    for row in mine:
        if full is not None and full >= RATIO_FLOOR:
            row["ratio_to_full"] = round(row["iou"] / full, 4)


def read_weakstat_results(path: str | os.PathLike) -> list[dict]:
    return read_results(path, numeric=("iou", "dice"))


def read_weakstat_folds(path: str | os.PathLike) -> list[dict]:
    return read_results(path, numeric=("iou", "dice", "seconds"))


def table_markdown(fold_rows: list[dict], names: list[str], dataset: str, plan: WeakStatPlan,
                   seconds: float | None = None, pretrained: bool = False) -> str:
    """IoU and Dice in %, mean (std) over folds of each fold's mean, as in the paper's
    Table 1; then the ratio to full supervision and the per-fold IoU."""
    folds = sorted({r["fold"] for r in fold_rows})

    def values(name: str, key: str) -> list[float]:
        return [float(r[key]) for r in fold_rows if r["config"] == name and r[key] != ""]

    def line(label: str, cells: list[str]) -> str:
        return f"| {label} | " + " | ".join(cells) + " |"

    lines = [line("Dataset", [TITLES[n] for n in names]), "|" + "---|" * (len(names) + 1)]
    for key in ("iou", "dice"):
        lines.append(line(f"{dataset} {'IoU' if key == 'iou' else 'Dice'}",
                          [mean_std(100 * np.array(values(n, key)), digits=1) for n in names]))
    if "full" in names:
        lines.append(line("ratio to full", [mean_std(100 * np.array(values(n, "ratio_to_full")),
                                                     digits=0) for n in names]))
    for fold in folds:
        lines.append(line(f"fold {fold} IoU", [
            f"{100 * r['iou']:.1f}" for n in names for r in fold_rows
            if r["fold"] == fold and r["config"] == n]))
    lines.append("")
    count = sum(r["images"] for r in fold_rows if r["config"] == names[0])
    lines.append(f"IoU and Dice in %, mean (std) over {len(folds)} fold(s) of each fold's mean "
                 f"({count} held-out images in all; ratio to full: per fold, in %); "
                 f"{plan.backbone} at {'x'.join(map(str, plan.size))}, {plan.steps} steps"
                 + (", learning rate decaying (cosine)" if plan.lr_decay else "")
                 + (f", pretrained on each fold's training images ({plan.pretrain_steps} steps)"
                    if pretrained else "") + ".")
    if seconds is not None:
        lines.append(f"Total time {seconds / 60:.1f} min.")
    return "\n".join(lines) + "\n"


def structure_table(rows: list[dict], names: list[str]) -> str:
    """IoU in % per structure (CT cubes), mean over its held-out cubes in every fold; empty
    for datasets of other images."""
    structures = sorted({r["structure"] for r in rows if r["structure"]})
    if not structures:
        return ""
    lines = ["", "| structure | cubes | " + " | ".join(TITLES[n] for n in names) + " |",
             "|" + "---|" * (len(names) + 2)]
    for structure in structures:
        mine = [r for r in rows if r["structure"] == structure]
        cells = [f"{100 * np.mean([r['iou'] for r in mine if r['config'] == n]):.1f}"
                 for n in names]
        count = sum(r["config"] == names[0] for r in mine)
        lines.append(f"| {structure} | {count} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\nIoU in % per structure, over its held-out cubes.\n"


def _figure_bytes(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _write_boxplots(path: Path, rows: list[dict], names: list[str]) -> None:
    """Per-image IoU and Dice per configuration over all folds; dots: each fold's mean."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(1.6 * len(names) + 3, 3.6), squeeze=False)
    for ax, key in zip(axes[0], ("iou", "dice")):
        ax.boxplot([[100 * r[key] for r in rows if r["config"] == n] for n in names],
                   showmeans=True)
        for column, name in enumerate(names, start=1):
            folds = sorted({r["fold"] for r in rows if r["config"] == name})
            means = [100 * np.mean([r[key] for r in rows if r["config"] == name
                                    and r["fold"] == f]) for f in folds]
            ax.plot([column] * len(means), means, "o", color="tab:red", markersize=3)
        ax.set_xticks(range(1, len(names) + 1), [TITLES[n] for n in names], rotation=30,
                      ha="right", fontsize=7)
        ax.set_ylabel(f"{'IoU' if key == 'iou' else 'Dice'} (%)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        tmp.write_bytes(_figure_bytes(fig))


def _largest_slice(mask: np.ndarray) -> tuple:
    """Index of a 2D mask's whole array, or of a volume's axial slice with the most ROI."""
    return (Ellipsis,) if mask.ndim == 2 else (largest_roi_slice(mask),)


def _write_overlays(path: Path, test_set: list[Sample], predictions: dict, names: list[str],
                    count: int = 4) -> None:
    plt = _pyplot()
    shown = range(min(count, len(test_set)))
    fig, axes = plt.subplots(len(shown), len(names), figsize=(2.2 * len(names), 2.2 * len(shown)),
                             squeeze=False)
    for row in shown:
        sample = test_set[row]
        view = _largest_slice(sample.mask)
        for column, name in enumerate(names):
            ax = axes[row][column]
            ax.imshow(sample.image[view], cmap="gray", vmin=0, vmax=1)
            ax.contour(sample.mask[view], levels=[0.5], colors="lime", linewidths=1)
            if predictions[name][row][view].any():
                ax.contour(predictions[name][row][view], levels=[0.5], colors="red",
                           linewidths=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(TITLES[name], fontsize=8)
            if column == 0:
                ax.set_ylabel(sample.name, fontsize=7)
    fig.suptitle("reference (green) and prediction (red) on held-out images (fold 1; "
                 "volumes: the reference's largest axial slice)",
                 fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        tmp.write_bytes(_figure_bytes(fig))
