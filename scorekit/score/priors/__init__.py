"""Boundary priors P: how much each voxel's intensity says "inside the structure".

A prior is a function ``(image, band) -> (P, lo)``: ``image`` a (Z, Y, X) tensor of the
cropped CT in intensity units, ``band`` the (Z, Y, X) boolean correction band Ω_corr of
all regions; it returns P in [0, 1] (float32, same shape and device) and the surroundings'
level lo (recorded for inspection). It raises ``ValueError`` when the band cannot give a
prior. Priors are registered by name in ``scorekit.registry.PRIORS``; a model records the
one it was trained with (``ModelConfig.prior``) and refinement uses the same.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from scorekit import registry

Prior = Callable[[torch.Tensor, np.ndarray], tuple[torch.Tensor, float]]


def prior_function(name: str) -> Prior:
    return registry.load(registry.PRIORS, name, "prior")
