"""Go / no-go: would this model improve the masks it was rated on? Decided from ratings alone.

A user with ratings cannot compute Dice, so after training the model's output is compared
with the initial masks on rated cases the model did not train on (the held-out validation
cases; with a single rated case, that training case, said so in the verdict) by four
rating-only criteria:

1. **Loss**: the SCORE loss (eq. 6) of the refined masks is not above that of the initial
   masks (both as hard masks with Ŝ ∈ {ε, 1 − ε}, ε = 0.05).
2. **Direction**: a region rated *under* must not lose volume and one rated *over* must not
   gain volume, beyond ``DIRECTION_TOLERANCE`` of its initial volume; at most
   ``WRONG_SHARE`` of the regions so rated may break this.
3. **Stability**: a region rated perfect (q = 5) changes by at most ``STABLE_CHANGE`` of
   its volume on average.
4. **Support**: the median benefit of its changes over the rated regions (how well each
   region's change matches what its rating asks, ``gate.py``) is above 0, so that most
   rated regions changed the way their ratings ask (weighed over every rated case where the
   held-out ones hold fewer than ten rated regions; the verdict says how many regions of
   which cases it weighed). Without it, on the head-and-neck scans every model was *go*
   while its network lost 0.6 to 2.5 Dice points: the first three pass a network that
   moves about the right volume the right way, in the wrong place. The median, not the
   mean: one region whose change the benefit misreads (a vessel rated 0 / under that grew
   by three times its volume) sways a mean, and a network that leaves most rated regions
   as they were is not supported however well it treats a few. The median of one or two
   regions is their mean, which guards against nothing: below ``MEDIAN_MIN_REGIONS`` the
   mean must clear ``RATING_EVIDENCE_SE`` standard errors instead (the rule for every
   count before).
   On the real suites' quick plans, six draws of their simulated errors, 60 models
   (``benchmarks/bench_verdict.py``, ``docs/evaluation.md``): right for 54, against 47
   for a mean two standard errors above 0, neither ever *go* on a model that lost over
   half a point.

The verdict is *go* when all four hold. The loss alone cannot catch a wrong prior P (the
network has learnt to lower exactly that loss), which is why the volume criteria, taken
from the error labels the raters gave, decide beside it. ``name_best`` also names the
refinement the ratings support best (``choice.py``). The verdict, its criteria and
figures go into ``model.json`` (``training.verdict``); ``scorekit refine`` warns when it is
no-go and ``--strict`` refuses such a model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from scorekit.data.ratings import OVER, QUALITY_MAX, UNDER
from scorekit.errors import ScoreKitError
from scorekit.registry import RATING_EVIDENCE_SE

if TYPE_CHECKING:  # this module also serves the Slicer modules, which load torch late
    import torch

DIRECTION_TOLERANCE = 0.005
WRONG_SHARE = 0.2
STABLE_CHANGE = 0.02
HARD_EPS = 0.05
MEDIAN_MIN_REGIONS = 3  # fewer rated regions: their median is their mean (criterion 4)
SUPPORT_REASON = "the ratings do not clearly support its changes"  # criterion 4's reason


def hard_logits(masks: torch.Tensor) -> torch.Tensor:
    """Logits of a hard mask taken as Ŝ ∈ {ε, 1 − ε}."""
    return masks.float().clamp(HARD_EPS, 1 - HARD_EPS).logit()


def direction_checks(initial: torch.Tensor, refined: torch.Tensor, quality: torch.Tensor,
                     error: torch.Tensor) -> tuple[list[bool], list[float]]:
    """Per region rated under/over: whether it moved the right way (or stayed); per region
    rated perfect: its relative volume change. ``initial``/``refined`` (K, Z, Y, X)."""
    before = initial.flatten(1).sum(1).float().clamp(min=1)
    change = (refined.flatten(1).sum(1).float() - before) / before
    right, stable = [], []
    for k in range(len(before)):
        if int(error[k]) == UNDER:
            right.append(bool(change[k] >= -DIRECTION_TOLERANCE))
        elif int(error[k]) == OVER:
            right.append(bool(change[k] <= DIRECTION_TOLERANCE))
        elif int(quality[k]) == QUALITY_MAX and initial[k].any():
            stable.append(abs(float(change[k])))
    return right, stable


def decide(losses_initial: list[float], losses_refined: list[float], right: list[bool],
           stable: list[float], in_sample: bool, gains: list[float] | None = None,
           support_scope: str = "the held-out cases") -> dict:
    """The verdict record from the gathered figures (see module doc); ``gains``: the
    benefit of the model's change to every rated region (``gate.py``) of ``support_scope``
    (which cases they are, said with the count: two or five regions of one training scan
    decide less than seventy held-out ones)."""
    loss_initial, loss_refined = float(np.mean(losses_initial)), float(np.mean(losses_refined))
    wrong = 1.0 - float(np.mean(right)) if right else 0.0
    change = float(np.mean(stable)) if stable else 0.0
    reasons = []
    if loss_refined > loss_initial:
        reasons.append(f"SCORE loss rises ({loss_initial:.4f} → {loss_refined:.4f})")
    if wrong > WRONG_SHARE:
        reasons.append(f"{wrong:.0%} of the regions rated under / over moved against their "
                       "rating")
    if change > STABLE_CHANGE:
        reasons.append(f"regions rated perfect change by {change:.1%} on average")
    support = f"{len(gains)} rated regions of {support_scope}" if gains is not None else None
    if gains is not None and not supported(gains):
        figure, bar = _support_figure(gains)
        reasons.append(f"{SUPPORT_REASON} ({figure} over {support}, not {bar})")
    verdict = {"go": not reasons, "reasons": reasons,
               "cases": "training case (a single rated case)" if in_sample
               else "held-out rated cases",
               "loss_initial": round(loss_initial, 5), "loss_refined": round(loss_refined, 5),
               "wrong_direction": round(wrong, 4), "perfect_change": round(change, 4)}
    if support:
        verdict["support"] = support
    return verdict


def supported(gains) -> bool:
    """Criterion 4: the median rated region's benefit is above 0; for fewer than
    ``MEDIAN_MIN_REGIONS`` regions, their mean by ``RATING_EVIDENCE_SE`` standard errors."""
    if len(gains) < MEDIAN_MIN_REGIONS:
        return lower_bound(gains) > 0
    return float(np.median(gains)) > 0


def _support_figure(gains) -> tuple[str, str]:
    """What criterion 4 weighed, and the bar it did not clear."""
    if len(gains) < MEDIAN_MIN_REGIONS:
        return (f"mean benefit {float(np.mean(gains)) if len(gains) else 0.0:+.4f}",
                f"{RATING_EVIDENCE_SE:g} standard errors above 0")
    return f"median benefit {float(np.median(gains)):+.4f}", "above 0"


def lower_bound(values, standard_errors: float = RATING_EVIDENCE_SE) -> float:
    """Mean less ``standard_errors`` standard errors (−inf for fewer than two values)."""
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return float("-inf")
    return float(values.mean() - standard_errors * values.std(ddof=1) / np.sqrt(values.size))


def name_best(gains: dict[str, list[float]], model_go: bool, held_out: bool = True) -> dict:
    """Which refinement the rated evidence supports best (``gains``: per candidate the
    benefit of its change to every rated region, ``gate.py``): the candidate whose mean
    benefit exceeds 0 by the widest margin of ``RATING_EVIDENCE_SE`` standard errors, or
    the initial masks where none does. It is the verdict's ``use``, what ``scorekit
    refine`` and SCORERefine apply by default. A no-go model is never named, nor one whose
    evidence holds its training cases (``held_out`` False): a network fitted to those very
    ratings agrees with them whether or not it generalises (measured: ``docs/evaluation.md``,
    "A workspace of two rated scans now holds one out"), which the gate's choice of one of
    four options per structure and the untrained candidates cannot do to the same degree."""
    bounds = {k: lower_bound(v) for k, v in gains.items()
              if k != "model" or (model_go and held_out)}
    best = max(bounds, key=lambda k: bounds[k])
    use = best if bounds[best] > 0 else "initial"
    return {"use": use, "held_out": held_out,
            "agreement": {k: round(float(np.mean(v)), 5) if len(v) else 0.0
                          for k, v in gains.items()}}


def describe_use(verdict: dict | None) -> str:
    """One line: the refinement the verdict names, and why."""
    if not verdict or "use" not in verdict:
        return "model (no named choice: model made before choices were judged)"
    scores = ", ".join(f"{k} {v:+.4f}" for k, v in verdict["agreement"].items())
    scope = ("the held-out ratings" if verdict.get("held_out", True) else
             "ratings that include its training cases, on which the network is not named")
    return f"{verdict['use']} (agrees best with {scope}; mean benefit {scores})"


def describe(verdict: dict | None) -> str:
    """One line for people: the CLI, the Slicer module."""
    if not verdict:
        return "no verdict (model made before verdicts, or without rated cases)"
    if verdict["go"]:
        return ("go: the refined masks agree with the ratings better than the initial masks "
                f"(judged on the {verdict['cases']})")
    return "no-go: " + "; ".join(verdict["reasons"]) + f" (judged on the {verdict['cases']})"


def read_verdict(model: str | os.PathLike) -> dict | None:
    """The verdict recorded with a model's weights (None: none recorded). ``model.json`` is
    only their readable copy, which a kill can leave behind; it is read for models written
    before the config went into the weights. Needs no torch (the Slicer module calls it)."""
    from scorekit.weights import SCORE_CONFIG, SCORE_CONFIG_KEY, SCORE_WEIGHTS, embedded_config

    folder = Path(model)
    try:
        text, _ = embedded_config(folder / SCORE_WEIGHTS, SCORE_CONFIG_KEY,
                                  folder / SCORE_CONFIG, "SCORE")
        config = json.loads(text)
    except (ScoreKitError, OSError, ValueError):
        return None
    verdict = config.get("training", {}).get("verdict") if isinstance(config, dict) else None
    return verdict if isinstance(verdict, dict) and "go" in verdict else None
