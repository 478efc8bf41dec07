"""The SCORE loss (de Langlais et al.), the only place its equations live.

Shapes: ``B`` batch, ``K`` regions, spatial ``Z, Y, X``. The network gives logits and
Ŝ = sigmoid(logits); log Ŝ and log(1 − Ŝ) are taken from the logits for stability.

Per region k with initial mask S̃_k, quality q_k, error label l_k and η = 2:

    Ω_stab,k = erode(S̃_k, η) if l_k ≠ 0 else S̃_k                                  (1)
    L_stab = 1/K Σ_k 1/|Ω_stab,k| Σ_{v∈Ω_stab,k} −S̃_k,v log Ŝ_k,v                  (2)
    Ω_corr,k = dilate(S̃_k, η) \\ erode(S̃_k, η),   w_k = (5 − q_k) / 5                (3)
    L+ = 1/K Σ_{k: l_k∈{−1,2}} 1/|Ω_corr,k| Σ_{v∈Ω_corr,k} −w_k P_v log Ŝ_k,v       (4)
    L− = 1/K Σ_{k: l_k∈{1,2}}  1/|Ω_corr,k| Σ_{v∈Ω_corr,k} −w_k (1−P_v) log(1−Ŝ_k,v) (5)
    L = λ_stab L_stab + λ+ L+ + λ− L−,   defaults λ_stab = 5, λ+ = λ− = 1           (6)

A region with an empty Ω (a mask smaller than the erosion) adds nothing to that term. The
batch loss is the mean over the batch.

**Holding the band** (``LossWeights.hold_band``, ours, off by default: eq. 1–6 as written).
As written nothing keeps a region's outside at 0: L_stab rewards Ŝ → 1 inside S̃ and only
L− (regions rated *over*) pushes down anywhere, so a network can lower L_stab by raising
every logit, and regions rated perfect grow. With ``hold_band`` a region rated *none* has
Ω_stab,k = dilate(S̃_k, η) and L_stab is the binary cross-entropy with target S̃ there,
−[S̃ log Ŝ + (1 − S̃) log(1 − Ŝ)] (the same value as eq. 2 wherever Ω_stab ⊆ S̃).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from scorekit.data.ratings import BOTH, NONE, OVER, UNDER
from scorekit.registry import ETA
from scorekit.score.morphology import dilate, erode


@dataclass(frozen=True)
class LossWeights:
    stab: float = 5.0
    expand: float = 1.0  # λ+
    shrink: float = 1.0  # λ−
    use_prior: bool = True  # False: P and 1 − P both ≡ 1 (the "no P" ablation)
    hold_band: bool = False  # regions rated none are held over their band too (module doc)


def add_background_region(initial: torch.Tensor, quality: torch.Tensor, error: torch.Tensor
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Prepend background as region 0 (the paper's "S takes values in {1..K}" read as
    including it): S̃_0 = no region; its error mirrors the regions' (a region missing
    voxels means background holds too many), l_0 = over if some region is under, under if
    some is over, both if both, none if none; q_0 = the lowest region quality. Its prior is
    1 − P (see :func:`region_priors`).

    ``initial`` ``(B, K, Z, Y, X)`` bool; ``quality``, ``error`` ``(B, K)``.
    """
    background = ~initial.bool().any(1, keepdim=True)
    under = ((error == UNDER) | (error == BOTH)).any(1)
    over = ((error == OVER) | (error == BOTH)).any(1)
    l0 = torch.where(under & over, BOTH, torch.where(under, OVER, torch.where(over, UNDER, NONE)))
    q0 = torch.where(l0 == NONE, torch.full_like(l0, 5), quality.min(1).values)
    return (torch.cat([background, initial.bool()], 1), torch.cat([q0[:, None], quality], 1),
            torch.cat([l0[:, None], error], 1))


def region_priors(prior: torch.Tensor, initial: torch.Tensor, background: bool
                  ) -> torch.Tensor:
    """P_k per region ``(B, K(+1), Z, Y, X)`` from P ``(B, 1, Z, Y, X)`` and S̃ ``(B, K, ...)``.

    Our choice where the paper has one P for all regions: a voxel that another region's
    initial mask holds is no evidence for this one, P_k = P · [no other S̃_j there], so
    that a region cannot grow into its neighbour on the neighbour's intensities (on VerSe
    scans, vertebrae touch at the facet joints). With ``background`` first: 1 − P.
    """
    held = initial.bool()
    per_region = prior * ~_held_elsewhere(held, held.sum(1, keepdim=True, dtype=torch.uint8))
    return torch.cat([1 - prior, per_region], 1) if background else per_region


def each_region_prior(prior: torch.Tensor, initial: torch.Tensor):
    """:func:`region_priors`' P_k (no background) one region at a time, for whole scans:
    yields (k, P_k) from P ``(Z, Y, X)`` and S̃ ``(K, Z, Y, X)``, in the memory of one
    region rather than K float volumes."""
    held = initial.bool()
    counts = held.sum(0, dtype=torch.uint8)
    for k, mine in enumerate(held):
        yield k, prior * ~_held_elsewhere(mine, counts)


def _held_elsewhere(mine: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Where another region than ``mine`` holds the voxel; ``counts``: regions per voxel
    (bytes, not int64: a whole scan's K masks; K < 256)."""
    return counts - mine.to(torch.uint8) > 0


def regions_of_interest(initial: torch.Tensor, error: torch.Tensor, eta: int = ETA,
                        hold_band: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Ω_stab (eq. 1; with ``hold_band`` a region rated none's is its mask dilated, see
    module doc) and Ω_corr (eq. 3) as bool ``(B, K, Z, Y, X)``.

    ``initial``: S̃, bool or {0,1} ``(B, K, Z, Y, X)``; ``error``: l, int ``(B, K)``.
    """
    mask = initial.bool()
    eroded, dilated = erode(mask, eta), dilate(mask, eta)
    has_error = (error != NONE)[..., None, None, None]
    stab = torch.where(has_error, eroded, dilated if hold_band else mask)
    corr = dilated & ~eroded
    return stab, corr


def _region_mean(values: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over ``where`` per (batch, region); 0 where ``where`` is empty."""
    dims = (-3, -2, -1)
    count = where.sum(dims)
    return (values * where).sum(dims) / count.clamp(min=1)


def score_loss(logits: torch.Tensor, initial: torch.Tensor, prior: torch.Tensor,
               quality: torch.Tensor, error: torch.Tensor, weights: LossWeights = LossWeights(),
               rois: tuple[torch.Tensor, torch.Tensor] | None = None
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L (eq. 6) and its terms.

    ``logits`` ``(B, K, Z, Y, X)``; ``initial`` S̃ same shape; ``prior`` P ``(B, 1, Z, Y, X)``
    (or one per region, ``(B, K, Z, Y, X)``) in [0, 1]; ``quality`` q and ``error`` l
    ``(B, K)``. ``rois`` may pass precomputed (Ω_stab, Ω_corr) from
    :func:`regions_of_interest`.
    """
    stab_roi, corr_roi = rois if rois is not None else regions_of_interest(
        initial, error, hold_band=weights.hold_band)
    logits = logits.float()
    log_s = -F.softplus(-logits)  # log Ŝ
    log_not_s = -F.softplus(logits)  # log(1 − Ŝ)
    if weights.use_prior:
        toward, away = prior.float(), 1.0 - prior.float()
    else:  # ablation: every band voxel pushed with full weight
        toward = away = torch.ones_like(prior, dtype=torch.float)
    w = (5.0 - quality.float()) / 5.0  # (B, K)
    k = logits.shape[1]

    target = initial.float()  # eq. 2; its second term is 0 wherever Ω_stab ⊆ S̃
    l_stab = _region_mean(-(target * log_s + (1 - target) * log_not_s), stab_roi).sum(1) / k
    expands = ((error == UNDER) | (error == BOTH)).float()
    shrinks = ((error == OVER) | (error == BOTH)).float()
    l_plus = (expands * w * _region_mean(-toward * log_s, corr_roi)).sum(1) / k  # eq. 4
    l_minus = (shrinks * w * _region_mean(-away * log_not_s, corr_roi)).sum(1) / k  # eq. 5

    terms = {"stab": l_stab.mean(), "plus": l_plus.mean(), "minus": l_minus.mean()}
    total = (weights.stab * terms["stab"] + weights.expand * terms["plus"]
             + weights.shrink * terms["minus"])
    return total, terms


@torch.no_grad()
def whole_case_loss(logits: torch.Tensor, initial: torch.Tensor, prior: torch.Tensor,
                    quality: torch.Tensor, error: torch.Tensor,
                    weights: LossWeights = LossWeights()) -> float:
    """L of a whole case for evaluation (validation, the verdict), one region at a time:
    the value of :func:`score_loss` (its terms are sums over regions divided by K) in the
    memory of one region, not of K on a whole working grid."""
    k = logits.shape[1]
    total = 0.0
    for r in range(k):
        region = slice(r, r + 1)
        own_prior = prior[:, region] if prior.shape[1] == k else prior
        loss, _ = score_loss(logits[:, region], initial[:, region], own_prior,
                             quality[:, region], error[:, region], weights)
        total += float(loss)
    return total / k
