"""WeakStatSeg's losses, as in the paper. ``M_p``: predicted mask probabilities (sigmoid of
the segmentation head), ``M_w``: weak mask, ``M̄``: the ROI's area (or volume) fraction,
``I`` / ``Y``: input image and the auxiliary head's reconstruction, all (B, 1, ...).

Every loss is a mean over pixels (L_ws: over its marked pixels, see there) and then over
the batch: the paper's norms divided by a count, so that weights do not depend on size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from scorekit.weakstat.priors import place_loss, smoothness_loss

EPS = 1e-6


@dataclass(frozen=True)
class LossWeights:
    confidence: float = 1.0
    reconstruction: float = 1.0
    weak: float = 1.0
    stat: float = 1.0
    full: float = 1.0
    smooth: float = 1.0  # the priors of priors.py
    place: float = 1.0


def _per_image_mean(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).mean(dim=1)


def confidence_loss(m_p: torch.Tensor) -> torch.Tensor:
    """L_c = mean(0.5²) − mean((0.5 − M_p)²): 0 at a decided 0/1 mask, 0.25 at all-0.5."""
    return (0.25 - _per_image_mean((0.5 - m_p) ** 2)).mean()


def reconstruction_loss(image: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """L_r = ‖I − Y‖₁ (per pixel)."""
    return _per_image_mean((image - reconstruction).abs()).mean()


def weak_mask_loss(m_p: torch.Tensor, m_w: torch.Tensor) -> torch.Tensor:
    """L_ws = −[M_w ⊙ log(M_w ⊙ M_p) + (1 − M_w) log(1 − M_w ⊙ M_p)].

    Where M_w = 0 the second term is log 1 = 0, so only the marked pixels pull (towards 1):
    the loss has no negative signal. Logs are clamped for safety where M_w ⊙ M_p is 0 or 1.
    Reduction (the paper leaves it open): the sum over the image divided by the number of
    marked pixels, i.e. the mean over the pixels where the loss can be non-zero. A mean over
    all pixels would shrink it by the weak mask's share of the image (~0.5 % on BUS-BRA)
    and leave L_ws without effect beside L_s (measured: docs/weakstatseg.md).
    """
    masked = m_w * m_p
    log_pos = torch.log(masked.clamp(min=EPS))
    log_neg = torch.log((1 - masked).clamp(min=EPS))
    per_pixel = -(m_w * log_pos + (1 - m_w) * log_neg)
    marked = m_w.flatten(1).sum(dim=1).clamp(min=1)
    return (per_pixel.flatten(1).sum(dim=1) / marked).mean()


def statistics_loss(m_p: torch.Tensor, fraction: torch.Tensor) -> torch.Tensor:
    """L_s = |M̄ − mean(M_p)|, per image."""
    return (fraction - _per_image_mean(m_p)).abs().mean()


def supervised_loss(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The fully supervised upper bound: binary cross-entropy against the reference mask."""
    return F.binary_cross_entropy_with_logits(logits, mask)


def total_loss(batch: dict[str, torch.Tensor], logits: torch.Tensor,
               reconstruction: torch.Tensor, losses: tuple[str, ...],
               weights: LossWeights | None = None, priors: tuple[str, ...] = ()
               ) -> tuple[torch.Tensor, dict[str, float]]:
    """L_c + L_r plus the chosen ones of L_s, L_ws, supervised, and the chosen ``priors``
    (priors.py); returns (loss, parts)."""
    weights = weights or LossWeights()
    m_p = torch.sigmoid(logits)
    parts = {"confidence": weights.confidence * confidence_loss(m_p),
             "reconstruction": weights.reconstruction * reconstruction_loss(batch["image"],
                                                                           reconstruction)}
    if "stat" in losses:
        parts["stat"] = weights.stat * statistics_loss(m_p, batch["fraction"])
    if "weak" in losses:
        parts["weak"] = weights.weak * weak_mask_loss(m_p, batch["weak"])
    if "full" in losses:
        parts["full"] = weights.full * supervised_loss(logits, batch["mask"])
    if "smooth" in priors:
        parts["smooth"] = weights.smooth * smoothness_loss(m_p, batch["image"])
    if "place" in priors or "contrast" in priors:
        parts["place"] = weights.place * place_loss(m_p, batch["outside"])
    if "contrast" in priors:  # its seed pulls like a weak mask (priors.py)
        parts["seed"] = weights.place * weak_mask_loss(m_p, batch["weak"])
    total = sum(parts.values())
    return total, {k: float(v.detach()) for k, v in parts.items()}
