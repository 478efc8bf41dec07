"""``scorekit demo``: the README's main job on synthetic phantoms, start to finish.

Writes a phantom workspace with simulated ratings, measures the initial segmentations
against the phantoms' references (``metrics.json``) and draws them (``overview.png``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from scorekit.data.atomic import write_text_atomic
from scorekit.eval.metrics import dice
from scorekit.eval.plots import contour_overview
from scorekit.progress import Progress
from scorekit.synth import write_phantom_workspace


def run_demo(out: str | os.PathLike, quick: bool = False, seed: int = 0,
             progress: Progress | None = None) -> dict:
    """Run the demo into ``out`` and return its metrics."""
    out = Path(out)
    progress = progress or Progress()
    workspace = write_phantom_workspace(out / "workspace", cases=2 if quick else 4, seed=seed,
                                        progress=progress)
    metrics = {}
    for case in workspace.cases():
        initial, reference = case.initial(), case.reference()
        metrics[case.id] = {name: {"dice_before": round(dice(initial.mask(name),
                                                             reference.mask(name)), 4)}
                            for name in case.regions}
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    first = workspace.cases()[0]
    contour_overview(first.image(), {"initial": first.initial(), "reference": first.reference()},
                     out / "overview.png", title=f"{first.id}: initial vs reference")
    return metrics
