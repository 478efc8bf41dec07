"""How well each registered boundary prior (and fixed thresholds) places the boundary on
humerus phantoms or VerSe vertebrae.

For each variant, the initial mask is replaced inside its correction band Ω_corr by
P > 0.5 (what the SCORE loss converges to when under- and over-segmentation are equally
frequent), and the mean Dice against the reference is printed, with what the voxels the
initial masks miss look like: their median intensity, the share inside the band and the
share the default prior calls "inside". With ``--data`` the verse benchmark suite's scans
(``--initial model-like|threshold`` masks) get a column beside the phantoms'.

    python benchmarks/bench_prior.py [--cases 6] [--quick]
    python benchmarks/bench_prior.py --data ../shared/data/ct/verse19 [--initial threshold]
    python benchmarks/bench_prior.py --folder ../shared/data/ct/openkbp-headneck \
        --folder ../shared/data/ct/totalseg-subjects
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from benchcli import bench_parser

from scorekit import registry
from scorekit.data.scanfolder import chosen_regions
from scorekit.data.verse import verse_pairs
from scorekit.experiments.refinement import (
    folder_sources,
    initial_masks,
    only_regions,
    scan_case,
)
from scorekit.metrics import dice
from scorekit.score.morphology import band
from scorekit.score.priors import prior_function
from scorekit.synth.errors import simulate_initial
from scorekit.synth.humerus import humerus_phantom

GLOBAL_THRESHOLDS = (100, 150, 200, 250, 300)
ETA = 2  # voxels (1 mm on the VerSe scans)


def phantom_cases(count: int):
    """(image array, initial label map, reference label map) of ``count`` humerus phantoms."""
    for seed in range(100, 100 + count):
        phantom = humerus_phantom(seed=seed)
        initial, _ = simulate_initial(phantom.reference, np.random.default_rng(seed + 10**6),
                                      focus=phantom.epiphysis)
        yield phantom.image.array, initial, phantom.reference


def verse_cases(data: Path, initial: str):
    """The same for every scan of the verse benchmark suite in ``data``."""
    for pair in verse_pairs(data):
        _, image, initial_masks, reference = scan_case(*pair, initial, seed=0)
        yield image.array, initial_masks, reference


def folder_cases(data: Path, initial: str, max_cases: int):
    """The same for the first ``max_cases`` cases of a folder suite's folder."""
    for source in folder_sources(data, max_cases):
        image, labels = source.read()
        reference = only_regions(labels, chosen_regions(labels, None))
        yield image.array, initial_masks(initial, source.case_id, image, reference, 0), \
            reference


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="3 phantom cases")
    parser.add_argument("--cases", type=int, default=6)
    parser.add_argument("--data", type=Path, help="folder of VerSe *_ct + *_seg-vert_msk pairs")
    parser.add_argument("--folder", type=Path, action="append", default=[],
                        help="folder of <case>_ct + <case>_seg + <case>_seg.json (repeatable)")
    parser.add_argument("--max-cases", type=int, default=12, help="per --folder")
    parser.add_argument("--initial", choices=registry.INITIAL_KINDS,
                        default=registry.INITIAL_KINDS[0])
    args = parser.parse_args(argv)
    suites = {"phantoms": prior_scores(phantom_cases(3 if args.quick else args.cases))}
    if args.data:
        suites[f"verse ({args.initial})"] = prior_scores(verse_cases(args.data, args.initial))
    for folder in args.folder:
        suites[f"{folder.name} ({args.initial})"] = prior_scores(
            folder_cases(folder, args.initial, args.max_cases))
    rows = list(next(iter(suites.values())))
    print("mean Dice, P > 0.5 in each region's band | " + " | ".join(suites))
    for row in rows:
        cells = [f"{suite[row]:.3f}" if row in suite else "-" for suite in suites.values()]
        print(f"{row:<40} | " + " | ".join(cells))
    return suites


def prior_scores(cases) -> dict[str, float]:
    """Mean Dice per variant, and what the voxels the initial masks miss look like."""
    scores: dict[str, list[float]] = {}
    missed_level, missed_inside, missed_in_band = [], [], []
    for image, initial, reference in cases:
        image = image.astype(np.float32)
        masks = torch.from_numpy(np.stack([initial.mask(n) for n in initial.names]))
        spacing = initial.geometry.spacing_zyx
        priors = {f"prior '{name}'":
                  prior_function(name)(torch.from_numpy(image), masks, ETA, spacing)[0]
                  for name in registry.PRIORS}
        default = priors[f"prior '{registry.DEFAULT_PRIOR}'"].numpy()
        variants = {
            **{name: p.numpy() for name, p in priors.items()},
            **{f"global threshold {t} HU": (image > t).astype(np.float32)
               for t in GLOBAL_THRESHOLDS},
        }
        for k, name in enumerate(initial.names):
            mask, truth = initial.mask(name), reference.mask(name)
            region_band = band(torch.from_numpy(mask), ETA).numpy()
            others = (masks.sum(0) - masks[k].int() > 0).numpy()  # see loss.region_priors
            scores.setdefault("initial masks", []).append(dice(mask, truth))
            for label, prior in variants.items():
                scores.setdefault(label, []).append(
                    dice(np.where(region_band, (prior > 0.5) & ~others, mask), truth))
            missed = truth & ~mask
            if missed.any():
                missed_level.append(float(np.median(image[missed])))
                missed_inside.append(float(np.mean(default[missed] > 0.5)))
                missed_in_band.append(float(np.mean(region_band[missed])))
    means = {k: float(np.mean(v)) for k, v in scores.items()}
    means["missed: median intensity"] = float(np.median(missed_level))
    means["missed: share in the band"] = float(np.mean(missed_in_band))
    means["missed: share P > 0.5 (default prior)"] = float(np.mean(missed_inside))
    return means


if __name__ == "__main__":
    main()
