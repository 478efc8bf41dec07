"""Boundary priors P: how much each voxel's intensity says "inside the structure".

A prior is a function ``(image, masks, eta, spacing_zyx) -> (P, lo)``: ``image`` a
(Z, Y, X) tensor of the cropped CT in intensity units, ``masks`` the (K, Z, Y, X) boolean
initial masks, ``eta`` the band radius in voxels (Ω_corr = dilate(S̃, η) \\ erode(S̃, η))
and ``spacing_zyx`` the voxel size in mm; it returns P in [0, 1] (float32, (Z, Y, X), on
the image's device) and the surroundings' level lo (recorded for inspection). It raises
``ValueError`` when the image cannot give a prior. Priors are registered by name in
``scorekit.registry.PRIORS``; a model records the one it was trained with
(``ModelConfig.prior``) and refinement uses the same.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from scorekit import registry

Prior = Callable[[torch.Tensor, torch.Tensor, int, tuple], tuple[torch.Tensor, float]]


def prior_function(name: str) -> Prior:
    return registry.load(registry.PRIORS, name, "prior")
