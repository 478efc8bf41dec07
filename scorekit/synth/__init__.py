"""Synthetic data: CT phantoms, simulated model errors and simulated raters."""

from __future__ import annotations

import os

import numpy as np

from scorekit.data.workspace import Workspace
from scorekit.errors import ScoreKitError
from scorekit.progress import Progress, Silent
from scorekit.synth.errors import ERROR_AMPLITUDE_MM, simulate_initial
from scorekit.synth.humerus import FIELDS_OF_VIEW, humerus_phantom
from scorekit.synth.rater import simulated_rating

PHANTOM_KINDS = ("humerus",)


def write_phantom_workspace(out: str | os.PathLike, cases: int = 8, seed: int = 0,
                            kind: str = "humerus", fov: str = "full", prefix: str = "phantom",
                            progress: Progress | None = None, error_scale: float = 1.0,
                            **phantom_options) -> Workspace:
    """Write ``cases`` synthetic cases (image, initial, reference) and simulated ratings.

    ``error_scale`` multiplies how far the initial masks' surfaces are moved.

    Case ``i`` uses seed ``seed + i`` for its anatomy and ``seed + i + 10**6`` for its
    errors, so adding cases never changes the earlier ones.
    """
    if kind not in PHANTOM_KINDS:
        raise ValueError(f"phantom kind '{kind}' is not one of {', '.join(PHANTOM_KINDS)}")
    if fov not in FIELDS_OF_VIEW:
        raise ValueError(f"field of view '{fov}' is not one of {', '.join(FIELDS_OF_VIEW)}")
    if cases < 1:
        raise ScoreKitError(f"--cases must be at least 1, not {cases}")
    if error_scale <= 0:
        raise ScoreKitError(f"--error-scale must be positive, not {error_scale}")
    amplitude_mm = tuple(error_scale * a for a in ERROR_AMPLITUDE_MM)
    progress = progress or Silent()
    workspace = Workspace.create(out)
    progress.start("phantoms", cases)
    try:
        _write_cases(workspace, cases, seed, kind, fov, prefix, amplitude_mm, progress,
                     phantom_options)
    finally:
        progress.close()
    return workspace


def _write_cases(workspace, cases, seed, kind, fov, prefix, amplitude_mm, progress,
                 phantom_options):
    for i in range(cases):
        case_id = f"{prefix}_{fov}_{seed + i:03d}"
        phantom = humerus_phantom(seed=seed + i, fov=fov, **phantom_options)
        rng = np.random.default_rng(seed + i + 10**6)
        initial, modes = simulate_initial(phantom.reference, rng, focus=phantom.epiphysis,
                                          amplitude_mm=amplitude_mm)
        workspace.add_case(case_id, phantom.image, initial, phantom.reference,
                           source=f"{kind} phantom", seed=seed + i, fov=fov,
                           simulated_errors=modes)
        workspace.ratings.put(
            simulated_rating(case_id, name, phantom.reference.array == value,
                             initial.array == value)
            for value, name in sorted(phantom.reference.regions.items()))
        progress.advance()
