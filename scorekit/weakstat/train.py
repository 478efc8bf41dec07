"""Train and apply WeakStatSeg models: the same shape as the refinement methods (a config,
``train_model`` → a model folder, ``segment_file`` with a model folder).

Images are resampled to the config's grid (bilinear / trilinear; masks nearest). After
training, BatchNorm running statistics are recomputed over the training images with the
final weights: running averages gathered while the weights moved made every configuration
predict empty masks in eval mode; recalibrated statistics fix that (tested).

Beside the paper's losses, training uses augmentation that keeps the statistic exact
(``augment.py``), the spatial priors whose inputs a configuration has (``priors.py``), a
ramp on L_c's weight (``confidence_ramp``) and a mask head that starts at the mean
fraction (``model.start_at_fraction``); docs/weakstatseg.md gives the measurements.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from scorekit import registry
from scorekit.data.atomic import atomic_path, remove_stale_temporaries
from scorekit.data.volume import read_volume, write_volume
from scorekit.devices import autocast, resolve_device
from scorekit.errors import ScoreKitError
from scorekit.progress import Progress, Silent
from scorekit.registry import PICTURE_SUFFIXES
from scorekit.weakstat.augment import augment
from scorekit.weakstat.data import (
    Sample,
    intensity_window,
    largest_roi_slices,
    read_dataset,
    read_with_grid,
    scale_image,
    with_weak_masks,
)
from scorekit.weakstat.losses import LossWeights, total_loss
from scorekit.weakstat.model import (
    WeakStatConfig,
    WeakStatNet,
    load_backbone_weights,
    load_model,
    save_model,
    start_at_fraction,
)
from scorekit.weakstat.priors import contrast_seed, outside_map


def resize(array: np.ndarray, size, nearest: bool) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(array, np.float32))[None, None]
    mode = "nearest" if nearest else ("bilinear" if tensor.ndim == 4 else "trilinear")
    kwargs = {} if nearest else {"align_corners": False}
    return F.interpolate(tensor, size=tuple(size), mode=mode, **kwargs)[0]


def to_grid(samples: list[Sample], config: WeakStatConfig) -> dict[str, torch.Tensor]:
    """Stacked tensors on the training grid: image, mask, weak (N, 1, ...) and fraction (N,)."""
    def stack(field: str, nearest: bool) -> torch.Tensor:
        return torch.stack([resize(getattr(s, field), config.size, nearest)
                            if getattr(s, field) is not None
                            else torch.zeros(1, *config.size) for s in samples])

    data = {"image": stack("image", False), "mask": stack("mask", True),
            "weak": stack("weak", True),
            "fraction": torch.tensor([s.fraction for s in samples], dtype=torch.float32)}
    priors = config.active_priors()
    if "place" in priors or "contrast" in priors:
        seeds = ([w[0].numpy() > 0.5 for w in data["weak"]] if "place" in priors else
                 [contrast_seed(i[0].numpy(), float(f), config.roi_contrast)
                  for i, f in zip(data["image"], data["fraction"])])
        data["outside"] = torch.stack([
            torch.as_tensor(outside_map(seed, float(f)), dtype=torch.float32)[None]
            for seed, f in zip(seeds, data["fraction"])])
        if "contrast" in priors:  # the seeds stand in for the weak mask this config lacks
            data["weak"] = torch.stack([torch.as_tensor(seed, dtype=torch.float32)[None]
                                        for seed in seeds])
    return data


def train_model(data: str | os.PathLike, out: str | os.PathLike,
                losses: list[str] | None = None, weak_size: float | None = None,
                backbone: str | None = None, size: list[int] | None = None,
                steps: int = registry.WEAKSTAT_STEPS, batch: int = 8, lr: float = 1e-3,
                seed: int = 0, largest_slice: bool = False,
                backbone_weights: str | os.PathLike | None = None, device: str = "auto",
                progress: Progress | None = None, priors: list[str] | None = None,
                roi_contrast: str = registry.WEAKSTAT_ROI_CONTRASTS[0],
                structures: list[str] | None = None) -> Path:
    """Train on a dataset (see ``data.py``; ``structures``: which a CT folder's cubes
    hold) and write the model folder ``out``.

    Defaults follow the data: the backbone and grid of its dimension, and weak masks of
    ``WEAKSTAT_WEAK_SIZE`` × ROI made from the references where the dataset has none.
    """
    remove_stale_temporaries(out)  # what a killed write of an earlier run left
    samples = read_dataset(data, structures)
    if largest_slice:
        samples = largest_roi_slices(samples)
    dims = samples[0].dims
    if weak_size is None and any(s.weak is None for s in samples):
        weak_size = registry.WEAKSTAT_WEAK_SIZE
    config = WeakStatConfig(
        dims=dims, backbone=backbone or registry.WEAKSTAT_BACKBONES[dims][0],
        size=list(size or registry.WEAKSTAT_GRID[dims]),
        losses=list(losses or registry.WEAKSTAT_DEFAULT_LOSSES), weak_size=weak_size,
        steps=steps, batch=batch, lr=lr, seed=seed,
        priors=list(registry.WEAKSTAT_PRIORS if priors is None else priors),
        roi_contrast=roi_contrast, intensity_window=intensity_window(data))
    network = train(samples, config, device, progress, backbone_weights)
    return save_model(out, network, config)


def segment_file(model: str | os.PathLike, image: str | os.PathLike, out: str | os.PathLike,
                 threshold: float = 0.5, device: str = "auto") -> tuple[Path, float]:
    """Segment one image file with a model folder; writes a PNG for pictures (0 / 255),
    else a volume on the input's grid. Returns the path and the ROI's share of the image."""
    torch_device = resolve_device(device)
    network, config = load_model(model, torch_device)
    raw, volume = read_with_grid(image)
    if raw.ndim != config.dims:
        raise ScoreKitError(f"{image}: a {raw.ndim}D image, but the model is {config.dims}D")
    mask = predict(network, config, scale_image(raw, config.intensity_window),
                   torch_device) > threshold
    out = Path(out)
    if out.name.lower().endswith(PICTURE_SUFFIXES):
        if mask.ndim != 2:
            raise ScoreKitError(f"{out}: a 3D mask cannot be written as a picture")
        from PIL import Image

        with atomic_path(out) as tmp:
            Image.fromarray(mask.astype(np.uint8) * 255).save(tmp, format="PNG")
    else:
        # The input's geometry (a picture gets ITK's default one, as a one-slice volume).
        volume = volume or read_volume(image, allow_single_slice=True)
        write_volume(volume.with_array(mask.reshape(volume.array.shape).astype(np.uint8)), out)
    return out, float(mask.mean())


def _check(samples: list[Sample], config: WeakStatConfig) -> None:
    if not samples:
        raise ScoreKitError("no training image")
    if "full" in config.losses and any(s.mask is None for s in samples):
        missing = next(s.name for s in samples if s.mask is None)
        raise ScoreKitError(f"{missing}: full supervision needs a reference mask")
    if "weak" in config.losses and config.weak_size is None:
        missing = [s.name for s in samples if s.weak is None]
        if missing:
            raise ScoreKitError(f"{missing[0]}: the weak-mask loss needs a weak mask "
                                "(give a weak_mask column or a weak-mask size)")


def train(samples: list[Sample], config: WeakStatConfig, device: str = "auto",
          progress: Progress | None = None, backbone_weights: str | os.PathLike | None = None,
          weights: LossWeights | None = None) -> WeakStatNet:
    progress = progress or Silent()
    config.check()
    _check(samples, config)
    if "weak" in config.losses and config.weak_size is not None:
        samples = with_weak_masks(samples, config.weak_size)
    torch_device = resolve_device(device)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    data = {k: v.to(torch_device) for k, v in to_grid(samples, config).items()}
    network = WeakStatNet(config).to(torch_device)
    if backbone_weights:
        progress.log(load_backbone_weights(network, backbone_weights))
    start_at_fraction(network, float(data["fraction"].mean()))
    optimizer = torch.optim.Adam(network.parameters(), lr=config.lr)
    schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.steps)
                if config.lr_decay else None)
    count = len(samples)
    batch = min(config.batch, count) if count > 1 else 2  # BatchNorm needs two
    priors = config.active_priors()
    weights = weights or LossWeights()
    progress.start(f"train {'+'.join(config.losses + list(priors))}", config.steps)
    network.train()
    for step in range(config.steps):
        index = torch.randint(count, (batch,), generator=generator).to(torch_device)
        item = {k: v[index] for k, v in data.items()}
        item = augment(item, generator) if config.augment else _mirror(item, generator)
        step_weights = replace(weights, confidence=weights.confidence
                               * confidence_ramp(step, config))
        with autocast(torch_device):
            logits, reconstruction = network(item["image"])
            loss, _ = total_loss(item, logits.float(), reconstruction.float(),
                                 tuple(config.losses), step_weights, priors)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if schedule:
            schedule.step()
        progress.advance(1, loss=round(loss.item(), 4))
    progress.close()
    recalibrate_batchnorm(network, data["image"])
    return network.eval()


def confidence_ramp(step: int, config: WeakStatConfig) -> float:
    """L_c's weight at ``step``: from 0 up to 1 over ``confidence_ramp`` × steps, then 1.

    L_c pushes every pixel to 0 or 1. At full weight from the first step it decides pixels
    while the network still knows nothing of the ROI, and with L_s alone the cheapest
    decided answer is a texture of the right share; ramping it lets the other losses place
    the ROI first.
    """
    ramp = config.confidence_ramp * config.steps
    return 1.0 if ramp <= 0 else min(1.0, step / ramp)


def _mirror(item: dict[str, torch.Tensor], generator: torch.Generator
            ) -> dict[str, torch.Tensor]:
    """The whole batch mirrored left-right half of the time (without ``augment``)."""
    if torch.rand(1, generator=generator).item() < 0.5:
        return {k: v.flip(-1) if v.ndim > 1 else v for k, v in item.items()}
    return item


@torch.no_grad()
def recalibrate_batchnorm(network: torch.nn.Module, images: torch.Tensor, chunk: int = 32
                          ) -> None:
    """BatchNorm statistics of the final weights over ``images``: the cumulative mean over
    chunks (exact when one chunk holds them all); dropout stays off meanwhile."""
    norms = [m for m in network.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    network.eval()
    for norm in norms:
        norm.train()
    for start in range(0, len(images), chunk):
        part = images[start:start + chunk]
        if len(part) < 2:  # BatchNorm needs two values per channel
            part = torch.cat([part, images[:1]])
        network(part)
    for norm in norms:
        norm.momentum = 0.1
    network.eval()


@torch.no_grad()
def predict(network: WeakStatNet, config: WeakStatConfig, image: np.ndarray,
            device: torch.device | str = "cpu") -> np.ndarray:
    """ROI probabilities at the image's own size."""
    device = torch.device(device)
    x = resize(image, config.size, nearest=False)[None].to(device)
    if config.mirror_average:  # the image and its mirror in one batch
        x = torch.cat([x, x.flip(-1)])
    with autocast(device):
        logits, _ = network.eval()(x)
    mode = "bilinear" if image.ndim == 2 else "trilinear"
    probabilities = torch.sigmoid(F.interpolate(logits.float(), size=image.shape, mode=mode,
                                                align_corners=False))
    if config.mirror_average:
        probabilities = (probabilities[:1] + probabilities[1:].flip(-1)) / 2
    return probabilities[0, 0].cpu().numpy()
