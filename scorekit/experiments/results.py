"""Result rows of every experiment: CSV in and out, paired statistics, table cells."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from scorekit.errors import ScoreKitError


def empty_output_folder(out: str | os.PathLike) -> Path:
    """``out`` as a Path, refused when it already holds files (results are never mixed)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ScoreKitError(f"{out}: already holds files; choose an empty or new output "
                            "folder")
    return out


def read_results(path: str | os.PathLike, numeric: tuple[str, ...]) -> list[dict]:
    """Rows of a results CSV, with the ``numeric`` columns as floats."""
    with open(path, newline="", encoding="utf-8") as f:
        return [{**r, **{k: float(r[k]) for k in numeric}} for r in csv.DictReader(f)]


def significance(score: list[float], other: list[float], higher_is_better: bool) -> str:
    """'+' when the first method is significantly better than the other (Wilcoxon
    signed-rank, paired, two-sided, 5 %), '−' when significantly worse, '' otherwise."""
    from scipy.stats import wilcoxon

    a, b = np.asarray(score, float), np.asarray(other, float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 2 or np.allclose(a, b):
        return ""
    if wilcoxon(a, b).pvalue >= 0.05:
        return ""
    better = np.median(a - b) > 0 if higher_is_better else np.median(a - b) < 0
    return "+" if better else "−"


def mean_std(values, mark: str = "", digits: int = 3) -> str:
    """'mean (std)' of the finite values, then ``mark``; '–' when there are none."""
    finite = np.asarray([v for v in values if np.isfinite(v)], float)
    if not len(finite):
        return "–"
    return f"{finite.mean():.{digits}f} ({finite.std():.{digits}f}){mark}"
