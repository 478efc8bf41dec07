"""Erosion / dilation by a radius-2 ball: scorekit (torch, on the chosen device) vs scipy.

    python benchmarks/bench_morphology.py [--size 256] [--device auto]
"""

from __future__ import annotations

import time

import numpy as np
import torch
from benchcli import bench_parser
from scipy import ndimage

from scorekit.devices import resolve_device
from scorekit.score.morphology import ball, dilate, erode


def timed(function, repeat: int) -> float:
    function()  # warm up (CUDA kernels, caches)
    start = time.perf_counter()
    for _ in range(repeat):
        function()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeat


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="128³ instead")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)
    size = 128 if args.quick else args.size
    device = resolve_device(args.device)
    rng = np.random.default_rng(0)
    mask = ndimage.gaussian_filter(rng.standard_normal((size,) * 3, dtype=np.float32), 3) > 0
    structure = ball(2)
    tensor = torch.from_numpy(mask).to(device)

    def synced(f):
        def run():
            f()
            if device.type == "cuda":
                torch.cuda.synchronize()
        return run

    results = {"device": str(device), "size": size}
    for name, ours, theirs in (
            ("erode", lambda: erode(tensor, 2), lambda: ndimage.binary_erosion(mask, structure)),
            ("dilate", lambda: dilate(tensor, 2),
             lambda: ndimage.binary_dilation(mask, structure))):
        t_ours, t_scipy = timed(synced(ours), 5), timed(theirs, 2)
        results[name] = {"scorekit_s": t_ours, "scipy_s": t_scipy, "speedup": t_scipy / t_ours}
        print(f"{name:<7} {size}³ ball r=2  scorekit[{device}] {t_ours * 1e3:8.1f} ms   "
              f"scipy {t_scipy * 1e3:8.1f} ms   speed-up {t_scipy / t_ours:6.1f}×")
    return results


if __name__ == "__main__":
    main()
