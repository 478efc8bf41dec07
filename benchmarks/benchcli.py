"""What the benchmarks share: ``--device`` and ``--quick``, the shared humerus CT, and
scoring refined cases."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.stats import wilcoxon

from scorekit.data.labels import read_labelmap, resample_labelmap
from scorekit.data.volume import read_volume
from scorekit.metrics import dice
from scorekit.score.refine import refine_case

HUMERUS_DATA = Path(__file__).resolve().parents[2] / "shared/data/ct/totalseg_dicom_humerus"


def bench_parser(doc: str, quick: str) -> argparse.ArgumentParser:
    """A parser described by the script's docstring; ``quick`` says what --quick shrinks to."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--quick", action="store_true", help=quick)
    return parser


def add_grid_arguments(parser: argparse.ArgumentParser, default: list[int], work: str) -> None:
    """``--size X Y Z`` of the synthetic scan and ``--work``, the folder that caches it."""
    parser.add_argument("--size", type=int, nargs=3, default=default, metavar=("X", "Y", "Z"))
    parser.add_argument("--work", default=work, help="cache of the generated files")


def humerus_ct_and_prediction(data: Path, benchmark: str):
    """The shared DICOM humerus CT and TotalSegmentator's prediction on its grid, or None
    (with a line saying the benchmark is skipped) where the data is absent."""
    if not (data / "dicom").is_dir():
        print(f"{benchmark}: skipped, no data at {data}")
        return None
    from scorekit.initial.totalseg import class_map_names

    ct = read_volume(data / "dicom")
    prediction = read_labelmap(data / "example_seg_dicom.nii.gz", names=class_map_names("total"))
    return ct, resample_labelmap(prediction, ct.geometry)


def mean_dice_before_after(cases, network, config, device) -> tuple[float, float]:
    """Mean Dice over the regions of workspace ``cases``: initial masks, refined masks."""
    before, after = [], []
    for case in cases:
        initial, reference = case.initial(), case.reference()
        refined = refine_case(case.image(), initial, network, config, device, case.id)
        before += [dice(initial.mask(n), reference.mask(n)) for n in case.regions]
        after += [dice(refined.mask(n), reference.mask(n)) for n in case.regions]
    return float(np.mean(before)), float(np.mean(after))


def gain_over_initial(initial, score) -> dict[str, float]:
    """SCORE against the initial masks over paired values: both means, the mean gain, the
    pairs SCORE improves and the Wilcoxon p (1 where nothing changed)."""
    initial, score = np.asarray(initial, float), np.asarray(score, float)
    gain = score - initial
    return {"initial": float(initial.mean()), "SCORE": float(score.mean()),
            "gain": float(gain.mean()), "better": int((gain > 0).sum()),
            "worse": int((gain < 0).sum()), "pairs": len(gain),
            "p": float(wilcoxon(gain).pvalue) if np.any(gain) else 1.0}
