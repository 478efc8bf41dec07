"""Self-supervised pretraining for WeakStatSeg: masked-image reconstruction on images alone
(no masks, no fractions), so that training from a statistic starts from features that
already describe the images.

The network is WeakStatSeg's own (``WeakStatNet``); its reconstruction output learns to fill
in the image where square patches were hidden (``HIDDEN`` of them, a grey fill), from the
rest: filling a hidden part of a lesion or a fat lobule needs the context to say what lies
under it. The loss is L1 on the hidden pixels plus ``VISIBLE_WEIGHT`` × L1 on the others.
The batches pass through ``augment.py`` first (mirror, zoom-out, gamma and contrast, as in
training) and get multiplicative Rayleigh-like speckle (the noise of ultrasound images),
so features do not key on one gain setting or one speckle pattern.

The file written is the project's safetensors format (``weights.save_weights``) with the
config in its header; ``model.load_backbone_weights`` accepts it (``--backbone-weights``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from scorekit.devices import resolve_device
from scorekit.errors import ScoreKitError
from scorekit.progress import Progress, Silent
from scorekit.weakstat.augment import augment
from scorekit.weakstat.model import WeakStatConfig, WeakStatNet
from scorekit.weights import save_weights

HIDDEN = 0.5  # share of patches hidden
PATCH = 8  # patches per image edge
VISIBLE_WEIGHT = 0.1
SPECKLE = 0.15  # std of the multiplicative noise
PRETRAINED_KEY = "scorekit.weakstat_pretrained"


def hide_patches(image: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor,
                                                                             torch.Tensor]:
    """(image with a random ``HIDDEN`` share of a PATCH^dims grid set to 0.5, hidden map)."""
    dims = image.ndim - 2
    coarse = (torch.rand(image.shape[0], 1, *([PATCH] * dims), generator=generator) < HIDDEN)
    hidden = F.interpolate(coarse.float(), size=image.shape[2:], mode="nearest")
    hidden = hidden.to(image.device)
    return image * (1 - hidden) + 0.5 * hidden, hidden


def masked_reconstruction_loss(image: torch.Tensor, reconstruction: torch.Tensor,
                               hidden: torch.Tensor) -> torch.Tensor:
    error = (image - reconstruction).abs()
    on_hidden = (error * hidden).sum() / hidden.sum().clamp(min=1)
    return on_hidden + VISIBLE_WEIGHT * error.mean()


def _speckle(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    noise = 1 + SPECKLE * torch.randn(image.shape, generator=generator).to(image.device)
    return (image * noise).clamp(0, 1)


def pretrain(images: list[np.ndarray], config: WeakStatConfig, device: str = "auto",
             progress: Progress | None = None) -> WeakStatNet:
    """A ``WeakStatNet`` pretrained by masked-image reconstruction on ``images`` ([0, 1])."""
    from scorekit.weakstat.train import recalibrate_batchnorm, resize

    progress = progress or Silent()
    if not images:
        raise ScoreKitError("pretraining needs at least one image")
    config.check()
    torch_device = resolve_device(device)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    stack = torch.stack([resize(i, config.size, nearest=False) for i in images]).to(torch_device)
    network = WeakStatNet(config).to(torch_device).train()
    optimizer = torch.optim.Adam(network.parameters(), lr=config.lr)
    batch = max(2, min(config.batch, len(images)))
    progress.start("pretrain (masked reconstruction)", config.steps)
    for _ in range(config.steps):
        index = torch.randint(len(images), (batch,), generator=generator).to(torch_device)
        item = augment({"image": stack[index], "fraction": torch.zeros(batch, device=torch_device)},
                       generator)
        target = item["image"]
        shown, hidden = hide_patches(_speckle(target, generator), generator)
        loss = masked_reconstruction_loss(target, network(shown)[1].float(), hidden)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        progress.advance(1, loss=round(loss.item(), 4))
    progress.close()
    recalibrate_batchnorm(network, stack)
    return network.eval()


def save_pretrained(network: WeakStatNet, config: WeakStatConfig,
                    path: str | os.PathLike) -> Path:
    """The whole network's weights (safetensors, atomic), the config in the header."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ScoreKitError(f"{path}: pretrained weights are written as .safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_weights(network, path, {PRETRAINED_KEY: json.dumps(asdict(config))})
    return path


def pretrain_images(data: str | os.PathLike) -> list[np.ndarray]:
    """The images of a dataset (CSV or folder, see ``data.py``) or of a plain folder of
    images, scaled to [0, 1]; masks and fractions are never read, except to place each
    vertebra's cube in a VerSe-shaped folder (its CT is the image)."""
    from scorekit.data.verse import is_verse_folder
    from scorekit.weakstat.data import image_files, read_array, read_dataset, scale_image

    if is_verse_folder(Path(data)):
        return [s.image for s in read_dataset(data)]
    arrays = [read_array(p) for p in image_files(data)]
    return [scale_image(a) for a in arrays]


def pretrain_model(data: str | os.PathLike, out: str | os.PathLike, backbone: str | None = None,
                   size: list[int] | None = None, steps: int = 1500, batch: int = 8,
                   lr: float = 1e-3, seed: int = 0, device: str = "auto",
                   progress: Progress | None = None) -> Path:
    """``scorekit weakstat pretrain``: pretrain on ``data``'s images, write ``out``."""
    from scorekit import registry

    images = pretrain_images(data)
    dims = images[0].ndim
    config = WeakStatConfig(dims=dims, backbone=backbone or registry.WEAKSTAT_BACKBONES[dims][0],
                            size=list(size or registry.WEAKSTAT_GRID[dims]), steps=steps,
                            batch=batch, lr=lr, seed=seed)
    return save_pretrained(pretrain(images, config, device, progress), config, out)
