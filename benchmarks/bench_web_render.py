"""Server-side slice rendering for the web rating form, on the shared real CT.

    python benchmarks/bench_web_render.py [--data ../shared/data/ct/totalseg_dicom_humerus]
"""

from __future__ import annotations

import time
from pathlib import Path

from benchcli import HUMERUS_DATA, bench_parser, humerus_ct_and_prediction

from scorekit.web.render import AXES, ViewCase, render_slice


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="(same run)")
    parser.add_argument("--data", type=Path, default=HUMERUS_DATA)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    example = humerus_ct_and_prediction(args.data, "web render")
    if example is None:
        return {}
    case = ViewCase.of(*example)
    opened = time.perf_counter() - start
    start, count = time.perf_counter(), 0
    for axis in AXES:
        for index in range(0, case.slices(axis), max(1, case.slices(axis) // 10)):
            render_slice(case, axis, index)
            count += 1
    per_slice = (time.perf_counter() - start) / count
    size = "x".join(map(str, example[0].array.shape[::-1]))
    print(f"web render: open {size} CT + segmentation {opened:.2f} s; "
          f"{1000 * per_slice:.0f} ms per 512-px slice PNG with contours ({count} slices)")
    return {"open_s": opened, "ms_per_slice": 1000 * per_slice}


if __name__ == "__main__":
    main()
