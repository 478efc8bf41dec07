"""What ``scorekit refine`` applies with a trained model.

After training, the verdict (``verdict.name_best``) compares on the rated cases its support
criterion weighs (the held-out ones where they hold enough rated regions) the model's
refinement, the learned gate's, prior-only's and the initial masks by how well their
changes agree with the ratings, and names the best as ``use`` (the network only where
those cases are held out). ``method="auto"`` (the default of the command line, the worker
and SCORERefine) applies that one — or, where the scan has ratings of its own, the
learned gate where those ratings also call for a correction (``learned-gate+ratings``: on
the real suites the one refinement that beats both the initial masks and prior-only). Any
other method forces one. Models made before the verdict named a choice refine with the
network.
"""

from __future__ import annotations

import torch

from scorekit.data.labelmap import LabelMap
from scorekit.data.ratings import Rating
from scorekit.data.volume import Volume
from scorekit.errors import ScoreKitError
from scorekit.score.model import ModelConfig
from scorekit.score.prior_refine import gated_prior, prior_only
from scorekit.score.refine import on_image_grid, refine_case

CHOICES = ("model", "learned-gate", "prior-only", "initial")


def named_choice(config: ModelConfig, method: str = "auto", rated: bool = False) -> str:
    """The refinement ``method`` stands for with this model: ``auto`` is the learned gate
    where the scan has ratings (``rated``) and the model a gate, else the verdict's."""
    if method != "auto":
        return method
    if rated and config.gate:
        return "learned-gate"
    verdict = config.training.get("verdict") or {}
    return verdict.get("use", "model")


def refine_as_named(image: Volume, initial: LabelMap, network: torch.nn.Module,
                    config: ModelConfig, device: torch.device, source: str = "case",
                    method: str = "auto", ratings: list[Rating] | None = None
                    ) -> tuple[LabelMap, str]:
    """The refined label map and the refinement that made it; ``ratings``: this scan's
    (one rater's), which the learned gate then also follows."""
    use = named_choice(config, method, ratings is not None)
    grid = {"prior": config.prior, "spacing_mm": config.spacing_mm}
    if use == "model":
        return refine_case(image, initial, network, config, device, source), use
    if use == "learned-gate":
        if not config.gate:
            raise ScoreKitError(f"{source}: this model has no learned gate (trained before "
                                "gates, or a baseline); use --method model or prior-only")
        refined = gated_prior(image, initial, config.gate, source, ratings, **grid)
        return refined, use + ("+ratings" if ratings is not None else "")
    if use == "prior-only":
        return prior_only(image, initial, source, **grid), use
    if use == "initial":
        return on_image_grid(initial, image, source), use
    raise ScoreKitError(f"unknown refinement '{use}'; one of auto, {', '.join(CHOICES)}")
