"""The two fixes for "outside the regions the loss says nothing", compared on phantoms.

Trains one model per configuration (confine predictions to the correction band, learn
background as a region, both, neither) on 6 rated phantom cases and prints the mean Dice
of the refined unseen cases. About 4 min per configuration on 2 CPU cores.

    python benchmarks/bench_fixes.py [--steps 800] [--device auto] [--quick]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchcli import bench_parser, mean_dice_before_after

from scorekit.devices import resolve_device
from scorekit.score.model import load_model
from scorekit.score.trainer import TrainOptions, train
from scorekit.synth import write_phantom_workspace

CONFIGURATIONS = {
    "confine": dict(confine_to_band=True, background_region=False),
    "background": dict(confine_to_band=False, background_region=True),
    "both": dict(confine_to_band=True, background_region=True),
    "neither": dict(confine_to_band=False, background_region=False),
}


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="100 steps")
    parser.add_argument("--steps", type=int, default=800)
    args = parser.parse_args(argv)
    steps = 100 if args.quick else args.steps
    device = resolve_device(args.device)
    results = {}
    with tempfile.TemporaryDirectory(prefix="scorekit-bench-fixes-") as work:
        work = Path(work)
        training = write_phantom_workspace(work / "train", cases=6, seed=100)
        tests = write_phantom_workspace(work / "test", cases=4, seed=500).cases()
        for name, choice in CONFIGURATIONS.items():
            start = time.perf_counter()
            options = TrainOptions(steps=steps, lr=1e-3, validate_every=100, **choice)
            train(training.path, work / name, options, device=str(device))
            network, config = load_model(work / name, device)
            before, results[name] = mean_dice_before_after(tests, network, config, device)
            print(f"fix {name:<11} mean Dice {before:.3f} → {results[name]:.3f} "
                  f"({steps} steps, {time.perf_counter() - start:.0f} s)")
    return results


if __name__ == "__main__":
    main()
