"""Augmentations that keep WeakStatSeg's statistic known, on a batch (B, 1, ...) in torch.

A crop or zoom-in would change the ROI fraction by an amount only the discarded mask could
tell, so the geometry is restricted to what keeps it exact: a left-right mirror (depth,
the vertical axis of an ultrasound image, keeps its direction) and a zoom-out by s in
[ZOOM_MIN, 1] to a random place on a canvas of black; the ROI then covers s^dims of its
former share. Random placement also takes away a fixed place on the canvas as a solution,
so a network has to find the ROI from the image. Intensities: gamma and contrast, for the
variety of ultrasound gain settings. Masks follow the image (resampled bilinear, > 0.5);
the place prior's background map treats the black border as background.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ZOOM_MIN = 0.7
GAMMA = 0.4  # log-gamma drawn from ±GAMMA
CONTRAST = 0.2  # gain drawn from 1 ± CONTRAST, offset from ±CONTRAST / 2


def _uniform(low: float, high: float, count: int, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(count, generator=generator)


def _affine(batch: int, dims: int, generator: torch.Generator) -> tuple[torch.Tensor,
                                                                         torch.Tensor]:
    """(theta (B, dims, dims + 1) mapping output to input coordinates, zoom s (B,))."""
    zoom = _uniform(ZOOM_MIN, 1.0, batch, generator)
    theta = torch.zeros(batch, dims, dims + 1)
    for axis in range(dims):
        theta[:, axis, axis] = 1 / zoom
        room = 1 / zoom - 1  # shifts keeping the whole image on the canvas
        theta[:, axis, dims] = (2 * torch.rand(batch, generator=generator) - 1) * room
    mirror = torch.rand(batch, generator=generator) < 0.5
    theta[mirror, 0, 0] *= -1  # affine_grid's first coordinate is the last axis (x)
    return theta, zoom


def augment(item: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A randomly mirrored, zoomed-out, re-contrasted copy of a training batch."""
    image = item["image"]
    batch, dims = image.shape[0], image.ndim - 2
    theta, zoom = _affine(batch, dims, generator)
    grid = F.affine_grid(theta.to(image.device), list(image.shape), align_corners=False)

    def warp(x: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
        return fill + F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros",
                                    align_corners=False)

    out = {"image": _recontrast(warp(image), generator),
           "fraction": item["fraction"] * zoom.to(image.device) ** dims}
    for key in ("mask", "weak"):
        if key in item:
            out[key] = (warp(item[key]) > 0.5).float()
    if "outside" in item:
        out["outside"] = (warp(item["outside"], fill=1.0) > 0.5).float()
    return out


def _recontrast(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    shape = (-1,) + (1,) * (image.ndim - 1)
    count = image.shape[0]
    gamma = torch.exp(_uniform(-GAMMA, GAMMA, count, generator)).view(shape).to(image.device)
    gain = _uniform(1 - CONTRAST, 1 + CONTRAST, count, generator).view(shape).to(image.device)
    offset = _uniform(-CONTRAST / 2, CONTRAST / 2, count, generator).view(shape).to(image.device)
    return (image.clamp(min=0) ** gamma * gain + offset).clamp(0, 1)
