"""A second refinement in the Slicer module, end to end: a fresh child per refinement (cold)
against the module's warm ``scorekit worker`` (torch imported, model loaded).

    python benchmarks/bench_worker.py [--size 512 512 343] [--device auto] [--quick]

Both run the module's own command (``refine --image --seg --model --out``) on the files
bench_refine.py prepares (a phantom CT with both humeri and an untrained model of the
default configuration); times include reading and writing the files.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench_refine import prepare
from benchcli import add_grid_arguments, bench_parser

from scorekit import jobs


def refine_argv(work: Path, device: str, out: str) -> list:
    return ["refine", "--image", work / "ct.nii.gz", "--seg", work / "initial.seg.nrrd",
            "--model", work / "model", "--out", work / out, "--device", device]


def timed(job_start) -> float:
    start = time.perf_counter()
    job = job_start()
    if job.wait(timeout=1800) != 0:
        raise RuntimeError(job.error)
    return time.perf_counter() - start


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="one cold and two warm runs instead of three each")
    add_grid_arguments(parser, [512, 512, 343], "/tmp/scorekit-bench-refine")
    args = parser.parse_args(argv)
    work = Path(args.work) / "x".join(map(str, args.size))
    work.mkdir(parents=True, exist_ok=True)
    prepare(work, args.size)
    runs = 1 if args.quick else 3
    cold = [timed(lambda: jobs.Job(refine_argv(work, args.device, "cold.seg.nrrd")).start())
            for _ in range(runs)]
    worker = jobs.Worker()
    try:
        first = timed(lambda: worker.request(refine_argv(work, args.device, "warm.seg.nrrd")))
        warm = [timed(lambda: worker.request(refine_argv(work, args.device, "warm.seg.nrrd")))
                for _ in range(max(runs, 2))]
    finally:
        worker.close()
    stats = {"size": args.size, "device": args.device, "cold_s": min(cold),
             "worker_first_s": first, "warm_s": min(warm)}
    print(f"second refinement of {'×'.join(map(str, args.size))} ({args.device}), end to end: "
          f"cold child {stats['cold_s']:.1f} s, warm worker {stats['warm_s']:.1f} s "
          f"(its first request {first:.1f} s)")
    return stats


if __name__ == "__main__":
    main()
