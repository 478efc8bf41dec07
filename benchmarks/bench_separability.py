"""Can the image tell a structure's inside from its outside near its true boundary?

Any boundary prior P, the edge prior or one that classifies intensities, needs contrast
across the boundary it should find. For every region of the given scans (reference
masks), the voxels within η (``registry.ETA_MM``) of its reference surface are split into
inside and outside, and their CT intensity (Gaussian-smoothed, σ = 1 mm) is scored by the
area under the ROC curve for telling the two apart, taken as max(AUC, 1 − AUC): 0.5 means
no intensity threshold separates them, 1 that one does perfectly. Another region's voxels
count as neither. Printed per suite and structure: regions and median AUC, most separable
first. It needs no model and no ratings (``docs/evaluation.md``).

    python benchmarks/bench_separability.py --data ../shared/data/ct/verse19 \\
        --folder ../shared/data/ct/totalseg-subjects --folder ../shared/data/ct/openkbp-headneck
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from benchcli import bench_parser
from scipy import ndimage
from scipy.stats import mannwhitneyu

from scorekit.data.scanfolder import chosen_regions, default_structures
from scorekit.experiments.refinement import folder_sources, only_regions, verse_sources
from scorekit.registry import ETA_MM

SMOOTHING_MM = 1.0
SAMPLE = 20000  # voxels a side at most, drawn at random: the AUC, not its last digit


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="at most 6 cases a suite")
    parser.add_argument("--data", type=Path, help="folder of VerSe pairs")
    parser.add_argument("--folder", type=Path, action="append", default=[])
    args = parser.parse_args(argv)
    limit = 6 if args.quick else None
    suites = {"verse": (verse_sources(args.data)[:limit], None)} if args.data else {}
    for folder in args.folder:
        suites[folder.name] = (folder_sources(folder, limit), default_structures(folder, limit))
    figures = {}
    for name, (sources, structures) in suites.items():
        figures[name] = _print(name, _suite_aucs(sources, structures))
    return figures


def _suite_aucs(sources, structures) -> dict[str, list[float]]:
    aucs: dict[str, list[float]] = {}
    rng = np.random.default_rng(0)
    for source in sources:
        image, labels = source.read()
        reference = only_regions(labels, chosen_regions(labels, structures))
        smoothed = ndimage.gaussian_filter(
            image.array.astype(np.float32),
            [SMOOTHING_MM / s for s in image.geometry.spacing_zyx])
        for name in reference.names:
            auc = boundary_auc(smoothed, reference.array, reference.value_of(name),
                               image.geometry.spacing_zyx, rng)
            if auc is not None:
                aucs.setdefault(name, []).append(auc)
    return aucs


def boundary_auc(image: np.ndarray, labels: np.ndarray, value: int, spacing_zyx,
                 rng: np.random.Generator) -> float | None:
    """max(AUC, 1 − AUC) of ``image`` for inside against outside within η of the surface of
    region ``value`` (None where either side is empty)."""
    where = np.argwhere(labels == value)
    if not len(where):
        return None
    margin = [int(np.ceil(2 * ETA_MM / s)) for s in spacing_zyx]
    box = tuple(slice(max(lo - m, 0), hi + m + 1)
                for lo, hi, m in zip(where.min(0), where.max(0), margin))
    mine, others = labels[box] == value, (labels[box] != value) & (labels[box] > 0)
    near = (ndimage.distance_transform_edt(mine, spacing_zyx) <= ETA_MM) & mine
    near_out = (ndimage.distance_transform_edt(~mine, spacing_zyx) <= ETA_MM) & ~mine & ~others
    inside, outside = (_sample(image[box][side], rng) for side in (near, near_out))
    if not inside.size or not outside.size:
        return None
    auc = mannwhitneyu(inside, outside).statistic / (inside.size * outside.size)
    return float(max(auc, 1 - auc))


def _sample(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(values, SAMPLE, replace=False) if values.size > SAMPLE else values


def _print(suite: str, aucs: dict[str, list[float]]) -> dict[str, float]:
    medians = {name: float(np.median(v)) for name, v in aucs.items()}
    print(f"== {suite}: structure, regions, median AUC of intensity across the boundary")
    for name in sorted(medians, key=medians.get, reverse=True):
        print(f"{name:<32} {len(aucs[name]):>4} {medians[name]:.3f}")
    return medians


if __name__ == "__main__":
    main()
