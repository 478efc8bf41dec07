"""Peak memory and time of the folder suite on CT at a native 512 × 512 resolution.

Abdominal CT at 0.6–0.8 × 1.6 mm, with whole organs and bones as regions, makes crops of
10⁸ voxels; the working grid's memory budget (``score/inputs.py``) keeps training and
refinement within a few GB. The shared scans are all at 1.5 mm or coarser, so this
resamples the abdominal TotalSegmentator subject (s0009) onto a finer grid whose voxel
count matches such a scan (``--spacing``, default 0.35 × 0.35 × 0.8 mm: 509 × 509 × 347
voxels) and runs the folder suite on two copies of it (distinct initial-mask draws),
leave-one-out, with the organs and large bones as regions. It prints the peak resident
memory of the whole run (``ru_maxrss``), its time and the working grid the model chose.

    python benchmarks/bench_native_ct.py [--quick] [--device auto] [--spacing Z Y X]
"""

from __future__ import annotations

import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from benchcli import bench_parser

from scorekit.data.labels import read_labelmap, resample_labelmap, write_labelmap
from scorekit.data.volume import Geometry, read_volume, resample, write_volume
from scorekit.experiments.refinement import REFINEMENT_PLANS, run_refinement_benchmark
from scorekit.score.model import load_config

SUBJECT = Path(__file__).resolve().parents[2] / "shared/data/ct/totalseg-subjects/s0009"
STRUCTURES = ["liver", "spleen", "kidney_left", "kidney_right", "hip_left", "hip_right",
              "sacrum", "femur_left", "femur_right"]


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="20 training steps")
    parser.add_argument("--spacing", type=float, nargs=3, default=[0.8, 0.35, 0.35],
                        metavar=("Z", "Y", "X"), help="the fine grid's voxel (mm)")
    args = parser.parse_args(argv)
    if not Path(f"{SUBJECT}_ct.nii.gz").exists():
        print(f"native CT: skipped, no data at {SUBJECT}_ct.nii.gz")
        return {}
    with tempfile.TemporaryDirectory(prefix="scorekit-bench-native-") as work:
        shape = _write_fine_scans(Path(work) / "scans", tuple(args.spacing))
        plan = replace(REFINEMENT_PLANS["folder"]["quick"], steps=20 if args.quick else 300)
        started = time.perf_counter()
        out = run_refinement_benchmark(
            "folder", Path(work) / "out", data=Path(work) / "scans", plan=plan,
            methods=["initial", "prior-only", "learned-gate", "SCORE"], device=args.device,
            structures=STRUCTURES)
        seconds = time.perf_counter() - started
        grid = load_config(next((out / "models").glob("*/SCORE"))).spacing_mm
        print((out / "table1.md").read_text(encoding="utf-8"))
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"native CT {shape[2]} × {shape[1]} × {shape[0]} at {args.spacing[2]} × "
          f"{args.spacing[1]} × {args.spacing[0]} mm, two scans, {len(STRUCTURES)} regions: "
          f"{seconds / 60:.1f} min, peak resident memory {peak_gb:.1f} GB, working grid "
          f"{grid} mm")
    return {"seconds": seconds, "peak_gb": peak_gb, "working_grid_mm": grid}


def _write_fine_scans(folder: Path, spacing_zyx: tuple) -> tuple[int, int, int]:
    """Two copies of the subject on the fine grid (CT linear, labels nearest)."""
    folder.mkdir(parents=True)
    image = read_volume(f"{SUBJECT}_ct.nii.gz")
    labels = read_labelmap(f"{SUBJECT}_seg.nii.gz")
    coarse = image.geometry
    extent = np.array(coarse.shape) * np.array(coarse.spacing_zyx)
    shape = tuple(int(e // s) for e, s in zip(extent, spacing_zyx))
    fine = Geometry(shape[::-1], tuple(spacing_zyx[::-1]), coarse.origin, coarse.direction)
    fine_image = resample(image, fine, nearest=False, default=-1024.0)
    fine_image = fine_image.with_array(np.round(fine_image.array).astype(np.int16))
    fine_labels = resample_labelmap(labels, fine, "s0009")
    for case in ("a", "b"):
        write_volume(fine_image, folder / f"{case}_ct.nii.gz")
        write_labelmap(fine_labels, folder / f"{case}_seg.nii.gz")
    return shape


if __name__ == "__main__":
    main()
