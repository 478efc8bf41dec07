"""How well each boundary prior places the boundary on humerus phantoms.

For each variant, the initial mask is replaced inside its correction band Ω_corr by
P > 0.5 (what the SCORE loss converges to when under- and over-segmentation are equally
frequent), and the mean Dice against the reference is printed.

    python benchmarks/bench_prior.py [--cases 6] [--quick]
"""

from __future__ import annotations

import numpy as np
import torch
from benchcli import bench_parser

from scorekit.eval.metrics import dice
from scorekit.score.morphology import band
from scorekit.score.prior import boundary_prior, global_prior, surroundings_level
from scorekit.synth.errors import simulate_initial
from scorekit.synth.humerus import humerus_phantom

GLOBAL_THRESHOLDS = (100, 150, 200, 250, 300)


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="3 cases")
    parser.add_argument("--cases", type=int, default=6)
    args = parser.parse_args(argv)
    scores: dict[str, list[float]] = {}
    for seed in range(100, 100 + (3 if args.quick else args.cases)):
        phantom = humerus_phantom(seed=seed)
        initial, _ = simulate_initial(phantom.reference, np.random.default_rng(seed + 10**6),
                                      focus=phantom.epiphysis)
        image = phantom.image.array
        in_band = band(torch.from_numpy(initial.array > 0), 2).numpy()
        variants = {
            "local (scorekit)": boundary_prior(torch.from_numpy(image),
                                               surroundings_level(image[in_band])).numpy(),
            "global Otsu / 99th percentile": global_prior(image, image[in_band]),
            **{f"global threshold {t} HU": (image > t).astype(np.float32)
               for t in GLOBAL_THRESHOLDS},
        }
        for name in initial.names:
            mask, truth = initial.mask(name), phantom.reference.mask(name)
            region_band = band(torch.from_numpy(mask), 2).numpy()
            scores.setdefault("initial masks", []).append(dice(mask, truth))
            for label, prior in variants.items():
                scores.setdefault(label, []).append(
                    dice(np.where(region_band, prior > 0.5, mask), truth))
    means = {k: float(np.mean(v)) for k, v in scores.items()}
    for label, value in means.items():
        print(f"prior {label:<32} mean Dice {value:.3f}")
    return means


if __name__ == "__main__":
    main()
