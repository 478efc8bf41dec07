"""What holds the masks without L_stab: SCORE with and without it, each safeguard on or off.

Without its stability term the SCORE paper's network collapses. Two choices of this
project also keep the initial mask where nothing pushes: the initial-mask skip of φ
(``score/model.py``) and using predictions only in the correction band at inference
(``score/refine.py``). This trains SCORE and SCORE-no-stab with each choice on or off on
the quick phantom suite's data (as ``scorekit benchmark --suite phantom --quick``: 6
rated training phantoms, 4 cases per test set, seed 0) and prints the mean Dice per test
set. About 1 min per model on 2 CPU cores, 8 models.

    python benchmarks/bench_stab.py [--steps 500] [--device auto] [--quick]
"""

from __future__ import annotations

import itertools
import tempfile
import time
from pathlib import Path

from benchcli import bench_parser, mean_dice_before_after

from scorekit.devices import resolve_device
from scorekit.experiments.refinement import REFINEMENT_PLANS, phantom_folds
from scorekit.progress import Silent
from scorekit.score.model import load_model
from scorekit.score.trainer import TrainOptions, train


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="100 steps")
    plan = REFINEMENT_PLANS["phantom"]["quick"]
    parser.add_argument("--steps", type=int, default=plan.steps)
    args = parser.parse_args(argv)
    steps = 100 if args.quick else args.steps
    device = resolve_device(args.device)
    results = {}
    with tempfile.TemporaryDirectory(prefix="scorekit-bench-stab-") as work:
        fold = phantom_folds(Path(work), plan, seed=0, progress=Silent())[0]
        for stab, skip, confine in itertools.product((True, False), repeat=3):
            name = (f"{'SCORE' if stab else 'no-stab'}, skip {'on' if skip else 'off'}, "
                    f"confined {'yes' if confine else 'no'}")
            start = time.perf_counter()
            options = TrainOptions(steps=steps, lr=plan.lr, patch_size=[plan.patch] * 3,
                                   validate_every=max(steps // 4, 1),
                                   ablation=None if stab else "no-stab",
                                   initial_logit=TrainOptions.initial_logit if skip else 0.0,
                                   confine_to_band=confine)
            model = train(fold.training.path, Path(work) / "models" / name, options,
                          device=str(device))
            network, config = load_model(model, device)
            scores = {test_set: mean_dice_before_after(ws.cases(), network, config, device)
                      for test_set, ws in fold.tests.items()}
            if not results:
                print(_row("initial masks", {t: b for t, (b, _) in scores.items()}))
            results[name] = {t: a for t, (_, a) in scores.items()}
            print(_row(name, results[name]) + f"  ({steps} steps, "
                  f"{time.perf_counter() - start:.0f} s)")
    return results


def _row(name: str, dice_by_test_set: dict[str, float]) -> str:
    return f"{name:<34}" + "  ".join(f"{t} {d:.3f}" for t, d in dice_by_test_set.items())


if __name__ == "__main__":
    main()
