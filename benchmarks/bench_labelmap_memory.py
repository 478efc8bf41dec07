"""Peak memory of reading a large label map (and naming its regions), in a fresh process.

    python benchmarks/bench_labelmap_memory.py [--size 768 768 1417] [--quick]

The SCORE paper's largest scan is 768×768×1417; reading its label map must fit the 8 GB the
README asks for. The file (two humerus-sized boxes in a uint8 NIfTI) is cached in --work.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from benchcli import add_grid_arguments, bench_parser

CHILD = "--child"


def prepare(path: Path, size: list[int]) -> None:
    from scorekit.data.labelmap import LabelMap
    from scorekit.data.labels import write_labelmap
    from scorekit.data.volume import Geometry

    if path.exists():
        return
    nx, ny, nz = size
    array = np.zeros((nz, ny, nx), np.uint8)
    array[nz // 8: nz // 2, ny // 3: ny // 2, nx // 5: nx // 3] = 1
    array[nz // 8: nz // 2, ny // 3: ny // 2, 2 * nx // 3: 4 * nx // 5] = 2
    geometry = Geometry((nx, ny, nz), (0.5, 0.5, 0.5), (0.0, 0.0, 0.0),
                        (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))
    write_labelmap(LabelMap(array, geometry, {1: "humerus_left", 2: "humerus_right"}), path)


def child(path: Path) -> None:
    from scorekit.data.labels import read_labelmap

    start = time.perf_counter()
    labels = read_labelmap(path)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"seconds": seconds, "peak_rss_gib": peak,
                      "array_gib": labels.array.nbytes / 2**30, "regions": labels.names}))


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="512×512×343 instead")
    add_grid_arguments(parser, [768, 768, 1417], "/tmp/scorekit-bench-labelmap")
    args = parser.parse_args(argv)
    size = [512, 512, 343] if args.quick else args.size
    path = Path(args.work) / f"{'x'.join(map(str, size))}.nii.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    prepare(path, size)
    result = subprocess.run([sys.executable, __file__, CHILD, str(path)], capture_output=True,
                            text=True, check=True)
    stats = json.loads(result.stdout.strip().splitlines()[-1]) | {"size": size}
    print(f"read a {'×'.join(map(str, size))} label map: {stats['seconds']:.1f} s, peak RSS "
          f"{stats['peak_rss_gib']:.2f} GiB (the array itself {stats['array_gib']:.2f} GiB)")
    return stats


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        child(Path(sys.argv[2]))
    else:
        main()
