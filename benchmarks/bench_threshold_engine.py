"""The offline threshold engine against TotalSegmentator's humeri on the shared real CT.

    python benchmarks/bench_threshold_engine.py [--data ../shared/data/ct/totalseg_dicom_humerus]
"""

from __future__ import annotations

import time
from pathlib import Path

from benchcli import bench_parser

from scorekit.data.labels import read_labelmap, resample_labelmap
from scorekit.data.volume import read_volume
from scorekit.initial.threshold import threshold_segment
from scorekit.initial.totalseg import class_map_names
from scorekit.metrics import dice

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/ct/totalseg_dicom_humerus"
HUMERI = ["humerus_left", "humerus_right"]


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="(same run)")
    parser.add_argument("--data", type=Path, default=DEFAULT)
    args = parser.parse_args(argv)
    if not (args.data / "dicom").is_dir():
        print(f"threshold engine: skipped, no data at {args.data}")
        return {}
    ct = read_volume(args.data / "dicom")
    start = time.perf_counter()
    ours = threshold_segment(ct, HUMERI)
    seconds = time.perf_counter() - start
    theirs = resample_labelmap(read_labelmap(args.data / "example_seg_dicom.nii.gz",
                                             names=class_map_names("total")), ct.geometry)
    result = {n: dice(ours.mask(n), theirs.mask(n)) for n in HUMERI}
    print(f"threshold engine vs TotalSegmentator ({seconds:.1f} s): "
          + ", ".join(f"{n} Dice {d:.3f}" for n, d in result.items()))
    return result


if __name__ == "__main__":
    main()
