"""Spatial priors for WeakStatSeg that are not labels (beside the paper's losses in
``losses.py``); tensors (B, 1, ...) as there.

* **Smoothness** (compactness): the edge-aware total variation of M_p, Σ w·|∇M_p| with
  w = exp(−|∇I| / σ), per pixel. L_s fixes only the area; at a fixed area, a texture of
  ones has a boundary hundreds of times longer than one blob, so this term is what stops
  L_s alone from settling on a texture. Weighting by w lets boundaries sit on image edges
  (the lesion's rim) more cheaply than across flat tissue.
* **Place** (where and how big): the weak mask marks the ROI's innermost pixels and the
  fraction gives its size, so pixels farther from the weak mask than ``PLACE_MARGIN`` × the
  radius of a disc (ball) of the ROI's area are background. Their −log(1 − M_p) is the
  negative signal L_ws lacks. It needs both the weak mask and the fraction.
* **Contrast** (where, without a weak mask): with the fraction alone, the place prior is
  seeded at the image's most contrasting disc (ball in 3D): the disc of the ROI's area
  whose mean intensity lies farthest below (or, for a ROI brighter than its surroundings,
  above) that of the ring around it (1.2–1.8 radii), away from the image border. The user
  states the polarity (``WeakStatConfig.roi_contrast``): breast lesions in ultrasound are
  darker (hypoechoic; on BUS-BRA that disc alone overlaps the lesion with IoU 36 %, a
  centred disc 17 %), bone in CT is brighter. It reads only the image and the fraction.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage, signal

EPS = 1e-6
EDGE_SIGMA = 0.1  # image-gradient scale (intensities in [0, 1]) at which w falls to 1/e
# Beyond this × the equivalent radius from the weak mask: background. An ellipse of axis
# ratio 3 reaches 1.73 × its equivalent radius from its centre, and the weak mask's own
# extent adds to the margin, so 1.5 from its edge keeps such lesions inside.
PLACE_MARGIN = 1.5


def _gradients(x: torch.Tensor) -> list[torch.Tensor]:
    return [torch.diff(x, dim=axis) for axis in range(2, x.ndim)]


def smoothness_loss(m_p: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Edge-aware total variation: mean over pixels and axes of exp(−|∂I|/σ)·|∂M_p|.

    M_p is padded with background (and I by repeating its edge, so w = 1 there): the part of
    a region's boundary along the image border counts like any other. Without it, a region
    hugging the border is the cheapest way to hold the fraction, and L_s alone settles there.
    """
    pad = (1, 1) * (m_p.ndim - 2)
    m_p = F.pad(m_p, pad)
    image = F.pad(image, pad, mode="replicate")
    terms = [(torch.exp(-di.abs() / EDGE_SIGMA) * dm.abs()).flatten(1).mean(dim=1)
             for dm, di in zip(_gradients(m_p), _gradients(image))]
    return torch.stack(terms).sum(dim=0).mean()


def place_loss(m_p: torch.Tensor, outside: torch.Tensor) -> torch.Tensor:
    """−log(1 − M_p) averaged over the pixels the place prior marks as background."""
    count = outside.flatten(1).sum(dim=1).clamp(min=1)
    per_pixel = -torch.log((1 - m_p).clamp(min=EPS)) * outside
    return (per_pixel.flatten(1).sum(dim=1) / count).mean()


def equivalent_radius(fraction: float, shape: tuple[int, ...]) -> float:
    """Radius (pixels) of the disc or ball holding ``fraction`` of an image of ``shape``."""
    volume = fraction * float(np.prod(shape))
    unit_ball = math.pi ** (len(shape) / 2) / math.gamma(len(shape) / 2 + 1)
    return (volume / unit_ball) ** (1 / len(shape))


def outside_map(weak: np.ndarray, fraction: float, margin: float = PLACE_MARGIN) -> np.ndarray:
    """Bool: pixels farther than ``margin`` × the equivalent radius from the weak mask."""
    weak = np.asarray(weak, bool)
    if not weak.any():
        return np.zeros(weak.shape, bool)
    distance = ndimage.distance_transform_edt(~weak)
    return distance > margin * equivalent_radius(fraction, weak.shape)


SEED_SHARE = 0.08  # the contrast seed: a disc of this share of the ROI (as an 8 % weak mask)


def _ball_kernel(inner: float, outer: float, radius: float, dims: int) -> np.ndarray:
    """Normalised shell (ball when ``inner`` = 0) between ``inner`` and ``outer`` radii."""
    half = int(np.ceil(outer * radius)) + 1
    distance = np.sqrt(((np.indices((2 * half + 1,) * dims) - half) ** 2).sum(axis=0))
    kernel = ((distance >= inner * radius) & (distance < outer * radius)).astype(np.float64)
    return kernel / max(kernel.sum(), 1.0)


def contrast_seed(image: np.ndarray, fraction: float, roi: str = "darker") -> np.ndarray:
    """Bool, the image's shape: a small disc (ball) at the centre of the disc of the ROI's
    area whose mean lies farthest below (``roi`` "darker") or above ("brighter") its ring."""
    if fraction <= 0:
        return np.zeros(image.shape, bool)
    radius = max(equivalent_radius(fraction, image.shape), 1.0)
    inside = signal.fftconvolve(image, _ball_kernel(0, 1, radius, image.ndim), mode="same")
    ring = signal.fftconvolve(image, _ball_kernel(1.2, 1.8, radius, image.ndim), mode="same")
    contrast = ring - inside if roi == "darker" else inside - ring
    valid = np.zeros(image.shape, bool)
    valid[tuple(slice(m, n - m) for n in image.shape
                for m in [min(int(radius) + 1, n // 2 - 1)])] = True
    centre = np.unravel_index(np.argmax(np.where(valid, contrast, -np.inf)), image.shape)
    offsets = np.indices(image.shape) - np.reshape(centre, (-1,) + (1,) * image.ndim)
    seed_radius = max(SEED_SHARE ** (1 / image.ndim) * radius, 0.5)
    return np.sqrt((offsets ** 2).sum(axis=0)) <= seed_radius
