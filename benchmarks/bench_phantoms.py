"""Phantom generation time and how wrong the simulated initial segmentations are.

    python benchmarks/bench_phantoms.py [--cases 20] [--quick]
"""

from __future__ import annotations

import time

import numpy as np
from benchcli import bench_parser

from scorekit.metrics import dice
from scorekit.synth.errors import simulate_initial
from scorekit.synth.humerus import FIELDS_OF_VIEW, humerus_phantom


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="6 cases")
    parser.add_argument("--cases", type=int, default=20)
    args = parser.parse_args(argv)
    cases = 6 if args.quick else args.cases
    seconds, dices = [], []
    for seed in range(cases):
        start = time.perf_counter()
        phantom = humerus_phantom(seed=seed, fov=FIELDS_OF_VIEW[seed % 3])
        seconds.append(time.perf_counter() - start)
        initial, _ = simulate_initial(phantom.reference, np.random.default_rng(seed + 100),
                                      focus=phantom.epiphysis)
        dices += [dice(initial.mask(n), phantom.reference.mask(n))
                  for n in phantom.reference.names]
    full = seconds[0::3]
    p10, p90 = np.percentile(dices, [10, 90])
    print(f"phantoms: {np.mean(full):.2f} s per full 128×128×160 case; initial Dice mean "
          f"{np.mean(dices):.3f} (10th–90th percentile {p10:.3f}–{p90:.3f}, "
          f"{len(dices)} regions)")
    return {"seconds_full_case": float(np.mean(full)), "initial_dice_mean": float(np.mean(dices))}


if __name__ == "__main__":
    main()
