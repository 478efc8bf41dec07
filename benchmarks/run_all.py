"""Run every benchmark and print its figures (``make bench`` runs the --quick versions).

    python benchmarks/run_all.py [--quick] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_fixes
import bench_gate
import bench_headroom
import bench_labelmap_memory
import bench_morphology
import bench_native_ct
import bench_own_scans
import bench_phantoms
import bench_prior
import bench_ratings
import bench_real_suites
import bench_refine
import bench_seeds
import bench_separability
import bench_slicer_refine
import bench_stab
import bench_threshold_engine
import bench_training
import bench_weakstat_step
import bench_web_render
import bench_worker

SHARED_CT = Path(__file__).resolve().parents[2] / "shared" / "data" / "ct"
REAL_DATA = ["--data", str(SHARED_CT / "verse19"),
             "--folder", str(SHARED_CT / "totalseg-subjects"),
             "--folder", str(SHARED_CT / "openkbp-headneck")] if SHARED_CT.is_dir() else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", help="also write all figures to this JSON file")
    args = parser.parse_args()
    common = ["--device", args.device] + (["--quick"] if args.quick else [])
    results = {"phantoms": bench_phantoms.main(common),
               "prior": bench_prior.main(common),
               "morphology": bench_morphology.main(common),
               "training": bench_training.main(common),
               "refine": bench_refine.main(common),
               "own_scans": bench_own_scans.main(common),
               "labelmap_memory": bench_labelmap_memory.main(common),
               "worker": bench_worker.main(common),
               "slicer_refine": bench_slicer_refine.main(common),
               "fixes": bench_fixes.main(common),
               "stab": bench_stab.main(common),
               "seeds": bench_seeds.main(common),
               "headroom": bench_headroom.main(common),
               "threshold_engine": bench_threshold_engine.main(common),
               "web_render": bench_web_render.main(common),
               "weakstat_step": bench_weakstat_step.main(common),
               # the rating store at its stated scale, 10⁶ ratings, even in --quick
               "ratings": bench_ratings.main(["--device", args.device]),
               "gate": bench_gate.main([*common, *REAL_DATA]),
               "separability": bench_separability.main([*common, *REAL_DATA]),
               "native_ct": bench_native_ct.main(common),
               "real_suites": bench_real_suites.main(common)}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
