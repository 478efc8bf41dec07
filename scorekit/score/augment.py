"""Augmentation for SCORE training, in torch on the training device.

Three families, all applied to one :class:`Sample` at a time:

* **Score-guided morphology** (:func:`morphological_augment`): a region rated
  under-segmented is eroded further, one rated over-segmented dilated further, one rated
  both either way, and a region rated perfect either way (becoming under / over); the
  radius varies smoothly in space (a smooth random field, 0..``max_radius`` voxels).
  The rating follows the change: with ΔV the relative volume change,
  q' = max(0, q − ⌈ΔV / 2.5 %⌉) (every 2.5 % of the volume costs one quality point), and a
  perfect region that lost a point gets the label of the operation. A change below 0.1 %
  leaves the rating as it was, so q = 5 ⇔ l = 0 always holds.
* **Spatial**: left–right flip (channels of lateralised regions, ``*_left`` ↔ ``*_right``,
  swap so that a flipped left humerus is still called left), and a small random affine
  (rotation about the bone axis, scaling) with nearest-neighbour resampling for masks.
* **Intensity** (image channel only): Gaussian blur, Gaussian noise, contrast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from scorekit.data.ratings import NONE, OVER, UNDER
from scorekit.score.morphology import varying_dilate, varying_erode

QUALITY_STEP = 0.025  # relative volume change that costs one quality point
MIN_CHANGE = 0.001


@dataclass(frozen=True)
class Sample:
    """One training crop or patch (tensors on one device)."""

    image: torch.Tensor  # (1, Z, Y, X) normalised intensities
    initial: torch.Tensor  # (K, Z, Y, X) bool, S̃
    prior: torch.Tensor  # (1, Z, Y, X) P in [0, 1]
    quality: torch.Tensor  # (K,) int64 q
    error: torch.Tensor  # (K,) int64 l


def smooth_field(shape, generator: torch.Generator, device, cells: int = 4) -> torch.Tensor:
    """Smooth random field in [0, 1]: a coarse uniform grid, trilinearly upsampled."""
    coarse = torch.rand((1, 1, cells, cells, cells), generator=generator, device="cpu")
    field = F.interpolate(coarse.to(device), size=tuple(shape), mode="trilinear",
                          align_corners=True)
    return field[0, 0]


def _uniform(generator: torch.Generator, low: float = 0.0, high: float = 1.0) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def morphological_augment(sample: Sample, generator: torch.Generator, probability=0.5,
                          max_radius: float = 3.0, volumes: torch.Tensor | None = None
                          ) -> Sample:
    """Score-guided erosion / dilation of each region (see module doc).

    ``volumes`` (K,) are the regions' whole volumes when ``sample`` is a patch of a larger
    crop: the change made inside the patch is measured relative to them.
    """
    masks, quality, error = sample.initial.clone(), sample.quality.clone(), sample.error.clone()
    if volumes is None:
        volumes = masks.flatten(1).sum(1)
    for k in range(masks.shape[0]):
        if _uniform(generator) >= probability or not masks[k].any() or volumes[k] == 0:
            continue
        label = int(error[k])
        grow = {UNDER: False, OVER: True}.get(label, _uniform(generator) < 0.5)
        # Sharpen the field so that changes stay local, as a model's errors are.
        field = smooth_field(masks[k].shape, generator, masks.device)
        radius = (field * 2 - 1).clamp(min=0) * max_radius
        before = masks[k]
        after = varying_dilate(before, radius) if grow else varying_erode(before, radius)
        change = float((after ^ before).sum()) / float(volumes[k])
        if change < MIN_CHANGE:
            continue
        masks[k] = after
        quality[k] = max(0, int(quality[k]) - math.ceil(change / QUALITY_STEP))
        if label == NONE:
            quality[k] = min(int(quality[k]), 4)
            error[k] = OVER if grow else UNDER
    return replace(sample, initial=masks, quality=quality, error=error)


def lateral_swap(regions: list[str]) -> list[int]:
    """Channel order after a left–right flip: ``*_left`` and ``*_right`` trade places."""
    index = {name: i for i, name in enumerate(regions)}
    order = []
    for name in regions:
        twin = (name[:-5] + "_right" if name.endswith("_left")
                else name[:-6] + "_left" if name.endswith("_right") else name)
        order.append(index.get(twin, index[name]))
    return order


def flip_left_right(sample: Sample, swap: list[int]) -> Sample:
    """Mirror along x (the patient's left–right axis in LPS) and swap lateral regions."""
    def flip(t: torch.Tensor) -> torch.Tensor:
        return torch.flip(t, dims=(-1,))

    return Sample(flip(sample.image), flip(sample.initial)[swap], flip(sample.prior),
                  sample.quality[swap], sample.error[swap])


def random_affine(sample: Sample, generator: torch.Generator, max_degrees: float = 10.0,
                  scale=(0.9, 1.1)) -> Sample:
    """Rotate about z (the bone axis) and scale about the centre, same for all channels."""
    angle = math.radians(_uniform(generator, -max_degrees, max_degrees))
    s = _uniform(generator, *scale)
    c, si = math.cos(angle) / s, math.sin(angle) / s
    # affine_grid works in (x, y, z) order on normalised coordinates.
    theta = torch.tensor([[[c, -si, 0, 0], [si, c, 0, 0], [0, 0, 1 / s, 0]]],
                         dtype=torch.float32, device=sample.image.device)
    shape = sample.image.shape[-3:]
    grid = F.affine_grid(theta, (1, 1, *shape), align_corners=False)

    def warp(t: torch.Tensor, mode: str) -> torch.Tensor:
        out = F.grid_sample(t[None].float(), grid, mode=mode, padding_mode="border",
                            align_corners=False)[0]
        return out.to(t.dtype)

    return replace(sample, image=warp(sample.image, "bilinear"),
                   initial=warp(sample.initial, "nearest"), prior=warp(sample.prior, "bilinear"))


def intensity_augment(sample: Sample, generator: torch.Generator) -> Sample:
    """Blur or noise, then contrast, on the image channel only."""
    image = sample.image
    if _uniform(generator) < 0.2:
        sigma = _uniform(generator, 0.4, 1.0)
        radius = 2
        x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=image.device)
        g = torch.exp(-(x**2) / (2 * sigma**2))
        g = g / g.sum()
        for dim in range(3):  # separable Gaussian
            shape = [1, 1, 1, 1, 1]
            shape[2 + dim] = g.numel()
            padding = [0, 0, 0]
            padding[dim] = radius
            image = F.conv3d(image[None], g.reshape(shape), padding=padding)[0]
    if _uniform(generator) < 0.2:
        noise = torch.randn(image.shape, generator=generator).to(image.device)
        image = image + _uniform(generator, 0.0, 0.03) * noise
    if _uniform(generator) < 0.3:
        mean = image.mean()
        image = (image - mean) * _uniform(generator, 0.85, 1.15) + mean
    return replace(sample, image=image)
