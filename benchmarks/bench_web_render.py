"""Server-side slice rendering for the web rating form, on the shared real CT.

    python benchmarks/bench_web_render.py [--data ../shared/data/ct/totalseg_dicom_humerus]
"""

from __future__ import annotations

import time
from pathlib import Path

from benchcli import bench_parser

from scorekit.data.labels import read_labelmap, resample_labelmap
from scorekit.data.volume import read_volume
from scorekit.initial.totalseg import class_map_names
from scorekit.web.render import AXES, ViewCase, render_slice

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/ct/totalseg_dicom_humerus"


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="(same run)")
    parser.add_argument("--data", type=Path, default=DEFAULT)
    args = parser.parse_args(argv)
    if not (args.data / "dicom").is_dir():
        print(f"web render: skipped, no data at {args.data}")
        return {}
    start = time.perf_counter()
    ct = read_volume(args.data / "dicom")
    seg = resample_labelmap(read_labelmap(args.data / "example_seg_dicom.nii.gz",
                                          names=class_map_names("total")), ct.geometry)
    case = ViewCase.of(ct, seg)
    opened = time.perf_counter() - start
    start, count = time.perf_counter(), 0
    for axis in AXES:
        for index in range(0, case.slices(axis), max(1, case.slices(axis) // 10)):
            render_slice(case, axis, index)
            count += 1
    per_slice = (time.perf_counter() - start) / count
    size = "x".join(map(str, ct.array.shape[::-1]))
    print(f"web render: open {size} CT + segmentation {opened:.2f} s; "
          f"{1000 * per_slice:.0f} ms per 512-px slice PNG with contours ({count} slices)")
    return {"open_s": opened, "ms_per_slice": 1000 * per_slice}


if __name__ == "__main__":
    main()
