"""SCORE: the refinement network trained from quality scores and error labels alone.

A step takes one rated case (and one of its raters' rating sets), picks a patch centred on
a band voxel (80 %) or anywhere (20 %), cuts it with a margin, augments it (flip, affine,
score-guided morphology, with the volume change measured against the whole region),
computes Ω_stab and Ω_corr on it (the margin makes them exact up to the patch's edges),
trims the margin, applies intensity augmentation and takes one Adam step on the SCORE loss
(``loss.py``). The model kept is the one with the lowest SCORE loss on the held-out rated
cases: the ratings are its only signal, even when the workspace holds reference masks
(their Dice is logged, never used).

Ablations (the SCORE paper's Table 2, ``TrainOptions.ablation``): ``no-stab``
(λ_stab = 0), ``no-prior`` (P ≡ 1 in L+ and L−), ``no-morph-aug`` (no score-guided
morphology), ``no-veto`` (refinement keeps changes against P, ``refine.py``) and
``ternary-labels`` (raters cannot say *both*: such a label becomes the
dominant direction measured against the reference, so it needs reference masks).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from scorekit import registry
from scorekit.data.ratings import BOTH, OVER, UNDER
from scorekit.errors import ScoreKitError
from scorekit.score import augment
from scorekit.score.loss import LossWeights, regions_of_interest, score_loss
from scorekit.score.refine import network_input
from scorekit.score.trainer import Trainer, TrainingCase


class ScoreTrainer(Trainer):
    learns_gate = True
    checks_edges = True
    trains_region_free = True

    @classmethod
    def vetoes_with_prior(cls, options) -> bool:
        return options.ablation not in ("no-prior", "no-veto")

    def loss_weights(self) -> LossWeights:
        weights = LossWeights(hold_band=self.options.hold_band)
        if self.options.ablation == "no-stab":
            return replace(weights, stab=0.0)
        if self.options.ablation == "no-prior":
            return replace(weights, use_prior=False)
        return weights

    def selection_value(self, metrics: dict[str, float]) -> float:
        return -metrics["val_loss"]

    def rating_errors(self, error, initial, reference, case_id):
        if self.options.ablation != "ternary-labels":
            return error
        return _ternary(error, initial, reference, case_id)

    def _augmented_patch(self, case: TrainingCase) -> tuple[augment.Sample, tuple]:
        """A patch (with margin) of the case, augmented, and where the patch lies in it."""
        q, l_ = case.rating_sets[self._pick(len(case.rating_sets))]
        crop = case.inputs
        sample, trim = self.spatial_patch(
            augment.Sample(crop.image, crop.initial, crop.prior, q, l_), case)
        if self.options.augment and self.options.ablation != "no-morph-aug":
            sample = augment.morphological_augment(
                sample, self.generator, max_radius=self.voxels(registry.AUGMENT_RADIUS_MM),
                volumes=case.volumes)
        return sample, trim

    def train_step(self, case: TrainingCase) -> dict[str, float]:
        sample, trim = self._augmented_patch(case)
        initial, prior, quality, error = self.loss_targets(sample)
        # Ω are computed on the patch with its margin, so they are right up to its edges.
        stab, corr = regions_of_interest(initial, error, self.config.eta, self.weights.hold_band)
        patch = augment.Sample(sample.image[trim], sample.initial[trim], sample.prior[trim],
                               sample.quality, sample.error)
        if self.options.augment:
            patch = augment.intensity_augment(patch, self.generator)
        batch_trim = (slice(None), *trim)
        targets = (initial[batch_trim], prior[batch_trim], quality, error,
                   stab[batch_trim], corr[batch_trim])
        if self.config.region_free:  # the network sees one region of the patch alone
            k = self._region_in(patch.initial)
            patch = replace(patch, initial=patch.initial[k:k + 1])
            targets = tuple(t[:, k:k + 1] for t in targets)
        logits = self.forward(network_input(patch.image, patch.initial, patch.prior,
                                            self.config))
        *loss_targets, stab, corr = targets
        loss, terms = score_loss(logits, *loss_targets, self.weights, rois=(stab, corr))
        return self.optimise(loss, terms)

    def _region_in(self, masks: torch.Tensor) -> int:
        """A region drawn among those the patch shows (among all when it shows none)."""
        shown = torch.nonzero(masks.flatten(1).any(1)).flatten().tolist() or \
            list(range(len(masks)))
        return shown[int(torch.randint(len(shown), (1,), generator=self.generator))]


def _ternary(error: torch.Tensor, initial: torch.Tensor, reference: torch.Tensor | None,
             case_id: str) -> torch.Tensor:
    """'both' → the dominant direction (more voxels missed → under, else over)."""
    error = error.clone()
    for k in torch.nonzero(error == BOTH).flatten().tolist():
        if reference is None:
            raise ScoreKitError(f"case '{case_id}': ternary-labels needs a reference mask to "
                                "resolve a 'both' rating")
        missed = (reference[k] & ~initial[k]).sum()
        extra = (initial[k] & ~reference[k]).sum()
        error[k] = UNDER if missed >= extra else OVER
    return error
