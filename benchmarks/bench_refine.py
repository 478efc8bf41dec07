"""One-click refinement of a large CT with both humeri: time and peak host memory.

    python benchmarks/bench_refine.py [--size 512 512 343] [--device auto] [--quick]
    python benchmarks/bench_refine.py --size 768 768 1417   # the SCORE paper's largest

Writes a phantom CT of that size (cached in --work), an initial segmentation and an
untrained model of the default configuration (the time does not depend on the weights),
then runs the refinement in a child process (imports, model, read, a warm-up refinement,
the timed one, write) and reports its stages and its peak RSS.
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


def prepare(work: Path, size: list[int]) -> None:
    from scorekit.data.labels import resample_labelmap, write_labelmap
    from scorekit.data.volume import Geometry, resample, write_volume
    from scorekit.score.model import ModelConfig, build_network, save_model
    from scorekit.synth.errors import simulate_initial
    from scorekit.synth.humerus import humerus_phantom

    if (work / "ct.nii.gz").exists():
        return
    nx, _, nz = size
    length = 343.0 if nz <= 512 else nz * 0.5  # mm along z
    # Very large grids are drawn at most 512 wide and resampled up (same anatomy).
    scale = max(1.0, nx / 512, nz / 512)
    small = (round(nx / scale), round(nz / scale))
    phantom = humerus_phantom(seed=1, size_xy=small[0], slices=small[1],
                              spacing=(384.0 / small[0], 384.0 / small[0], length / small[1]))
    initial, _ = simulate_initial(phantom.reference, np.random.default_rng(1),
                                  focus=phantom.epiphysis)
    image = phantom.image
    if scale > 1:
        grid = Geometry((nx, nx, nz), (384.0 / nx, 384.0 / nx, length / nz),
                        image.geometry.origin, image.geometry.direction)
        image = resample(image, grid, nearest=False)
        initial = resample_labelmap(initial, grid)
    write_volume(image, work / "ct.nii.gz")
    write_labelmap(initial, work / "initial.seg.nrrd")
    config = ModelConfig(regions=list(initial.names))
    save_model(work / "model", build_network(config), config)


def child(work: Path, device: str) -> None:
    """Runs in the measured process: read, refine, write, each timed."""
    import torch

    from scorekit.data.labels import read_labelmap, write_labelmap
    from scorekit.data.volume import read_volume
    from scorekit.devices import resolve_device
    from scorekit.score.model import load_model
    from scorekit.score.refine import refine_case

    times = {}
    start = time.perf_counter()
    torch_device = resolve_device(device)
    network, config = load_model(work / "model", torch_device)
    image, initial = read_volume(work / "ct.nii.gz"), read_labelmap(work / "initial.seg.nrrd")
    times["read_s"] = time.perf_counter() - start
    refine_case(image, initial, network, config, torch_device)  # warm-up (kernels, caches)
    if torch_device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    refined = refine_case(image, initial, network, config, torch_device)
    if torch_device.type == "cuda":
        torch.cuda.synchronize()
    times["refine_s"] = time.perf_counter() - start
    start = time.perf_counter()
    write_labelmap(refined, work / "refined.seg.nrrd")
    times["write_s"] = time.perf_counter() - start
    # Measured here: a parent's RUSAGE_CHILDREN would count the pages the fork inherited.
    times["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"device": str(torch_device), **times}))


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="256×256×172 instead")
    add_grid_arguments(parser, [512, 512, 343], "/tmp/scorekit-bench-refine")
    args = parser.parse_args(argv)
    size = [256, 256, 172] if args.quick else args.size
    work = Path(args.work) / "x".join(map(str, size))
    work.mkdir(parents=True, exist_ok=True)
    prepare(work, size)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, __file__, CHILD, str(work), args.device],
                            capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    peak_gib = stats["peak_rss_gib"]
    stats |= {"size": size, "process_wall_s": wall}
    print(f"refine {'×'.join(map(str, size))} on {stats['device']}: "
          f"refine {stats['refine_s']:.2f} s (read {stats['read_s']:.1f} s, write "
          f"{stats['write_s']:.1f} s, whole process {wall:.1f} s), peak RSS {peak_gib:.2f} GiB")
    return stats


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        child(Path(sys.argv[2]), sys.argv[3])
    else:
        main()
