"""The offline threshold engine against TotalSegmentator's humeri on the shared real CT.

    python benchmarks/bench_threshold_engine.py [--data ../shared/data/ct/totalseg_dicom_humerus]
"""

from __future__ import annotations

import time
from pathlib import Path

from benchcli import HUMERUS_DATA, bench_parser, humerus_ct_and_prediction

from scorekit.initial.threshold import threshold_segment
from scorekit.metrics import dice

HUMERI = ["humerus_left", "humerus_right"]


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="(same run)")
    parser.add_argument("--data", type=Path, default=HUMERUS_DATA)
    args = parser.parse_args(argv)
    example = humerus_ct_and_prediction(args.data, "threshold engine")
    if example is None:
        return {}
    ct, theirs = example
    start = time.perf_counter()
    ours = threshold_segment(ct, HUMERI)
    seconds = time.perf_counter() - start
    result = {n: dice(ours.mask(n), theirs.mask(n)) for n in HUMERI}
    print(f"threshold engine vs TotalSegmentator ({seconds:.1f} s): "
          + ", ".join(f"{n} Dice {d:.3f}" for n, d in result.items()))
    return result


if __name__ == "__main__":
    main()
