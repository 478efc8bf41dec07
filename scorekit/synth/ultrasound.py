"""Breast-ultrasound-like lesion phantoms for WeakStatSeg's quick start and tests.

A B-mode-like image: layered tissue echogenicity that fades with depth, multiplicative
speckle (Rayleigh amplitude), a hypoechoic lesion with a lobulated border, a posterior
acoustic shadow (or, for some, enhancement) below it. Writes the dataset form that
``scorekit weakstat`` reads: ``images/`` and ``masks/`` PNGs with the same names.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from scorekit.data.atomic import atomic_path
from scorekit.synth.humerus import smooth_noise


def lesion_phantom(seed: int, size: tuple[int, int] = (160, 200)) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 image, bool lesion mask), ``size`` = (height, width)."""
    rng = np.random.default_rng(seed)
    h, w = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = y / h
    tissue = 0.55 + 0.2 * smooth_noise(size, (h / 10, w / 6), rng)  # fat / gland layers
    tissue *= np.exp(-1.2 * depth)  # attenuation with depth
    tissue[: int(h * 0.06)] *= 1.6  # bright skin line

    cy, cx = rng.uniform(0.35, 0.65) * h, rng.uniform(0.3, 0.7) * w
    ry, rx = rng.uniform(0.08, 0.18) * h, rng.uniform(0.1, 0.22) * w
    angle = np.arctan2(y - cy, x - cx)
    lobes = 1 + sum(rng.uniform(0, 0.12) * np.cos(k * angle + rng.uniform(0, 2 * np.pi))
                    for k in (3, 5, 7))
    radius = np.sqrt(((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2)
    lesion = radius < lobes
    inside = rng.uniform(0.08, 0.3)
    image = np.where(lesion, inside * (1 + 0.3 * smooth_noise(size, 3, rng)), tissue)

    below = (y > cy) & (np.abs(x - cx) < rx * 0.8)
    factor = rng.choice([0.45, 1.35], p=[0.7, 0.3])  # shadowing or enhancement
    posterior = ndimage.gaussian_filter(below.astype(np.float32), 4)
    image = image * (1 + (factor - 1) * posterior * ~lesion)

    speckle = rng.rayleigh(1.0, size).astype(np.float32) / np.sqrt(np.pi / 2)
    image = ndimage.gaussian_filter(image * speckle, 0.7)
    image = np.clip(image / np.percentile(image, 99.5), 0, 1)
    return (image * 255).astype(np.uint8), lesion


def write_lesion_dataset(out: str | os.PathLike, count: int = 24, seed: int = 0,
                         size: tuple[int, int] = (160, 200)) -> Path:
    """``out/images/us_NNN.png`` and ``out/masks/us_NNN.png`` (lesion = 255)."""
    out = Path(out)
    for i in range(count):
        image, mask = lesion_phantom(seed + i, size)
        name = f"us_{seed + i:03d}.png"
        for folder, array in (("images", image), ("masks", mask.astype(np.uint8) * 255)):
            with atomic_path(out / folder / name) as tmp:
                Image.fromarray(array).save(tmp, format="PNG")
    return out
