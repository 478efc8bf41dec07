"""How well each registered boundary prior (and fixed thresholds) places the boundary on
humerus phantoms or VerSe vertebrae.

For each variant, the initial mask is replaced inside its correction band Ω_corr by
P > 0.5 (what the SCORE loss converges to when under- and over-segmentation are equally
frequent), and the mean Dice against the reference is printed, with what the voxels the
initial masks miss look like: their median intensity, the share inside the band and the
share the prior calls "inside". With ``--data`` the cases are the verse benchmark suite's
vertebrae (threshold-made initial masks).

    python benchmarks/bench_prior.py [--cases 6] [--quick]
    python benchmarks/bench_prior.py --data ../shared/data/ct/verse19
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from benchcli import bench_parser

from scorekit import registry
from scorekit.experiments.refinement import verse_pairs, vertebra_cases
from scorekit.metrics import dice
from scorekit.score.morphology import band
from scorekit.score.priors import prior_function
from scorekit.synth.errors import simulate_initial
from scorekit.synth.humerus import humerus_phantom

GLOBAL_THRESHOLDS = (100, 150, 200, 250, 300)


def phantom_cases(count: int):
    """(image array, initial label map, reference label map) of ``count`` humerus phantoms."""
    for seed in range(100, 100 + count):
        phantom = humerus_phantom(seed=seed)
        initial, _ = simulate_initial(phantom.reference, np.random.default_rng(seed + 10**6),
                                      focus=phantom.epiphysis)
        yield phantom.image.array, initial, phantom.reference


def verse_cases(data: Path):
    """The same for every vertebra of the verse benchmark suite in ``data``."""
    for scan, ct, mask in verse_pairs(data):
        for _, image, initial, reference in vertebra_cases(scan, ct, mask):
            yield image.array, initial, reference


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="3 phantom cases")
    parser.add_argument("--cases", type=int, default=6)
    parser.add_argument("--data", type=Path, help="folder of VerSe *_ct + *_seg-vert_msk pairs")
    args = parser.parse_args(argv)
    cases = (verse_cases(args.data) if args.data
             else phantom_cases(3 if args.quick else args.cases))
    scores: dict[str, list[float]] = {}
    missed_level, missed_inside, missed_in_band = [], [], []
    for image, initial, reference in cases:
        image = image.astype(np.float32)
        in_band = band(torch.from_numpy(initial.array > 0), 2).numpy()
        priors = {f"registered '{name}'": prior_function(name)(torch.from_numpy(image), in_band)[0]
                  for name in registry.PRIORS}
        default = priors[f"registered '{registry.DEFAULT_PRIOR}'"].numpy()
        variants = {
            **{name: p.numpy() for name, p in priors.items()},
            **{f"global threshold {t} HU": (image > t).astype(np.float32)
               for t in GLOBAL_THRESHOLDS},
        }
        for name in initial.names:
            mask, truth = initial.mask(name), reference.mask(name)
            region_band = band(torch.from_numpy(mask), 2).numpy()
            scores.setdefault("initial masks", []).append(dice(mask, truth))
            for label, prior in variants.items():
                scores.setdefault(label, []).append(
                    dice(np.where(region_band, prior > 0.5, mask), truth))
            missed = truth & ~mask
            if missed.any():
                missed_level.append(float(np.median(image[missed])))
                missed_inside.append(float(np.mean(default[missed] > 0.5)))
                missed_in_band.append(float(np.mean(region_band[missed])))
    means = {k: float(np.mean(v)) for k, v in scores.items()}
    for label, value in means.items():
        print(f"prior {label:<32} mean Dice {value:.3f}")
    means["missed_median_intensity"] = float(np.median(missed_level))
    means["missed_inside_by_local_prior"] = float(np.mean(missed_inside))
    means["missed_in_band"] = float(np.mean(missed_in_band))
    print(f"voxels the initial masks miss: median intensity {np.median(missed_level):.0f} "
          f"(median over regions), {np.mean(missed_in_band):.0%} of them in the band, "
          f"{np.mean(missed_inside):.0%} P > 0.5 (default prior)")
    return means


if __name__ == "__main__":
    main()
