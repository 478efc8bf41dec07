"""What the benchmarks share: ``--device`` and ``--quick``, and scoring refined cases."""

from __future__ import annotations

import argparse

import numpy as np

from scorekit.metrics import dice
from scorekit.score.refine import refine_case


def bench_parser(doc: str, quick: str) -> argparse.ArgumentParser:
    """A parser described by the script's docstring; ``quick`` says what --quick shrinks to."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--quick", action="store_true", help=quick)
    return parser


def mean_dice_before_after(cases, network, config, device) -> tuple[float, float]:
    """Mean Dice over the regions of workspace ``cases``: initial masks, refined masks."""
    before, after = [], []
    for case in cases:
        initial, reference = case.initial(), case.reference()
        refined = refine_case(case.image(), initial, network, config, device, case.id)
        before += [dice(initial.mask(n), reference.mask(n)) for n in case.regions]
        after += [dice(refined.mask(n), reference.mask(n)) for n in case.regions]
    return float(np.mean(before)), float(np.mean(after))
